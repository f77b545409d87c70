"""Containers of TasteMatch Bench: engine provisioning, images, the capped stack, memory.

Importing this package sets the Testcontainers defaults the suite relies on (unless the
environment already sets them): connections go through loopback (`TC_HOST=127.0.0.1`),
and Ryuk is disabled because its image cannot be pulled without a registry. They must
be in place before `testcontainers` is first imported, which reads them once.
"""

import os

os.environ.setdefault("TC_HOST", "127.0.0.1")
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from containers.errors import StackError
from containers.images import ImageBuildError, ImageSet, ensure_images
from containers.memory import MemorySampler
from containers.stack import Stack

__all__ = ["ImageBuildError", "ImageSet", "MemorySampler", "Stack", "StackError", "ensure_images"]
