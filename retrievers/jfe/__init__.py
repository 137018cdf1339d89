"""jfe (``jfe``): a one-tower multimodal LLM retriever, image and question fused, last token.

configuration (settings, prompts, training defaults) · modeling (prompts, the forward pass,
loading a model or checkpoint) · loading (processor, backbone, adapter; no surprises) ·
images (query images decoded per batch, shrunk at once) · encoding (the Encoder the harness
uses) · training (the Trainable). :mod:`harness.registry` names ``encoding:build``,
``training:build_trainable`` and the defaults in ``configuration``.
"""

from retrievers.jfe.configuration import (
    DEFAULT_MODEL, DEFAULT_REVISION, FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS, PROMPTS, JfeSettings,
)
from retrievers.jfe.encoding import JfeEncoder, build
from retrievers.jfe.images import IMAGE_LIMITS
from retrievers.jfe.loading import image_only_processor_class
from retrievers.jfe.modeling import JfeModel, load_model
from retrievers.jfe.training import build_trainable

DEFAULT_CHECKPOINT = DEFAULT_MODEL  # the hub model a run without --checkpoint loads (harness.hub_revision)

__all__ = [
    "DEFAULT_CHECKPOINT", "DEFAULT_MODEL", "DEFAULT_REVISION", "FINETUNE_DEFAULTS", "IMAGE_LIMITS", "PRETRAIN_DEFAULTS", "PROMPTS", "JfeEncoder", "JfeModel",
    "JfeSettings", "build", "build_trainable", "image_only_processor_class", "load_model",
]
