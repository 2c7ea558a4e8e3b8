"""Benchmark of the real pipeline at scale: ``make bench`` (see docs/benchmarks.md)."""
