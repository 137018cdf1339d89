"""The plain ``colbertv2`` retriever: evaluation encoder and its factory."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from harness.core.types import Passage, Query
from retrievers.base import check_view
from retrievers.checkpoint import device_of
from retrievers.colbert.configuration import EVAL_DOC_MAXLEN, EVAL_QUERY_MAXLEN
from retrievers.colbert.modeling import TextTower, encode_passage_tokens, encode_query_tokens, load_text_tower
from retrievers.options import check_options, option_bool, option_int


class ColBERTv2Encoder:
    """The plain ColBERTv2 retriever (the reference's ``Searcher`` without ``--mire_ckpt``)."""

    name = "colbertv2"
    similarity = "maxsim"
    modalities = frozenset({"text"})

    def __init__(self, tower: TextTower, device: str = "cpu", query_maxlen: int = EVAL_QUERY_MAXLEN,
                 doc_maxlen: int = EVAL_DOC_MAXLEN, batch_size: int = 32, amp: bool | None = None,
                 bucketed: bool = True, passage_batch: int = 64):
        self.tower = tower
        self.passage_batch = passage_batch  # the harness' encoding window: passages length-sorted together
        self.device = device
        self.query_maxlen = option_int(query_maxlen, "query_maxlen")
        self.doc_maxlen = option_int(doc_maxlen, "doc_maxlen")
        self.batch_size = option_int(batch_size, "batch_size")
        self.amp = device.startswith("cuda") if amp is None else option_bool(amp, "amp")
        self.bucketed = option_bool(bucketed, "bucketed")
        tower.model.to(device)

    @torch.inference_mode()
    def encode_queries(self, queries: Sequence[Query], view: str = "full") -> list[torch.Tensor]:
        check_view(view)
        return encode_query_tokens(self.tower, [q.text for q in queries], self.query_maxlen,
                                   self.device, self.amp)

    @torch.inference_mode()
    def encode_passages(self, passages: Sequence[Passage]) -> list[torch.Tensor]:
        return encode_passage_tokens(self.tower, [p.contents for p in passages], self.doc_maxlen,
                                     self.batch_size, self.tower.settings.mask_punctuation,
                                     self.device, self.amp, self.bucketed)

    def describe(self) -> dict:
        s = self.tower.settings
        tower = self.tower.describe()
        return {
            "name": self.name, "checkpoint": tower.pop("checkpoint"), "similarity": self.similarity,
            "views": {"full": "question text (the image is not read)", "text": "question text (same as full)",
                      "image": "nothing to search with: empty rankings"},
            "options": {"query_maxlen": self.query_maxlen, "doc_maxlen": self.doc_maxlen,
                        "batch_size": self.batch_size, "amp": self.amp, "bucketed": self.bucketed},
            **tower,
            "passage_punctuation": "skipped" if s.mask_punctuation else "kept",
            "query_mask_tokens": "attended" if s.attend_to_mask_tokens
            else "not attended by BERT, output vectors kept (reference Checkpoint.queryFromText)",
        }


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> ColBERTv2Encoder:
    """``colbertv2`` retriever. Options: query_maxlen (64), doc_maxlen (384), batch_size (32),
    window (passages sorted by length together, 1024), amp (fp16 autocast; default on CUDA)."""
    device = device_of(device)
    window = option_int(options.pop("window", 1024), "window")
    check_options("colbertv2", options, {"query_maxlen", "doc_maxlen", "batch_size", "amp", "bucketed", "window"})
    return ColBERTv2Encoder(load_text_tower(checkpoint), device, passage_batch=window, **options)

