"""A model through MTEB's encode protocol (``--retriever mteb -o model=NAME``).

``NAME`` is an ``mteb.get_model`` name (``owner/name``, ``@revision`` pins one) or a local
Sentence-Transformers folder, which MTEB's own ``SentenceTransformerEncoderWrapper`` wraps (what
``get_model`` does for such models, without asking the hub). Any object with MTEB's
``EncoderProtocol.encode`` works the same way (:class:`MtebEncoder`).

Inputs go through MTEB's own retrieval dataloader (``mteb._create_dataloaders.create_dataloader``)
from the columns of an MTEB retrieval dataset, so MTEB itself shapes them:

* passages: ``id``, ``title``, ``text`` (MTEB joins title and text with a space);
  ``prompt_type=PromptType.document``;
* queries: ``id``, ``text`` (the question), ``instruction`` when a query has one
  (``Query.instruction``; MTEB appends it to the text after a space), ``image`` (PIL, RGB);
  ``prompt_type=PromptType.query``;
* ``task_metadata``: ``-o task=NAME`` names an MTEB task whose metadata (and so the model's
  prompts and instructions for it) applies, e.g. ``OKVQAIT2TRetrieval``; by default a neutral
  Any2AnyRetrieval metadata (``MireEvalRetrieval``, no prompt of its own).

Views: ``text`` drops the ``image`` column, ``image`` drops the text columns (a model that
reads no images has no image view), ``full`` passes both. The similarity is the model's
``mteb_model_meta.similarity_fn_name``: ``cosine`` (vectors normalised here) or ``dot``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.errors import MireEvalError
from harness.types import Passage, Query
from retrievers.base import EncoderRetriever, check_view
from retrievers.checkpoint import device_of
from retrievers.options import check_options, option_int

EXTRA = "mteb"
NEUTRAL_TASK = "MireEvalRetrieval"


def require_mteb():
    try:
        import mteb
    except ImportError:
        raise MireEvalError(f"--retriever mteb needs mteb: pip install 'mire-eval[{EXTRA}]'") from None
    return mteb


def neutral_metadata():
    """An Any2AnyRetrieval TaskMetadata with no prompt, for tasks MTEB does not have."""
    from mteb.abstasks.task_metadata import TaskMetadata

    return TaskMetadata(
        name=NEUTRAL_TASK, description="a mire-eval task (image + question -> passage)", reference=None,
        dataset={"path": "mire-eval/task", "revision": "0"}, type="Any2AnyRetrieval", category="it2t",
        modalities=["image", "text"], eval_splits=["test"], eval_langs=["eng-Latn"], main_score="ndcg_at_10",
        date=None, domains=None, task_subtypes=None, license=None, annotations_creators=None, dialect=None,
        sample_creation=None, bibtex_citation="")


def task_metadata(name: str | None):
    if not name:
        return neutral_metadata()
    mteb = require_mteb()
    try:
        return mteb.get_task(name).metadata
    except Exception as exc:  # KeyError / ValueError for an unknown name
        raise MireEvalError(f"--retriever mteb: option task={name!r}: not an MTEB task "
                            f"({' '.join(str(exc).split())[:120]})") from None


class MtebEncoder:
    """An object with MTEB's ``encode(inputs: DataLoader, *, task_metadata, hf_split, hf_subset,
    prompt_type, **encode_kwargs)`` behind the Encoder protocol (retrievers/base.py)."""

    name = "mteb"

    def __init__(self, model, model_name: str, metadata, batch_size: int = 32, split: str = "test"):
        self.model, self.model_name, self.metadata = model, model_name, metadata
        self.batch_size, self.split = option_int(batch_size, "batch_size"), split
        meta = getattr(model, "mteb_model_meta", None)
        self.meta = meta
        fn = str(getattr(meta, "similarity_fn_name", None) or "cosine").lower()
        fn = fn.rsplit(".", 1)[-1]  # ScoringFunction.COSINE -> cosine
        if fn not in ("cosine", "dot"):
            raise MireEvalError(f"--retriever mteb: {model_name}: similarity {fn!r}; "
                                "only single-vector cosine and dot models go through the encode protocol here")
        self.similarity = fn
        modalities = set(getattr(meta, "modalities", None) or ["text"])
        self.modalities = frozenset({"text", "image"} & modalities) or frozenset({"text"})

    def _encode(self, columns: dict[str, list], prompt_type, metadata=None) -> torch.Tensor:
        """Encode one column set through MTEB's own retrieval dataloader (``create_dataloader``)."""
        from datasets import Dataset
        from mteb._create_dataloaders import create_dataloader

        import warnings

        from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

        n = len(next(iter(columns.values())))
        metadata = metadata or self.metadata
        bars = is_progress_bar_enabled()
        disable_progress_bar()  # MTEB's per-call dataset maps, instant here
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # mteb's use of deprecated ST names
                loader = create_dataloader(Dataset.from_dict(columns), task_metadata=metadata,
                                           prompt_type=prompt_type, batch_size=self.batch_size)
                out = self.model.encode(loader, task_metadata=metadata, hf_split=self.split, hf_subset="default",
                                        prompt_type=prompt_type, batch_size=self.batch_size, show_progress_bar=False)
        finally:
            if bars:
                enable_progress_bar()
        out = torch.as_tensor(out).float().cpu()
        if out.ndim != 2 or out.shape[0] != n:
            raise MireEvalError(f"--retriever mteb: {self.model_name}: encode returned shape {tuple(out.shape)} "
                                f"for {n} inputs; expected ({n}, dim)")
        return F.normalize(out, p=2, dim=-1) if self.similarity == "cosine" else out

    def check_queries(self, queries: Sequence[Query], view: str) -> None:
        check_view(view)
        if view != "text" and "image" not in self.modalities and any(q.image is not None for q in queries):
            raise MireEvalError(f"--retriever mteb: {self.model_name} reads text only and the task's queries have "
                                "images; use --view text for a text baseline (the question alone)")

    def _metadata_for(self, category: str):
        """The task metadata with the query side's modalities of ``category`` (it2t, t2t, i2t)."""
        if self.metadata.category == category:
            return self.metadata
        return self.metadata.model_copy(update={"category": category})

    @torch.inference_mode()
    def encode_queries(self, queries: Sequence[Query], view: str = "full") -> torch.Tensor:
        """Queries in MTEB's raw query columns (id, text, instruction, image), one call per column
        set; MTEB's loader appends the instruction and converts the images as it does for a task."""
        from mteb.types import PromptType

        check_view(view)
        self.check_queries(queries, view)
        kinds = ["text" if view == "text" or q.image is None else view for q in queries]
        out: list = [None] * len(queries)
        for kind in dict.fromkeys(kinds):
            picked = [i for i, k in enumerate(kinds) if k == kind]
            group = [queries[i] for i in picked]
            columns: dict[str, list] = {"id": [q.id for q in group]}
            if kind != "image":
                columns["text"] = [q.text for q in group]
                if any(q.instruction is not None for q in group):
                    columns["instruction"] = [q.instruction for q in group]
            if kind != "text":
                columns["image"] = [q.image.load() for q in group]
            category = {"text": "t2t", "image": "i2t", "full": "it2t"}[kind]
            for i, vec in zip(picked, self._encode(columns, PromptType.query, self._metadata_for(category))):
                out[i] = vec
        return torch.stack(out)

    @torch.inference_mode()
    def encode_passages(self, passages: Sequence[Passage]) -> torch.Tensor:
        """Passages as MTEB's corpus columns (id, title, text); its loader joins title and text."""
        from mteb.types import PromptType

        columns = {"id": [p.id for p in passages], "title": [p.title for p in passages],
                   "text": [p.text for p in passages]}
        return self._encode(columns, PromptType.document)

    def describe(self) -> dict:
        meta = self.meta
        record = {
            "library": "mteb", "library_version": _version("mteb"), "class": type(self.model).__name__,
            "checkpoint": self.model_name, "revision": getattr(meta, "revision", None),
            "fingerprint": _fingerprint(self.model_name), "similarity": self.similarity, "vectors": "single",
            "modalities": sorted(self.modalities), "task_metadata": self.metadata.name,
            "prompts": {k: v for k, v in (getattr(self.model, "model_prompts", None) or {}).items()},
            "task_prompt": getattr(self.metadata, "prompt", None),
            "instruction": "Query.instruction appended to the question after a space, as MTEB's retrieval loader does",
        }
        image = "the image alone" if "image" in self.modalities else "not searched: the model reads no images"
        return {
            "name": self.name, "checkpoint": self.model_name, "similarity": self.similarity,
            "views": {"full": "question (with instruction) and image columns", "text": "the image column dropped",
                      "image": image},
            "options": {"model": self.model_name, "task": self.metadata.name, "batch_size": self.batch_size},
            "model": record,
            "attribution": "none: one vector per query has no per-token split",
        }


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _fingerprint(name: str) -> str | None:
    from harness.fingerprint import checkpoint_fingerprint

    return checkpoint_fingerprint(name)


def load_mteb_model(name: str, device: str):
    """``mteb.get_model(name)`` (``@revision`` pins one); a local Sentence-Transformers folder
    through MTEB's own wrapper of such models."""
    mteb = require_mteb()
    local = Path(name).expanduser()
    if local.exists():
        from retrievers.st.loading import MULTI, load_model

        loaded = load_model(str(local), device)
        if loaded.layout.model_class == MULTI:
            raise MireEvalError(f"--retriever mteb: {name}: a MultiVectorEncoder; use --retriever st "
                                "(MaxSim through mire-eval's store)")
        import warnings

        from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # mteb calls a renamed sentence-transformers method
            return SentenceTransformerEncoderWrapper(loaded.model, device=device)
    model_name, _, revision = name.partition("@")
    try:
        return mteb.get_model(model_name, revision=revision or None, device=device)
    except Exception as exc:  # unknown name, no hub, missing implementation: one line
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise MireEvalError(f"--retriever mteb: option model={name!r}: mteb cannot load it ({reason})") from None


_OPTIONS = {"model", "task", "batch_size", "window"}


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> EncoderRetriever:
    """``mteb``: ``-o model=NAME`` (an ``mteb.get_model`` name or a local Sentence-Transformers folder),
    ``-o task=NAME`` (an MTEB task's metadata), batch_size (32), window (256)."""
    check_options("mteb", options, _OPTIONS)
    name = options.pop("model", None) or checkpoint
    if not name:
        raise MireEvalError("--retriever mteb: option model: missing; pass -o model=NAME (an mteb.get_model name)")
    window = option_int(options.pop("window", 256), "window")
    model = load_mteb_model(str(name), device_of(device))
    encoder = MtebEncoder(model, str(name), task_metadata(options.pop("task", None)), **options)
    return EncoderRetriever(encoder, passage_batch=window)
