"""Our uniir-clip-sf against values UniIR's own code produced on the same weights and inputs.

Provenance of ``data/uniir_reference_98dc570.safetensors`` (its metadata says the same):
docs/equivalence/uniir/run_reference.py ran github.com/TIGER-AI-Lab/UniIR at 98dc570
(``CLIPScoreFusion.encode_mbeir_batch``; ``MBEIRInferenceOnlyDataset`` / ``MBEIRCandidatePoolDataset``
and their collators, so M-BEIR's text formatting and padding) with github.com/openai/CLIP at
d05afc4 (``build_model``, ``clip.tokenize``, and ``_transform`` with the real torchvision
0.28.0, so the pixels were made by CLIP's own preprocessing, not ours), on CPU in fp32, on the
tiny weights and BPE vocabulary of tiny_uniir.py, the images tiny.images(3) saved as PNG.
Embeddings there are normalised by ``faiss.normalize_L2`` as UniIR's retriever does; the
``*_fp16`` scores went through the fp16 round trip UniIR's embedder saves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from harness.core.types import FileImage, Passage, Query
from retrievers.uniir import build
from tests.helpers.reference import read_fixture, saved_images
from tests.helpers.single_thread import one_thread  # noqa: F401

FIXTURE = Path(__file__).parent / "data" / "uniir_reference_98dc570.safetensors"
VIEWS = {"full": ("full", True), "text": ("text", True), "image": ("image", True),
         "full_noinst": ("full", False), "image_noinst": ("image", False)}


def rel(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest absolute difference relative to the reference's largest magnitude."""
    return float((ours - ref).abs().max() / ref.abs().max())


@pytest.fixture(scope="module")
def ref():
    return read_fixture(FIXTURE)


@pytest.fixture(scope="module")
def inputs(ref, tmp_path_factory):
    meta = ref[1]
    d = tmp_path_factory.mktemp("uniir-images")
    paths = saved_images(d)
    queries = [Query(f"q{i}", text, FileImage(paths[img]) if img is not None else None)
               for i, (text, img) in enumerate(json.loads(meta["queries"]))]
    passages = [Passage(f"p{i}", title, text) for i, (title, text) in enumerate(json.loads(meta["docs"]))]
    return queries, passages


@pytest.fixture(scope="module")
def encoders(uniir_dir):
    return {True: build(str(uniir_dir)), False: build(str(uniir_dir), instruct=False)}


@pytest.mark.parametrize("name", VIEWS)
def test_query_text_is_uniirs(name, ref, inputs, encoders):
    view, instruct = VIEWS[name]
    texts = json.loads(ref[1]["texts"])[name]
    assert [encoders[instruct].query_text(q, view) for q in inputs[0]] == texts


def test_token_ids_are_clip_tokenize(ref, inputs, encoders):
    r, _ = ref
    enc = encoders[True]
    queries, passages = inputs
    from retrievers.uniir.configuration import passage_text

    for texts, key in (([enc.query_text(q, "full") for q in queries], "q_full_ids"),
                       ([passage_text(p.title, p.text) for p in passages], "p_ids")):
        ids = enc.tokenizer(texts)
        padded = torch.zeros_like(r[key], dtype=torch.long)
        padded[:, : ids.shape[1]] = ids
        assert torch.equal(padded, r[key].long())
    assert (r["q_full_ids"] != 0).sum(1).max() == 77  # the long question was truncated to 77


@pytest.mark.parametrize("name", VIEWS)
def test_embeddings_and_scores_match_reference_fp32(name, ref, inputs, encoders):
    r, _ = ref
    view, instruct = VIEWS[name]
    queries, passages = inputs
    Q = encoders[instruct].encode_queries(queries, view)
    P = encoders[instruct].encode_passages(passages)
    assert rel(Q, F.normalize(r[f"q_{name}"], dim=-1)) < 1e-5
    assert rel(P, F.normalize(r["p"], dim=-1)) < 1e-5
    assert rel(Q @ P.T, r[f"scores_{name}"]) < 1e-5


def test_no_instruction_and_no_image_query_is_all_zero(ref, inputs, encoders):
    # query 2 has no image; its image view without instructions has neither text nor image:
    # UniIR masks both, the vector is 0 and every score 0 (never NaN).
    r, _ = ref
    Q = encoders[False].encode_queries(inputs[0], "image")
    assert torch.equal(Q[2], torch.zeros_like(Q[2])) and torch.equal(r["scores_image_noinst"][2], torch.zeros(4))


@pytest.mark.parametrize("name", ["full", "text", "image"])
def test_search_through_fp16_store_matches_reference(name, ref, inputs, encoders):
    r, _ = ref
    from harness.index.retriever import EncoderRetriever
    from harness.core.types import Corpus

    queries, passages = inputs
    retriever = EncoderRetriever(encoders[True])
    retriever.index(Corpus.from_records([{"_id": p.id, "title": p.title, "text": p.text} for p in passages]))
    run = retriever.search(queries, k=4, view=name)
    ours = torch.tensor([[run[q.id][p.id] for p in passages] for q in queries])
    assert rel(ours, r[f"scores_{name}"]) < 1e-3
    assert rel(ours, r[f"scores_{name}_fp16"]) < 1e-3


def test_real_vocabulary_tokenizer_matched_openai(ref):
    # run_reference.py compared our tokenizer (bpe_simple_vocab_16e6 converted by
    # write_tokenizer_from_bpe) with OpenAI's SimpleTokenizer on inputs/TOKENIZER_STRINGS.
    report = json.loads(ref[1]["real_vocab_tokenizer"])
    assert report["strings"] >= 10 and report["mismatches"] == []
