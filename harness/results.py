"""The results directory: one folder per run, written whole or not at all, and the leaderboard.

    <output>/<task>/<retriever>/<tag>/  metrics.json  run.trec  per_query.csv  qrels.tsv  meta.json
    <output>/leaderboard.csv
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from harness.metrics import Scores
from harness.paper import with_paper_values

LEADERBOARD_METRICS = ("hit_rate@1", "hit_rate@5", "hit_rate@10", "hit_rate@100", "recall@5", "recall@100",
                       "mrr@5", "mrr@10", "ndcg@10")
PACKAGES = ("torch", "transformers", "ranx", "faiss-cpu", "datasets", "bm25s", "numpy", "peft")


def code_version() -> dict:
    """Git commit and dirty flag of the mire-eval code itself (None outside a checkout)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip()) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"git_commit": commit, "git_dirty": dirty}


def package_versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@contextmanager
def atomic_dir(final: Path):
    """Yield a scratch folder that replaces ``final`` only if the block finishes."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def write_json(path: Path, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=str)
        f.write("\n")


def write_per_query(path: Path, scores: Scores, n_relevant: dict[str, int], first_rank: dict) -> None:
    metrics = list(next(iter(scores.per_query.values()), {}).keys())
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["query_id", "n_relevant", "first_relevant_rank", *metrics])
        for qid, values in scores.per_query.items():
            rank = first_rank.get(qid)
            w.writerow([qid, n_relevant.get(qid, 0), "" if rank is None else rank,
                        *(f"{values[m]:.6f}" for m in metrics)])


def leaderboard(results_dir: Path) -> list[dict]:
    """One row per (task, retriever, setting, view, split): the newest full run of each."""
    rows: dict[tuple, dict] = {}
    for path in sorted(Path(results_dir).glob("*/*/*/metrics.json")):
        with open(path) as f:
            m = json.load(f)
        row = {key: m.get(key) for key in ("task", "retriever", "setting", "view", "split", "checkpoint", "limit")}
        row.update({name: m["metrics"].get(name) for name in LEADERBOARD_METRICS})
        row.update(n_queries=m.get("n_queries"), n_without_relevant=m.get("n_without_relevant"),
                   created=m.get("created"), path=str(path.parent))
        probe = path.parent / "probe.json"
        if probe.exists():
            with open(probe) as f:
                row.update({f"probe_{k}": v for k, v in json.load(f).get("indices", {}).items()})
        key = (row["task"], row["retriever"], row["setting"], row["view"], row["split"])
        rank = (row["limit"] is None, row["created"] or "")
        if key not in rows or rank >= rows[key]["_rank"]:
            rows[key] = {**row, "_rank": rank}
    out = [{k: v for k, v in r.items() if k != "_rank"} for r in rows.values()]
    out = with_paper_values(out)  # harness/paper.py: published numbers of matching settings
    return sorted(out, key=lambda r: (r["task"], r["retriever"], r["setting"] or "", r["view"] or ""))


def write_leaderboard(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
