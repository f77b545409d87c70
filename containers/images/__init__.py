"""Build the postgres, redis, service, pgbouncer and netfault images, tagged by input hash.

`ensure_images()` is a fast no-op when every image is up to date: an image whose
inputs (its Dockerfile folder, the base image and, for the service, `service/` and
`pyproject.toml`) did not change is never rebuilt. Where the base image
`debian:bookworm-slim` cannot be pulled (no registry), it is bootstrapped with
`debootstrap` and `docker import`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

# Both can be overridden, e.g. to use a mirror's base image or to build a second,
# independent set of images next to the usual one.
BASE_IMAGE = os.environ.get("TASTEMATCH_BASE_IMAGE", "debian:bookworm-slim")
IMAGE_REPOSITORY = os.environ.get("TASTEMATCH_IMAGE_REPOSITORY", "tastematch-bench")
ROLES = ("postgres", "redis", "service", "pgbouncer", "netfault")
# Older builds of an image kept besides the current one (another checkout may use them).
KEEP_OLD_BUILDS = 2
DEBIAN_MIRROR = os.environ.get("TASTEMATCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")

IMAGES_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = IMAGES_DIR.parent.parent
# What the service image is made of besides its Dockerfile: a change anywhere else in
# the repository does not rebuild it.
SERVICE_SOURCES = ("service", "pyproject.toml")
# Dependency wheels of the service image, kept per pyproject.toml content.
WHEELHOUSE_DIR = Path(
    os.environ.get("TASTEMATCH_WHEELHOUSE", str(PROJECT_ROOT / ".cache" / "wheelhouse"))
)
# The service image's python3 (Debian bookworm's). Dependencies are resolved on the host by
# an interpreter of exactly this version, so environment markers such as
# `python_full_version < "3.11.3"` select what the image needs.
IMAGE_PYTHON_VERSION = "3.11.2"
IMAGE_MACHINE = "x86_64"

Progress = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """An image (or the base image, or the wheelhouse) could not be built."""


@dataclass(frozen=True)
class ImageSet:
    """Tags of the images the stack runs."""

    postgres: str
    redis: str
    service: str
    pgbouncer: str
    #: The network fault injector (``containers.faults``), not part of a running stack.
    netfault: str

    def as_dict(self) -> dict[str, str]:
        return {
            "postgres": self.postgres,
            "redis": self.redis,
            "service": self.service,
            "pgbouncer": self.pgbouncer,
            "netfault": self.netfault,
        }


def _print_progress(message: str) -> None:
    print(f"[images] {message}", flush=True)


@contextmanager
def _step(progress: Progress, what: str) -> Iterator[None]:
    started = time.monotonic()
    progress(f"{what} ...")
    yield
    progress(f"{what}: done in {time.monotonic() - started:.1f}s")


def _iter_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for candidate in sorted(path.rglob("*")):
        if candidate.is_file() and "__pycache__" not in candidate.parts:
            yield candidate


def _hash_inputs(paths: list[Path], extra: list[str], root: Path = PROJECT_ROOT) -> str:
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
    return _hash_inputs(paths, [base_image_id], root)


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None


def _run(command: list[str], what: str, **kwargs: Any) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise ImageBuildError(
            f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{tail}"
        )


def _try_pull_base(progress: Progress) -> bool:
    # A short timeout: on a host without a registry the pull can only fail.
    try:
        result = subprocess.run(
            ["docker", "pull", BASE_IMAGE], capture_output=True, text=True, timeout=30, check=False
        )
    except (subprocess.TimeoutExpired, FileNotFoundError) as error:
        progress(f"cannot pull {BASE_IMAGE}: {error}")
        return False
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        progress(f"cannot pull {BASE_IMAGE} ({last}); bootstrapping it instead")
        return False
    return True


def _ensure_debootstrap(progress: Progress) -> str:
    found = shutil.which("debootstrap")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ImageBuildError(
            f"{BASE_IMAGE} cannot be pulled and debootstrap is missing: install debootstrap "
            "(apt-get install debootstrap, as root) or make a registry reachable"
        )
    progress("installing debootstrap with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "debootstrap"], "apt-get install debootstrap", env=env)
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


# Keep the bootstrapped base as small as the official slim image: no docs, man pages
# or locales in the base nor in anything installed on top of it.
_DPKG_NODOC = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""
_APT_SLIM = """\
APT::Install-Recommends "false";
APT::Install-Suggests "false";
"""


def _strip_rootfs(rootfs: Path) -> None:
    (rootfs / "etc/dpkg/dpkg.cfg.d/90-tastematch-nodoc").write_text(_DPKG_NODOC)
    (rootfs / "etc/apt/apt.conf.d/90-tastematch-slim").write_text(_APT_SLIM)
    for pattern in (
        "var/lib/apt/lists/*",
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/log/*.log",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",
        "usr/share/lintian/*",
    ):
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for doc in (rootfs / "usr/share/doc").glob("*/*"):
        if doc.name != "copyright":
            if doc.is_dir() and not doc.is_symlink():
                shutil.rmtree(doc)
            else:
                doc.unlink()


def _bootstrap_base(progress: Progress) -> None:
    debootstrap = _ensure_debootstrap(progress)
    if os.geteuid() != 0:
        raise ImageBuildError(f"bootstrapping {BASE_IMAGE} with debootstrap needs root")
    with tempfile.TemporaryDirectory(prefix="tastematch-rootfs-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        with _step(progress, f"debootstrap bookworm from {DEBIAN_MIRROR}"):
            _run(
                [debootstrap, "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR],
                "debootstrap",
            )
        _strip_rootfs(rootfs)
        with _step(progress, f"docker import as {BASE_IMAGE}"):
            tar = subprocess.Popen(
                ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
            )
            try:
                _run(
                    ["docker", "import", "--change", 'CMD ["bash"]', "-", BASE_IMAGE],
                    "docker import",
                    stdin=tar.stdout,
                )
            finally:
                if tar.stdout is not None:
                    tar.stdout.close()
                tar.wait()


def ensure_base_image(client: docker.DockerClient, progress: Progress = _print_progress) -> str:
    """The base image's id; pull it, or bootstrap it where it cannot be pulled."""
    existing = _image_id(client, BASE_IMAGE)
    if existing:
        progress(f"base image {BASE_IMAGE} present")
        return existing
    with _step(progress, f"base image {BASE_IMAGE}"):
        if not _try_pull_base(progress):
            _bootstrap_base(progress)
    created = _image_id(client, BASE_IMAGE)
    if not created:
        raise ImageBuildError(f"{BASE_IMAGE} is still missing after bootstrapping it")
    return created


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


def _build_wheelhouse(context: Path, progress: Progress, root: Path = PROJECT_ROOT) -> None:
    """Fill `context/wheels/{deps,project}` for the service image's Dockerfile, from the
    project at `root`."""
    interpreter = _image_matching_python()
    key = _hash_inputs([root / "pyproject.toml"], [IMAGE_PYTHON_VERSION, IMAGE_MACHINE], root)
    deps_cache = WHEELHOUSE_DIR / key
    if not any(deps_cache.glob("*.whl")):
        with _step(
            progress, f"wheelhouse: the service's dependencies (for Python {IMAGE_PYTHON_VERSION})"
        ):
            WHEELHOUSE_DIR.mkdir(parents=True, exist_ok=True)
            # Filled aside and renamed into place: a concurrent build never sees half of it.
            partial = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=WHEELHOUSE_DIR))
            _run(
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
    with _step(progress, "wheelhouse: the project wheel"):
        _run(
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


def _docker_build(
    client: docker.DockerClient, context: Path, tag: str, labels: dict[str, str], progress: Progress
) -> None:
    role = labels["org.tastematch.role"]
    log: list[str] = []
    # The classic builder through the API: no buildx plugin needed, progress as a stream.
    stream = client.api.build(
        path=str(context),
        tag=tag,
        rm=True,
        forcerm=True,
        decode=True,
        labels=labels,
        buildargs={"BASE_IMAGE": BASE_IMAGE},
    )
    for chunk in stream:
        if "error" in chunk:
            tail = "".join(log[-30:])
            raise ImageBuildError(f"building {tag} failed: {chunk['error'].strip()}\n{tail}")
        text = str(chunk.get("stream", ""))
        if text:
            log.append(text)
            line = text.strip()
            if line.startswith("Step "):
                progress(f"{role}: {' '.join(line.split())[:120]}")
    if _image_id(client, tag) is None:
        raise ImageBuildError(f"building {tag} finished without producing the image")


def _build_role(
    client: docker.DockerClient,
    role: str,
    tag: str,
    content_hash: str,
    progress: Progress,
    root: Path = PROJECT_ROOT,
) -> None:
    labels = {"org.tastematch.role": role, "org.tastematch.input-hash": content_hash}
    with tempfile.TemporaryDirectory(prefix=f"tastematch-{role}-") as work:
        context = Path(work) / "context"
        shutil.copytree(root / "containers" / "images" / role, context)
        if role == "service":
            _build_wheelhouse(context, progress, root)
        _docker_build(client, context, tag, labels, progress)


def ensure_service_image(
    root: Path,
    *,
    client: docker.DockerClient | None = None,
    progress: Progress = _print_progress,
) -> str:
    """The tag of the service image built from the project at `root` (another revision's
    source tree), built if missing. Tags are content hashes: a revision whose service
    sources equal the working tree's gets the very same image."""
    if not (root / "containers" / "images" / "service" / "Dockerfile").is_file():
        raise ImageBuildError(f"{root} has no containers/images/service/Dockerfile to build")
    client = client or docker.from_env()
    content_hash = input_hash("service", ensure_base_image(client, progress), root)
    tag = f"{IMAGE_REPOSITORY}/service:{content_hash}"
    if _image_id(client, tag):
        progress(f"service: {tag} is up to date")
        return tag
    with _step(progress, f"service: building {tag} from {root}"):
        _build_role(client, "service", tag, content_hash, progress, root)
    return tag


def image_tags(client: docker.DockerClient, base_image_id: str) -> ImageSet:
    """The tags the images have for the current inputs (built or not)."""
    tags = {role: f"{IMAGE_REPOSITORY}/{role}:{input_hash(role, base_image_id)}" for role in ROLES}
    return ImageSet(**tags)


def ensure_images(
    roles: tuple[str, ...] = ROLES,
    *,
    client: docker.DockerClient | None = None,
    progress: Progress = _print_progress,
) -> ImageSet:
    """Build the images of `roles` whose inputs changed; return every role's tag.

    Raises ImageBuildError (with the failing step's output) when something cannot be built.
    """
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown image(s) {', '.join(unknown)}; expected {', '.join(ROLES)}")
    client = client or docker.from_env()
    base_id = ensure_base_image(client, progress)
    tags = image_tags(client, base_id)
    for role in roles:
        tag = tags.as_dict()[role]
        content_hash = tag.rsplit(":", 1)[1]
        if _image_id(client, tag):
            progress(f"{role}: {tag} is up to date")
            continue
        with _step(progress, f"{role}: building {tag}"):
            _build_role(client, role, tag, content_hash, progress)
        # Keep a moving `latest` tag for people poking at the images by hand.
        client.images.get(tag).tag(f"{IMAGE_REPOSITORY}/{role}", "latest")
        _prune_old_builds(client, role, progress)
    return tags


def _prune_old_builds(client: docker.DockerClient, role: str, progress: Progress) -> None:
    """Remove all but the newest KEEP_OLD_BUILDS + 1 builds of `role` (not those in use)."""
    builds = client.images.list(
        name=f"{IMAGE_REPOSITORY}/{role}", filters={"label": f"org.tastematch.role={role}"}
    )
    builds.sort(key=lambda image: str(image.attrs.get("Created", "")), reverse=True)
    for image in builds[KEEP_OLD_BUILDS + 1 :]:
        for tag in image.tags:
            if tag.endswith(":latest"):
                continue
            try:
                client.images.remove(tag, noprune=False)
                progress(f"{role}: removed the old build {tag}")
            except docker.errors.APIError:
                pass  # still used by a container: it goes on a later build


__all__ = [
    "BASE_IMAGE",
    "ROLES",
    "ImageBuildError",
    "ImageSet",
    "ensure_base_image",
    "ensure_images",
    "ensure_service_image",
    "image_tags",
    "input_hash",
]
