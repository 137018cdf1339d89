"""ColBERTv2: tokenisation as the reference, loading, bucketed batching, options."""

from __future__ import annotations

import json
import shutil
import string

import pytest
import torch

from harness.core.errors import MireEvalError
from retrievers import colbert
from retrievers.colbert.modeling import encode_passage_tokens
from tests.helpers.single_thread import one_thread  # noqa: F401

Q_MARKER, D_MARKER, MASK, PAD, CLS, SEP = 1, 2, 103, 0, 101, 102  # bert-base-uncased ids


@pytest.fixture(scope="module")
def tower(colbert_dir):
    return colbert.load_text_tower(str(colbert_dir))


def test_query_tokens_markers_and_mask_augmentation(tower):
    ids, mask = tower.tokenizer.queries(["who made this?"], 12, attend_to_mask=False)
    tokens = tower.tokenizer.tok.convert_ids_to_tokens(ids[0])
    assert tokens[:7] == ["[CLS]", "[unused0]", "who", "made", "this", "?", "[SEP]"]
    assert tokens[7:] == ["[MASK]"] * 5 and PAD not in ids
    assert mask[0].tolist() == [1] * 7 + [0] * 5  # attend_to_mask_tokens=False
    _, mask = tower.tokenizer.queries(["who made this?"], 12, attend_to_mask=True)
    assert mask.all()


def test_query_truncation_keeps_sep(tower):
    ids, _ = tower.tokenizer.queries(["word " * 100], 64, attend_to_mask=False)
    assert ids.shape == (1, 64) and ids[0, -1] == SEP and ids[0, 1] == Q_MARKER


def test_passage_tokens_marker_truncation_and_punctuation(tower):
    ids, mask = tower.tokenizer.passages(["Hello, world!", "x " * 500], 384)
    assert ids.shape[1] == 384 and ids[0, 1] == D_MARKER and ids[1, -1] == SEP
    keep = tower.tokenizer.token_mask(ids, skip_punctuation=True)
    kept = tower.tokenizer.tok.convert_ids_to_tokens(ids[0][keep[0]])
    assert kept == ["[CLS]", "[unused1]", "hello", "world", "[SEP]"]
    assert tower.tokenizer.token_mask(ids, skip_punctuation=False)[0].sum() == mask[0].sum()
    # the skiplist is the first token of every string.punctuation character
    assert len(tower.tokenizer.punctuation_ids) == len(set(string.punctuation))


def test_encoder_outputs(colbert_dir, queries, passages):
    enc = colbert.build(str(colbert_dir))
    Q = enc.encode_queries(queries, "full")
    assert [q.shape for q in Q] == [(64, 128)] * 3  # [MASK] vectors kept (plain ColBERTv2 path)
    assert torch.allclose(Q[0].norm(dim=-1), torch.ones(64), atol=1e-5)
    D = enc.encode_passages(passages)
    ids, _ = enc.tower.tokenizer.passages([p.contents for p in passages], 384)
    expected = enc.tower.tokenizer.token_mask(ids, True).sum(1).tolist()
    assert [d.shape[0] for d in D] == expected and D[2].shape[0] <= 384


def test_bucketed_equals_naive_padding(colbert_dir, passages):
    tower = colbert.load_text_tower(str(colbert_dir))
    texts = [p.contents for p in passages] * 3
    a = encode_passage_tokens(tower, texts, 384, 4, True, "cpu", False, bucketed=True)
    b = encode_passage_tokens(tower, texts, 384, 4, True, "cpu", False, bucketed=False)
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(a, b))
    assert [x.shape for x in a] == [y.shape for y in b]


def test_retriever_search_and_views(colbert_dir, queries, passages):
    from harness.core.types import Corpus
    from harness.index.retriever import EncoderRetriever

    r = EncoderRetriever(colbert.build(str(colbert_dir), query_maxlen=32, doc_maxlen=100))
    r.index(Corpus.from_records([{"_id": p.id, "title": p.title, "text": p.text} for p in passages]))
    run = r.search(queries, 2)
    assert set(run) == {"q1", "q2", "q3"} and all(len(v) == 2 for v in run.values())
    assert r.search(queries, 2, view="image") == {"q1": {}, "q2": {}, "q3": {}}
    meta = r.describe()
    assert meta["options"]["query_maxlen"] == 32 and meta["options"]["doc_maxlen"] == 100
    assert meta["artifact_metadata"]["attend_to_mask_tokens"] is False
    json.dumps(meta)


def test_unknown_option_and_bad_directories(colbert_dir, tmp_path):
    with pytest.raises(MireEvalError, match="unknown option"):
        colbert.build(str(colbert_dir), max_len=3)
    broken = tmp_path / "colbert-broken"
    shutil.copytree(colbert_dir, broken)
    (broken / "artifact.metadata").unlink()
    with pytest.raises(MireEvalError, match="artifact.metadata"):
        colbert.build(str(broken))
    with pytest.raises(MireEvalError, match="no such file"):
        colbert.build(str(tmp_path / "nowhere"))


def test_unexpected_weights_are_reported(colbert_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "colbert-extra"
    shutil.copytree(colbert_dir, bad)
    state = load_file(str(bad / "model.safetensors"))
    state["linear.bias"] = torch.zeros(128)
    del state["bert.encoder.layer.0.output.dense.weight"]
    save_file(state, str(bad / "model.safetensors"))
    with pytest.raises(MireEvalError) as err:
        colbert.build(str(bad))
    msg = str(err.value)
    assert "model.safetensors" in msg and "1 missing" in msg and "1 unexpected" in msg
    assert "\n" not in msg
