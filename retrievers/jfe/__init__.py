"""jfe (``jfe``): a one-tower multimodal LLM retriever, image and question fused, last token.

A configuration of the multimodal-LLM base :mod:`retrievers.mllm`: configuration (settings,
prompts, training defaults) · encoding (JfeModel, JfeEncoder, ``build``, ``build_trainable``).
:mod:`retrievers.registry` names ``encoding:build``, ``encoding:build_trainable`` and the
defaults in ``configuration``.
"""

from retrievers.jfe.configuration import (
    DEFAULT_MODEL, DEFAULT_REVISION, FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS, PROMPTS, JfeSettings,
)
from retrievers.jfe.encoding import JfeEncoder, JfeModel, build, build_trainable, load_model
from retrievers.mllm.loading import image_only_processor_class

DEFAULT_CHECKPOINT = DEFAULT_MODEL  # the hub model a run without --checkpoint loads (harness.evaluation.hub_revision)
IMAGE_LIMITS = JfeSettings.image_limits  # screened before any model is loaded (retrievers.registry.image_limits)

__all__ = [
    "DEFAULT_CHECKPOINT", "DEFAULT_MODEL", "DEFAULT_REVISION", "FINETUNE_DEFAULTS", "IMAGE_LIMITS", "PRETRAIN_DEFAULTS", "PROMPTS", "JfeEncoder", "JfeModel",
    "JfeSettings", "build", "build_trainable", "image_only_processor_class", "load_model",
]
