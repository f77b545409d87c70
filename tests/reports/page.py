"""Reading a rendered report page in the report tests: its embedded scripts and figures."""

from __future__ import annotations

import json
import re
from typing import Any


def script(html: str, element_id: str) -> str:
    """The text of the page's ``<script id=element_id>``; fails the test if there is none."""
    match = re.search(rf'<script[^>]* id="{element_id}">(.*?)</script>', html, re.S)
    assert match is not None, f"no script element {element_id}"
    return match.group(1)


def page_figures(html: str) -> dict[str, Any]:
    """The plotly figures the page embeds, by chart id."""
    figures: dict[str, Any] = json.loads(script(html, "report-figures"))
    return figures
