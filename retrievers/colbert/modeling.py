"""ColBERTv2 (Santhanam et al. 2022) as the MIRe authors' code runs it: the model, its
loading and saving, and the passage forward pass.

BERT + ``Linear(768 -> 128, bias=False)``; one L2-normalised 128-d vector per token; late
interaction (MaxSim) through :mod:`harness.index.exact`:

    ids, mask                                   [B, L]        (tokenization.py)
    BERT last hidden state                      [B, L, 768]
    linear                                      [B, L, 128]
    x keep                                      [B, L, 128]   queries: not [PAD] (every position);
                                                              passages: not [PAD], not punctuation
    L2 normalise, keep rows                     [L_i, 128] per item

MIRe's text tower is this model (:mod:`retrievers.mire.modeling`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from harness.core.errors import MireEvalError
from retrievers.checkpoint import KeyReport, Resolved, find_weights, load_into, read_weights, resolve
from retrievers.colbert.configuration import DEFAULT_CHECKPOINT, ColBERTSettings
from retrievers.colbert.tokenization import ColBERTTokenizer


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


def load_text_tower(checkpoint: str | None, pass_as: str = "--checkpoint DIR") -> TextTower:
    """A ColBERTv2 directory (HF BERT files + ``artifact.metadata``) or hub id. ``pass_as``: how
    the advice of a failed download tells the user to pass a local copy (MIRe's pre-training
    takes its text tower as ``-o colbert_checkpoint=DIR``)."""
    from transformers import AutoTokenizer, BertConfig

    source = resolve(checkpoint or DEFAULT_CHECKPOINT,
                     ["*.json", "*.txt", "artifact.metadata", "*.safetensors"], pass_as)
    directory = source.directory
    if not any(p.suffix in (".safetensors", ".bin", ".pth", ".pt") for p in directory.iterdir()):
        source = resolve(checkpoint or DEFAULT_CHECKPOINT, ["*.bin"], pass_as)
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



def bucketed_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (sorted within the window given).

    >>> bucketed_batches([5, 1, 4, 2], 2)
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def encode_query_tokens(tower: TextTower, texts: Sequence[str], maxlen: int, device: str,
                        amp: bool) -> list[torch.Tensor]:
    """Per query, its token vectors ``[L_i, dim]`` (L2-normalised): every position of the
    [MASK]-padded query is kept (the reference's ``Checkpoint.queryFromText``)."""
    ids, mask = tower.tokenizer.queries(texts, maxlen, tower.settings.attend_to_mask_tokens)  # [B, Lq]
    ids, mask = ids.to(device), mask.to(device)
    with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        Q = tower.model(ids, mask)                                   # [B, Lq, dim]
    keep = ids != tower.tokenizer.pad_id                             # every position (no [PAD] left)
    Q = torch.nn.functional.normalize(Q.float() * keep.unsqueeze(-1), p=2, dim=-1)
    return [Q[i][keep[i]] for i in range(len(texts))]


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

