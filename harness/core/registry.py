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
harness.core.errors.MireEvalError: unknown thing 'yaml'; known: json-dumps
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from harness.core.errors import MireEvalError


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

