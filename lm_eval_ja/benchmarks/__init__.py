"""Benchmark families: one module per family holds everything specific to its benchmarks.

:mod:`lm_eval_ja.benchmarks.spec` defines what a family declares, :mod:`lm_eval_ja.benchmarks.registry` lists the
families and answers every lookup. ``docs/adding-a-benchmark.md`` walks through adding one.
"""
