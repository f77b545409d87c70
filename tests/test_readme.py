"""README's copy of `make help` lists exactly the Makefile's targets and descriptions."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_lists_every_make_target_as_make_help_does() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = re.findall(r"^([a-zA-Z_-]+):.*?## (.+)$", makefile, flags=re.MULTILINE)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("`make help` lists every target:", 1)[1].split("```", 2)[1]
    listed = re.findall(r"^  ([a-zA-Z_-]+) +(.+)$", block, flags=re.MULTILINE)
    assert listed == targets
