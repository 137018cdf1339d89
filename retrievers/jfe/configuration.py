"""jfe's configuration on :mod:`retrievers.mllm`: its prompts, default model, last-token pooling,
checkpoint record (``jfe_config.json``), and the training hyper-parameters
(``PRETRAIN_DEFAULTS`` / ``FINETUNE_DEFAULTS[task]``, named for ``jfe`` in :mod:`retrievers.registry`).

Prompts are configuration. ``prompts="zero-shot"`` (the default for a plain MLLM) asks, E5-V
style, for a one-word summary, so the next-token state compresses the input's meaning;
``prompts="instruct"`` (used for and recorded by trained checkpoints) prefixes the task
instruction, taking M2KR's per-query ``instruction`` when a query carries one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.core.images import ImageLimits
from retrievers.mllm.configuration import MllmSettings
from retrievers.mllm.images import QWEN2VL_IMAGE_LIMITS

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


@dataclass
class JfeSettings(MllmSettings):
    """jfe's options (every field of :class:`~retrievers.mllm.MllmSettings`, the base MLLM
    defaulting to Qwen2-VL-2B-Instruct at a pinned commit); recorded in ``describe()`` and
    ``jfe_config.json``."""

    family: ClassVar[str] = "jfe"
    prompt_sets: ClassVar[dict[str, dict[str, str]]] = PROMPTS
    train_prompts: ClassVar[str | None] = "instruct"  # trained checkpoints record it
    pooling: ClassVar[str] = "last"
    default_model: ClassVar[str | None] = DEFAULT_MODEL
    default_revision: ClassVar[str | None] = DEFAULT_REVISION
    config_name: ClassVar[str] = CONFIG_NAME
    image_limits: ClassVar[ImageLimits | None] = QWEN2VL_IMAGE_LIMITS

    model: str = DEFAULT_MODEL  # base MLLM: hub id or local directory
