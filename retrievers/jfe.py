"""jfe: a one-tower multimodal LLM retriever with early fusion (after "Joint Fusion and Encoding",
arXiv 2502.20008; no code was released, so the choices below follow E5-V, VLM2Vec and GME).

The query's image and question enter one chat turn of an image-text-to-text model (default
Qwen2-VL-2B-Instruct), so the two modalities interact in every layer. A passage is the same
model reading instruction + title + text. The embedding of either is the final hidden state of
the last prompt token (the chat template's generation prompt), L2-normalised; retrieval is
cosine through the harness's shared exact search.

Prompts are configuration. ``prompts="zero-shot"`` (the default for a plain MLLM) asks, E5-V
style, for a one-word summary, so the next-token state compresses the input's meaning;
``prompts="instruct"`` (used for and recorded by trained checkpoints) prefixes the task
instruction, taking M2KR's per-query ``instruction`` when a query carries one. Query views:
``text`` leaves the image out of the prompt, ``image`` leaves the question out; nothing else
in the prompt changes.

Checkpoints: ``--checkpoint`` is a hub id or local MLLM directory (zero-shot), or a directory
written by :meth:`JfeModel.save_checkpoint` (``jfe_config.json`` + peft LoRA adapter as
safetensors, or full weights), which records its base model and prompts. Loading (remote code,
weight checks, precision, the image processor) is :mod:`retrievers.jfe_load`; query images are
decoded per batch and shrunk right after decoding (:mod:`retrievers.jfe_images`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.errors import MireEvalError
from harness.types import Passage, Query
from retrievers.base import EncoderRetriever, check_view
from retrievers.jfe_images import batches, fitter, image_size
from retrievers.jfe_load import (  # noqa: F401  (image_only_processor_class: re-exported)
    image_only_processor_class,
    load_adapter,
    load_backbone,
    load_processor,
    resolve_dtype,
)

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
        values = {**(base or {}), **options}
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


# --------------------------------------------------------------------------------------------
# The model: prompts in, normalised last-token states out
# --------------------------------------------------------------------------------------------
class JfeModel(torch.nn.Module):
    """Backbone + processor + prompt settings; also the Trainable of :mod:`harness.training`."""

    similarity = "cosine"

    def __init__(self, backbone, processor, settings: JfeSettings, source: str | None = None):
        super().__init__()
        self.backbone = backbone
        self.processor = processor
        self.settings = settings
        self.source = source  # the --checkpoint this model was built from
        self.lora_merged: bool | None = None  # None: no adapter; False: kept as a separate branch
        self.fit = fitter(getattr(processor, "image_processor", None))  # decoded image -> processor's size

    # -- prompts ----------------------------------------------------------------------------------
    def _truncate(self, text: str, limit: int) -> str:
        ids = self.processor.tokenizer(text, add_special_tokens=False)["input_ids"]
        return text if len(ids) <= limit else self.processor.tokenizer.decode(ids[:limit])

    def _chat(self, template: str, values: dict[str, str], with_image: bool) -> str:
        content = []
        for i, part in enumerate(template.split("{image}")):
            if i > 0 and with_image:
                content.append({"type": "image"})
            text = part.format(**values)
            if text:
                content.append({"type": "text", "text": text})
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def query_prompt(self, query: Query, view: str = "full") -> tuple[str, bool]:
        """The chat prompt of a query under a view, and whether it holds the image."""
        s = self.settings
        instruction = (query.instruction if s.use_query_instruction and query.instruction else None) or s.instruction
        question = "" if view == "image" else self._truncate(query.text, s.question_max_tokens)
        with_image = query.image is not None and view != "text"
        return self._chat(s.template("query"), {"instruction": instruction, "question": question}, with_image), with_image

    def passage_prompt(self, passage: Passage) -> str:
        s = self.settings
        title = f"{passage.title}\n" if passage.title else ""
        values = {"instruction": s.passage_instruction, "title": title,
                  "text": self._truncate(passage.text, s.passage_max_tokens)}
        return self._chat(s.template("passage"), values, with_image=False)

    # -- batches ------------------------------------------------------------------------------------
    def _encode_inputs(self, texts: list[str], images: list) -> dict[str, torch.Tensor]:
        kwargs = {"images": images} if images else {}
        return dict(self.processor(text=texts, padding=True, return_tensors="pt", **kwargs))

    def collate_queries(self, queries: Sequence[Query], view: str = "full", images: list | None = None) -> dict:
        prompts = [self.query_prompt(q, view) for q in queries]
        loaded = images if images is not None else [self.load_image(q.image) if q.image is not None else None
                                                    for q in queries]
        return self._encode_inputs([p for p, _ in prompts], [im for (_, has), im in zip(prompts, loaded) if has])

    def load_image(self, ref):
        """Decode a query image and shrink it at once to the size the processor would give it."""
        image = ref.load()
        return self.fit(image) if self.fit is not None else image

    def collate_passages(self, passages: Sequence[Passage]) -> dict:
        return self._encode_inputs([self.passage_prompt(p) for p in passages], [])

    def embed(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, None]:
        out = self.backbone(**batch, use_cache=False)
        hidden = out.last_hidden_state  # (B, L, H)
        mask = batch["attention_mask"]  # (B, L); either padding side
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(dim=1)  # (B,) index of each row's last real token
        emb = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, H)
        return F.normalize(emb.float(), dim=-1), None

    embed_queries = embed
    embed_passages = embed

    # -- lengths for grouping -----------------------------------------------------------------------
    def prompt_length(self, prompt: str, size: tuple[int, int] | None = None) -> int:
        """Tokens the model will see: the prompt's, with its one image placeholder token replaced
        by the image's visual tokens (``size`` = (width, height))."""
        n = len(self.processor.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if size is not None and hasattr(self.processor, "_get_num_multimodal_tokens"):
            width, height = size
            visual = self.processor._get_num_multimodal_tokens(image_sizes=[(height, width)]).num_image_tokens[0]
            n += visual - 1  # the placeholder is counted in the prompt's tokens already
        return n

    # -- checkpoints ----------------------------------------------------------------------------------
    def save_checkpoint(self, directory: Path) -> None:
        """LoRA: peft adapter (safetensors) + jfe_config.json; full: model weights + processor + config."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        is_peft = hasattr(self.backbone, "peft_config")
        self.backbone.save_pretrained(directory, safe_serialization=True)
        self.processor.save_pretrained(directory)
        record = {**asdict(self.settings), "weights": "lora" if is_peft else "full"}
        del record["trust_remote_code"]  # never read back from a checkpoint: only the command line sets it
        if not is_peft:
            record["model"], record["revision"] = ".", None  # the weights live in this directory
        (directory / CONFIG_NAME).write_text(json.dumps(record, indent=1))


def _read_saved(directory: Path) -> dict | None:
    path = directory / CONFIG_NAME
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MireEvalError(f"{path}: not valid JSON ({exc.msg})") from None
    if saved.get("weights") not in ("lora", "full"):
        raise MireEvalError(f"{path}: field 'weights' must be 'lora' or 'full'")
    if saved.get("model") == ".":
        saved["model"] = str(directory)
    return saved


def load_model(checkpoint: str | None, device: str, trainable: bool, options: dict) -> JfeModel:
    """Resolve ``checkpoint`` (None, an MLLM, or a jfe checkpoint directory) into a JfeModel."""
    saved = _read_saved(Path(checkpoint)) if checkpoint and Path(checkpoint).is_dir() else None
    if saved is None:
        defaults = {"model": checkpoint} if checkpoint else {}
        if trainable:
            defaults["prompts"] = "instruct"
        settings = JfeSettings.create(defaults, **options)
    else:
        # A checkpoint never turns remote code on; only the command line (options) does.
        settings = JfeSettings.create({k: v for k, v in saved.items() if k != "trust_remote_code"}, **options)
    dtype = settings.torch_dtype(device)
    if trainable and not settings.lora and settings.dtype == "auto":
        dtype = torch.float32  # full fine-tuning keeps fp32 master weights; the trainer autocasts to bf16
    backbone = load_backbone(settings.model, settings, device, dtype)
    model_type = backbone.config.model_type
    if saved is not None:  # the processor was saved beside the weights or adapter
        processor = load_processor(checkpoint, model_type, settings, revision=None)
    else:
        processor = load_processor(settings.model, model_type, settings, settings.revision)
    merged = None
    if saved is not None and saved["weights"] == "lora":
        backbone, merged = load_adapter(backbone, checkpoint, trainable, dtype)
    elif trainable and settings.lora:
        from peft import LoraConfig, get_peft_model

        from harness.quiet import quiet_peft_wrap

        # Target the language model's linear layers only (the vision tower stays frozen).
        targets = rf".*language_model.*\.({'|'.join(settings.lora_targets)})$"
        lora = LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                          target_modules=targets)
        with quiet_peft_wrap():
            backbone = get_peft_model(backbone, lora)
    elif trainable:
        for name, p in backbone.named_parameters():
            p.requires_grad_(settings.train_vision or not name.startswith("visual"))
    settings.weights = saved["weights"] if saved is not None else "base"
    model = JfeModel(backbone, processor, settings, source=checkpoint).to(device)
    model.lora_merged = merged
    if trainable and settings.gradient_checkpointing:
        _enable_checkpointing(backbone)
    return model.train() if trainable else model.eval()


def _enable_checkpointing(backbone) -> None:
    """Activation checkpointing, non-reentrant (no input-grad hooks needed under LoRA)."""
    base = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone
    kwargs = {"use_reentrant": False}
    if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.x
        base.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


# --------------------------------------------------------------------------------------------
# Encoder (inference) with length-grouped batches
# --------------------------------------------------------------------------------------------
class JfeEncoder:
    name = "jfe"
    similarity = "cosine"
    modalities = frozenset({"text", "image"})

    def __init__(self, model: JfeModel, device: str):
        self.model = model
        self.device = device

    def _run(self, prompts: list[str], refs: list, lengths: list[int]) -> torch.Tensor:
        """Embed ``prompts`` (with the images ``refs``, None where a prompt has none), longest
        first in batches; each batch's images are decoded while the previous batch runs."""
        s = self.model.settings
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i]) if s.group_by_length else list(range(len(prompts)))
        out: list[torch.Tensor | None] = [None] * len(prompts)
        with torch.inference_mode():
            for idx, images in batches(refs, order, s.batch_size, self.model.fit, s.image_workers):
                batch = self.model._encode_inputs([prompts[i] for i in idx], [im for im in images if im is not None])
                emb, _ = self.model.embed({k: v.to(self.device) for k, v in batch.items()})
                for row, i in enumerate(idx):
                    out[i] = emb[row].cpu()
        return torch.stack(out) if out else torch.zeros(0)

    def encode_queries(self, queries: Sequence[Query], view: str = "full") -> torch.Tensor:
        check_view(view)
        prompts, refs = [], []
        for q in queries:
            prompt, with_image = self.model.query_prompt(q, view)
            prompts.append(prompt)
            refs.append(q.image if with_image else None)
        lengths = [self.model.prompt_length(p, image_size(r) if r is not None else None) for p, r in zip(prompts, refs)]
        return self._run(prompts, refs, lengths)

    def encode_passages(self, passages: Sequence[Passage]) -> torch.Tensor:
        prompts = [self.model.passage_prompt(p) for p in passages]
        lengths = [self.model.prompt_length(p) for p in prompts]
        return self._run(prompts, [None] * len(prompts), lengths)

    def describe(self) -> dict:
        s = self.model.settings
        return {
            "name": "jfe", "checkpoint": self.model.source, **asdict(s),
            "query_template": s.template("query"), "passage_template": s.template("passage"),
            "pooling": "last token, final hidden state, L2-normalised",
            "views": {"text": "image left out of the prompt", "image": "question left out of the prompt"},
            "dtype_resolved": str(s.torch_dtype(self.device)).removeprefix("torch."),
            "image_processor_class": type(getattr(self.model.processor, "image_processor", None)).__name__,
            "lora": {None: None, True: "merged into the fp32 weights",
                     False: "kept as a separate branch (merging into half-precision weights rounds the update away)"
                     }[self.model.lora_merged],
        }


def build(checkpoint: str | None = None, device: str = "cpu", window: int = 1024, **options) -> EncoderRetriever:
    """The jfe retriever. ``window`` items are length-sorted together before batching."""
    model = load_model(checkpoint, device, trainable=False, options=options)
    return EncoderRetriever(JfeEncoder(model, device), passage_batch=window, query_batch=window)


def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune", **options) -> JfeModel:
    """The Trainable for :mod:`harness.training` (LoRA by default; ``lora=False`` full fine-tuning)."""
    if stage not in ("pretrain", "finetune"):
        raise MireEvalError(f"jfe: unknown stage {stage!r}; known: pretrain, finetune")
    return load_model(checkpoint, device, trainable=True, options=options)
