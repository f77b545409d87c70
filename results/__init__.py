"""The result documents: one typed schema, one format history, one loader and one writer.

Every command that measures writes a result document (``result.json`` for the gate
and the OOM run, ``selftest.json``, ``capacity.json``); budgets are judged and
reports rendered from these documents alone. ``benchmarks`` (the writer) and
``reports`` (a reader) both import this package; it imports neither. The format
history lives in :mod:`results._schema`, with the gate run's document; the models of its
parts in :mod:`results._phase`, :mod:`results._blocks` and :mod:`results._verdicts`, the
other commands' documents in :mod:`results._commands`.
"""

from results._base import Model, Scalar, unknown_keys
from results._blocks import (
    Allocation,
    Comparison,
    Environment,
    Memray,
    Microbenchmark,
    MicrobenchmarksStatus,
    PgBouncerComparison,
    PgBouncerSide,
)
from results._commands import (
    CapacityComparison,
    CapacityCurve,
    CapacityDocument,
    CapacityLadder,
    CapacityLadderStep,
    CapacityStep,
    SelftestCase,
    SelftestDocument,
    SelftestMutant,
)
from results._io import (
    AnyDocument,
    ResultError,
    document_kind,
    dumps,
    load,
    load_json,
    load_run,
    parse,
    parse_json,
    result_path,
    validate,
    write,
)
from results._phase import (
    CacheFigures,
    ContainerFigures,
    EndpointFigures,
    Growth,
    HttpCheck,
    MemorySample,
    Phase,
    RequestWindow,
    SqlFigures,
    Stage,
    TraceFigures,
    TraceWaterfalls,
    Waterfall,
    WaterfallSpan,
    WorkFigures,
    WorkSummary,
    stage_at,
)
from results._schema import SCHEMA_VERSION, SUPPORTED_SCHEMA_VERSIONS, RunDocument
from results._verdicts import (
    RelativeRow,
    RelativeVerdict,
    Verdict,
    VersusBase,
    VersusRound,
)

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Allocation",
    "AnyDocument",
    "CacheFigures",
    "CapacityComparison",
    "CapacityCurve",
    "CapacityDocument",
    "CapacityLadder",
    "CapacityLadderStep",
    "CapacityStep",
    "Comparison",
    "ContainerFigures",
    "EndpointFigures",
    "Environment",
    "Growth",
    "HttpCheck",
    "MemorySample",
    "Memray",
    "Microbenchmark",
    "MicrobenchmarksStatus",
    "Model",
    "PgBouncerComparison",
    "PgBouncerSide",
    "Phase",
    "RelativeRow",
    "RelativeVerdict",
    "RequestWindow",
    "ResultError",
    "RunDocument",
    "Scalar",
    "SelftestCase",
    "SelftestDocument",
    "SelftestMutant",
    "SqlFigures",
    "Stage",
    "TraceFigures",
    "TraceWaterfalls",
    "Verdict",
    "VersusBase",
    "VersusRound",
    "Waterfall",
    "WaterfallSpan",
    "WorkFigures",
    "WorkSummary",
    "document_kind",
    "dumps",
    "load",
    "load_json",
    "load_run",
    "parse",
    "parse_json",
    "result_path",
    "stage_at",
    "unknown_keys",
    "validate",
    "write",
]
