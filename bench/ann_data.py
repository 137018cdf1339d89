"""Clustered synthetic token vectors shaped like ColBERT's, written as .npy for the ANN benches.

A passage has a topic and 20-40 tokens; each token is a word vector (a Zipf draw from a
32K-word vocabulary, half the time from its topic's 256 words) plus a topic pull plus noise,
L2-normalised, fp16. A query (32 tokens) is built from a source passage: 12 of its words,
10 words of its topic, 10 common words, each re-noised: relevance is then the exact MaxSim
top-1 (mostly the source passage; both are reported).

Files (``DIR``): ``tokens.npy`` [T, d] fp16 in store order (passages sorted by length, as
:class:`harness.index.exact.TokenStore` packs them), ``rows.npy`` [T] int64 (corpus row of each
token), ``lengths.npy`` [N] int64 (by corpus row), ``queries.npy`` [nq, 32, d] fp32,
``source.npy`` [nq] int64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VOCAB, TOPICS, TOPIC_WORDS, QUERY_TOKENS = 32768, 1000, 256, 32


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _tokens(words, topics, rng, wid, tid, noise):
    d = words.shape[1]
    x = words[wid] + 0.35 * topics[tid] + rng.standard_normal((len(wid), d), dtype=np.float32) * (noise / np.sqrt(d))
    return _unit(x)


def generate(directory, passages: int, queries: int, dim: int = 128, seed: int = 0, noise: float = 0.5,
             chunk: int = 20000) -> Path:
    """Write the corpus and queries under ``directory`` (skipped when it holds >= ``queries`` queries)."""
    out = Path(directory)
    if (out / "source.npy").is_file() and len(np.load(out / "source.npy", allow_pickle=False)) >= queries:
        return out
    # Fewer queries than asked: regenerate everything. Tokens are drawn before the queries from the
    # same seed, so they come out identical and an index already built on them stays valid.
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = _unit(rng.standard_normal((VOCAB, dim), dtype=np.float32))
    topics = _unit(rng.standard_normal((TOPICS, dim), dtype=np.float32))
    topic_vocab = rng.integers(0, VOCAB, (TOPICS, TOPIC_WORDS))
    zipf = 1.0 / np.arange(1, VOCAB + 1) ** 1.1
    zipf /= zipf.sum()
    lengths = rng.integers(20, 41, passages).astype(np.int64)
    topic_of = rng.integers(0, TOPICS, passages)
    order = np.argsort(lengths, kind="stable")
    total = int(lengths.sum())
    tokens = np.lib.format.open_memmap(out / "tokens.npy", mode="w+", dtype=np.float16, shape=(total, dim))
    rows = np.repeat(order, lengths[order])
    word_of = np.empty(total, dtype=np.int64)
    at = 0
    for a in range(0, passages, chunk):
        prow = order[a : a + chunk]
        tid = np.repeat(topic_of[prow], lengths[prow])
        own = rng.random(len(tid)) < 0.5
        wid = np.where(own, topic_vocab[tid, rng.integers(0, TOPIC_WORDS, len(tid))],
                       rng.choice(VOCAB, len(tid), p=zipf))
        tokens[at : at + len(tid)] = _tokens(words, topics, rng, wid, tid, noise).astype(np.float16)
        word_of[at : at + len(tid)] = wid
        at += len(tid)
    tokens.flush()
    start = np.zeros(passages, dtype=np.int64)
    start[order] = np.concatenate([[0], np.cumsum(lengths[order])[:-1]])
    source = rng.integers(0, passages, queries)
    qs = np.empty((queries, QUERY_TOKENS, dim), dtype=np.float32)
    for i, p in enumerate(source):
        own = word_of[start[p] + rng.integers(0, lengths[p], 12)]
        topical = topic_vocab[topic_of[p], rng.integers(0, TOPIC_WORDS, 10)]
        common = rng.choice(VOCAB, 10, p=zipf)
        wid = np.concatenate([own, topical, common])
        qs[i] = _tokens(words, topics, rng, wid, np.full(QUERY_TOKENS, topic_of[p]), noise)
    np.save(out / "rows.npy", rows, allow_pickle=False)
    np.save(out / "lengths.npy", lengths, allow_pickle=False)
    np.save(out / "queries.npy", qs, allow_pickle=False)
    np.save(out / "source.npy", source, allow_pickle=False)
    return out


def hard_queries(directory, queries: int, dim: int = 128, seed: int = 0, noise: float = 0.5, own: int = 6,
                 topical: int = 10, query_seed: int = 1) -> str:
    """A harder query set for a corpus :func:`generate` wrote: ``own`` re-noised token vectors of
    the source passage (6 of 32 instead of 12 words), ``topical`` words of its topic, the rest
    common words, so the exact top-1 is the source less often and near-ties crowd the top 5.
    Tokens and any index built on them are untouched: the topics are recovered by replaying
    the corpus's first draws. Writes ``queries-hard.npy`` / ``source-hard.npy``; returns "hard".
    """
    out = Path(directory)
    if (out / "source-hard.npy").is_file() and len(np.load(out / "source-hard.npy", allow_pickle=False)) >= queries:
        return "hard"
    lengths = np.load(out / "lengths.npy", allow_pickle=False)
    passages = len(lengths)
    rng = np.random.default_rng(seed)  # the draws generate() made before any token
    words = _unit(rng.standard_normal((VOCAB, dim), dtype=np.float32))
    topics = _unit(rng.standard_normal((TOPICS, dim), dtype=np.float32))
    topic_vocab = rng.integers(0, VOCAB, (TOPICS, TOPIC_WORDS))
    if not np.array_equal(rng.integers(20, 41, passages), lengths):
        raise ValueError(f"{out}: not the corpus generate(seed={seed}) wrote")
    topic_of = rng.integers(0, TOPICS, passages)
    zipf = 1.0 / np.arange(1, VOCAB + 1) ** 1.1
    zipf /= zipf.sum()
    tokens = np.load(out / "tokens.npy", mmap_mode="r", allow_pickle=False)
    order = np.argsort(lengths, kind="stable")
    start = np.zeros(passages, dtype=np.int64)
    start[order] = np.concatenate([[0], np.cumsum(lengths[order])[:-1]])
    q_rng = np.random.default_rng(query_seed)
    source = q_rng.integers(0, passages, queries)
    qs = np.empty((queries, QUERY_TOKENS, dim), dtype=np.float32)
    for i, p in enumerate(source):
        mine = np.asarray(tokens[start[p] + q_rng.integers(0, lengths[p], own)], dtype=np.float32)
        mine = _unit(mine + q_rng.standard_normal(mine.shape, dtype=np.float32) * (noise / np.sqrt(dim)))
        wid = np.concatenate([topic_vocab[topic_of[p], q_rng.integers(0, TOPIC_WORDS, topical)],
                              q_rng.choice(VOCAB, QUERY_TOKENS - own - topical, p=zipf)])
        qs[i] = np.concatenate([mine, _tokens(words, topics, q_rng, wid, np.full(len(wid), topic_of[p]), noise)])
    np.save(out / "queries-hard.npy", qs, allow_pickle=False)
    np.save(out / "source-hard.npy", source, allow_pickle=False)
    return "hard"
