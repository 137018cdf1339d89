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
from dataclasses import asdict
from pathlib import Path

import numpy as np

from harness.ann.inputs import Shards
from harness.ann.params import AnnParams, code_bytes, check_fits, estimate
from harness.ann.saved import (
    FORMAT, AnnIndex, load_index, read_json, read_npy, read_npz, save_json, save_npy, save_npz,
)
from harness.errors import MireEvalError

__all__ = ["AnnIndex", "assign", "build_index", "index_name", "load_index"]
BLOCK = 65536  # tokens assigned per faiss call: fp32 copy of 32 MB at d=128


# --------------------------------------------------------------------------------------------
# Names
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


def assign_engine() -> str:
    """What :func:`assign` runs on: ``"faiss-gpu"`` (faiss sees a GPU), ``"torch-cuda"`` (faiss-cpu
    beside a CUDA torch: the T x nlist x d product is a GEMM the card does far faster than the
    CPU) or ``"faiss-cpu"``."""
    if _gpus() > 0:
        return "faiss-gpu"
    import torch

    return "torch-cuda" if torch.cuda.is_available() else "faiss-cpu"


def assign(centroids: np.ndarray, tokens) -> np.ndarray:
    """Nearest centroid by inner product of each token [t, d] -> [t] int64, in blocks.

    On ``torch-cuda`` (:func:`assign_engine`) the argmax is torch's (first maximum on a tie, as
    faiss's flat search); the fp32 dot products may round differently from faiss's CPU kernel,
    so a token whose two best centroids tie to the last bit can be assigned to the other one:
    the index is then another valid IVF of the same corpus, not a different search."""
    engine = assign_engine()
    out = np.empty(len(tokens), dtype=np.int64)
    if engine == "torch-cuda":
        import torch

        c = torch.from_numpy(np.ascontiguousarray(centroids, dtype=np.float32)).cuda()  # [nlist, d]
        for a in range(0, len(tokens), BLOCK):
            x = torch.from_numpy(np.asarray(tokens[a : a + BLOCK], dtype=np.float32)).cuda()  # [b, d]
            out[a : a + len(x)] = (x @ c.T).argmax(dim=1).cpu().numpy()
        return out
    import faiss

    quantizer = faiss.IndexFlatIP(centroids.shape[1])
    quantizer.add(np.ascontiguousarray(centroids))
    if engine == "faiss-gpu":  # the T x nlist x d assignment is the build's cost: on every GPU faiss sees
        quantizer = faiss.index_cpu_to_all_gpus(quantizer)
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
        try:
            if not done.is_file():
                _add_shards(shards, work, params, owned, say)
        except (FileNotFoundError, MireEvalError):
            # The build finished without us (another job held the lock, or our parts were left
            # by an earlier run): rank 0 removed .building under our feet.
            if not done.is_file() and work.is_dir():
                raise
        _wait(done.is_file, poll_s)
        return load_index(final, key, params)
    with FileLock(str(root / f"{name}.lock")):  # a second job on the same store waits, then reuses
        _sweep(root, name, done)
        if done.is_file():
            return load_index(final, key, params)
        if final.exists():  # never made by a build (renamed in complete, meta.json last)
            raise MireEvalError(f"{final}: index: directory without meta.json; remove it to rebuild the index")
        check_fits(estimate(total_tokens, dim, params, passages), root)
        work.mkdir(exist_ok=True)
        _train(shards, work, total_tokens, params, say)
        _add_shards(shards, work, params, owned, say)
        n_parts = _wait_for_parts(shards, work, total_tokens, poll_s, say)
        tmp_final = root / f"{name}.tmp{os.getpid()}"
        tmp_final.mkdir()
        _assemble(work, n_parts, total_tokens, params, read_npy(work / "centroids.npy"), tmp_final, key)
        os.rename(tmp_final, final)
        # Another rank may still be writing a part of its own into .building: its leftovers go
        # at the next build of this index (_sweep).
        shutil.rmtree(work, ignore_errors=True)
        return load_index(final, key, params)


def _sweep(root: Path, name: str, done: Path) -> None:
    """Remove what killed builds of ``name`` left (called under the index's lock): half-assembled
    ``<name>.tmp<pid>/`` (only the lock's holder assembles) and, once the index exists,
    ``<name>.building/``."""
    for tmp in root.glob(f"{name}.tmp*"):
        shutil.rmtree(tmp, ignore_errors=True)
    if done.is_file():
        shutil.rmtree(root / f"{name}.building", ignore_errors=True)


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
            save_npy(work / "sample.npy", sample.astype(np.float16))
        say(f"k-means: {params.nlist} centroids")
        sample = read_npy(work / "sample.npy").astype(np.float32)
        save_npy(work / "centroids.npy", _kmeans(sample, params.nlist, params.niter, params.seed))
    if params.mode == "ivfpq" and not (work / "pq.npy").is_file():
        say("training the residual product quantiser")
        sample = read_npy(work / "sample.npy").astype(np.float32)
        centroids = read_npy(work / "centroids.npy")
        save_npy(work / "pq.npy", _train_pq(sample, centroids, params.pq_m, params.pq_nbits, params.seed))
    save_json(work / "trained.json", {"nlist": params.nlist})


def _stamp(rows, start: int) -> dict:
    """What a part was made of: its token count, first token and the sha256 of its rows."""
    return {"tokens": len(rows), "start": start,
            "rows": hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest()}


def _stamped(work: Path, i: int, stamp: dict) -> bool:
    """Whether shard ``i``'s part is written for exactly ``stamp`` (a stamp from a killed or
    older run, unreadable or for other tokens, is not)."""
    path = work / f"part-{i:06d}.json"
    try:
        return (work / f"part-{i:06d}.npz").is_file() and read_json(path) == stamp
    except MireEvalError:
        return False


def _add_shards(shards: Shards, work: Path, params: AnnParams, owned: Callable[[int], bool], say) -> None:
    """One part per owned shard (skipping parts already written for the same tokens); the part
    first, its stamp second, each by write-then-rename, so a stamp always names a whole part."""
    centroids = read_npy(work / "centroids.npy")
    pq = None
    if params.mode == "ivfpq":
        pq = AnnIndex(params, "", centroids, *[np.zeros(0)] * 5, read_npy(work / "pq.npy")).pq()
    seen = 0
    for i, (tokens, rows) in enumerate(shards()):
        if owned(i):
            stamp = _stamp(rows, seen)
            if not _stamped(work, i, stamp):
                say(f"shard {i}: {len(rows)} tokens")
                save_npz(work / f"part-{i:06d}.npz", _part(tokens, rows, centroids, pq))
                save_json(work / f"part-{i:06d}.json", stamp)
        seen += len(rows)


def _wait_for_parts(shards: Shards, work: Path, total: int, poll_s: float, say) -> int:
    """Wait until every shard's part is written for this build's tokens (by whichever rank owns
    it: a stale part of an earlier run is waited past, never assembled); the part count."""
    seen, n = 0, 0
    for i, (_, rows) in enumerate(shards()):
        stamp = _stamp(rows, seen)
        if not _stamped(work, i, stamp):
            say(f"waiting for shard {i}'s part (another rank's)")
            _wait(lambda: _stamped(work, i, stamp), poll_s)  # noqa: B023 - called at once
        seen, n = seen + len(rows), i + 1
    if seen != total:
        raise MireEvalError(f"token store: shards hold {seen} tokens, the store declares {total}")
    return n


def _assemble(work: Path, n_parts: int, total: int, params: AnnParams, centroids, out: Path, key: str) -> None:
    """Concatenate the parts into the final arrays; lists by a counting sort over centroids."""
    def load(i, *names):
        path = work / f"part-{i:06d}.npz"
        try:
            return read_npz(path, names)
        except MireEvalError as exc:  # damaged after its stamp was written: redo that shard only
            (work / f"part-{i:06d}.json").unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            raise MireEvalError(f"{exc}; removed it: a rerun recomputes shard {i}") from None

    def each(name):
        for i in range(n_parts):
            yield load(i, name)[name]

    code_dtype = np.uint16 if code_bytes(params.nlist) == 2 else np.int32
    codes = np.lib.format.open_memmap(out / "codes.npy", mode="w+", dtype=code_dtype, shape=(total,))
    pq_codes = None
    at = 0
    n_rows = 0
    for c in each("codes"):
        codes[at : at + len(c)] = c
        at += len(c)
    if at != total:
        raise MireEvalError(f"{work}: codes: the parts hold {at} tokens, the store declares {total}")
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
    for i in range(n_parts):
        z = load(i, "run_rows", "run_starts", "run_lens", "codes")
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
    for i in range(n_parts):
        z = load(i, "pair_codes", "pair_rows")
        c, r = z["pair_codes"], z["pair_rows"]  # sorted by code (np.unique of code * span + row)
        first = np.searchsorted(c, c, side="left")
        list_rows[cursor[c] + np.arange(len(c)) - first] = r
        cursor += np.bincount(c, minlength=params.nlist)
    for a in (codes, list_rows, pq_codes):
        if a is not None:
            a.flush()
    save_npy(out / "centroids.npy", centroids)
    save_npy(out / "list_offsets.npy", offsets)
    save_npy(out / "tok_start.npy", tok_start)
    save_npy(out / "tok_len.npy", tok_len)
    if params.mode == "ivfpq":
        shutil.copy(work / "pq.npy", out / "pq_centroids.npy")
    save_json(out / "meta.json", {"format": FORMAT, "key": key, "params": asdict(params),
                                   "tokens": total, "passages": n_rows, "dim": int(centroids.shape[1])})
