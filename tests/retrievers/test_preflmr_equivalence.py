"""Our preflmr against values the FLMR authors' code produced on the same weights.

Provenance of ``data/preflmr_reference_be4b748.safetensors`` (its metadata says the same):
github.com/LinWeizheDragon/FLMR at be4b748 was run on CPU in fp32 by
docs/equivalence/run_preflmr_reference.py (value-neutral adaptations A1-A7 for transformers 5,
listed there and in docs/reproducibility.md) on the tiny PreFLMR that
``tiny_preflmr.write_preflmr`` saves in the released layout (3-layer CLIP, one mapping layer,
weights seeded by released name): the query text and pixels built by
``examples/example_use_preflmr.py`` (a black 336x336 image for the query without one),
``FLMRModelForRetrieval.query`` / ``doc`` and ``flmr_utils.colbert_score``. The file keeps
the score matrices (mapping self-attention bidirectional and causal), the first 4 of 128
dimensions of every query row, the passage lengths and first passage rows, the query ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.index.exact import maxsim_scores
from harness.index.retriever import EncoderRetriever
from harness.core.types import FileImage, Passage, Query
from retrievers.preflmr.encoding import build
from tests.helpers.single_thread import one_thread  # noqa: F401
from tests.helpers.reference import read_fixture, saved_images
from tests.helpers.tensors import padded

FIXTURE = Path(__file__).parent / "data" / "preflmr_reference_be4b748.safetensors"
REL = 1e-5


@pytest.fixture(scope="module")
def ref():
    return read_fixture(FIXTURE)


@pytest.fixture(scope="module")
def setup(ref, preflmr_dir, tmp_path_factory):
    meta = ref[1]
    root = tmp_path_factory.mktemp("preflmr-ref")
    ckpt = preflmr_dir
    paths = saved_images(root)
    queries = [Query(f"q{n}", q, FileImage(paths[i]) if i is not None else None, instruction=ins)
               for n, (ins, q, i) in enumerate(json.loads(meta["queries"]))]
    passages = [Passage(f"p{i}", "", t) for i, t in enumerate(json.loads(meta["docs"]))]
    return ckpt, queries, passages


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs() / b.abs()).max())


def test_query_text_and_tokens_match_the_authors_example(ref, setup):
    r, meta = ref
    ckpt, queries, _ = setup
    enc = build(str(ckpt))
    assert enc.texts(queries, "full") == json.loads(meta["text_sequences"])
    ids, _, _ = enc._tokens(enc.texts(queries, "full"))
    assert torch.equal(ids.cpu(), r["query_input_ids"])


@pytest.mark.parametrize("attention,key", [("bidirectional", "scores"), ("causal", "scores_causal")])
def test_fp32_scores_match_the_authors_code(ref, setup, attention, key):
    r, _ = ref
    ckpt, queries, passages = setup
    enc = build(str(ckpt), mapping_attention=attention)
    Q, D = enc.encode_queries(queries, "full"), enc.encode_passages(passages)
    assert [d.shape[0] for d in D] == r["doclens"].tolist()
    assert (torch.stack([d[0, :8] for d in D]) - r["D_first8"]).abs().max() < 1e-5
    scores = maxsim_scores(*padded(Q), *padded(D))
    assert _rel(scores, r[key]) < REL
    if attention == "bidirectional":
        # Our rows are the reference's non-zero rows (its instruction rows are exactly 0).
        for i, q in enumerate(Q):
            theirs = r["Q4"][i]
            nonzero = theirs.abs().sum(-1) > 0
            assert q.shape[0] == int(nonzero.sum())
            assert (q[:, :4] - theirs[nonzero]).abs().max() < 1e-5
        # the query without an image (q3) got the authors' black image
        assert queries[3].image is None


def test_scores_through_the_fp16_store_match_within_fp16_rounding(ref, setup):
    r, _ = ref
    ckpt, queries, passages = setup
    from harness.core.types import Corpus

    retriever = EncoderRetriever(build(str(ckpt)))
    retriever.index(Corpus.from_records([{"_id": p.id, "title": p.title, "text": p.text} for p in passages]))
    run = retriever.search(queries, k=len(passages))
    for i, q in enumerate(queries):
        got = torch.tensor([run[q.id][p.id] for p in passages])
        assert _rel(got, r["scores"][i]) <= 1e-3
