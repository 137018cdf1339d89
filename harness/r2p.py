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

from harness.errors import MireEvalError, where
from harness.textfiles import open_text
from harness.types import FileImage, Passage, Query, TrainExample


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
def iter_json_items(path: str | Path, chunk: int = 1 << 20) -> Iterator[tuple[int, dict]]:
    """``(index, item)`` for a JSON array file (decoded incrementally) or a JSON-lines file."""
    path = Path(path)
    if not path.is_file():
        raise MireEvalError(f"{path}: file not found")
    with open_text(path) as f:
        head = f.read(1)
        while head and head.isspace():
            head = f.read(1)
        if head != "[":
            from harness.textfiles import iter_json_lines

            for index, (_, item) in enumerate(iter_json_lines(path)):
                yield index, item
            return
        decoder, buf, index, done = json.JSONDecoder(), "", 0, False
        while not done:
            try:
                data = f.read(chunk)
            except UnicodeDecodeError:
                raise MireEvalError(f"{path}: item {index}: encoding: invalid UTF-8") from None
            buf += data
            while True:
                buf = buf.lstrip().lstrip(",").lstrip()
                if buf.startswith("]"):
                    done = True
                    break
                try:
                    item, end = decoder.raw_decode(buf)
                except json.JSONDecodeError:
                    if not data:
                        raise MireEvalError(f"{where(path)}: item {index}: invalid JSON") from None
                    break  # need more text
                except RecursionError:
                    raise MireEvalError(f"{path}: item {index}: invalid JSON (nested too deeply)") from None
                if not isinstance(item, dict):
                    raise MireEvalError(f"{path}: item {index}: expected an object")
                yield index, item
                index += 1
                buf = buf[end:]
            if not data and not done:
                raise MireEvalError(f"{path}: unterminated JSON array")


class JsonArrayWriter:
    """Write a JSON array one item at a time."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = Path(f"{path}.tmp")
        self.f = open(self.tmp, "w", encoding="utf-8")
        self.f.write("[")
        self.count = 0

    def write(self, item: dict) -> None:
        self.f.write(("\n" if self.count == 0 else ",\n") + json.dumps(item, ensure_ascii=False))
        self.count += 1

    def close(self) -> None:
        self.f.write("\n]\n")
        self.f.close()
        self.tmp.replace(self.path)


def _field(item: dict, name: str, path: Path, index: int) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MireEvalError(f"{path}: item {index}: {name}: missing or not a non-empty string")
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
    for index, item in iter_json_items(path):
        question = _field(item, "question", path, index)
        document = _field(item, "document", path, index).strip()
        image = image_dir / _field(item, "image", path, index)
        if check_images and not image.is_file():
            raise MireEvalError(f"{image}: image: file not found (item {index} of {path})")
        qid = str(item.get("id", index))
        out.append(TrainExample(Query(qid, question, FileImage(image)), Passage(f"{qid}-doc", "", document)))
    if not out:
        raise MireEvalError(f"{path}: no pairs")
    return out


# --------------------------------------------------------------------------------------------
# Building R2P files
# --------------------------------------------------------------------------------------------
def read_kb(path: str | Path, chunk: int = 100_000):
    """A knowledge base as a Corpus: Wiki6M JSON lines (``wikipedia_content``, stripped, as
    the reference), a BEIR ``corpus.jsonl`` (``_id``/``title``/``text``), or an Arrow IPC
    corpus written by mire-eval. Built in Arrow chunks (no per-passage Python objects kept)."""
    import pyarrow as pa

    from harness.types import Corpus

    path = Path(path)
    if path.suffix in (".arrow", ".ipc"):
        return Corpus.from_ipc(path)
    batches, cols = [], {"_id": [], "title": [], "text": []}

    def flush():
        batches.append(pa.record_batch([pa.array(cols[c], pa.string()) for c in cols], schema=Corpus.SCHEMA))
        for c in cols.values():
            c.clear()

    for index, item in iter_json_items(path):
        if "wikipedia_content" in item:
            pid = item.get("wikidata_id") or item.get("id") or index
            title, text = "", str(item["wikipedia_content"]).strip()
        elif "text" in item:
            pid = item.get("_id", item.get("id", index))
            title, text = item.get("title") or "", str(item["text"])
        else:
            raise MireEvalError(f"{path}: item {index}: neither wikipedia_content nor text")
        cols["_id"].append(str(pid))
        cols["title"].append(title)
        cols["text"].append(text)
        if len(cols["_id"]) >= chunk:
            flush()
    if cols["_id"]:
        flush()
    if not batches:
        raise MireEvalError(f"{path}: empty knowledge base")
    return Corpus(pa.Table.from_batches(batches))


def build_r2p(qa: str | Path, kb: str | Path, out: str | Path, retriever=None, k: int = 3,
              batch_size: int = 256, remove_bracket: bool = False, limit: int | None = None) -> int:
    """Convert every QA item (``document`` = the response; ``question``, ``image`` kept) into
    an R2P item; returns the number written. ``retriever``: any indexed-or-not Retriever
    (default: ColBERTv2 with the reference's 80 query / 256 passage tokens)."""
    from tqdm.auto import tqdm

    corpus = read_kb(kb)
    if retriever is None:
        from retrievers.colbert import build

        retriever = build(None, "cpu", query_maxlen=80, doc_maxlen=256)
    retriever.index(corpus)
    row = {pid: i for i, pid in enumerate(corpus.ids)}
    writer = JsonArrayWriter(out)
    qa = Path(qa)
    pending: list[tuple[int, dict]] = []

    def flush():
        queries = [Query(str(i), _field(item, "document", qa, i)) for i, item in pending]
        run = retriever.search(queries, k, view="full")
        for (i, item), q in zip(pending, queries):
            hits = [corpus[row[pid]].contents for pid in run[q.id]]  # rank order
            writer.write({**item, "answer": item["document"],
                          "document": r2p_document(item["document"], hits, remove_bracket)})
        pending.clear()

    try:
        with tqdm(desc="build-r2p", unit="pair") as bar:
            for index, item in iter_json_items(qa):
                if limit is not None and index >= limit:
                    break
                pending.append((index, item))
                if len(pending) >= batch_size:
                    flush()
                    bar.update(batch_size)
            if pending:
                bar.update(len(pending))
                flush()
    except BaseException:
        writer.f.close()
        writer.tmp.unlink(missing_ok=True)
        raise
    writer.close()
    return writer.count
