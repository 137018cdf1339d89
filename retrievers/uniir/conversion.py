"""The released UniIR CLIP_SF checkpoint -> transformers' ``CLIPModel``, kept apart from the
modeling as transformers keeps its conversion scripts apart.

The released file (``checkpoint/CLIP_SF/clip_sf_large.pth`` of the hub repo
``TIGER-Lab/UniIR``) is UniIR's training checkpoint: ``torch.save({"model": state_dict,
"optimizer", "scheduler", "config", "epoch", "scaler"})`` (``clip_scorefusion/train.py``),
the state dict being ``CLIPScoreFusion``'s, i.e. OpenAI CLIP's key layout (``clip/model.py``)
under ``clip_model.``. It is read by ``torch.load(weights_only=True)`` only
(:func:`retrievers.weights.read_weights`: anything that would unpickle code is refused in one
line). The architecture is read from the tensors' shapes, as OpenAI's ``build_model`` reads it
(heads = width / 64, context length and vocabulary from the embeddings), and every tensor is
renamed onto ``CLIPModel``: OpenAI's fused ``in_proj`` attention weights are split into q, k,
v; ``text_projection`` / ``visual.proj`` ([width, dim], applied as ``x @ P``) become the
transposed weights of bias-free linears. Strict both ways: a file tensor this mapping does not
consume, or a model weight it does not fill, is a one-line error naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from harness.errors import MireEvalError
from retrievers.checkpoint import check_match

PREFIX = "clip_model."  # CLIPScoreFusion keeps OpenAI's CLIP as ``self.clip_model``
# Entries of a TorchScript-era OpenAI state dict that are not weights (build_model drops them).
NOT_WEIGHTS = ("input_resolution", "context_length", "vocab_size")

_LAYER = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
          "attn.out_proj": "self_attn.out_proj"}


def strip_prefix(state: dict, origin: Path | str) -> dict:
    """UniIR's ``clip_model.*`` keys -> OpenAI CLIP's (a bare OpenAI state dict passes as is)."""
    if any(k.startswith(PREFIX) for k in state):
        stray = sorted(k for k in state if not k.startswith(PREFIX))
        if stray:
            raise MireEvalError(f"{origin}: weights: 1 unexpected keys (e.g. {stray[0]}) beside clip_model.*")
        state = {k[len(PREFIX):]: v for k, v in state.items()}
    return {k: v for k, v in state.items() if k not in NOT_WEIGHTS}


def _shape(state: dict, key: str, origin) -> tuple[int, ...]:
    if key not in state:
        raise MireEvalError(f"{origin}: weights: missing {PREFIX}{key} (not a CLIP_SF checkpoint)")
    return tuple(state[key].shape)


def _layers(state: dict, prefix: str) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(found) + 1 if found else 0


def clip_config(state: dict, origin: Path | str, eos_token_id: int, bos_token_id: int):
    """The ``CLIPConfig`` of an OpenAI-layout ViT CLIP state dict, read from the shapes as
    OpenAI's ``clip.model.build_model`` reads them (QuickGELU, LayerNorm eps 1e-5)."""
    from transformers import CLIPConfig

    v_width, _, patch, _ = _shape(state, "visual.conv1.weight", origin)
    grid = round((_shape(state, "visual.positional_embedding", origin)[0] - 1) ** 0.5)
    v_layers = _layers(state, "visual.transformer.resblocks.")
    context, t_width = _shape(state, "positional_embedding", origin)
    vocab = _shape(state, "token_embedding.weight", origin)[0]
    embed_dim = _shape(state, "text_projection", origin)[1]
    t_layers = _layers(state, "transformer.resblocks.")
    if not (0 <= eos_token_id < vocab and 0 <= bos_token_id < vocab):
        raise MireEvalError(f"{origin}: weights: token_embedding has {vocab} rows, the tokenizer's "
                            f"<|endoftext|> is {eos_token_id}: tokenizer and checkpoint do not match")
    common = dict(hidden_act="quick_gelu", layer_norm_eps=1e-5, attention_dropout=0.0)
    return CLIPConfig(
        text_config=dict(vocab_size=vocab, hidden_size=t_width, intermediate_size=4 * t_width,
                         num_hidden_layers=t_layers, num_attention_heads=max(t_width // 64, 1),
                         max_position_embeddings=context, eos_token_id=eos_token_id,
                         bos_token_id=bos_token_id, pad_token_id=eos_token_id, **common),
        vision_config=dict(hidden_size=v_width, intermediate_size=4 * v_width, num_hidden_layers=v_layers,
                           num_attention_heads=max(v_width // 64, 1), image_size=patch * grid,
                           patch_size=patch, **common),
        projection_dim=embed_dim,
    )


def _block(src: str, dst: str, key: str, value: torch.Tensor, out: dict) -> bool:
    """One residual block's tensor (``src`` = ``...resblocks.``, ``dst`` = ``...layers.``)."""
    m = re.match(re.escape(src) + r"(\d+)\.(.+)$", key)
    if not m:
        return False
    layer, rest = f"{dst}{m.group(1)}.", m.group(2)
    for kind in ("weight", "bias"):
        if rest == f"attn.in_proj_{kind}":  # [3 * width, ...] = q; k; v
            q, k, v = value.chunk(3, dim=0)
            out.update({f"{layer}self_attn.{n}_proj.{kind}": t.contiguous() for n, t in zip("qkv", (q, k, v))})
            return True
    for ours_src, ours_dst in _LAYER.items():
        for kind in ("weight", "bias"):
            if rest == f"{ours_src}.{kind}":
                out[f"{layer}{ours_dst}.{kind}"] = value
                return True
    return False


_DIRECT = {
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",  # transformers' spelling
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "logit_scale": "logit_scale",
}
_TRANSPOSED = {"text_projection": "text_projection.weight", "visual.proj": "visual_projection.weight"}


def openai_to_transformers(state: dict) -> tuple[dict, list[str]]:
    """OpenAI CLIP keys -> ``CLIPModel`` keys; returns ``(mapped, unconsumed source keys)``."""
    out: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    for key, value in state.items():
        if key in _DIRECT:
            out[_DIRECT[key]] = value
        elif key in _TRANSPOSED:
            out[_TRANSPOSED[key]] = value.t().contiguous()
        elif not (_block("transformer.resblocks.", "text_model.encoder.layers.", key, value, out)
                  or _block("visual.transformer.resblocks.", "vision_model.encoder.layers.", key, value, out)):
            unused.append(key)
    return out, unused


def load_clip_sf(state: dict, origin: Path | str, eos_token_id: int, bos_token_id: int):
    """A ``CLIPModel`` (fp32, eval mode) holding every weight of UniIR's state dict ``state``.

    Raises a one-line :class:`MireEvalError` naming the first tensor at fault: a file tensor
    not consumed, a model weight not filled, or a shape the architecture does not give."""
    from transformers import CLIPModel

    state = strip_prefix(state, origin)
    config = clip_config(state, origin, eos_token_id, bos_token_id)
    mapped, unused = openai_to_transformers(state)
    model = CLIPModel(config)
    own = model.state_dict()
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted([PREFIX + k for k in unused] + [k for k in mapped if k not in own])
    shapes = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in mapped.items()
              if k in own and tuple(v.shape) != tuple(own[k].shape)]
    check_match(origin, missing, unexpected, shapes)
    model.load_state_dict({k: v.float() for k, v in mapped.items()}, strict=True)
    return model.eval()


def transformers_to_openai(model) -> dict:
    """The inverse mapping (``CLIPModel`` -> OpenAI keys): writes our tiny test checkpoints in
    the released layout, and checks that the mapping is a bijection."""
    direct = {v: k for k, v in _DIRECT.items()}
    transposed = {v: k for k, v in _TRANSPOSED.items()}
    inverse_layer = {v: k for k, v in _LAYER.items()}
    state = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for side, src, dst in (("text_model", "transformer.resblocks.", "text_model.encoder.layers."),
                           ("vision_model", "visual.transformer.resblocks.", "vision_model.encoder.layers.")):
        for i in range(getattr(model.config, side.replace("_model", "_config")).num_hidden_layers):
            p = f"{dst}{i}."
            for kind in ("weight", "bias"):
                out[f"{src}{i}.attn.in_proj_{kind}"] = torch.cat(
                    [state[f"{p}self_attn.{n}_proj.{kind}"] for n in "qkv"], 0)
                for ours, theirs in inverse_layer.items():
                    out[f"{src}{i}.{theirs}.{kind}"] = state[f"{p}{ours}.{kind}"]
    for key, value in state.items():
        if key in direct:
            out[direct[key]] = value
        elif key in transposed:
            out[transposed[key]] = value.t().contiguous()
    return {k: v.detach().clone().contiguous() for k, v in out.items()}
