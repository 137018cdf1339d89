"""UniIR CLIP_SF (``uniir-clip-sf``): one CLIP, query text (M-BEIR instruction + question) and
image embeddings summed (score-level fusion), passages as text, cosine.

configuration (checkpoint, instructions, M-BEIR text formatting, options) · processing (CLIP
tokenisation and image preprocessing as OpenAI's ``clip`` makes them) · modeling (the forward
pass) · conversion (the released OpenAI-layout checkpoint -> transformers' CLIPModel) ·
encoding (loading, the Encoder the harness uses, ``build``). :mod:`harness.registry` names
``encoding:build``.
"""

from retrievers.uniir.configuration import (
    DEFAULT_CHECKPOINT, DEFAULT_INSTRUCTION, MBEIR_TASK6_INSTRUCTIONS, UniIRSettings,
)
from retrievers.uniir.encoding import UniIREncoder, build, load_uniir
from retrievers.uniir.modeling import UniIRClipSF

__all__ = ["DEFAULT_CHECKPOINT", "DEFAULT_INSTRUCTION", "MBEIR_TASK6_INSTRUCTIONS", "UniIRClipSF",
           "UniIREncoder", "UniIRSettings", "build", "load_uniir"]
