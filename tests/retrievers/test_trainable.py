"""The trainable side: freezing per stage, query layout, CLIP features cached per image."""

from __future__ import annotations

import pytest
import torch

from harness.core.errors import MireEvalError
from retrievers import colbert, mire
from tests.helpers.single_thread import one_thread  # noqa: F401


def _trainable_prefixes(module):
    return {n.split(".")[0] + "." + n.split(".")[1] for n, p in module.named_parameters() if p.requires_grad}


def test_pretrain_freezes_all_but_pooling(mire_dir, queries, passages):
    t = mire.build_trainable(str(mire_dir), stage="pretrain")
    assert _trainable_prefixes(t) == {"model.query_fusion"}
    assert not t.model.vision_tower.training  # frozen tower stays in eval mode
    Q, QM = t.embed_queries(t.collate_queries(queries))
    assert Q.shape == (3, 28, 128) and QM.all()  # visual tokens only
    D, DM = t.embed_passages(t.collate_passages(passages))
    (Q.sum() + D.sum()).backward()
    grads = {n for n, p in t.named_parameters() if p.grad is not None}
    assert grads and all(n.startswith("model.query_fusion.") for n in grads)
    assert t.query_maxlen == 40 and t.doc_maxlen == 400


def test_finetune_trains_text_tower_and_pooling(mire_dir, queries):
    t = mire.build_trainable(str(mire_dir), stage="finetune")
    assert _trainable_prefixes(t) == {"model.colbert", "model.query_fusion"}
    batch = t.collate_queries(queries)
    assert batch["attention_mask"].all()  # training: [MASK] tokens attended (mask = ids != [PAD])
    Q, _ = t.embed_queries(batch)
    assert Q.shape == (3, 28 + 32, 128)
    Q.sum().backward()
    assert t.model.colbert.linear.weight.grad is not None
    assert all(p.grad is None for p in t.model.vision_tower.parameters())


def test_clip_features_computed_once_per_image(mire_dir, queries):
    t = mire.build_trainable(str(mire_dir), stage="pretrain").eval()  # no BERT dropout
    calls = []
    t.model.vision_tower.register_forward_hook(lambda m, i, o: calls.append(i))
    first = t.collate_queries(queries)  # q1 and q3 share an image
    assert first["pixel_values"].shape[0] == 2
    with torch.no_grad():
        a, _ = t.embed_queries(first)
        second = t.collate_queries(queries)
        assert "pixel_values" not in second  # everything cached now
        b, _ = t.embed_queries(second)
    assert len(calls) == 1 and torch.allclose(a, b)


def test_feature_cache_on_disk(mire_dir, queries, tmp_path):
    t = mire.build_trainable(str(mire_dir), stage="pretrain", feature_cache=str(tmp_path / "feats"))
    with torch.no_grad():
        t.embed_queries(t.collate_queries(queries))
    assert len(list((tmp_path / "feats").glob("*.npy"))) == 2
    fresh = mire.build_trainable(str(mire_dir), stage="pretrain", feature_cache=str(tmp_path / "feats"))
    assert "pixel_values" not in fresh.collate_queries(queries)


def test_defaults_follow_the_reference_configs():
    from harness.training.trainer import TrainConfig

    pre = mire.PRETRAIN_DEFAULTS
    assert (pre["temperature"], pre["lr"], pre["warmup"], pre["epochs"], pre["batch_size"]) == (0.3, 1e-4, 300, 5, 128)
    ft = mire.FINETUNE_DEFAULTS
    assert {ft[k]["temperature"] for k in ft} == {0.8}
    assert (ft["okvqa"]["epochs"], ft["remuq"]["epochs"], ft["evqa"]["warmup"]) == (15, 10, 200)
    for table in [pre, *ft.values()]:  # every key is a trainer field or a build_trainable option
        trainer, model = TrainConfig.split_options(table)
        TrainConfig(**trainer).check()
        assert set(model) == {"query_maxlen", "doc_maxlen"}
    from harness.training.launch import training_defaults
    from retrievers.registry import FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS

    # the registry names these tables for mire, and MIRe's fine-tuning table for colbertv2
    assert PRETRAIN_DEFAULTS.get("mire") is pre and FINETUNE_DEFAULTS.get("mire") is ft
    assert FINETUNE_DEFAULTS.get("colbertv2") is ft and training_defaults("colbertv2", "pretrain") == {}
    assert training_defaults("mire", "finetune", "okvqa") is ft["okvqa"]
    assert training_defaults("mire", "finetune", "no-such-task") is ft["*"]


def test_colbert_trainable_and_round_trip(colbert_dir, queries, passages, tmp_path):
    t = colbert.build_trainable(str(colbert_dir), stage="finetune")
    Q, QM = t.embed_queries(t.collate_queries(queries))
    D, DM = t.embed_passages(t.collate_passages(passages))
    assert Q.shape == (3, 32, 128) and QM.all() and D.shape[0] == 4 and DM.dtype == torch.bool
    t.save_checkpoint(tmp_path / "ft")
    a = colbert.build(str(colbert_dir)).encode_passages(passages)
    b = colbert.build(str(tmp_path / "ft")).encode_passages(passages)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(MireEvalError, match="only 'finetune'"):
        colbert.build_trainable(str(colbert_dir), stage="pretrain")


def test_pretraining_from_colbert_and_clip(colbert_dir, mire_dir, queries):
    clip_dir = mire_dir.parent / f"{mire_dir.name}-clip"  # a full CLIPModel directory
    t = mire.build_trainable(None, stage="pretrain", colbert_checkpoint=str(colbert_dir),
                             vision_model=str(clip_dir))
    assert t.loaded.keys.missing == [] and any(k.startswith("text_model.") for k in t.loaded.keys.dropped)
    from safetensors.torch import load_file

    clip = load_file(str(clip_dir / "model.safetensors"))
    ours = t.model.vision_tower.state_dict()
    assert all(torch.equal(clip["vision_model." + k] if "vision_model." + k in clip else clip[k], v)
               for k, v in ours.items())
    ref = colbert.load_text_tower(str(colbert_dir)).model.state_dict()
    assert all(torch.equal(ref[k], v) for k, v in t.model.colbert.state_dict().items())
    assert _trainable_prefixes(t) == {"model.query_fusion"}
    Q, _ = t.embed_queries(t.collate_queries(queries))
    assert Q.shape == (3, 28, 128)
