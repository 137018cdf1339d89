"""MIRe (``mire``): ColBERTv2 + frozen CLIP, query-guided pooling, fusion-free.

configuration (model config, option values, training defaults) · modeling (the forward pass,
query and passage, in one file) · conversion (the authors' checkpoint layout -> ours) ·
encoding (the Encoder the harness uses) · training (the Trainable). :mod:`retrievers.registry`
names ``encoding:build``, ``training:build_trainable`` and the defaults in ``configuration``.
"""

from retrievers.mire.configuration import (
    DEFAULT_CHECKPOINT, FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS, VISION_MODELS, MIReConfig,
)
from retrievers.mire.conversion import LoadedMIRe, fresh_mire, load_mire, save_mire
from retrievers.mire.encoding import MIReEncoder, build
from retrievers.mire.modeling import MIReModel, QueryGuidedAttentivePooling
from retrievers.mire.training import FeatureCache, MIReTrainable, build_trainable

__all__ = [
    "DEFAULT_CHECKPOINT", "FINETUNE_DEFAULTS", "PRETRAIN_DEFAULTS", "VISION_MODELS", "FeatureCache",
    "LoadedMIRe", "MIReConfig", "MIReEncoder", "MIReModel", "MIReTrainable", "QueryGuidedAttentivePooling",
    "build", "build_trainable", "fresh_mire", "load_mire", "save_mire",
]
