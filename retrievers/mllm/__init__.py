"""A multimodal LLM as an embedder: the base a family (``jfe``; a VLM2Vec-, GME- or E5-V-style
retriever) is a configuration of.

configuration (:class:`MllmSettings`: the options, and the class-level configuration a family
sets: prompts, pooling, default model, checkpoint record, image limits) · modeling (prompts,
pooling, the forward pass, checkpoints, :func:`load_model`) · loading (processor, backbone,
adapter; no surprises) · images (query images decoded per batch, shrunk at once) · encoding
(:class:`MllmEncoder`, the Encoder the harness uses, and the factories). A new family is a
settings subclass plus a ``build`` (docs/contributing.md, "A multimodal-LLM embedder").
"""

from retrievers.mllm.configuration import LM_LINEAR, POOLINGS, MllmSettings
from retrievers.mllm.encoding import MllmEncoder, build_encoder, build_trainable_model
from retrievers.mllm.images import QWEN2VL_IMAGE_LIMITS
from retrievers.mllm.loading import image_only_processor_class
from retrievers.mllm.modeling import MllmModel, load_model, pool

__all__ = [
    "LM_LINEAR", "POOLINGS", "QWEN2VL_IMAGE_LIMITS", "MllmEncoder", "MllmModel", "MllmSettings", "build_encoder",
    "build_trainable_model", "image_only_processor_class", "load_model", "pool",
]
