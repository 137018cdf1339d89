"""MIRe's settings: the model config (the MIRe fields of the authors' ``config.json``), the
evaluation options' allowed values, and the training hyper-parameters.

Training hyper-parameters are the MIRe authors' configs (cfgs/mire_train_*.yaml and
train_retrieval.py at c0f9966; docs/training.md), in the form harness/cli_train.py reads:
``PRETRAIN_DEFAULTS`` flat, ``FINETUNE_DEFAULTS[task]`` with ``"*"`` as the fallback (both
named for ``mire`` in :mod:`harness.registry`). Keys that are ``TrainConfig`` fields go to
the trainer, the others (``query_maxlen``, ``doc_maxlen``) to ``build_trainable``.

Reference facts kept: AdamW with weight decay 0 and eps 1e-8, linear warm-up then constant,
the same data order every epoch (``sampler.set_epoch`` is commented out), fp32 (its autocast
dtype is float32), no gradient clipping. ``batch_size`` is per GPU in the reference (4 GPUs)
and so are its in-batch negatives (quirk Q4): 128 negatives per query, as here.
``colbertv2`` fine-tunes with the same table (the registry says so), so the text-only
baseline gets MIRe's budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import MireEvalError
from retrievers.checkpoint import read_json

DEFAULT_CHECKPOINT = "Y-J-Ju/MIRe_base_pt"
VISION_MODELS = {"base": "openai/clip-vit-base-patch32", "large": "openai/clip-vit-large-patch14-336"}
QUERY_MASKS = ("reference-eval", "training")
PUNCTUATION = ("skip", "keep")

# Quirk Q3, per task and setting (docs/reproducibility.md): the authors index E-VQA zero-shot and
# every fine-tuned model with their own checkpoint's indexer (XknowIndexer, --mire_ckpt), which
# keeps punctuation; the zero-shot OK-VQA-GS, OK-VQA-WK11M and ReMuQ indexes are plain ColBERTv2
# ones, which skip it. Zero-shot InfoSeek (not in the paper), local tasks (no reference run)
# and the aligned stage keep the encoder's own default (skip).
REFERENCE_PUNCTUATION = {("zero-shot", "okvqa"): "skip", ("zero-shot", "okvqa-wiki11m"): "skip",
                         ("zero-shot", "remuq"): "skip", ("zero-shot", "evqa"): "keep",
                         **{("fine-tuned", task): "keep"
                            for task in ("okvqa", "okvqa-wiki11m", "remuq", "evqa", "infoseek")}}


def reference_options(task: str, setting: str) -> dict[str, str]:
    """The options the reference evaluated ``task`` with in ``setting`` (``fine-tuned@label``
    counts as fine-tuned); a run's explicit ``-o`` overrides them.

    >>> reference_options("evqa", "zero-shot"), reference_options("okvqa", "fine-tuned@mine")
    ({'passage_punctuation': 'keep'}, {'passage_punctuation': 'keep'})
    >>> reference_options("okvqa", "zero-shot"), reference_options("local:/x", "fine-tuned")
    ({'passage_punctuation': 'skip'}, {})
    """
    found = REFERENCE_PUNCTUATION.get((setting.partition("@")[0], task))
    return {"passage_punctuation": found} if found else {}
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



_REFERENCE = dict(weight_decay=0.0, adam_eps=1e-8, reshuffle_each_epoch=False, precision="fp32")

# cfgs/mire_train_vid2r.yaml: text tower frozen, query = visual tokens only.
PRETRAIN_DEFAULTS = dict(lr=1e-4, warmup=300, epochs=5, batch_size=128, temperature=0.3,
                         query_maxlen=40, doc_maxlen=400, **_REFERENCE)

# cfgs/mire_train_{okvqa_gs,remuq,m2kr_evqa,m2kr_infoseek,aokvqa}.yaml: tau 0.8, 32 / 180 tokens.
_FT = dict(temperature=0.8, batch_size=128, query_maxlen=32, doc_maxlen=180, lr=5e-5, **_REFERENCE)
FINETUNE_DEFAULTS = {
    "okvqa": {**_FT, "warmup": 10, "epochs": 15},
    "okvqa-wiki11m": {**_FT, "warmup": 10, "epochs": 15},  # no config of its own: OK-VQA's
    "remuq": {**_FT, "warmup": 10, "epochs": 10},
    "evqa": {**_FT, "warmup": 200, "epochs": 5},
    "infoseek": {**_FT, "warmup": 200, "epochs": 5},
    "aokvqa": {**_FT, "lr": 2e-5, "warmup": 50, "epochs": 10, "batch_size": 32},
    "*": {**_FT, "warmup": 10, "epochs": 10},
}
