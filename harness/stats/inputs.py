"""What ``mire-eval compare`` compares: results folders, or TREC run files over one qrels file,
turned into per-query scores aligned by query id.

Queries are paired by id over the qrels' queries (a results folder's: every query it
evaluated, listed in per_query.csv); a query a run does not rank scores 0 there, as
``trec_eval -c`` does. Folders evaluated over different query sets, or judged with different
relevance (their qrels.tsv differ on a query), are refused in one line: intersecting them
would compare two different benchmarks.

Clustering (for the bootstrap): ``image`` when every folder's per_query.csv has the ``image``
column (a short hash of each query's image; queries sharing an image are resampled together),
or a two-column file ``query_id<TAB>cluster`` (``--clusters``), else ``queries``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.core.errors import MireEvalError, where
from harness.core.textfiles import load_json_object, read_csv_rows
from harness.core.types import Qrels, Run


@dataclass
class Systems:
    """Runs to compare over one query set: ``names`` (the first is the baseline), ``runs``
    (``{name: run}``), ``qrels`` and ``queries`` (the ids scored, in order); ``clusters``: one
    label per query or None, named by ``clustering``; ``folders``: the results folders, if any."""

    names: list[str]
    runs: dict[str, Run]
    qrels: Qrels
    queries: list[str]
    clusters: list[str] | None = None
    clustering: str = "queries"
    folders: dict[str, Path] = field(default_factory=dict)


def positives(qrels: Qrels, queries) -> dict[str, frozenset]:
    """``{qid: frozenset of (pid, grade) with grade > 0}``: what decides every metric."""
    return {q: frozenset((p, g) for p, g in qrels.get(q, {}).items() if g > 0) for q in queries}


def read_per_query(folder: Path) -> tuple[list[str], list[str] | None]:
    """``(query ids, image hashes or None)`` from a folder's per_query.csv."""
    path = folder / "per_query.csv"
    rows = read_csv_rows(path)
    ids = [r["query_id"] for r in rows]
    images = [r["image"] or r["query_id"] for r in rows] if rows and "image" in rows[0] else None
    return ids, images


def system_label(metrics: dict, folder: Path, taken: set) -> str:
    """``retriever (setting[, view])``, with the folder's identity hash where two agree."""
    label = f"{metrics.get('retriever')} ({metrics.get('setting')}"
    label += ")" if metrics.get("view") in (None, "full") else f", {metrics['view']})"
    if label in taken:
        label = f"{label} {folder.name.rsplit('-', 1)[-1]}"
    taken.add(label)
    return label


def from_results(folders: list[Path]) -> Systems:
    """Complete results folders -> :class:`Systems`; refuses different query sets or relevance."""
    from harness.evaluation.results import is_complete
    from harness.core.runs import read_qrels, read_trec_run

    if len(folders) < 2:
        raise MireEvalError("compare: name at least two results folders (or --qrels and two run files)")
    names, runs, folder_of, taken = [], {}, {}, set()
    base_ids = base_pos = base_images = None
    qrels: Qrels = {}
    for folder in map(Path, folders):
        if not folder.is_dir() or not is_complete(folder):
            raise MireEvalError(f"{folder}: not a complete results folder (run `mire-eval run` first)")
        ids, images = read_per_query(folder)
        judged = read_qrels(folder / "qrels.tsv")
        pos = positives(judged, ids)
        if base_ids is None:
            base_ids, base_pos, base_images, qrels, first = ids, pos, images, judged, folder
        elif set(ids) != set(base_ids):
            raise MireEvalError(f"{folder}: evaluated over {len(ids)} queries, {first} over {len(base_ids)} "
                                f"({len(set(ids) ^ set(base_ids))} differ): different query sets are not compared")
        elif pos != base_pos:
            q = next(q for q in base_ids if pos[q] != base_pos[q])
            raise MireEvalError(f"{folder}: relevance differs from {first}'s (query {q!r} first): "
                                "runs judged differently are not compared")
        elif base_images is not None and images is not None and dict(zip(ids, images)) != dict(zip(base_ids, base_images)):
            base_images = None  # the same ids over other images: no common clustering
        elif images is None:
            base_images = None
        name = system_label(load_json_object(folder / "metrics.json"), folder, taken)
        names.append(name)
        runs[name] = read_trec_run(folder / "run.trec")
        folder_of[name] = folder
    clustering = "image" if base_images is not None and len(set(base_images)) < len(base_images) else "queries"
    return Systems(names, runs, qrels, list(base_ids), base_images if clustering == "image" else None, clustering,
                   folder_of)


def from_run_files(qrels_path: Path, run_paths: list[Path]) -> Systems:
    """TREC run files over one qrels file: the qrels' queries are the ones paired."""
    from harness.core.runs import read_qrels, read_trec_run

    if len(run_paths) < 2:
        raise MireEvalError("compare: name at least two run files with --qrels")
    qrels = read_qrels(qrels_path)
    if not qrels:
        raise MireEvalError(f"{qrels_path}: no judgements")
    names, runs, taken = [], {}, set()
    for path in map(Path, run_paths):
        name = path.name if path.name not in taken else str(path)
        taken.add(name)
        names.append(name)
        runs[name] = read_trec_run(path)
    return Systems(names, runs, qrels, list(qrels))


def read_clusters(path: Path, queries: list[str]) -> list[str]:
    """``query_id<TAB>cluster`` lines -> one label per query of ``queries`` (every one needed)."""
    found: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise MireEvalError(f"{where(path, n)}: expected query_id<TAB>cluster")
            found[parts[0]] = parts[1]
    missing = [q for q in queries if q not in found]
    if missing:
        raise MireEvalError(f"{path}: query_id: no cluster for {len(missing)} queries ({missing[0]!r} first)")
    return [found[q] for q in queries]


def score_systems(systems: Systems, metrics: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """``{name: {metric: [n] float64}}`` over ``systems.queries`` (missing rankings score 0)."""
    from harness.metrics.scoring import evaluate

    out = {}
    for name in systems.names:
        scores = evaluate(systems.qrels, systems.runs[name], metrics, queries=systems.queries)
        out[name] = {m: np.array([scores.per_query[q][m] for q in systems.queries]) for m in metrics}
    return out
