"""What every command's result document starts with: where it ran, its id, how to run it again.

The gate, the OOM run, the self-test and the capacity ramp all write a document
whose head is built here (:func:`document_head`), with the machine, commit,
images, caps and dataset (:func:`environment`); :func:`results.write` writes it.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import psutil

from containers.stack import Stack
from results import SCHEMA_VERSION
from service.seed import seed

__all__ = [
    "ROOT",
    "Dataset",
    "document_head",
    "environment",
    "git",
    "run_id",
    "seed_dataset",
]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Dataset:
    """The seeded data every phase runs on."""

    restaurants: int = 10_000
    users: int = 2_000
    orders: int = 50_000
    seed: int = 42


def git(*args: str) -> str:
    """``git <args>`` in the repository, or ``""`` when git cannot answer."""
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _docker_version() -> str | None:
    try:
        return str(docker.from_env().version().get("Version"))
    except docker.errors.DockerException:
        return None


def environment(stack: Stack, dataset: Dataset, reproduce: str) -> dict[str, Any]:
    """Where and on what the run happened (machine, commit, images, caps, dataset)."""
    caps: dict[str, int] = {}
    for name, cap in stack.caps_bytes().items():
        caps.setdefault(name.split("-")[0], cap)
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD") or None,
        "machine": {
            "hostname": socket.gethostname(),
            "cpus": os.cpu_count(),
            "memory_bytes": psutil.virtual_memory().total,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "docker_version": _docker_version(),
            "cgroup_version": 2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1,
            "user": getpass.getuser(),
        },
        "images": stack.images.as_dict(),
        "caps_bytes": caps,
        "dataset": asdict(dataset),
        "reproduce": reproduce,
    }


def run_id(now: datetime, commit: str | None) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ") + (f"-{commit[:7]}" if commit else "")


def document_head(
    kind: str, run_name: str, now: datetime, env: dict[str, Any] | None
) -> dict[str, Any]:
    """The keys every result document starts with (see :mod:`results._schema`)."""
    head: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "run_id": run_name,
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if env is not None:
        head["environment"] = env
    return head


def seed_dataset(stack: Stack, dataset: Dataset, log: Callable[[str], None]) -> None:
    """Load ``dataset`` into the stack's Postgres (idempotent) and log how long it took."""
    began = time.monotonic()
    summary = seed(
        stack.postgres_url,
        restaurants=dataset.restaurants,
        users=dataset.users,
        orders=dataset.orders,
        seed=dataset.seed,
    )
    log(f"seeded {summary} in {time.monotonic() - began:.1f} s")
