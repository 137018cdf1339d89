"""A multimodal LLM as an embedder: the model every family on :mod:`retrievers.mllm` shares.

The forward pass, query and passage alike:

    chat prompt (image placeholder, instruction, question | title, text)   (MllmModel.*_prompt)
    processor -> input_ids, attention_mask [B, L]; pixel_values, image_grid_thw (queries)
    backbone (the MLLM without its LM head) -> last_hidden_state          [B, L, H]
    pooling (settings.pooling: last real token | mean of real tokens | last EOS)  [B, H]
    L2 normalise                                                          [B, H] -> cosine

The query's image and question enter one chat turn of an image-text-to-text model, so the two
modalities interact in every layer. Query views: ``text`` leaves the image out of the prompt,
``image`` leaves the question out; nothing else in the prompt changes.

Checkpoints: ``--checkpoint`` is a hub id or local MLLM directory (zero-shot), or a directory
written by :meth:`MllmModel.save_checkpoint` (the family's ``config_name`` file + peft LoRA
adapter as safetensors, or full weights), which records its base model and prompts. Loading
(remote code, weight checks, precision, the image processor) is :mod:`retrievers.mllm.loading`;
query images are decoded per batch and shrunk right after decoding (:mod:`retrievers.mllm.images`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.core.errors import MireEvalError
from harness.core.quiet import quiet_peft_wrap, quiet_saving
from harness.core.types import Passage, Query
from retrievers.mllm.configuration import MllmSettings
from retrievers.mllm.images import fitter
from retrievers.mllm.loading import load_adapter, load_backbone, load_processor


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str, input_ids: torch.Tensor | None = None,
         eos_id: int | None = None) -> torch.Tensor:
    """One vector per row of ``hidden`` [B, L, H] (``mask`` [B, L], 1 on real tokens, either
    padding side): ``last`` real token, ``mean`` over real tokens, or ``eos``: the last position
    holding ``eos_id`` in ``input_ids`` [B, L] (a :class:`MireEvalError` for a row without one).
    Returns [B, H] in ``hidden``'s dtype.

    >>> h = torch.arange(12.).view(1, 4, 3); m = torch.tensor([[0, 1, 1, 0]])
    >>> pool(h, m, "last").tolist(), pool(h, m, "mean").tolist()
    ([[6.0, 7.0, 8.0]], [[4.5, 5.5, 6.5]])
    >>> pool(h, m, "eos", torch.tensor([[5, 9, 2, 0]]), eos_id=9).tolist()
    [[3.0, 4.0, 5.0]]
    """
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    positions = torch.arange(mask.shape[1], device=mask.device)
    if how == "last":
        return hidden[rows, (mask * positions).argmax(dim=1)]  # each row's last real token
    if how == "mean":
        weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, L, 1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    if how == "eos":
        is_eos = (input_ids == eos_id) & mask.bool()
        if not is_eos.any(dim=1).all():
            raise MireEvalError("eos pooling: a prompt holds no end-of-sequence token (end the template with it)")
        return hidden[rows, (is_eos * positions).argmax(dim=1)]
    raise MireEvalError(f"pooling {how!r}; known: last, mean, eos")


class MllmModel(torch.nn.Module):
    """Backbone + processor + prompt settings; also the Trainable of :mod:`harness.training.trainer`.
    ``settings_class`` is the family's :class:`MllmSettings` subclass."""

    settings_class: type[MllmSettings] = MllmSettings

    similarity = "cosine"

    def __init__(self, backbone, processor, settings: MllmSettings, source: str | None = None):
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
        emb = pool(hidden, batch["attention_mask"], self.settings.pooling, batch.get("input_ids"),
                   self.processor.tokenizer.eos_token_id)  # (B, H)
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
        """LoRA: peft adapter (safetensors) + the settings record (``config_name``); full: model
        weights + processor + the record."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        is_peft = hasattr(self.backbone, "peft_config")
        with quiet_saving():
            self.backbone.save_pretrained(directory, safe_serialization=True)
        self.processor.save_pretrained(directory)
        record = {**asdict(self.settings), "weights": "lora" if is_peft else "full"}
        del record["trust_remote_code"]  # never read back from a checkpoint: only the command line sets it
        if not is_peft:
            record["model"], record["revision"] = ".", None  # the weights live in this directory
        (directory / self.settings.config_name).write_text(json.dumps(record, indent=1))


def _read_saved(directory: Path, config_name: str) -> dict | None:
    path = directory / config_name
    if not path.is_file():
        return None
    from harness.core.textfiles import load_json

    saved = load_json(path)  # invalid UTF-8 or JSON: one line naming file and line
    if saved.get("weights") not in ("lora", "full"):
        raise MireEvalError(f"{path}: field 'weights' must be 'lora' or 'full'")
    if saved.get("model") == ".":
        saved["model"] = str(directory)
    return saved


def load_model(model_class: type[MllmModel], checkpoint: str | None, device: str, trainable: bool,
               options: dict) -> MllmModel:
    """Resolve ``checkpoint`` (None: the family's default model; an MLLM; or a checkpoint
    directory of the family) into a ``model_class`` (an :class:`MllmModel`), built for
    inference or, with ``trainable``, for training (LoRA unless ``lora=False``)."""
    settings_class = model_class.settings_class
    config = settings_class.config_name
    saved = _read_saved(Path(checkpoint), config) if checkpoint and Path(checkpoint).is_dir() else None
    if saved is None:
        defaults = {"model": checkpoint} if checkpoint else {}
        if trainable and settings_class.train_prompts:
            defaults["prompts"] = settings_class.train_prompts
        settings = settings_class.create(defaults, **options)
    else:
        # A checkpoint never turns remote code on; only the command line (options) does.
        settings = settings_class.create({k: v for k, v in saved.items() if k != "trust_remote_code"}, **options)
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
    model = model_class(backbone, processor, settings, source=checkpoint).to(device)
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

