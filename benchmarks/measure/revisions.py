"""The two sides of ``--base REF``: the base revision's source tree and service image.

Head is the working tree, uncommitted changes included (its service image is the one
``make images`` builds). Base is a git ref, exported with ``git archive`` into a scratch
folder and built into a service image of its own. Image tags are hashes of the service's
sources, so a base whose service equals the working tree's (an A/A run) reuses head's
image: both sides then run the very same bits.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.errors import InputError
from benchmarks.measure.environment import ROOT
from containers.images import ImageBuildError, ensure_service_image

__all__ = ["Revision", "RevisionError", "base_revision", "exported", "resolve_ref"]

_GIT_TIMEOUT_S = 120


class RevisionError(InputError):
    """The base ref cannot be resolved, exported or built; the message says which."""


@dataclass(frozen=True)
class Revision:
    """One side of a base-vs-head run."""

    #: What the user named (``HEAD``, ``main``, a sha), or ``working tree``.
    ref: str
    commit: str | None
    service_image: str
    #: Settings this side's service runs with on top of the stack's (``--base-env``,
    #: ``--head-env``): the same code A/B-tested under two configurations.
    service_env: tuple[tuple[str, str], ...] = ()

    def env_text(self) -> str:
        """``KEY=VALUE`` pairs, space-separated (empty when none)."""
        return " ".join(f"{key}={value}" for key, value in self.service_env)


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, timeout=_GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RevisionError(f"git {' '.join(args)}: {error}") from None


def resolve_ref(ref: str) -> str:
    """The commit ``ref`` names; :class:`RevisionError` when it names none."""
    if not ref.strip() or ref.startswith("-"):
        raise RevisionError(f"not a git ref: {ref!r}")
    found = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise RevisionError(
            f"git ref {ref!r} names no commit in {ROOT} (try a branch, a tag or a sha; "
            "in a shallow CI clone, fetch the base first)"
        )
    return found.stdout.decode().strip()


@contextmanager
def exported(commit: str) -> Iterator[Path]:
    """The tree of ``commit`` in a scratch folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="tastematch-base-") as scratch:
        archive = Path(scratch) / "tree.tar"
        made = _git("archive", "--format=tar", f"--output={archive}", commit)
        if made.returncode != 0:
            raise RevisionError(f"git archive {commit}: {made.stderr.decode().strip()}")
        tree = Path(scratch) / "tree"
        with tarfile.open(archive) as bundle:
            bundle.extractall(tree, filter="data")
        yield tree


def base_revision(ref: str, progress: Callable[[str], None] = print) -> Revision:
    """Resolve ``ref``, export its tree and build (or reuse) its service image."""
    commit = resolve_ref(ref)
    with exported(commit) as tree:
        try:
            image = ensure_service_image(tree, progress=progress)
        except ImageBuildError as error:
            raise RevisionError(
                f"the service of {ref} ({commit[:12]}) does not build: {error}"
            ) from None
    return Revision(ref=ref, commit=commit, service_image=image)
