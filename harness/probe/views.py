"""The text-dominance probe: how much does a retriever use the image, how much the text?

One index, four query views, each searched with the same retriever:

* ``full``: image and question, as evaluated normally;
* ``text``: the image removed (the retriever's own ``text`` view);
* ``image``: the question removed (the retriever's own ``image`` view);
* ``swap``: every query's image replaced by the image of another query whose picture differs
  from its own by content (:func:`swap_plan`: a derangement drawn from the seed, repaired so no
  query gets a picture with its own image's content fingerprint, the sha256 of its bytes, back),
  then searched with the ``full`` view. The probe realises it by swapping ``Query.image``, so
  every retriever gets it the same way. A query with no image, or whose every other query shows
  the same picture (``--limit 1``; a task of one image), has no swap: it is counted and left out
  of the swap view's metrics and paired test, and swap sensitivity is ``null`` with the reason
  when no query has one (never 0).

With ``M_v`` a metric's mean under view ``v`` (the task's main metric unless said otherwise):

* image dependence   = (M_full - M_text)  / M_full: what is lost without the image;
* text dependence    = (M_full - M_image) / M_full: what is lost without the question;
* text-dominance index = text dependence - image dependence (> 0: leans on the text);
* swap sensitivity   = (M_full - M_swap)  / M_full: what a wrong image costs.

When ``M_full`` is 0 the ratios are undefined and reported as ``null`` (nothing to lose).
Each view is compared with ``full`` query by query with a paired test through
:mod:`harness.stats` (default the paired randomization test, 10,000 seeded permutations or
exact; ``student``: Student's paired t-test), with a bootstrap CI and Holm's correction over
views x metrics.
Per-query attribution (gold rank and score per view, the MaxSim text/visual split) is in
:mod:`harness.probe.attribution`.

The full view is an ordinary evaluation (:func:`harness.evaluation.pipeline.run_evaluation`), so its
folder ``<output>/<task>/<retriever>/<tag>/`` holds metrics.json and the rest; the probe adds
probe.json, probe_per_query.csv and run_<view>.trec there, and the leaderboard reads
probe.json's ``indices`` beside metrics.json.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace

from harness.core.errors import MireEvalError
from harness.core.progress import progress
from harness.core.quiet import quiet_numba
from harness.core.outputs import replaced
from harness.core.textfiles import load_json_object
from harness.core.runs import trec_order_scores, write_trec_run
from harness.core.types import Qrels, Query, Run
from harness.evaluation.results import write_json
from harness.metrics.scoring import evaluate
from harness.probe.attribution import (
    RememberingEncoder,
    attribute,
    attribution_rows,
    attribution_summary,
    gold_passages,
    split_kind,
    unwrapped,
)
from retrievers.hooks import PoolingAttention
from tasks.registry import TASKS

from harness.stats.paired import PERMUTATIONS

PROBE_VIEWS = ("full", "text", "image", "swap")
SEARCH_VIEW = {"full": "full", "text": "text", "image": "image", "swap": "full"}
INDEX_NAMES = ("image_dependence", "text_dependence", "text_dominance", "swap_sensitivity")
STAT_TESTS = ("fisher", "student", "bootstrap", "mcnemar")  # harness.stats.paired.TESTS
SWAP_REALISATION = ("every query's image replaced by the image of another query (a derangement, seed {seed}), "
                    "then searched with the retriever's full view")


# --------------------------------------------------------------------------------------------
# The swap view
# --------------------------------------------------------------------------------------------
def derangement(n: int, seed: int) -> list[int]:
    """A permutation of ``range(n)`` with no fixed point, fixed by ``seed`` (Sattolo's cycle).

    >>> p = derangement(5, 0)
    >>> sorted(p) == list(range(5)), any(i == j for i, j in enumerate(p))
    (True, False)
    >>> derangement(1, 0), derangement(0, 0)
    ([0], [])
    """
    perm = list(range(n))
    rng = random.Random(seed)
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)  # j < i: every element moves, the result is one n-cycle
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def image_fingerprint(image) -> str:
    """The content fingerprint of an image reference: sha256 of its encoded bytes (a file's or
    an in-memory image's); for a reference that offers no bytes, of its decoded pixels."""
    import hashlib
    from pathlib import Path

    source = getattr(image, "source", None)
    if callable(source):
        src = source()
        data = Path(src).read_bytes() if isinstance(src, (str, Path)) else src.read()
    else:
        picture = image.load()
        data = f"{picture.mode}{picture.size}".encode() + picture.tobytes()
    return hashlib.sha256(data).hexdigest()


NO_IMAGE = "the query has no image"
SAME_PICTURE = "no other query's image differs from its own (same content fingerprint)"


def swap_plan(queries: Sequence[Query], seed: int) -> tuple[list[Query], dict[str, str]]:
    """``(queries with swapped images, {qid: reason} of those without a swap)``.

    Each query with an image gets the image of another query whose content fingerprint
    (:func:`image_fingerprint`) differs from its own: the seeded :func:`derangement` over the
    queries with an image, then each query handed a picture equal to its own exchanges sources
    with another query (seeded order) for which the exchange gives both a different picture;
    where no exchange does (one picture shared by most queries), it is handed the image of a
    query drawn (seeded) among those with another picture, so a picture may then serve twice.
    A query whose every other query shows its own picture, or that has no image, keeps its own
    image and is named with the reason: the swap view is undefined for it (the probe leaves it
    out).

    >>> from harness.core.types import BytesImage
    >>> a, b = BytesImage(b"a"), BytesImage(b"b")
    >>> qs = [Query("q1", "x", a), Query("q2", "y", a), Query("q3", "z", b)]
    >>> swapped, undefined = swap_plan(qs, 0)
    >>> [q.image.data for q in swapped], undefined
    ([b'b', b'b', b'a'], {})
    >>> swap_plan(qs[:2], 0)[1]["q2"] == SAME_PICTURE  # two queries, one picture
    True
    >>> swap_plan(qs[:1], 0)[1]
    {'q1': "no other query's image differs from its own (same content fingerprint)"}
    """
    with_image = [i for i, q in enumerate(queries) if q.image is not None]
    undefined = {q.id: NO_IMAGE for q in queries if q.image is None}
    prints = [image_fingerprint(queries[i].image) for i in with_image]
    perm = derangement(len(with_image), seed)  # slot i shows the image of with_image[perm[i]]
    rng = random.Random(seed + 1)
    order = list(range(len(with_image)))
    for i in range(len(with_image)):
        if prints[perm[i]] != prints[i]:
            continue
        rng.shuffle(order)
        for j in order:
            if prints[perm[j]] != prints[i] and prints[perm[i]] != prints[j]:
                perm[i], perm[j] = perm[j], perm[i]
                break
        else:
            others = [j for j in range(len(with_image)) if prints[j] != prints[i]]
            if others:
                perm[i] = rng.choice(others)
    out = list(queries)
    for slot, source in enumerate(perm):
        at = with_image[slot]
        if prints[source] == prints[slot]:
            undefined[queries[at].id] = SAME_PICTURE
        else:
            out[at] = queries[at].with_image(queries[with_image[source]].image)
    return out, undefined


def swap_images(queries: Sequence[Query], seed: int) -> list[Query]:
    """The queries of :func:`swap_plan`, swapped where a swap exists."""
    return swap_plan(queries, seed)[0]


# --------------------------------------------------------------------------------------------
# Indices and the paired test
# --------------------------------------------------------------------------------------------
def dependence_indices(means: Mapping[str, float]) -> dict[str, float | None]:
    """The four probe indices from one metric's mean per view (``None`` when M_full is 0).

    >>> dependence_indices({"full": 0.8, "text": 0.6, "image": 0.2, "swap": 0.4})
    {'image_dependence': 0.25, 'text_dependence': 0.75, 'text_dominance': 0.5, 'swap_sensitivity': 0.5}
    >>> dependence_indices({"full": 0.0, "text": 0.0, "image": 0.0, "swap": 0.0})["text_dominance"] is None
    True
    """
    full = means["full"]
    if not full:
        return dict.fromkeys(INDEX_NAMES)

    def loss(view):
        return (full - means[view]) / full if view in means else None

    image_dep, text_dep = loss("text"), loss("image")
    dominance = None if image_dep is None or text_dep is None else text_dep - image_dep
    return {"image_dependence": image_dep, "text_dependence": text_dep,
            "text_dominance": dominance, "swap_sensitivity": loss("swap")}


def compare_with_full(qrels: Qrels, runs: Mapping[str, Run], metrics: Sequence[str], stat_test: str = "fisher",
                      seed: int = 0) -> dict:
    """Paired test of every view against ``full``, per metric, through :mod:`harness.stats`
    (the machinery of ``mire-eval compare``): the randomization test by default (Student's
    t-test, the bootstrap test or McNemar on request), a 95 % paired bootstrap CI of the
    difference, and Holm's correction over views x metrics.

    Returns ``{view: {metric: {"delta": M_view - M_full, "p_value": p, "p_holm": p,
    "ci_low", "ci_high", "win_tie_loss": {...}}}}`` (W/T/L counted from full's side).
    Two views that score every query the same get p = 1 and CI [0, 0].
    """
    import numpy as np

    from harness.metrics.scoring import evaluate
    from harness.stats.table import compare_scores

    queries = list(qrels)
    scores = {}
    for view, run in runs.items():
        per_query = evaluate(qrels, run, metrics, queries=queries).per_query
        scores[view] = {m: np.array([per_query[q][m] for q in queries]) for m in metrics}
    result = compare_scores(scores, list(metrics), "full", stat_test, seed=seed)
    out: dict = {}
    for row in result["rows"]:
        full, other = scores["full"][row["metric"]], scores[row["system"]][row["metric"]]
        wtl = {"W": int((full > other).sum()), "T": int((full == other).sum()), "L": int((full < other).sum())}
        out.setdefault(row["system"], {})[row["metric"]] = {
            "delta": row["diff"], "p_value": row["p_value"], "p_holm": row["p_holm"], "ci_low": row["ci_low"],
            "ci_high": row["ci_high"], "test": row["test"], "method": row["method"], "win_tie_loss": wtl}
    return out


def holm_over(compared: dict) -> None:
    """Set every entry's ``p_holm`` of :func:`compare_with_full`'s results (merged from several
    calls) by Holm's correction over all of them together."""
    from harness.stats.holm import holm

    entries = [entry for by_metric in compared.values() for entry in by_metric.values()]
    for entry, adjusted in zip(entries, holm([e["p_value"] for e in entries])):
        entry["p_holm"] = adjusted


def mean_over(per_query: Mapping[str, Mapping[str, float]], qids: Sequence[str], metrics: Sequence[str]) -> dict:
    """Mean of each metric over ``qids``; ``per_query[qid][metric]``.

    >>> mean_over({"a": {"m": 1.0}, "b": {"m": 0.0}, "c": {"m": 1.0}}, ["a", "b"], ["m"])
    {'m': 0.5}
    """
    return {m: (sum(per_query[q][m] for q in qids) / len(qids) if qids else 0.0) for m in metrics}


def _indices(per_query, qids: Sequence[str], swapped: set[str], views, metric: str) -> dict:
    """:func:`dependence_indices` of ``metric`` over ``qids``; swap sensitivity over the
    queries among them that have a swap (its full mean over those same queries), ``None``
    when none has."""
    means = {v: mean_over(per_query[v], qids, [metric])[metric] for v in views if v != "swap"}
    out = dependence_indices(means)
    mine = [q for q in qids if q in swapped]
    if "swap" in views and mine:
        full = mean_over(per_query["full"], mine, [metric])[metric]
        swap = mean_over(per_query["swap"], mine, [metric])[metric]
        out["swap_sensitivity"] = (full - swap) / full if full else None
    return out


def summarise(qrels: Qrels, runs: Mapping[str, Run], metrics: Sequence[str], main_metric: str,
              query_types: Mapping[str, str] | None = None, stat_test: str = "fisher",
              no_swap: Mapping[str, str] | None = None, seed: int = 0) -> tuple[dict, dict]:
    """Metrics per view, paired tests and indices, overall and per query type.

    Returns ``(summary, per_query)`` with ``per_query[view][qid][metric]``. ``indices`` holds
    the main metric's four indices (what the leaderboard shows); ``indices_by_metric`` all.
    ``no_swap`` (:func:`swap_plan`'s ``{qid: reason}``) names the queries the swap view is
    undefined for: the swap view's metrics, paired test and sensitivity are over the others,
    and with none left swap sensitivity is ``None`` and ``swap`` says why.
    """
    from collections import Counter

    from harness.metrics.scoring import evaluate

    no_swap = dict(no_swap or {})
    queries = list(qrels)
    swapped = [q for q in queries if q not in no_swap]
    scores = {v: evaluate(qrels, run, metrics, queries=swapped if v == "swap" else queries) for v, run in runs.items()}
    per_query = {v: s.per_query for v, s in scores.items()}
    by_metric = {m: _indices(per_query, queries, set(swapped), runs, m) for m in metrics}
    compared = compare_with_full(qrels, {v: r for v, r in runs.items() if v != "swap"}, metrics, stat_test, seed)
    if "swap" in runs and swapped:
        compared.update(compare_with_full({q: qrels[q] for q in swapped},
                                          {"full": runs["full"], "swap": runs["swap"]}, metrics, stat_test, seed))
    holm_over(compared)  # one family: every view x metric, the swap's (over its own queries) included
    undefined = [q for q in queries if q in no_swap]
    summary = {
        "main_metric": main_metric,
        "n_queries": len(queries),
        "n_without_relevant": scores["full"].n_without_relevant,
        "views": {v: {"metrics": scores[v].mean, "n_empty_rankings": scores[v].n_empty_rankings} for v in runs},
        "compare": {"stat_test": stat_test, "permutations": PERMUTATIONS, "seed": seed, "correction": "holm",
                    "over": "views x metrics", "vs_full": compared},
        "indices": by_metric[main_metric],
        "indices_by_metric": by_metric,
        "swap": {"n_queries": len(swapped), "n_undefined": len(undefined),
                 "undefined_reasons": dict(Counter(no_swap[q] for q in undefined)),
                 "undefined_queries": undefined[:20],
                 "swap_sensitivity": None if swapped else "undefined: no query has an image that differs from "
                                                          "its own (" + "; ".join(sorted(set(no_swap.values()))) + ")"},
    }
    if "swap" not in runs:
        summary.pop("swap")
    elif not swapped:  # a mean over no query is no number (evaluate's would read 0)
        summary["views"]["swap"]["metrics"] = dict.fromkeys(metrics)
    if query_types:
        by_type = {}
        for qtype in sorted({query_types[q] for q in queries if q in query_types}):
            qids = [q for q in queries if query_types.get(q) == qtype]
            means = {v: mean_over(per_query[v], [q for q in qids if v != "swap" or q not in no_swap], metrics)
                     for v in runs}
            by_type[qtype] = {
                "n_queries": len(qids),
                "views": {v: {"metrics": means[v]} for v in runs},
                "indices": _indices(per_query, qids, set(swapped), runs, main_metric),
            }
        summary["by_type"] = by_type
    return summary, per_query


# --------------------------------------------------------------------------------------------
# The whole probe
# --------------------------------------------------------------------------------------------
def search_and_attribute(retriever, queries: Sequence[Query], qrels: Qrels, k: int, seed: int,
                         chunk: int = 512, full_run: Run | None = None,
                         swapped: Sequence[Query] | None = None) -> tuple[dict, dict, dict]:
    """Search the four views and attribute the gold scores, ``chunk`` queries at a time.

    Returns ``(runs, gold, attribution)``: ``runs[view]``, ``gold[qid]`` (see
    :func:`harness.probe.attribution.gold_passages`), ``attribution[view][qid]``. An encoder
    retriever's query matrices are encoded once per view and chunk, for search and
    attribution alike. ``full_run`` (the evaluation's own run) is taken as the full view
    rather than searched again: on a large corpus a search is a scan of every passage.
    ``swapped``: the swap view's queries (:func:`swap_plan`'s; drawn from ``seed`` if None).
    """
    from harness.core.progress import progress

    by_view = {"full": list(queries), "text": list(queries), "image": list(queries), "swap": list(swapped) if swapped is not None else swap_images(queries, seed)}
    runs: dict[str, Run] = {v: {} for v in PROBE_VIEWS}
    attribution: dict[str, dict] = {v: {} for v in PROBE_VIEWS}
    gold: dict[str, str] = {}
    encoder = getattr(retriever, "encoder", None)
    if encoder is not None:
        retriever.encoder = RememberingEncoder(encoder)
    bar = progress(desc="probe views", total=len(by_view) * len(queries), unit="query")
    try:
        for start in range(0, len(queries), chunk):
            part = {v: qs[start : start + chunk] for v, qs in by_view.items()}
            part_runs = {}
            for v, qs in part.items():
                bar.set_postfix_str(v, refresh=False)  # the view being searched
                part_runs[v] = (retriever.search(qs, k, SEARCH_VIEW[v]) if v != "full" or full_run is None
                                else {q.id: full_run.get(q.id, {}) for q in qs})
                bar.update(len(qs))
            part_gold = gold_passages({q.id: qrels.get(q.id, {}) for q in part["full"]}, part_runs["full"])
            for v, scores in attribute(retriever, part, part_runs, part_gold, SEARCH_VIEW).items():
                attribution[v].update(scores)
            for v in PROBE_VIEWS:
                runs[v].update(part_runs[v])
            gold.update(part_gold)
            if encoder is not None:
                retriever.encoder.clear()
    finally:
        bar.close()
        if encoder is not None:
            retriever.encoder = encoder
    return runs, gold, attribution


def main_metric_of(task: str) -> str:
    """The registered task's main metric, read from its TaskSpec (``mrr@5``, the papers'
    headline, for a ``local:`` folder or an unregistered name)."""
    return TASKS.get(task).main_metric if task in TASKS.names() else "mrr@5"


def paper_metric_of(task: str) -> str | None:
    """The papers' label for the registered task's main metric (its TaskSpec's), else None."""
    return TASKS.get(task).paper_metric if task in TASKS.names() else None


def query_types_and_chance(task: str, data) -> tuple[dict | None, dict | None]:
    """Per-query types and chance levels: from the task's meta (``diagnostic``), else the
    queries' own ``type`` field (``Query.extra``, as a ``local:`` copy of the diagnostic task
    carries it) and, for a ``local:`` directory, a ``diagnostic.json`` written by
    ``mire-eval make-diagnostic``."""
    from pathlib import Path

    from tasks.diagnostic import query_types

    types = data.meta.get("query_types") or query_types(data.queries)
    chance = data.meta.get("chance")
    if chance is None and task.startswith("local:"):
        stamp = Path(task[len("local:"):]) / "diagnostic.json"
        if stamp.exists():
            chance = load_json_object(stamp).get("chance")
    return types or None, chance


def run_probe(settings, stat_test: str = "fisher", retriever=None, data=None, attention_queries: int = 4) -> dict:
    """Evaluate the full view (an ordinary run), then the text, image and swap views over the
    same index; score, test, attribute and write. Returns probe.json's content plus
    ``directory``.

    ``settings`` is a :class:`harness.evaluation.pipeline.RunSettings` (its ``view`` is ignored: the
    probe runs them all; its ``seed`` also draws the swap derangement). ``retriever`` and
    ``data`` may be passed in (tests, notebooks). The full view's run, qrels and data are the
    evaluation's own (:class:`harness.evaluation.pipeline.RunResult`), never searched or judged again.
    """
    from harness.core.errors import MireEvalError
    from harness.evaluation.pipeline import build_retriever, run_evaluation  # torch: only when probing
    from harness.index.retriever import index_for_run
    from harness.metrics.scoring import deeper_than
    from harness.core.runs import write_trec_run
    from tasks.loading import load_task

    if stat_test not in STAT_TESTS:
        raise MireEvalError(f"unknown paired test {stat_test!r}; known: {', '.join(STAT_TESTS)}")
    settings = replace(settings, view="full")
    main_metric = main_metric_of(settings.task)
    if deeper_than([main_metric], settings.k) and main_metric not in settings.metrics:
        cut = main_metric.partition("@")[2]
        raise MireEvalError(f"--k {settings.k}: the probe's main metric {main_metric} has cut-off {cut} > k "
                            f"{settings.k}; pass --k {cut} or more (or --metrics {main_metric} to compute it "
                            "depth-limited)")
    metrics = list(dict.fromkeys([*settings.metrics, main_metric]))
    settings = replace(settings, metrics=tuple(metrics))
    if data is None:  # loaded before the model, so a data error costs no model loading
        data = load_task(settings.task, replace(settings.load, split=settings.split))
    probe_identity = {"stat_test": stat_test, "attention_queries": attention_queries}
    reused = finished_probe(settings, data, probe_identity)
    if reused is not None:
        return reused
    # One bar over the probe's phases (the encoders' own bars nest inside it).
    phases = progress(total=5, desc="probe: full view", unit="phase")
    retriever = build_retriever(settings, built=retriever)  # an Encoder gets the run's store and search

    full = run_evaluation(settings, retriever=retriever, data=data)  # loads and indexes, unless reused
    data, qrels = full.data, full.qrels
    phases.update(1)
    phases.set_description("probe: text, image and swap views")
    if full.reused:  # the other views need the index: the run's cached store (and --search's index)
        index_for_run(retriever, data.corpus)
    swapped, no_swap = swap_plan(data.queries, settings.seed)
    runs, gold, attribution = search_and_attribute(retriever, data.queries, qrels, settings.k, settings.seed,
                                                   full_run=full.run, swapped=swapped)
    phases.update(1)
    phases.set_description(f"probe: metrics and paired tests ({stat_test})")
    types, chance = query_types_and_chance(settings.task, data)
    summary, per_query = summarise(qrels, runs, metrics, main_metric, types, stat_test, no_swap, settings.seed)
    runs["swap"] = {q: r for q, r in runs["swap"].items() if q not in no_swap}  # run_swap.trec: real swaps only
    phases.update(1)
    phases.set_description("probe: attribution")
    rows = attribution_rows(attribution, gold, per_query, main_metric, types)
    described = retriever.describe()
    record = {
        "task": settings.task, "retriever": settings.retriever, "setting": settings.setting,
        "split": settings.split, "checkpoint": settings.checkpoint, "seed": settings.seed, "k": settings.k,
        **summary,
        "paper_metric": paper_metric_of(settings.task),
        "realisation": {**{v: (described.get("views") or {}).get(v, f"the retriever's {v!r} view")
                           for v in ("full", "text", "image")},
                        "swap": SWAP_REALISATION.format(seed=settings.seed)},
        "attribution": {"gold": "the relevant passage ranked best under full", "split": split_kind(retriever),
                        **attribution_summary(rows, PROBE_VIEWS)},
        "chance": chance,
        "probe_identity": probe_identity,
    }
    phases.update(1)
    phases.set_description("probe: writing")
    # probe.json says "probe finished": it goes first and comes back last, and every other file is
    # replaced whole, so an interrupted probe never leaves an old probe.json beside newer or torn files
    (full.directory / "probe.json").unlink(missing_ok=True)
    for view in ("text", "image", "swap"):
        with replaced(full.directory / f"run_{view}.trec") as tmp:
            write_trec_run(runs[view], tmp, tag=f"{settings.retriever}-{view}", k=settings.k)
    write_pooling_attention(full.directory, retriever, data.queries, types, attention_queries)
    write_probe(full.directory, record, rows)  # probe.json last: readers take it as "probe finished"
    phases.update(1)
    phases.close()
    return {"directory": str(full.directory), **record}


def finished_probe(settings, data, probe_identity: Mapping) -> dict | None:
    """probe.json's content (plus ``directory`` and ``reused``) of a finished probe of the same
    run identity (:func:`harness.evaluation.pipeline.finished_run`) and the same probe options
    (``probe_identity``: paired test, pooling-attention queries), unless ``settings.overwrite``.
    A probe written before its options were recorded is not reused."""
    import json

    from harness.evaluation.pipeline import finished_run

    if settings.overwrite:
        return None
    directory = finished_run(settings, data)
    if directory is None or not (directory / "probe.json").exists():
        return None
    try:
        record = json.loads((directory / "probe.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("probe_identity") != dict(probe_identity):
        return None
    return {"directory": str(directory), **record, "reused": True}


def write_probe(directory, record: Mapping, rows: Sequence[Mapping]) -> None:
    import csv

    with replaced(directory / "probe_per_query.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["query_id"])
        writer.writeheader()
        writer.writerows(rows)
    write_json(directory / "probe.json", record)


def attention_queries(queries: Sequence[Query], types: Mapping[str, str] | None, n: int) -> list[Query]:
    """Queries whose pooling attention is drawn: the first of each type, then the next ones."""
    with_image = [q for q in queries if q.image is not None]
    chosen, seen = [], set()
    for q in with_image:
        qtype = (types or {}).get(q.id)
        if qtype not in seen:
            seen.add(qtype)
            chosen.append(q)
    chosen += [q for q in with_image if q not in chosen]
    return chosen[:n]


def write_pooling_attention(directory, retriever, queries: Sequence[Query], types, n: int = 4) -> None:
    """When the encoder is a :class:`~retrievers.hooks.PoolingAttention` (each head's
    attention over the image patches, averaged over the question's tokens), keep it for a few
    queries with their images, so ``mire-eval plot`` can draw it without the model."""
    import json

    encoder = unwrapped(getattr(retriever, "encoder", None))
    chosen = attention_queries(queries, types, n) if isinstance(encoder, PoolingAttention) else []
    if not chosen:
        return
    import torch

    with torch.inference_mode():
        attention = encoder.pooling_attention(chosen).float().cpu()  # (B, heads, P)
    items = []
    for i, (q, att) in enumerate(zip(chosen, attention)):
        name = f"attention_query_{i}.png"
        with replaced(directory / name) as tmp:
            q.image.load().save(tmp, format="PNG")
        items.append({"query_id": q.id, "question": q.text, "type": (types or {}).get(q.id),
                      "image": name, "attention": att.tolist()})
    with replaced(directory / "pooling_attention.json") as tmp:
        tmp.write_text(json.dumps(items))
