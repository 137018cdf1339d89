"""The data every task produces and every retriever consumes.

A task yields :class:`TaskData`: queries (question text, a lazily loaded image, answers),
a columnar :class:`Corpus` of passages, and relevance (explicit qrels, or answers to match).
Nothing here decodes an image or imports torch until it is asked to.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

from harness.core.images import decode_rgb

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


# --------------------------------------------------------------------------------------------
# Images: references that decode on demand
# --------------------------------------------------------------------------------------------
@runtime_checkable
class ImageRef(Protocol):
    """Where a query image lives. ``load()`` decodes it (RGB); ``key`` identifies it for caches.

    Most references also have ``source()``: the path or binary file object PIL opens, which
    :func:`harness.core.images.check_ref` decodes to check the image before a run.
    """

    @property
    def key(self) -> str: ...

    def load(self): ...


def _decode(data_or_path, origin: str):
    return decode_rgb(data_or_path, origin)


@dataclass(frozen=True)
class FileImage:
    """An image file on disk."""

    path: Path

    @property
    def key(self) -> str:
        return str(self.path)

    def source(self) -> Path:
        return self.path

    def load(self):
        return _decode(self.path, str(self.path))


@dataclass(frozen=True)
class BytesImage:
    """Encoded image bytes held in memory (a parquet cell, a base64 field)."""

    data: bytes = field(repr=False)
    origin: str = "<bytes>"

    @property
    def key(self) -> str:
        return f"{self.origin}#{hashlib.sha1(self.data).hexdigest()[:16]}"

    def source(self) -> io.BytesIO:
        return io.BytesIO(self.data)

    def load(self):
        return _decode(io.BytesIO(self.data), self.origin)


# --------------------------------------------------------------------------------------------
# Queries and passages
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """One multimodal query: a question about an image, with its reference answers."""

    id: str
    text: str
    image: ImageRef | None = None
    answers: tuple[str, ...] = ()
    instruction: str | None = None
    # Fields of the query's record that the loader does not interpret, as read (JSON values):
    # a local task's per-query ``type`` travels here to the probe. Not part of the hash.
    extra: dict = field(default_factory=dict, hash=False)

    def with_image(self, image: ImageRef | None) -> Query:
        return replace(self, image=image)


@dataclass(frozen=True)
class Passage:
    """One knowledge-base passage."""

    id: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and text as one string, the form text encoders read."""
        return f"{self.title} {self.text}" if self.title else self.text


class Corpus:
    """Passages held column-wise in an Arrow table (``_id``, ``title``, ``text``).

    Millions of passages stay three Arrow columns (memory-mapped when loaded from an IPC
    file), never millions of Python objects.

    >>> c = Corpus.from_records([{"_id": "p1", "title": "", "text": "Paris"}])
    >>> len(c), c[0]
    (1, Passage(id='p1', title='', text='Paris'))
    """

    SCHEMA = pa.schema([("_id", pa.string()), ("title", pa.string()), ("text", pa.string())])

    def __init__(self, table: pa.Table):
        missing = {"_id", "title", "text"} - set(table.column_names)
        if missing:
            raise ValueError(f"corpus table lacks columns {sorted(missing)}")
        self.table = table.select(["_id", "title", "text"])
        self._ids: list[str] | None = None

    @classmethod
    def from_records(cls, records: Sequence[dict]) -> Corpus:
        cols = {name: [r.get(name) or "" for r in records] for name in ("_id", "title", "text")}
        return cls(pa.table(cols, schema=cls.SCHEMA))

    @classmethod
    def from_ipc(cls, path: str | Path) -> Corpus:
        """Memory-map a corpus written by :meth:`write_ipc`."""
        source = pa.memory_map(str(path), "r")
        return cls(pa.ipc.open_file(source).read_all())

    def write_ipc(self, path: str | Path) -> None:
        tmp = Path(f"{path}.tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, self.table.schema) as w:
            w.write_table(self.table, max_chunksize=65536)
        tmp.replace(path)

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = self.table.column("_id").to_pylist()
        return self._ids

    def texts(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Passage contents (title + text) for rows ``start:stop``."""
        part = self.table.slice(start, (stop or len(self)) - start)
        titles = part.column("title").to_pylist()
        texts = part.column("text").to_pylist()
        return [f"{t} {x}" if t else x for t, x in zip(titles, texts)]

    def __getitem__(self, i: int) -> Passage:
        row = self.table.slice(i, 1).to_pylist()[0]
        return Passage(row["_id"], row["title"], row["text"])

    def batches(self, size: int) -> Iterator[tuple[int, list[Passage]]]:
        """Yield ``(start_row, passages)`` in order."""
        for start in range(0, len(self), size):
            part = self.table.slice(start, size).to_pylist()
            yield start, [Passage(r["_id"], r["title"], r["text"]) for r in part]

    def select(self, rows: Sequence[int]) -> Corpus:
        return Corpus(self.table.take(pa.array(rows, type=pa.int64())))

    def fingerprint(self) -> str:
        """A content hash of ids and texts (cache key for indexes and qrels)."""
        h = hashlib.sha256()
        for batch in self.table.to_batches(max_chunksize=65536):
            for col in batch.columns:
                for buf in col.buffers():
                    if buf is not None:
                        h.update(memoryview(buf))
        return h.hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# What a task hands to the evaluation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainExample:
    """A fine-tuning pair: a query, its positive passage, optional hard negatives."""

    query: Query
    positive: Passage
    negatives: tuple[Passage, ...] = ()


@dataclass
class TaskData:
    """Queries of one split, the corpus, and how relevance is decided.

    ``relevance`` is ``"qrels"`` (explicit judgements in ``qrels``), or ``"answer-word"`` /
    ``"answer-substring"`` (a passage is relevant when it contains one of the query's
    answers; materialised by :mod:`harness.evaluation.relevance`).
    ``meta`` is recorded in every run's meta.json (source, revision or hashes, counts).
    ``inputs`` is ``{absolute path: fingerprint}`` of every data file the load read
    (:func:`tasks.loading.load_task` fills it); it is part of the run identity.
    """

    name: str
    split: str
    queries: list[Query]
    corpus: Corpus
    relevance: str = "qrels"
    qrels: Qrels | None = None
    train: list[TrainExample] | None = None
    meta: dict = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    # How the corpus was read (a tasks.base.CorpusRead), so another split's load can take it
    # instead of reading it again (tasks.loading.load_task's ``corpus_from``).
    corpus_read: object | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.relevance not in RELEVANCE_KINDS:
            raise ValueError(f"unknown relevance {self.relevance!r}; known: {RELEVANCE_KINDS}")
        if self.relevance == "qrels" and self.qrels is None:
            raise ValueError("relevance 'qrels' needs qrels")

    def limit(self, n: int | None) -> TaskData:
        """The first ``n`` queries (for quick runs); the corpus stays whole."""
        if n is None or n >= len(self.queries):
            return self
        queries = self.queries[:n]
        keep = {q.id for q in queries}
        qrels = None if self.qrels is None else {q: r for q, r in self.qrels.items() if q in keep}
        return replace(self, queries=queries, qrels=qrels, meta={**self.meta, "limit": n})


# The answer-match variants (harness/evaluation/relevance.py defines them; tasks name them).
ANSWER_MATCH = ("answer-word", "answer-substring")
RELEVANCE_KINDS = ("qrels", *ANSWER_MATCH)
