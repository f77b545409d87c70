"""The micro-benchmarks the gate runs: pytest-benchmark files of the service's hot code.

:mod:`benchmarks.measure.micro` runs ``test_hot_code.py`` in a pytest subprocess with
``--benchmark-json``, for head and (``--base``) for the base's own tree. ``make test``
collects this folder too (pyproject's ``testpaths``), so the test suite checks they run.
Their one fixture from outside, ``postgres_url``, is the project's root ``conftest.py``.
"""
