"""Short labels for people: task names instead of paths, and the papers' metric names.

The papers' "R@k" (gold-id relevance) and "PR@k" (pseudo-recall, answer-match relevance) are
ranx's ``hit_rate@k``; "MRR@k" is ``mrr@k`` (DESIGN.md, metric names). Which paper name a
task reports is read from its ``TaskSpec.paper_metric``, never repeated here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

# paper name -> ranx base name (the rule above)
PAPER_TO_RANX = {"R": "hit_rate", "PR": "hit_rate", "MRR": "mrr"}
_PAPER_NAME = re.compile(r"(?<![A-Za-z_])(MRR|PR|R)@(\d+)")


def task_label(task: str) -> str:
    """A task's name for tables and figures: ``local:/tmp/x/diag/`` -> ``local:diag``.

    >>> task_label("local:/tmp/x/diag/"), task_label("okvqa")
    ('local:diag', 'okvqa')
    """
    if task.startswith("local:"):
        return "local:" + PurePath(task[len("local:"):].rstrip("/") or "/").name
    return task


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
    from harness.registry import TASKS

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
