"""Benchmarks: one small declarative file per task (a ``TaskSpec``), shared behaviour in base.py."""

from tasks.base import LoadOptions, TaskSpec, task_slug
from tasks.loading import load_task

__all__ = ["LoadOptions", "TaskSpec", "load_task", "task_slug"]
