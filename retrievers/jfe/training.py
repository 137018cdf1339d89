"""jfe training: the Trainable is :class:`~retrievers.jfe.modeling.JfeModel` itself, built
for training (LoRA by default; ``lora=False`` full fine-tuning)."""

from __future__ import annotations

from harness.core.errors import MireEvalError
from retrievers.jfe.modeling import JfeModel, load_model


def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune", **options) -> JfeModel:
    """The Trainable for :mod:`harness.training.trainer` (LoRA by default; ``lora=False`` full fine-tuning)."""
    if stage not in ("pretrain", "finetune"):
        raise MireEvalError(f"jfe: unknown stage {stage!r}; known: pretrain, finetune")
    return load_model(checkpoint, device, trainable=True, options=options)
