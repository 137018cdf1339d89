"""Our colbertv2 / mire against values the MIRe authors' code produced on the same weights.

Provenance of ``data/mire_reference_c0f9966.safetensors`` (its metadata says the same): the
authors' repository github.com/yeongjoonJu/MIRe at c0f9966 was run on CPU in fp32
(transformers 5.23.0, torch 2.13.0; absent optional imports stubbed, HF_ColBERT given the
post_init() call transformers 5 requires) by docs/equivalence/run_reference.py, on tiny
weights that tiny.py derives from each weight's name (``seeded_value``): the same ColBERT
directory as ``tiny.write_colbert`` and the same MIRe weights as ``tiny.write_mire_authors``.
Paths compared: ``Checkpoint.queryFromText``/``docFromText`` (plain ColBERTv2 evaluation),
``XknowCheckpoint.queryFromText``/``docFromText`` (MIRe evaluation, passages with punctuation
kept), ``ColBERT.doc`` with the MIRe weights (punctuation skipped), ``colbert_score``, and the
training path (dataset/base.py tokenisation, ``MIRe.encode_query``/``forward`` loss) in eval
mode. The file keeps the first 8 of 128 dimensions of each query embedding and every score.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.index.exact import maxsim_scores
from harness.core.types import FileImage, Passage, Query
from retrievers import colbert, mire
from tests.helpers.single_thread import one_thread  # noqa: F401
from tests.helpers.reference import read_fixture, saved_images
from tests.helpers.tensors import padded

FIXTURE = Path(__file__).parent / "data" / "mire_reference_c0f9966.safetensors"
TOL = 1e-4


@pytest.fixture(scope="module")
def ref():
    return read_fixture(FIXTURE)


@pytest.fixture(scope="module")
def inputs(ref, tmp_path_factory):
    meta = ref[1]
    d = tmp_path_factory.mktemp("ref-images")
    paths = saved_images(d)
    texts = json.loads(meta["queries"])
    images = [paths[0], paths[1], paths[2], paths[0]]
    queries = [Query(f"q{i}", t, FileImage(p)) for i, (t, p) in enumerate(zip(texts, images))]
    passages = [Passage(f"p{i}", "", t) for i, t in enumerate(json.loads(meta["docs"]))]
    return queries, passages


def _scores(qs, ds):
    return maxsim_scores(*padded(qs), *padded(ds))


def test_colbertv2_matches_reference(ref, inputs, colbert_dir):
    r, _ = ref
    queries, passages = inputs
    enc = colbert.build(str(colbert_dir))
    Q, D = enc.encode_queries(queries, "full"), enc.encode_passages(passages)
    assert (torch.stack(Q)[..., :8] - r["colbert_Q8"]).abs().max() < TOL
    assert [d.shape[0] for d in D] == r["colbert_doclens"].tolist()
    assert (_scores(Q, D) - r["colbert_scores"]).abs().max() < TOL


@pytest.mark.parametrize("punctuation", ["keep", "skip"])
def test_mire_evaluation_matches_reference(ref, inputs, mire_dir, punctuation):
    r, _ = ref
    queries, passages = inputs
    enc = mire.build(str(mire_dir), passage_punctuation=punctuation)
    Q, D = enc.encode_queries(queries, "full"), enc.encode_passages(passages)
    mask = r["mire_Q_mask"].bool()
    for i, q in enumerate(Q):
        keep = torch.cat([torch.ones(28, dtype=torch.bool), mask[i]])
        assert (q[:, :8] - r["mire_Q8"][i][keep]).abs().max() < TOL
        assert r["mire_Q8"][i][~keep].abs().sum() == 0  # the rows we drop are zero there
    if punctuation == "keep":
        assert [d.shape[0] for d in D] == r["mire_doclens_keep"].tolist()
    assert (_scores(Q, D) - r[f"mire_scores_{punctuation}"]).abs().max() < TOL


@pytest.mark.parametrize("stage", ["pretrain", "finetune"])
def test_mire_training_embeddings_match_reference(ref, inputs, mire_dir, stage):
    r, _ = ref
    queries, passages = inputs
    t = mire.build_trainable(str(mire_dir), stage=stage).eval()
    with torch.no_grad():
        Q, QM = t.embed_queries(t.collate_queries(queries))
        D, DM = t.embed_passages(t.collate_passages(passages[:4]))
    assert Q.shape[1] == (28 if stage == "pretrain" else 28 + 32)
    assert (Q[..., :8] - r[f"train_{stage}_Q8"]).abs().max() < TOL
    tau = 0.3 if stage == "pretrain" else 1.0  # the reference model in eval mode
    loss = torch.nn.functional.cross_entropy(maxsim_scores(Q, QM, D, DM) / tau, torch.arange(4))
    assert abs(float(loss) - float(r[f"train_{stage}_loss"])) < TOL
