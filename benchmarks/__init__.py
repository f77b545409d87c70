"""The gate of TasteMatch Bench: budgets, their evaluation, and the run that measures them.

``python -m benchmarks run`` boots the capped stack and writes a judged result
document (its schema is the :mod:`results` package); ``python -m benchmarks.evaluate
RESULT`` re-judges a saved one.
Importing this package does not import Locust or the containers machinery.
"""

from benchmarks.budgets import Budget, BudgetError, Verdict, evaluate, load_budgets
from benchmarks.result import SCHEMA_VERSION, ResultError, load_result, write_result

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
