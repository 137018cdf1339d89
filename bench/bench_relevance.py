"""Answer-match qrels materialisation time at benchmark scale (default 5,000 x 100,000).

Synthetic but shaped like OK-VQA: passages of ~100 words drawn from a Zipf vocabulary,
each query with 5 answers of 1-2 words from the vocabulary's long tail plus a number.

    python bench/bench_relevance.py [--queries 5000] [--passages 100000]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

from harness.evaluation.relevance import answer_qrels
from harness.core.types import Corpus, Query


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--passages", type=int, default=100_000)
    args = ap.parse_args()

    rng = random.Random(0)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(50_000)]
    cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))
    t = time.perf_counter()
    corpus = Corpus.from_records([
        {"_id": f"p{i}", "title": "", "text": " ".join(rng.choices(vocab, cum_weights=cum, k=100))}
        for i in range(args.passages)
    ])
    tail = vocab[200:]
    queries = [
        Query(f"q{i}", "?", answers=tuple(" ".join(rng.sample(tail, rng.choice([1, 1, 1, 2]))) for _ in range(5))
              + (str(rng.randint(0, 2000)),))
        for i in range(args.queries)
    ]
    print(f"generated {args.queries} queries x {args.passages} passages in {time.perf_counter() - t:.1f}s")
    for mode in ("answer-word", "answer-substring"):
        t = time.perf_counter()
        qrels = answer_qrels(queries, corpus, mode)
        seconds = time.perf_counter() - t
        pairs = sum(len(v) for v in qrels.values())
        print(f"{mode:17s} {seconds:6.1f} s  {pairs:,} relevant pairs  "
              f"{sum(1 for v in qrels.values() if not v)} queries without any")


if __name__ == "__main__":
    main()
