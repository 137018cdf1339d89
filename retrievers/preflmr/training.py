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


MAPPING = ("_vision_projection.", "transformer_mapping_")


class PreFLMRTrainable(nn.Module):
    """``finetune``: all of FLMR trains but (``freeze_vision``) the CLIP vision encoder.
    ``pretrain`` (PreFLMR's first stage, as its authors describe it in FLMR issue #30): only the
    mapping structure (mapping MLP, transformer mapping network) trains, the text encoders and
    ViT frozen, and the query is its visual rows alone."""

    similarity = "maxsim"

    def __init__(self, encoder: PreFLMREncoder, freeze_vision: bool = True, stage: str = "finetune"):
        super().__init__()
        self.encoder = encoder
        self.model = encoder.model
        self.freeze_vision = freeze_vision
        self.stage = stage
        self.model.train()
        for name, p in self.model.named_parameters():
            if stage == "pretrain":
                p.requires_grad = any(m in name for m in MAPPING)
            else:
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
                                      batch["pixel_values"].to(dev),
                                      with_text=self.stage == "finetune")      # [B, R, 128]
        n_text = int((sources == 0).sum())                                        # Lq, or 0 (pretrain)
        visual = torch.ones(ids.size(0), Q.size(1) - n_text, dtype=torch.bool, device=dev)
        rows = torch.cat([keep, visual], dim=1) if n_text else visual
        return Q, rows                                                           # [B, R]: instruction rows masked

    def embed_passages(self, batch):
        dev = self._device()
        ids = batch["input_ids"].to(dev)
        keep = self.encoder.context_tok.token_mask(ids, self.model.config.mask_punctuation)
        return self.model.passage(ids, batch["attention_mask"].to(dev), keep), keep

    def save_checkpoint(self, directory: Path) -> None:
        """The released layout (loading.save_flmr): loads back as ``--checkpoint DIR``."""
        save_flmr(self.encoder.loaded, Path(directory))


_OPTIONS = {"freeze_vision", "instructions", "query_maxlen", "doc_maxlen", "colbert_checkpoint",
            "vision_model", "prefix_length", "mapping_layers"}


def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune",
                    **options) -> PreFLMRTrainable:
    """``finetune`` from a released (or saved) checkpoint, default PreFLMR_ViT-L; ``pretrain``
    from a checkpoint, or (none given) from ``colbert_checkpoint`` + ``vision_model``
    (:func:`~retrievers.preflmr.fresh.fresh_flmr`; ``prefix_length`` 32, ``mapping_layers`` 1)."""
    if stage not in ("finetune", "pretrain"):
        raise MireEvalError(f"preflmr: stage {stage!r}: known: finetune, pretrain")
    check_options("preflmr training", options, _OPTIONS)
    device = device_of(device)
    if stage == "pretrain" and checkpoint is None:
        from retrievers.preflmr.fresh import fresh_flmr

        if "colbert_checkpoint" not in options or "vision_model" not in options:
            raise MireEvalError("preflmr pretrain: give a --checkpoint, or the options colbert_checkpoint "
                                "and vision_model to start from")
        loaded = fresh_flmr(options["colbert_checkpoint"], options["vision_model"],
                            option_int(options.get("prefix_length", 32), "prefix_length"),
                            option_int(options.get("mapping_layers", 1), "mapping_layers"))
    else:
        loaded = load_flmr(checkpoint)
    encoder = PreFLMREncoder(loaded, device,
                             instructions=options.get("instructions", "m2kr"),
                             query_maxlen=option_int(options["query_maxlen"], "query_maxlen") if "query_maxlen" in options else None,
                             doc_maxlen=option_int(options["doc_maxlen"], "doc_maxlen") if "doc_maxlen" in options else None)
    return PreFLMRTrainable(encoder, option_bool(options.get("freeze_vision", True), "freeze_vision"),
                            stage).to(device)
