"""Approximate late-interaction search (``--search ivf|ivfpq``) on faiss.

* :mod:`harness.index.ann.params`: parameters, their one-line checks, memory/disk estimate;
* :mod:`harness.index.ann.inputs`: the build's input (token shards) and the rerank's token view;
* :mod:`harness.index.ann.index`: resumable build from fp16 token shards (split over torchrun ranks);
* :mod:`harness.index.ann.saved`: the index type, atomic writes, checked loads without pickle;
* :mod:`harness.index.ann.query`: candidates, exact MaxSim rerank, merge of per-shard top-k.

Typical use by the embedding store::

    params = parse_params("ivf", {"nprobe": "4"}, dim=128)
    shards, tokens = from_store_shards([store.open_shard(s) for s in range(n_shards)])
    index = build_index(shards, total_tokens, 128, params, cache_dir, store_key)
    scores, rows = Searcher(index, tokens).search(queries, k, ranks)
"""

from harness.index.ann.index import AnnIndex, build_index, load_index
from harness.index.ann.inputs import ConcatTokens, from_store_shards, rows_from_lengths, shards_from_arrays
from harness.index.ann.params import AnnParams, check_fits, describe_estimate, estimate, parse_params
from harness.index.ann.query import Searcher, merge_topk

__all__ = ["AnnIndex", "AnnParams", "ConcatTokens", "from_store_shards", "Searcher", "build_index", "check_fits", "describe_estimate", "estimate",
           "load_index", "merge_topk", "parse_params", "rows_from_lengths", "shards_from_arrays"]
