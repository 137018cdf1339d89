"""ColBERTv2 (``colbertv2``), also MIRe's text tower.

configuration (artifact.metadata, lengths) · tokenization ([Q]/[D] markers, [MASK] padding) ·
modeling (the model, loading and saving, the passage forward) · encoding (the Encoder the
harness uses) · training (the Trainable). :mod:`retrievers.registry` names ``encoding:build`` and
``training:build_trainable``.
"""

from retrievers.colbert.configuration import DEFAULT_CHECKPOINT, ColBERTSettings
from retrievers.colbert.encoding import ColBERTv2Encoder, build
from retrievers.colbert.modeling import ColBERTModel, TextTower, load_text_tower, save_text_tower
from retrievers.colbert.tokenization import ColBERTTokenizer
from retrievers.colbert.training import ColBERTTrainable, build_trainable

__all__ = [
    "DEFAULT_CHECKPOINT", "ColBERTModel", "ColBERTSettings", "ColBERTTokenizer", "ColBERTTrainable",
    "ColBERTv2Encoder", "TextTower", "build", "build_trainable", "load_text_tower", "save_text_tower",
]
