"""The service image's wheelhouse, built on the host: the service's dependency wheels,
resolved by a host interpreter of exactly the image's Python version and platform (so
environment markers select what the image needs) and cached per `pyproject.toml`
content in `WHEELHOUSE_DIR`, plus the project's own wheel, both copied into the image's
build context for its Dockerfile.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from containers.images.fingerprint import PROJECT_ROOT, hash_inputs
from containers.images.steps import ImageBuildError, Progress, run, step

__all__ = ["IMAGE_MACHINE", "IMAGE_PYTHON_VERSION", "WHEELHOUSE_DIR", "build_wheelhouse"]

# Dependency wheels of the service image, kept per pyproject.toml content.
WHEELHOUSE_DIR = Path(
    os.environ.get("TASTEMATCH_WHEELHOUSE", str(PROJECT_ROOT / ".cache" / "wheelhouse"))
)
# The service image's python3 (Debian bookworm's). Dependencies are resolved on the host by
# an interpreter of exactly this version, so environment markers such as
# `python_full_version < "3.11.3"` select what the image needs.
IMAGE_PYTHON_VERSION = "3.11.2"
IMAGE_MACHINE = "x86_64"


def _python_version(interpreter: str) -> str | None:
    try:
        result = subprocess.run(
            [interpreter, "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _image_matching_python() -> str:
    """A host interpreter of the image's Python version and platform, to resolve wheels with."""
    if (
        platform.machine() != IMAGE_MACHINE
        or sys.platform != "linux"
        or platform.libc_ver()[0] != "glibc"
    ):
        raise ImageBuildError(
            "the service image's wheelhouse is built on the host, which must be "
            f"linux {IMAGE_MACHINE} with glibc like the image; "
            f"this host is {sys.platform} {platform.machine()}"
        )
    candidates = [
        sys.executable,
        "python3.11",
        "python3",
        "/usr/bin/python3.11",
        "/usr/bin/python3",
    ]
    seen: list[str] = []
    for candidate in candidates:
        path = shutil.which(candidate)
        if path is None or path in seen:
            continue
        seen.append(path)
        if _python_version(path) == IMAGE_PYTHON_VERSION:
            return path
    raise ImageBuildError(
        f"no Python {IMAGE_PYTHON_VERSION} (the service image's python3) on this host to resolve "
        f"the service's wheels with (looked at {', '.join(seen) or 'nothing'}); "
        "install Debian 12's python3 (apt-get install python3)"
    )


def _pip(*args: str, interpreter: str | None = None) -> list[str]:
    # `pip --python X` runs this environment's pip under interpreter X: markers and wheel
    # tags are then those of X, and X needs no pip of its own.
    target = ["--python", interpreter] if interpreter else []
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *target, *args]


def build_wheelhouse(context: Path, progress: Progress, root: Path = PROJECT_ROOT) -> None:
    """Fill `context/wheels/{deps,project}` for the service image's Dockerfile, from the
    project at `root`."""
    interpreter = _image_matching_python()
    key = hash_inputs([root / "pyproject.toml"], [IMAGE_PYTHON_VERSION, IMAGE_MACHINE], root)
    deps_cache = WHEELHOUSE_DIR / key
    if not any(deps_cache.glob("*.whl")):
        with step(
            progress, f"wheelhouse: the service's dependencies (for Python {IMAGE_PYTHON_VERSION})"
        ):
            WHEELHOUSE_DIR.mkdir(parents=True, exist_ok=True)
            # Filled aside and renamed into place: a concurrent build never sees half of it.
            partial = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=WHEELHOUSE_DIR))
            run(
                _pip(
                    "wheel",
                    "--quiet",
                    "--wheel-dir",
                    str(partial),
                    str(root),
                    interpreter=interpreter,
                ),
                "pip wheel",
            )
            for project_wheel in partial.glob("tastematch_bench-*.whl"):
                project_wheel.unlink()
            if not any(deps_cache.glob("*.whl")):
                shutil.rmtree(deps_cache, ignore_errors=True)  # an empty leftover
                with contextlib.suppress(OSError):  # else another build got there first
                    partial.rename(deps_cache)
            shutil.rmtree(partial, ignore_errors=True)
    else:
        progress(f"wheelhouse: dependencies cached in {deps_cache}")
    shutil.copytree(deps_cache, context / "wheels" / "deps")
    with step(progress, "wheelhouse: the project wheel"):
        run(
            _pip(
                "wheel",
                "--quiet",
                "--no-deps",
                "--wheel-dir",
                str(context / "wheels" / "project"),
                str(root),
            ),
            "pip wheel (project)",
        )
