"""Response-to-passage (R2P) data: MIRe's alignment pre-training set (docs/training.md).

A visual-instruction QA pair has a short response; MIRe turns it into a passage-like document
by retrieving knowledge-base passages with the response as the query (ColBERTv2, top 3):

    document = P1 + " " + response + " " + P2 + " " + P3,   then every ".." -> "."

where each Pi keeps only its first two "."-separated segments (the authors'
runs/convert_tasks.py). The original response is kept under ``answer``.

Files are read and written as streams, so QA files of millions of pairs never sit in memory:
a JSON array is decoded item by item, JSON lines line by line.

>>> first_two_sentences("A b. C d. E f.")
'A b. C d'
>>> r2p_document("the bird is a robin.", ["Robins sing. They eat worms. More.", "X. Y", "Z"])
'Robins sing. They eat worms the bird is a robin. X. Y Z'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from harness.core.errors import MireEvalError, where
from harness.core.outputs import AtomicTextFile, check_output_file
from harness.core.progress import progress
from harness.core.textfiles import invalid_utf8, iter_json_lines, open_text
from harness.core.types import Corpus, FileImage, Passage, Query, TrainExample


def first_two_sentences(passage: str) -> str:
    return ".".join(passage.split(".")[:2])


def r2p_document(response: str, hits: list[str], remove_bracket: bool = False) -> str:
    """The converted document for one response given its retrieved passages, in rank order.

    ``remove_bracket`` is the authors' alternative layout: brackets removed from the
    response, which becomes a ``"Title: ... content:"`` header before the passages."""
    snippets = [first_two_sentences(p) for p in hits]
    if remove_bracket:
        response = re.sub(r"\([^(]+\)", "", response).strip()
        parts = ["Title: " + response + " content:"] + snippets
    else:
        parts = snippets[:1] + [response] + snippets[1:]
    return " ".join(parts).replace("..", ".")


# --------------------------------------------------------------------------------------------
# Streaming JSON
# --------------------------------------------------------------------------------------------
def iter_json_items(path: str | Path, chunk: int = 1 << 20) -> Iterator[tuple[int, int, dict]]:
    """``(index, line, item)`` for a JSON array file (decoded incrementally) or a JSON-lines
    file; ``line`` (from 1) is where the item starts, for error messages. Encoding rules are
    :mod:`harness.core.textfiles`' (BOM skipped, wide encodings and invalid UTF-8 refused by line)."""
    path = Path(path)
    if not path.is_file():
        raise MireEvalError(f"{path}: file not found")
    with open_text(path) as f:

        def read(n: int) -> str:
            try:
                return f.read(n)
            except UnicodeDecodeError:
                raise invalid_utf8(path) from None

        line = 1
        head = read(1)
        while head and head.isspace():
            line += head == "\n"
            head = read(1)
        if head != "[":
            for index, (n, item) in enumerate(iter_json_lines(path)):
                yield index, n, item
            return
        decoder, buf, index, done = json.JSONDecoder(), "", 0, False
        while not done:
            data = read(chunk)
            buf += data
            while True:
                rest = buf.lstrip().lstrip(",").lstrip()
                line += buf.count("\n", 0, len(buf) - len(rest))
                buf = rest
                if buf.startswith("]"):
                    done = True
                    break
                try:
                    item, end = decoder.raw_decode(buf)
                except json.JSONDecodeError as exc:
                    if not data:
                        raise MireEvalError(f"{where(path, line + buf.count(chr(10), 0, exc.pos))}: "
                                            f"invalid JSON ({exc.msg})") from None
                    break  # need more text
                except RecursionError:
                    raise MireEvalError(f"{where(path, line)}: invalid JSON (nested too deeply)") from None
                if not isinstance(item, dict):
                    raise MireEvalError(f"{where(path, line)}: item {index}: expected an object")
                yield index, line, item
                index += 1
                line += buf.count("\n", 0, end)
                buf = buf[end:]
            if not data and not done:
                raise MireEvalError(f"{where(path, line)}: unterminated JSON array")


class JsonArrayWriter(AtomicTextFile):
    """Write a JSON array one item at a time, atomically (see :class:`AtomicTextFile`)."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.write_text = super().write
        self.write_text("[")
        self.count = 0

    def write(self, item: dict) -> None:
        self.write_text(("\n" if self.count == 0 else ",\n") + json.dumps(item, ensure_ascii=False))
        self.count += 1

    def commit(self) -> None:
        self.write_text("\n]\n")
        super().commit()


def _field(item: dict, name: str, path: Path, line: int) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MireEvalError(f"{where(path, line)}: {name}: missing or not a non-empty string")
    return value


# --------------------------------------------------------------------------------------------
# Reading R2P / ViD2R files for pre-training
# --------------------------------------------------------------------------------------------
def read_r2p(path: str | Path, image_dir: str | Path, check_images: bool = True) -> list[TrainExample]:
    """Pre-training pairs from an R2P/ViD2R file: items ``{question, document, image}``
    (``image`` relative to ``image_dir``; optional ``id``). As the reference's ViD2RDataset:
    query = the question as is, positive = the document stripped."""
    path, image_dir = Path(path), Path(image_dir)
    if not image_dir.is_dir():
        raise MireEvalError(f"{image_dir}: image directory not found")
    out = []
    for index, line, item in iter_json_items(path):
        question = _field(item, "question", path, line)
        document = _field(item, "document", path, line).strip()
        image = image_dir / _field(item, "image", path, line)
        if check_images and not image.is_file():
            raise MireEvalError(f"{where(path, line)}: image: {image}: file not found")
        qid = str(item.get("id", index))
        out.append(TrainExample(Query(qid, question, FileImage(image)), Passage(f"{qid}-doc", "", document)))
    if not out:
        raise MireEvalError(f"{path}: no pairs")
    return out


# --------------------------------------------------------------------------------------------
# Building R2P files
# --------------------------------------------------------------------------------------------
def _kb_string(item: dict, name: str, path: Path, line: int, default: str = "") -> str:
    """A KB item's text field: a string (or absent/null: ``default``), never a list or number
    turned into its Python repr."""
    value = item.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise MireEvalError(f"{where(path, line)}: {name}: expected a string, got {type(value).__name__}")
    return value


def _kb_id(item: dict, names: tuple[str, ...], index: int, path: Path, line: int) -> str:
    """The first of ``names`` present and non-empty (the reference's fallback order), else the item's index."""
    for name in names:
        value = item.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise MireEvalError(f"{where(path, line)}: {name}: expected a string or integer id, "
                                f"got {type(value).__name__}")
        return str(value)
    return str(index)


def _check_unique_ids(corpus, path: Path) -> None:
    """Refuse a KB in which two passages share an id (retrieval hits are mapped back by id,
    so one of the two would silently never be returned). The JSON file is read a second
    time only when a duplicate exists, to name both lines."""
    import pyarrow.compute as pc

    ids = corpus.table.column("_id")
    if pc.count_distinct(ids).as_py() == len(ids):
        return
    if path.suffix in (".arrow", ".ipc"):
        counts = pc.value_counts(ids)
        dup = next(c["values"] for c in counts.to_pylist() if c["counts"] > 1)
        raise MireEvalError(f"{path}: _id: {dup!r} appears more than once")
    seen: dict[str, int] = {}
    for index, line, item in iter_json_items(path):
        pid = _item_id(item, index, path, line)
        if pid in seen:
            raise MireEvalError(f"{where(path, line)}: id: {pid!r} already used at line {seen[pid]}")
        seen[pid] = line


def _item_id(item: dict, index: int, path: Path, line: int) -> str:
    if "wikipedia_content" in item:
        return _kb_id(item, ("wikidata_id", "id"), index, path, line)
    return _kb_id(item, ("_id", "id"), index, path, line)


def read_kb(path: str | Path, chunk: int = 100_000):
    """A knowledge base as a Corpus: Wiki6M JSON lines (``wikipedia_content``, stripped, as
    the reference), a BEIR ``corpus.jsonl`` (``_id``/``title``/``text``), or an Arrow IPC
    corpus written by mire-eval. Built in Arrow chunks (no per-passage Python objects kept).
    Text fields must be strings and ids unique."""
    import pyarrow as pa

    path = Path(path)
    if path.suffix in (".arrow", ".ipc"):
        if not path.is_file():
            raise MireEvalError(f"{path}: --kb: file not found")
        try:
            corpus = Corpus.from_ipc(path)
        except (pa.ArrowInvalid, OSError, ValueError) as exc:
            raise MireEvalError(f"{path}: --kb: not an Arrow IPC corpus ({str(exc).splitlines()[0]})") from None
        if corpus.table.schema != Corpus.SCHEMA:
            raise MireEvalError(f"{path}: --kb: columns {corpus.table.schema.names}, expected {Corpus.SCHEMA.names} (strings)")
        _check_unique_ids(corpus, path)
        return corpus
    batches, cols = [], {"_id": [], "title": [], "text": []}

    def flush():
        batches.append(pa.record_batch([pa.array(cols[c], pa.string()) for c in cols], schema=Corpus.SCHEMA))
        for c in cols.values():
            c.clear()

    for index, line, item in iter_json_items(path):
        if "wikipedia_content" in item:
            title, text = "", _kb_string(item, "wikipedia_content", path, line).strip()
        elif "text" in item:
            title, text = _kb_string(item, "title", path, line), _kb_string(item, "text", path, line)
        else:
            raise MireEvalError(f"{where(path, line)}: text: neither wikipedia_content nor text")
        cols["_id"].append(_item_id(item, index, path, line))
        cols["title"].append(title)
        cols["text"].append(text)
        if len(cols["_id"]) >= chunk:
            flush()
    if cols["_id"]:
        flush()
    if not batches:
        raise MireEvalError(f"{path}: empty knowledge base")
    corpus = Corpus(pa.Table.from_batches(batches))
    _check_unique_ids(corpus, path)
    return corpus


def check_build_options(out: str | Path, k: int, batch_size: int, limit: int | None) -> Path:
    """Refuse, before any work, options ``build_r2p`` could only fail on (or silently
    misread) later: an output that cannot be a file, and counts below 1."""
    for option, value in (("--k", k), ("--batch-size", batch_size), ("--limit", limit)):
        if value is not None and value < 1:
            raise MireEvalError(f"{option}: {value}: must be at least 1")
    return check_output_file(out)


def build_r2p(qa: str | Path, kb: str | Path, out: str | Path, retriever=None, k: int = 3,
              batch_size: int = 256, remove_bracket: bool = False, limit: int | None = None) -> int:
    """Convert every QA item (``document`` = the response; ``question``, ``image`` kept) into
    an R2P item; returns the number written. ``retriever``: an Encoder or a Retriever
    (default: ColBERTv2 with the reference's 80 query / 256 passage tokens). ``out`` is
    written whole or not at all."""
    out = check_build_options(out, k, batch_size, limit)
    qa = Path(qa)
    if not qa.is_file():
        raise MireEvalError(f"{qa}: --qa: file not found")
    corpus = read_kb(kb)
    from harness.index.retriever import as_retriever  # torch: only when converting
    from retrievers.colbert import build

    if retriever is None:
        retriever = build(None, "cpu", query_maxlen=80, doc_maxlen=256)
    retriever = as_retriever(retriever, "colbertv2")  # an Encoder gets exact search in memory
    retriever.index(corpus)
    row = {pid: i for i, pid in enumerate(corpus.ids)}
    pending: list[tuple[int, int, dict]] = []

    def flush(writer: JsonArrayWriter):
        queries = [Query(str(i), _field(item, "document", qa, line)) for i, line, item in pending]
        run = retriever.search(queries, k, view="full")
        for (_, _, item), q in zip(pending, queries):
            hits = [corpus[row[pid]].contents for pid in run[q.id]]  # rank order
            writer.write({**item, "answer": item["document"],
                          "document": r2p_document(item["document"], hits, remove_bracket)})
        pending.clear()

    with JsonArrayWriter(out) as writer, progress(desc="build-r2p", unit="pair") as bar:
        for index, line, item in iter_json_items(qa):
            if limit is not None and index >= limit:
                break
            pending.append((index, line, item))
            if len(pending) >= batch_size:
                flush(writer)
                bar.update(batch_size)
        if pending:
            bar.update(len(pending))
            flush(writer)
    return writer.count
