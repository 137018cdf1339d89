"""What every task shares: its declaration, load options, relevance choice and image checks.

A task module declares one ``TASK = TaskSpec(...)`` (metadata plus a ``load`` function) and
is registered by name in :mod:`tasks.registry`. ``local:PATH`` names any directory in the
local format (see :mod:`tasks.local`). Loading by name is :func:`tasks.loading.load_task`
(its own module: it dispatches to the local loader, which builds on this one).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.cache import cache_home
from harness.core.errors import MireEvalError
from harness.core.fingerprint import record_inputs, recording_reads
from harness.core.images import check_ref, wide_image_warning
from harness.core.types import Query, TaskData


EMPTY_ANSWER_RULES = ("ignore", "all-relevant")


@dataclass(frozen=True)
class LoadOptions:
    """How to find and read a task. Every field is recorded in meta.json."""

    split: str = "test"
    data_dir: Path | None = None  # a local copy in the release's own layout
    image_dir: Path | None = None  # where images live, when apart from the data
    skip_missing_images: bool = False  # drop (and count) queries whose image is missing/corrupt
    # False for a run that never reads an image (a text-only retriever, or --view text): query
    # images are then neither looked for nor checked, and the queries carry none, so the text
    # baseline of a task runs without its images on disk. Not part of a run's identity (the
    # results are the same either way).
    images: bool = True
    relevance: str | None = None  # override the task's default relevance
    cache_dir: Path = field(default_factory=cache_home)
    # answers empty after strip(): "ignore" (dropped from the match) or "all-relevant" (every
    # passage relevant to that query: MIRe's has_answers, compute_pseudo_recall, FLMR)
    empty_answers: str = "ignore"

    def __post_init__(self) -> None:
        if self.empty_answers not in EMPTY_ANSWER_RULES:
            raise MireEvalError(f"--empty-answers: unknown value {self.empty_answers!r}; "
                                f"known: {', '.join(EMPTY_ANSWER_RULES)}")


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark, declared: metadata plus the function that loads one split.

    The single source of what a task is: ``description`` is what ``mire-eval ls`` shows,
    ``relevance`` the default judgement (``--relevance`` may pick another of ``relevances``),
    ``main_metric`` the ranx name the probe and the plots headline, ``paper_metric`` the
    papers' label for it. ``load`` reads the relevance through :meth:`resolve_relevance`.
    """

    name: str
    description: str
    source: str
    relevance: str
    main_metric: str
    paper_metric: str
    splits: tuple[str, ...]
    load: Callable[[LoadOptions], TaskData]
    fetch: Callable[[LoadOptions], Path] | None = None
    relevances: tuple[str, ...] = ()  # the others --relevance may name; the default is always allowed

    def resolve_relevance(self, options: LoadOptions) -> str:
        """The relevance this load uses: ``relevance``, or ``--relevance`` when it names one
        of ``relevances`` (``gold`` means ``qrels``)."""
        allowed = (self.relevance, *(r for r in self.relevances if r != self.relevance))
        return resolve_relevance(self.name, options, self.relevance, allowed)


def resolve_relevance(task: str, options: LoadOptions, default: str, allowed: Sequence[str]) -> str:
    """The relevance to use: the task default, or ``--relevance`` (``gold`` means ``qrels``).

    >>> resolve_relevance("t", LoadOptions(relevance="gold"), "answer-word", ("answer-word", "qrels"))
    'qrels'
    """
    wanted = options.relevance or default
    wanted = "qrels" if wanted == "gold" else wanted
    if wanted not in allowed:
        shown = ", ".join("gold" if a == "qrels" else a for a in allowed)
        raise MireEvalError(f"{task}: unknown relevance {options.relevance!r}; known: {shown}")
    return wanted


@dataclass(frozen=True)
class CorpusRead:
    """A corpus as one load read it: what identifies its source, the value the reader
    returned, and the inputs (fingerprints) recorded while reading it."""

    key: Hashable
    value: object
    inputs: dict


# The corpus a load is offered (tasks.loading.load_task's ``corpus_from``), and the one it read.
_offered: ContextVar[CorpusRead | None] = ContextVar("mire_eval_offered_corpus", default=None)
_read: ContextVar[list | None] = ContextVar("mire_eval_corpus_read", default=None)


def corpus_once(key: Hashable, read: Callable[[], object]):
    """``read()``, unless the load was offered a corpus read from the same source ``key``.

    Every task's corpus is the same for all of its splits, so ``finetune`` (train, then
    test) and other multi-split callers read it once. Task loaders read their corpus through
    here; ``key`` must name everything the reader's result depends on (files, folders,
    revision). A reused corpus replays the inputs its first reading recorded, so the run
    identity is the same as after a fresh read.
    """
    offered = _offered.get()
    if offered is not None and offered.key == key:
        record_inputs(offered.inputs)
        done = offered
    else:
        with recording_reads() as reads:
            value = read()
        record_inputs(reads)
        done = CorpusRead(key, value, dict(reads))
    sink = _read.get()
    if sink is not None:
        sink.append(done)
    return done.value


def task_slug(name: str) -> str:
    """A directory-safe task name, distinct for every task: ``local:/data/my_task`` ->
    ``local-my_task-1a2b3c``.

    A local task's slug carries the first 6 hex digits of the SHA-256 of its resolved absolute
    path, so two local folders of the same name (``/a/base``, ``/b/base``) never share a
    results or checkpoint folder. Registered tasks (``diagnostic`` included) keep their name.

    >>> task_slug("local:/data/my_task/") == task_slug("local:/data/../data/my_task")
    True
    >>> task_slug("local:/data/my_task/").startswith("local-my_task-"), task_slug("infoseek")
    (True, 'infoseek')
    """
    if name.startswith("local:"):
        path = Path(name[len("local:"):].rstrip("/") or "/").expanduser().resolve()
        return f"local-{path.name}-{local_path_hash(path)}"
    return name


def local_path_hash(path: str | Path) -> str:
    """6 hex digits naming a local task's resolved absolute path (its slug and printed label)."""
    import hashlib

    return hashlib.sha256(str(Path(path).expanduser().resolve()).encode()).hexdigest()[:6]


def check_images(queries: Sequence[Query], skip: bool, images: bool = True) -> tuple[list[Query], list[str]]:
    """Decode every query image fully (:func:`harness.core.images.check_ref`), for any image source.
    With ``images`` False (a run that reads no image, :attr:`LoadOptions.images`) nothing is
    checked and the queries come back without their images.

    Returns (kept queries, ids of skipped queries). Without ``skip`` the first missing or
    corrupt image raises a one-line error naming the image and the query. Images that
    ``convert("RGB")`` clips (16-bit, floating-point) are kept, and counted in one warning
    on stderr.
    """
    if not images:
        return [q.with_image(None) for q in queries], []
    kept, skipped, wide = [], [], 0
    for q in queries:
        check = check_ref(q.image) if q.image is not None else None
        if check is None or check.problem is None:
            kept.append(q)
            wide += bool(check and check.wide)
        elif skip:
            skipped.append(q.id)
        else:
            raise MireEvalError(f"{q.image.key}: image of query {q.id!r}: {check.problem} "
                                "(pass --skip-missing-images to skip such queries)")
    if wide:
        print(wide_image_warning(wide), file=sys.stderr)
    return kept, skipped
