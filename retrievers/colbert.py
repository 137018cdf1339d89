"""ColBERTv2 (Santhanam et al. 2022) as the MIRe authors' code runs it.

BERT + ``Linear(768 -> 128, bias=False)``; one L2-normalised 128-d vector per token; late
interaction (MaxSim) through :mod:`harness.search`.

Tokenisation (the reference's ``QueryTokenizer`` / ``DocTokenizer``):

* both sides get ``". "`` prepended and the ``"."`` token (position 1, right after ``[CLS]``)
  overwritten by the marker: ``[unused0]`` (shown as ``[Q]``) for queries, ``[unused1]``
  (``[D]``) for passages;
* queries are padded to ``query_maxlen`` and every ``[PAD]`` becomes ``[MASK]`` (query
  augmentation). With ``attend_to_mask_tokens=False`` (colbertv2.0's metadata) BERT's
  attention mask is 0 at those positions, but their output vectors are KEPT: the plain
  ColBERTv2 path keeps every position that is not ``[PAD]``, and none is left;
* passages are truncated at ``doc_maxlen``; output vectors of ``[PAD]`` and of punctuation
  tokens (every character of ``string.punctuation``) are dropped.

Evaluation lengths are the reference's ``runs/evaluate_retrieval.py``: 64 query / 384 passage
tokens. Training lengths (``build_trainable``): 32 / 180, as MIRe fine-tuning.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from harness.errors import MireEvalError
from harness.types import Passage, Query
from retrievers.base import EncoderRetriever, check_view
from retrievers.checkpoint import (
    KeyReport, Resolved, device_of, find_weights, load_into, read_json, read_weights, resolve,
)
from retrievers.training_defaults import FINETUNE_DEFAULTS as MIRE_FINETUNE_DEFAULTS

DEFAULT_CHECKPOINT = "colbert-ir/colbertv2.0"
EVAL_QUERY_MAXLEN = 64
EVAL_DOC_MAXLEN = 384

# Fine-tuning (text-only baseline) under MIRe's table; ColBERT's own training used tau = 1.
FINETUNE_DEFAULTS = MIRE_FINETUNE_DEFAULTS


@dataclass
class ColBERTSettings:
    """The fields of ColBERT's ``artifact.metadata`` that change what the encoder computes."""

    dim: int = 128
    query_maxlen: int = 32
    doc_maxlen: int = 180
    mask_punctuation: bool = True
    attend_to_mask_tokens: bool = False
    query_token_id: str = "[unused0]"
    doc_token_id: str = "[unused1]"
    similarity: str = "cosine"

    @classmethod
    def from_metadata(cls, path: Path) -> ColBERTSettings:
        data = read_json(path, "artifact.metadata")
        data = data.get("config", data)
        known = {k: data[k] for k in asdict(cls()) if k in data}
        settings = cls(**known)
        if settings.similarity != "cosine":
            raise MireEvalError(f"{path}: similarity: only 'cosine' is supported, "
                                f"found {settings.similarity!r}")
        return settings

    def write(self, directory: Path) -> None:
        out = {**asdict(self), "query_token": "[Q]", "doc_token": "[D]", "interaction": "colbert"}
        (directory / "artifact.metadata").write_text(json.dumps(out, indent=2))


class ColBERTTokenizer:
    """Query/passage tensorisation with the ``[Q]``/``[D]`` markers, as the reference."""

    def __init__(self, tokenizer, settings: ColBERTSettings):
        self.tok = tokenizer
        self.settings = settings
        self.q_marker = tokenizer.convert_tokens_to_ids(settings.query_token_id)
        self.d_marker = tokenizer.convert_tokens_to_ids(settings.doc_token_id)
        self.mask_id = tokenizer.mask_token_id
        self.pad_id = tokenizer.pad_token_id
        # The reference skips the first token id of every punctuation character.
        self.punctuation_ids = sorted(
            {tokenizer.encode(c, add_special_tokens=False)[0] for c in string.punctuation}
        )

    def queries(self, texts: Sequence[str], maxlen: int, attend_to_mask: bool):
        """``(ids, attention_mask)`` [B, maxlen]; ``[PAD]`` -> ``[MASK]``.

        ``attend_to_mask=False`` leaves the tokenizer's mask (0 on the augmentation tokens);
        True sets it to 1 everywhere (ColBERT's ``attend_to_mask_tokens``, and MIRe training,
        whose collate builds the mask as ``ids != [PAD]`` after the replacement)."""
        enc = self.tok([". " + t for t in texts], padding="max_length", truncation=True,
                       max_length=maxlen, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        ids[:, 1] = self.q_marker                                   # [B, maxlen]
        ids[ids == self.pad_id] = self.mask_id
        if attend_to_mask:
            mask = torch.ones_like(mask)
        return ids, mask

    def passage_ids(self, texts: Sequence[str], maxlen: int) -> list[list[int]]:
        """Unpadded token ids per passage, ``[D]`` marker in place."""
        enc = self.tok([". " + t for t in texts], padding=False, truncation="longest_first",
                       max_length=maxlen)
        out = []
        for ids in enc["input_ids"]:
            ids = list(ids)
            ids[1] = self.d_marker
            out.append(ids)
        return out

    def pad(self, rows: Sequence[list[int]], width: int | None = None):
        """Right-pad with ``[PAD]`` to ``width`` (default: the longest row): ``(ids, mask)``."""
        width = width or max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return ids, (ids != self.pad_id).long()

    def passages(self, texts: Sequence[str], maxlen: int):
        return self.pad(self.passage_ids(texts, maxlen))

    def token_mask(self, ids: torch.Tensor, skip_punctuation: bool) -> torch.Tensor:
        """Which passage output vectors are kept: not ``[PAD]`` and (optionally) not punctuation."""
        keep = ids != self.pad_id
        if skip_punctuation:
            keep &= ~torch.isin(ids, torch.tensor(self.punctuation_ids, device=ids.device))
        return keep


class ColBERTModel(nn.Module):
    """BERT + the 128-d projection; state-dict names ``bert.*`` and ``linear.weight`` as in
    colbert-ir/colbertv2.0 (no pooler: ColBERT never reads it)."""

    def __init__(self, bert_config, dim: int = 128):
        super().__init__()
        from transformers import BertModel

        self.bert = BertModel(bert_config, add_pooling_layer=False)
        self.linear = nn.Linear(bert_config.hidden_size, dim, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.linear(hidden)                                   # [B, L, dim], not normalised


# Keys some checkpoints carry that ColBERT does not use.
IGNORED_KEYS = (r"position_ids$", r"(^|\.)bert\.pooler\.", r"^cls\.")


@dataclass
class TextTower:
    """A loaded ColBERT: model, tokenizer, settings, and how it was loaded."""

    model: ColBERTModel
    tokenizer: ColBERTTokenizer
    settings: ColBERTSettings
    source: Resolved
    weights: Path
    keys: KeyReport
    reader: str = "safetensors"  # how the weights file was read (Loaded.reader)

    def describe(self) -> dict:
        return {"checkpoint": self.source.source, "revision": self.source.revision,
                "weights_file": self.weights.name, "weights_reader": self.reader,
                "artifact_metadata": asdict(self.settings), "state_dict": self.keys.as_dict()}


def load_text_tower(checkpoint: str | None) -> TextTower:
    """A ColBERTv2 directory (HF BERT files + ``artifact.metadata``) or hub id."""
    from transformers import AutoTokenizer, BertConfig

    source = resolve(checkpoint or DEFAULT_CHECKPOINT,
                     ["*.json", "*.txt", "artifact.metadata", "*.safetensors"])
    directory = source.directory
    if not any(p.suffix in (".safetensors", ".bin", ".pth", ".pt") for p in directory.iterdir()):
        source = resolve(checkpoint or DEFAULT_CHECKPOINT, ["*.bin"])
        directory = source.directory
    for name in ("config.json", "artifact.metadata"):
        if not (directory / name).is_file():
            raise MireEvalError(f"{directory / name}: ColBERT checkpoint: file not found")
    settings = ColBERTSettings.from_metadata(directory / "artifact.metadata")
    bert_config = BertConfig.from_json_file(str(directory / "config.json"))
    weights = source.path if source.path.is_file() else find_weights(
        directory, ("model.safetensors", "pytorch_model.bin"))
    model = ColBERTModel(bert_config, settings.dim)
    loaded = read_weights(weights)
    keys = load_into(model, loaded.state_dict, weights, prefixes={}, ignore=IGNORED_KEYS)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
    except Exception as exc:
        raise MireEvalError(f"{directory}: tokenizer: cannot load ({exc})") from None
    return TextTower(model.eval(), ColBERTTokenizer(tokenizer, settings), settings, source, weights, keys,
                     loaded.reader)


def check_options(retriever: str, given, known: set[str]) -> None:
    """Unknown retriever/training options are errors, not silently ignored."""
    unknown = set(given) - known
    if unknown:
        raise MireEvalError(f"{retriever}: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")


def option_bool(value, name: str) -> bool:
    """A boolean retriever option given as a bool or as text (``--option amp=False``).

    >>> option_bool("False", "amp"), option_bool(True, "amp")
    (False, True)
    """
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise MireEvalError(f"option {name}={value!r}: expected true or false")


def bucketed_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (sorted within the window given).

    >>> bucketed_batches([5, 1, 4, 2], 2)
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def encode_passage_tokens(tower: TextTower, texts: Sequence[str], maxlen: int, batch_size: int,
                          skip_punctuation: bool, device: str, amp: bool,
                          bucketed: bool = True) -> list[torch.Tensor]:
    """Per passage, its kept token vectors ``[L_i, dim]`` (L2-normalised), input order.

    Bucketed: sorted by length so each batch is padded to its own longest passage; the
    alternative pads every batch of the window to the window's longest (naive)."""
    rows = tower.tokenizer.passage_ids(texts, maxlen)
    if bucketed:
        groups = bucketed_batches([len(r) for r in rows], batch_size)
        width = None
    else:
        groups = [list(range(i, min(i + batch_size, len(rows)))) for i in range(0, len(rows), batch_size)]
        width = max(len(r) for r in rows)
    out: list[torch.Tensor | None] = [None] * len(rows)
    for group in groups:
        ids, mask = tower.tokenizer.pad([rows[i] for i in group], width)
        ids, mask = ids.to(device), mask.to(device)
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            D = tower.model(ids, mask)                               # [b, L, dim]
        keep = tower.tokenizer.token_mask(ids, skip_punctuation)    # [b, L]
        D = torch.nn.functional.normalize(D.float() * keep.unsqueeze(-1), p=2, dim=-1)
        for j, i in enumerate(group):
            out[i] = D[j][keep[j]]                                   # [L_i, dim]
    return out  # type: ignore[return-value]


class ColBERTv2Encoder:
    """The plain ColBERTv2 retriever (the reference's ``Searcher`` without ``--mire_ckpt``)."""

    name = "colbertv2"
    similarity = "maxsim"
    modalities = frozenset({"text"})

    def __init__(self, tower: TextTower, device: str = "cpu", query_maxlen: int = EVAL_QUERY_MAXLEN,
                 doc_maxlen: int = EVAL_DOC_MAXLEN, batch_size: int = 32, amp: bool | None = None,
                 bucketed: bool = True):
        self.tower = tower
        self.device = device
        self.query_maxlen = int(query_maxlen)
        self.doc_maxlen = int(doc_maxlen)
        self.batch_size = int(batch_size)
        self.amp = device.startswith("cuda") if amp is None else option_bool(amp, "amp")
        self.bucketed = option_bool(bucketed, "bucketed")
        tower.model.to(device)

    @torch.inference_mode()
    def encode_queries(self, queries: Sequence[Query], view: str = "full") -> list[torch.Tensor]:
        check_view(view)
        s = self.tower.settings
        ids, mask = self.tower.tokenizer.queries([q.text for q in queries], self.query_maxlen,
                                                 s.attend_to_mask_tokens)
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            Q = self.tower.model(ids, mask)                          # [B, Lq, 128]
        keep = ids != self.tower.tokenizer.pad_id                    # every position (no [PAD] left)
        Q = torch.nn.functional.normalize(Q.float() * keep.unsqueeze(-1), p=2, dim=-1)
        return [Q[i][keep[i]] for i in range(len(queries))]

    @torch.inference_mode()
    def encode_passages(self, passages: Sequence[Passage]) -> list[torch.Tensor]:
        return encode_passage_tokens(self.tower, [p.contents for p in passages], self.doc_maxlen,
                                     self.batch_size, self.tower.settings.mask_punctuation,
                                     self.device, self.amp, self.bucketed)

    def describe(self) -> dict:
        return {"retriever": self.name, **self.tower.describe(), "query_maxlen": self.query_maxlen,
                "doc_maxlen": self.doc_maxlen, "passage_punctuation": "skipped"
                if self.tower.settings.mask_punctuation else "kept",
                "query_mask_tokens": "attended" if self.tower.settings.attend_to_mask_tokens
                else "not attended by BERT, output vectors kept (reference Checkpoint.queryFromText)",
                "amp_fp16": self.amp, "passage_batching": "length-bucketed" if self.bucketed else "fixed"}


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> EncoderRetriever:
    """``colbertv2`` retriever. Options: query_maxlen (64), doc_maxlen (384), batch_size (32),
    window (passages sorted by length together, 1024), amp (fp16 autocast; default on CUDA)."""
    device = device_of(device)
    window = int(options.pop("window", 1024))
    check_options("colbertv2", options, {"query_maxlen", "doc_maxlen", "batch_size", "amp", "bucketed", "window"})
    encoder = ColBERTv2Encoder(load_text_tower(checkpoint), device, **options)
    return EncoderRetriever(encoder, passage_batch=window)


# --------------------------------------------------------------------------------------------
# Fine-tuning (the trainer contract of harness/training.py)
# --------------------------------------------------------------------------------------------
class ColBERTTrainable(nn.Module):
    """ColBERTv2 fine-tuned on question -> passage pairs (text-only baseline).

    Queries keep ColBERT's own convention ([MASK] augmentation, attend_to_mask_tokens from the
    metadata, vectors kept); passages drop punctuation, as ColBERT's training does."""

    similarity = "maxsim"

    def __init__(self, tower: TextTower, query_maxlen: int = 32, doc_maxlen: int = 180):
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


def save_text_tower(tower: TextTower, directory: Path, prefix: str = "") -> dict:
    """Write config.json, tokenizer files and artifact.metadata; return the prefixed tensors
    (and write them as model.safetensors when ``prefix`` is empty)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tower.model.bert.config.to_json_file(str(directory / "config.json"))
    tower.tokenizer.tok.save_pretrained(str(directory))
    tower.settings.write(directory)
    tensors = {prefix + k: v.detach().cpu().contiguous() for k, v in tower.model.state_dict().items()}
    if not prefix:
        save_file(tensors, str(directory / "model.safetensors"))
    return tensors


def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune",
                    **options) -> ColBERTTrainable:
    if stage != "finetune":
        raise MireEvalError(f"colbertv2: stage {stage!r}: only 'finetune' exists for a text-only model")
    check_options("colbertv2 training", options, {"query_maxlen", "doc_maxlen"})
    tower = load_text_tower(checkpoint)
    trainable = ColBERTTrainable(tower, int(options.get("query_maxlen", 32)),
                                 int(options.get("doc_maxlen", 180)))
    return trainable.to(device_of(device))
