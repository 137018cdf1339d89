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

Third-party packages add tasks and retrievers without any change to mire-eval by declaring an
entry point in the group ``mire_eval.tasks`` or ``mire_eval.retrievers`` (docs/own-model.md):
its name is the registry name, its value the ``"module:attribute"`` target. They are found on
first use of a registry (``importlib.metadata``, which reads the installed packages' metadata
and imports nothing), so ``ls`` stays instant; a plug-in's module is imported when it runs.
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
    plugin: str | None = None  # "<distribution> <version>" of a plug-in found by entry point


class Registry:
    """Names -> lazily imported targets; ``patterns`` are names matched by form, not registered
    (``local:PATH``), listed by ``ls`` and named in the unknown-name error."""

    def __init__(self, kind: str, patterns: tuple[Entry, ...] = (), group: str | None = None):
        self.kind = kind
        self.patterns = patterns
        self.group = group  # entry-point group of plug-ins, read on first use
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, object] = {}
        self._discovered = group is None

    def _discover(self) -> None:
        """Register the plug-ins of ``group`` once; a name already taken is one line, never a
        silent pick of one of the two."""
        if self._discovered:
            return
        self._discovered = True
        from importlib.metadata import entry_points

        for point in entry_points(group=self.group):
            dist = getattr(point, "dist", None)
            origin = f"{dist.name} {dist.version}" if dist is not None else "an unnamed distribution"
            if point.name in self._entries:
                taken = self._entries[point.name].plugin or "mire-eval"
                raise MireEvalError(f"plug-in {self.kind} {point.name!r} ({origin}, entry point group {self.group}): "
                                    f"the name is taken by {taken}; rename the entry point")
            if ":" not in point.value:
                raise MireEvalError(f"plug-in {self.kind} {point.name!r} ({origin}): entry point {point.value!r} "
                                    "must name module:attribute")
            self._entries[point.name] = Entry(point.name, point.value, f"plug-in ({origin})", origin)

    def register(self, name: str, target: str, summary: str | None = None) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = Entry(name, target, summary)

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Every entry, its summary filled in, then the patterns (a target without its own is imported to read it)."""
        return [self._described(self._entries[n]) for n in self.names()] + list(self.patterns)

    def _described(self, entry: Entry) -> Entry:
        if entry.summary is not None:
            return entry
        return Entry(entry.name, entry.target, getattr(self.get(entry.name), "description", ""))

    def entry(self, name: str) -> Entry:
        self._discover()
        if name not in self._entries:
            known = ", ".join([*self.names(), *(p.name for p in self.patterns)])
            raise MireEvalError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._entries[name]

    def get(self, name: str):
        entry = self.entry(name)
        if name not in self._loaded:
            module, _, attr = entry.target.partition(":")
            try:
                self._loaded[name] = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                if entry.plugin is None:
                    raise
                raise MireEvalError(f"plug-in {self.kind} {name!r} ({entry.plugin}): cannot load "
                                    f"{entry.target} ({' '.join(str(exc).split())[:160]})") from None
        return self._loaded[name]


TASKS = Registry("task", patterns=(Entry("local:PATH", "tasks.local:load_local",
                                          "any directory in the local format (docs/tasks.md)"),),
                 group="mire_eval.tasks")
RETRIEVERS = Registry("retriever", group="mire_eval.retrievers")

# Built-in entries. A task target is a ``tasks.base.TaskSpec``, which describes itself (its
# ``description`` is what ``ls`` shows); a retriever target is a factory
# ``build(checkpoint: str | None, device: str, **options) -> Retriever`` (a plug-in's may return
# an Encoder: the harness wraps it, harness.evaluate.build_retriever).
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
    ("preflmr", "retrievers.preflmr.encoding:build",
     "PreFLMR / FLMR: ColBERTv2 + CLIP, mapped CLS + mapping network cross-attending to the question"),
    ("uniir-clip-sf", "retrievers.uniir.encoding:build", "UniIR CLIP_SF: CLIP text + image embeddings summed (score fusion)"),
    ("st", "retrievers.st.encoding:build", "any Sentence-Transformers model (--checkpoint), single- or multi-vector"),
    ("mteb", "retrievers.mteb.encoding:build", "a model through MTEB's encode protocol (-o model=NAME)"),
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
    ("preflmr", "retrievers.preflmr.training:build_trainable", "retrievers.preflmr.configuration:PRETRAIN_DEFAULTS",
     "retrievers.preflmr.configuration:FINETUNE_DEFAULTS"),
]:
    TRAINABLES.register(_name, _build, "")  # a summary of "": listing never imports the target
    if _pretrain:
        PRETRAIN_DEFAULTS.register(_name, _pretrain, "")
    FINETUNE_DEFAULTS.register(_name, _finetune, "")

# Options the reference evaluated a retriever with, per task and setting:
# ``reference_options(task, setting) -> {option: value}``, applied under a run's own ``-o``.
REFERENCE_OPTIONS = Registry("reference options")
REFERENCE_OPTIONS.register("mire", "retrievers.mire.configuration:reference_options", "")
