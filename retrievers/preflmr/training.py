"""PreFLMR / FLMR fine-tuning (the trainer contract of :mod:`harness.training`).

The authors' loss (``FLMRModelForRetrieval.forward`` with ``use_in_batch_negatives``,
``compute_ib_loss_new``) is cross-entropy over the MaxSim scores of each query against every
passage of the batch, without a temperature: the trainer's InfoNCE with ``temperature=1``.
Queries are built as at evaluation (row instruction or the default, ':' -> the mask token;
the authors' example draws one of its instructions at random per query), with the black
image for a query without one; passages drop punctuation. Defaults
(:data:`~retrievers.preflmr.configuration.FINETUNE_DEFAULTS`) are the authors' documented
fine-tuning run; what differs is said there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from harness.errors import MireEvalError
from harness.types import Passage, Query
from retrievers.checkpoint import device_of
from retrievers.options import check_options, option_bool, option_int
from retrievers.preflmr.encoding import PreFLMREncoder
from retrievers.preflmr.loading import load_flmr, save_flmr
from retrievers.preflmr.tokenization import cross_attention_mask


class PreFLMRTrainable(nn.Module):
    """All of FLMR trains but (``freeze_vision``) the CLIP vision encoder."""

    similarity = "maxsim"

    def __init__(self, encoder: PreFLMREncoder, freeze_vision: bool = True):
        super().__init__()
        self.encoder = encoder
        self.model = encoder.model
        self.freeze_vision = freeze_vision
        self.model.train()
        for name, p in self.model.named_parameters():
            p.requires_grad = not (freeze_vision and "_vision_encoder." in name)

    def _device(self) -> torch.device:
        return self.model.context_text_encoder_linear.weight.device

    def collate_queries(self, queries: Sequence[Query]) -> dict[str, torch.Tensor]:
        ids, mask, keep = self.encoder._tokens(self.encoder.texts(queries, "full"))
        return {"input_ids": ids.cpu(), "attention_mask": mask.cpu(), "keep": keep.cpu(),
                "pixel_values": self.encoder._pixels(queries).cpu()}

    def collate_passages(self, passages: Sequence[Passage]) -> dict[str, torch.Tensor]:
        tok = self.encoder.context_tok
        ids, mask = tok.passages([p.contents for p in passages], self.encoder.doc_maxlen)
        return {"input_ids": ids, "attention_mask": mask}

    def embed_queries(self, batch):
        dev = self._device()
        ids = batch["input_ids"].to(dev)
        keep = batch["keep"].to(dev)
        Q, sources = self.model.query(ids, batch["attention_mask"].to(dev), keep,
                                      cross_attention_mask(ids, self.encoder.skip_ids),
                                      batch["pixel_values"].to(dev))            # [B, R, 128]
        visual = torch.ones(ids.size(0), Q.size(1) - ids.size(1), dtype=torch.bool, device=dev)
        rows = torch.cat([keep, visual], dim=1) if (sources == 0).any() else visual
        return Q, rows                                                           # instruction rows masked

    def embed_passages(self, batch):
        dev = self._device()
        ids = batch["input_ids"].to(dev)
        keep = self.encoder.context_tok.token_mask(ids, self.model.config.mask_punctuation)
        return self.model.passage(ids, batch["attention_mask"].to(dev), keep), keep

    def save_checkpoint(self, directory: Path) -> None:
        """The released layout (loading.save_flmr): loads back as ``--checkpoint DIR``."""
        save_flmr(self.encoder.loaded, Path(directory))


def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune",
                    **options) -> PreFLMRTrainable:
    if stage != "finetune":
        raise MireEvalError(f"preflmr: stage {stage!r}: only 'finetune' exists (PreFLMR's pre-training "
                            "stages are not reproduced)")
    check_options("preflmr training", options, {"freeze_vision", "instructions", "query_maxlen", "doc_maxlen"})
    device = device_of(device)
    encoder = PreFLMREncoder(load_flmr(checkpoint), device,
                             instructions=options.get("instructions", "m2kr"),
                             query_maxlen=option_int(options["query_maxlen"], "query_maxlen") if "query_maxlen" in options else None,
                             doc_maxlen=option_int(options["doc_maxlen"], "doc_maxlen") if "doc_maxlen" in options else None)
    return PreFLMRTrainable(encoder, option_bool(options.get("freeze_vision", True), "freeze_vision")).to(device)
