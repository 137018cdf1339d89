"""MIRe: loading the authors' layout, token order, the Q1 masking both ways, views, saving."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from harness.errors import MireEvalError
from harness.types import Query
from retrievers import mire
from tests.single_thread import one_thread  # noqa: F401


@pytest.fixture(scope="module")
def encoder(mire_dir):
    return mire.build(str(mire_dir)).encoder


def test_loads_authors_layout_and_records_it(encoder):
    meta = encoder.describe()
    assert meta["weights_file"] == "mire_epoch_4.pth"
    keys = meta["state_dict"]
    assert keys["missing"] == [] and keys["unexpected"] == []
    assert "model. -> colbert." in keys["renamed_prefixes"]
    assert any("position_ids" in k for k in keys["dropped"])
    assert meta["checkpoint_entries"]["config"]["model"]["num_tokens"] == 16
    assert meta["checkpoint_entries"]["epoch"] == 4
    assert meta["weights_reader"].startswith("torch.load(weights_only=True), zip format, inert stand-ins")
    assert meta["options"]["query_mask"] == "reference-eval" and meta["options"]["passage_punctuation"] == "skip"
    json.dumps(meta)


def test_pooling_state_dict_names_and_shapes():
    pool = mire.QueryGuidedAttentivePooling(v_dim=768, num_tokens=16, num_heads=12, out_dim=128)
    shapes = {k: tuple(v.shape) for k, v in pool.state_dict().items()}
    assert shapes == {
        "proj.0.weight": (768,), "proj.0.bias": (768,), "proj.1.weight": (3072, 768),
        "proj.1.bias": (3072,), "k_state.weight": (1536, 3072), "v_state.weight": (1536, 3072),
        "o_proj.0.weight": (128,), "o_proj.0.bias": (128,), "o_proj.1.weight": (128, 128),
        "o_proj.1.bias": (128,), "split_mlp.0.weight": (1024, 768), "split_mlp.0.bias": (1024,),
        "split_mlp.2.weight": (2048, 1024), "split_mlp.2.bias": (2048,),
    }
    assert round(sum(p.numel() for p in pool.parameters()) / 1e6, 2) == 14.70  # authors' count


def test_token_order_and_count(encoder, queries):
    ids, mask = encoder._tokens([q.text for q in queries])
    n_valid = mask.sum(1).tolist()
    Q = encoder.encode_queries(queries, "full")
    assert [q.shape[0] for q in Q] == [28 + n for n in n_valid]
    with torch.inference_mode():
        feats = encoder._features(queries)
        text = encoder.model.text_tokens(ids, mask)
        E_g = encoder.model.query_fusion.global_tokens(feats)
    # first 16 = E_g, then 12 E_m, then the valid text tokens in order
    assert torch.allclose(Q[0][:16], F.normalize(E_g[0], dim=-1), atol=1e-6)
    assert torch.allclose(Q[0][28:], F.normalize(text[0][mask[0].bool()], dim=-1), atol=1e-6)
    # the same image (q1, q3) gives the same global tokens; a different question changes E_m
    assert torch.allclose(Q[0][:16], Q[2][:16], atol=1e-6)
    assert not torch.allclose(Q[0][16:28], Q[2][16:28], atol=1e-3)


def _manual_guided_tokens(pool, t, v, m):
    """The authors' pooling written out per head, with loops over valid/invalid rows."""
    P = v.shape[1] - 1
    patches = pool.proj(v[:, 1:])
    K = pool.k_state(patches).view(1, P, pool.num_heads, pool.out_dim)[0]   # [P, H, D]
    V = pool.v_state(patches).view(1, P, pool.num_heads, pool.out_dim)[0]
    n_valid = int(m.sum())
    heads = []
    for h in range(pool.num_heads):
        acc = torch.zeros(pool.out_dim)
        for i in range(t.shape[1]):
            if m[0, i]:
                a = torch.softmax(K[:, h] @ t[0, i] / math.sqrt(pool.out_dim), dim=0)
                acc += a @ V[:, h]
            else:
                acc += V[:, h].mean(0)  # all -9999 -> uniform attention (quirk Q1)
        heads.append(acc / n_valid)
    return pool.o_proj(torch.stack(heads))


@pytest.mark.parametrize("mode", ["reference-eval", "training"])
def test_q1_masking_both_ways(mire_dir, queries, mode):
    enc = mire.build(str(mire_dir), query_mask=mode).encoder
    ids, mask = enc._tokens([queries[1].text])
    assert bool(mask.all()) == (mode == "training")
    with torch.inference_mode():
        feats = enc._features(queries[1:2])
        t = enc.model.text_tokens(ids, mask)
        got = enc.model.query_fusion.guided_tokens(t, feats, mask)[0]
        want = _manual_guided_tokens(enc.model.query_fusion, t, feats, mask)
    assert torch.allclose(got, want, atol=1e-5)
    Q = enc.encode_queries(queries[1:2], "full")[0]
    assert Q.shape[0] == 28 + (64 if mode == "training" else int(mask.sum()))
    assert enc.describe()["options"]["query_mask"] == mode


def test_views(encoder, queries):
    _, mask = encoder._tokens([q.text for q in queries])
    full = encoder.encode_queries(queries, "full")
    text = encoder.encode_queries(queries, "text")
    image = encoder.encode_queries(queries, "image")
    assert [t.shape[0] for t in text] == mask.sum(1).tolist()
    assert all(torch.allclose(t, f[28:], atol=1e-6) for t, f in zip(text, full))
    assert all(torch.allclose(i, f[:28], atol=1e-6) for i, f in zip(image, full))
    no_image = [Query("t", "a question with no image")]
    assert encoder.encode_queries(no_image, "text")[0].shape[0] > 0
    with pytest.raises(MireEvalError, match="query t: image: missing"):
        encoder.encode_queries(no_image, "full")


def test_image_view_with_empty_guidance(mire_dir, queries):
    enc = mire.build(str(mire_dir), image_view_guidance="empty").encoder
    a, b = enc.encode_queries([queries[0], queries[2]], "image")  # same image, other questions
    assert torch.allclose(a, b, atol=1e-6)
    assert "empty question" in enc.describe()["views"]["image"]


def test_passage_punctuation_option(mire_dir, passages):
    skip = mire.build(str(mire_dir)).encoder.encode_passages(passages)
    keep = mire.build(str(mire_dir), passage_punctuation="keep").encoder.encode_passages(passages)
    assert keep[1].shape[0] > skip[1].shape[0]  # "(", ")", ".", "!" kept
    assert keep[3].shape[0] == skip[3].shape[0] + 1  # "Bus." keeps its "."
    with pytest.raises(MireEvalError, match="passage_punctuation"):
        mire.build(str(mire_dir), passage_punctuation="maybe")


def test_save_and_reload_round_trip(mire_dir, tmp_path, queries, passages):
    t = mire.build_trainable(str(mire_dir), stage="finetune")
    t.save_checkpoint(tmp_path / "ours")
    names = {p.name for p in (tmp_path / "ours").iterdir()}
    assert {"model.safetensors", "config.json", "vision_config.json", "artifact.metadata",
            "preprocessor_config.json"} <= names
    assert json.loads((tmp_path / "ours" / "config.json").read_text())["num_heads"] == 12
    a, b = mire.build(str(mire_dir)).encoder, mire.build(str(tmp_path / "ours")).encoder
    for x, y in zip(a.encode_queries(queries), b.encode_queries(queries)):
        assert torch.equal(x, y)
    for x, y in zip(a.encode_passages(passages), b.encode_passages(passages)):
        assert torch.equal(x, y)
    assert b.describe()["state_dict"]["dropped"] == []
    again = mire.build_trainable(str(tmp_path / "ours"), stage="pretrain")
    assert again.stage == "pretrain"


def test_missing_config_field_and_epoch_files(mire_dir, tmp_path):
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(mire_dir, d)
    shutil.copy(d / "mire_epoch_4.pth", d / "mire_epoch_3.pth")
    assert mire.build(str(d)).describe()["weights_file"] == "mire_epoch_4.pth"  # the highest epoch
    assert mire.build(str(d), weights_file="mire_epoch_3.pth").describe()["weights_file"] == "mire_epoch_3.pth"
    shutil.copy(d / "mire_epoch_4.pth", d / "best.pth")  # not an epoch file: no rule picks among these
    with pytest.raises(MireEvalError, match=r"several weights files \(best.pth, mire_epoch_3.pth, mire_epoch_4.pth\); "
                                            r"name one with -o weights_file=NAME"):
        mire.build(str(d))
    assert mire.build(str(d / "mire_epoch_3.pth")).describe()["weights_file"] == "mire_epoch_3.pth"
    cfg = json.loads((d / "config.json").read_text())
    del cfg["num_heads"]
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MireEvalError, match="num_heads: missing"):
        mire.build(str(d / "mire_epoch_3.pth"))
