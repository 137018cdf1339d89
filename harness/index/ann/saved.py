"""The saved index: its type, atomic writes, and reads that fail in one line naming the file.

Everything the build and the search read back from disk (the final index, the build's
``trained``/part files) goes through :func:`read_npy`/:func:`read_json`, so a truncated,
missing or foreign file is a :class:`MireEvalError` (``<file>: <field>: <what>``), never a
numpy/zipfile/json traceback; :func:`load_index` also checks every array's shape and dtype
against ``meta.json``, so an array from another index is refused rather than searched.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from harness.index.ann.params import AnnParams, code_bytes
from harness.core.errors import MireEvalError

FORMAT = 1
# What numpy, zipfile and json raise on a file cut short, emptied or of another kind.
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


@dataclass
class AnnIndex:
    """An inverted file over T tokens of N passages (arrays may be read-only memmaps).

    centroids [nlist, d] fp32; codes [T] uint16/int32 (token -> centroid); list_offsets
    [nlist + 1] int64 and list_rows [E] int32 (centroid c -> passage rows
    ``list_rows[list_offsets[c]:list_offsets[c + 1]]``); tok_start [N] int64, tok_len [N]
    int32 (passage row -> its tokens); ``ivfpq``: pq_centroids (faiss layout, fp32) and
    pq_codes [T, code_size] uint8.
    """

    params: AnnParams
    key: str
    centroids: np.ndarray
    codes: np.ndarray
    list_offsets: np.ndarray
    list_rows: np.ndarray
    tok_start: np.ndarray
    tok_len: np.ndarray
    pq_centroids: np.ndarray | None = None
    pq_codes: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.centroids.shape[1]

    def __len__(self) -> int:
        return self.tok_start.shape[0]

    def nbytes(self) -> int:
        """Resident bytes of the index arrays (what a search touches)."""
        arrays = [self.centroids, self.codes, self.list_offsets, self.list_rows, self.tok_start, self.tok_len,
                  self.pq_centroids, self.pq_codes]
        return sum(a.nbytes for a in arrays if a is not None)

    def pq(self):
        """The faiss ProductQuantizer of ``ivfpq`` (rebuilt from its saved centroids)."""
        import faiss

        if self.pq_centroids is None:
            raise ValueError("an ivf index has no residual codes")
        if not hasattr(self, "_pq"):
            pq = faiss.ProductQuantizer(self.dim, self.params.pq_m, self.params.pq_nbits)
            faiss.copy_array_to_vector(np.ascontiguousarray(self.pq_centroids, np.float32), pq.centroids)
            self._pq = pq
        return self._pq

    def decode(self, token_ids: np.ndarray) -> np.ndarray:
        """Reconstructed vectors [n, d] fp32 of tokens ``token_ids`` [n] (``ivfpq``)."""
        residual = self.pq().decode(np.ascontiguousarray(self.pq_codes[token_ids]))
        return residual + self.centroids[self.codes[token_ids]]


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` (temp file, fsync, rename: complete or absent)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to the ``.npz`` ``path`` (temp file, fsync, rename)."""
    tmp = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_json(path: Path, value: dict) -> None:
    """Write ``value`` as JSON to ``path`` (temp file, fsync, rename)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(json.dumps(value, indent=1, sort_keys=True))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _unreadable(path: Path, exc: BaseException) -> MireEvalError:
    if isinstance(exc, FileNotFoundError):
        return MireEvalError(f"{path}: index: file not found")
    return MireEvalError(f"{path}: index: unreadable, cut short or damaged ({type(exc).__name__}: {exc})")


def read_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """The array in ``path`` (memory-mapped read-only with ``mmap``); never unpickles."""
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except READ_ERRORS as exc:
        raise _unreadable(path, exc) from None


def read_npz(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of the ``.npz`` ``path``, read into memory (never unpickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in names}
    except READ_ERRORS as exc:
        raise _unreadable(path, exc) from None


def read_json(path: Path) -> dict:
    """The JSON object in ``path``."""
    try:
        value = json.loads(Path(path).read_text())
    except READ_ERRORS as exc:  # json.JSONDecodeError is a ValueError
        raise _unreadable(path, exc) from None
    if not isinstance(value, dict):
        raise MireEvalError(f"{path}: index: not a JSON object")
    return value


def _meta(meta_path: Path) -> tuple[dict, AnnParams]:
    meta = read_json(meta_path)
    if meta.get("format") != FORMAT:
        raise MireEvalError(f"{meta_path}: format: {meta.get('format')!r}, this version reads {FORMAT}")
    for field, kind in (("key", str), ("params", dict), ("tokens", int), ("passages", int), ("dim", int)):
        if not isinstance(meta.get(field), kind) or isinstance(meta.get(field), bool):
            raise MireEvalError(f"{meta_path}: {field}: missing or not a {kind.__name__}")
    known = {f.name for f in fields(AnnParams)}
    if set(meta["params"]) - known:
        raise MireEvalError(f"{meta_path}: params: unknown {sorted(set(meta['params']) - known)}")
    return meta, AnnParams(**meta["params"])


def _checked(path: Path, array: np.ndarray, shape: tuple, dtype) -> np.ndarray:
    """``array`` if it has ``shape`` (None: any length) and ``dtype``, else a one-line error."""
    ok = array.dtype == np.dtype(dtype) and array.ndim == len(shape) and all(
        want is None or got == want for got, want in zip(array.shape, shape))
    if not ok:
        want = "x".join("?" if s is None else str(s) for s in shape)
        raise MireEvalError(f"{path}: shape: {array.dtype} {'x'.join(map(str, array.shape))}, "
                            f"meta.json's index needs {np.dtype(dtype)} {want}")
    return array


def load_index(directory, key: str | None = None, params: AnnParams | None = None) -> AnnIndex:
    """Load a saved index (large arrays memory-mapped); refuses one built for another key or
    other build parameters, and any array whose shape or dtype is not the one ``meta.json``
    implies (T tokens, N passages, nlist centroids of dimension d)."""
    directory = Path(directory)
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        raise MireEvalError(f"{meta_path}: index: file not found")
    try:
        meta, saved = _meta(meta_path)
    except MireEvalError as exc:
        raise MireEvalError(f"{exc}; remove {directory} to rebuild the index") from None
    if params is not None:
        params = params.resolved(meta["tokens"])  # "derive from the corpus" as the build did
    if key is not None and meta["key"] != key:
        raise MireEvalError(f"{meta_path}: key: built for {meta['key']!r}, not {key!r}")
    if params is not None and saved.identity() != params.identity():
        raise MireEvalError(f"{meta_path}: params: built with {saved.identity()}, not {params.identity()}")
    t, n, d, nlist = meta["tokens"], meta["passages"], meta["dim"], saved.nlist

    def get(name, shape, dtype, mmap=False):
        path = directory / f"{name}.npy"
        try:
            return _checked(path, read_npy(path, mmap), shape, dtype)
        except MireEvalError as exc:
            raise MireEvalError(f"{exc}; remove {directory} to rebuild the index") from None

    offsets = get("list_offsets", (nlist + 1,), np.int64)
    list_rows = get("list_rows", (None,), np.int32, True)
    if len(list_rows) != (int(offsets[-1]) if len(offsets) else 0):
        raise MireEvalError(f"{directory / 'list_offsets.npy'}: shape: ends at {int(offsets[-1])}, "
                            f"list_rows.npy holds {len(list_rows)}")
    code_dtype = np.uint16 if code_bytes(nlist) == 2 else np.int32
    arrays = [get("centroids", (nlist, d), np.float32), get("codes", (t,), code_dtype, True), offsets, list_rows, get("tok_start", (n,), np.int64), get("tok_len", (n,), np.int32)]
    if saved.mode == "ivfpq":
        arrays += [get("pq_centroids", ((2**saved.pq_nbits) * d,), np.float32),
                   get("pq_codes", (t, math.ceil(saved.pq_m * saved.pq_nbits / 8)), np.uint8, True)]
    # Search-time parameters are the caller's.
    return AnnIndex(params if params is not None else saved, meta["key"], *arrays)
