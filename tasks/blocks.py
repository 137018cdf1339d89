"""Huge JSON-lines corpora streamed into a memory-mapped Arrow file, once.

``all_blocks.txt`` of the okvqa-release holds ~11M ``{"id", "text"}`` lines. Reading it
into Python objects would need tens of GiB; instead it is parsed line by line into Arrow
record batches written straight to an IPC file in the cache, which later loads are
memory-mapped from (:meth:`harness.core.types.Corpus.from_ipc`). Peak memory is one batch plus
the Arrow writer's buffers, whatever the corpus size (measured in docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from harness.core.cache import stable_hash
from harness.core.errors import where
from harness.core.types import Corpus
from harness.core.textfiles import iter_json_lines
from tasks.releases import file_digest, get_field

BATCH_ROWS = 65_536


def blocks_corpus(path: Path, cache_dir: Path, batch_rows: int = BATCH_ROWS) -> Corpus:
    """The corpus of a JSON-lines passage file, converted on first use and cached by content."""
    digest = file_digest(path)
    target = Path(cache_dir) / f"{path.stem}-{stable_hash(digest)}.arrow"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        convert_blocks(path, target, batch_rows)
    return Corpus.from_ipc(target)


def convert_blocks(path: Path, target: Path, batch_rows: int = BATCH_ROWS) -> int:
    """Stream ``{"id", "text"}`` lines into an Arrow IPC file; returns the row count.

    A malformed line or a missing field stops the conversion with the file, line and field.
    """
    tmp = Path(f"{target}.tmp")
    rows = 0
    ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []

    def flush(writer):
        writer.write_batch(pa.record_batch([pa.array(ids, pa.string()), pa.array(titles, pa.string()),
                                            pa.array(texts, pa.string())], schema=Corpus.SCHEMA))
        ids.clear(), titles.clear(), texts.clear()

    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, Corpus.SCHEMA) as writer:
            for n, entry in iter_json_lines(path):
                for field in ("id", "text"):
                    get_field(entry, field, where(path, n))
                ids.append(str(entry["id"]))
                titles.append("")  # the reference reads only "text"; a title would change it
                texts.append(str(entry["text"]))
                rows += 1
                if len(ids) >= batch_rows:
                    flush(writer)
            if ids:
                flush(writer)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    return rows
