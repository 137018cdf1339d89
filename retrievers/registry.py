"""The retrievers ``mire-eval`` knows by name, and how each one trains.

One line per family, ``name -> "module:build"``, imported only when the retriever is used (so
``mire-eval ls`` lists them without importing torch). A target is a factory
``build(checkpoint: str | None, device: str, **options)`` returning an
:class:`~retrievers.base.Encoder` (the harness adds the store, search and probe) or a complete
:class:`~retrievers.base.Retriever` (bm25). Adding a retriever is a folder in this package plus
one line here (docs/contributing.md).
"""

from __future__ import annotations

import importlib

from harness.core.errors import MireEvalError
from harness.core.registry import Registry

RETRIEVERS = Registry("retriever", group="mire_eval.retrievers")  # plug-ins: docs/own-model.md

for _name, _target, _summary in [
    ("bm25", "retrievers.bm25:build", "BM25 over the question text (bm25s), text only"),
    ("colbertv2", "retrievers.colbert.encoding:build", "ColBERTv2 late interaction over the question text"),
    ("mire", "retrievers.mire.encoding:build", "MIRe: ColBERTv2 + frozen CLIP, query-guided pooling, fusion-free"),
    ("jfe", "retrievers.jfe.encoding:build", "one-tower MLLM (Qwen2-VL), image and question fused, last token"),
    ("preflmr", "retrievers.preflmr.encoding:build",
     "PreFLMR / FLMR: ColBERTv2 + CLIP, mapped CLS + mapping network cross-attending to the question"),
    ("uniir-clip-sf", "retrievers.uniir.encoding:build", "UniIR CLIP_SF: CLIP text + image embeddings summed (score fusion)"),
    ("st", "retrievers.st.encoding:build", "any Sentence-Transformers model (--checkpoint), single- or multi-vector"),
    ("mteb", "retrievers.mteb.encoding:build", "a model through MTEB's encode protocol (-o model=NAME)"),
]:
    RETRIEVERS.register(_name, _target, _summary)

# Training (``mire-eval pretrain`` / ``finetune``), named per retriever: the factory
# ``build_trainable(checkpoint, device, stage, **options)`` (harness/training/trainer.py's contract),
# and the hyper-parameter defaults: ``PRETRAIN_DEFAULTS`` a flat dict, ``FINETUNE_DEFAULTS``
# ``{task: dict}`` with ``"*"`` as the fallback. A retriever missing from TRAINABLES cannot be
# trained; one missing from a defaults registry starts from the trainer's own defaults.
TRAINABLES = Registry("trainable retriever")
PRETRAIN_DEFAULTS = Registry("pre-training defaults")
FINETUNE_DEFAULTS = Registry("fine-tuning defaults")
for _name, _build, _pretrain, _finetune in [
    ("colbertv2", "retrievers.colbert.training:build_trainable", None,
     # the text-only baseline fine-tunes with MIRe's budget
     "retrievers.mire.configuration:FINETUNE_DEFAULTS"),
    ("mire", "retrievers.mire.training:build_trainable", "retrievers.mire.configuration:PRETRAIN_DEFAULTS",
     "retrievers.mire.configuration:FINETUNE_DEFAULTS"),
    ("jfe", "retrievers.jfe.encoding:build_trainable", "retrievers.jfe.configuration:PRETRAIN_DEFAULTS",
     "retrievers.jfe.configuration:FINETUNE_DEFAULTS"),
    ("preflmr", "retrievers.preflmr.training:build_trainable", "retrievers.preflmr.configuration:PRETRAIN_DEFAULTS",
     "retrievers.preflmr.configuration:FINETUNE_DEFAULTS"),
]:
    TRAINABLES.register(_name, _build, "")  # a summary of "": listing never imports the target
    if _pretrain:
        PRETRAIN_DEFAULTS.register(_name, _pretrain, "")
    FINETUNE_DEFAULTS.register(_name, _finetune, "")

# Options the reference evaluated a retriever with, per task and setting:
# ``reference_options(task, setting) -> {option: value}``, applied under a run's own ``-o``.
# Retrievers that never read an image: their runs (like every ``--view text`` run) load no query
# image, so a task's text baseline needs none of its images on disk (tasks.base.LoadOptions.images).
TEXT_ONLY_RETRIEVERS = frozenset({"bm25", "colbertv2"})

REFERENCE_OPTIONS = Registry("reference options")
REFERENCE_OPTIONS.register("mire", "retrievers.mire.configuration:reference_options", "")


def package_of(retriever: str):
    """The package a registered retriever is built by (``retrievers.jfe`` for
    ``retrievers.jfe.encoding:build``; a one-module family is its own package), imported; None
    for a name not registered. Where a family declares what the harness reads before loading a
    model: ``IMAGE_LIMITS``, ``DEFAULT_CHECKPOINT``."""
    try:
        module = RETRIEVERS.entry(retriever).target.partition(":")[0]
    except MireEvalError:
        return None
    return importlib.import_module(module.rsplit(".", 1)[0] if module.count(".") > 1 else module)


def image_limits(retriever: str):
    """The :class:`~harness.core.images.ImageLimits` a retriever's package declares
    (``IMAGE_LIMITS``), or None (no limits, or a name not registered)."""
    package = package_of(retriever)
    return getattr(package, "IMAGE_LIMITS", None) if package is not None else None
