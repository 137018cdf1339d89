"""Run and qrels files, and the canonical order every scorer sees.

A run is ``{qid: {pid: score}}``. trec_eval ranks by score descending and breaks ties by
document id descending (``strcmp``); ranx breaks no ties. :func:`canonical_ranking` fixes
one order, trec_eval's, before anything is written or scored.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

from harness.core.errors import MireEvalError, where
from harness.core.textfiles import check_id, iter_lines
from harness.core.types import Qrels, Run


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


def trec_order_scores(run: Run, queries) -> dict[str, dict[str, float]]:
    """Each of ``queries``' rankings in trec_eval's order, as rank-derived scores for ranx.

    ranx breaks no ties, so it is never given the retriever's scores: the best passage of a
    ranking of n gets n, the next n - 1, and so on (distinct, so ranx's order is trec_eval's).
    A query absent from ``run`` gets an empty ranking. The one conversion every ranx call
    (:func:`harness.metrics.scoring.evaluate`, the probe's paired tests) goes through.

    >>> trec_order_scores({"q": {"a": 1.0, "b": 1.0, "c": 3.0}}, ["q", "r"])
    {'q': {'c': 3.0, 'b': 2.0, 'a': 1.0}, 'r': {}}
    """
    out = {}
    for q in queries:
        ranked = canonical_ranking(run.get(q, {}))
        out[q] = {pid: float(len(ranked) - i) for i, (pid, _) in enumerate(ranked)}
    return out


def write_trec_run(run: Run, path: Path, tag: str, k: int | None = None) -> None:
    """``qid Q0 pid rank score tag``, ranks from 1, in canonical order.

    Scores are written with ``repr`` (shortest round-trip form), not rounded: two scores
    that differ below a printed precision would otherwise tie when read back and swap by
    the pid tie-break, and the file would no longer score to the metrics beside it.
    Ids with whitespace and non-finite scores are refused, since :func:`read_trec_run`
    (like trec_eval) could not read them back.
    """
    with open(path, "w", encoding="utf-8") as f:
        for qid in sorted(run):
            check_id(qid, f"run of {path.name}", "query id")
            for rank, (pid, score) in enumerate(canonical_ranking(run[qid], k), 1):
                score = float(score)
                if not math.isfinite(score):
                    raise MireEvalError(f"query {qid!r}: passage {pid!r}: the retriever returned score {score!r}")
                check_id(pid, f"run of {path.name}: query {qid!r}", "passage id")
                f.write(f"{qid} Q0 {pid} {rank} {score!r} {tag}\n")


def read_trec_run(path: Path) -> Run:
    """A TREC run (``qid Q0 pid rank score tag``) as ``{qid: {pid: score}}``.

    Refused as trec_eval refuses them: a line without 6 fields, a score that is not a
    finite number, and a (qid, pid) pair listed twice (trec_eval: "duplicate docs").
    """
    run: Run = {}
    seen: dict[tuple[str, str], int] = {}
    for n, line in iter_lines(path, "run file"):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise MireEvalError(f"{where(path, n)}: run line needs 6 fields (qid Q0 pid rank score tag), got {len(parts)}")
        qid, pid = parts[0], parts[2]
        try:
            score = float(parts[4])
        except ValueError:
            raise MireEvalError(f"{where(path, n)}: score: not a number: {parts[4]!r}") from None
        if not math.isfinite(score):
            raise MireEvalError(f"{where(path, n)}: score: not a finite number: {parts[4]!r}")
        first = seen.setdefault((qid, pid), n)
        if first != n:
            raise MireEvalError(f"{where(path, n)}: docid: {pid!r} is ranked twice for query {qid!r} "
                                f"(lines {first} and {n})")
        run.setdefault(qid, {})[pid] = score
    return run


def write_qrels_tsv(qrels: Qrels, path: Path) -> None:
    """BEIR's qrels layout: header ``query-id corpus-id score``, tab-separated."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["query-id", "corpus-id", "score"])
        for qid in sorted(qrels):
            for pid in sorted(qrels[qid]):
                w.writerow([check_id(qid, path.name, "query-id"), check_id(pid, path.name, "corpus-id"),
                            qrels[qid][pid]])


BEIR_QRELS_HEADER = ("query-id", "corpus-id", "score")  # BEIR's qrels/<split>.tsv header


def iter_qrels(path: Path) -> Iterator[tuple[int, str, str, int]]:
    """``(line, qid, pid, grade)`` from BEIR-style TSV (with header) or TREC qrels (``qid 0 pid rel``).

    Ids with whitespace inside a TSV field are refused (a TREC run could not carry them);
    a (qid, pid) pair judged twice is refused naming both lines, whether or not the grades
    agree (trec_eval keeps one silently; which one is an accident of its sort).
    """
    seen: dict[tuple[str, str], int] = {}
    beir = False  # a BEIR header fixes the format: every line is then query-id, corpus-id, score
    for n, line in iter_lines(path, "qrels file"):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if n == 1 and parts[0].strip() == "query-id":
            if [p.strip() for p in parts] != list(BEIR_QRELS_HEADER):
                raise MireEvalError(f"{where(path, n)}: header: expected {' '.join(BEIR_QRELS_HEADER)} "
                                    f"(BEIR), got {line.strip()!r}")
            beir = True
            continue
        if len(parts) == 4 and not beir:  # TREC: qid iteration pid rel
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            layout = ("after the BEIR header a qrels line is query-id, corpus-id, score" if beir else
                      "a qrels line is query-id, corpus-id, score (BEIR) or query-id 0 corpus-id score (TREC)")
            raise MireEvalError(f"{where(path, n)}: columns: {len(parts)} found; {layout}")
        qid = check_id(parts[0], where(path, n), "query-id")
        pid = check_id(parts[1], where(path, n), "corpus-id")
        try:
            grade = int(parts[2])
        except ValueError:
            raise MireEvalError(f"{where(path, n)}: score: not an integer: {parts[2]!r}") from None
        first = seen.setdefault((qid, pid), n)
        if first != n:
            raise MireEvalError(f"{where(path, n)}: corpus-id: {pid!r} is judged twice for query {qid!r} "
                                f"(lines {first} and {n})")
        yield n, qid, pid, grade


def read_qrels(path: Path) -> Qrels:
    """``{qid: {pid: grade}}`` from a qrels file (see :func:`iter_qrels`)."""
    qrels: Qrels = {}
    for _, qid, pid, grade in iter_qrels(path):
        qrels.setdefault(qid, {})[pid] = grade
    return qrels
