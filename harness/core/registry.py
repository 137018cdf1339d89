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

Third-party packages add tasks and retrievers without any change to mire-eval by declaring an
entry point in the group ``mire_eval.tasks`` or ``mire_eval.retrievers`` (docs/own-model.md):
its name is the registry name, its value the ``"module:attribute"`` target. They are found on
first use of a registry (``importlib.metadata``, which reads the installed packages' metadata
and imports nothing), so ``ls`` stays instant; a plug-in's module is imported when it runs.
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
            except Exception as exc:  # a plug-in's module may raise anything at import: one line naming it
                if entry.plugin is None:
                    raise
                said = str(exc) if isinstance(exc, (ImportError, AttributeError)) else f"{type(exc).__name__}: {exc}"
                raise MireEvalError(f"plug-in {self.kind} {name!r} ({entry.plugin}): cannot load "
                                    f"{entry.target} ({' '.join(said.split())[:160]})") from None
        return self._loaded[name]

