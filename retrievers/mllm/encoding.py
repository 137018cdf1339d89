"""The Encoder of a multimodal LLM embedder (length-grouped batches, images decoded a batch
ahead), and the two factories a family's ``build`` / ``build_trainable`` call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import torch

from harness.core.types import Passage, Query
from retrievers.base import check_view
from harness.core.errors import MireEvalError
from retrievers.mllm.configuration import POOLINGS
from retrievers.mllm.images import batches, image_size
from retrievers.mllm.modeling import MllmModel, load_model


class MllmEncoder:
    """The :class:`~retrievers.base.Encoder` of an :class:`MllmModel` (``name``: its family)."""

    similarity = "cosine"
    modalities = frozenset({"text", "image"})

    def __init__(self, model: MllmModel, device: str, window: int = 64):
        self.model = model
        self.device = device
        self.passage_batch = self.query_batch = window  # items length-sorted together before batching

    @property
    def name(self) -> str:
        return self.model.settings.family

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
        limits = self.model.settings.image_limits
        lengths = [self.model.prompt_length(p, image_size(r, limits) if r is not None else None)
                   for p, r in zip(prompts, refs)]
        return self._run(prompts, refs, lengths)

    def encode_passages(self, passages: Sequence[Passage]) -> torch.Tensor:
        prompts = [self.model.passage_prompt(p) for p in passages]
        lengths = [self.model.prompt_length(p) for p in prompts]
        return self._run(prompts, [None] * len(prompts), lengths)

    def describe(self) -> dict:
        s = self.model.settings
        return {
            "name": self.name, "checkpoint": self.model.source, "similarity": self.similarity,
            "views": {"full": "image and question in one chat turn", "text": "image left out of the prompt",
                      "image": "question left out of the prompt"},
            "options": asdict(s),
            "query_prompt": s.template("query"), "passage_prompt": s.template("passage"),
            "pooling": POOLINGS[s.pooling],
            "dtype_resolved": str(s.torch_dtype(self.device)).removeprefix("torch."),
            "image_processor_class": type(getattr(self.model.processor, "image_processor", None)).__name__,
            "lora": {None: None, True: "merged into the fp32 weights",
                     False: "kept as a separate branch (merging into half-precision weights rounds the update away)"
                     }[self.model.lora_merged],
        }


def build_encoder(encoder_class: type[MllmEncoder], model_class: type[MllmModel], checkpoint: str | None,
                  device: str, window: int, options: dict) -> MllmEncoder:
    """``encoder_class`` over a ``model_class`` loaded for inference from ``checkpoint``
    (:func:`~retrievers.mllm.modeling.load_model`); ``window`` items are length-sorted
    together before batching."""
    return encoder_class(load_model(model_class, checkpoint, device, trainable=False, options=options), device, window)


def build_trainable_model(model_class: type[MllmModel], checkpoint: str | None, device: str, stage: str,
                          options: dict) -> MllmModel:
    """The Trainable for :mod:`harness.training.trainer`: ``model_class`` built for training
    (LoRA by default; ``lora=False`` full fine-tuning). ``stage``: pretrain | finetune."""
    if stage not in ("pretrain", "finetune"):
        raise MireEvalError(f"{model_class.settings_class.family}: unknown stage {stage!r}; known: pretrain, finetune")
    return load_model(model_class, checkpoint, device, trainable=True, options=options)
