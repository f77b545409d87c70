"""The pieces every image build is made of: `ImageBuildError`, progress reporting
(`Progress`, printed by default), timed steps, external commands whose failure raises
`ImageBuildError` with the tail of their output, and looking an image up in the engine.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors

__all__ = ["ImageBuildError", "Progress", "image_id", "print_progress", "run", "step"]

Progress = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """An image (or the base image, or the wheelhouse) could not be built."""


def print_progress(message: str) -> None:
    print(f"[images] {message}", flush=True)


@contextmanager
def step(progress: Progress, what: str) -> Iterator[None]:
    started = time.monotonic()
    progress(f"{what} ...")
    yield
    progress(f"{what}: done in {time.monotonic() - started:.1f}s")


def image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None


def run(command: list[str], what: str, **kwargs: Any) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ImageBuildError(
            f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{tail}"
        )
