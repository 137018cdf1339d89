"""Encoding throughput of the jfe retriever: length-grouped batches versus arrival order.

Both runs encode the same queries (image + question) and passages with the same batch size;
grouping sorts a window of items by prompt length (text tokens + visual tokens) before cutting
batches, so a batch pads to a similar length. The script checks that both give the same
embeddings, then prints items/s, real tokens/s, the share of padded positions and the ratio.

    python bench/bench_jfe_encode.py               # CPU: a small random Qwen2-VL (hidden 128, 4 layers)
    python bench/bench_jfe_encode.py --size 2b     # GPU: Qwen2-VL-2B-sized random weights, bf16, peak memory

Random weights stand in for the real model (no hub here); speed depends on shapes, not values.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch

from PIL import Image  # noqa: E402
from retrievers.offline import make_qwen_processor as make_processor  # noqa: E402
from retrievers.offline import make_qwen_tokenizer as make_tokenizer  # noqa: E402
from retrievers.offline import qwen2vl_config  # noqa: E402
from transformers import Qwen2VLModel  # noqa: E402

from harness.core.types import Passage, Query  # noqa: E402
from retrievers.jfe import JfeEncoder, JfeModel, JfeSettings  # noqa: E402

SIZES = {
    "cpu": dict(hidden=128, layers=4, heads=4, kv_heads=2, intermediate=512, vision_depth=2, vision_dim=64,
                vision_heads=2),
    "2b": dict(hidden=1536, layers=28, heads=12, kv_heads=2, intermediate=8960, vocab_size=151936, vision_depth=32,
               vision_dim=1280, vision_heads=16, vision_mlp_ratio=4),
}
WORDS = "the city river museum painting bridge tower king war church station river island market team".split()


class MemoryImage:
    """An in-memory PIL image behind the ImageRef protocol."""

    def __init__(self, img: Image.Image, key: str):
        self.img, self.key = img, key

    def load(self) -> Image.Image:
        return self.img


def workload(n_queries: int, n_passages: int, seed: int, max_side: int):
    rng = random.Random(seed)
    queries = []
    for i in range(n_queries):
        w, h = rng.randint(64, max_side), rng.randint(64, max_side)
        img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))
        queries.append(Query(f"q{i}", question, MemoryImage(img, f"img{i}")))
    # passage lengths spread like a web/Wikipedia snippet corpus: mostly short, a long tail
    passages = [Passage(f"p{i}", rng.choice(WORDS).title(),
                        " ".join(rng.choice(WORDS) for _ in range(min(350, int(rng.lognormvariate(4.0, 0.8))))))
                for i in range(n_passages)]
    return queries, passages


def padded_share(encoder: JfeEncoder, prompts: list[str], images: list, grouped: bool) -> float:
    lengths = [encoder.model.prompt_length(p, im.size if im is not None else None) for p, im in zip(prompts, images)]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if grouped else list(range(len(lengths)))
    b = encoder.model.settings.batch_size
    padded = sum(max(lengths[i] for i in order[s : s + b]) * len(order[s : s + b]) for s in range(0, len(order), b))
    return 1 - sum(lengths) / padded, sum(lengths)


def timed(fn, device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="cpu")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--passages", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1: steady timings on a shared machine)")
    args = ap.parse_args()
    if not args.device.startswith("cuda"):
        torch.set_num_threads(args.threads)
    big = args.size == "2b"
    n_q = args.queries or (512 if big else 48)
    n_p = args.passages or (2048 if big else 256)
    batch = args.batch_size or (32 if big else 8)
    max_pixels = (1024 if big else 64) * 28 * 28

    tokenizer = make_tokenizer(" ".join(WORDS))
    config = qwen2vl_config(tokenizer, **SIZES[args.size])
    settings = JfeSettings.create(model=f"random-qwen2vl-{args.size}", batch_size=batch, max_pixels=max_pixels)
    dtype = settings.torch_dtype(args.device)
    torch.manual_seed(args.seed)
    with torch.device(args.device):
        backbone = Qwen2VLModel(config).to(dtype).eval()
    processor = make_processor(tokenizer)
    from transformers.image_utils import SizeDict

    processor.image_processor.size = SizeDict(shortest_edge=settings.min_pixels, longest_edge=max_pixels)
    model = JfeModel(backbone, processor, settings)
    queries, passages = workload(n_q, n_p, args.seed, 640 if big else 200)
    print(f"jfe encode bench: size={args.size} device={args.device} dtype={str(dtype).removeprefix('torch.')} "
          f"params={sum(p.numel() for p in backbone.parameters()) / 1e6:.1f}M batch={batch} "
          f"queries={n_q} passages={n_p} max_pixels={max_pixels} threads={torch.get_num_threads()}")

    encoders = {}
    for grouped in (False, True):
        model.settings.group_by_length = grouped
        encoders[grouped] = JfeEncoder(model, args.device)
        encoders[grouped].encode_passages(passages[:batch])  # warm-up
    for role, items in (("query", queries), ("passage", passages)):
        results = {}
        for grouped in (False, True):
            model.settings.group_by_length = grouped
            enc = encoders[grouped]
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            if role == "query":
                out, seconds = timed(lambda: enc.encode_queries(items, "full"), args.device)
                prompts = [model.query_prompt(q)[0] for q in items]
                images = [q.image.load() for q in items]
            else:
                out, seconds = timed(lambda: enc.encode_passages(items), args.device)
                prompts, images = [model.passage_prompt(p) for p in items], [None] * len(items)
            share, tokens = padded_share(enc, prompts, images, grouped)
            memory = f" peak_mem={torch.cuda.max_memory_allocated() / 2**30:.2f}GiB" if args.device.startswith("cuda") else ""
            label = "grouped" if grouped else "arrival"
            print(f"  {role:8s} {label:8s} {len(items) / seconds:8.1f} items/s {tokens / seconds:10.0f} tokens/s "
                  f"padding={share:.1%}{memory}")
            results[grouped] = (out, seconds)
        diff = (results[True][0] - results[False][0]).abs().max().item()
        print(f"  {role}: grouped/arrival speed-up x{results[False][1] / results[True][1]:.2f}, "
              f"max |embedding difference| {diff:.1e}")


if __name__ == "__main__":
    main()
