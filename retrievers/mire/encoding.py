"""MIRe at evaluation (the reference's XknowSearcher / XknowCheckpoint): the Encoder the
harness uses, and the ``mire`` retriever's factory.

The quirks of the reference kept, as named options (docs/reproducibility.md):

* Q1 ``query_mask="reference-eval"`` (default): the reference evaluation tokenises queries with
  ColBERT's QueryTokenizer, so the [MASK] augmentation positions have mask 0: BERT does not
  attend to them, their E_t rows are zero (dropped here: a zero row adds 0 to every MaxSim
  score), and in the pooling their all-masked score rows softmax to uniform weights, adding
  ``(Lq - n_valid) * mean_P(V)`` to the sum that is divided by ``n_valid``.
  ``query_mask="training"`` is the training-time behaviour (mask all ones: [MASK] attended,
  kept and pooled like words).
* Q3 ``passage_punctuation="skip"`` is the plain ColBERTv2 index the reference builds for the
  zero-shot OK-VQA-GS, OK-VQA-WK11M and ReMuQ runs; ``"keep"`` is its MIRe indexer
  (``--mire_ckpt``, attention mask only), used for E-VQA zero-shot and every fine-tuned model.
  The encoder's own default is ``skip``; a run gets the reference's choice for its task and
  setting (:func:`retrievers.mire.configuration.reference_options`) unless ``-o`` names one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from harness.errors import MireEvalError
from harness.types import Passage, Query
from retrievers.base import EncoderRetriever, check_view
from retrievers.checkpoint import device_of
from retrievers.colbert.configuration import EVAL_DOC_MAXLEN, EVAL_QUERY_MAXLEN
from retrievers.colbert.modeling import TextTower, encode_passage_tokens
from retrievers.mire.configuration import IMAGE_VIEW_GUIDANCE, PUNCTUATION, QUERY_MASKS
from retrievers.mire.conversion import LoadedMIRe, load_mire
from retrievers.options import check_options, option_bool, option_int


def load_pixels(processor, queries: Sequence[Query]) -> torch.Tensor:
    images = [q.image.load() for q in queries]
    return processor(images=images, return_tensors="pt")["pixel_values"]   # [n, 3, H, W]


def require_images(queries: Sequence[Query]) -> None:
    for q in queries:
        if q.image is None:
            raise MireEvalError(f"query {q.id}: image: missing; mire reads the image "
                                "(use --view text to search with the question alone)")




class MIReEncoder:
    """MIRe at evaluation (the reference's XknowSearcher / XknowCheckpoint)."""

    name = "mire"
    similarity = "maxsim"
    modalities = frozenset({"text", "image"})

    def __init__(self, loaded: LoadedMIRe, device: str = "cpu", query_maxlen: int = EVAL_QUERY_MAXLEN,
                 doc_maxlen: int = EVAL_DOC_MAXLEN, query_mask: str = "reference-eval",
                 passage_punctuation: str = "skip", image_view_guidance: str = "question",
                 batch_size: int = 32, amp: bool | None = None, bucketed: bool = True):
        for value, allowed, option in ((query_mask, QUERY_MASKS, "query_mask"),
                                       (passage_punctuation, PUNCTUATION, "passage_punctuation"),
                                       (image_view_guidance, IMAGE_VIEW_GUIDANCE, "image_view_guidance")):
            if value not in allowed:
                raise MireEvalError(f"mire: option {option}={value!r}; known: {', '.join(allowed)}")
        self.loaded = loaded
        self.model = loaded.model.to(device).eval()
        self.device = device
        self.query_maxlen, self.doc_maxlen = option_int(query_maxlen, "query_maxlen"), option_int(doc_maxlen, "doc_maxlen")
        self.query_mask = query_mask
        self.passage_punctuation = passage_punctuation
        self.image_view_guidance = image_view_guidance
        self.batch_size = option_int(batch_size, "batch_size")
        self.amp = device.startswith("cuda") if amp is None else option_bool(amp, "amp")
        self.bucketed = option_bool(bucketed, "bucketed")
        self.text = TextTower(self.model.colbert, loaded.tokenizer, loaded.settings,
                              loaded.source, loaded.weights, loaded.keys)

    def _tokens(self, texts: Sequence[str]):
        ids, mask = self.loaded.tokenizer.queries(
            texts, self.query_maxlen, attend_to_mask=self.query_mask == "training")
        return ids.to(self.device), mask.to(self.device)

    def _features(self, queries: Sequence[Query]) -> torch.Tensor:
        """CLIP features per query, each distinct image encoded once: [B, 1 + P, Dv]."""
        require_images(queries)
        first: dict[str, int] = {}
        for q in queries:
            first.setdefault(q.image.key, len(first))
        unique = {}
        for q in queries:
            unique.setdefault(q.image.key, q)
        pixels = load_pixels(self.loaded.processor, list(unique.values())).to(self.device)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            feats = self.model.image_features(pixels).float()           # [n_unique, 1 + P, Dv]
        return feats[torch.tensor([first[q.image.key] for q in queries], device=self.device)]

    @torch.inference_mode()
    def encode_queries(self, queries: Sequence[Query], view: str = "full") -> list[torch.Tensor]:
        check_view(view)
        n_visual = self.model.config.num_tokens + self.model.config.num_heads
        guidance = ["" if view == "image" and self.image_view_guidance == "empty" else q.text
                    for q in queries]
        ids, mask = self._tokens(guidance)                               # [B, Lq]
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            if view == "text":
                Q = F.normalize(self.model.text_tokens(ids, mask).float(), p=2, dim=2)  # [B, Lq, D]
                keep = mask.bool()
            else:
                Q = self.model.query(ids, mask, self._features(queries),
                                     visual_only=view == "image").float()  # [B, 28 (+ Lq), D]
                visual = torch.ones(len(queries), n_visual, dtype=torch.bool, device=self.device)
                keep = visual if view == "image" else torch.cat([visual, mask.bool()], dim=1)
        # Rows with mask 0 are zero vectors: they add exactly 0 to any MaxSim score.
        return [Q[i][keep[i]] for i in range(len(queries))]

    @property
    def visual_query_tokens(self) -> int:
        """E_g + E_m rows lead every query matrix that keeps the image (read by the probe to
        split MaxSim scores into text and visual parts, harness/attribution.py)."""
        return self.model.config.num_tokens + self.model.config.num_heads

    @torch.inference_mode()
    def pooling_attention(self, queries: Sequence[Query]) -> torch.Tensor:
        """Each pooling head's attention over the image patches, averaged over the question's
        valid (attended) tokens: [B, heads, P], rows summing to 1 (drawn by ``mire-eval plot``)."""
        ids, mask = self._tokens([q.text for q in queries])               # [B, Lq]
        text = self.model.text_tokens(ids, mask)                          # [B, Lq, D]
        _, attention = self.model.query_fusion.guided_tokens(
            text, self._features(queries).to(text.dtype), mask, return_attention=True)  # [B, H, Lq, P]
        valid = mask.to(attention.dtype)[:, None, :, None]                # [B, 1, Lq, 1]
        return (attention * valid).sum(dim=2) / valid.sum(dim=2).clamp(min=1)  # [B, H, P]

    @torch.inference_mode()
    def encode_passages(self, passages: Sequence[Passage]) -> list[torch.Tensor]:
        return encode_passage_tokens(self.text, [p.contents for p in passages], self.doc_maxlen,
                                     self.batch_size, self.passage_punctuation == "skip",
                                     self.device, self.amp, self.bucketed)

    def describe(self) -> dict:
        c = self.model.config
        loaded = self.loaded.describe()
        return {
            "name": self.name, "checkpoint": loaded.pop("checkpoint"), "similarity": self.similarity,
            "views": {
                "full": "[E_g; E_m; E_t]",
                "text": "E_t only (visual tokens dropped, no image read)",
                "image": "[E_g; E_m] only (text tokens dropped); E_m guided by "
                         + ("the question" if self.image_view_guidance == "question"
                            else "an empty question"),
            },
            "options": {"query_maxlen": self.query_maxlen, "doc_maxlen": self.doc_maxlen,
                        "query_mask": self.query_mask, "passage_punctuation": self.passage_punctuation,
                        "image_view_guidance": self.image_view_guidance, "batch_size": self.batch_size,
                        "amp": self.amp, "bucketed": self.bucketed},
            **loaded,
            "query_mask_meaning": (
                "reference evaluation (quirk Q1): [MASK] positions not attended, their text "
                "rows zero (dropped), pooled as uniform attention and divided by the valid count"
                if self.query_mask == "reference-eval" else
                "training-consistent: [MASK] positions attended, kept and pooled"),
            "query_tokens": f"{c.num_tokens} E_g + {c.num_heads} E_m + text tokens",
        }


_BUILD_OPTIONS = {"query_maxlen", "doc_maxlen", "query_mask", "passage_punctuation",
                  "image_view_guidance", "batch_size", "amp", "bucketed"}


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> EncoderRetriever:
    """``mire`` retriever (default checkpoint Y-J-Ju/MIRe_base_pt). Options: query_mask
    (reference-eval | training), passage_punctuation (skip | keep), image_view_guidance
    (question | empty), query_maxlen (64), doc_maxlen (384), batch_size, window, amp, weights_file
    (which ``.pth`` of a folder or repository holding several: retrievers/mire/files.py)."""
    device = device_of(device)
    window = option_int(options.pop("window", 1024), "window")
    check_options("mire", options, _BUILD_OPTIONS | {"window", "weights_file"})
    weights_file = options.pop("weights_file", None)
    return EncoderRetriever(MIReEncoder(load_mire(checkpoint, weights_file and str(weights_file)), device, **options),
                            passage_batch=window)

