"""MIRe training: the Trainable for harness/training/trainer.py, CLIP features cached per image.

Stage ``pretrain`` (alignment): only the pooling module trains, the query is the 28 visual
tokens; ``finetune``: BERT + linear + pooling train, the query is visual + text tokens. CLIP
is frozen in both. Tokenisation as the reference's training datasets (dataset/base.py):
queries padded with [MASK] to query_maxlen and all attended (mask = ids != [PAD]); passages
padded with [PAD], output mask = not [PAD] and not punctuation. Embeddings equal the
reference's ``MIRe.encode_query`` / ``encode_document`` (tests/retrievers/test_reference_equivalence.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness.core.errors import MireEvalError
from harness.core.types import Passage, Query
from retrievers.checkpoint import device_of
from retrievers.mire.configuration import FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS, VISION_MODELS
from retrievers.mire.conversion import LoadedMIRe, fresh_mire, load_mire, save_mire
from retrievers.mire.encoding import load_pixels, require_images
from retrievers.options import check_options, option_int


class FeatureCache:
    """CLIP features computed once per image key (frozen tower => they never change).

    In memory, or as ``<sha1(key)>.npy`` files under ``directory`` (the reference caches
    ``.npy`` next to each image for pre-training)."""

    def __init__(self, directory: str | Path | None = None):
        self.memory: dict[str, torch.Tensor] = {}
        self.directory = Path(directory) if directory else None
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)

    def _file(self, key: str) -> Path:
        return self.directory / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"

    def __contains__(self, key: str) -> bool:
        return key in self.memory or (self.directory is not None and self._file(key).is_file())

    def get(self, key: str) -> torch.Tensor:
        if key not in self.memory and self.directory is not None:
            import numpy as np

            return torch.from_numpy(np.load(self._file(key)))
        return self.memory[key]

    def put(self, key: str, value: torch.Tensor) -> None:
        value = value.detach().float().cpu()
        if self.directory is not None:
            import numpy as np

            np.save(self._file(key), value.numpy())
        else:
            self.memory[key] = value


class MIReTrainable(nn.Module):
    """MIRe for pre-training (stage "pretrain": only the pooling module trains, query = visual
    tokens) or fine-tuning ("finetune": BERT + linear + pooling train, query = visual + text).
    CLIP is frozen in both; its features are cached per image key.

    Tokenisation as the reference's training datasets: queries padded with [MASK] to
    query_maxlen and all attended (mask = ids != [PAD]); passages padded with [PAD], output
    mask = not [PAD] and not punctuation."""

    similarity = "maxsim"

    def __init__(self, loaded: LoadedMIRe, stage: str, query_maxlen: int, doc_maxlen: int,
                 feature_cache: str | None = None):
        super().__init__()
        if stage not in ("pretrain", "finetune"):
            raise MireEvalError(f"mire: stage {stage!r}; known: pretrain, finetune")
        self.loaded = loaded
        self.model = loaded.model
        self.stage = stage
        self.model.config.pretraining = stage == "pretrain"
        self.query_maxlen, self.doc_maxlen = query_maxlen, doc_maxlen
        self.model.requires_grad_(True)
        self.model.vision_tower.requires_grad_(False)
        self.model.colbert.requires_grad_(stage == "finetune")
        self.cache = FeatureCache(feature_cache)
        self._key_ids: dict[str, int] = {}
        self._keys: list[str] = []
        self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.vision_tower.eval()  # frozen: no dropout, always inference behaviour
        return self

    def _key_id(self, key: str) -> int:
        if key not in self._key_ids:
            self._key_ids[key] = len(self._keys)
            self._keys.append(key)
        return self._key_ids[key]

    def collate_queries(self, queries: Sequence[Query]) -> dict[str, torch.Tensor]:
        require_images(queries)
        ids, mask = self.loaded.tokenizer.queries([q.text for q in queries], self.query_maxlen,
                                                  attend_to_mask=True)
        image_ids = torch.tensor([self._key_id(q.image.key) for q in queries], dtype=torch.long)
        todo = {}
        for q in queries:
            if q.image.key not in self.cache and q.image.key not in todo:
                todo[q.image.key] = q
        batch = {"input_ids": ids, "attention_mask": mask, "image_ids": image_ids}
        if todo:
            batch["pixel_values"] = load_pixels(self.loaded.processor, list(todo.values()))
            batch["pixel_image_ids"] = torch.tensor([self._key_id(k) for k in todo], dtype=torch.long)
        return batch

    def collate_passages(self, passages: Sequence[Passage]) -> dict[str, torch.Tensor]:
        ids, mask = self.loaded.tokenizer.passages([p.contents for p in passages], self.doc_maxlen)
        return {"input_ids": ids, "attention_mask": mask}

    def _device(self) -> torch.device:
        return self.model.colbert.linear.weight.device

    def _features(self, batch) -> torch.Tensor:
        device = self._device()
        if "pixel_values" in batch:
            feats = self.model.image_features(batch["pixel_values"].to(device))  # [n, 1 + P, Dv]
            for key_id, f in zip(batch["pixel_image_ids"].tolist(), feats):
                self.cache.put(self._keys[key_id], f)
        return torch.stack([self.cache.get(self._keys[i]) for i in batch["image_ids"].tolist()]).to(device)

    def embed_queries(self, batch):
        ids = batch["input_ids"].to(self._device())
        mask = batch["attention_mask"].to(ids.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.stage == "finetune"):
            text = self.model.text_tokens(ids, mask)                     # [B, L, D]; frozen in pretrain
        feats = self._features(batch)                                   # [B, 1 + P, Dv]
        visual = self.model.query_fusion(text, feats.to(text.dtype), mask)  # [B, 28, D]
        tokens = visual if self.stage == "pretrain" else torch.cat([visual, text], dim=1)
        Q = F.normalize(tokens, p=2, dim=2)                              # [B, 28 (+ L), D]
        return Q, torch.ones(Q.shape[:2], dtype=torch.bool, device=Q.device)

    def embed_passages(self, batch):
        ids = batch["input_ids"].to(self._device())
        keep = self.loaded.tokenizer.token_mask(ids, skip_punctuation=True)   # [B, Ld]
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.stage == "finetune"):
            D = self.model.passage_tokens(ids, batch["attention_mask"].to(ids.device), keep)  # [B, Ld, D]
        return D, keep

    def save_checkpoint(self, directory: Path) -> None:
        save_mire(self.loaded, Path(directory))


_TRAINABLE_OPTIONS = {"query_maxlen", "doc_maxlen", "feature_cache", "colbert_checkpoint",
                      "vision_model", "num_tokens", "num_heads"}


def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune",
                    **options) -> MIReTrainable:
    """Pre-training starts from ColBERTv2 + CLIP (options colbert_checkpoint, vision_model,
    num_tokens, num_heads) unless a checkpoint is given; fine-tuning from Y-J-Ju/MIRe_base_pt
    by default. Options query_maxlen / doc_maxlen (40/400 pre-train, 32/180 fine-tune),
    feature_cache (a directory for .npy CLIP features; default in memory)."""
    check_options("mire training", options, _TRAINABLE_OPTIONS)
    defaults = PRETRAIN_DEFAULTS if stage == "pretrain" else FINETUNE_DEFAULTS["*"]
    if checkpoint is None and stage == "pretrain":
        vision = options.get("vision_model", VISION_MODELS["base"])
        loaded = fresh_mire(options.get("colbert_checkpoint"), VISION_MODELS.get(vision, vision),
                            option_int(options.get("num_tokens", 16), "num_tokens"), option_int(options.get("num_heads", 12), "num_heads"))
    else:
        loaded = load_mire(checkpoint)
    trainable = MIReTrainable(loaded, stage, option_int(options.get("query_maxlen", defaults["query_maxlen"]), "query_maxlen"),
                              option_int(options.get("doc_maxlen", defaults["doc_maxlen"]), "doc_maxlen"),
                              options.get("feature_cache"))
    return trainable.to(device_of(device))

