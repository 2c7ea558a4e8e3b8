"""``make bench-peers``: the pipeline against dlt, pandas ``to_sql`` and raw bulk loads (see docs/benchmarks.md).

Bench scaffolding, never installed with the product; the peers run in their own venv (``.venv-peers``).
"""
