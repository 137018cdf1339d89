"""A tiny random UniIR CLIP_SF in the released layout, and a tiny CLIP BPE vocabulary.

* ``clip_sf_tiny.pth``: ``torch.save({"model": {"clip_model.<OpenAI CLIP key>": tensor},
  "optimizer", "scheduler", "config" (OmegaConf), "epoch", "scaler"})`` as UniIR's
  ``clip_scorefusion/train.py`` saves it; every weight :func:`tiny.seeded_value` of its OpenAI
  name (so the authors' ``clip.model.build_model`` on the same dict holds the same weights).
  Vision: 224 px, 32 px patches (7 x 7), width 64, 3 layers; text: width 64, 2 layers, context
  77; embedding dimension 32; one attention head each (width / 64, as OpenAI's build_model).
* ``bpe_tiny.txt.gz``: OpenAI's merges format (a header line, then "a b" per line, no final
  newline), merges learnt here from :data:`WORDS`; ``vocab.json`` + ``merges.txt`` beside the
  checkpoint are the same vocabulary for transformers' ``CLIPTokenizer``.

Used by tests/retrievers/test_uniir*.py and docs/equivalence/uniir/run_reference.py.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import torch

from tiny import seeded_value

WORDS = (
    "retrieve a wikipedia paragraph that provides an answer to the given query about the image "
    "what is the name of bird sitting on branch who made this where european robin small eats "
    "insects paris capital france million residents toyota motor corporation japanese car maker "
    "bus which year was built colour red green blue café quotes the and of in on"
)
VISION = dict(width=64, layers=3, patch=32, grid=7)
TEXT = dict(width=64, layers=2, context=77)
EMBED_DIM = 32


def learn_merges(text: str = WORDS, count: int = 200) -> list[tuple[str, str]]:
    """Byte-pair merges learnt greedily from ``text``'s words (ties: the smallest pair)."""
    words = Counter(tuple(w[:-1]) + (w[-1] + "</w>",) for w in text.lower().split())
    merges = []
    for _ in range(count):
        pairs = Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[a, b] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return merges


def write_bpe(path: Path) -> Path:
    """OpenAI's gzipped merges file (no trailing newline: SimpleTokenizer keeps every line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in learn_merges())
    path.write_bytes(gzip.compress(body.encode("utf-8"), mtime=0))
    return path


def vocab_size() -> int:
    return 512 + len(learn_merges()) + 2


def openai_state() -> dict[str, torch.Tensor]:
    """Every tensor of an OpenAI ViT CLIP of the tiny architecture, seeded by its name."""
    v, t, d = VISION, TEXT, EMBED_DIM
    shapes = {
        "positional_embedding": (t["context"], t["width"]), "text_projection": (t["width"], d),
        "logit_scale": (), "token_embedding.weight": (vocab_size(), t["width"]),
        "ln_final.weight": (t["width"],), "ln_final.bias": (t["width"],),
        "visual.class_embedding": (v["width"],), "visual.positional_embedding": (v["grid"] ** 2 + 1, v["width"]),
        "visual.proj": (v["width"], d), "visual.conv1.weight": (v["width"], 3, v["patch"], v["patch"]),
        "visual.ln_pre.weight": (v["width"],), "visual.ln_pre.bias": (v["width"],),
        "visual.ln_post.weight": (v["width"],), "visual.ln_post.bias": (v["width"],),
    }
    for prefix, w, n in (("transformer.resblocks.", t["width"], t["layers"]),
                         ("visual.transformer.resblocks.", v["width"], v["layers"])):
        for i in range(n):
            p = f"{prefix}{i}."
            shapes.update({
                p + "attn.in_proj_weight": (3 * w, w), p + "attn.in_proj_bias": (3 * w,),
                p + "attn.out_proj.weight": (w, w), p + "attn.out_proj.bias": (w,),
                p + "ln_1.weight": (w,), p + "ln_1.bias": (w,), p + "ln_2.weight": (w,), p + "ln_2.bias": (w,),
                p + "mlp.c_fc.weight": (4 * w, w), p + "mlp.c_fc.bias": (4 * w,),
                p + "mlp.c_proj.weight": (w, 4 * w), p + "mlp.c_proj.bias": (w,),
            })
    return {k: seeded_value(k, torch.zeros(s)) for k, s in shapes.items()}


def write_uniir(directory: Path, state: dict | None = None, tokenizer: bool = True) -> Path:
    """``directory/clip_sf_tiny.pth`` in UniIR's training-checkpoint layout (+ the tokenizer)."""
    from omegaconf import OmegaConf

    from retrievers.uniir.processing import write_tokenizer_from_bpe

    directory.mkdir(parents=True, exist_ok=True)
    model = {f"clip_model.{k}": v for k, v in (state if state is not None else openai_state()).items()}
    config = OmegaConf.create({"model": {"name": "CLIPScoreFusion", "short_name": "CLIP_SF", "size": "Tiny",
                                         "clip_vision_model_name": "ViT-tiny"}, "seed": 2023})
    optimizer = {"state": {}, "param_groups": [{"lr": 1e-5, "betas": (0.9, 0.98), "eps": 1e-6,
                                                "weight_decay": 0.2, "params": []}]}
    torch.save({"model": model, "optimizer": optimizer, "scheduler": {"last_epoch": 19},
                "config": config, "epoch": 19, "scaler": {"scale": 65536.0}},
               directory / "clip_sf_tiny.pth")
    if tokenizer:
        write_tokenizer_from_bpe(write_bpe(directory.parent / f"{directory.name}-bpe" / "bpe_tiny.txt.gz"), directory)
    return directory
