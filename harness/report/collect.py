"""What the report shows, gathered from a results directory.

Runs are grouped by task; the drill-down and the failure slices use each task's full-view
runs (one "system" per run: retriever, setting, search). A query is *found* by a system when
its first relevant passage is within the cut-off of the task's main metric (``mrr@5``: rank
<= 5; ``hit_rate@1``: rank 1).
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.runs import canonical_ranking, read_trec_run
from harness.core.textfiles import load_json_object, read_csv_rows

TOP = 5  # passages per system in the drill-down
PASSAGE_CHARS = 400  # of each passage's text kept in the page


@dataclass
class System:
    """One full-view run of a task: ``label``, its folder, and per query the first relevant
    rank (None: no relevant passage retrieved) and the probe's per-view gold ranks."""

    label: str
    directory: Path
    run_hash: str
    first_rank: dict[str, int | None]
    view_ranks: dict[str, dict[str, int | None]] = field(default_factory=dict)
    probe: dict | None = None


def cutoff(metric: str, default: int = 100) -> int:
    """The rank within which a query counts as found under ``metric``.

    >>> cutoff("mrr@5"), cutoff("hit_rate@1"), cutoff("ndcg")
    (5, 1, 100)
    """
    _, at, k = metric.partition("@")
    return int(k) if at else default


def _rank(value: str) -> int | None:
    return int(float(value)) if value not in ("", None) else None


def read_system(directory: Path, label: str) -> System:
    """A run folder's per-query first relevant rank and, when probed, the views' gold ranks."""
    first = {r["query_id"]: _rank(r["first_relevant_rank"]) for r in read_csv_rows(directory / "per_query.csv")}
    views: dict[str, dict[str, int | None]] = {}
    probe = None
    if (directory / "probe.json").exists() and (directory / "probe_per_query.csv").exists():
        probe = load_json_object(directory / "probe.json")
        for r in read_csv_rows(directory / "probe_per_query.csv"):
            views[r["query_id"]] = {v: _rank(r.get(f"{v}_rank", "")) for v in ("full", "text", "image", "swap")}
    return System(label, directory, directory.name.rsplit("-", 1)[-1], first, views, probe)


def systems_of(rows: list[dict]) -> list[System]:
    """Full-view rows of one task -> :class:`System` each, labels unique."""
    out, taken = [], set()
    for r in rows:
        if r.get("view") not in (None, "full"):
            continue
        label = f"{r['retriever']} ({r['setting']})" + (f" {r['search']}" if r.get("search") else "")
        if label in taken:
            label += f" {r['run']}"
        taken.add(label)
        out.append(read_system(Path(r["path"]), label))
    return out


def found(rank: int | None, k: int) -> bool:
    return rank is not None and rank <= k


def failure_slices(systems: list[System], queries: list[str], k: int) -> dict:
    """``{"every_system_misses": [qid], "only_one_finds": {label: [qid]},
    "flips": {label: {"image removed": {"lost": [...], "gained": [...]}, "image swapped": {...}}}}``.

    *lost*: found with the image, not without it (or with another query's image); *gained*: the
    reverse. Flips need the probe (its gold ranks per view).

    >>> a = System("a", Path("."), "h", {"q1": 1, "q2": None, "q3": 9}, {"q1": {"full": 1, "text": 7, "swap": 1}})
    >>> b = System("b", Path("."), "h", {"q1": None, "q2": None, "q3": 2})
    >>> s = failure_slices([a, b], ["q1", "q2", "q3"], 5)
    >>> s["every_system_misses"], s["only_one_finds"], s["flips"]["a"]["image removed"]
    (['q2'], {'a': ['q1'], 'b': ['q3']}, {'lost': ['q1'], 'gained': []})
    """
    misses = [q for q in queries if not any(found(s.first_rank.get(q), k) for s in systems)]
    only: dict[str, list[str]] = {}
    if len(systems) > 1:
        for q in queries:
            finders = [s.label for s in systems if found(s.first_rank.get(q), k)]
            if len(finders) == 1:
                only.setdefault(finders[0], []).append(q)
    flips: dict[str, dict] = {}
    for s in systems:
        if not s.view_ranks:
            continue
        entry = {}
        for view, name in (("text", "image removed"), ("swap", "image swapped")):
            lost, gained = [], []
            for q in queries:
                ranks = s.view_ranks.get(q)
                if not ranks or view not in ranks:
                    continue
                full_found, view_found = found(ranks.get("full"), k), found(ranks.get(view), k)
                if full_found and not view_found:
                    lost.append(q)
                elif view_found and not full_found:
                    gained.append(q)
            entry[name] = {"lost": lost, "gained": gained}
        flips[s.label] = entry
    return {"every_system_misses": misses, "only_one_finds": only, "flips": flips}


def thumbnail(image, size: int = 128) -> str | None:
    """A query image as a ``data:image/jpeg;base64,...`` URI at most ``size`` px wide/high."""
    if image is None:
        return None
    try:
        picture = image.load()
    except Exception:  # a broken or missing image: the drill-down says so, the report is still written
        return None
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=75)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def answer_spans(text: str, answers, word: bool) -> list[list[int]]:
    """``[[start, end], ...]`` of every answer's occurrences in ``text`` (case-insensitive;
    whole words where the relevance matches words), merged and sorted.

    >>> answer_spans("The Eiffel Tower, eiffel", ["eiffel"], True)
    [[4, 10], [18, 24]]
    >>> answer_spans("cats", ["cat"], True), answer_spans("cats", ["cat"], False)
    ([], [[0, 3]])
    """
    spans = []
    for answer in answers:
        answer = str(answer).strip()
        if not answer:
            continue
        pattern = re.escape(answer)
        if word:
            pattern = rf"(?<!\w){pattern}(?!\w)"
        spans += [[m.start(), m.end()] for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def load_task_data(row: dict):
    """The task as its run read it (split, data and image folders, relevance from meta.json),
    or None with the reason when it cannot be read now (the drill-down then shows ids only)."""
    from harness.core.errors import MireEvalError
    from tasks.base import LoadOptions
    from tasks.loading import load_task

    try:
        meta = load_json_object(Path(row["path"]) / "meta.json")
        load = (meta.get("settings") or {}).get("load") or {}
        path = lambda v: Path(v) if v not in (None, "None", "") else None  # noqa: E731
        options = LoadOptions(split=row.get("split") or "test", data_dir=path(load.get("data_dir")),
                              image_dir=path(load.get("image_dir")),
                              skip_missing_images=str(load.get("skip_missing_images")) == "True",
                              relevance=load.get("relevance") if load.get("relevance") not in ("None", "") else None)
        data = load_task(str(row["task"]), options)
    except (MireEvalError, OSError, ValueError) as exc:
        return None, str(exc)
    # the run's data files' fingerprints (meta.json identity "inputs"): an edited file would show
    # new questions or passages beside the old run's ranks, as if the run had read them
    recorded = (meta.get("identity") or {}).get("inputs") or {}
    changed = sorted(f for f in recorded if data.inputs.get(f) != recorded[f])
    if changed:
        return None, f"{changed[0]}: changed since the run (or gone)"
    return data, None


def drilldown(systems: list[System], queries: list[str], data, qrels: dict, relevance: str | None,
              probe_types: dict[str, str]) -> list[dict]:
    """One JSON-ready entry per query of ``queries``: question, answers, thumbnail, type, and per
    system its top passages (id, text cut to :data:`PASSAGE_CHARS`, relevant or not, answer
    spans), first relevant rank and per-view gold ranks."""
    by_id = {q.id: q for q in data.queries} if data is not None else {}
    rows = {pid: i for i, pid in enumerate(data.corpus.ids)} if data is not None else {}
    runs = {s.label: read_trec_run(s.directory / "run.trec") for s in systems}
    word = relevance == "answer-word"
    out = []
    for qid in queries:
        q = by_id.get(qid)
        answers = list(q.answers) if q is not None else []
        entry = {"id": qid, "text": q.text if q is not None else "", "answers": answers,
                 "type": probe_types.get(qid, ""), "thumb": thumbnail(q.image) if q is not None else None,
                 "systems": []}
        judged = qrels.get(qid, {})
        for s in systems:
            top = []
            for pid, _ in canonical_ranking(runs[s.label].get(qid, {}), TOP):
                passage = data.corpus[rows[pid]] if pid in rows else None
                text = passage.text[:PASSAGE_CHARS] if passage is not None else ""
                spans = answer_spans(text, answers, word) if relevance not in (None, "qrels", "gold") else []
                top.append({"id": pid, "title": passage.title if passage is not None else "", "text": text,
                            "relevant": judged.get(pid, 0) > 0, "spans": spans})
            entry["systems"].append({"name": s.label, "first_rank": s.first_rank.get(qid),
                                     "views": s.view_ranks.get(qid), "top": top})
        out.append(entry)
    return out
