"""A toy task and a tiny late-interaction encoder whose tokens mean something (the probe's tests)."""

from __future__ import annotations

import torch

from harness.core.types import BytesImage, Corpus, Query, TaskData

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def _png(rgb) -> BytesImage:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), rgb).save(buf, format="PNG")
    return BytesImage(buf.getvalue(), origin=str(rgb))


class ColourWordEncoder:
    """A tiny late-interaction encoder whose tokens mean something.

    Dimension i stands for word i of a fixed vocabulary. A passage is its known words; a
    query is two visual tokens (the word for the image's dominant colour, then a generic
    "picture" token) followed by its known words. So a query scores a passage by the words
    they share, the image contributing the colour word.
    """

    name = "colour-words"
    similarity = "maxsim"
    modalities = frozenset({"text", "image"})
    visual_query_tokens = 2
    vocab = ["red", "green", "blue", "picture", "alpha", "beta", "gamma", "thing"]

    def _words(self, text):
        vecs = [torch.nn.functional.one_hot(torch.tensor(self.vocab.index(w)), len(self.vocab)).float()
                for w in text.lower().replace("?", "").split() if w in self.vocab]
        return vecs

    calls = 0

    def encode_queries(self, queries, view):
        self.calls += 1
        out = []
        for q in queries:
            rows = []
            if view != "text" and q.image is not None:
                pixel = q.image.load().getpixel((0, 0))
                colour = max(COLOURS, key=lambda c: -sum(abs(a - b) for a, b in zip(COLOURS[c], pixel)))
                rows += self._words(colour) + [0.5 * self._words("picture")[0]]
            if view != "image":
                rows += self._words(q.text)
            out.append(torch.stack(rows) if rows else torch.zeros(1, len(self.vocab)))
        return out

    def encode_passages(self, passages):
        return [torch.stack(self._words(p.contents) or [torch.zeros(len(self.vocab))]) for p in passages]

    def describe(self):
        return {"name": self.name}


def _task() -> TaskData:
    corpus = Corpus.from_records([
        {"_id": f"{c}-{w}", "title": "", "text": f"{c} {w} thing"}
        for c in COLOURS for w in ("alpha", "beta")
    ])
    queries, qrels = [], {}
    for i, (c, w) in enumerate((c, w) for c in COLOURS for w in ("alpha", "beta")):
        queries.append(Query(f"q{i}", f"{w} thing?", _png(COLOURS[c])))
        qrels[f"q{i}"] = {f"{c}-{w}": 1}
    types = {q.id: "both-needed" for q in queries}
    return TaskData("toy", "test", queries, corpus, qrels=qrels, meta={"query_types": types})
