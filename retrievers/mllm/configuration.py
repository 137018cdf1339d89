"""The settings of a multimodal LLM embedder: one dataclass a family subclasses.

A family (``jfe``, or a VLM2Vec-, GME- or E5-V-style retriever) is a subclass that sets its
class-level configuration (:class:`typing.ClassVar`, so never an option, never recorded) and,
where it differs, a field's default:

* ``family``: its registered name, the prefix of its error lines;
* ``prompt_sets``: ``{name: {"query": template, "passage": template}}``, chosen by the
  ``prompts`` option (placeholders: query ``{image} {instruction} {question}``; passage
  ``{instruction} {title} {text}``; ``{title}`` expands to ``"<title>\\n"`` or nothing);
* ``train_prompts``: the prompt set a model built for training from a plain MLLM takes (None:
  the ``prompts`` default);
* ``pooling``: ``last`` (each row's last real token), ``mean`` (the mean over real tokens) or
  ``eos`` (each row's last end-of-sequence token) of the final hidden state, then L2-normalised;
* ``default_model`` / ``default_revision``: the MLLM a run without ``--checkpoint`` loads (its
  hub commit pinned);
* ``config_name``: the file a checkpoint records its settings in;
* ``image_limits``: the images the processor refuses, screened before any model is loaded.

The fields are the options (``-o key=value``), every one recorded in ``describe()["options"]``
and in the checkpoint's ``config_name`` file; their order is that record's order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch

from harness.core.errors import MireEvalError
from harness.core.images import ImageLimits
from retrievers.mllm.images import QWEN2VL_IMAGE_LIMITS
from retrievers.mllm.loading import resolve_dtype
from retrievers.options import option_bool, option_float, option_int

QUERY_INSTRUCTION = "Retrieve a passage that answers the question about the image."
PASSAGE_INSTRUCTION = "Represent the passage for retrieval."
LM_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
POOLINGS = {
    "last": "last token, final hidden state, L2-normalised",
    "mean": "mean over real tokens, final hidden state, L2-normalised",
    "eos": "last end-of-sequence token, final hidden state, L2-normalised",
}

# Command-line options (``-o key=value``) arrive as JSON-parsed text; each typed setting is
# checked here so a bad value is one line naming it, not a failure deep in transformers or peft.
_ZERO_OK = {"image_workers"}


@dataclass
class MllmSettings:
    """Everything that decides an embedding; recorded in ``describe()`` and the checkpoint."""

    family: ClassVar[str] = "mllm"
    prompt_sets: ClassVar[dict[str, dict[str, str]]] = {}
    train_prompts: ClassVar[str | None] = None
    pooling: ClassVar[str] = "last"
    default_model: ClassVar[str | None] = None
    default_revision: ClassVar[str | None] = None
    config_name: ClassVar[str] = "mllm_config.json"
    image_limits: ClassVar[ImageLimits | None] = QWEN2VL_IMAGE_LIMITS

    model: str | None = None  # base MLLM: hub id or local directory
    revision: str | None = None  # hub revision (pinned automatically for the default model)
    prompts: str = "zero-shot"  # a key of prompt_sets
    query_template: str | None = None  # overrides prompt_sets[prompts]["query"]
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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.pooling not in POOLINGS:
            raise ValueError(f"{cls.__name__}.pooling {cls.pooling!r}; known: {', '.join(POOLINGS)}")

    @classmethod
    def _checked(cls, options: dict) -> dict:
        """``options`` with the int, float and bool settings read and range-checked."""
        kinds = {f.name: f.type for f in fields(cls)}
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

    @classmethod
    def create(cls, base: dict | None = None, **options) -> MllmSettings:
        """Settings from ``base`` (a checkpoint's record, or defaults) under ``options`` (the
        command line); an unknown option, a bad typed value or an unknown prompt set is a
        :class:`MireEvalError` naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise MireEvalError(f"{cls.family}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {**(base or {}), **cls._checked(options)}
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        settings = cls(**values)
        if settings.prompts not in cls.prompt_sets:
            raise MireEvalError(f"{cls.family}: prompts {settings.prompts!r}; known: {', '.join(cls.prompt_sets)}")
        if not settings.model:
            raise MireEvalError(f"{cls.family}: no model (pass --checkpoint or -o model=NAME)")
        if settings.revision is None and settings.model == cls.default_model:
            settings.revision = cls.default_revision
        return settings

    def template(self, role: str) -> str:
        """The prompt template of ``role`` (``query`` or ``passage``)."""
        own = self.query_template if role == "query" else self.passage_template
        return own or self.prompt_sets[self.prompts][role]

    def torch_dtype(self, device: str) -> torch.dtype:
        return resolve_dtype(self.dtype, device, self.family)
