"""Run and qrels files, and the canonical order every scorer sees.

A run is ``{qid: {pid: score}}``. trec_eval ranks by score descending and breaks ties by
document id descending (``strcmp``); ranx breaks no ties. :func:`canonical_ranking` fixes
one order, trec_eval's, before anything is written or scored.
"""

from __future__ import annotations

import csv
from pathlib import Path

from harness.errors import MireEvalError, where
from harness.types import Qrels, Run


def canonical_ranking(results: dict[str, float], k: int | None = None) -> list[tuple[str, float]]:
    """(pid, score) best first, ties by pid descending (byte order), cut at ``k``.

    >>> canonical_ranking({"a": 1.0, "c": 2.0, "b": 2.0})
    [('c', 2.0), ('b', 2.0), ('a', 1.0)]
    """
    ranked = sorted(results.items(), key=lambda item: item[0].encode("utf-8"), reverse=True)
    ranked.sort(key=lambda item: item[1], reverse=True)  # stable: keeps pid-descending ties
    return ranked[:k] if k is not None else ranked


def canonical_run(run: Run, k: int | None = None) -> dict[str, list[tuple[str, float]]]:
    return {qid: canonical_ranking(results, k) for qid, results in run.items()}


def write_trec_run(run: Run, path: Path, tag: str, k: int | None = None) -> None:
    """``qid Q0 pid rank score tag``, ranks from 1, in canonical order."""
    with open(path, "w") as f:
        for qid in sorted(run):
            for rank, (pid, score) in enumerate(canonical_ranking(run[qid], k), 1):
                f.write(f"{qid} Q0 {pid} {rank} {score:.6f} {tag}\n")


def read_trec_run(path: Path) -> Run:
    run: Run = {}
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 6:
                    raise MireEvalError(f"{where(path, n)}: run line needs 6 fields (qid Q0 pid rank score tag), got {len(parts)}")
                try:
                    score = float(parts[4])
                except ValueError:
                    raise MireEvalError(f"{where(path, n)}: score: not a number: {parts[4]!r}") from None
                run.setdefault(parts[0], {})[parts[2]] = score
    except FileNotFoundError:
        raise MireEvalError(f"{path}: run file not found") from None
    return run


def write_qrels_tsv(qrels: Qrels, path: Path) -> None:
    """BEIR's qrels layout: header ``query-id corpus-id score``, tab-separated."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["query-id", "corpus-id", "score"])
        for qid in sorted(qrels):
            for pid in sorted(qrels[qid]):
                w.writerow([qid, pid, qrels[qid][pid]])


def read_qrels(path: Path) -> Qrels:
    """Read BEIR-style TSV (with header) or TREC qrels (``qid 0 pid rel``)."""
    qrels: Qrels = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise MireEvalError(f"{path}: qrels file not found") from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or (n == 1 and line.split("\t")[0] == "query-id"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) == 4:
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            raise MireEvalError(f"{where(path, n)}: qrels line needs query-id, corpus-id, score")
        try:
            grade = int(parts[2])
        except ValueError:
            raise MireEvalError(f"{where(path, n)}: score: not an integer: {parts[2]!r}") from None
        qrels.setdefault(parts[0], {})[parts[1]] = grade
    return qrels
