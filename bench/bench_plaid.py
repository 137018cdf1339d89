"""fast-plaid (PyLate's PLAID engine) on the embeddings bench/bench_ann.py wrote, for a side by
side at equal recall. Runs in the separate environment of bench/plaid_env.sh (numpy, torch
2.11, fast-plaid; mire-eval is not imported):

    bench/.plaid-venv/bin/python bench/bench_plaid.py --data /tmp/ann-bench/synthetic-20000

Reports per (n_ivf_probe, n_full_scores): recall of the exact top-100 (exact results cached by
bench_ann.py with the same thread count), hit_rate@5 / mrr@5 minus exact's (relevance =
exact top-1), ms/query, index build time and bytes per token on disk. Document ids are
corpus rows (documents are given in row order).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
from hits_at5 import at5
import torch



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nprobe", default="2,4,8")
    ap.add_argument("--full", default="256,1024,4096")
    ap.add_argument("--nbits", type=int, default=2, help="PLAID residual bits (the MIRe authors' index: 2)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from fast_plaid import search as fp_search

    data = Path(args.data)
    tokens = np.load(data / "tokens.npy", mmap_mode="r")
    rows = np.load(data / "rows.npy")
    lengths = np.load(data / "lengths.npy")
    starts = np.concatenate([[0], np.flatnonzero(np.diff(rows)) + 1])
    start_of = np.empty(len(lengths), dtype=np.int64)
    start_of[rows[starts]] = starts
    docs = [torch.from_numpy(np.array(tokens[s : s + n])) for s, n in zip(start_of, lengths)]
    queries = np.load(data / "queries.npy")[: args.queries]
    qs = [torch.from_numpy(np.ascontiguousarray(q)) for q in queries]
    exact = np.load(data / f"exact-{args.queries}-100-t{args.threads}.npz")
    er = exact["rows"]
    index_dir = data / "fast-plaid-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    t = time.perf_counter()
    index = fp_search.FastPlaid(index=str(index_dir), device="cpu")
    index.create(documents_embeddings=docs, nbits=args.nbits)
    build_s = time.perf_counter() - t
    disk = sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file())
    print(f"fast-plaid {len(docs)} passages, {len(rows)} tokens: build {build_s:.1f} s, "
          f"{disk / len(rows):.1f} B/token on disk (nbits {args.nbits}); torch {torch.__version__}, threads {args.threads}")
    print("| n_ivf_probe | n_full_scores | recall@100 | d hit@5 (top1) | d mrr@5 (top1) | ms/query |")
    print("|---|---|---|---|---|---|")
    base = at5(er, er[:, 0])
    with open(data / "plaid-results.jsonl", "a") as out:
        for nprobe in map(int, args.nprobe.split(",")):
            for full in map(int, args.full.split(",")):
                index.search(qs[:2], top_k=100, n_full_scores=full, n_ivf_probe=nprobe, show_progress=False)
                t = time.perf_counter()
                res = index.search(qs, top_k=100, n_full_scores=full, n_ivf_probe=nprobe, show_progress=False,
                                   n_processes=1)
                sec = (time.perf_counter() - t) / len(qs)
                got = np.full((len(qs), 100), -1, dtype=np.int64)
                for i, r in enumerate(res):
                    ids = [doc for doc, _ in r][:100]
                    got[i, : len(ids)] = ids
                rec = float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 100 for a, b in zip(got, er)]))
                d = [a - b for a, b in zip(at5(got, er[:, 0]), base)]
                print(f"| {nprobe} | {full} | {rec:.3f} | {d[0]:+.1f} | {d[1]:+.1f} | {sec * 1000:.1f} |", flush=True)
                out.write(json.dumps({"data": str(data), "nprobe": nprobe, "full": full, "recall100": rec,
                                      "diff_top1": d, "ms_query": sec * 1000, "build_s": build_s,
                                      "bytes_per_token": disk / len(rows), "threads": args.threads,
                                      "date": time.strftime("%Y-%m-%d %H:%M")}) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
