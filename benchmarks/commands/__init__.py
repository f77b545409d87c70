"""The commands of ``python -m benchmarks``: one module each, its docstring its help.

``run`` (the gate, :mod:`~benchmarks.commands.gate` does the work), ``evaluate``,
``selftest`` (with the mutants of :mod:`~benchmarks.commands.mutations`), ``oom``,
``capacity`` and ``faults``. Each measures through :mod:`benchmarks.measure`, judges
through :mod:`benchmarks.judge`, writes its document through :mod:`results` and
leaves its pages to :mod:`reports`.
"""
