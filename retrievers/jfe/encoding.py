"""The ``jfe`` retriever: the Encoder the harness uses (length-grouped batches, images decoded
a batch ahead) and its factory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import torch

from harness.core.types import Passage, Query
from retrievers.base import check_view
from retrievers.jfe.images import batches, image_size
from retrievers.jfe.modeling import JfeModel, load_model


class JfeEncoder:
    name = "jfe"
    similarity = "cosine"
    modalities = frozenset({"text", "image"})

    def __init__(self, model: JfeModel, device: str, window: int = 64):
        self.model = model
        self.device = device
        self.passage_batch = self.query_batch = window  # items length-sorted together before batching

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
            "name": self.name, "checkpoint": self.model.source, "similarity": self.similarity,
            "views": {"full": "image and question in one chat turn", "text": "image left out of the prompt",
                      "image": "question left out of the prompt"},
            "options": asdict(s),
            "query_prompt": s.template("query"), "passage_prompt": s.template("passage"),
            "pooling": "last token, final hidden state, L2-normalised",
            "dtype_resolved": str(s.torch_dtype(self.device)).removeprefix("torch."),
            "image_processor_class": type(getattr(self.model.processor, "image_processor", None)).__name__,
            "lora": {None: None, True: "merged into the fp32 weights",
                     False: "kept as a separate branch (merging into half-precision weights rounds the update away)"
                     }[self.model.lora_merged],
        }


def build(checkpoint: str | None = None, device: str = "cpu", window: int = 1024, **options) -> JfeEncoder:
    """The jfe retriever. ``window`` items are length-sorted together before batching."""
    model = load_model(checkpoint, device, trainable=False, options=options)
    return JfeEncoder(model, device, window)

