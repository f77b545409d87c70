"""Rendering a run folder: every document kind gets its pages beside its JSON.

- a gate (or OOM, or faults) run's ``result.json``: ``index.html``, ``summary.md``,
  ``junit.xml``;
- ``selftest.json``: ``selftest.md`` and ``selftest.html``;
- ``capacity.json``: ``capacity.md`` and ``capacity.html``.
"""

from __future__ import annotations

import os
from pathlib import Path

import results
from reports._capacity import capacity_html, capacity_markdown
from reports._charts import run_charts
from reports._compare import compare_runs
from reports._document import DocumentError, ReportError, load_document
from reports._html import index_html
from reports._selftest import selftest_html, selftest_markdown
from reports._summary import junit_xml, summary_markdown

__all__ = ["DOCUMENTS", "OUTPUTS", "render_document", "render_run"]

#: The files :func:`render_run` writes into a gate run's folder.
OUTPUTS = ("index.html", "summary.md", "junit.xml")
#: The documents a run folder may hold, in the order :func:`render_run` looks for them.
DOCUMENTS = ("result.json", "selftest.json", "capacity.json")


def _write(path: Path, text: str) -> None:
    # Written beside and renamed, so a reader never sees half a report.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _document_file(path: Path) -> Path:
    """``path`` itself, or the first document of :data:`DOCUMENTS` inside the folder."""
    if not path.is_dir():
        return path
    found = (path / name for name in DOCUMENTS if (path / name).is_file())
    # No document at all: the loader's message names the gate's file.
    return next(found, path / DOCUMENTS[0])


def _write_all(folder: Path, texts: dict[str, str]) -> list[Path]:
    written = []
    try:
        for name, text in texts.items():
            _write(folder / name, text)
            written.append(folder / name)
    except OSError as error:
        raise ReportError(f"{folder}: cannot write the report ({error})") from None
    return written


def render_document(
    document: results.SelftestDocument | results.CapacityDocument, folder: Path
) -> list[Path]:
    """Write the pages of a self-test or capacity document into ``folder``."""
    if isinstance(document, results.SelftestDocument):
        texts = {
            "selftest.md": selftest_markdown(document),
            "selftest.html": selftest_html(document),
        }
    else:
        texts = {
            "capacity.md": capacity_markdown(document),
            "capacity.html": capacity_html(document),
        }
    return _write_all(folder, texts)


def render_run(run_dir: Path, *, base: Path | None = None) -> list[Path]:
    """Render the run in ``run_dir`` (a run folder or one of its documents); return what
    was written.

    With ``base`` (another gate run folder or ``result.json``) every figure also shows
    its delta against that run, marked "within noise" where it is. Raises
    :class:`~reports.ReportError` (a :class:`~reports.DocumentError` for a missing or
    invalid document) with a message naming the file and the field.
    """
    source = _document_file(Path(run_dir))
    folder = source.parent
    if source.name != DOCUMENTS[0] and source.is_file():
        try:
            document = results.load(source, reader="this report")
        except results.ResultError as error:
            raise DocumentError(str(error)) from None
        if not isinstance(document, results.RunDocument):
            if base is not None:
                raise ReportError(f"{source}: --base compares gate runs, not {document.kind} runs")
            return render_document(document, folder)
    run = load_document(source)
    comparison = compare_runs(run, load_document(Path(base))) if base is not None else None
    texts = {
        "index.html": index_html(run, run_charts(run), comparison, run_dir=folder),
        "summary.md": summary_markdown(run, comparison),
        "junit.xml": junit_xml(run),
    }
    return _write_all(folder, texts)
