"""Lazy registries: names map to ``"module:attribute"`` strings imported on first use.

So ``mire-eval --help`` and ``mire-eval ls`` list every task and retriever without
importing torch or transformers (the lm-evaluation-harness pattern).

>>> r = Registry("thing")
>>> r.register("json-dumps", "json:dumps", "serialise")
>>> r.names(), r.get("json-dumps")({"a": 1})
(['json-dumps'], '{"a": 1}')
>>> r.get("yaml")
Traceback (most recent call last):
...
harness.errors.MireEvalError: unknown thing 'yaml'; known: json-dumps
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from harness.errors import MireEvalError


@dataclass(frozen=True)
class Entry:
    name: str
    target: str
    summary: str | None  # None: the target's own ``description`` (a TaskSpec's), read on listing


class Registry:
    """Names -> lazily imported targets; ``patterns`` are names matched by form, not registered
    (``local:PATH``), listed by ``ls`` and named in the unknown-name error."""

    def __init__(self, kind: str, patterns: tuple[Entry, ...] = ()):
        self.kind = kind
        self.patterns = patterns
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, object] = {}

    def register(self, name: str, target: str, summary: str | None = None) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = Entry(name, target, summary)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Every entry, its summary filled in, then the patterns (a target without its own is imported to read it)."""
        return [self._described(self._entries[n]) for n in self.names()] + list(self.patterns)

    def _described(self, entry: Entry) -> Entry:
        if entry.summary is not None:
            return entry
        return Entry(entry.name, entry.target, getattr(self.get(entry.name), "description", ""))

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            known = ", ".join([*self.names(), *(p.name for p in self.patterns)])
            raise MireEvalError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._entries[name]

    def get(self, name: str):
        entry = self.entry(name)
        if name not in self._loaded:
            module, _, attr = entry.target.partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attr)
        return self._loaded[name]


TASKS = Registry("task", patterns=(Entry("local:PATH", "tasks.local:load_local",
                                          "any directory in the local format (docs/tasks.md)"),))
RETRIEVERS = Registry("retriever")

# Built-in entries. A task target is a ``tasks.base.TaskSpec``, which describes itself (its
# ``description`` is what ``ls`` shows); a retriever target is a factory
# ``build(checkpoint: str | None, device: str, **options) -> Retriever``.
for _name, _target in [
    ("sample", "tasks.sample:TASK"),
    ("okvqa", "tasks.okvqa:TASK"),
    ("okvqa-wiki11m", "tasks.okvqa_wiki11m:TASK"),
    ("infoseek", "tasks.infoseek:TASK"),
    ("evqa", "tasks.evqa:TASK"),
    ("remuq", "tasks.remuq:TASK"),
    ("diagnostic", "tasks.diagnostic:TASK"),
]:
    TASKS.register(_name, _target)

for _name, _target, _summary in [
    ("bm25", "retrievers.bm25:build", "BM25 over the question text (bm25s), text only"),
    ("colbertv2", "retrievers.colbert.encoding:build", "ColBERTv2 late interaction over the question text"),
    ("mire", "retrievers.mire.encoding:build", "MIRe: ColBERTv2 + frozen CLIP, query-guided pooling, fusion-free"),
    ("jfe", "retrievers.jfe.encoding:build", "one-tower MLLM (Qwen2-VL), image and question fused, last token"),
]:
    RETRIEVERS.register(_name, _target, _summary)

# Retrievers that never read an image: their runs (like every ``--view text`` run) load no query
# image, so a task's text baseline needs none of its images on disk (tasks.base.LoadOptions.images).
TEXT_ONLY_RETRIEVERS = frozenset({"bm25", "colbertv2"})

# Training (``mire-eval pretrain`` / ``finetune``), named per retriever: the factory
# ``build_trainable(checkpoint, device, stage, **options)`` (harness/training.py's contract),
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
    ("jfe", "retrievers.jfe.training:build_trainable", "retrievers.jfe.configuration:PRETRAIN_DEFAULTS",
     "retrievers.jfe.configuration:FINETUNE_DEFAULTS"),
]:
    TRAINABLES.register(_name, _build, "")  # a summary of "": listing never imports the target
    if _pretrain:
        PRETRAIN_DEFAULTS.register(_name, _pretrain, "")
    FINETUNE_DEFAULTS.register(_name, _finetune, "")
