"""ColBERTv2 fine-tuning on question -> passage pairs (the trainer contract of
:mod:`harness.training.trainer`): the text-only baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from harness.core.errors import MireEvalError
from harness.core.types import Passage, Query
from retrievers.checkpoint import device_of
from retrievers.colbert.configuration import TRAIN_DOC_MAXLEN, TRAIN_QUERY_MAXLEN
from retrievers.colbert.modeling import TextTower, load_text_tower, save_text_tower
from retrievers.options import check_options, option_int


class ColBERTTrainable(nn.Module):
    """ColBERTv2 fine-tuned on question -> passage pairs (text-only baseline).

    Queries keep ColBERT's own convention ([MASK] augmentation, attend_to_mask_tokens from the
    metadata, vectors kept); passages drop punctuation, as ColBERT's training does."""

    similarity = "maxsim"

    def __init__(self, tower: TextTower, query_maxlen: int = TRAIN_QUERY_MAXLEN,
                 doc_maxlen: int = TRAIN_DOC_MAXLEN):
        super().__init__()
        self.tower = tower
        self.model = tower.model
        self.query_maxlen = query_maxlen
        self.doc_maxlen = doc_maxlen
        self.model.train()

    def collate_queries(self, queries: Sequence[Query]) -> dict[str, torch.Tensor]:
        ids, mask = self.tower.tokenizer.queries([q.text for q in queries], self.query_maxlen,
                                                 self.tower.settings.attend_to_mask_tokens)
        return {"input_ids": ids, "attention_mask": mask}

    def collate_passages(self, passages: Sequence[Passage]) -> dict[str, torch.Tensor]:
        ids, mask = self.tower.tokenizer.passages([p.contents for p in passages], self.doc_maxlen)
        return {"input_ids": ids, "attention_mask": mask}

    def _device(self) -> torch.device:
        return self.model.linear.weight.device

    def embed_queries(self, batch):
        ids = batch["input_ids"].to(self._device())
        Q = self.model(ids, batch["attention_mask"].to(ids.device))          # [B, Lq, 128]
        keep = ids != self.tower.tokenizer.pad_id
        return torch.nn.functional.normalize(Q * keep.unsqueeze(-1), p=2, dim=-1), keep

    def embed_passages(self, batch):
        ids = batch["input_ids"].to(self._device())
        D = self.model(ids, batch["attention_mask"].to(ids.device))          # [B, Ld, 128]
        keep = self.tower.tokenizer.token_mask(ids, self.tower.settings.mask_punctuation)
        return torch.nn.functional.normalize(D * keep.unsqueeze(-1), p=2, dim=-1), keep

    def save_checkpoint(self, directory: Path) -> None:
        """The colbert-ir layout: BERT config + tokenizer + artifact.metadata + safetensors."""
        save_text_tower(self.tower, Path(directory))


def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune",
                    **options) -> ColBERTTrainable:
    if stage != "finetune":
        raise MireEvalError(f"colbertv2: stage {stage!r}: only 'finetune' exists for a text-only model")
    check_options("colbertv2 training", options, {"query_maxlen", "doc_maxlen"})
    tower = load_text_tower(checkpoint)
    trainable = ColBERTTrainable(tower, option_int(options.get("query_maxlen", TRAIN_QUERY_MAXLEN), "query_maxlen"),
                                 option_int(options.get("doc_maxlen", TRAIN_DOC_MAXLEN), "doc_maxlen"))
    return trainable.to(device_of(device))
