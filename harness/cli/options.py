"""The options ``run``, ``probe``, ``finetune`` and ``pretrain`` share, declared once.

A command names the shared flags it takes and receives them as one :class:`CommandOptions`::

    @shared_options("task", "retriever", "k", help={"k": "passages per query and view"})
    def probe(opts: CommandOptions, stat_test: str = typer.Option("student")): ...

:func:`shared_options` adds each named flag (:data:`FLAGS`: type, default, spelling, help) to
the command's signature, which is what typer reads, and collects them into ``opts``; the
command's own parameters follow. ``opts.run_settings()`` is the run they describe.

Its own module so the command modules import it rather than one another (no import cycle);
like :mod:`harness.cli`, it imports nothing heavy.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from harness.core.errors import MireEvalError


@dataclass(frozen=True)
class Flag:
    """One shared flag: its type, default, spellings (default ``--name-with-dashes``), help."""

    kind: Any
    default: Any
    help: str
    decls: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)  # e.g. min=1

    def option(self, help: str | None = None):
        default = list(self.default) if isinstance(self.default, list) else self.default
        return typer.Option(default, *self.decls,
                            help=help or self.help, **self.extra)


# numpy's np.random.seed takes 0 <= seed < 2**32; every seed flag is held to that range so that
# a bad seed is a one-line usage error, not a ValueError from numpy mid-run.
SEED_RANGE = {"min": 0, "max": 2**32 - 1}

FLAGS: dict[str, Flag] = {
    "task": Flag(str, ..., "task name or local:PATH", ("--task", "-t")),
    "retriever": Flag(str, ..., "retriever name", ("--retriever", "-r")),
    "checkpoint": Flag(Optional[str], None, "a hub id (owner/name, optionally @commit), a local checkpoint directory "
                       "or one weights file (.safetensors / .pt, read without pickle); default: the retriever's "
                       "released checkpoint (mire-eval ls retrievers)"),
    "split": Flag(str, "test", "split to evaluate"),
    "k": Flag(int, 100, "passages retrieved per query", extra={"min": 1}),
    "limit": Flag(Optional[int], None, "evaluate only the first N queries", extra={"min": 1}),
    "device": Flag(str, "cpu", "cpu | cuda | cuda:N | mps (under torchrun: each rank's own GPU)",
                   extra={"callback": lambda value: check_device(value)}),
    "view": Flag(str, "full", "full, text (image removed) or image (question removed)"),
    "setting": Flag(Optional[str], None, "zero-shot | aligned | fine-tuned, optionally @label (how the model was "
                    "trained, a label for the leaderboard); default: what the checkpoint's training.json says "
                    "(finetune: fine-tuned, pretrain: aligned), else zero-shot; an override is recorded in meta.json"),
    "output": Flag(Path, Path("results"), "results directory", ("--output",)),
    "overwrite": Flag(bool, False, "recompute even if an identical run is finished"),
    "data_dir": Flag(Optional[Path], None, "local copy of the task's release"),
    "image_dir": Flag(Optional[Path], None, "where the query images live"),
    "skip_missing_images": Flag(bool, False, "skip (and count) queries whose image is missing or corrupt"),
    "relevance": Flag(Optional[str], None, "override the task's relevance (e.g. gold, answer-word)"),
    "empty_answers": Flag(str, "ignore", "answers empty after strip(): ignore, or all-relevant (every passage "
                          "relevant, as MIRe's has_answers and FLMR do)"),
    "option": Flag(list[str], [], "retriever option KEY=VALUE (repeatable)", ("--option", "-o")),
    "search": Flag(str, "exact", "exact | ivf | ivfpq: exact MaxSim, or approximate late-interaction "
                   "search over the embedding store (docs/ann.md)"),
    "search_option": Flag(list[str], [], "KEY=VALUE for --search ivf|ivfpq: nlist, nprobe, candidates, "
                          "interaction, sample, niter, seed, pq_m, pq_nbits, refine, audit (repeatable)", ("--search-option",)),
    "seed": Flag(int, 0, "seed of the run", extra=SEED_RANGE),
    "metrics": Flag(Optional[str], None, "comma-separated ranx metric names (default: the standard set)"),
}


class _CommandOptionsMethods:
    """What a command does with its shared flags (the fields come from :data:`FLAGS`)."""

    def load(self, split: str | None = None):
        """The :class:`tasks.base.LoadOptions` the data flags name (``split`` overrides); a
        ``--data-dir`` / ``--image-dir`` that does not exist is a one-line error here."""
        from retrievers.registry import TEXT_ONLY_RETRIEVERS

        check_folders(self.data_dir, self.image_dir)
        images = self.retriever not in TEXT_ONLY_RETRIEVERS and self.view != "text"
        return load_options(split or self.split, self.data_dir, self.image_dir, self.skip_missing_images,
                            self.relevance, self.empty_answers, images)

    def run_settings(self, **overrides):
        """The :class:`harness.evaluation.pipeline.RunSettings` of these flags (``overrides`` win)."""
        from harness.evaluation.pipeline import RunSettings

        values = dict(
            task=self.task, retriever=self.retriever, checkpoint=self.checkpoint, split=self.split, k=self.k,
            limit=self.limit, device=self.device, view=self.view, setting=self.setting, output=self.output,
            overwrite=self.overwrite, seed=self.seed, retriever_options=parse_options(self.option),
            search=self.search, search_options=parse_options(self.search_option, "--search-option"),
        )
        if self.metrics is not None:
            from harness.metrics.scoring import check_metrics

            values["metrics"] = tuple(check_metrics(self.metrics.split(",")))
            values["metrics_named"] = True  # deeper than --k is then computed, marked depth-limited
        values.update(overrides)
        if "setting" in overrides:
            values["setting_source"] = "set by the command"
        else:
            from harness.core.provenance import resolve_setting

            values["setting"], values["setting_source"] = resolve_setting(self.setting, values["checkpoint"])
        values.setdefault("load", self.load(values["split"]))
        return RunSettings(**values)


def _field(flag: Flag):
    if isinstance(flag.default, list):
        return field(default_factory=list)
    return field(default=None if flag.default is ... else flag.default)


# The shared flags a command was given (those it does not take stay at their defaults): one
# field per entry of FLAGS, so each flag's name and default are declared once, there.
CommandOptions = make_dataclass("CommandOptions", [(n, Any, _field(f)) for n, f in FLAGS.items()],
                                bases=(_CommandOptionsMethods,))


def shared_options(*names: str, help: dict[str, str] | None = None):
    """Give a typer command the shared flags ``names``; it receives them as its first argument,
    a :class:`CommandOptions`. ``help`` rewords a flag's help for this command."""
    unknown = set(names) - set(FLAGS) | set(help or {}) - set(names)
    if unknown:
        raise ValueError(f"shared_options: unknown or unused flags {sorted(unknown)}")

    def wrap(command):
        signature = inspect.signature(command)
        own = list(signature.parameters.values())[1:]  # the first is the options object
        shared = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=FLAGS[n].kind,
                                    default=FLAGS[n].option((help or {}).get(n))) for n in names]
        own = [p if p.kind is inspect.Parameter.VAR_KEYWORD else p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
               for p in own]

        @functools.wraps(command)
        def wrapper(**kwargs):
            given = {}
            for n in names:  # a direct call may leave some out: the flag's default then
                default = FLAGS[n].default
                given[n] = kwargs.pop(n, None if default is ... else default)
            return command(CommandOptions(**given), **kwargs)

        wrapper.__signature__ = signature.replace(parameters=shared + own)
        return wrapper

    return wrap


def parse_options(pairs: list[str], flag: str = "--option") -> dict:
    """``["k1=1.2", "stemmer=null"]`` -> ``{"k1": 1.2, "stemmer": None}`` (JSON values, else strings)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MireEvalError(f"{flag} {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def check_folders(data_dir: Path | None, image_dir: Path | None) -> None:
    """A named ``--data-dir`` or ``--image-dir`` must be an existing folder (else the task
    would look inside a folder that is not there and advise passing the flag that was passed)."""
    for flag, folder in (("--data-dir", data_dir), ("--image-dir", image_dir)):
        if folder is None:
            continue
        if not Path(folder).exists():
            raise MireEvalError(f"{flag} {folder}: no such folder")
        if not Path(folder).is_dir():
            raise MireEvalError(f"{flag} {folder}: not a folder")


from harness.core.devices import DEVICE_PATTERN  # noqa: E402  (one pattern: the CLI's and RunSettings')


def check_device(value: str) -> str:
    """The ``--device`` callback of every command: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``,
    checked on the command line before any import (whether CUDA is present is checked when a
    model is placed, :func:`retrievers.checkpoint.device_of`).

    >>> check_device("cuda:1")
    'cuda:1'
    """
    import re

    if value is None or re.fullmatch(DEVICE_PATTERN, value):
        return value
    raise typer.BadParameter(f"unknown device {value!r}; known: cpu, cuda, cuda:N, mps")


def load_options(split, data_dir, image_dir, skip_missing_images, relevance, empty_answers="ignore", images=True):
    """The :class:`tasks.base.LoadOptions` the data flags of ``run``, ``probe`` and ``finetune``
    name; ``images`` False for a run that reads no image (a text-only retriever, ``--view text``)."""
    from tasks.base import LoadOptions

    return LoadOptions(split=split, data_dir=data_dir, image_dir=image_dir,
                       skip_missing_images=skip_missing_images, relevance=relevance,
                       empty_answers=empty_answers or "ignore", images=images)


def output_path(output: Path | None, out: Path | None) -> Path:
    """``--output``, or the deprecated ``--out`` of ``make-diagnostic`` / ``build-r2p``."""
    if output is not None and out is not None and output != out:
        raise MireEvalError(f"--out {out}: contradicts --output {output} (--out is the old name of --output)")
    if output is None and out is None:
        raise MireEvalError("--output: missing; name the file or directory to write")
    return output if output is not None else out


def deprecated_out():
    """The hidden ``--out`` kept for scripts written before ``--output`` (same meaning)."""
    return typer.Option(None, "--out", hidden=True, help="deprecated: --output")
