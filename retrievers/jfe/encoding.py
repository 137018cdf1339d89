"""jfe: a one-tower multimodal LLM retriever with early fusion (after "Joint Fusion and Encoding",
arXiv 2502.20008; no code was released, so the choices follow E5-V, VLM2Vec and GME).

The query's image and question enter one chat turn of Qwen2-VL-2B-Instruct (by default); the
final hidden state of the last token, L2-normalised, is the embedding. Everything but the
configuration (:mod:`retrievers.jfe.configuration`) is the multimodal-LLM base,
:mod:`retrievers.mllm` (prompts, pooling, loading, images, checkpoints, the Encoder).
"""

from __future__ import annotations

from retrievers.jfe.configuration import JfeSettings
from retrievers.mllm.encoding import MllmEncoder, build_encoder, build_trainable_model
from retrievers.mllm.modeling import MllmModel
from retrievers.mllm.modeling import load_model as _load_model


class JfeModel(MllmModel):
    """jfe's model (and Trainable)."""

    settings_class = JfeSettings


class JfeEncoder(MllmEncoder):
    """jfe's Encoder (``name`` ``jfe``)."""


def load_model(checkpoint: str | None, device: str, trainable: bool, options: dict) -> JfeModel:
    """Resolve ``checkpoint`` (None, an MLLM, or a jfe checkpoint directory) into a JfeModel."""
    return _load_model(JfeModel, checkpoint, device, trainable, options)


def build(checkpoint: str | None = None, device: str = "cpu", window: int = 1024, **options) -> JfeEncoder:
    """The jfe retriever. ``window`` items are length-sorted together before batching."""
    return build_encoder(JfeEncoder, JfeModel, checkpoint, device, window, options)


def build_trainable(checkpoint: str | None = None, device: str = "cpu", stage: str = "finetune", **options) -> JfeModel:
    """The Trainable for :mod:`harness.training.trainer` (LoRA by default; ``lora=False`` full fine-tuning)."""
    return build_trainable_model(JfeModel, checkpoint, device, stage, options)
