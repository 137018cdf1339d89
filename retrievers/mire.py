"""MIRe (Ju, Kim and Lee, ACL Findings 2025): ColBERTv2 + frozen CLIP, query-guided pooling.

A multimodal query becomes token vectors without fusing modalities inside an encoder:

    question ──ColBERTv2 BERT + linear──> E_t        [B, Lq, 128]   (text tokens)
    image ─────CLIP ViT (frozen)──────> CLS, patches [B, 1 + P, Dv]
    CLS ─────split_mlp──────────────────> E_g        [B, 16, 128]   (global visual tokens)
    patches, guided by E_t ──attention─> E_m        [B, 12, 128]   (one token per head)
    query = L2norm([E_g; E_m; E_t])                  [B, 28 + Lq, 128]

Passages are plain ColBERTv2 passage encodings; the score is MaxSim. Pre-training (alignment)
uses ``[E_g; E_m]`` alone with the text tower frozen; fine-tuning and all evaluation use the
full query. Everything here follows the authors' code (github.com/yeongjoonJu/MIRe, HEAD
c0f9966: retrievers/mire.py, retrievers/indexing.py); the quirks kept (docs/reproducibility.md):

* Q1 ``query_mask="reference-eval"`` (default): the reference evaluation tokenises queries with
  ColBERT's QueryTokenizer, so the [MASK] augmentation positions have mask 0: BERT does not
  attend to them, their E_t rows are zero (dropped here: a zero row adds 0 to every MaxSim
  score), and in the pooling their all-masked score rows softmax to uniform weights, adding
  ``(Lq - n_valid) * mean_P(V)`` to the sum that is divided by ``n_valid``.
  ``query_mask="training"`` is the training-time behaviour (mask all ones: [MASK] attended,
  kept and pooled like words).
* Q3 ``passage_punctuation="skip"`` (default) is the plain ColBERTv2 index the reference builds
  for zero-shot runs; ``"keep"`` is its MIRe indexer (``--mire_ckpt``), attention mask only.

This file: config, modules, loading, the evaluation encoder. Training (the Trainable, the
CLIP feature cache): retrievers/mire_training.py, reached through :func:`build_trainable`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import MireEvalError
from harness.types import Passage, Query
from retrievers.base import EncoderRetriever, check_view
from retrievers.checkpoint import (
    KeyReport, Resolved, device_of, find_weights, load_into, read_json, read_weights, resolve,
    summarise_extras,
)
from retrievers.colbert import (
    EVAL_DOC_MAXLEN, EVAL_QUERY_MAXLEN, IGNORED_KEYS, ColBERTModel, ColBERTSettings,
    ColBERTTokenizer, TextTower, check_options, encode_passage_tokens, load_text_tower,
    option_bool,
)
# The trainer (harness/cli_train.py) reads the defaults from this module.
from retrievers.training_defaults import FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS  # noqa: F401

DEFAULT_CHECKPOINT = "Y-J-Ju/MIRe_base_pt"
VISION_MODELS = {"base": "openai/clip-vit-base-patch32", "large": "openai/clip-vit-large-patch14-336"}
QUERY_MASKS = ("reference-eval", "training")
PUNCTUATION = ("skip", "keep")
IMAGE_VIEW_GUIDANCE = ("question", "empty")


@dataclass
class MIReConfig:
    """The MIRe fields of the authors' ``config.json`` (a BERT config updated with them)."""

    vision_model_name: str = VISION_MODELS["base"]
    colbert_checkpoint: str = "colbert-ir/colbertv2.0"
    num_tokens: int = 16
    num_heads: int = 12
    hidden_size: int = 768
    out_dim: int = 128
    pretraining: bool = False
    text_config: object = field(default=None, repr=False)  # transformers.BertConfig
    vision_config: object = field(default=None, repr=False)  # transformers.CLIPVisionConfig

    MIRE_FIELDS = ("vision_model_name", "colbert_checkpoint", "num_tokens", "num_heads",
                   "hidden_size", "out_dim", "pretraining")

    @classmethod
    def from_json(cls, path: Path) -> MIReConfig:
        from transformers import BertConfig

        data = read_json(path, "MIRe config")
        missing = [k for k in ("vision_model_name", "num_tokens", "num_heads") if k not in data]
        if missing:
            raise MireEvalError(f"{path}: {missing[0]}: missing (not a MIRe config.json)")
        mire = {k: data[k] for k in cls.MIRE_FIELDS if k in data}
        text = {k: v for k, v in data.items() if k not in cls.MIRE_FIELDS or k == "hidden_size"}
        text.setdefault("model_type", "bert")
        return cls(**mire, text_config=BertConfig.from_dict(text))

    def to_json(self) -> dict:
        """The authors' layout: BERT config fields plus the MIRe fields."""
        out = self.text_config.to_dict()
        out.update({k: getattr(self, k) for k in self.MIRE_FIELDS})
        out["short_name"] = "mire"
        return out


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------
class QueryGuidedAttentivePooling(nn.Module):
    """Visual query tokens: 16 global tokens from the CLS, one token per head from patches
    attended by the question's text tokens (the authors' QueryGuidedAttentivePooling,
    retrievers/mire.py at c0f9966). No residuals, no query projection.

    State-dict names as the authors': proj.0/proj.1, k_state, v_state, o_proj.0/o_proj.1,
    split_mlp.0/split_mlp.2.
    """

    def __init__(self, v_dim: int, num_tokens: int = 16, num_heads: int = 12, out_dim: int = 128):
        super().__init__()
        self.num_tokens = num_tokens
        self.num_heads = num_heads
        self.out_dim = out_dim
        self.scale = math.sqrt(out_dim)
        proj_dim = num_heads * out_dim * 2
        self.proj = nn.Sequential(nn.LayerNorm(v_dim), nn.Linear(v_dim, proj_dim), nn.GELU())
        self.k_state = nn.Linear(proj_dim, num_heads * out_dim, bias=False)
        self.v_state = nn.Linear(proj_dim, num_heads * out_dim, bias=False)
        self.o_proj = nn.Sequential(nn.LayerNorm(out_dim), nn.Linear(out_dim, out_dim))
        self.split_mlp = nn.Sequential(
            nn.Linear(v_dim, num_tokens * out_dim // 2), nn.Tanh(),
            nn.Linear(num_tokens * out_dim // 2, num_tokens * out_dim),
        )
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def global_tokens(self, v: torch.Tensor) -> torch.Tensor:
        # v: [B, 1 + P, Dv] -> CLS [B, 1, Dv] -> [B, 1, T * D] -> E_g [B, T, D]
        return self.split_mlp(v[:, 0:1]).view(v.size(0), self.num_tokens, self.out_dim)

    def guided_tokens(self, t: torch.Tensor, v: torch.Tensor, t_mask: torch.Tensor,
                      return_attention: bool = False):
        B, P = v.size(0), v.size(1) - 1
        H, D = self.num_heads, self.out_dim
        patches = self.proj(v[:, 1:])                                    # [B, P, 2 * H * D]
        key = self.k_state(patches).view(B, P, H, D).transpose(1, 2)     # [B, H, P, D]
        value = self.v_state(patches).view(B, P, H, D).transpose(1, 2)   # [B, H, P, D]
        query = t.unsqueeze(1).expand(B, H, t.size(1), D)                # [B, H, L, D] same per head
        scores = query @ key.transpose(-2, -1) / self.scale              # [B, H, L, P]
        row_mask = t_mask.float()[:, None, :, None]                      # [B, 1, L, 1]
        # Masked text rows get -9999 everywhere: a uniform softmax, not zero (quirk Q1).
        scores = scores.masked_fill(row_mask == 0, -9999.0)
        attention = F.softmax(scores, dim=-1)                            # [B, H, L, P]
        pooled = (attention @ value).sum(dim=-2)                         # [B, H, D] over ALL rows
        pooled = pooled / (row_mask.sum(dim=-2) + 1e-15)                 # / n_valid  [B, 1, 1]
        tokens = self.o_proj(pooled)                                     # E_m [B, H, D]
        return (tokens, attention) if return_attention else tokens

    def forward(self, t: torch.Tensor, v: torch.Tensor, t_mask: torch.Tensor) -> torch.Tensor:
        # [E_g; E_m]: [B, T + H, D]
        return torch.cat([self.global_tokens(v), self.guided_tokens(t, v, t_mask)], dim=1)


class MIReModel(nn.Module):
    """ColBERTv2 text tower + frozen CLIP vision tower + query-guided pooling.

    State-dict names: ``colbert.{bert,linear}.*``, ``vision_tower.vision_model.*``,
    ``query_fusion.*`` (the authors': ``model.*``, ``vision_tower.vision_tower.*``, same).
    """

    def __init__(self, config: MIReConfig):
        super().__init__()
        from transformers import CLIPVisionModel

        self.config = config
        self.colbert = ColBERTModel(config.text_config, config.out_dim)
        self.vision_tower = CLIPVisionModel(config.vision_config)
        self.vision_tower.requires_grad_(False)
        self.query_fusion = QueryGuidedAttentivePooling(
            config.vision_config.hidden_size, config.num_tokens, config.num_heads, config.out_dim)

    @torch.no_grad()
    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Last-layer CLS and penultimate-layer patches (before post_layernorm): [B, 1 + P, Dv]."""
        out = self.vision_tower(pixel_values=pixel_values, output_hidden_states=True)
        cls = out.hidden_states[-1][:, 0:1]                               # [B, 1, Dv]
        patches = out.hidden_states[-2][:, 1:]                            # [B, P, Dv]
        return torch.cat([cls, patches], dim=1)

    def text_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """E_t before normalisation: linear(BERT) with masked rows zeroed: [B, L, D]."""
        return self.colbert(input_ids, attention_mask) * attention_mask.unsqueeze(-1).float()

    def query(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              features: torch.Tensor, visual_only: bool = False) -> torch.Tensor:
        """L2-normalised query tokens: [E_g; E_m] (visual_only) or [E_g; E_m; E_t]."""
        text = self.text_tokens(input_ids, attention_mask)               # [B, L, D]
        visual = self.query_fusion(text, features.to(text.dtype), attention_mask)  # [B, 28, D]
        tokens = visual if visual_only else torch.cat([visual, text], dim=1)  # [B, 28 (+ L), D]
        return F.normalize(tokens, p=2, dim=2)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def checkpoint_prefixes(model: MIReModel) -> dict[str, str]:
    """Source key prefixes -> ours (first match wins). The authors' MIRe(ColBERT) tree is
    ``model.{bert,linear}``, ``vision_tower.vision_tower.<CLIPVisionModel>``; a CLIPVisionModel
    keeps its weights under ``vision_model.`` in transformers 4.x and at its root in 5.x."""
    inner = "vision_model." if any(k.startswith("vision_model.") for k in
                                   model.vision_tower.state_dict()) else ""
    return {
        "model.": "colbert.",
        "vision_tower.vision_tower.vision_model.": "vision_tower." + inner,
        "vision_tower.vision_tower.": "vision_tower.",
        "vision_tower.vision_model.": "vision_tower." + inner,
    }


@dataclass
class LoadedMIRe:
    model: MIReModel
    tokenizer: ColBERTTokenizer
    settings: ColBERTSettings
    processor: object
    source: Resolved | None
    weights: Path | None
    keys: KeyReport | None
    extras: dict
    notes: list[str]
    reader: str | None = None  # how the weights file was read (Loaded.reader)

    def describe(self) -> dict:
        c = self.model.config
        return {
            "checkpoint": self.source.source if self.source else None,
            "revision": self.source.revision if self.source else None,
            "weights_file": self.weights.name if self.weights else None,
            "weights_reader": self.reader,
            "config": {k: getattr(c, k) for k in MIReConfig.MIRE_FIELDS},
            "state_dict": self.keys.as_dict() if self.keys else None,
            "checkpoint_entries": self.extras, "load_notes": self.notes,
            "image_processor": type(self.processor).__name__,
        }


def _vision_source(name: str, directory: Path | None) -> Path:
    """Where the CLIP config and preprocessor config live (our checkpoints carry them)."""
    if directory is not None and (directory / "vision_config.json").is_file():
        return directory
    return resolve(name, ["*.json"], "DIR as vision_model_name in the checkpoint's config.json").directory


def _vision_config(path: Path):
    from transformers import CLIPVisionConfig

    file = path / "vision_config.json"
    try:
        if file.is_file():
            return CLIPVisionConfig.from_json_file(str(file))
        return CLIPVisionConfig.from_pretrained(str(path))
    except Exception as exc:
        raise MireEvalError(f"{path}: CLIP vision config: cannot load ({exc})") from None


def image_processor(path: Path):
    """The PIL CLIP processor (resize shortest side, centre crop, CLIP mean/std): the
    reference's transformers 4.x ``CLIPImageProcessor``, with or without torchvision."""
    from transformers import CLIPImageProcessorPil

    try:
        return CLIPImageProcessorPil.from_pretrained(str(path))
    except Exception as exc:
        raise MireEvalError(f"{path}: preprocessor_config.json: cannot load ({exc})") from None


def _text_side(config: MIReConfig, directory: Path, notes: list[str]):
    """Tokenizer and artifact.metadata: the checkpoint directory's, else its ColBERT's."""
    from transformers import AutoTokenizer

    source = directory
    has_tokenizer = (directory / "vocab.txt").is_file() or (directory / "tokenizer.json").is_file()
    if not ((directory / "artifact.metadata").is_file() and has_tokenizer):
        colbert = config.colbert_checkpoint
        if not Path(colbert).exists():
            notes.append(f"colbert_checkpoint {colbert!r} is not here; tokenizer and "
                         "artifact.metadata read from colbert-ir/colbertv2.0 (the same files)")
            colbert = "colbert-ir/colbertv2.0"
        source = resolve(colbert, ["*.json", "*.txt", "artifact.metadata"],
                         "DIR as colbert_checkpoint in the checkpoint's config.json").directory
    settings = ColBERTSettings.from_metadata(source / "artifact.metadata")
    try:
        tok = AutoTokenizer.from_pretrained(str(source), trust_remote_code=False)
    except Exception as exc:
        raise MireEvalError(f"{source}: tokenizer: cannot load ({exc})") from None
    return ColBERTTokenizer(tok, settings), settings


def load_mire(checkpoint: str | None) -> LoadedMIRe:
    """A MIRe checkpoint: the authors' directory (config.json + ``.pth`` holding
    ``{"model": state_dict, "config": OmegaConf, ...}`` + artifact.metadata + tokenizer), a
    ``.pth`` inside one, our own directory (safetensors + the same JSON), or a hub id."""
    source = resolve(checkpoint or DEFAULT_CHECKPOINT)
    directory = source.directory
    notes: list[str] = []
    config = MIReConfig.from_json(directory / "config.json")
    vision_dir = _vision_source(config.vision_model_name, directory)
    config.vision_config = _vision_config(vision_dir)
    weights = source.path if source.path.is_file() else find_weights(directory, ("model.safetensors",))
    loaded = read_weights(weights)
    model = MIReModel(config)
    keys = load_into(model, loaded.state_dict, weights, checkpoint_prefixes(model),
                     ignore=IGNORED_KEYS + (r"^model\.bert\.pooler\.",))
    tokenizer, settings = _text_side(config, directory, notes)
    return LoadedMIRe(model.eval(), tokenizer, settings, image_processor(vision_dir), source,
                      weights, keys, summarise_extras(loaded.extras), notes, loaded.reader)


def fresh_mire(colbert_checkpoint: str | None, vision_model: str, num_tokens: int = 16,
               num_heads: int = 12) -> LoadedMIRe:
    """A MIRe to pre-train: ColBERTv2 and CLIP weights loaded, the pooling module initialised."""
    tower = load_text_tower(colbert_checkpoint)
    pass_as = "--option vision_model=DIR"
    vision = resolve(vision_model, ["*.json", "*.txt", "*.safetensors"], pass_as)
    if not any(vision.directory.glob("*.safetensors")):
        vision = resolve(vision_model, ["*.json", "*.txt", "pytorch_model.bin"], pass_as)
    config = MIReConfig(vision_model_name=vision_model,
                        colbert_checkpoint=colbert_checkpoint or "colbert-ir/colbertv2.0",
                        num_tokens=num_tokens, num_heads=num_heads,
                        hidden_size=tower.model.bert.config.hidden_size,
                        out_dim=tower.settings.dim, pretraining=True,
                        text_config=tower.model.bert.config,
                        vision_config=_vision_config(vision.directory))
    model = MIReModel(config)
    model.colbert.load_state_dict(tower.model.state_dict())
    clip_file = find_weights(vision.directory, ("model.safetensors", "pytorch_model.bin"))
    inner = checkpoint_prefixes(model)["vision_tower.vision_model."][len("vision_tower."):]
    keys = load_into(model.vision_tower, read_weights(clip_file).state_dict, clip_file,
                     prefixes={"vision_model.": inner},
                     ignore=(r"^text_model\.", r"^logit_scale$", r"projection", r"position_ids$"))
    return LoadedMIRe(model, tower.tokenizer, tower.settings, image_processor(vision.directory),
                      tower.source, tower.weights, keys, {}, ["pooling module freshly initialised"])


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def load_pixels(processor, queries: Sequence[Query]) -> torch.Tensor:
    images = [q.image.load() for q in queries]
    return processor(images=images, return_tensors="pt")["pixel_values"]   # [n, 3, H, W]


def require_images(queries: Sequence[Query]) -> None:
    for q in queries:
        if q.image is None:
            raise MireEvalError(f"query {q.id}: image: missing; mire reads the image "
                                "(use --view text to search with the question alone)")


# --------------------------------------------------------------------------------------------
# Evaluation encoder
# --------------------------------------------------------------------------------------------
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
        self.query_maxlen, self.doc_maxlen = int(query_maxlen), int(doc_maxlen)
        self.query_mask = query_mask
        self.passage_punctuation = passage_punctuation
        self.image_view_guidance = image_view_guidance
        self.batch_size = int(batch_size)
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
        return {
            "retriever": self.name, **self.loaded.describe(),
            "query_maxlen": self.query_maxlen, "doc_maxlen": self.doc_maxlen,
            "query_mask": self.query_mask,
            "query_mask_meaning": (
                "reference evaluation (quirk Q1): [MASK] positions not attended, their text "
                "rows zero (dropped), pooled as uniform attention and divided by the valid count"
                if self.query_mask == "reference-eval" else
                "training-consistent: [MASK] positions attended, kept and pooled"),
            "passage_punctuation": self.passage_punctuation,
            "query_tokens": f"{c.num_tokens} E_g + {c.num_heads} E_m + text tokens",
            "views": {
                "full": "[E_g; E_m; E_t]",
                "text": "E_t only (visual tokens dropped, no image read)",
                "image": "[E_g; E_m] only (text tokens dropped); E_m guided by "
                         + ("the question" if self.image_view_guidance == "question"
                            else "an empty question"),
            },
            "amp_fp16": self.amp,
            "passage_batching": "length-bucketed" if self.bucketed else "fixed",
        }


_BUILD_OPTIONS = {"query_maxlen", "doc_maxlen", "query_mask", "passage_punctuation",
                  "image_view_guidance", "batch_size", "amp", "bucketed"}


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> EncoderRetriever:
    """``mire`` retriever (default checkpoint Y-J-Ju/MIRe_base_pt). Options: query_mask
    (reference-eval | training), passage_punctuation (skip | keep), image_view_guidance
    (question | empty), query_maxlen (64), doc_maxlen (384), batch_size, window, amp."""
    device = device_of(device)
    window = int(options.pop("window", 1024))
    check_options("mire", options, _BUILD_OPTIONS | {"window"})
    return EncoderRetriever(MIReEncoder(load_mire(checkpoint), device, **options), passage_batch=window)


# --------------------------------------------------------------------------------------------
# Training: the Trainable lives in retrievers/mire_training.py
# --------------------------------------------------------------------------------------------
def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune",
                    **options):
    """The trainer contract's entry point; see :func:`retrievers.mire_training.build_trainable`."""
    from retrievers.mire_training import build_trainable as build_mire_trainable

    return build_mire_trainable(checkpoint, device, stage, **options)
