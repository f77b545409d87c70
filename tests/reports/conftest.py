"""Test inputs for the report: synthetic result documents in the gate's schema_version 2
(built by ``synthetic_phases`` and ``synthetic_runs`` of this folder).

These are TEST FIXTURES, not measurements: every document says so in its run id,
its commit and its hostname. They are generated (seeded, so deterministic) to be
realistic in shape and size: a 75 s phase with 4 Hz memory samples, one-second
request windows per endpoint, the gate's budget names.

Phases are named as the gate names them: the gated ``optimized`` phase, then the
ungated ``compare-optimized`` / ``compare-baseline`` pair behind the ratio.

- ``passing``: every budget holds; the baseline is slower but survives;
- ``failing``: the optimised phase carries regression R1 (full-row loads) and grows
  the service until it is OOM-killed; the baseline comparison phase is OOM-killed too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reports.synthetic_phases import XSS_IMG, XSS_SCRIPT, Document
from tests.reports.synthetic_runs import make_hostile_run, make_run, write_run


@pytest.fixture
def make_document() -> Callable[[str], Document]:
    """A fresh document of a kind: ``passing``, ``failing`` or ``hostile``."""

    def make(kind: str) -> Document:
        return make_hostile_run() if kind == "hostile" else make_run(kind)

    return make


@pytest.fixture
def write_document(tmp_path: Path) -> Callable[[str, Document], Path]:
    """Write a document as ``<tmp>/<name>/result.json``; returns the run folder."""

    def write(name: str, document: Document) -> Path:
        return write_run(tmp_path / name, document)

    return write


@pytest.fixture
def passing_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "passing", make_run("passing"))


@pytest.fixture
def failing_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "failing", make_run("failing"))


@pytest.fixture
def hostile_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "hostile", make_hostile_run())


@pytest.fixture
def passing_document() -> Document:
    return make_run("passing")


@pytest.fixture
def xss_strings() -> tuple[str, str]:
    """The markup the hostile document puts in names: a script element, an img handler."""
    return XSS_SCRIPT, XSS_IMG
