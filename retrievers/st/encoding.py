"""Any Sentence-Transformers model as an Encoder (``--retriever st``).

Queries go through the model's own ``encode_query`` and passages through its own
``encode_document`` (its prompts, query expansion, lengths, masks); mire-eval owns the rest:
the store, exact and approximate search, the probe. The similarity is the model's:

* a :class:`~sentence_transformers.SentenceTransformer` gives one vector per item, scored as its
  ``similarity_fn_name`` says: ``cosine`` (vectors L2-normalised here, then a dot product) or
  ``dot``; other functions are refused in one line;
* a :class:`~sentence_transformers.MultiVectorEncoder` gives a [L_i, d] token matrix per item,
  scored by mire-eval's MaxSim (:func:`harness.search.maxsim_scores`), equal to the library's
  ``maxsim``; ``meanmaxsim`` (MaxSim over the query's token count) is the same search with every
  query row divided by the query's row count.

Query views (input masking, the probe's views):

* ``text``: the question alone (the image is never read);
* ``image``: the image alone when the model reads images alone; a model that reads images only
  together with text gets the image with an empty question; a text-only model has no image
  view (its ranking is empty, as for every text-only encoder);
* ``full``: the question and the image as the one text+image input the model declares
  (``model.supports(("image", "text"))``: ``{"text": question, "image": image}``). A model
  that reads text and images only separately (CLIP) needs ``-o fusion=sum``: the sum of the
  question's and the image's vectors (each L2-normalised first for a cosine model), or for a
  multi-vector model both token sets, one after the other (MaxSim over their union = the sum
  of both MaxSims). A text-only model on queries with images is refused in one line unless
  ``--view text`` (a text baseline, labelled by its view).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from harness.errors import MireEvalError
from harness.types import Passage, Query
from retrievers.base import EncoderRetriever, check_view
from retrievers.checkpoint import device_of
from retrievers.options import check_options, option_bool, option_choice, option_int
from retrievers.st.loading import MULTI, LoadedModel, load_model

FUSIONS = ("none", "sum")
SINGLE_SIMILARITIES = ("cosine", "dot")


class STEncoder:
    """A loaded Sentence-Transformers model behind the Encoder protocol (retrievers/base.py)."""

    name = "st"

    def __init__(self, loaded: LoadedModel, device: str = "cpu", fusion: str = "none", batch_size: int = 32,
                 trust_remote_code: bool = False):
        self.loaded, self.model, self.device = loaded, loaded.model, device
        self.fusion = option_choice(fusion, "fusion", FUSIONS)
        self.batch_size = option_int(batch_size, "batch_size")
        self.trust_remote_code = trust_remote_code
        self.multi = loaded.layout.model_class == MULTI
        self.similarity_fn = str(self.model.similarity_fn_name)
        if self.multi:
            self.similarity = "maxsim"
        elif self.similarity_fn in SINGLE_SIMILARITIES:
            self.similarity = self.similarity_fn
        else:
            raise MireEvalError(f"{loaded.source}: similarity_fn_name: {self.similarity_fn!r} is not a dot product; "
                                f"--retriever st searches {', '.join(SINGLE_SIMILARITIES)} and MaxSim")
        self.reads_pairs = bool(self.model.supports(("image", "text")))  # one text+image input
        self.reads_images = bool(self.model.supports("image"))  # an image alone
        self.modalities = frozenset({"text", "image"} if self.reads_pairs or self.reads_images else {"text"})
        self._passage_dim: int | None = None

    # ---------------------------------------------------------------- checks
    def check_queries(self, queries: Sequence[Query], view: str) -> None:
        """Refuse, before any passage is encoded, a view the model cannot realise."""
        check_view(view)
        has_images = any(q.image is not None for q in queries)
        if view == "text" or not has_images:
            return
        source = self.loaded.source
        if self.modalities == {"text"}:
            raise MireEvalError(f"--retriever st: {source} reads text only (modalities: text) and the task's queries "
                                f"have images; use --view text for a text baseline (the question alone)")
        if view == "full" and not self.reads_pairs and self.fusion == "none":
            raise MireEvalError(f"--retriever st: {source} reads text and images only separately "
                                f"(modalities: {', '.join(map(str, self.model.modalities))}); pass -o fusion=sum "
                                "(the sum of the question's and the image's embeddings) or use --view text")

    # ---------------------------------------------------------------- encoding
    def _encode(self, inputs: list, role: str):
        """The model's own encode_query / encode_document: [n, d] (single) or n x [L_i, d]."""
        encode = self.model.encode_query if role == "query" else self.model.encode_document
        if self.multi:
            out = [m.detach().float().cpu() for m in encode(inputs, batch_size=self.batch_size,
                                                              show_progress_bar=False)]
            empty = [i for i, m in enumerate(out) if m.shape[0] == 0]
            if empty:
                raise MireEvalError(f"--retriever st: the model kept no token vector of a {role} "
                                    f"(input {empty[0]} of its batch); MaxSim needs at least one")
            return out
        out = encode(inputs, batch_size=self.batch_size, show_progress_bar=False, convert_to_tensor=True)
        out = out.detach().float().cpu()
        return F.normalize(out, p=2, dim=-1) if self.similarity == "cosine" else out

    def _grouped(self, inputs: list, kinds: list[str]):
        """Encode queries of several input kinds (the library takes one kind per call), back in order."""
        rows: list = [None] * len(inputs)
        for kind in dict.fromkeys(kinds):
            picked = [i for i, k in enumerate(kinds) if k == kind]
            encoded = self._encode([inputs[i] for i in picked], "query")
            for i, row in zip(picked, encoded):
                rows[i] = row
        return rows

    def _fused(self, queries: Sequence[Query], images: list) -> list:
        """``fusion=sum``: the question's and the image's encodings combined (see the module docstring)."""
        texts = self._encode([q.text for q in queries], "query")
        pictures = self._encode(images, "query")
        if self.multi:
            return [torch.cat([t, p]) for t, p in zip(texts, pictures)]
        total = texts + pictures  # (B, d); each normalised already for a cosine model
        return list(F.normalize(total, p=2, dim=-1) if self.similarity == "cosine" else total)

    @torch.inference_mode()
    def encode_queries(self, queries: Sequence[Query], view: str = "full"):
        check_view(view)
        if view == "text" or all(q.image is None for q in queries):
            rows = list(self._encode([q.text for q in queries], "query"))
        else:
            self.check_queries(queries, view)
            images = [None if q.image is None else q.image.load() for q in queries]
            if view == "image":
                inputs = [q.text if im is None else self._image_only(im) for q, im in zip(queries, images)]
                rows = self._grouped(inputs, [_kind(x) for x in inputs])
            elif self.reads_pairs:
                inputs = [q.text if im is None else {"text": q.text, "image": im} for q, im in zip(queries, images)]
                rows = self._grouped(inputs, [_kind(x) for x in inputs])
            else:
                with_image = [i for i, im in enumerate(images) if im is not None]
                rows = list(self._encode([q.text for q in queries], "query"))
                fused = self._fused([queries[i] for i in with_image], [images[i] for i in with_image])
                for i, row in zip(with_image, fused):
                    rows[i] = row
        self._check_dims(rows, view)
        if self.multi:
            if self.similarity_fn == "meanmaxsim":
                rows = [m / m.shape[0] for m in rows]  # MaxSim is linear in the query rows
            return rows
        return torch.stack(rows)

    def _check_dims(self, rows: list, view: str) -> None:
        """Query vectors must live in the passages' space: a model whose text+image or image output
        has another width (BLIP's multimodal features beside its text projection) is one line."""
        if self._passage_dim is None:
            self._passage_dim = int(self._encode(["dimension"], "document")[0].shape[-1])
        widths = {int(r.shape[-1]) for r in rows}
        if widths != {self._passage_dim}:
            raise MireEvalError(f"--retriever st: {self.loaded.source}: its {view!r} query vectors have "
                                f"{sorted(widths)} dimensions and its passage vectors {self._passage_dim}: "
                                "they cannot be compared (use another view or model)")

    def _image_only(self, image):
        return image if self.reads_images else {"text": "", "image": image}

    @torch.inference_mode()
    def encode_passages(self, passages: Sequence[Passage]):
        return self._encode([p.contents for p in passages], "document")

    # ---------------------------------------------------------------- describe
    def _views(self) -> dict[str, str]:
        if self.reads_pairs:
            full = "the model's own text+image input {'text': question, 'image': image}"
        elif self.modalities == {"image", "text"}:
            full = ("fusion=sum: the question's and the image's " + (
                "token matrices, one after the other (MaxSim over their union)" if self.multi else
                "vectors added" + (" after L2 normalisation" if self.similarity == "cosine" else ""))
                if self.fusion == "sum" else "refused: the model reads text and images only separately "
                "(-o fusion=sum to add them)")
        else:
            full = "refused on queries with images: the model reads text only (--view text: a text baseline)"
        image = ("the image alone" if self.reads_images else "the image with an empty question" if self.reads_pairs
                 else "not searched: the model reads no images (empty ranking)")
        return {"full": full, "text": "the question alone (the image is not read)", "image": image}

    def model_record(self) -> dict:
        """What the leaderboard and meta.json record of the model (``describe()["model"]``)."""
        import sentence_transformers

        m, loaded = self.model, self.loaded
        prompts = {k: v for k, v in (m.prompts or {}).items() if v}
        return {
            "library": "sentence-transformers", "library_version": sentence_transformers.__version__,
            "class": loaded.layout.model_class, "format": loaded.layout.format,
            "checkpoint": loaded.source, "revision": loaded.revision, "fingerprint": loaded.fingerprint,
            "weights": loaded.weights, "prompts": prompts,
            "query_prompt": m.prompts.get("query", "") if m.prompts else "",
            "document_prompt": m.prompts.get("document", "") if m.prompts else "",
            "default_prompt_name": m.default_prompt_name,
            "similarity": self.similarity_fn, "vectors": "multi" if self.multi else "single",
            "modalities": [x if isinstance(x, str) else "+".join(x) for x in m.modalities],
            "max_seq_length": getattr(m, "max_seq_length", None),
            "custom_code": list(loaded.layout.custom_code),
        }

    def describe(self) -> dict:
        return {
            "name": self.name, "checkpoint": self.loaded.source, "similarity": self.similarity,
            "views": self._views(),
            "options": {"fusion": self.fusion, "batch_size": self.batch_size,
                        "trust_remote_code": self.trust_remote_code},
            "model": self.model_record(),
            "attribution": ("MaxSim per query token" if self.multi else
                            "none: one vector per query has no per-token split"),
        }


def _kind(item) -> str:
    return "text" if isinstance(item, str) else "pair" if isinstance(item, dict) else "image"


_OPTIONS = {"trust_remote_code", "fusion", "batch_size", "window"}


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> EncoderRetriever:
    """``st``: any Sentence-Transformers model (``--checkpoint`` folder or hub id@revision).
    Options: fusion (none | sum), batch_size (32), window (passages per encoding call, 256),
    trust_remote_code (false; run code the checkpoint names only when given true here)."""
    check_options("st", options, _OPTIONS)
    window = option_int(options.pop("window", 256), "window")
    trust = option_bool(options.pop("trust_remote_code", False), "trust_remote_code")
    loaded = load_model(checkpoint, device_of(device), trust_remote_code=trust)
    return EncoderRetriever(STEncoder(loaded, device, trust_remote_code=trust, **options), passage_batch=window)
