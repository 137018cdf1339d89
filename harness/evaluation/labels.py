"""Short labels for people: task names instead of paths, and the papers' metric names.

The papers' "R@k" (gold-id relevance) and "PR@k" (pseudo-recall, answer-match relevance) are
ranx's ``hit_rate@k``; "MRR@k" is ``mrr@k`` (DESIGN.md, metric names). Which paper name a
task reports is read from its ``TaskSpec.paper_metric``, never repeated here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import PurePath

from harness.metrics.table import PAPER_TO_RANX
from tasks.base import local_path_hash
from tasks.registry import TASKS

# paper name -> ranx base name (the rule above), as harness/metrics/table.py's rows give them;
# the longer names first in the pattern (MRR before R)
_PAPER_NAME = re.compile(r"(?<![A-Za-z_])(" + "|".join(sorted(PAPER_TO_RANX, key=len, reverse=True)) + r")@(\d+)")


def task_label(task: str) -> str:
    """A task's name for tables and figures: ``local:/tmp/x/diag/`` -> ``local:diag``.

    >>> task_label("local:/tmp/x/diag/"), task_label("okvqa")
    ('local:diag', 'okvqa')
    """
    if task.startswith("local:"):
        return "local:" + PurePath(task[len("local:"):].rstrip("/") or "/").name
    return task


def task_labels(tasks: Iterable[str]) -> dict[str, str]:
    """``{task: label}`` for tasks shown together: :func:`task_label`, and where two different
    local tasks share a label, each adds the 6-digit hash of its path that its results folder
    carries (:func:`tasks.base.task_slug`): ``local:base-1a2b3c``.

    >>> labels = task_labels(["local:/a/base", "local:/b/base", "local:/c/other", "okvqa"])
    >>> labels["local:/c/other"], labels["okvqa"], labels["local:/a/base"] != labels["local:/b/base"]
    ('local:other', 'okvqa', True)
    """
    tasks = list(dict.fromkeys(tasks))
    plain = {t: task_label(t) for t in tasks}
    shared = Counter(plain.values())
    return {t: f"{plain[t]}-{local_path_hash(t[len('local:'):].rstrip('/') or '/')}"
            if shared[plain[t]] > 1 and t.startswith("local:") else plain[t] for t in tasks}


def paper_names(declared: str | Iterable[str]) -> dict[str, list[str]]:
    """``{ranx name: [paper names]}`` found in a TaskSpec's ``paper_metric`` text.

    >>> paper_names("PR@5 (PreFLMR) / MRR@5")
    {'hit_rate@5': ['PR@5'], 'mrr@5': ['MRR@5']}
    >>> paper_names("hit_rate@1")
    {}
    """
    text = declared if isinstance(declared, str) else " ".join(declared)
    out: dict[str, list[str]] = {}
    for name, k in _PAPER_NAME.findall(text or ""):
        labels = out.setdefault(f"{PAPER_TO_RANX[name]}@{k}", [])
        if f"{name}@{k}" not in labels:
            labels.append(f"{name}@{k}")
    return out


def task_paper_names(task: str) -> dict[str, list[str]]:
    """:func:`paper_names` of a registered task's TaskSpec; {} for ``local:`` and unknown tasks."""
    if task not in TASKS.names():
        return {}
    return paper_names(getattr(TASKS.get(task), "paper_metric", "") or "")


def metric_header(metric: str, tasks: Iterable[str]) -> str:
    """``hit_rate@5 (R@5/PR@5)``: the ranx name, then the paper names the tasks declare for it.

    >>> metric_header("hit_rate@5", ["remuq", "okvqa"]), metric_header("recall@100", ["okvqa"])
    ('hit_rate@5 (R@5/PR@5)', 'recall@100')
    """
    labels: list[str] = []
    for task in tasks:
        for label in task_paper_names(task).get(metric, []):
            if label not in labels:
                labels.append(label)
    labels.sort(key=lambda s: (len(s), s))
    return f"{metric} ({'/'.join(labels)})" if labels else metric
