"""One evaluation, in a straight line: task -> index -> search -> metrics -> results.

``run_evaluation(RunSettings(task="sample", retriever="bm25"))`` is ``mire-eval run --task sample
--retriever bm25``; tests/retrievers/test_bm25.py runs it on a small task.
"""

from __future__ import annotations

import json
import os
import random
import time
from contextlib import nullcontext
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness.core.cache import stable_hash
from harness.core.devices import check_device
from harness.core.distributed import init as join_ranks, sum_ints
from harness.core.errors import MireEvalError
from harness.core.fingerprint import checkpoint_fingerprint
from harness.core.hub import check_checkpoint_spelling
from harness.core.textfiles import load_json_object
from harness.core.runs import read_qrels, read_trec_run, write_qrels_tsv, write_trec_run
from harness.core.types import Qrels, Run, TaskData
from harness.evaluation.efficiency import audit_topk, efficiency_card, split_audit, timed_search
from harness.evaluation.relevance import MODES as ANSWER_MODES
from harness.evaluation.relevance import answer_qrels
from harness.evaluation.results import (
    code_version,
    is_complete,
    package_versions,
    publish,
    recover,
    run_lock,
    write_json,
    write_per_query,
)
# harness.index (and with it torch) is imported where a model runs, not here: a bm25 run and a
# reused run never load torch (tests/harness/test_cli_newcomer.py checks it).
from harness.metrics.scoring import DEFAULT_METRICS, deeper_than, evaluate, first_relevant_rank
from retrievers.hooks import check_queries
from retrievers.registry import REFERENCE_OPTIONS, RETRIEVERS
from tasks.base import LoadOptions, task_slug
from tasks.loading import load_task


# The stage a model was evaluated at: untrained for the task, after MIRe's alignment stage only,
# or after task fine-tuning. ``<setting>@<label>`` adds a free label that tables and figures show
# (the demo's ``fine-tuned@tiny-random-Qwen2-VL``); the part before ``@`` must be known.
SETTINGS = ("zero-shot", "aligned", "fine-tuned")
RELEVANCE_NAMES = ("gold", "qrels", *ANSWER_MODES)  # what --relevance may name; each task narrows it


def search_identity(mode: str, options: dict | None) -> dict | None:
    """:func:`harness.index.ann.retrieve.search_identity`, imported only for an approximate search
    (harness.index loads torch, which a bm25 run or a reused run never needs)."""
    if mode == "exact" and not options:
        return None
    from harness.index.ann.retrieve import search_identity as identity_of_search

    return identity_of_search(mode, options)


def reference_options(retriever: str, task: str, setting: str) -> dict:
    """The options the reference ran ``retriever`` with on ``task`` in ``setting`` (retrievers/registry.py
    ``REFERENCE_OPTIONS``; ``{}`` for a retriever without such defaults)."""
    return dict(REFERENCE_OPTIONS.get(retriever)(task, setting)) if retriever in REFERENCE_OPTIONS.names() else {}


def check_output_dir(output: Path) -> None:
    """Refuse an ``--output`` that is, or lies under, an existing file (before any work is done)."""
    output = Path(output)
    for folder in (output, *output.parents):
        if folder.exists():
            if not folder.is_dir():
                named = "" if folder == output else f" ({folder} is a file)"
                raise MireEvalError(f"{output}: --output: not a directory{named}; name a results directory")
            return


@dataclass
class RunSettings:
    task: str
    retriever: str
    checkpoint: str | None = None
    split: str = "test"
    k: int = 100
    limit: int | None = None
    device: str = "cpu"
    view: str = "full"
    setting: str = "zero-shot"  # or "aligned" / "fine-tuned" (SETTINGS), optionally @label
    output: Path = Path("results")
    overwrite: bool = False
    seed: int = 0
    load: LoadOptions = field(default_factory=LoadOptions)
    retriever_options: dict = field(default_factory=dict)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    search: str = "exact"  # or "ivf" / "ivfpq" (harness.index.ann.retrieve)
    search_options: dict = field(default_factory=dict)  # --search-option pairs
    # Where ``setting`` came from (harness.core.provenance): meta.json records it, the identity does not.
    setting_source: str = "given"
    audit: int | None = None  # approximate runs: queries audited against exact (--search-option audit=N)
    # True when the user named the metrics (--metrics): one deeper than k is then computed on the
    # depth-k run and marked depth-limited. Otherwise (the default set) such metrics are left out.
    metrics_named: bool = False
    metrics_left_out: tuple[str, ...] = ()  # default metrics deeper than k, not computed (said in the summary)
    # The hub commit the weights come from (harness.evaluation.hub_revision), resolved by run_evaluation
    # before the identity is taken; None for local checkpoints and retrievers without weights.
    checkpoint_revision: str | None = None

    def __post_init__(self) -> None:
        """Options are checked when settings are made, so a typo costs no loading or indexing."""
        stage, _, label = self.setting.partition("@")
        if stage not in SETTINGS or (_ and not label.replace("-", "").replace("_", "").isalnum()):
            raise MireEvalError(f"--setting: unknown value {self.setting!r}; known: {', '.join(SETTINGS)} "
                                "(optionally followed by @label, letters, digits, '-' and '_')")
        if self.load.relevance is not None and self.load.relevance not in RELEVANCE_NAMES:
            raise MireEvalError(f"--relevance: unknown value {self.load.relevance!r}; "
                                f"known: gold, {', '.join(ANSWER_MODES)}")
        options, audit = split_audit(self.search, self.search_options)  # audit=N: a record, not identity
        if self.audit is None or "audit" in self.search_options:
            self.audit = audit
        self.search_options = options
        search_identity(self.search, self.search_options)  # a bad mode or option: one line, now
        deep = deeper_than(self.metrics, self.k)
        if deep and not self.metrics_named:
            kept = tuple(m for m in self.metrics if m not in deep)
            if not kept:
                raise MireEvalError(f"--k {self.k}: {deep[0]} has cut-off {deep[0].partition('@')[2]} > k {self.k} "
                                    f"(every metric does); pass --k {deep[0].partition('@')[2]} or name the metrics "
                                    "with --metrics to compute them depth-limited")
            self.metrics = kept
            self.metrics_left_out = tuple(dict.fromkeys([*self.metrics_left_out, *deep]))
        self.retriever_options = {**reference_options(self.retriever, self.task, self.setting),
                                  **self.retriever_options}  # the reference's choice unless -o says otherwise
        check_device(self.device)  # bm25 never asks torch: the spelling is checked here for every retriever
        check_checkpoint_spelling(self.checkpoint)  # owner/name@ or @@: one line now, not a failed download later
        if not 0 <= self.seed < 2**32:  # numpy's and torch's seed range
            raise MireEvalError(f"--seed: {self.seed}: must be between 0 and 2**32 - 1")
        check_output_dir(self.output)

    def identity(self, inputs: dict[str, str] | None = None, query_ids: Sequence[str] | None = None) -> dict:
        """Everything that changes the result (not where it is written, nor device).

        ``inputs`` are the fingerprints of the data files the task read (``TaskData.inputs``);
        the checkpoint's fingerprint is computed here. ``query_ids``: the ids of the queries
        evaluated. With ``--skip-missing-images`` which queries survive depends on the images
        on disk, not only on the data files, so their set (a hash of the sorted ids) is part
        of the identity: an image removed, restored or broken later is another run. Without
        the flag every query is evaluated or the load fails, so the set follows from the
        inputs and the identity (and tag) stay those it always had.
        """
        load = {k: str(v) for k, v in asdict(self.load).items() if k not in ("split", "cache_dir", "images")
                and not (k == "empty_answers" and v == "ignore")}  # the default keeps earlier identities
        search = search_identity(self.search, self.search_options)
        return ({"search": search} if search is not None else {}) | {
            "task": self.task, "retriever": self.retriever, "checkpoint": self.checkpoint,
            "checkpoint_fingerprint": checkpoint_fingerprint(self.checkpoint),
            "inputs": dict(sorted((inputs or {}).items())), "split": self.split, "k": self.k,
            "limit": self.limit, "view": self.view, "setting": self.setting, "seed": self.seed, "load": load,
            "retriever_options": self.retriever_options, "metrics": list(self.metrics),
        } | ({"queries": stable_hash(sorted(query_ids or []), 16)} if self.load.skip_missing_images else {}) | (
            {"checkpoint_revision": self.checkpoint_revision} if self.checkpoint_revision else {})
        # an exact run names no search: its identity (and tag) are those it always had

    def tag(self, identity: dict) -> str:
        return f"{self.setting}-{self.view}-{self.split}-{stable_hash(identity, 10)}"


@dataclass
class RunResult:
    """One evaluation's folder and the artefacts it used, for callers that build on it
    (the probe) instead of loading, judging or searching again.

    ``data``: the task as evaluated (``--limit`` applied); ``qrels``: ``{qid: {pid: grade}}``
    for every evaluated query (empty when it has no judged passage); ``run``: the full-view
    run ``{qid: {pid: score}}``, top ``k``. A reused folder's run and qrels are read back
    from run.trec and qrels.tsv, which hold them exactly (scores as ``repr``).
    """

    directory: Path
    metrics: dict[str, float]
    reused: bool
    run: Run = field(default_factory=dict, repr=False)
    qrels: Qrels = field(default_factory=dict, repr=False)
    data: TaskData | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)  # what the summary line adds (metrics.json "notes")


def materialise_qrels(data: TaskData, cache_dir: Path) -> Qrels:
    """The task's qrels, or answer-match qrels over the whole corpus (cached)."""
    if data.relevance == "qrels":
        return {q.id: dict(data.qrels.get(q.id, {})) for q in data.queries}
    return answer_qrels(data.queries, data.corpus, data.relevance, cache_dir=cache_dir / "qrels",
                        empty=data.meta.get("empty_answers", "ignore"))


def store_spec(settings: RunSettings):
    """Where the run's embedding store lives (a :class:`harness.index.store_index.StoreSpec`;
    None: ``MIRE_EVAL_STORE=off``, index in memory)."""
    if os.environ.get("MIRE_EVAL_STORE", "on").lower() in ("off", "0"):
        return None
    from harness.index.store import stores_root  # torch: only when a model runs
    from harness.index.store_index import StoreSpec

    return StoreSpec(stores_root(settings.load.cache_dir), settings.checkpoint, settings.task)


def build_retriever(settings: RunSettings, built=None, **batching):
    """The run's retriever: what the registered family's ``build()`` returns (or ``built``, an
    Encoder or Retriever the caller holds), an Encoder wrapped with the run's store and search
    (:func:`harness.index.retriever.as_retriever`; ``batching``: ``passage_batch``,
    ``query_batch``, ``shard_passages``). An impossible ``--search`` fails here, before encoding."""
    from harness.evaluation.hub_precheck import precheck

    precheck(settings.retriever, settings.checkpoint)  # before the retriever's module imports torch
    from harness.index.ann.retrieve import search_params
    from harness.index.retriever import as_retriever

    search = search_params(settings.search, settings.search_options)
    if built is None:
        factory = check_build(RETRIEVERS.get(settings.retriever), settings.retriever)
        built = factory(settings.checkpoint, settings.device, **settings.retriever_options)
    return as_retriever(built, settings.retriever, store=store_spec(settings), search=search, **batching)


def check_build(factory, name: str):
    """``factory`` if it can be called as ``build(checkpoint, device, **options)`` (the contract of
    docs/own-model.md); else a one-line :class:`MireEvalError` naming the entry point (a plug-in's
    entry point may name anything)."""
    import inspect

    target = RETRIEVERS.entry(name).target
    if not callable(factory):
        raise MireEvalError(f"--retriever {name}: {target} is not callable; a retriever entry point names "
                            "build(checkpoint, device, **options)")
    try:
        inspect.signature(factory).bind_partial(None, "cpu")
    except TypeError as exc:
        raise MireEvalError(f"--retriever {name}: {target} cannot be called as build(checkpoint, device, "
                            f"**options) ({exc})") from None
    except ValueError:  # no signature to read (a builtin): let the call say
        pass
    return factory


def compute_now() -> dict | None:
    """torch's thread counts, deterministic-algorithm flag and CPU capability, which set the
    order floats are summed in (:func:`harness.core.compute.compute_record`); None when the run
    never imported torch (bm25)."""
    import sys

    if "torch" not in sys.modules:
        return None
    from harness.core.compute import compute_record

    return compute_record()


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_evaluation(settings: RunSettings, retriever=None, data: TaskData | None = None) -> RunResult:
    """Evaluate ``settings.retriever`` on ``settings.task`` and write the results folder.

    The task is loaded first: its identity includes the fingerprints of the files it read.
    Under the identity's lock, a complete folder with the same identity is reused unless
    ``settings.overwrite``; otherwise the run is computed and published whole.
    ``retriever`` / ``data`` may be passed in when the caller already holds them (``retriever``:
    an Encoder, wrapped with the run's store and search, or a Retriever used as it is). The result
    carries the run, the qrels and the data it used (:class:`RunResult`).
    """
    started = time.perf_counter()
    if data is None:
        data = load_task(settings.task, _with_split(settings.load, settings.split))
    data = screen_for_retriever(data.limit(settings.limit), settings)
    if not data.queries:
        raise MireEvalError(f"task {settings.task!r} split {settings.split!r} has no queries to evaluate")
    try:
        settings = with_revision(settings, retriever)
    except MireEvalError:
        if retriever is not None:
            raise
        # The hub cannot name the commit: building says first what is wrong in the retriever's
        # own words (a missing extra, where to download); one that builds gives its commit.
        retriever = build_retriever(settings)
        settings = with_revision(settings, retriever)
    load_s = round(time.perf_counter() - started, 3)
    identity, directory = run_identity(settings, data)

    ranks = join_ranks(settings.device)  # a world of one unless started by torchrun
    # Rank 0 alone holds the lock and decides reuse (the others would wait on it while rank 0
    # waits on them in a collective); every rank follows its decision.
    with run_lock(directory) if ranks.is_main else nullcontext():
        if ranks.is_main:
            recover(directory)
        finished = ranks.is_main and not settings.overwrite and _finished(directory, identity)
        if sum_ints([int(finished)])[0]:
            return _read_back(directory, data)
        return _evaluate(settings, identity, directory, data, retriever, load_s, ranks)


def screen_for_retriever(data: TaskData, settings: RunSettings) -> TaskData:
    """``data`` without the queries whose image the retriever's processor refuses
    (:func:`harness.core.images.screen_images`: skipped and counted with --skip-missing-images, else
    one line naming the file and the query), before the run's identity is taken."""
    from dataclasses import replace

    if all(q.image is None for q in data.queries):  # a run that reads no image (LoadOptions.images):
        return data  # nothing to screen, and the retriever's module (maybe torch) stays unimported
    from harness.core.images import screen_images
    from retrievers.registry import image_limits

    limits = image_limits(settings.retriever)
    kept, skipped = screen_images(data.queries, limits, settings.load.skip_missing_images)
    if not skipped:
        return data
    keep = {q.id for q in kept}
    qrels = None if data.qrels is None else {q: r for q, r in data.qrels.items() if q in keep}
    return replace(data, queries=kept, qrels=qrels, meta={**data.meta, "skipped_images_processor": len(skipped),
                                                          "skipped_images_processor_query_ids": skipped})


def run_identity(settings: RunSettings, data: TaskData) -> tuple[dict, Path]:
    """``(identity, folder)`` of ``settings`` over the loaded (and limited) ``data``: the
    identity as meta.json records it, with the fingerprints of the files the task read."""
    ids = [q.id for q in data.queries]
    identity = json.loads(json.dumps(settings.identity(data.inputs, ids), default=str))
    return identity, Path(settings.output) / task_slug(settings.task) / settings.retriever / settings.tag(identity)


def finished_run(settings: RunSettings, data: TaskData) -> Path | None:
    """The complete folder of an identical earlier run of ``settings`` on ``data``, or None."""
    identity, directory = run_identity(with_revision(settings), data.limit(settings.limit))
    return directory if _finished(directory, identity) else None


def with_revision(settings: RunSettings, retriever=None) -> RunSettings:
    """``settings`` with ``checkpoint_revision``: the hub commit its weights come from."""
    from dataclasses import replace

    from harness.evaluation.hub_revision import run_revision

    if settings.checkpoint_revision is not None:
        return settings
    if retriever is None:  # a hub checkpoint that cannot be had fails here, before torch loads
        from harness.evaluation.hub_precheck import precheck

        precheck(settings.retriever, settings.checkpoint)
    commit = run_revision(settings.retriever, settings.checkpoint, settings.retriever_options, retriever)
    return settings if commit is None else replace(settings, checkpoint_revision=commit)


def _read_back(directory: Path, data: TaskData) -> RunResult:
    """A finished folder as a :class:`RunResult`: its metrics, and its run and qrels as written."""
    summary = load_json_object(directory / "metrics.json")
    metrics = summary["metrics"]
    judged = read_qrels(directory / "qrels.tsv")  # a query without judged passages has no line
    qrels = {q.id: judged.get(q.id, {}) for q in data.queries}
    return RunResult(directory, metrics, reused=True, run=read_trec_run(directory / "run.trec"), qrels=qrels,
                     data=data, notes=summary.get("notes", []))


def _finished(directory: Path, identity: dict) -> bool:
    """A complete folder whose recorded identity is ``identity``."""
    if not is_complete(directory):
        return False
    try:
        with open(directory / "meta.json") as f:
            return json.load(f).get("identity") == identity
    except (OSError, ValueError):
        return False


def _evaluate(settings: RunSettings, identity: dict, directory: Path, data: TaskData, retriever,
              load_s: float, ranks) -> RunResult:
    if retriever is None:
        from harness.evaluation.hub_precheck import precheck

        precheck(settings.retriever, settings.checkpoint)  # a missing checkpoint fails before torch loads
    seed_everything(settings.seed)
    timings: dict[str, float] = {"load_task": load_s}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[phase] = round(now - clock, 3)
        clock = now

    qrels = materialise_qrels(data, settings.load.cache_dir)
    lap("relevance")
    retriever = build_retriever(settings, built=retriever)
    from harness.evaluation.hub_revision import check_loaded

    check_loaded(retriever, settings.checkpoint_revision)  # the commit the identity names, or stop
    check_queries(retriever, data.queries, settings.view)  # a view the model cannot realise: before indexing
    lap("load_retriever")
    from harness.index.retriever import index_for_run

    indexed = index_for_run(retriever, data.corpus)
    lap("index")
    run, timing = timed_search(retriever, data.queries, settings.k, settings.view)
    lap("search")
    audit = audit_topk(retriever, data.queries, run, settings.k, settings.view, settings.audit or 0, settings.seed)
    efficiency = efficiency_card(retriever, settings, len(data.corpus), timings["index"], indexed, timing, audit,
                                 ranks.world_size)
    query_ids = [q.id for q in data.queries]
    scores = evaluate(qrels, run, settings.metrics, queries=query_ids)
    lap("metrics")

    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    summary = {
        "task": settings.task, "retriever": settings.retriever, "setting": settings.setting,
        "view": settings.view, "split": settings.split, "checkpoint": settings.checkpoint, "limit": settings.limit,
        "search": settings.search, "checkpoint_revision": settings.checkpoint_revision,
        "relevance": data.relevance, "n_queries": scores.n_queries, "n_without_relevant": scores.n_without_relevant,
        "n_empty_rankings": scores.n_empty_rankings, "created": created, "metrics": scores.mean,
        **depth_summary(settings, run, query_ids, len(data.corpus), retriever.describe()),
    }
    summary["notes"] = run_notes(summary)
    described = retriever.describe()
    if isinstance(described.get("model"), dict):  # st / mteb / plug-ins: the model's record (leaderboard)
        summary["model"] = described["model"]
    meta = {
        "identity": identity,
        "created": created,
        "code": code_version(),
        "versions": package_versions(),
        "task": {"name": settings.task, "split": settings.split, "relevance": data.relevance, **data.meta,
                 "n_queries_evaluated": scores.n_queries, "n_queries_without_relevant": scores.n_without_relevant},
        "retriever": described,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "device": settings.device,
        "seed": settings.seed,
        "compute": compute_now(),
        "checkpoint_files": checkpoint_files(settings),
        "timings_s": timings,
        "efficiency": efficiency,  # harness/evaluation/efficiency.py: the run's cost beside its quality
        **indexed,  # "store" (key, reused, ...) and "distributed"
    }
    if not ranks.is_main:  # only rank 0 writes results
        return RunResult(directory, scores.mean, reused=False)
    with publish(directory) as tmp:
        write_trec_run(run, tmp / "run.trec", tag=f"{settings.retriever}-{settings.setting}-{settings.view}", k=settings.k)
        write_qrels_tsv(qrels, tmp / "qrels.tsv")
        n_relevant = {q: sum(1 for g in qrels.get(q, {}).values() if g > 0) for q in query_ids}
        write_per_query(tmp / "per_query.csv", scores, n_relevant, first_relevant_rank(qrels, run),
                        images={q.id: image_hash(q) for q in data.queries})
        write_json(tmp / "meta.json", meta)
        write_json(tmp / "metrics.json", summary)
    return RunResult(directory, scores.mean, reused=False, run=run, qrels=qrels, data=data, notes=summary["notes"])


def checkpoint_files(settings: RunSettings) -> dict | None:
    """meta.json's ``checkpoint_files``: for hub weights, the commit and the content fingerprint
    of its files in the hub cache as read (:func:`harness.core.fingerprint.fingerprint_paths`)."""
    if not settings.checkpoint_revision:
        return None
    from harness.evaluation.hub_revision import hub_source

    repo, _ = hub_source(settings.retriever, settings.checkpoint, settings.retriever_options)
    try:
        import huggingface_hub

        folder = huggingface_hub.snapshot_download(repo, revision=settings.checkpoint_revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - a retriever that read its files another way (transformers' own cache)
        return {"repo": repo, "commit": settings.checkpoint_revision, "fingerprint": None}
    return {"repo": repo, "commit": settings.checkpoint_revision, "fingerprint": checkpoint_fingerprint(str(folder))}


def depth_summary(settings: RunSettings, run: Run, query_ids: list[str], n_passages: int, described: dict) -> dict:
    """metrics.json's account of the run's depth: ``k``; the metrics computed deeper than it
    (``depth_limited``, only when named with --metrics) and the default ones left out for it;
    how many rankings are shorter than ``min(k, corpus)`` and the retriever's reason
    (its describe()'s ``returns``)."""
    full = min(settings.k, n_passages)
    short = sum(1 for q in query_ids if len(run.get(q, {})) < full)
    return {"k": settings.k, "depth_limited": deeper_than(settings.metrics, settings.k),
            "metrics_left_out": list(settings.metrics_left_out), "n_short_rankings": short,
            "short_rankings_reason": described.get("returns") if short else None}


def run_notes(summary: dict) -> list[str]:
    """The clauses the summary line adds to the metrics (each one short).

    >>> run_notes({"k": 1, "depth_limited": ["hit_rate@5"], "metrics_left_out": [], "n_short_rankings": 2,
    ...            "n_queries": 4, "short_rankings_reason": "the passages sharing a term"})
    ['depth-limited (computed on k=1): hit_rate@5', '2 of 4 rankings shorter than k=1: the passages sharing a term']
    """
    notes = []
    if summary.get("checkpoint_revision"):
        notes.append(f"checkpoint revision {summary['checkpoint_revision']}")
    k = summary["k"]
    if summary["depth_limited"]:
        notes.append(f"depth-limited (computed on k={k}): {', '.join(summary['depth_limited'])}")
    if summary["metrics_left_out"]:
        notes.append(f"not computed, cut-off > k={k}: {', '.join(summary['metrics_left_out'])} "
                     "(name them with --metrics to compute them depth-limited)")
    if summary["n_short_rankings"]:
        why = summary.get("short_rankings_reason") or "the retriever returned fewer"
        notes.append(f"{summary['n_short_rankings']} of {summary['n_queries']} rankings shorter than k={k}: {why}")
    return notes


def image_hash(query) -> str:
    """per_query.csv's ``image``: 12 hex digits of the query image's key, "" without an image;
    queries sharing one are resampled together by the bootstrap (harness/stats). A run that read
    no image (text-only retrievers, ``--view text``) still knows the key (``extra["image_key"]``,
    :func:`tasks.base.check_images`), so its clusters are the same as an image-reading run's."""
    import hashlib

    key = query.image.key if query.image is not None else query.extra.get("image_key")
    return "" if key is None else hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def _with_split(options: LoadOptions, split: str) -> LoadOptions:
    from dataclasses import replace

    return replace(options, split=split)
