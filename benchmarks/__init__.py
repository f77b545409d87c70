"""The gate of TasteMatch Bench: budgets, their evaluation, and the runs that measure them.

``python -m benchmarks run`` boots the capped stack and writes a judged result
document (its schema is the :mod:`results` package); ``python -m benchmarks evaluate
RESULT`` re-judges a saved one; ``python -m benchmarks --help`` lists every command.

- :mod:`benchmarks.commands`: one module per command (its docstring is its help);
- :mod:`benchmarks.measure`: loads, phases, probes, samplers, memray, micro-benchmarks;
- :mod:`benchmarks.judge`: budgets (``budgets.toml``), relative limits, verdict lines;
- ``mutants/``: the self-test's code changes, as patches.

Importing this package does not import Locust or the containers machinery.
"""

from benchmarks.judge.budgets import Budget, BudgetError, Verdict, evaluate, load_budgets
from benchmarks.judge.result import SCHEMA_VERSION, ResultError, load_result, write_result

__all__ = [
    "SCHEMA_VERSION",
    "Budget",
    "BudgetError",
    "ResultError",
    "Verdict",
    "evaluate",
    "load_budgets",
    "load_result",
    "write_result",
]
