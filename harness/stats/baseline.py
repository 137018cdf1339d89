"""``leaderboard --baseline RUN``: each row's main metric against a baseline run of its task.

The baseline is a run hash (the leaderboard's ``run`` column), a results folder, or a
retriever name (then, per task, that retriever's first full-view row). Rows of the same
task, query set and relevance as their baseline get ``vs_baseline_diff`` (main metric,
row - baseline), ``vs_baseline_ci_low`` / ``_high`` (95 % paired bootstrap, clustered by
shared images where the folders record them), ``vs_baseline_p_holm`` (paired randomization
test, Holm-corrected over every row compared with that baseline) and ``vs_baseline_sig``
(``*`` below 0.05), ``vs_baseline_ci_over`` (``image`` or ``queries``: what the bootstrap
resampled); other rows leave them empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import MireEvalError
from harness.stats.paired import PERMUTATIONS

COLUMNS = ("vs_baseline_metric", "vs_baseline_diff", "vs_baseline_ci_low", "vs_baseline_ci_high",
           "vs_baseline_p_holm", "vs_baseline_sig", "vs_baseline_ci_over")


def main_metric(task: str) -> str:
    """The registered task's main metric (``mrr@5`` for ``local:`` folders, as the probe)."""
    from harness.registry import TASKS

    return TASKS.get(task).main_metric if task in TASKS.names() else "mrr@5"


def baseline_rows(rows: Sequence[dict], baseline: str) -> dict[str, dict]:
    """``{task: baseline row}`` for ``baseline`` (run hash, folder or retriever name)."""
    by_run = [r for r in rows if r.get("run") == baseline or Path(r["path"]) == Path(baseline)]
    if len(by_run) > 1:
        raise MireEvalError(f"--baseline {baseline}: names {len(by_run)} runs; give the folder")
    if by_run:
        return {str(by_run[0]["task"]): by_run[0]}
    out: dict[str, dict] = {}
    for r in rows:
        if r.get("retriever") == baseline and str(r["task"]) not in out and r.get("view") in (None, "full"):
            out[str(r["task"])] = r
    if not out:
        raise MireEvalError(f"--baseline {baseline}: no run of that hash, folder or retriever "
                            "(see the leaderboard's run and retriever columns)")
    return out


def with_baseline(rows: list[dict], baseline: str, permutations: int = PERMUTATIONS, seed: int = 0) -> list[dict]:
    """``rows`` (of :func:`harness.results.leaderboard`) with :data:`COLUMNS` added."""
    from harness.stats.inputs import from_results, score_systems
    from harness.stats.table import compare_scores, mark

    out = [{**dict.fromkeys(COLUMNS), **r} for r in rows]  # a second call (another task) keeps the first's
    for task, base in baseline_rows(rows, baseline).items():
        metric = main_metric(task)
        group = [r for r in out if str(r["task"]) == task and r["path"] != base["path"]]
        comparable, systems = [], None
        for r in group:
            try:
                systems = from_results([Path(base["path"]), Path(r["path"])])
            except MireEvalError:
                continue  # another split, --limit or relevance: not comparable, left empty
            comparable.append((r, systems))
        for r in out:
            if r["path"] == base["path"]:
                r.update(vs_baseline_metric=metric, vs_baseline_sig="baseline")
        if not comparable:
            continue
        scores = {"baseline": None}
        clusters = comparable[0][1].clusters
        for i, (r, s) in enumerate(comparable):
            pair = score_systems(s, [metric])
            scores["baseline"] = pair[s.names[0]]
            scores[i] = pair[s.names[1]]
            if s.clusters is None:
                clusters = None
        result = compare_scores(scores, [metric], "baseline", "fisher", permutations, seed, clusters)
        for row in result["rows"]:
            r = comparable[row["system"]][0]
            r.update(vs_baseline_metric=metric, vs_baseline_diff=row["diff"], vs_baseline_ci_low=row["ci_low"],
                     vs_baseline_ci_high=row["ci_high"], vs_baseline_p_holm=row["p_holm"],
                     vs_baseline_sig=mark(row) or "", vs_baseline_ci_over=result["clustering"])
    return out
