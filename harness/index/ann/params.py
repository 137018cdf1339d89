"""Parameters of the approximate late-interaction search, their checks, and what a build costs.

Two modes share one inverted file (see :mod:`harness.index.ann.index`):

* ``ivf``: centroid id per token + passage lists per centroid; candidates are reranked with
  exact MaxSim over the fp16 token store (which stays on disk, memory-mapped);
* ``ivfpq``: the same plus a product-quantised code of each token's residual (token minus its
  centroid); candidates are reranked with the decoded vectors, no fp16 store is read; with
  ``refine=R`` the best R (at least k) by decoded MaxSim are rescored exactly from the fp16
  store (faiss's ``IndexRefine``): R x ~30 tokens read from disk per query, nothing resident.

Defaults were chosen by ``bench/bench_ann.py`` (figures in docs/ann.md): nprobe 2 and 8192
candidates kept the gold passage's hit@5 and mrr@5 equal to exact's on 200 queries at 100K,
300K and 1M synthetic passages (easy and hard query sets) and on 20K real MiniLM docstrings,
at 24-27x less time at 1M; nprobe 4 with 4096 candidates lost 2 points on the hard set.
``ivfpq`` refines its best 100 by default: decoded scores alone lost 6-7 points on the hard set.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass, fields

from harness.core.errors import MireEvalError

MODES = ("ivf", "ivfpq")
# Bytes of the passage-row entries a token adds to the centroid lists: at most one int32 per
# token (a passage appears once per centroid it touches, so repeated centroids cost nothing).
LIST_BYTES = 4
PASSAGE_BYTES = 12  # per passage: first token (int64) + token count (int32)


@dataclass(frozen=True)
class AnnParams:
    """Index and search parameters. ``nlist=0`` and ``sample=0`` mean "derive from the corpus"
    (:meth:`resolved`); every other field is used as given.

    nlist: centroids (k-means clusters of token vectors); nprobe: centroids probed per query
    token; candidates: passages reranked exactly per query; interaction: passages scored by
    centroid interaction before that (0 = 4 x candidates); sample: tokens k-means trains on;
    niter: k-means iterations (ColBERT's ``kmeans_niters`` default is 4); seed: k-means and
    sampling seed; pq_m / pq_nbits: residual code
    of ``ivfpq`` (pq_m sub-vectors of pq_nbits bits each; pq_m must divide the dimension);
    refine: ``ivfpq`` only, passages (at least k) rescored exactly from the fp16 store after the
    decoded rerank (0 = decoded scores are final: the store is not read while searching).
    """

    mode: str = "ivf"
    nlist: int = 0
    nprobe: int = 2
    candidates: int = 8192
    interaction: int = 0
    sample: int = 0
    niter: int = 4
    seed: int = 0
    pq_m: int = 32
    pq_nbits: int = 8
    refine: int = 100

    def resolved(self, tokens: int) -> AnnParams:
        """Fill ``nlist`` (power of two near 3 sqrt(T), at most T/8) and ``sample`` (48 tokens
        per centroid: faiss's k-means wants >= 39; at most T) for a corpus of ``tokens`` tokens.
        PLAID takes 16 sqrt(T) centroids, trained on a GPU; on CPU the build costs T x nlist.
        Measured (bench/bench_ann.py, 1.5 M tokens): 2048 centroids (1.7 sqrt(T)) lost 3 of 50
        exact top-1s from the top 5, 4096 (3.3 sqrt(T)) lost 1 and searched 1.6x faster.

        >>> AnnParams().resolved(1_000_000).nlist, AnnParams().resolved(1_000_000).sample
        (4096, 196608)
        """
        nlist = self.nlist or max(1, min(2 ** round(math.log2(3 * math.sqrt(tokens))), tokens // 8))
        sample = self.sample or min(tokens, 48 * nlist)
        out = AnnParams(**{**asdict(self), "nlist": nlist, "sample": sample})
        if out.nlist > tokens:
            raise MireEvalError(f"--search-option nlist={out.nlist}: more centroids than the {tokens} tokens")
        if out.sample < out.nlist:
            raise MireEvalError(f"--search-option sample={out.sample}: fewer tokens than nlist={out.nlist}")
        if out.sample > tokens:
            raise MireEvalError(f"--search-option sample={out.sample}: more than the {tokens} tokens")
        if out.mode == "ivfpq" and out.sample < 2**out.pq_nbits:  # faiss's k-means needs a point per centroid
            raise MireEvalError(f"--search-option pq_nbits={out.pq_nbits}: its {2**out.pq_nbits} residual centroids "
                                f"need at least as many sample tokens, sample={out.sample}")
        return out

    def rescored(self, k: int, kept: int) -> int:
        """How many of the ``kept`` candidates (best first by decoded MaxSim) are rescored
        exactly from the fp16 store for a top-``k``: max(k, refine), never more than were kept
        (``refine`` >= candidates rescores them all); 0 without refine (``ivf``, ``refine=0``).
        Bounding it by ``kept`` keeps what a search allocates to what exists, whatever the value.

        >>> AnnParams(mode="ivfpq").rescored(10, 8192), AnnParams(mode="ivfpq", refine=2**31 - 1).rescored(10, 64)
        (100, 64)
        """
        if self.mode != "ivfpq" or not self.refine:
            return 0
        return min(max(k, self.refine), kept)

    def identity(self) -> dict:
        """What names an index: the build parameters (search-only ones excluded)."""
        out = asdict(self)
        for name in ("nprobe", "candidates", "interaction", "refine"):
            out.pop(name)
        if self.mode == "ivf":
            out.pop("pq_m"), out.pop("pq_nbits")
        return out


_INT_RANGES = {"nlist": (0, 2**31 - 1), "nprobe": (1, 2**20), "candidates": (1, 2**31 - 1),
               "interaction": (0, 2**31 - 1),
               "sample": (0, 2**40), "niter": (1, 1000), "seed": (0, 2**31 - 1), "pq_m": (1, 4096),
               "pq_nbits": (1, 16), "refine": (0, 2**31 - 1)}
# ivfpq-only options and the value an ivf run holds for each (refine: ivf reranks exactly).
IVF_FIXED = {"pq_m": AnnParams.pq_m, "pq_nbits": AnnParams.pq_nbits, "refine": 0}


def parse_params(mode: str, options: dict[str, object] | None = None, dim: int | None = None) -> AnnParams:
    """``--search MODE --search-option key=value ...`` into checked :class:`AnnParams`.

    Values may be text (from the command line) or ints. Every fault is one line.

    >>> parse_params("ivf", {"nprobe": "8"}).nprobe
    8
    >>> parse_params("ivf", {"nprobe": "0"})
    Traceback (most recent call last):
    harness.core.errors.MireEvalError: --search-option nprobe=0: must be an integer in [1, 1048576]
    """
    if mode not in MODES:
        raise MireEvalError(f"--search {mode}: unknown approximate search; known: {', '.join(MODES)}")
    known = {f.name for f in fields(AnnParams)} - {"mode"}
    values: dict[str, int] = {}
    for key, raw in (options or {}).items():
        if key not in known:
            raise MireEvalError(f"--search-option {key}: unknown for --search {mode}; "
                                f"known: {', '.join(sorted(known))}")
        lo, hi = _INT_RANGES[key]
        try:
            value = int(str(raw).strip()) if not isinstance(raw, bool) else None
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise MireEvalError(f"--search-option {key}={raw}: must be an integer in [{lo}, {hi}]")
        values[key] = value
    if mode == "ivf":
        # ivfpq's options do nothing for ivf: a value other than ivf's own would only give the same
        # results another run tag (as its default: what the stored parameters of an ivf index hold).
        for key, own in IVF_FIXED.items():
            if values.get(key, own) != own:
                raise MireEvalError(f"--search-option {key}={options[key]}: only --search ivfpq uses it "
                                    "(ivf reranks exactly from the fp16 store)")
        values["refine"] = 0  # ivf reranks exactly already
    params = AnnParams(mode=mode, **values)
    if mode == "ivfpq" and dim is not None and dim % params.pq_m:
        raise MireEvalError(f"--search-option pq_m={params.pq_m}: must divide the vector dimension {dim}")
    if mode == "ivfpq" and params.pq_nbits > 8 and params.pq_m * params.pq_nbits % 8:
        raise MireEvalError(f"--search-option pq_nbits={params.pq_nbits}: pq_m * pq_nbits must be a multiple of 8")
    if params.nlist and params.nprobe > params.nlist:
        raise MireEvalError(f"--search-option nprobe={params.nprobe}: larger than nlist={params.nlist}")
    return params


def code_bytes(nlist: int) -> int:
    """Bytes of one token's centroid id (uint16 while the ids fit)."""
    return 2 if nlist <= 2**16 else 4


def estimate(tokens: int, dim: int, params: AnnParams, passages: int | None = None) -> dict:
    """Memory and disk of an index over ``tokens`` token vectors of dimension ``dim``, before
    building it. ``passages`` defaults to tokens / 32 (ColBERT passages are ~30-180 tokens).

    Returns bytes (ints): ``bytes_per_token`` (resident while searching, upper bound: every
    token a separate list entry), ``ram`` (resident search memory), ``build_ram`` (peak of the
    build: the k-means sample in fp32 plus assignment blocks, or the resident index while
    the lists are assembled, whichever is larger), ``disk`` (index files) and ``build_disk``
    (peak: per-shard parts and the assembled copy). ``ivf`` also reads the fp16 store
    (``store_bytes_per_token``, memory-mapped, not counted in ``ram``).

    >>> estimate(10**9, 128, AnnParams(mode="ivfpq", nlist=65536))["bytes_per_token"]
    38
    >>> estimate(13 * 10**8, 128, AnnParams(mode="ivfpq"))["bytes_per_token"]  # 131072 centroids
    40
    """
    p = params.resolved(tokens)
    passages = passages if passages is not None else max(1, tokens // 32)
    per_token = code_bytes(p.nlist) + LIST_BYTES
    if p.mode == "ivfpq":
        per_token += math.ceil(p.pq_m * p.pq_nbits / 8)
    fixed = p.nlist * dim * 4 + passages * PASSAGE_BYTES
    if p.mode == "ivfpq":
        fixed += p.pq_m * (2**p.pq_nbits) * (dim // max(p.pq_m, 1)) * 4
    ram = per_token * tokens + fixed
    # One assignment block: fp32 tokens, labels, faiss's 4096 x 1024 BLAS score tile.
    block = 65536 * (dim * 4 + 16) + 4096 * 1024 * 4
    build_ram = max(p.sample * dim * 4 + p.sample * 8 + block, ram + block)
    return {"tokens": tokens, "bytes_per_token": per_token, "ram": ram, "build_ram": build_ram,
            "disk": ram, "build_disk": 2 * ram,
            "store_bytes_per_token": 2 * dim if p.mode == "ivf" else 0}


def available_ram() -> int:
    """MemAvailable from /proc/meminfo in bytes (the kernel's estimate of what can be taken
    without swapping)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise MireEvalError("/proc/meminfo: MemAvailable: not found")


def check_fits(est: dict, directory, ram: int | None = None, disk: int | None = None) -> None:
    """Refuse, in one line, a build whose estimate exceeds the available RAM or the free disk
    under ``directory`` (both measured unless given)."""
    ram = available_ram() if ram is None else ram
    disk = shutil.disk_usage(directory).free if disk is None else disk
    gib = 2**30
    if est["build_ram"] > ram:
        raise MireEvalError(
            f"{directory}: index build needs {est['build_ram'] / gib:.1f} GiB RAM "
            f"({est['tokens']} tokens x {est['bytes_per_token']} B/token + k-means sample), "
            f"{ram / gib:.1f} GiB available")
    if est["build_disk"] > disk:
        raise MireEvalError(
            f"{directory}: index build needs {est['build_disk'] / gib:.1f} GiB disk, {disk / gib:.1f} GiB free")


def describe_estimate(est: dict) -> str:
    """The one line printed before a build.

    >>> describe_estimate(estimate(2**20, 128, AnnParams()))
    'index: 1048576 tokens, 6 B/token, RAM 0.01 GiB (build 0.14 GiB), disk 0.01 GiB (build 0.02 GiB)'
    """
    gib = 2**30
    return (f"index: {est['tokens']} tokens, {est['bytes_per_token']} B/token, RAM {est['ram'] / gib:.2f} GiB "
            f"(build {est['build_ram'] / gib:.2f} GiB), disk {est['disk'] / gib:.2f} GiB "
            f"(build {est['build_disk'] / gib:.2f} GiB)")
