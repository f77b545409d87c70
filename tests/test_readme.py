"""README's copies of what lives in code: `make help`'s targets, the regression catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from service.regressions import CATALOGUE

ROOT = Path(__file__).resolve().parents[1]


def test_readme_lists_every_make_target_as_make_help_does() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = re.findall(r"^([a-zA-Z_-]+):.*?## (.+)$", makefile, flags=re.MULTILINE)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("`make help` lists every target:", 1)[1].split("```", 2)[1]
    listed = re.findall(r"^  ([a-zA-Z_-]+) +(.+)$", block, flags=re.MULTILINE)
    assert listed == targets


def test_readme_lists_the_regression_catalogue() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("Each regression re-creates one historical mistake:", 1)[1]
    rows = re.findall(r"^\| (R\d) \| (.+) \|$", table.split("\n\n", 2)[1], flags=re.MULTILINE)
    assert rows == [(regression.value, info.detail) for regression, info in CATALOGUE.items()]
