"""Benchmarks: one small declarative file per task (a ``TaskSpec``), shared behaviour in base.py,
the names in registry.py. Importing this package imports nothing else (``mire-eval ls`` reads
tasks/registry.py without loading any task)."""
