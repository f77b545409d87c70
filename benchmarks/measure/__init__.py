"""Measuring: what a load phase does to the capped stack, and the figures drawn from it.

The load generator (:mod:`~benchmarks.measure.loadgen`) and its exact samples
(:mod:`~benchmarks.measure.samples`), one phase on the running stack
(:mod:`~benchmarks.measure.phases`), the probes beside the load (SQL, Redis and
trace work per request, the HTTP contract), memray, the micro-benchmarks, memory
growth, recovery around a fault, base-vs-head rounds and the base revision's image.
Nothing here judges a budget: that is :mod:`benchmarks.judge`.
"""
