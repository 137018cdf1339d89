"""The efficiency card of a run: what it cost, next to how well it did.

meta.json's ``"efficiency"`` (and the leaderboard's columns of the same names):

* ``passages_indexed``; ``index_s`` (seconds to index, the store's encoding or its reuse) and
  ``index_reused`` (the embedding store, and for ``--search ivf|ivfpq`` its index, were built
  by an earlier run);
* ``tokens`` (vectors indexed: token vectors of a late-interaction model, one per passage
  otherwise), ``bytes_per_token_resident`` (bytes of the index held in this process's memory
  per vector: all of it for an in-memory index; the offsets and lengths only for a store,
  whose vectors are memory-mapped from disk) and ``bytes_per_token_disk`` (the store's files,
  plus the approximate index's, per vector; 0 for an in-memory index);
* ``encode_ms_per_query`` (the retriever's query encoding; None for retrievers without an
  encoder, e.g. BM25) and ``search_ms_per_query`` (the rest of the search: scoring and top-k),
  with ``search`` (``exact`` or the approximate parameters);
* ``peak_memory_mb`` (the process's peak resident set, ``getrusage`` ``ru_maxrss``: since the
  process started, so it includes what ran before in the same process) and, on CUDA,
  ``peak_gpu_memory_mb``; ``device``, ``threads`` (torch's intra-op threads), ``world_size``;
* for an approximate run, ``audit``: ``{"queries": N, "topk_recovered": f}``, the mean
  fraction of exact search's top-k that the approximate top-k holds, over N queries drawn with
  the run's seed (``--search-option audit=N``, default :data:`AUDIT_DEFAULT`; 0 skips it).

Timings are wall-clock seconds of this run on this machine; they are records, not identity.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path

from harness.errors import MireEvalError

AUDIT_DEFAULT = 16


def split_audit(mode: str, options: dict | None) -> tuple[dict, int]:
    """``--search-option`` pairs -> (the search's own options, audit queries).

    >>> split_audit("ivf", {"nprobe": "4", "audit": "8"})
    ({'nprobe': '4'}, 8)
    >>> split_audit("exact", {})
    ({}, 0)
    >>> split_audit("exact", {"audit": "3"})
    Traceback (most recent call last):
    harness.errors.MireEvalError: --search-option audit=3: only --search ivf or ivfpq is audited against exact search
    """
    options = dict(options or {})
    raw = options.pop("audit", None)
    if raw is None:
        return options, (AUDIT_DEFAULT if mode != "exact" else 0)
    if mode == "exact":
        raise MireEvalError(f"--search-option audit={raw}: only --search ivf or ivfpq is audited against exact search")
    try:
        n = int(str(raw).strip())
    except ValueError:
        n = -1
    if n < 0:
        raise MireEvalError(f"--search-option audit={raw}: must be a whole number >= 0 (queries audited)")
    return options, n


class QueryClock:
    """Wraps a retriever's ``encode_queries`` for the duration of a ``with``, summing its time."""

    def __init__(self, retriever):
        self.retriever, self.seconds, self.calls = retriever, 0.0, 0

    def __enter__(self):
        inner = getattr(self.retriever, "encode_queries", None)
        if callable(inner):
            def timed(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return inner(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start
                    self.calls += 1

            self.retriever.encode_queries = timed
        return self

    def __exit__(self, *exc):
        self.retriever.__dict__.pop("encode_queries", None)  # the class's method again


def timed_search(retriever, queries: Sequence, k: int, view: str) -> tuple[dict, dict]:
    """``(run, timing)``: the search, and ``encode_ms_per_query`` / ``search_ms_per_query``."""
    n = max(len(queries), 1)
    with QueryClock(retriever) as clock:
        start = time.perf_counter()
        run = retriever.search(queries, k, view)
        total = time.perf_counter() - start
    encode = clock.seconds if clock.calls else None
    return run, {"encode_ms_per_query": None if encode is None else round(1000 * encode / n, 3),
                 "search_ms_per_query": round(1000 * (total - (encode or 0.0)) / n, 3)}


def _tensor_bytes(obj) -> int:
    import torch

    return sum(v.nbytes for v in vars(obj).values() if isinstance(v, torch.Tensor))


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def footprint(retriever) -> dict:
    """``tokens``, ``bytes_per_token_resident``, ``bytes_per_token_disk`` of the retriever's
    index (None each when it has no vector index, e.g. BM25)."""
    index = getattr(retriever, "index_store", None)
    if index is None:
        return {"tokens": None, "bytes_per_token_resident": None, "bytes_per_token_disk": None}
    tokens = int(index.lengths().sum()) if hasattr(index, "lengths") else len(index)
    info = getattr(retriever, "store_info", None)
    disk = 0
    if info is not None:
        root = Path(info["path"])
        disk = sum(_dir_bytes(p) for p in root.iterdir() if p.is_dir() and p.name != "ann")
        disk += sum(p.stat().st_size for p in root.iterdir() if p.is_file())
    approximate = getattr(retriever, "approximate", None)
    if approximate is not None:
        disk += _dir_bytes(approximate.directory)
    per = (lambda b: round(b / tokens, 3)) if tokens else (lambda b: None)
    return {"tokens": tokens, "bytes_per_token_resident": per(_tensor_bytes(index)), "bytes_per_token_disk": per(disk)}


def peak_memory(device: str) -> dict:
    """``peak_memory_mb`` of this process (ru_maxrss), and ``peak_gpu_memory_mb`` on CUDA."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"peak_memory_mb": round(rss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)}
    if str(device).startswith("cuda"):
        import torch

        out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def audit_topk(retriever, queries: Sequence, run: dict, k: int, view: str, n: int, seed: int) -> dict | None:
    """The fraction of exact search's top-k that ``run`` (approximate) holds, averaged over
    ``n`` queries drawn with ``seed``; None when the run is exact or ``n`` is 0. Every rank of
    a torchrun world draws the same queries (the exact search is collective)."""
    approximate = getattr(retriever, "approximate", None)
    if approximate is None or n <= 0 or not queries:
        return None
    sample = random.Random(seed).sample(list(queries), min(n, len(queries)))
    retriever.approximate = None
    try:
        exact = retriever.search(sample, k, view)
    finally:
        retriever.approximate = approximate
    fractions = []
    for q in sample:
        want = set(exact.get(q.id, {}))
        if want:
            fractions.append(len(want & set(run.get(q.id, {}))) / len(want))
    return {"queries": len(sample), "k": k,
            "topk_recovered": round(sum(fractions) / len(fractions), 6) if fractions else None}


def efficiency_card(retriever, settings, n_passages: int, index_s: float, indexed: dict, timing: dict,
                    audit: dict | None, world_size: int) -> dict:
    """meta.json's ``"efficiency"`` (see the module docstring)."""
    import torch

    store, ann = indexed.get("store") or {}, indexed.get("ann") or {}
    reused = bool(store.get("reused")) and (not ann or bool(ann.get("reused")))
    search = settings.search if not ann else {k: v for k, v in ann.items() if k not in ("path", "reused")}
    return {"passages_indexed": n_passages, "index_s": index_s, "index_reused": reused, **footprint(retriever),
            **timing, "search": search, **peak_memory(settings.device), "device": settings.device,
            "threads": torch.get_num_threads(), "world_size": world_size,
            **({"audit": audit} if audit is not None else {})}
