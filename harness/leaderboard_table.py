"""The leaderboard as printed: one screen wide, short labels, no ``None`` or ``NaN``.

leaderboard.csv keeps every column at full precision; this is only the view of it for a
terminal. Columns are taken in :data:`PRIORITY` order (then any other column) while
the table fits ``width``; the ones left out are named in a closing line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from harness.labels import metric_header, task_labels

IDENTITY = ("task", "retriever", "setting", "view", "search", "split", "limit", "k", "run")
PRIORITY = ("hit_rate@5", "mrr@5", "vs_baseline_diff", "vs_baseline_ci_low", "vs_baseline_ci_high",
            "vs_baseline_p_holm", "vs_baseline_sig", "hit_rate@1", "probe_text_dominance", "recall@100", "hit_rate@10",
            "ndcg@10", "n_queries", "hit_rate@100", "recall@5", "mrr@10", "n_without_relevant")
HIDDEN = ("path", "created", "checkpoint", "paper_note", "depth_limited")  # in the CSV; too long or too raw for a terminal
DEPTH_MARK = "*"  # after a value computed deeper than its run's k (the row's depth_limited)
SHORT = {"vs_baseline_metric": "vs-baseline", "vs_baseline_diff": "diff", "vs_baseline_ci_low": "ci-low",
         "vs_baseline_ci_high": "ci-high", "vs_baseline_p_holm": "p(Holm)", "vs_baseline_sig": "sig",
         "probe_text_dominance": "text-dominance", "n_without_relevant": "no-relevant", "n_queries": "queries"}
MISSING = "-"
MAX_LABEL = 22  # characters of a task label before it is cut with an ellipsis


def cell(value) -> str:
    """One value as printed: floats to 4 decimals, ``None``/``NaN``/empty as ``-``.

    >>> cell(None), cell(float("nan")), cell(0.12345), cell(3), cell("fine-tuned")
    ('-', '-', '0.1235', '3', 'fine-tuned')
    """
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _mark(row: Mapping, key: str) -> str:
    """:data:`DEPTH_MARK` when ``row``'s ``key`` metric was computed deeper than its run."""
    limited = str(row.get("depth_limited") or "").split(";")
    return DEPTH_MARK if key in limited and cell(row.get(key)) != MISSING else ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_leaderboard(rows: Sequence[Mapping], width: int = 120) -> str:
    """The printed table of :func:`harness.results.leaderboard` rows, at most ``width`` wide.

    Task labels are names (``local:PATH`` -> ``local:<dir name>``, plus the path's hash when two
    local tasks share a name); a metric a task reports in
    its paper under another name carries that name under the ranx name in the header
    (``hit_rate@5`` over ``(R@5/PR@5)``).
    Identity columns that are empty in every row (``limit`` of full runs, ``search`` of exact
    runs) are left out; ``run`` (the folder's identity hash) is shown only when two rows agree
    on every other identity column (runs differing in relevance, checkpoint, options, data).
    """
    tasks = list(dict.fromkeys(str(r.get("task")) for r in rows))
    labels = task_labels(tasks)  # two local folders of one name: each with its path's hash
    present = list(dict.fromkeys(k for r in rows for k in r if k not in HIDDEN))
    numeric = [k for k in present if k not in IDENTITY]  # values: numbers, or short text from extensions
    order = [k for k in IDENTITY if k != "run" and any(cell(r.get(k)) != MISSING for r in rows)]
    if all(r.get("k") in (None, 100) and not r.get("depth_limited") for r in rows):
        order = [k for k in order if k != "k"]  # every run at the default depth: the column says nothing
    seen = [tuple(cell(r.get(k)) for k in order) for r in rows]
    if len(set(seen)) < len(seen):  # two runs alike in every shown column: their identity hash tells them apart
        order.append("run")
    wanted = [k for k in PRIORITY if k in numeric] + [k for k in numeric if k not in PRIORITY]

    def column(key: str) -> list[str]:
        """[name, paper names or "", value per row]: a two-line header keeps columns narrow."""
        if key == "task":
            return ["task", "", *(_cut(labels[str(r.get("task"))], MAX_LABEL) for r in rows)]
        name, _, paper = (metric_header(key, tasks) if "@" in key else SHORT.get(key, key)).partition(" ")
        return [name, paper, *(_cut(cell(r.get(key)) + _mark(r, key), MAX_LABEL) for r in rows)]

    columns = [column(k) for k in order]
    used = sum(max(map(len, c)) for c in columns) + 2 * (len(columns) - 1)
    left_out = []
    for key in wanted:
        candidate = column(key)
        extra = max(map(len, candidate)) + 2
        if used + extra <= width:
            columns.append(candidate)
            used += extra
        else:
            left_out.append(key)
    shown = [*order, *(k for k in wanted if k not in left_out)]
    widths = [max(map(len, c)) for c in columns]
    lines = []
    for i in range(len(rows) + 2):
        if i == 1 and not any(c[1] for c in columns):
            continue  # no paper names: a one-line header
        parts = [c[i].ljust(w) if k in IDENTITY else c[i].rjust(w) for k, c, w in zip(shown, columns, widths)]
        lines.append("  ".join(parts).rstrip())
    if any(_mark(r, k) for r in rows for k in shown):
        lines.append(f"{DEPTH_MARK} depth-limited: computed on a ranking of k passages, fewer than the metric's cut-off")
    if left_out:
        lines.append(f"({len(left_out)} more columns in leaderboard.csv: {_cut(', '.join(left_out), width - 40)})")
    return "\n".join(lines)
