"""Every GPU path of mire-eval measured in one go, at real model sizes, for a lent GPU's few minutes.

    bash bench/gpu.sh                        # = python bench/gpu.py --device cuda --out bench-gpu.json
    python bench/gpu.py --device cpu --tiny  # the same code at tiny sizes (the test suite runs this;
                                             # its figures mean nothing and are labelled "tiny")

Sections (``--sections``, all by default), each a key of the JSON written to ``--out``:

* ``maxsim``: exact MaxSim, the search kernel (:func:`harness.search.maxsim_scores`) over
  length-bucketed tiles of a random token store, for an fp16 and a bf16 store, with the fp32
  compute the search uses (tiles up-cast) and bf16 compute; GFLOP/s against a plain GEMM of the
  same shapes and dtype in the same run (the ratio is the figure), and a square GEMM (the card's
  best case here). FLOPs counted as 2 x B x Lq x n x Ld x dim per tile (the dot products only).
* ``mire``: MIRe at its real size (ColBERTv2's BERT-base + 768->128, CLIP ViT-B/32, random
  weights built offline from the real configurations): passages/s and queries/s through the
  encoder the harness uses (its batch sizes, autocast fp16 on CUDA), peak GPU memory, and the
  overhead ratio against the model's forward alone on the same batches (tokenised and
  preprocessed beforehand).
* ``jfe``: the same for Qwen2-VL-2B-Instruct's real configuration (random weights, bf16).
* ``ann``: the IVF build's k-means and token assignment (:mod:`harness.ann.index`: faiss, on
  the GPU where faiss-gpu is installed; the torch fallback on CUDA otherwise) for 10M random
  128-d fp16 tokens, and the projected Wiki-11M (about 1.3 billion tokens) build time.
* ``torchrun``: ``torchrun --nproc-per-node 1`` (NCCL on CUDA, gloo on CPU) gives the same
  run.trec as one process, on the shipped ``sample`` task with an offline MIRe.

Nothing is installed; every weight is random (speed depends on shapes, not values).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

WIKI11M_TOKENS = 1_300_000_000  # OK-VQA Wiki-11M passages at ColBERT's doc_maxlen (docs/ann.md)

# Real sizes and tiny ones (the test suite's), per section.
SIZES = {
    "real": dict(passages=20000, queries=64, query_tokens=92, store_reps=3, mire_passages=2048,
                 mire_queries=512, jfe_passages=512, jfe_queries=256, ann_tokens=10_000_000),
    "tiny": dict(passages=200, queries=4, query_tokens=12, store_reps=1, mire_passages=8,
                 mire_queries=4, jfe_passages=4, jfe_queries=2, ann_tokens=20_000),
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, reps: int = 1) -> float:
    """Best wall seconds of ``reps`` calls of ``fn`` (device work included)."""
    best = math.inf
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


# --------------------------------------------------------------------------------------------
# Exact MaxSim
# --------------------------------------------------------------------------------------------
def bench_maxsim(device: str, size: dict) -> dict:
    from harness.search import TokenStore, maxsim_scores, pad_queries

    g = torch.Generator().manual_seed(0)
    lengths = torch.clamp(torch.exp(torch.randn(size["passages"], generator=g) * 0.6 + 4.2), 20, 180).long()
    tokens = torch.nn.functional.normalize(torch.randn(int(lengths.sum()), 128, generator=g), dim=1)
    queries = [torch.nn.functional.normalize(torch.randn(size["query_tokens"], 128, generator=g), dim=1)
               for _ in range(size["queries"])]
    q, q_mask = pad_queries(queries)  # [B, Lq, 128], [B, Lq]
    out: dict = {"passages": size["passages"], "tokens": int(lengths.sum()), "queries": size["queries"],
                 "query_tokens": size["query_tokens"], "dim": 128, "runs": []}
    for store_dtype in (torch.float16, torch.bfloat16):
        matrices = list(torch.split(tokens.to(store_dtype), lengths.tolist()))
        store = TokenStore.from_matrices(matrices)
        tiles = [store.gather(a, b, longest).to(device) for a, b, longest in store.tiles(4096)]
        flops = sum(2 * q.shape[0] * q.shape[1] * t.shape[0] * t.shape[1] * 128 for t in tiles)
        for compute in (torch.float32, torch.bfloat16):
            qd, md = q.to(device, compute), q_mask.to(device)
            cast = [t.to(compute) for t in tiles] if compute != torch.float32 else None

            def maxsim():
                for i, t in enumerate(tiles):  # the search up-casts each tile as it reads it
                    maxsim_scores(qd, md, cast[i] if cast else t.float(), None)

            def gemm():
                flat_q = qd.reshape(-1, 128)
                for i, t in enumerate(tiles):
                    d = cast[i] if cast else t.float()
                    flat_q @ d.reshape(-1, 128).T

            maxsim(), gemm()  # warm-up (kernels, allocator)
            s_maxsim = timed(maxsim, device, size["store_reps"])
            s_gemm = timed(gemm, device, size["store_reps"])
            out["runs"].append({
                "store": str(store_dtype).removeprefix("torch."), "compute": str(compute).removeprefix("torch."),
                "maxsim_s": s_maxsim, "maxsim_gflops": flops / s_maxsim / 1e9,
                "gemm_same_shapes_gflops": flops / s_gemm / 1e9, "ratio": s_gemm / s_maxsim})
    for compute in (torch.float32, torch.bfloat16):
        n = 8192 if device.startswith("cuda") else 512
        a = torch.randn(n, n, device=device, dtype=compute)
        (a @ a)
        s = timed(lambda: a @ a, device, 3)
        out[f"gemm_square_{n}_{str(compute).removeprefix('torch.')}_gflops"] = 2 * n**3 / s / 1e9
    return out


# --------------------------------------------------------------------------------------------
# Encoders at real size
# --------------------------------------------------------------------------------------------
class MemoryImage:
    """An in-memory PIL image behind the ImageRef protocol (load() and key)."""

    def __init__(self, img, key: str):
        self.img, self.key = img, key

    def load(self):
        return self.img


WORDS = ("the city river museum painting bridge tower king war church station island market team "
         "which year built architect style roof stone").split()


def workload(n_queries: int, n_passages: int, max_side: int, seed: int = 0):
    from PIL import Image

    from harness.types import Passage, Query

    rng = random.Random(seed)
    queries = []
    for i in range(n_queries):
        w, h = rng.randint(64, max_side), rng.randint(64, max_side)
        img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
        queries.append(Query(f"q{i}", " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 20))) + "?",
                             MemoryImage(img, f"img{i}")))
    passages = [Passage(f"p{i}", rng.choice(WORDS).title(),
                        " ".join(rng.choice(WORDS) for _ in range(min(350, int(rng.lognormvariate(4.0, 0.8))))))
                for i in range(n_passages)]
    return queries, passages


def write_mire(directory: Path, tiny: bool) -> Path:
    """A MIRe checkpoint with random weights: BERT-base ColBERTv2 + CLIP ViT-B/32 (real), or small."""
    from bench_encode_passages import make_checkpoint
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    from harness.quiet import quiet_saving
    from retrievers.mire import fresh_mire, save_mire

    colbert = make_checkpoint(directory / "colbert", real_size=not tiny)
    torch.manual_seed(0)
    if tiny:
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=32, patch_size=8)
    else:  # openai/clip-vit-base-patch32's vision tower
        vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                      image_size=224, patch_size=32)
    config = CLIPConfig(text_config=dict(vocab_size=99, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=0,
                                         eos_token_id=1),
                        vision_config=vision, projection_dim=16 if tiny else 512)
    clip_dir = directory / "clip"
    with quiet_saving():
        CLIPModel(config).save_pretrained(str(clip_dir))
    side = vision["image_size"]
    CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side}
                          ).save_pretrained(str(clip_dir))
    save_mire(fresh_mire(str(colbert), vision_model=str(clip_dir)), directory / "mire")
    return directory / "mire"


def bench_mire(device: str, size: dict, tiny: bool, work: Path) -> dict:
    from retrievers.mire import build
    from retrievers.mire.encoding import load_pixels

    encoder = build(str(write_mire(work, tiny)), device).encoder
    queries, passages = workload(size["mire_queries"], size["mire_passages"], 640)
    encoder.encode_passages(passages[:8]), encoder.encode_queries(queries[:4])  # warm-up
    out = {"model": "tiny random" if tiny else "random BERT-base ColBERTv2 + CLIP ViT-B/32",
           "batch_size": encoder.batch_size, "amp_fp16": encoder.amp}

    reset_peak(device)
    s = timed(lambda: encoder.encode_passages(passages), device)
    out.update(passages=len(passages), passages_per_s=len(passages) / s, passage_peak_gib=peak_memory_gib(device))
    # Forward alone: the same length-bucketed batches, tokenised and padded beforehand.
    from retrievers.colbert.modeling import bucketed_batches

    tower = encoder.text
    rows = tower.tokenizer.passage_ids([p.contents for p in passages], encoder.doc_maxlen)
    batches = [tuple(x.to(device) for x in tower.tokenizer.pad([rows[i] for i in group], None))
               for group in bucketed_batches([len(r) for r in rows], encoder.batch_size)]

    def passage_forward():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=encoder.amp):
            for ids, mask in batches:
                tower.model(ids, mask)

    out["passage_overhead"] = s / timed(passage_forward, device)

    b = encoder.batch_size
    reset_peak(device)
    s = timed(lambda: [encoder.encode_queries(queries[i : i + b]) for i in range(0, len(queries), b)], device)
    out.update(queries=len(queries), queries_per_s=len(queries) / s, query_peak_gib=peak_memory_gib(device))
    model = encoder.model
    inputs = [(*encoder._tokens([q.text for q in queries[i : i + b]]),
               load_pixels(encoder.loaded.processor, queries[i : i + b]).to(device))
              for i in range(0, len(queries), b)]

    def query_forward():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=encoder.amp):
            for ids, mask, pixels in inputs:
                model.query(ids, mask, model.image_features(pixels).float())

    out["query_overhead"] = s / timed(query_forward, device)
    return out


JFE_SIZES = {  # Qwen2-VL-2B-Instruct's config.json; tiny for the test suite
    "real": dict(hidden=1536, layers=28, heads=12, kv_heads=2, intermediate=8960, vocab_size=151936,
                 vision_depth=32, vision_dim=1280, vision_heads=16, vision_mlp_ratio=4),
    "tiny": dict(hidden=32, layers=2, heads=2, kv_heads=1, intermediate=64, vision_depth=1, vision_dim=32,
                 vision_heads=2),
}


def bench_jfe(device: str, size: dict, tiny: bool) -> dict:
    from transformers import Qwen2VLModel
    from transformers.image_utils import SizeDict

    from retrievers.jfe import JfeEncoder, JfeModel, JfeSettings
    from retrievers.offline import make_qwen_processor, make_qwen_tokenizer, qwen2vl_config

    tokenizer = make_qwen_tokenizer(" ".join(WORDS))
    config = qwen2vl_config(tokenizer, **JFE_SIZES["tiny" if tiny else "real"])
    settings = JfeSettings.create(model="random-qwen2vl-" + ("tiny" if tiny else "2b"))
    dtype = settings.torch_dtype(device)
    torch.manual_seed(0)
    with torch.device(device):
        backbone = Qwen2VLModel(config).to(dtype).eval()
    processor = make_qwen_processor(tokenizer)
    processor.image_processor.size = SizeDict(shortest_edge=settings.min_pixels, longest_edge=settings.max_pixels)
    model = JfeModel(backbone, processor, settings)
    encoder = JfeEncoder(model, device)
    queries, passages = workload(size["jfe_queries"], size["jfe_passages"], 64 if tiny else 640)
    encoder.encode_passages(passages[:2]), encoder.encode_queries(queries[:2])  # warm-up
    out = {"model": "tiny random Qwen2-VL" if tiny else "random Qwen2-VL-2B-Instruct configuration",
           "params_m": sum(p.numel() for p in backbone.parameters()) / 1e6, "dtype": str(dtype).removeprefix("torch."),
           "batch_size": settings.batch_size, "max_pixels": settings.max_pixels}
    b = settings.batch_size
    for role, plural, items in (("passage", "passages", passages), ("query", "queries", queries)):
        reset_peak(device)
        if role == "passage":
            s = timed(lambda: encoder.encode_passages(items), device)
            batches = [model.collate_passages(items[i : i + b]) for i in range(0, len(items), b)]
        else:
            s = timed(lambda: encoder.encode_queries(items), device)
            batches = [model.collate_queries(items[i : i + b]) for i in range(0, len(items), b)]
        out[plural] = len(items)
        out[f"{plural}_per_s"] = len(items) / s
        out[f"{role}_peak_gib"] = peak_memory_gib(device)
        batches = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()} for batch in batches]

        def forward():
            with torch.inference_mode():
                for batch in batches:
                    model.embed(batch)

        out[f"{role}_overhead"] = s / timed(forward, device)
    return out


# --------------------------------------------------------------------------------------------
# ANN build: k-means + assignment
# --------------------------------------------------------------------------------------------
def bench_ann(device: str, size: dict) -> dict:
    from harness.ann import index as ann_index
    from harness.ann.params import AnnParams

    t = size["ann_tokens"]
    params = AnnParams().resolved(t)
    rng = np.random.default_rng(0)
    tokens = np.empty((t, 128), dtype=np.float16)
    for a in range(0, t, 1 << 20):  # fp16 like the store, generated in blocks (10M x 128 fp16 = 2.4 GiB)
        x = rng.standard_normal((min(1 << 20, t - a), 128), dtype=np.float32)
        tokens[a : a + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    sample = tokens[rng.choice(t, params.sample, replace=False)].astype(np.float32)
    start = time.perf_counter()
    centroids = ann_index._kmeans(sample, params.nlist, params.niter, params.seed)
    s_kmeans = time.perf_counter() - start
    start = time.perf_counter()
    ann_index.assign(centroids, tokens)
    s_assign = time.perf_counter() - start
    # Projection: k-means costs sample x nlist x niter, assignment T x nlist (both x dim).
    wiki = AnnParams().resolved(WIKI11M_TOKENS)
    kmeans_wiki = s_kmeans * (wiki.sample * wiki.nlist) / (params.sample * params.nlist)
    assign_wiki = s_assign * (WIKI11M_TOKENS * wiki.nlist) / (t * params.nlist)
    return {"tokens": t, "nlist": params.nlist, "sample": params.sample, "niter": params.niter,
            "faiss_gpus": ann_index._gpus(), "assign_engine": ann_index.assign_engine(),
            "kmeans_s": s_kmeans, "assign_s": s_assign,
            "assign_gflops": 2 * t * params.nlist * 128 / s_assign / 1e9,
            "wiki11m": {"tokens": WIKI11M_TOKENS, "nlist": wiki.nlist, "sample": wiki.sample,
                        "projected_kmeans_h": kmeans_wiki / 3600, "projected_assign_h": assign_wiki / 3600}}


# --------------------------------------------------------------------------------------------
# torchrun, one GPU
# --------------------------------------------------------------------------------------------
def bench_torchrun(device: str, tiny: bool, work: Path) -> dict:
    """One process and ``torchrun --nproc-per-node 1`` on ``sample``: the same run.trec."""
    checkpoint = write_mire(work / "ckpt", tiny=True)  # the run's equality, not its speed, is measured
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MIRE_EVAL_DATA": str(work / "cache"), "MIRE_EVAL_PROGRESS": "0"}
    common = ["run", "--task", "sample", "--retriever", "mire", "--checkpoint", str(checkpoint),
              "--device", "cuda" if device.startswith("cuda") else "cpu"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1",
                "--master-port", str(29500 + os.getpid() % 1000), "-m", "harness"]
    out = {}
    for label, command in (("one_process", [sys.executable, "-m", "harness"]), ("torchrun_1", torchrun)):
        results = work / label
        start = time.perf_counter()
        done = subprocess.run([*command, *common, "--output", str(results)], env=env, capture_output=True, text=True)
        out[f"{label}_s"] = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{label} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        runs = list(results.rglob("run.trec"))
        if len(runs) != 1:
            raise RuntimeError(f"{label}: expected one run.trec, found {len(runs)}")
        out[f"{label}_run"] = runs[0].read_text()
    out["backend"] = "nccl" if device.startswith("cuda") else "gloo"
    out["same_run"] = out.pop("one_process_run") == out.pop("torchrun_1_run")
    return out


# --------------------------------------------------------------------------------------------
def machine(device: str) -> dict:
    info = {"date": date.today().isoformat(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_memory_gib"] = torch.cuda.get_device_properties(0).total_memory / 2**30
        info["cuda"] = torch.version.cuda
    return info


def table(results: dict) -> str:
    lines = [f"mire-eval GPU benchmark ({results['label']}) {json.dumps(results['machine'])}"]
    m = results.get("maxsim")
    if m:
        for r in m["runs"]:
            lines.append(f"maxsim store={r['store']:8s} compute={r['compute']:8s} {r['maxsim_gflops']:10.1f} GFLOP/s"
                         f"  same-shape GEMM {r['gemm_same_shapes_gflops']:10.1f}  ratio {r['ratio']:.2f}")
    for name in ("mire", "jfe"):
        e = results.get(name)
        if e:
            lines.append(f"{name:6s} passages {e['passages_per_s']:9.1f}/s (overhead x{e['passage_overhead']:.2f}, "
                         f"peak {e['passage_peak_gib']} GiB)  queries {e['queries_per_s']:9.1f}/s "
                         f"(overhead x{e['query_overhead']:.2f}, peak {e['query_peak_gib']} GiB)")
    a = results.get("ann")
    if a:
        lines.append(f"ann    {a['tokens']:,} tokens nlist {a['nlist']}: k-means {a['kmeans_s']:.1f} s, assign "
                     f"{a['assign_s']:.1f} s ({a['assign_engine']}); Wiki-11M projected k-means "
                     f"{a['wiki11m']['projected_kmeans_h']:.1f} h + assign {a['wiki11m']['projected_assign_h']:.1f} h")
    t = results.get("torchrun")
    if t:
        lines.append(f"torchrun 1 x {t['backend']}: same run.trec as one process: {t['same_run']}")
    for name, error in results.get("errors", {}).items():
        lines.append(f"{name}: FAILED: {error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: tests the script, its figures mean nothing")
    ap.add_argument("--sections", default="maxsim,mire,jfe,ann,torchrun")
    ap.add_argument("--out", default="bench-gpu.json")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda: torch sees no GPU", file=sys.stderr)
        return 2
    size = SIZES["tiny" if args.tiny else "real"]
    results: dict = {"label": "tiny (figures mean nothing)" if args.tiny else "real sizes",
                     "machine": machine(args.device), "errors": {}}
    with tempfile.TemporaryDirectory(prefix="mire-gpu-bench-") as tmp:
        work = Path(tmp)
        runners = {"maxsim": lambda: bench_maxsim(args.device, size),
                   "mire": lambda: bench_mire(args.device, size, args.tiny, work / "mire"),
                   "jfe": lambda: bench_jfe(args.device, size, args.tiny),
                   "ann": lambda: bench_ann(args.device, size),
                   "torchrun": lambda: bench_torchrun(args.device, args.tiny, work / "torchrun")}
        for name in args.sections.split(","):
            start = time.perf_counter()
            try:  # one failing section must not cost the others' figures (the GPU time is scarce)
                results[name] = runners[name]()
                results[name]["section_s"] = time.perf_counter() - start
            except Exception as e:  # noqa: BLE001 - recorded, printed, and the exit status says so
                results["errors"][name] = f"{type(e).__name__}: {e}"
            finally:
                if args.device.startswith("cuda"):
                    torch.cuda.empty_cache()
            print(f"[{name}: {time.perf_counter() - start:.1f} s]", flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(table(results))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
