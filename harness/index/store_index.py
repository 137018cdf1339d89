"""Encode a corpus into its store once (resumable, shards split over torchrun's ranks), then
hand search the memory-mapped shards.

:func:`build_store` is what :meth:`harness.index.retriever.EncoderRetriever.index` calls when it
was made with a :class:`StoreSpec` (:func:`harness.evaluation.pipeline.build_retriever`). Rank r of
W encodes shards ``s % W == r``; shard boundaries fall on encoding-window
boundaries, so every passage is encoded in exactly the batch it would be in one process and
the bytes do not depend on the number of ranks, nor on where an earlier run was killed.
Searching is split by tiles (:func:`harness.index.exact.maxsim_search`'s ``part``), which keeps
the run identical to one process's and to the in-memory index's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from filelock import FileLock

from harness.core.progress import progress
from harness.core.distributed import barrier, sum_ints, world
from harness.index.store import Store, store_identity
from harness.core.types import Corpus

# Passages per shard (rounded up to whole encoding windows): at ColBERT's 128 dims and ~100
# tokens a passage, ~100 MB of fp16, so a kill loses little and a shard is one sequential write.
DEFAULT_SHARD_PASSAGES = 4096


@dataclass(frozen=True)
class StoreSpec:
    """Where the store lives and what identifies the weights (the encoder cannot know)."""

    root: Path
    checkpoint: str | None = None
    task: str | None = None
    shard_passages: int = DEFAULT_SHARD_PASSAGES


@dataclass
class OpenedStore:
    store: Store
    index: object  # harness.index.store_views.MappedTokens (maxsim) or MappedVectors (cosine)
    info: dict = field(default_factory=dict)  # meta.json's "store"


def shard_passages_for(passage_batch: int, wanted: int) -> int:
    """``wanted`` rounded up to a whole number of encoding windows.

    >>> shard_passages_for(64, 4096), shard_passages_for(1024, 1000), shard_passages_for(3, 10)
    (4096, 1024, 12)
    """
    return passage_batch * max(1, -(-wanted // passage_batch))


def build_store(encoder, corpus: Corpus, spec: StoreSpec, passage_batch: int) -> OpenedStore:
    """Encode the shards this rank owns that are missing or damaged; open them all, mapped."""
    w = world()
    identity = store_identity(encoder, corpus, spec.checkpoint, passage_batch,
                              shard_passages_for(passage_batch, spec.shard_passages))
    store = Store.at(spec.root, identity)
    store.create({"task": spec.task, "similarity": encoder.similarity})
    plan = store.plan
    mine = [s for s in range(plan.n_shards) if s % w.world_size == w.rank]
    # One encoder per (store, rank): a second identical process waits here, then finds every
    # shard committed and verified (filelock, the same package the run lock uses).
    with FileLock(str(store.directory / f".encode-{w.rank}-of-{w.world_size}.lock")):
        store.clean_partial(mine)
        todo, damaged = [], 0
        for s in mine:
            if not store.verify_shard(s):
                damaged += store.entry(s) is not None  # committed once, bytes changed since
                store.discard_shard(s)
                todo.append(s)
        present = len(mine) - len(todo)
        size = {s: len(plan.rows(s)) for s in mine}
        bar = progress(None, f"encode {encoder.name}", total=sum(size.values()), unit="passage",
                       initial=sum(size[s] for s in mine if s not in todo), disable=not w.is_main or not todo)
        bar.set_postfix(shards=f"{present}/{len(mine)}", resumed=present)
        with torch.inference_mode():
            for done, s in enumerate(todo, present + 1):
                rows = plan.rows(s)
                writer = store.writer(s, encoder.similarity)
                try:
                    for _, passages in Corpus(corpus.table.slice(rows.start, len(rows))).batches(passage_batch):
                        writer.add(encoder.encode_passages(passages))
                        bar.update(len(passages))
                except BaseException:
                    writer.abort()
                    raise
                writer.commit()
                bar.set_postfix(shards=f"{done}/{len(mine)}", resumed=present)
        bar.close()
    barrier()  # every rank's shards are committed past this point
    encoded, present, damaged = sum_ints([len(todo), present, damaged])
    resumed = present if encoded else 0  # shards an earlier, unfinished encoding left
    missing = [s for s in range(plan.n_shards) if store.entry(s) is None]
    if missing:
        raise RuntimeError(f"store {store.key}: shards {missing[:5]} missing after encoding")
    info = {"key": store.key, "path": str(store.directory), "reused": encoded == 0, "shards": plan.n_shards,
            "encoded_shards": encoded, "resumed_shards": resumed, "damaged_shards": damaged, "identity": identity}
    return OpenedStore(store, store.open_index(encoder.similarity), info)

