"""jfe's settings: prompts, instructions, image bounds, precision, LoRA, and the training
hyper-parameters (``PRETRAIN_DEFAULTS`` / ``FINETUNE_DEFAULTS[task]``, named for ``jfe`` in
:mod:`retrievers.registry`).

Prompts are configuration. ``prompts="zero-shot"`` (the default for a plain MLLM) asks, E5-V
style, for a one-word summary, so the next-token state compresses the input's meaning;
``prompts="instruct"`` (used for and recorded by trained checkpoints) prefixes the task
instruction, taking M2KR's per-query ``instruction`` when a query carries one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from harness.core.errors import MireEvalError
from retrievers.jfe.loading import resolve_dtype
from retrievers.options import option_bool, option_float, option_int

DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"
DEFAULT_REVISION = "895c3a49bc3fa70a340399125c650a463535e71c"
CONFIG_NAME = "jfe_config.json"

# Placeholders: query {image} {instruction} {question}; passage {instruction} {title} {text}.
# {title} expands to "<title>\n" (or nothing when a passage has no title).
PROMPTS = {
    "zero-shot": {
        "query": "{image}\n{question}\nSummary above image and question in one word:",
        "passage": "{title}{text}\nSummary above passage in one word:",
    },
    "instruct": {
        "query": "{image}{instruction}\n{question}",
        "passage": "{instruction}\n{title}{text}",
    },
}
QUERY_INSTRUCTION = "Retrieve a passage that answers the question about the image."
PASSAGE_INSTRUCTION = "Represent the passage for retrieval."
LM_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

PRETRAIN_DEFAULTS = {  # stage 1, post-training adaptation on generic pairs
    "epochs": 1, "lr": 1e-4, "batch_size": 128, "micro_batch": 8, "warmup": 100, "temperature": 0.02,
    "prompts": "instruct",
}
_FINETUNE = {"epochs": 2, "lr": 1e-4, "batch_size": 64, "micro_batch": 8, "warmup": 50, "temperature": 0.02,
             "prompts": "instruct"}
FINETUNE_DEFAULTS = {  # stage 2, instruction tuning; M2KR tasks carry their own per-query instruction
    "*": _FINETUNE,
    "okvqa": {**_FINETUNE, "instruction": "Retrieve a document that provides the knowledge to answer the question about the image."},
    "okvqa-wiki11m": {**_FINETUNE, "instruction": "Retrieve a Wikipedia passage that provides the knowledge to answer the question about the image."},
    "infoseek": {**_FINETUNE, "instruction": "Retrieve a Wikipedia passage that answers the question about the entity in the image."},
    "evqa": {**_FINETUNE, "instruction": "Retrieve a Wikipedia passage that answers the question about the entity in the image."},
    "remuq": {**_FINETUNE, "instruction": "Retrieve a passage that answers the question about the image."},
}


# Command-line options (``-o key=value``) arrive as JSON-parsed text; each typed setting is
# checked here so a bad value is one line naming it, not a failure deep in transformers or peft.
_ZERO_OK = {"image_workers"}


def _checked(options: dict) -> dict:
    """``options`` with the int, float and bool settings read and range-checked."""
    kinds = {f.name: f.type for f in fields(JfeSettings)}
    out = dict(options)
    for name, value in options.items():
        kind = kinds.get(name)
        if kind == "int":
            out[name] = option_int(value, name, low=0 if name in _ZERO_OK else 1)
        elif kind == "float":  # lora_dropout is a probability
            out[name] = option_float(value, name, low=0, high=1) if name == "lora_dropout" else option_float(value, name)
        elif kind == "bool":
            out[name] = option_bool(value, name)
    return out


@dataclass
class JfeSettings:
    """Everything that decides an embedding; recorded in ``describe()`` and ``jfe_config.json``."""

    model: str = DEFAULT_MODEL  # base MLLM: hub id or local directory
    revision: str | None = None  # hub revision (pinned automatically for the default model)
    prompts: str = "zero-shot"  # zero-shot | instruct
    query_template: str | None = None  # overrides PROMPTS[prompts]["query"]
    passage_template: str | None = None
    instruction: str = QUERY_INSTRUCTION
    passage_instruction: str = PASSAGE_INSTRUCTION
    use_query_instruction: bool = True  # a query's own instruction (M2KR) wins over ``instruction``
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 1024 * 28 * 28  # at most 1024 visual tokens per image (Qwen2-VL: 28x28 px per token)
    question_max_tokens: int = 128
    passage_max_tokens: int = 384
    batch_size: int = 8  # items per forward pass when encoding
    group_by_length: bool = True
    dtype: str = "auto"  # auto (bf16 on CUDA with bf16 support, else fp16; fp32 on CPU) | fp32 | bf16 | fp16
    attn_implementation: str | None = None
    image_processor: str = "pil"  # pil | torchvision (transformers' backends; pil reproduces across machines)
    image_workers: int = 4  # threads decoding the next batch's images (0: decode in the calling thread)
    trust_remote_code: bool = False  # only ever from the command line, never from a checkpoint
    lora: bool = True  # training: LoRA adapters (False: full fine-tuning of the language model)
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = LM_LINEAR
    train_vision: bool = False  # full fine-tuning only: also train the vision tower
    gradient_checkpointing: bool = True
    weights: str = "base"  # what the checkpoint directory holds: base | lora | full

    @classmethod
    def create(cls, base: dict | None = None, **options) -> JfeSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise MireEvalError(f"jfe: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {**(base or {}), **_checked(options)}
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        settings = cls(**values)
        if settings.prompts not in PROMPTS:
            raise MireEvalError(f"jfe: prompts {settings.prompts!r}; known: {', '.join(PROMPTS)}")
        if settings.revision is None and settings.model == DEFAULT_MODEL:
            settings.revision = DEFAULT_REVISION
        return settings

    def template(self, role: str) -> str:
        own = self.query_template if role == "query" else self.passage_template
        return own or PROMPTS[self.prompts][role]

    def torch_dtype(self, device: str) -> torch.dtype:
        return resolve_dtype(self.dtype, device)


