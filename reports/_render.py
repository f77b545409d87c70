"""Rendering a run folder: ``index.html``, ``summary.md``, ``junit.xml`` beside ``result.json``."""

from __future__ import annotations

import os
from pathlib import Path

from reports._charts import run_charts
from reports._compare import compare_runs
from reports._document import ReportError, load_document, result_path
from reports._html import index_html
from reports._summary import junit_xml, summary_markdown

__all__ = ["OUTPUTS", "render_run"]

#: The files :func:`render_run` writes into the run folder.
OUTPUTS = ("index.html", "summary.md", "junit.xml")


def _write(path: Path, text: str) -> None:
    # Written beside and renamed, so a reader never sees half a report.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def render_run(run_dir: Path, *, base: Path | None = None) -> list[Path]:
    """Render the run in ``run_dir`` (a run folder or its ``result.json``); return what was written.

    With ``base`` (another run folder or ``result.json``) every figure also shows its
    delta against that run, marked "within noise" where it is. Raises
    :class:`~reports.ReportError` (a :class:`~reports.DocumentError` for a missing or
    invalid document) with a message naming the file and the field.
    """
    source = result_path(Path(run_dir))
    run = load_document(source)
    comparison = compare_runs(run, load_document(Path(base))) if base is not None else None
    folder = source.parent
    texts = {
        "index.html": index_html(run, run_charts(run), comparison, run_dir=folder),
        "summary.md": summary_markdown(run, comparison),
        "junit.xml": junit_xml(run),
    }
    written = []
    try:
        for name in OUTPUTS:
            _write(folder / name, texts[name])
            written.append(folder / name)
    except OSError as error:
        raise ReportError(f"{folder}: cannot write the report ({error})") from None
    return written
