"""A tiny encoder that reads its checkpoint, a small corpus, and a command line that runs one
evaluation through the store (for the kill -9 and torchrun tests of test_store.py).

    python store_helpers.py CHECKPOINT OUTPUT N_PASSAGES [--delay S] [--shard P] [--similarity S]
                            [--search ivf --search-option nprobe=2 ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import zlib
from pathlib import Path

import torch

from harness.types import Corpus, Query, TaskData

WORDS = "fox owl seal crab vole mouse herring cod mussel dusk night river shore field tree rock".split()


class WordEncoder:
    """Hashed words -> rows of a table drawn from the checkpoint file's sha256 (so one changed
    byte changes every vector). ``doc_maxlen`` changes passage vectors; ``delay`` (seconds per
    passage batch) does not."""

    name = "words"
    modalities = frozenset({"text"})

    def __init__(self, checkpoint: str, similarity: str = "maxsim", dim: int = 8, doc_maxlen: int = 12,
                 delay: float = 0.0):
        seed = int(hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()[:12], 16)
        self.table = torch.randn(97, dim, generator=torch.Generator().manual_seed(seed))
        self.similarity, self.dim, self.doc_maxlen, self.delay = similarity, dim, doc_maxlen, delay
        self.passages_encoded = 0

    def _matrix(self, text: str, maxlen: int) -> torch.Tensor:
        ids = [zlib.crc32(w.encode()) % 97 for w in text.lower().split()][:maxlen] or [0]
        return torch.nn.functional.normalize(self.table[ids], dim=-1)

    def _encode(self, texts, maxlen):
        matrices = [self._matrix(t, maxlen) for t in texts]
        if self.similarity == "maxsim":
            return matrices
        return torch.nn.functional.normalize(torch.stack([m.mean(0) for m in matrices]), dim=-1)

    def encode_queries(self, queries, view):
        return self._encode([q.text for q in queries], 32)

    def encode_passages(self, passages):
        time.sleep(self.delay)
        self.passages_encoded += len(passages)
        return self._encode([p.contents for p in passages], self.doc_maxlen)

    def describe(self):
        return {"name": self.name, "dim": self.dim, "doc_maxlen": self.doc_maxlen}


def make_corpus(n: int, changed_line: int | None = None) -> Corpus:
    """``n`` distinct passages: 1-10 words from a small vocabulary, then the passage's number
    as a word (hashed into the same 97-row table, so many scores still tie)."""
    records = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * j * 3) % len(WORDS)] for j in range(1 + (i * 5) % 10)] + [f"n{i}"]
        text = " ".join(words) + (" changed" if i == changed_line else "")
        records.append({"_id": f"p{i:05d}", "title": "", "text": text})
    return Corpus.from_records(records)


def make_task(n: int) -> TaskData:
    queries = [Query(f"q{i:02d}", " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(1 + i % 4)))
               for i in range(12)]
    qrels = {q.id: {f"p{(i * 13) % n:05d}": 1} for i, q in enumerate(queries)}
    return TaskData("words", "test", queries, make_corpus(n), qrels=qrels)


def main(argv=None) -> None:
    from harness.evaluate import RunSettings, run_evaluation
    from retrievers.base import EncoderRetriever

    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("output")
    p.add_argument("n", type=int)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--similarity", default="maxsim")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--shard", type=int, default=16)
    p.add_argument("--search", default="exact")
    p.add_argument("--search-option", action="append", default=[])
    args = p.parse_args(argv)
    from store_helpers import WordEncoder as Named  # the class as the tests name it (part of the key)

    encoder = Named(args.checkpoint, args.similarity, delay=args.delay)
    retriever = EncoderRetriever(encoder, passage_batch=args.batch, shard_passages=args.shard)
    options = dict(pair.split("=", 1) for pair in args.search_option)
    settings = RunSettings(task="words", retriever="words", checkpoint=args.checkpoint, k=20,
                           output=Path(args.output), overwrite=True, search=args.search, search_options=options)
    result = run_evaluation(settings, retriever=retriever, data=make_task(args.n))
    from harness.distributed import world

    if world().is_main:
        (Path(args.output) / "done.json").write_text(json.dumps({"directory": str(result.directory)}))


if __name__ == "__main__":
    main()
