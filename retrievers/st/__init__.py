"""Sentence-Transformers models (``st``): any ``SentenceTransformer`` (one vector) or
``MultiVectorEncoder`` (token vectors, MaxSim), text or multimodal as the model declares.

loading (layout -> class, custom code only on request, weights read safely) · encoding (the
Encoder the harness uses, views by input masking, ``build``). Needs the ``st`` extra
(``pip install 'mire-eval[st]'``); importing this package does not import the library.
"""
