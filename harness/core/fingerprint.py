"""One content-fingerprint policy for every file mire-eval reads: task data and checkpoints.

    fingerprint_file(path)    -> "<64 hex>"            files up to FULL_HASH_LIMIT: their sha256
                              -> "sampled-<64 hex>"    larger files: sha256 of size, mtime_ns and
                                                       SAMPLES evenly spaced 1 MiB chunks
    fingerprint_paths(paths)  -> "<64 hex>"            names + fingerprints of files (folders expanded)

The sampled form keeps a multi-GB checkpoint or corpus at ~SAMPLES MiB of reading; it includes
mtime_ns, so rewriting such a file in place (even one byte outside the chunks) changes it, while
a copy with a new mtime counts as changed too (a rerun, never a stale reuse). Results are cached
in ``<cache>/fingerprints.json`` by (absolute path, size, mtime_ns), so an unchanged file is read
once. Like git's racy-clean rule, a file modified within RACY_S seconds is never cached: its
next edit could keep the same mtime_ns and size.

Used for run identities (:mod:`harness.evaluation.pipeline`), task provenance (:mod:`tasks.releases`,
:mod:`tasks.local`) and any cache key over files (e.g. an embedding store). Every file
fingerprinted inside :func:`recording_reads` is recorded, which is how a task load reports the
files it read.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from harness.core.cache import cache_home

FULL_HASH_LIMIT = 256 << 20  # bytes; above this a file is sampled, not read whole
SAMPLES = 16  # chunks read from a sampled file, first and last included
CHUNK = 1 << 20  # bytes per chunk
RACY_S = 2.0  # seconds: files modified more recently than this are not cached
SAMPLED_METHOD = f"sha256(size, mtime_ns, {SAMPLES} evenly spaced 1 MiB chunks)"

_reads: ContextVar[dict | None] = ContextVar("mire_eval_reads", default=None)


def fingerprint_file(path: str | Path) -> str:
    """The fingerprint of one file (see the module docstring); recorded when inside a recording.

    >>> import tempfile, hashlib
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     fingerprint_file(f.name) == hashlib.sha256(b"abc").hexdigest()
    True
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    value = _cached(key)
    if value is None:
        value = _sha256(path) if stat.st_size <= FULL_HASH_LIMIT else _sampled(path, stat)
        if time.time() - stat.st_mtime_ns / 1e9 > RACY_S:
            _store(key, value)
    reads = _reads.get()
    if reads is not None:
        reads[str(path)] = value
    return value


def fingerprint_paths(paths: Iterable[str | Path]) -> str:
    """One sha256 over the files under ``paths`` (folders recursively): names and fingerprints.

    A folder's files are named relative to it, a file by its name, so moving a checkpoint folder
    keeps its fingerprint while renaming, adding or editing any file inside changes it.
    """
    h = hashlib.sha256()
    for root in paths:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for p in files:
            name = p.relative_to(root).as_posix() if root.is_dir() else p.name
            h.update(f"{name}\0{fingerprint_file(p)}\n".encode())
    return h.hexdigest()


def record_input(name: str, version: str) -> None:
    """Record a non-file input read inside :func:`recording_reads` (e.g. a hub dataset at a
    revision: ``record_input("hf://datasets/ID/config/split", revision)``)."""
    reads = _reads.get()
    if reads is not None:
        reads[name] = version


def record_inputs(reads: dict[str, str]) -> None:
    """Record inputs read earlier (a corpus read once for two loads) into the current recording."""
    current = _reads.get()
    if current is not None:
        current.update(reads)


@contextmanager
def recording_reads() -> Iterator[dict[str, str]]:
    """Collect ``{absolute path: fingerprint}`` of every file fingerprinted inside the block
    (plus anything given to :func:`record_input`)."""
    reads: dict[str, str] = {}
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _sampled(path: Path, stat: os.stat_result) -> str:
    h = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    last = max(stat.st_size - CHUNK, 0)
    with open(path, "rb") as f:
        for i in range(SAMPLES):
            f.seek(last * i // (SAMPLES - 1))
            h.update(f.read(CHUNK))
    return "sampled-" + h.hexdigest()


# --------------------------------------------------------------------------------------------
# The on-disk cache: one JSON object per cache root, read once per process, merged and replaced
# atomically under a file lock
# --------------------------------------------------------------------------------------------
_loaded: dict[Path, dict[str, str]] = {}


def _cache_file() -> Path:
    return cache_home() / "fingerprints.json"


def _read_cache(target: Path) -> dict[str, str]:
    try:
        with open(target) as f:
            loaded = json.load(f)
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _cached(key: str) -> str | None:
    target = _cache_file()
    if target not in _loaded:
        _loaded[target] = _read_cache(target)
    return _loaded[target].get(key)


def _store(key: str, value: str) -> None:
    """Add one entry; a cache that cannot be written only costs a re-read next time."""
    from filelock import FileLock

    target = _cache_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock", timeout=30):
            entries = {**_read_cache(target), key: value}
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(entries))
            tmp.replace(target)
        _loaded[target] = entries
    except OSError:
        pass


def checkpoint_fingerprint(checkpoint: str | None) -> str | None:
    """:func:`fingerprint_paths` of a local checkpoint (file or folder); None for hub ids or
    none (a hub id's revision is part of the checkpoint string itself)."""
    if not checkpoint or not Path(checkpoint).exists():
        return None
    return fingerprint_paths([checkpoint])
