"""What each image is made of and the hash that names it: the image roles, the project
files that are an image's inputs (its Dockerfile folder; for the service also `service/`
and `pyproject.toml`), and `input_hash`, a short, stable hash of those files and the base
image's id that becomes the image's tag. A change anywhere else rebuilds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["IMAGES_DIR", "PROJECT_ROOT", "ROLES", "SERVICE_SOURCES", "hash_inputs", "input_hash"]

ROLES = ("postgres", "redis", "service", "pgbouncer", "netfault")

IMAGES_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = IMAGES_DIR.parent.parent
# What the service image is made of besides its Dockerfile: a change anywhere else in
# the repository does not rebuild it.
SERVICE_SOURCES = ("service", "pyproject.toml")


def _iter_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for candidate in sorted(path.rglob("*")):
        if candidate.is_file() and "__pycache__" not in candidate.parts:
            yield candidate


def hash_inputs(paths: list[Path], extra: list[str], root: Path = PROJECT_ROOT) -> str:
    """A short, stable hash of the files' paths (relative to `root`), contents and `extra`."""
    digest = hashlib.sha256()
    for item in extra:
        digest.update(item.encode() + b"\0")
    for path in paths:
        for file in _iter_files(path):
            digest.update(str(file.relative_to(root)).encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def input_hash(role: str, base_image_id: str, root: Path = PROJECT_ROOT) -> str:
    """The content hash that names `role`'s image (its tag), for the project at `root`."""
    if role not in ROLES:
        raise ValueError(f"unknown image {role!r}; expected one of {', '.join(ROLES)}")
    paths = [root / "containers" / "images" / role]
    if role == "service":
        paths += [root / name for name in SERVICE_SOURCES]
    return hash_inputs(paths, [base_image_id], root)
