"""Judgements in a result document: budget verdicts, and the base-vs-head block.

A :class:`Verdict` is one absolute budget judged on one phase (or the whole run); a run
with ``--base REF`` adds :class:`VersusBase`: its interleaved rounds, the base's
micro-benchmarks and the relative verdicts, one row per figure. Their format history is
in :mod:`results._schema`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import JsonValue

from results._base import FalseIfNull, Flag, Items, Members, Model, Number, Scalar, Text
from results._blocks import Microbenchmark

__all__ = [
    "MicroVersusBase",
    "RelativeRow",
    "RelativeVerdict",
    "Verdict",
    "VersusBase",
    "VersusRound",
]


class Verdict(Model):
    """One budget judged on one phase (``phase`` is ``None`` for a run-wide budget)."""

    budget: str
    measured: Number | None
    limit: Number | None
    unit: str
    comparison: Literal["<=", ">="]
    #: ``None``: not run (what the budget judges was left out of the run on purpose).
    passed: Flag | None
    description: Text = ""
    phase: str | None = None
    explanation: Text = ""
    unstable: FalseIfNull = False
    spread: Number | None = None
    #: The measured figure's 95 % confidence interval, where it has one; ``unstable``
    #: then means the limit lies inside it.
    ci95: tuple[Number, Number] | None = None
    #: The budget's dotted metric path (``None`` in version-1 documents).
    metric: str | None = None
    #: Every concrete path the metric matched, relative to the phase (or the document).
    paths: tuple[str, ...] = ()

    @property
    def lower_is_better(self) -> bool:
        return self.comparison != ">="

    @property
    def failed(self) -> bool:
        """Judged and did not hold (a budget that was not run has not failed)."""
        return self.passed is False

    @property
    def not_run(self) -> bool:
        """Neither passed nor failed: what the budget judges was not run."""
        return self.passed is None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RelativeRow(Model):
    """One figure of a relative verdict: base, head and how they compare."""

    figure: str
    n_base: int
    n_head: int
    base: Number | None = None
    head: Number | None = None
    ratio: Number | None = None
    ci95: tuple[Number, Number] | None = None
    p_value: Number | None = None
    #: ``None``: not judged (too few samples).
    passed: bool | None = None
    explanation: Text = ""
    pair_ratios: Items[Number | None] = []
    #: Lower confidence bound of the pairs' geometric mean ratio (3 pairs or more).
    pairs_low: Number | None = None
    base_values: Items[Number] = []
    head_values: Items[Number] = []


class RelativeVerdict(Model):
    """One ``[[relative]]`` limit judged on a base-vs-head run."""

    name: str
    description: Text = ""
    kind: Literal["latency", "value"]
    metric: str
    unit: str
    ratio_limit: Number
    passed: Flag
    explanation: Text = ""
    rows: Items[RelativeRow] = []


class VersusRound(Model):
    """One round of a base-vs-head run: which side, and the figures it measured."""

    name: str
    side: Literal["base", "head"]
    commit: str | None = None
    service_image: str
    error: str | None = None
    endpoints: Members[JsonValue] = {}
    containers: Members[JsonValue] = {}
    cache: Members[JsonValue] = {}
    sql_probe: Members[JsonValue] = {}
    work_probe: Members[JsonValue] = {}
    load_generator: Members[JsonValue] = {}


class MicroVersusBase(Model):
    """The base revision's micro-benchmarks beside head's (two runs a side: head, base,
    base, head)."""

    base: Items[Microbenchmark] = []
    #: Per run (``micro-base-1``, ``micro-head-1``, ...), per benchmark: round times in ms.
    samples: Members[dict[str, list[Number]]] = {}
    pairs: Items[dict[str, str]] = []
    errors: Items[Text] = []


class VersusBase(Model):
    """``--base REF``: the ref's service against the working tree's, round by round."""

    base: Members[Scalar]
    head: Members[Scalar]
    same_image: Flag
    scenario: str
    users: int
    warmup_s: Number
    measure_s: Number
    order: Items[str] = []
    pairs: Items[dict[str, str]] = []
    rounds: Items[VersusRound] = []
    samples: Members[dict[str, list[Number]]] = {}
    errors: Items[Text] = []
    verdicts: Items[RelativeVerdict] = []
    passed: Flag | None = None
    microbenchmarks: MicroVersusBase | None = None
