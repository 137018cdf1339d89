"""PreFLMR / FLMR at evaluation (the authors' ``example_use_preflmr.py``): the Encoder the
harness uses, and the ``preflmr`` retriever's factory.

Query text (option ``instructions``): ``m2kr`` (default) builds it as the authors' M2KR
evaluation does: the row's instruction (M2KR ships one per row) or, for tasks without one,
:data:`~retrievers.preflmr.configuration.DEFAULT_INSTRUCTION`, every ':' replaced by the
config's ``mask_instruction_token``, then the question
(:func:`~retrievers.preflmr.tokenization.query_text`); ``off`` gives the question alone. A
checkpoint without ``mask_instruction_token`` (FLMR) always reads the question alone (the
authors' ``example_use_flmr.py``; its object tags, captions and ROI crops are not built).

Views (the same masking MIRe's probe uses):

* ``full``: instruction + question, and the image; a query without an image gets the
  authors' 336x336 black image (``missing_image="black"``; ``"error"`` refuses instead).
* ``text``: instruction + question, no image read: no vision rows at all (the authors
  would feed the black image, whose mapped CLS and mapping-network rows still carry the
  question through the cross-attention; the probe's text view removes every visual row).
* ``image``: the instruction alone as text (no question), the image; the visual rows only
  (mapped CLS + mapping network; the text rows are dropped, as MIRe's image view drops E_t).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import torch

from harness.errors import MireEvalError
from harness.types import Passage, Query
from retrievers.base import EncoderRetriever, check_view
from retrievers.checkpoint import device_of
from retrievers.colbert.modeling import encode_passage_tokens
from retrievers.options import check_options, option_bool, option_choice, option_int
from retrievers.preflmr.configuration import (
    BLACK_IMAGE_SIZE, DEFAULT_INSTRUCTION, INSTRUCTION_MODES, MAPPING_ATTENTION, MISSING_IMAGE,
)
from retrievers.preflmr.loading import LoadedFLMR, load_flmr
from retrievers.preflmr.modeling import SOURCE_NAMES, SOURCE_TEXT
from retrievers.preflmr.tokenization import (
    cross_attention_mask, flmr_tokenizer, instruction_token_id, query_keep, query_text,
)


def black_image():
    """The authors' stand-in for a query without an image: ``Image.new("RGB", (336, 336), "black")``."""
    from PIL import Image

    return Image.new("RGB", BLACK_IMAGE_SIZE, color="black")


class PreFLMREncoder:
    """FLMR / PreFLMR at evaluation. Query rows in the authors' order: text tokens (instruction
    rows dropped: they are zero), then the mapped CLS (N rows), then the mapping network (P rows)."""

    name = "preflmr"
    similarity = "maxsim"
    modalities = frozenset({"text", "image"})

    def __init__(self, loaded: LoadedFLMR, device: str = "cpu", instructions: str = "m2kr",
                 missing_image: str = "black", batch_size: int = 32, amp: bool = False,
                 bucketed: bool = True, query_maxlen: int | None = None, doc_maxlen: int | None = None):
        self.loaded = loaded
        self.model = loaded.model.to(device).eval()
        self.config = self.model.config
        self.device = device
        self.instructions = option_choice(instructions, "instructions", INSTRUCTION_MODES)
        self.missing_image = option_choice(missing_image, "missing_image", MISSING_IMAGE)
        self.batch_size = option_int(batch_size, "batch_size")
        self.amp = option_bool(amp, "amp")
        self.bucketed = option_bool(bucketed, "bucketed")
        self.query_maxlen = option_int(query_maxlen or loaded.query_maxlen, "query_maxlen")
        self.doc_maxlen = option_int(doc_maxlen or loaded.doc_maxlen, "doc_maxlen")
        self.query_tok = flmr_tokenizer(loaded.query_tokenizer, self.query_maxlen, self.doc_maxlen)
        self.context_tok = flmr_tokenizer(loaded.context_tokenizer, self.query_maxlen, self.doc_maxlen)
        self.instruction_id = instruction_token_id(loaded.query_tokenizer, self.config.mask_instruction_token)
        self.skip_ids = [int(i) for i in self.config.query_mask_input_ids_skip_list]
        v = self.config.vision_config
        self.n_mapped = self.config.mapping_network_prefix_length
        self.n_patches = (v.image_size // v.patch_size) ** 2 if self.config.use_transformer_mapping_network else 0

    # ---- query text and layout -------------------------------------------------------------
    def instruction(self, query: Query) -> str | None:
        if self.config.mask_instruction_token is None or self.instructions == "off":
            return None
        return query.instruction if query.instruction else DEFAULT_INSTRUCTION

    def texts(self, queries: Sequence[Query], view: str) -> list[str]:
        """The query texts the text encoder reads in ``view`` (the image view: instruction alone)."""
        token = self.config.mask_instruction_token
        if view == "image":
            return [query_text("", i, token) if (i := self.instruction(q)) is not None else ""
                    for q in queries]
        return [query_text(q.text, self.instruction(q), token) for q in queries]

    def _tokens(self, texts: Sequence[str]):
        ids, mask = self.query_tok.queries(texts, self.query_maxlen, attend_to_mask=False)  # [B, Lq]
        keep = query_keep(ids, self.instruction_id, self.skip_ids)                           # [B, Lq]
        return ids.to(self.device), mask.to(self.device), keep.to(self.device)

    def _row_sources(self, keep_row: torch.Tensor, view: str) -> torch.Tensor:
        c = self.config
        with_text = view != "image" and c.query_concat_output_from_text_encoder
        with_vision = view != "text" and c.query_concat_output_from_vision_encoder
        text = [SOURCE_TEXT] * int(keep_row.sum()) if with_text else []
        visual = [1] * self.n_mapped + [2] * self.n_patches if with_vision else []
        return torch.tensor(text + visual, dtype=torch.long)

    def query_token_sources(self, queries: Sequence[Query], view: str) -> list[torch.Tensor]:
        """Per query, each row's source (0 text tokens, 1 mapped CLS, 2 mapping network),
        aligned with :meth:`encode_queries`: LongTensor [L_i]."""
        check_view(view)
        _, _, keep = self._tokens(self.texts(queries, view))
        return [self._row_sources(keep[i].cpu(), view) for i in range(len(queries))]

    def query_token_types(self, queries: Sequence[Query], view: str) -> list[torch.Tensor]:
        """Per query, True where the row is visual (mapped CLS or mapping network): BoolTensor [L_i]."""
        return [s != SOURCE_TEXT for s in self.query_token_sources(queries, view)]

    # ---- encoding ----------------------------------------------------------------------------
    def _pixels(self, queries: Sequence[Query]) -> torch.Tensor:
        images = []
        for q in queries:
            if q.image is not None:
                images.append(q.image.load())
            elif self.missing_image == "black":
                images.append(black_image())
            else:
                raise MireEvalError(f"query {q.id}: image: missing (option missing_image=error)")
        return self.loaded.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)

    @torch.inference_mode()
    def encode_queries(self, queries: Sequence[Query], view: str = "full") -> list[torch.Tensor]:
        check_view(view)
        ids, mask, keep = self._tokens(self.texts(queries, view))
        cross = cross_attention_mask(ids, self.skip_ids)
        pixels = None if view == "text" else self._pixels(queries)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            Q, sources = self.model.query(ids, mask, keep, cross, pixels, with_text=view != "image")
        Q = Q.float()                                                     # [B, R, 128]
        text_rows = (sources == SOURCE_TEXT).to(self.device)              # [R]: the first Lq rows, or none
        out = []
        for i in range(len(queries)):
            rows = ~text_rows
            if text_rows.any():
                rows = torch.cat([keep[i], rows[keep.size(1):]])          # instruction rows are zero: dropped
            out.append(Q[i][rows])
        return out

    @torch.inference_mode()
    def encode_passages(self, passages: Sequence[Passage]) -> list[torch.Tensor]:
        m = self.model
        tower = SimpleNamespace(
            tokenizer=self.context_tok,
            model=lambda ids, mask: m.context_text_encoder_linear(m.context_text_encoder(ids, mask)))
        return encode_passage_tokens(tower, [p.contents for p in passages], self.doc_maxlen,
                                     self.batch_size, self.config.mask_punctuation, self.device,
                                     self.amp, self.bucketed)

    def describe(self) -> dict:
        loaded = self.loaded.describe()
        c = self.config
        rows = f"text tokens (instruction rows dropped) + {self.n_mapped} mapped CLS"
        if self.n_patches:
            rows += f" + {self.n_patches} mapping-network rows"
        return {
            "name": self.name, "checkpoint": loaded.pop("checkpoint"), "similarity": self.similarity,
            "views": {
                "full": rows + ("; a query without an image gets the authors' 336x336 black image"
                                if self.missing_image == "black" else ""),
                "text": "text-token rows only: no image read, no vision rows",
                "image": "mapped CLS" + (" + mapping-network rows" if self.n_patches else "")
                         + " only; the text encoder reads the instruction alone (no question)",
            },
            "options": {"instructions": self.instructions, "missing_image": self.missing_image,
                        "mapping_attention": self.model.mapping_attention,
                        "query_maxlen": self.query_maxlen, "doc_maxlen": self.doc_maxlen,
                        "batch_size": self.batch_size, "amp": self.amp, "bucketed": self.bucketed},
            **loaded,
            "query_text": ("question alone (instructions off)" if self.instructions == "off" else
                           "question alone (the checkpoint has no mask_instruction_token)"
                           if c.mask_instruction_token is None else
                           f"row instruction (default {DEFAULT_INSTRUCTION.strip()!r}) with ':' -> "
                           f"{c.mask_instruction_token!r}, then the question"),
            "query_row_sources": list(SOURCE_NAMES),
        }


_BUILD_OPTIONS = {"instructions", "missing_image", "batch_size", "amp", "bucketed", "query_maxlen", "doc_maxlen"}


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> EncoderRetriever:
    """``preflmr`` retriever (default checkpoint LinWeizheDragon/PreFLMR_ViT-L; FLMR too).
    Options: instructions (m2kr | off), missing_image (black | error), mapping_attention
    (bidirectional | causal), query_maxlen, doc_maxlen (512), batch_size, amp, bucketed, window."""
    device = device_of(device)
    window = option_int(options.pop("window", 1024), "window")
    attention = option_choice(options.pop("mapping_attention", "bidirectional"), "mapping_attention",
                              MAPPING_ATTENTION)
    check_options("preflmr", options, _BUILD_OPTIONS)
    return EncoderRetriever(PreFLMREncoder(load_flmr(checkpoint, attention), device, **options), passage_batch=window)
