"""The ``uniir-clip-sf`` retriever: loading the released checkpoint, the Encoder the harness
uses, and its factory.

Views (the probe's; :data:`VIEWS` is what ``describe()`` records). Each is the UniIR forward
of the query with one input removed exactly as UniIR's collator removes a missing one, so a
view is an item UniIR itself could be given:

* ``full``: ``text(instruction + question) + image``;
* ``text``: ``text(instruction + question)`` alone: the image is absent (UniIR pads a black image
  with mask 0, so its embedding is multiplied by 0); the instruction stays the (image, text) ->
  text one, so the question's removal of the image is the only change;
* ``image``: ``image + text(instruction)``: the question is removed and, as UniIR does for an
  image query with instructions on, the instruction alone is the text side. With
  ``instruct=false`` the text is empty (mask 0) and the view is the image embedding alone.

The swap view (another query's image) is made by the harness and goes through ``full``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.types import Passage, Query
from retrievers.base import EncoderRetriever, check_view
from retrievers.checkpoint import _HUB_ID, Resolved, device_of, find_weights, read_weights, resolve
from retrievers.uniir.configuration import (
    DEFAULT_CHECKPOINT, UniIRSettings, passage_text, query_text,
)
from retrievers.uniir.conversion import load_clip_sf
from retrievers.uniir.modeling import UniIRClipSF
from retrievers.uniir.processing import ClipTokenizer, load_tokenizer, pixels
from retrievers.weights import summarise_extras

VIEWS = {
    "full": "text(instruction + question) + image, raw CLIP embeddings summed, then L2-normalised",
    "text": "text(instruction + question) alone (image mask 0, as UniIR pads a query without an image)",
    "image": "image + text(instruction alone) (question removed, as UniIR encodes an image query); "
             "image alone with instruct=false",
}


@dataclass
class LoadedUniIR:
    model: UniIRClipSF
    tokenizer: ClipTokenizer
    source: Resolved
    weights: Path
    reader: str
    extras: dict


def _weights_file(source: Resolved, settings: UniIRSettings) -> Path:
    if source.path.is_file():
        return source.path
    inside = source.path / settings.checkpoint_file  # a clone / snapshot of the hub repo
    return inside if inside.is_file() else find_weights(source.path)


def load_uniir(checkpoint: str | None, settings: UniIRSettings) -> LoadedUniIR:
    """The released checkpoint (hub id ``TIGER-Lab/UniIR[@rev]``: only ``checkpoint_file`` is
    fetched), a clone of that repo, a directory holding one weights file, or the file itself.
    The tokenizer is the checkpoint directory's when it has ``vocab.json`` + ``merges.txt``,
    else ``settings.tokenizer``."""
    name = checkpoint or DEFAULT_CHECKPOINT
    repo, _, pinned = name.partition("@")
    if not Path(name).expanduser().exists() and _HUB_ID.match(repo):
        from harness import hub

        # the hub repo also holds BLIP_FF (7.5 GB): the advice names the one file to fetch
        hub.require(repo, "--checkpoint DIR", revision=pinned or None, include=settings.checkpoint_file)
    source = resolve(name, [settings.checkpoint_file])
    weights = _weights_file(source, settings)
    loaded = read_weights(weights)  # torch.load(weights_only=True) or safetensors; never pickled code
    here = source.directory
    own_tokenizer = (here / "vocab.json").is_file() and (here / "merges.txt").is_file()
    tokenizer = load_tokenizer(str(here) if own_tokenizer else settings.tokenizer)
    clip = load_clip_sf(loaded.state_dict, weights, eos_token_id=tokenizer.eot, bos_token_id=tokenizer.sot)
    return LoadedUniIR(UniIRClipSF(clip), tokenizer, source, weights, loaded.reader,
                       summarise_extras(loaded.extras))


class UniIREncoder:
    """UniIR CLIP_SF as mire-eval's Encoder: one normalised fused vector per item."""

    name = "uniir-clip-sf"
    similarity = "cosine"
    modalities = frozenset({"text", "image"})

    def __init__(self, loaded: LoadedUniIR, settings: UniIRSettings, device: str):
        self.loaded = loaded
        self.model = loaded.model.to(device)
        self.tokenizer = loaded.tokenizer
        self.settings = settings
        self.device = device

    def query_text(self, query: Query, view: str) -> str:
        """The query's text side under ``view`` ("" = none: text mask 0)."""
        instruction = self.settings.instruction if self.settings.instruct else None
        return query_text("" if view == "image" else query.text, instruction)

    def _embed(self, texts: list[str], images: list) -> torch.Tensor:
        """[n, D] normalised: ``texts[i]`` ("" = padded) and ``images[i]`` (None = padded)."""
        text, image = self._parts(texts, images)
        return F.normalize(text + image, dim=-1)

    def _parts(self, texts: list[str], images: list) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw text and image embeddings, [n, D] each (0 where padded), in batches."""
        out = []
        size = self.settings.batch_size
        for start in range(0, len(texts), size):
            t, im = texts[start:start + size], images[start:start + size]
            text_rows = torch.tensor([i for i, x in enumerate(t) if x], dtype=torch.long)
            image_rows = torch.tensor([i for i, x in enumerate(im) if x is not None], dtype=torch.long)
            ids = self.tokenizer([t[i] for i in text_rows.tolist()]) if len(text_rows) else None
            decoded = [im[i].load() for i in image_rows.tolist()]
            pix = pixels(decoded, self.model.image_size) if decoded else None
            with torch.inference_mode():
                out.append([x.float().cpu() for x in self.model.parts(ids, text_rows, pix, image_rows, len(t))])
        if not out:
            empty = torch.zeros(0, self.model.clip.config.projection_dim)
            return empty, empty
        return torch.cat([t for t, _ in out]), torch.cat([v for _, v in out])

    def _query_inputs(self, queries: Sequence[Query], view: str) -> tuple[list[str], list]:
        check_view(view)
        return [self.query_text(q, view) for q in queries], [q.image if view != "text" else None for q in queries]

    def encode_queries(self, queries: Sequence[Query], view: str = "full") -> torch.Tensor:
        """[n, D] float32, L2-normalised."""
        return self._embed(*self._query_inputs(queries, view))

    def query_parts(self, queries: Sequence[Query], view: str = "full") -> tuple[torch.Tensor, torch.Tensor]:
        """The probe's exact split (:class:`retrievers.hooks.SumsModalities`): the text and
        image parts of each query vector, ``t / |t + v|`` and ``v / |t + v|`` ([n, D] each)."""
        text, image = self._parts(*self._query_inputs(queries, view))
        norm = (text + image).norm(dim=-1, keepdim=True).clamp_min(1e-12)  # F.normalize's eps
        return text / norm, image / norm

    def encode_passages(self, passages: Sequence[Passage]) -> torch.Tensor:
        """[n, D] float32, L2-normalised text embeddings (M-BEIR's ``title. text`` form)."""
        return self._embed([passage_text(p.title, p.text) for p in passages], [None] * len(passages))

    def describe(self) -> dict:
        loaded, s = self.loaded, self.settings
        v, t = self.model.clip.config.vision_config, self.model.clip.config.text_config
        return {
            "name": self.name, "checkpoint": loaded.source.source, "similarity": self.similarity,
            "views": VIEWS, "options": asdict(s),
            "revision": loaded.source.revision, "weights_file": loaded.weights.name,
            "weights_reader": loaded.reader, "checkpoint_entries": loaded.extras,
            "tokenizer": loaded.tokenizer.source,
            "architecture": {"vision": f"ViT {v.num_hidden_layers} layers, width {v.hidden_size}, "
                                       f"patch {v.patch_size}, {v.image_size} px",
                             "text": f"{t.num_hidden_layers} layers, width {t.hidden_size}, "
                                     f"context {t.max_position_embeddings}",
                             "embedding_dim": self.model.clip.config.projection_dim},
            "query_text": "format_string(instruction + ' ' + question)" if s.instruct else "format_string(question)",
            "instruction": s.instruction if s.instruct else None,
            "passage_text": "format_string(title + '. ' + text)",
            "fusion": "sum of raw CLIP text and image embeddings, then L2-normalised (score-level fusion)",
        }


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> EncoderRetriever:
    """The ``uniir-clip-sf`` retriever (options: :class:`UniIRSettings`)."""
    settings = UniIRSettings.create(**options)
    device = device_of(device)
    loaded = load_uniir(checkpoint, settings)
    return EncoderRetriever(UniIREncoder(loaded, settings, device))
