"""ColBERTv2's settings: the checkpoint's ``artifact.metadata`` and the evaluation lengths.

Evaluation lengths are the MIRe reference's ``runs/evaluate_retrieval.py``: 64 query / 384
passage tokens. Training lengths (:mod:`retrievers.colbert.training`): 32 / 180, as MIRe
fine-tuning; the training hyper-parameters are MIRe's table
(:data:`retrievers.mire.configuration.FINETUNE_DEFAULTS`, named for ``colbertv2`` in
:mod:`retrievers.registry`), so the text-only baseline gets MIRe's budget.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.core.errors import MireEvalError
from retrievers.checkpoint import read_json

DEFAULT_CHECKPOINT = "colbert-ir/colbertv2.0"
EVAL_QUERY_MAXLEN = 64
EVAL_DOC_MAXLEN = 384
TRAIN_QUERY_MAXLEN = 32
TRAIN_DOC_MAXLEN = 180


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

