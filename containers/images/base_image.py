"""The base image every image is built `FROM` (`debian:bookworm-slim` unless
`TASTEMATCH_BASE_IMAGE` says otherwise): `ensure_base_image` pulls it, or, where it cannot
be pulled (no registry), bootstraps it with `debootstrap` (installed with apt-get when
missing) from `DEBIAN_MIRROR`, strips it as small as the official slim image and
`docker import`s it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import docker

from containers.images.steps import (
    ImageBuildError,
    Progress,
    image_id,
    print_progress,
    run,
    step,
)

__all__ = ["BASE_IMAGE", "DEBIAN_MIRROR", "ensure_base_image"]

# Can be overridden, e.g. to use a mirror's base image.
BASE_IMAGE = os.environ.get("TASTEMATCH_BASE_IMAGE", "debian:bookworm-slim")
DEBIAN_MIRROR = os.environ.get("TASTEMATCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")


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
    run(["apt-get", "update"], "apt-get update", env=env)
    run(["apt-get", "install", "-y", "debootstrap"], "apt-get install debootstrap", env=env)
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
        with step(progress, f"debootstrap bookworm from {DEBIAN_MIRROR}"):
            run(
                [debootstrap, "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR],
                "debootstrap",
            )
        _strip_rootfs(rootfs)
        with step(progress, f"docker import as {BASE_IMAGE}"):
            tar = subprocess.Popen(
                ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
            )
            try:
                run(
                    ["docker", "import", "--change", 'CMD ["bash"]', "-", BASE_IMAGE],
                    "docker import",
                    stdin=tar.stdout,
                )
            finally:
                if tar.stdout is not None:
                    tar.stdout.close()
                tar.wait()


def ensure_base_image(client: docker.DockerClient, progress: Progress = print_progress) -> str:
    """The base image's id; pull it, or bootstrap it where it cannot be pulled."""
    existing = image_id(client, BASE_IMAGE)
    if existing:
        progress(f"base image {BASE_IMAGE} present")
        return existing
    with step(progress, f"base image {BASE_IMAGE}"):
        if not _try_pull_base(progress):
            _bootstrap_base(progress)
    created = image_id(client, BASE_IMAGE)
    if not created:
        raise ImageBuildError(f"{BASE_IMAGE} is still missing after bootstrapping it")
    return created
