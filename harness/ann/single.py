"""Approximate search for single-vector encoders: each vector searched as a one-row matrix.

MaxSim of a [1, d] query against a [1, d] passage is their dot product, so a cosine or dot
encoder seen this way scores every passage exactly as before, and the ``ivf``/``ivfpq``
index (built over store token rows) applies unchanged: one token per passage. Used by
``--search ivf|ivfpq`` (:func:`harness.evaluate.index_retriever`) for any single-vector encoder.
"""

from __future__ import annotations

SINGLE_VECTOR = ("cosine", "dot")


class OneTokenMaxSim:
    """A single-vector encoder behind the maxsim side of the Encoder protocol; everything else
    (``check_queries``, the probe's hooks, ``describe``) is the wrapped encoder's."""

    similarity = "maxsim"

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.modalities = inner.modalities

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_queries(self, queries, view):
        return list(self.inner.encode_queries(queries, view).unsqueeze(1))  # n x [1, d]

    def encode_passages(self, passages):
        return list(self.inner.encode_passages(passages).unsqueeze(1))  # n x [1, d]

    def describe(self) -> dict:
        return {**self.inner.describe(), "vectors_searched_as": (
            f"one-row matrices: the {self.inner.similarity} vectors under MaxSim (= their dot product), "
            "so that the ivf/ivfpq index applies")}


def as_token_encoder(retriever) -> None:
    """Give ``retriever`` (an EncoderRetriever of a single-vector encoder) the one-token view."""
    encoder = getattr(retriever, "encoder", None)
    if getattr(encoder, "similarity", None) in SINGLE_VECTOR and hasattr(retriever, "use_store"):
        retriever.encoder = OneTokenMaxSim(encoder)
