"""Approximate search (ivf, ivfpq) against exact MaxSim on the same embeddings, one run.

For each corpus size of clustered synthetic vectors (bench/ann_data.py) and, with ``--real``,
for the offline MiniLM in the ColBERT layout on Python docstrings: exact top-100 (timed),
index build (timed, bytes per token), then a sweep of nprobe x candidates. Reported per
point: recall of the exact top-100 in the returned top-100, hit_rate@5 / mrr@5 minus exact's
(relevance = exact top-1, and the source passage / gold docstring), time per query and its
ratio to exact, measured in the same process.

    python bench/bench_ann.py --real 4000 --sizes 20000,50000,100000 --queries 50 \
        --nprobe 4,8 --candidates 256,1024 --pq-m 32          # the run in docs/ann.md
    python bench/bench_ann.py --sizes 20000 --nprobe 2,4,8 --candidates 256,1024,4096

Data and exact results are cached under ``--dir`` (tokens.npy etc. also feed
bench/bench_plaid.py); results are appended to ``--dir``/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from hits_at5 import at5
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ann_data import generate, hard_queries  # noqa: E402
from harness.index.ann import Searcher, build_index, estimate, parse_params, shards_from_arrays  # noqa: E402
from harness.index.ann.index import assign  # noqa: E402
from harness.core.ranking import id_ranks  # noqa: E402
from harness.index.exact import TokenStore, maxsim_search  # noqa: E402

warnings.filterwarnings("ignore", message="The given NumPy array is not writable")


def load(directory: Path, query_set: str = "") -> dict:
    """The bench layout as arrays; tokens memory-mapped; ``query_set`` "hard": ann_data.hard_queries."""
    d = {name: np.load(directory / f"{name}.npy", allow_pickle=False, mmap_mode="r" if name == "tokens" else None)
         for name in ("tokens", "rows", "lengths")}
    for name in ("queries", "source"):
        d[name] = np.load(directory / f"{name}{'-' + query_set if query_set else ''}.npy", allow_pickle=False)
    rows = d["rows"]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(rows)) + 1])
    d["order"] = rows[starts]
    d["offsets"] = np.concatenate([starts, [len(rows)]]).astype(np.int64)
    return d


def queries_of(d: dict) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(x)) for x in d["queries"]]  # [nq, Lq, d]


def exact(directory: Path, d: dict, queries, ranks, k: int, query_set: str = "") -> tuple[np.ndarray, np.ndarray, float]:
    """Exact top-k (scores, rows) and seconds per query, cached beside the data."""
    cache = directory / f"exact{'-' + query_set if query_set else ''}-{len(queries)}-{k}-t{torch.get_num_threads()}.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        return z["scores"], z["rows"], float(z["seconds"])
    store = TokenStore(torch.from_numpy(d["tokens"]), torch.from_numpy(d["offsets"]), torch.from_numpy(d["order"]))
    t = time.perf_counter()
    s, r = maxsim_search(queries, store, k, ranks)
    sec = (time.perf_counter() - t) / len(queries)
    np.savez(cache, scores=s.numpy(), rows=r.numpy(), seconds=sec)
    return s.numpy(), r.numpy(), sec



def check_built_on(index, tokens, root: Path, n: int = 5000) -> None:
    """The bench keys an index by corpus name only: refuse one built on other tokens (a corpus
    regenerated differently) by re-assigning a seeded sample of tokens to its centroids."""
    pick = np.sort(np.random.default_rng(0).choice(len(tokens), min(n, len(tokens)), replace=False))
    same = np.mean(assign(index.centroids, np.asarray(tokens[pick], dtype=np.float32)) == index.codes[pick])
    if same < 0.999:
        sys.exit(f"error: {root}: an index there was built on other tokens ({same:.1%} of sampled tokens "
                 "keep their centroid); delete it")


def recall(rows: np.ndarray, exact_rows: np.ndarray) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / len(b) for a, b in zip(rows, exact_rows)]))


def run_size(name: str, directory: Path, args, out, query_set: str = "") -> None:
    d = load(directory, query_set)
    key, name = name, f"{name}{'-' + query_set + '-queries' if query_set else ''}"  # one index per corpus
    n, tokens = len(d["lengths"]), len(d["rows"])
    queries = queries_of(d)[: args.queries]
    ranks = id_ranks([f"{i:09d}" for i in range(n)])
    es, er, exact_s = exact(directory, d, queries, ranks, 100, query_set)
    gold = {"exact-top1": er[:, 0], "source": d["source"][: len(queries)]}
    base = {rel: at5(er, g) for rel, g in gold.items()}
    print(f"\n## {name}: {n} passages, {tokens} tokens, {len(queries)} queries; exact {exact_s * 1000:.1f} ms/query; "
          f"exact vs source: hit@5 {base['source'][0]:.1f} mrr@5 {base['source'][1]:.1f}", flush=True)
    for mode in args.modes.split(","):
        for pq_m in (args.pq_m.split(",") if mode == "ivfpq" else ["-"]):
            opts = {"pq_m": pq_m} if mode == "ivfpq" else {}
            if args.nlist:
                opts["nlist"] = args.nlist
            params = parse_params(mode, opts, dim=d["tokens"].shape[1])
            est = estimate(tokens, d["tokens"].shape[1], params, n)
            root = directory / "index"
            t = time.perf_counter()
            index = build_index(shards_from_arrays(d["tokens"], d["rows"], args.shard_tokens), tokens,
                                d["tokens"].shape[1], params, root, key)
            build_s = time.perf_counter() - t
            check_built_on(index, d["tokens"], root)
            searcher = Searcher(index, d["tokens"])
            bpt = index.nbytes() / tokens
            print(f"{mode}{'' if pq_m == '-' else f' pq_m={pq_m}'}: nlist {index.params.nlist}, sample "
                  f"{index.params.sample}, build {build_s:.1f} s (0 = cached), {bpt:.1f} B/token resident "
                  f"(estimate {est['bytes_per_token']})", flush=True)
            print("| nprobe | candidates | refine | recall@100 | d hit@5 (top1) | d mrr@5 (top1) | d hit@5 (src) | "
                  "d mrr@5 (src) | ms/query | speed-up |")
            print("|---|---|---|---|---|---|---|---|---|---|")
            points = [(nprobe, cand, refine) for nprobe in map(int, args.nprobe.split(","))
                      for cand in map(int, args.candidates.split(","))
                      for refine in (map(int, args.refine.split(",")) if mode == "ivfpq" else [0])]
            for nprobe, cand, refine in points:
                searcher.search(queries[:2], 100, ranks, nprobe, cand, refine=refine)  # warm
                t = time.perf_counter()
                _, rows = searcher.search(queries, 100, ranks, nprobe, cand, refine=refine)
                sec = (time.perf_counter() - t) / len(queries)
                rows = rows.numpy()
                rec = recall(rows, er)
                diffs = {rel: [a - b for a, b in zip(at5(rows, g), base[rel])] for rel, g in gold.items()}
                print(f"| {nprobe} | {cand} | {refine} | {rec:.3f} | {diffs['exact-top1'][0]:+.1f} | {diffs['exact-top1'][1]:+.1f} "
                      f"| {diffs['source'][0]:+.1f} | {diffs['source'][1]:+.1f} | {sec * 1000:.1f} | "
                      f"{exact_s / sec:.1f}x |", flush=True)
                out.write(json.dumps({"corpus": name, "passages": n, "tokens": tokens, "queries": len(queries),
                                      "mode": mode, "pq_m": pq_m, "nlist": index.params.nlist,
                                      "sample": index.params.sample, "nprobe": nprobe, "candidates": cand, "refine": refine,
                                      "recall100": rec, "diff_top1": diffs["exact-top1"],
                                      "diff_source": diffs["source"], "ms_query": sec * 1000,
                                      "exact_ms_query": exact_s * 1000, "build_s": build_s,
                                      "bytes_per_token": bpt, "date": time.strftime("%Y-%m-%d %H:%M")}) + "\n")
                out.flush()
            if args.fresh:
                shutil.rmtree(root, ignore_errors=True)
    print(f"peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20000,100000,300000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--modes", default="ivf,ivfpq")
    ap.add_argument("--nprobe", default="2,4,8")
    ap.add_argument("--candidates", default="256,1024,4096")
    ap.add_argument("--pq-m", default="16,32")
    ap.add_argument("--nlist", default="")
    ap.add_argument("--refine", default="0", help="ivfpq: passages rescored exactly from the fp16 store (0: none)")
    ap.add_argument("--shard-tokens", type=int, default=1 << 20)
    ap.add_argument("--real", type=int, default=0, help="passages of the real-model point (0: skip)")
    ap.add_argument("--real-packages", action="store_true",
                    help="the real point's docstrings also from the installed packages (up to ~40K passages)")
    ap.add_argument("--hard", action="store_true",
                    help="synthetic corpora searched with ann_data.hard_queries (6 own tokens of 32) instead")
    ap.add_argument("--dir", default="/tmp/ann-bench")
    ap.add_argument("--threads", type=int, default=1,
                    help="1 on a shared machine: 2 OpenMP threads on 2 cores busy with others run 20x slower")
    ap.add_argument("--fresh", action="store_true", help="delete each index after its sweep (times every build)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}; threads {args.threads}; torch {torch.__version__}; "
          f"faiss {faiss.__version__}")
    with open(root / "results.jsonl", "a") as out:
        if args.real:
            from real_corpus import encode_docstrings

            name = f"minilm-docstrings{'-packages' if args.real_packages else ''}-{args.real}"
            run_size(name, encode_docstrings(root / f"real{'-packages' if args.real_packages else ''}-{args.real}",
                                             args.real, args.queries, args.real_packages), args, out)
        for size in [int(s) for s in args.sizes.split(",") if s]:
            directory = generate(root / f"synthetic-{size}", size, args.queries)
            if args.hard:
                run_size(f"synthetic-{size}", directory, args, out, hard_queries(directory, args.queries))
            else:
                run_size(f"synthetic-{size}", directory, args, out)


if __name__ == "__main__":
    main()
