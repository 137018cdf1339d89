"""Build, save and load the token-level inverted file (resumable, no pickle anywhere).

Layout (PLAID's, Santhanam et al. 2022, without its 2-bit residual codec): k-means centroids
of token vectors; each token's centroid id in store order; for each centroid the passage
rows owning at least one of its tokens; ``ivfpq`` adds a product-quantised code of each
token's residual (faiss ``ProductQuantizer``). Codes are kept in token order rather than in a
faiss ``IndexIVFPQ`` so that a passage decodes as one slice and no 8-byte id per token is
stored.

Input: ``shards()``, a callable returning a fresh iterator of ``(tokens [t_i, d] fp16,
rows [t_i] int64)`` (numpy arrays or memmaps; each passage's tokens contiguous, in the
store's order), so the build never holds all tokens in memory.

Steps, each committed to ``<root>/<name>.building/`` by write-then-rename so that an
interrupted build resumes at the step or shard in flight: sample -> centroids -> (pq) ->
one part per shard (split over torchrun's ranks by shard) -> assemble into ``<root>/<name>/``
(renamed into place: complete or absent).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.ann.inputs import Shards
from harness.ann.params import AnnParams, code_bytes, check_fits, estimate
from harness.errors import MireEvalError

FORMAT = 1
BLOCK = 65536  # tokens assigned per faiss call: fp32 copy of 32 MB at d=128


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


# --------------------------------------------------------------------------------------------
# Names, atomic files
# --------------------------------------------------------------------------------------------
def index_name(key: str, params: AnnParams) -> str:
    """Directory name of the index of ``key`` (the caller's store key) built with ``params``.

    >>> index_name("colbert/okvqa", AnnParams(nlist=64, sample=640))[:20]
    'colbert_okvqa-ivf-64'
    """
    ident = json.dumps({"format": FORMAT, "key": key, **params.identity()}, sort_keys=True)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:80]
    return f"{slug}-{params.mode}-{params.nlist}-{digest}"


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _save_json(path: Path, value: dict) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)


def _runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of a shard's rows: (row, local start, length) per passage."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(rows)) + 1]).astype(np.int64)
    lens = np.diff(np.concatenate([starts, [len(rows)]])).astype(np.int64)
    return rows[starts].astype(np.int64), starts, lens


# --------------------------------------------------------------------------------------------
# Build steps
# --------------------------------------------------------------------------------------------
def _sample(shards: Shards, total: int, size: int, seed: int) -> np.ndarray:
    """``size`` token vectors [size, d] fp32 drawn uniformly without replacement (seeded)."""
    picks = np.sort(np.random.default_rng(seed).choice(total, size=size, replace=False))
    out, seen = [], 0
    for tokens, _ in shards():
        n = len(tokens)
        lo, hi = np.searchsorted(picks, [seen, seen + n])
        if hi > lo:
            out.append(np.asarray(tokens[picks[lo:hi] - seen], dtype=np.float32))
        seen += n
    if seen != total:
        raise MireEvalError(f"token store: shards hold {seen} tokens, the store declares {total}")
    return np.concatenate(out)


def _gpus() -> int:
    """GPUs faiss can use (0 with faiss-cpu)."""
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def _kmeans(sample: np.ndarray, nlist: int, niter: int, seed: int) -> np.ndarray:
    import faiss

    km = faiss.Kmeans(sample.shape[1], nlist, niter=niter, seed=seed, spherical=True,
                      max_points_per_centroid=max(256, -(-len(sample) // nlist)),
                      min_points_per_centroid=1,  # silences a warning only: faiss uses it for nothing else
                      gpu=_gpus() > 0)
    km.train(np.ascontiguousarray(sample, dtype=np.float32))
    return np.asarray(km.centroids, dtype=np.float32)


def assign(centroids: np.ndarray, tokens) -> np.ndarray:
    """Nearest centroid by inner product of each token [t, d] -> [t] int64, in blocks."""
    import faiss

    quantizer = faiss.IndexFlatIP(centroids.shape[1])
    quantizer.add(np.ascontiguousarray(centroids))
    if _gpus() > 0:  # the T x nlist x d assignment is the build's cost: on every GPU faiss sees
        quantizer = faiss.index_cpu_to_all_gpus(quantizer)
    out = np.empty(len(tokens), dtype=np.int64)
    for a in range(0, len(tokens), BLOCK):
        x = np.asarray(tokens[a : a + BLOCK], dtype=np.float32)
        out[a : a + len(x)] = quantizer.search(x, 1)[1][:, 0]
    return out


def _train_pq(sample: np.ndarray, centroids: np.ndarray, m: int, nbits: int, seed: int) -> np.ndarray:
    import faiss

    residual = sample - centroids[assign(centroids, sample)]
    pq = faiss.ProductQuantizer(sample.shape[1], m, nbits)
    pq.cp.seed = seed
    pq.cp.min_points_per_centroid = 1  # only silences faiss's "please provide at least" warning: the sample is what it is
    pq.train(np.ascontiguousarray(residual, dtype=np.float32))
    return faiss.vector_to_array(pq.centroids).astype(np.float32)


def _part(tokens, rows, centroids, pq) -> dict[str, np.ndarray]:
    """Everything one shard contributes: codes, pq codes, passage runs, (centroid, row) pairs."""
    rows = np.asarray(rows, dtype=np.int64)
    codes = assign(centroids, tokens)
    out = {"codes": codes}
    if pq is not None:
        chunks = []
        for a in range(0, len(tokens), BLOCK):
            x = np.asarray(tokens[a : a + BLOCK], dtype=np.float32) - centroids[codes[a : a + BLOCK]]
            chunks.append(pq.compute_codes(np.ascontiguousarray(x)))
        out["pq"] = np.concatenate(chunks) if chunks else np.zeros((0, pq.code_size), np.uint8)
    out["run_rows"], out["run_starts"], out["run_lens"] = _runs(rows)
    span = int(rows.max()) + 1 if len(rows) else 1
    pairs = np.unique(codes * span + rows)
    out["pair_codes"], out["pair_rows"] = pairs // span, pairs % span
    return out


def build_index(shards: Shards, total_tokens: int, dim: int, params: AnnParams, root, key: str,
                passages: int | None = None, progress: Callable[[str], None] | None = None,
                rank: int = 0, world_size: int = 1, poll_s: float = 1.0) -> AnnIndex:
    """Build (or reuse, or resume) the index of the store ``key`` under ``root``; the loaded index.

    ``total_tokens``/``dim`` come from the store's manifest; the estimate is checked against
    free RAM and disk before any work (one-line error). With ``world_size`` > 1 (torchrun, a
    filesystem all ranks see) the build is split by shard: rank 0 draws the sample and trains
    the centroids (and the residual quantiser), every rank then assigns the tokens of the shards
    it owns (shard ``i % world_size == rank``, as it encoded them: the T x nlist x d step that
    dominates the build), rank 0 assembles, and every rank loads the result. Ranks coordinate
    through files, not collectives, so a step longer than the process group's timeout is fine;
    the index is byte for byte the one a single process builds.

    Raises MireEvalError: a build that does not fit, ``pq_m`` not dividing ``dim``, shards that
    disagree with ``total_tokens``.
    """
    from filelock import FileLock

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    params = params.resolved(total_tokens)
    if params.mode == "ivfpq" and dim % params.pq_m:
        raise MireEvalError(f"--search-option pq_m={params.pq_m}: must divide the vector dimension {dim}")
    name = index_name(key, params)
    final, work = root / name, root / f"{name}.building"
    done = final / "meta.json"
    say = progress or (lambda _: None)
    owned = (lambda i: i % world_size == rank)
    if rank != 0:  # rank 0 trains; then every rank adds its own shards; rank 0 assembles
        _wait(lambda: done.is_file() or (work / "trained.json").is_file(), poll_s)
        if not done.is_file():
            _add_shards(shards, work, done, params, owned, say)
        _wait(done.is_file, poll_s)
        return load_index(final, key, params)
    with FileLock(str(root / f"{name}.lock")):  # a second job on the same store waits, then reuses
        if done.is_file():
            return load_index(final, key, params)
        check_fits(estimate(total_tokens, dim, params, passages), root)
        work.mkdir(exist_ok=True)
        _train(shards, work, total_tokens, params, say)
        _add_shards(shards, work, done, params, owned, say)
        n_parts = _wait_for_parts(shards, work, total_tokens, poll_s)
        tmp_final = root / f"{name}.tmp{os.getpid()}"
        shutil.rmtree(tmp_final, ignore_errors=True)
        tmp_final.mkdir()
        _assemble(work, n_parts, total_tokens, params, _load_npy(work / "centroids.npy"), tmp_final, key)
        os.rename(tmp_final, final)
        shutil.rmtree(work)
        return load_index(final, key, params)


def _wait(ready: Callable[[], bool], poll_s: float) -> None:
    """Poll the filesystem until ``ready()``: another rank's step may outlast any collective's
    timeout, and torchrun stops every rank when one fails."""
    while not ready():
        time.sleep(poll_s)


def _train(shards: Shards, work: Path, total: int, params: AnnParams, say) -> None:
    """Sample -> centroids -> (residual quantiser) into ``work``; ``trained.json`` marks the end."""
    if (work / "trained.json").is_file():
        return
    if not (work / "centroids.npy").is_file():
        if not (work / "sample.npy").is_file():
            say(f"sampling {params.sample} of {total} tokens")
            sample = _sample(shards, total, params.sample, params.seed)
            _save_npy(work / "sample.npy", sample.astype(np.float16))
        say(f"k-means: {params.nlist} centroids")
        sample = _load_npy(work / "sample.npy").astype(np.float32)
        _save_npy(work / "centroids.npy", _kmeans(sample, params.nlist, params.niter, params.seed))
    if params.mode == "ivfpq" and not (work / "pq.npy").is_file():
        say("training the residual product quantiser")
        sample = _load_npy(work / "sample.npy").astype(np.float32)
        centroids = _load_npy(work / "centroids.npy")
        _save_npy(work / "pq.npy", _train_pq(sample, centroids, params.pq_m, params.pq_nbits, params.seed))
    _save_json(work / "trained.json", {"nlist": params.nlist})


def _add_shards(shards: Shards, work: Path, done: Path, params: AnnParams, owned: Callable[[int], bool],
                say) -> None:
    """One part per owned shard (skipping parts already written for the same tokens)."""
    centroids = _load_npy(work / "centroids.npy")
    pq = None
    if params.mode == "ivfpq":
        pq = AnnIndex(params, "", centroids, *[np.zeros(0)] * 5, _load_npy(work / "pq.npy")).pq()
    seen = 0
    for i, (tokens, rows) in enumerate(shards()):
        if owned(i):
            stamp = {"tokens": len(rows), "start": seen,
                     "rows": hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest()}
            stamp_path = work / f"part-{i:06d}.json"
            if not ((work / f"part-{i:06d}.npz").is_file() and stamp_path.is_file()
                    and json.loads(stamp_path.read_text()) == stamp):
                say(f"shard {i}: {len(rows)} tokens")
                try:
                    tmp = work / f"part-{i:06d}.tmp{os.getpid()}.npz"
                    np.savez(tmp, **_part(tokens, rows, centroids, pq))
                    os.replace(tmp, work / f"part-{i:06d}.npz")
                    _save_json(stamp_path, stamp)
                except FileNotFoundError:
                    if done.is_file():  # another job finished the same index first
                        return
                    raise
        seen += len(rows)


def _wait_for_parts(shards: Shards, work: Path, total: int, poll_s: float) -> int:
    """Wait until every shard's part is written (by whichever rank owns it); the part count."""
    seen, n = 0, 0
    for i, (_, rows) in enumerate(shards()):
        stamp_path = work / f"part-{i:06d}.json"
        _wait(stamp_path.is_file, poll_s)
        stamp = json.loads(stamp_path.read_text())
        if (stamp["tokens"], stamp["start"]) != (len(rows), seen):
            raise MireEvalError(f"{stamp_path}: tokens: part {i} holds {stamp['tokens']} tokens from "
                                f"{stamp['start']}, the store's shard {len(rows)} from {seen}")
        seen, n = seen + len(rows), i + 1
    if seen != total:
        raise MireEvalError(f"token store: shards hold {seen} tokens, the store declares {total}")
    return n


def _assemble(work: Path, n_parts: int, total: int, params: AnnParams, centroids, out: Path, key: str) -> None:
    """Concatenate the parts into the final arrays; lists by a counting sort over centroids."""
    parts = [work / f"part-{i:06d}.npz" for i in range(n_parts)]

    def each(name):
        for p in parts:
            with np.load(p, allow_pickle=False) as z:
                yield z[name]

    code_dtype = np.uint16 if code_bytes(params.nlist) == 2 else np.int32
    codes = np.lib.format.open_memmap(out / "codes.npy", mode="w+", dtype=code_dtype, shape=(total,))
    pq_codes = None
    at = 0
    n_rows = 0
    for c in each("codes"):
        codes[at : at + len(c)] = c
        at += len(c)
    for r in each("run_rows"):
        n_rows = max(n_rows, int(r.max()) + 1 if len(r) else 0)
    if params.mode == "ivfpq":
        first = next(each("pq"))
        pq_codes = np.lib.format.open_memmap(out / "pq_codes.npy", mode="w+", dtype=np.uint8,
                                             shape=(total, first.shape[1]))
        at = 0
        for c in each("pq"):
            pq_codes[at : at + len(c)] = c
            at += len(c)
    tok_start = np.full(n_rows, -1, dtype=np.int64)
    tok_len = np.zeros(n_rows, dtype=np.int32)
    at = 0
    for p in parts:
        with np.load(p, allow_pickle=False) as z:
            rows, starts, lens = z["run_rows"], z["run_starts"], z["run_lens"]
            if (tok_start[rows] >= 0).any() or len(np.unique(rows)) != len(rows):
                raise MireEvalError("token store: a passage's tokens are not contiguous")
            tok_start[rows], tok_len[rows] = starts + at, lens
            at += len(z["codes"])
    # Rows without tokens (tok_len 0) are passages held by other shards/ranks: never listed.
    counts = np.zeros(params.nlist, dtype=np.int64)
    for c in each("pair_codes"):
        counts += np.bincount(c, minlength=params.nlist)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    list_rows = np.lib.format.open_memmap(out / "list_rows.npy", mode="w+", dtype=np.int32,
                                          shape=(int(offsets[-1]),))
    cursor = offsets[:-1].copy()
    for p in parts:
        with np.load(p, allow_pickle=False) as z:
            c, r = z["pair_codes"], z["pair_rows"]  # sorted by code (np.unique of code * span + row)
            first = np.searchsorted(c, c, side="left")
            list_rows[cursor[c] + np.arange(len(c)) - first] = r
            cursor += np.bincount(c, minlength=params.nlist)
    for a in (codes, list_rows, pq_codes):
        if a is not None:
            a.flush()
    _save_npy(out / "centroids.npy", centroids)
    _save_npy(out / "list_offsets.npy", offsets)
    _save_npy(out / "tok_start.npy", tok_start)
    _save_npy(out / "tok_len.npy", tok_len)
    if params.mode == "ivfpq":
        shutil.copy(work / "pq.npy", out / "pq_centroids.npy")
    _save_json(out / "meta.json", {"format": FORMAT, "key": key, "params": asdict(params),
                                   "tokens": total, "passages": n_rows, "dim": int(centroids.shape[1])})


def load_index(directory, key: str | None = None, params: AnnParams | None = None) -> AnnIndex:
    """Load a saved index (large arrays memory-mapped); refuses one built for another key or
    other build parameters."""
    directory = Path(directory)
    meta_path = directory / "meta.json"
    if not meta_path.is_file():
        raise MireEvalError(f"{meta_path}: index: file not found")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise MireEvalError(f"{meta_path}: format: {meta.get('format')!r}, this version reads {FORMAT}")
    saved = AnnParams(**meta["params"])
    if params is not None:
        params = params.resolved(meta["tokens"])  # "derive from the corpus" as the build did
    if key is not None and meta["key"] != key:
        raise MireEvalError(f"{meta_path}: key: built for {meta['key']!r}, not {key!r}")
    if params is not None and saved.identity() != params.identity():
        raise MireEvalError(f"{meta_path}: params: built with {saved.identity()}, not {params.identity()}")
    if params is not None:  # search-time parameters are the caller's
        saved = params
    pq = (directory / "pq_centroids.npy").is_file()
    return AnnIndex(
        saved, meta["key"], _load_npy(directory / "centroids.npy"), _load_npy(directory / "codes.npy", True),
        _load_npy(directory / "list_offsets.npy"), _load_npy(directory / "list_rows.npy", True),
        _load_npy(directory / "tok_start.npy"), _load_npy(directory / "tok_len.npy"),
        _load_npy(directory / "pq_centroids.npy") if pq else None,
        _load_npy(directory / "pq_codes.npy", True) if pq else None)
