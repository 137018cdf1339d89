"""Query images for jfe: decoded at full resolution versus shrunk right after decoding.

For photos of a given size (JPEG, seeded noise), prints per image: bytes held after decoding,
seconds to decode + run the Qwen2-VL PIL image processor, and checks that ``pixel_values`` are
bit-identical either way. Also times a batch of 8 decoded by 1 thread and by 4.

    python bench/bench_jfe_images.py                    # 4000x3000, max_pixels 1024*28*28
    python bench/bench_jfe_images.py --width 1280 --height 960
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from PIL import Image  # noqa: E402
from transformers.image_utils import SizeDict  # noqa: E402
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil  # noqa: E402

from harness.core.types import BytesImage  # noqa: E402
from retrievers.mllm.images import batches, fitter  # noqa: E402


def photo(width: int, height: int, seed: int) -> BytesImage:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)  # smooth-ish, JPEG-like content
    img = Image.fromarray(small).resize((width, height), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return BytesImage(buf.getvalue(), f"photo{seed}.jpg")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--max-pixels", type=int, default=1024 * 28 * 28)
    args = parser.parse_args()
    processor = Qwen2VLImageProcessorPil()
    processor.size = SizeDict(shortest_edge=4 * 28 * 28, longest_edge=args.max_pixels)
    fit = fitter(processor)
    refs = [photo(args.width, args.height, seed) for seed in range(8)]
    for label, f in (("full decode", None), ("shrunk after decode", fit)):
        start = time.perf_counter()
        img = refs[0].load()
        img = f(img) if f is not None else img
        decoded = time.perf_counter() - start
        out = processor(images=[img], return_tensors="np")
        total = time.perf_counter() - start
        held = img.width * img.height * 3
        print(f"{label:20s} {img.width}x{img.height} held={held / 2**20:6.1f} MiB  decode(+resize)={decoded:.3f}s  "
              f"with processor={total:.3f}s")
        if f is None:
            reference = out["pixel_values"]
        else:
            print(f"pixel_values identical: {np.array_equal(reference, out['pixel_values'])}")
    for workers in (0, 4):
        start = time.perf_counter()
        for _ in batches(refs, range(len(refs)), 8, fit, workers):
            pass
        print(f"batch of 8, workers={workers}: {time.perf_counter() - start:.3f}s")


if __name__ == "__main__":
    main()
