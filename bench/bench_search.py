"""Exact MaxSim throughput against the same machine's plain fp32 matrix multiply.

Timed in this one run on the same data: MaxSim search (fp16 store, fp32 tiles, padding
neutralised, running exact top-k) against (a) bare fp32 GEMMs of the same query blocks and
passage tiles, operands already up-cast (the arithmetic MaxSim cannot avoid), and (b) one
2048x2048 fp32 GEMM, the machine's best case. GFLOP/s count useful work only:
2 * query tokens * real passage tokens * dim.

    python bench/bench_search.py [--passages 20000] [--queries 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from harness.core.ranking import id_ranks
from harness.index.exact import TokenStore, maxsim_search


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--query-tokens", type=int, default=92, help="MIRe at evaluation: 28 visual + 64 text")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--tile-tokens", type=int, default=4096)
    ap.add_argument("--query-block", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(20, 180, (args.passages,), generator=g)  # ColBERT passage token counts
    passages = [torch.nn.functional.normalize(torch.randn(int(n), args.dim, generator=g), dim=1) for n in lengths]
    queries = [torch.nn.functional.normalize(torch.randn(args.query_tokens, args.dim, generator=g), dim=1)
               for _ in range(args.queries)]
    store = TokenStore.from_matrices(passages)
    ranks = id_ranks([f"p{i}" for i in range(args.passages)])
    flops = 2 * args.queries * args.query_tokens * int(lengths.sum()) * args.dim

    maxsim_s = best_of(lambda: maxsim_search(queries, store, 100, ranks, tile_tokens=args.tile_tokens, query_block=args.query_block), args.repeat)

    # The GEMMs MaxSim cannot avoid, with the search's own blocking: every query block against
    # every passage tile, operands already fp32 and packed (no up-cast, no max, no top-k).
    blocks = [torch.cat(queries[i : i + args.query_block]) for i in range(0, len(queries), args.query_block)]
    tiles = [store.tokens[store.offsets[a] : store.offsets[b]].float() for a, b, _ in store.tiles(args.tile_tokens)]

    def plain_gemm():
        for tile in tiles:
            for rows in blocks:
                torch.mm(rows, tile.T)

    gemm_s = best_of(plain_gemm, args.repeat)
    square = torch.randn(2048, 2048, generator=g)
    square_s = best_of(lambda: torch.mm(square, square), args.repeat)

    maxsim_gflops, gemm_gflops = flops / maxsim_s / 1e9, flops / gemm_s / 1e9
    print(f"threads {args.threads}; {args.passages} passages, {int(lengths.sum()):,} tokens, "
          f"{args.queries} queries x {args.query_tokens} tokens, dim {args.dim}")
    square_gflops = 2 * 2048**3 / square_s / 1e9
    print(f"exact MaxSim search             {maxsim_s:7.3f} s  {maxsim_gflops:6.1f} GFLOP/s")
    print(f"plain fp32 GEMM, same blocks    {gemm_s:7.3f} s  {gemm_gflops:6.1f} GFLOP/s")
    print(f"plain fp32 GEMM 2048x2048       {square_s:7.3f} s  {square_gflops:6.1f} GFLOP/s")
    print(f"MaxSim / same-block GEMM: {maxsim_gflops / gemm_gflops:.2f}   "
          f"MaxSim / 2048x2048 GEMM: {maxsim_gflops / square_gflops:.2f}")


if __name__ == "__main__":
    main()
