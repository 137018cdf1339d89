"""preflmr: strict loading of the released layout, query text, views, hooks, describe()."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from harness.errors import MireEvalError
from harness.types import Query
from retrievers.hooks import SourcesQueryTokens, TypesQueryTokens
from retrievers.preflmr.configuration import DEFAULT_INSTRUCTION
from retrievers.preflmr.encoding import PreFLMREncoder, black_image, build
from retrievers.preflmr.loading import load_flmr
from retrievers.preflmr.tokenization import query_keep, query_text
from tests.single_thread import one_thread  # noqa: F401


@pytest.fixture(scope="module")
def encoder(preflmr_dir) -> PreFLMREncoder:
    return build(str(preflmr_dir)).encoder


def _copy_with(preflmr_dir, tmp_path, edit) -> str:
    """The tiny checkpoint with its tensors edited by ``edit(dict) -> dict``."""
    target = tmp_path / "ckpt"
    shutil.copytree(preflmr_dir, target)
    tensors = load_file(str(target / "model.safetensors"))
    save_file(edit(tensors), str(target / "model.safetensors"))
    return str(target)


def _state(path) -> dict:
    return {k: v.clone() for k, v in load_flmr(path).model.state_dict().items()}


# ---- strict loading ----------------------------------------------------------------------------
def test_every_released_tensor_is_read_and_every_weight_loaded(preflmr_dir):
    loaded = load_flmr(str(preflmr_dir))
    file = load_file(str(preflmr_dir / "model.safetensors"))
    ours = loaded.model.state_dict()
    k = "query_vision_encoder.vision_model.vision_model.encoder.layers.2.mlp.fc1.weight"
    assert torch.equal(ours["context_vision_encoder.encoder.layers.2.mlp.fc1.weight"], file[k])
    assert loaded.keys.missing == [] and loaded.keys.unexpected == []
    assert len(file) == len(ours)


def test_a_missing_clip_tensor_fails_in_one_line_naming_it(preflmr_dir, tmp_path):
    name = "query_vision_encoder.vision_model.vision_model.pre_layrnorm.weight"
    path = _copy_with(preflmr_dir, tmp_path, lambda t: {k: v for k, v in t.items() if k != name})
    with pytest.raises(MireEvalError, match=r"model\.safetensors: weights: 1 missing keys \(e\.g\. "
                                            r"context_vision_encoder\.pre_layrnorm\.weight\)") as err:
        load_flmr(path)
    assert "\n" not in str(err.value)


def test_a_tensor_left_over_fails(preflmr_dir, tmp_path):
    path = _copy_with(preflmr_dir, tmp_path, lambda t: {**t, "transformer_mapping_extra.weight": torch.zeros(2)})
    with pytest.raises(MireEvalError, match="1 unexpected keys .e.g. transformer_mapping_extra.weight"):
        load_flmr(path)


def test_transformers5_clip_names_and_the_text_model_alias_load_the_same(preflmr_dir, tmp_path):
    def rename(t):
        out = {}
        for k, v in t.items():
            k = k.replace(".vision_model.vision_model.", ".vision_model.")          # transformers-5 CLIP nesting
            k = k.replace("_text_encoder.bert_model.", "_text_encoder.text_model.")  # FLMRTextModel's alias
            out[k] = v
        return out

    assert all(torch.equal(a, b) for a, b in zip(_state(str(preflmr_dir)).values(),
                                                 _state(_copy_with(preflmr_dir, tmp_path, rename)).values()))


def test_tied_modules_under_both_names_must_agree(preflmr_dir, tmp_path):
    def both(t, delta=0.0):
        extra = {"context_" + k[len("query_"):]: v + delta for k, v in t.items() if k.startswith("query_vision_")}
        return {**t, **extra}

    load_flmr(_copy_with(preflmr_dir, tmp_path / "same", both))
    with pytest.raises(MireEvalError, match="differs from .* which name the same module"):
        load_flmr(_copy_with(preflmr_dir, tmp_path / "differ", lambda t: both(t, 1.0)))


def test_a_config_that_is_not_flmr_is_refused(preflmr_dir, tmp_path):
    target = tmp_path / "ckpt"
    shutil.copytree(preflmr_dir, target)
    cfg = json.loads((target / "config.json").read_text())
    cfg["text_config"]["text_encoder_base_model"] = "xlm-roberta-base"
    (target / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MireEvalError, match="text_encoder_base_model: 'xlm-roberta-base' is not supported"):
        load_flmr(str(target))


# ---- query text and the instruction mask --------------------------------------------------------
def test_query_text_is_built_as_the_authors_m2kr_evaluation():
    assert query_text("what?", "Find documents", ":") == "Find documents:  what? "
    assert query_text("what?", "  Use the image: ", "<BOQ>") == "Use the image<BOQ>  what? "
    assert query_text("what?", None, ":") == "what?"


def test_instruction_rows_are_dropped_up_to_the_first_instruction_token():
    # [CLS] [Q] a b : c [SEP] [MASK] [MASK]; ':' has id 5 here
    ids = torch.tensor([[101, 1, 7, 8, 5, 9, 102, 103, 103], [101, 1, 7, 8, 9, 9, 102, 103, 103]])
    keep = query_keep(ids, 5)
    assert keep[0].tolist() == [True, True, False, False, False, True, True, True, True]
    assert keep[1].all()  # no instruction token: everything after [Q] kept (the authors log an error)
    assert query_keep(ids, None, skip_ids=[9])[1].tolist() == [True] * 4 + [False, False] + [True] * 3


def test_rows_without_instruction_get_the_default_and_the_option_turns_it_off(preflmr_dir, image_refs):
    q = Query("q", "who made this?", image_refs[0])
    on = build(str(preflmr_dir)).encoder
    off = build(str(preflmr_dir), instructions="off").encoder
    assert on.texts([q], "full") == [query_text("who made this?", DEFAULT_INSTRUCTION, ":")]
    assert off.texts([q], "full") == ["who made this?"]
    assert on.describe()["options"]["instructions"] == "m2kr" and "default" in on.describe()["query_text"]
    assert off.describe()["query_text"].startswith("question alone")
    with pytest.raises(MireEvalError):
        build(str(preflmr_dir), instructions="sometimes")


# ---- views and hooks --------------------------------------------------------------------------
def test_views_and_row_sources(encoder, image_refs):
    qs = [Query("a", "what is this bird?", image_refs[0], instruction="Find documents:"),
          Query("b", "who built this tower?", image_refs[1])]
    n_visual = encoder.n_mapped + encoder.n_patches
    assert n_visual == 4 + 16
    full, text, image = (encoder.encode_queries(qs, v) for v in ("full", "text", "image"))
    for v, mats in (("full", full), ("text", text), ("image", image)):
        sources = encoder.query_token_sources(qs, v)
        assert [m.shape[0] for m in mats] == [len(s) for s in sources]
        assert [t.sum().item() for t in encoder.query_token_types(qs, v)] == [0 if v == "text" else n_visual] * 2
    assert all(full[i].shape[0] == text[i].shape[0] + n_visual for i in range(2))
    assert torch.allclose(full[0][: text[0].shape[0]], text[0], atol=1e-6)   # text rows do not see the image
    assert all(m.shape[0] == n_visual for m in image)
    assert isinstance(encoder, TypesQueryTokens) and isinstance(encoder, SourcesQueryTokens)
    assert encoder.query_token_sources(qs, "full")[0].tolist()[-20:] == [1] * 4 + [2] * 16
    # the image view reads the instruction alone: the question does not change it
    other = [Query("a", "completely different words", image_refs[0], instruction="Find documents:")]
    assert torch.allclose(encoder.encode_queries(other, "image")[0], image[0], atol=1e-6)
    # ... while the full view's mapping-network rows do depend on the question (the fusion)
    assert not torch.allclose(encoder.encode_queries(other, "full")[0][-16:], full[0][-16:], atol=1e-4)


def test_a_query_without_image_gets_the_authors_black_image(preflmr_dir, encoder):
    from harness.types import BytesImage
    import io

    buf = io.BytesIO()
    black_image().save(buf, format="PNG")
    missing = Query("m", "where is this?", None)
    black = Query("m", "where is this?", BytesImage(buf.getvalue(), "black.png"))
    assert torch.allclose(encoder.encode_queries([missing])[0], encoder.encode_queries([black])[0], atol=1e-6)
    strict = build(str(preflmr_dir), missing_image="error").encoder
    with pytest.raises(MireEvalError, match="query m: image: missing"):
        strict.encode_queries([missing])


def test_describe_records_the_checkpoint_views_and_options(encoder):
    d = encoder.describe()
    assert d["name"] == "preflmr" and d["similarity"] == "maxsim"
    assert set(d["views"]) == {"full", "text", "image"}
    assert d["options"]["mapping_attention"] == "bidirectional"
    assert d["config"]["mask_instruction_token"] == ":" and d["query_maxlen"] == 32
    assert d["query_row_sources"] == ["text tokens", "mapped CLS", "mapping network"]


def test_registered():
    from harness.registry import RETRIEVERS

    assert RETRIEVERS.get("preflmr") is build


# ---- training ----------------------------------------------------------------------------------
def test_the_stages_train_what_the_authors_train(preflmr_dir, image_refs):
    from harness.types import Passage
    from retrievers.preflmr.training import build_trainable

    pre = build_trainable(str(preflmr_dir), stage="pretrain")
    trained = {n for n, p in pre.model.named_parameters() if p.requires_grad}
    assert trained and all(("_vision_projection." in n or "transformer_mapping_" in n) for n in trained)
    qs = [Query("a", "what is this bird?", image_refs[0]), Query("b", "who made this?", None)]
    Q, rows = pre.embed_queries(pre.collate_queries(qs))
    assert Q.shape[1] == rows.shape[1] == 4 + 16 and rows.all()               # visual rows only
    ft = build_trainable(str(preflmr_dir), stage="finetune")
    frozen = {n for n, p in ft.model.named_parameters() if not p.requires_grad}
    assert frozen and all("_vision_encoder." in n for n in frozen)           # freeze_vision (the authors' run)
    Q, rows = ft.embed_queries(ft.collate_queries(qs))
    enc = ft.encoder
    assert [int(r.sum()) for r in rows] == [m.shape[0] for m in enc.encode_queries(qs, "full")]
    D, keep = ft.embed_passages(ft.collate_passages([Passage("p", "", "Paris, France.")]))
    assert int(keep.sum()) == enc.encode_passages([Passage("p", "", "Paris, France.")])[0].shape[0]
    with pytest.raises(MireEvalError, match="colbert_checkpoint and vision_model"):
        build_trainable(None, stage="pretrain")
