"""One evaluation, in a straight line: task -> index -> search -> metrics -> results.

``run_evaluation(RunSettings(task="sample", retriever="bm25"))`` is ``mire-eval run --task sample
--retriever bm25``; tests/retrievers/test_bm25.py runs it on a small task.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harness.cache import stable_hash
from harness.errors import MireEvalError
from harness.metrics import DEFAULT_METRICS, evaluate, first_relevant_rank
from harness.registry import RETRIEVERS
from harness.relevance import answer_qrels
from harness.results import atomic_dir, code_version, package_versions, write_json, write_per_query
from harness.runs import write_qrels_tsv, write_trec_run
from harness.types import Qrels, TaskData
from tasks.base import LoadOptions, load_task, task_slug


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
    setting: str = "zero-shot"  # or "fine-tuned"
    output: Path = Path("results")
    overwrite: bool = False
    seed: int = 0
    load: LoadOptions = field(default_factory=LoadOptions)
    retriever_options: dict = field(default_factory=dict)
    metrics: tuple[str, ...] = DEFAULT_METRICS

    def identity(self) -> dict:
        """Everything that changes the result (not where it is written, nor device)."""
        load = {k: str(v) for k, v in asdict(self.load).items() if k not in ("split", "cache_dir")}
        return {
            "task": self.task, "retriever": self.retriever, "checkpoint": self.checkpoint,
            "checkpoint_sha256": checkpoint_fingerprint(self.checkpoint), "split": self.split, "k": self.k,
            "limit": self.limit, "view": self.view, "setting": self.setting, "seed": self.seed, "load": load,
            "retriever_options": self.retriever_options, "metrics": list(self.metrics),
        }

    def tag(self, identity: dict) -> str:
        return f"{self.setting}-{self.view}-{self.split}-{stable_hash(identity, 10)}"


@dataclass
class RunResult:
    directory: Path
    metrics: dict[str, float]
    reused: bool


def checkpoint_fingerprint(checkpoint: str | None) -> str | None:
    """sha256 over a local checkpoint's files (names and contents); None for hub ids or none."""
    if not checkpoint or not Path(checkpoint).exists():
        return None
    root = Path(checkpoint)
    files = sorted(p for p in (root.rglob("*") if root.is_dir() else [root]) if p.is_file())
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root) if root.is_dir() else p.name).encode())
        with open(p, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def materialise_qrels(data: TaskData, cache_dir: Path) -> Qrels:
    """The task's qrels, or answer-match qrels over the whole corpus (cached)."""
    if data.relevance == "qrels":
        return {q.id: dict(data.qrels.get(q.id, {})) for q in data.queries}
    return answer_qrels(data.queries, data.corpus, data.relevance, cache_dir=cache_dir / "qrels")


def build_retriever(settings: RunSettings):
    factory = RETRIEVERS.get(settings.retriever)
    return factory(settings.checkpoint, settings.device, **settings.retriever_options)


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_evaluation(settings: RunSettings, retriever=None, data: TaskData | None = None) -> RunResult:
    """Evaluate ``settings.retriever`` on ``settings.task`` and write the results folder.

    A finished run with the same identity is reused unless ``settings.overwrite``.
    ``retriever`` / ``data`` may be passed in when the caller already holds them.
    """
    identity = settings.identity()
    directory = Path(settings.output) / task_slug(settings.task) / settings.retriever / settings.tag(identity)
    if (directory / "metrics.json").exists() and not settings.overwrite:
        with open(directory / "meta.json") as f:
            if json.load(f).get("identity") == identity:
                with open(directory / "metrics.json") as g:
                    return RunResult(directory, json.load(g)["metrics"], reused=True)

    seed_everything(settings.seed)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[phase] = round(now - clock, 3)
        clock = now

    if data is None:
        data = load_task(settings.task, _with_split(settings.load, settings.split))
    data = data.limit(settings.limit)
    if not data.queries:
        raise MireEvalError(f"task {settings.task!r} split {settings.split!r} has no queries to evaluate")
    lap("load_task")
    qrels = materialise_qrels(data, settings.load.cache_dir)
    lap("relevance")
    if retriever is None:
        retriever = build_retriever(settings)
    lap("load_retriever")
    retriever.index(data.corpus)
    lap("index")
    run = retriever.search(data.queries, settings.k, settings.view)
    lap("search")
    query_ids = [q.id for q in data.queries]
    scores = evaluate(qrels, run, settings.metrics, queries=query_ids)
    lap("metrics")

    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    summary = {
        "task": settings.task, "retriever": settings.retriever, "setting": settings.setting,
        "view": settings.view, "split": settings.split, "checkpoint": settings.checkpoint, "limit": settings.limit,
        "relevance": data.relevance, "n_queries": scores.n_queries, "n_without_relevant": scores.n_without_relevant,
        "n_empty_rankings": scores.n_empty_rankings, "created": created, "metrics": scores.mean,
    }
    meta = {
        "identity": identity,
        "created": created,
        "code": code_version(),
        "versions": package_versions(),
        "task": {"name": settings.task, "split": settings.split, "relevance": data.relevance, **data.meta,
                 "n_queries_evaluated": scores.n_queries, "n_queries_without_relevant": scores.n_without_relevant},
        "retriever": retriever.describe(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "device": settings.device,
        "seed": settings.seed,
        "timings_s": timings,
    }
    with atomic_dir(directory) as tmp:
        write_trec_run(run, tmp / "run.trec", tag=f"{settings.retriever}-{settings.setting}-{settings.view}", k=settings.k)
        write_qrels_tsv(qrels, tmp / "qrels.tsv")
        n_relevant = {q: sum(1 for g in qrels.get(q, {}).values() if g > 0) for q in query_ids}
        write_per_query(tmp / "per_query.csv", scores, n_relevant, first_relevant_rank(qrels, run))
        write_json(tmp / "meta.json", meta)
        write_json(tmp / "metrics.json", summary)
    return RunResult(directory, scores.mean, reused=False)


def _with_split(options: LoadOptions, split: str) -> LoadOptions:
    from dataclasses import replace

    return replace(options, split=split)
