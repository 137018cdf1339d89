"""The embedding store: a corpus's passage vectors on disk, in fp16 shards, memory-mapped back.

Layout, under ``<cache root>/stores/<key>/``::

    store.json            identity (what the key hashes), similarity, dim, shard plan
    shards/000042.f16     raw little-endian fp16, [T, d] token rows (maxsim) or [n, d] vectors
    shards/000042.json    the shard's manifest entry: shape, rows, lengths, crc32, bytes

Shard ``s`` holds corpus rows ``[s * shard_passages, (s + 1) * shard_passages)``. A maxsim
shard packs each encoding window's passages shortest first (so a search tile of neighbours
needs little padding): entry ``rows[j]`` (relative to the shard's first row) owns
``lengths[j]`` token rows, one after the other. Data files are raw numbers and entries JSON:
loading a store never executes anything (no pickle).

A shard is committed atomically: data written to a temporary file, fsynced and renamed, then
its entry (with the data's CRC-32) the same way; the entry's rename is the commit. ``kill -9``
at any moment loses at most the shard in flight; a shard whose bytes no longer match its
entry is found by :func:`verify_shard` and encoded again.

The key (:func:`store_identity`): the passage side of the encoder (retriever name and class,
checkpoint and its fingerprint, every option the encoder describes, the batching window, the
version of the passage-encoding code) x the corpus fingerprint.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from harness.core.cache import stable_hash
from harness.core.fingerprint import checkpoint_fingerprint
from harness.index.store_views import MappedTokens, MappedVectors

# Bump whenever a change to the passage-encoding code (here or in an encoder) changes the
# vectors a store holds: every store written before becomes unreachable.
PASSAGE_ENCODING_VERSION = 1
FORMAT = 1


def passage_options(encoder) -> dict:
    """Everything the encoder says changes its passage vectors.

    An encoder may declare ``passage_identity() -> dict``; otherwise its whole ``describe()``
    counts (safe: a query-only option then also re-encodes, never the other way round).
    """
    own = getattr(encoder, "passage_identity", None)
    return own() if callable(own) else encoder.describe()


def store_identity(encoder, corpus, checkpoint: str | None, passage_batch: int, shard_passages: int) -> dict:
    """What a store's key hashes (recorded in store.json and meta.json)."""
    return {
        "passage_encoding_version": PASSAGE_ENCODING_VERSION,
        "retriever": encoder.name,
        "encoder_class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
        "checkpoint": checkpoint,
        "checkpoint_fingerprint": checkpoint_fingerprint(checkpoint),
        "passage_options": passage_options(encoder),
        "similarity": encoder.similarity,
        "passage_batch": passage_batch,
        "shard_passages": shard_passages,
        "corpus": corpus.fingerprint(),
        "n_passages": len(corpus),
    }


def store_key(identity: dict) -> str:
    return stable_hash(identity, 24)


def stores_root(cache_root: str | Path) -> Path:
    return Path(cache_root) / "stores"


# --------------------------------------------------------------------------------------------
# Atomic files
# --------------------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _tmp(final: Path) -> Path:
    return final.with_name(f"{final.name}.tmp-{os.getpid()}")


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return int(pid) != os.getpid()  # our own leftovers are stale


def write_json_atomic(path: Path, obj) -> None:
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    _commit(tmp, path)


def crc32_file(path: Path, chunk: int = 1 << 22) -> int:
    """CRC-32 of a file: detects damage (flipped bits, truncation) at ~2.5 GB/s here, four
    times sha256's speed, which matters as every run re-checks every shard; no adversary."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            crc = zlib.crc32(block, crc)
    return crc


# --------------------------------------------------------------------------------------------
# The store on disk
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StorePlan:
    """How a corpus of ``n_passages`` is cut into shards."""

    n_passages: int
    shard_passages: int

    @property
    def n_shards(self) -> int:
        return -(-self.n_passages // self.shard_passages)

    def rows(self, shard: int) -> range:
        start = shard * self.shard_passages
        return range(start, min(start + self.shard_passages, self.n_passages))


class Store:
    """One store directory: create, commit shards, verify, open them memory-mapped."""

    def __init__(self, directory: Path, identity: dict):
        self.directory = Path(directory)
        self.identity = identity
        self.key = self.directory.name
        self.plan = StorePlan(identity["n_passages"], identity["shard_passages"])

    @classmethod
    def at(cls, root: Path, identity: dict) -> Store:
        return cls(Path(root) / store_key(identity), identity)

    def data_path(self, shard: int) -> Path:
        return self.directory / "shards" / f"{shard:06d}.f16"

    def entry_path(self, shard: int) -> Path:
        return self.directory / "shards" / f"{shard:06d}.json"

    def create(self, extra: dict) -> None:
        """Make the directory and store.json (idempotent; every rank may call it)."""
        (self.directory / "shards").mkdir(parents=True, exist_ok=True)
        header = self.directory / "store.json"
        if not header.exists():
            write_json_atomic(header, {"format": FORMAT, "key": self.key, "identity": self.identity,
                                       "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                       **extra})

    def clean_partial(self, shards) -> None:
        """Remove temporary files a killed writer left for these shards (a live writer's,
        named by its pid on this host, are left alone)."""
        for s in shards:
            for stem in (self.data_path(s), self.entry_path(s)):
                for tmp in stem.parent.glob(f"{stem.name}.tmp-*"):
                    if not _alive(tmp.name.rpartition("-")[2]):
                        tmp.unlink(missing_ok=True)

    def entry(self, shard: int) -> dict | None:
        try:
            return json.loads(self.entry_path(shard).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def verify_shard(self, shard: int, checksum: bool = True) -> bool:
        """True when the shard is committed and its bytes match its entry."""
        entry, data = self.entry(shard), self.data_path(shard)
        if entry is None or not data.exists() or data.stat().st_size != entry["bytes"]:
            return False
        return not checksum or crc32_file(data) == entry["crc32"]

    def discard_shard(self, shard: int) -> None:
        self.entry_path(shard).unlink(missing_ok=True)
        self.data_path(shard).unlink(missing_ok=True)

    def writer(self, shard: int, similarity: str) -> ShardWriter:
        return ShardWriter(self, shard, similarity)

    def open_shard(self, shard: int) -> tuple[np.ndarray, dict]:
        """The shard's data memory-mapped, fp16 [rows, d] (a copy-on-write mapping: its pages
        are the file's, never copied unless written, and nothing writes them), and its entry."""
        entry = self.entry(shard)
        return np.memmap(self.data_path(shard), dtype="<f2", mode="c", shape=tuple(entry["rows_shape"])), entry

    def open_index(self, similarity: str):
        """Every shard, mapped, as one index for :mod:`harness.index.exact`."""
        view = MappedTokens if similarity == "maxsim" else MappedVectors
        return view([self.open_shard(s) for s in range(self.plan.n_shards)], self.plan.shard_passages)


class ShardWriter:
    """Streams one shard to a temporary file, window by window; :meth:`commit` publishes it.

    A maxsim window's passages are written shortest first (neighbours in a search tile then
    need little padding); only the window in hand is ever in memory.
    """

    def __init__(self, store: Store, shard: int, similarity: str):
        self.store, self.shard, self.similarity = store, shard, similarity
        self.final = store.data_path(shard)
        self.tmp = _tmp(self.final)
        self.file = open(self.tmp, "wb")
        self.crc = 0
        self.rows: list[int] = []
        self.lengths: list[int] = []
        self.n_rows = self.n_passages = 0
        self.dim: int | None = None

    def add(self, encoded) -> None:
        """Append the next passages (corpus order): [L_i, d] matrices (maxsim) or [n, d] (cosine)."""
        if self.similarity == "maxsim":
            lengths = [int(m.shape[0]) for m in encoded]
            if min(lengths, default=1) < 1:
                raise ValueError("every passage needs at least one token vector")
            order = sorted(range(len(lengths)), key=lengths.__getitem__)  # stable
            array = torch.cat([encoded[i].detach().to("cpu", torch.float16) for i in order])
            self.rows += [self.n_passages + i for i in order]
            self.lengths += [lengths[i] for i in order]
            self.n_passages += len(lengths)
        else:
            array = encoded.detach().to("cpu", torch.float16)
            self.n_passages += array.shape[0]
        data = array.contiguous().numpy().tobytes()
        self.file.write(data)
        self.crc = zlib.crc32(data, self.crc)
        self.n_rows += array.shape[0]
        self.dim = int(array.shape[1])

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)

    def commit(self) -> dict:
        expected = len(self.store.plan.rows(self.shard))
        if self.n_passages != expected:
            raise ValueError(f"shard {self.shard}: {self.n_passages} passages written, {expected} expected")
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.final)
        _fsync_dir(self.final.parent)
        entry = {"shard": self.shard, "first_row": self.store.plan.rows(self.shard).start,
                 "n_passages": self.n_passages, "rows_shape": [self.n_rows, self.dim],
                 "bytes": self.final.stat().st_size, "crc32": self.crc}
        if self.similarity == "maxsim":
            entry.update(rows=self.rows, lengths=self.lengths)
        write_json_atomic(self.store.entry_path(self.shard), entry)
        return entry


# --------------------------------------------------------------------------------------------
# Listing and removal (mire-eval cache ls | rm)
# --------------------------------------------------------------------------------------------
def list_stores(cache_root: str | Path) -> list[dict]:
    """One row per store: key, retriever, task, passages, tokens, size (bytes), date, complete."""
    out = []
    root = stores_root(cache_root)
    for header in sorted(root.glob("*/store.json")):
        try:
            info = json.loads(header.read_text())
        except json.JSONDecodeError:
            continue
        entries = [json.loads(p.read_text()) for p in sorted(header.parent.glob("shards/*.json"))]
        identity = info.get("identity", {})
        plan = StorePlan(identity.get("n_passages", 0), identity.get("shard_passages", 1))
        size = sum(p.stat().st_size for p in header.parent.rglob("*") if p.is_file())
        out.append({
            "key": info.get("key", header.parent.name), "retriever": identity.get("retriever"),
            "task": info.get("task"), "passages": identity.get("n_passages"),
            "tokens": sum(e["rows_shape"][0] for e in entries), "size": size, "created": info.get("created"),
            "shards": f"{len(entries)}/{plan.n_shards}",
        })
    return out


def remove_store(cache_root: str | Path, key: str) -> bool:
    directory = stores_root(cache_root) / key
    if not (directory / "store.json").exists() or "/" in key or key.startswith("."):
        return False
    shutil.rmtree(directory)
    return True
