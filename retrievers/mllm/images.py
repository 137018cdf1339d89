"""Query images of a multimodal LLM embedder: sized from their headers, decoded per batch,
shrunk right after decoding.

A 4000x3000 photo decodes to 36 MB; Qwen2-VL's processor then resizes it to at most
``max_pixels`` (``smart_resize``: sides multiples of 28, the pixel count within bounds). Resizing
to that same target right after decoding, with the processor's own resampling, leaves the
processor nothing to do (``smart_resize`` of a conforming size is that size, and PIL returns a
copy for a same-size resize), so ``pixel_values`` are bit-identical while a batch holds ~2.3 MB
per image instead of the full decode. Lengths for batching come from the image headers, so no
image is decoded before its batch; the next batch decodes in worker threads (PIL releases the GIL
while decoding) while the current one runs through the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from harness.core.errors import MireEvalError
from harness.core.images import ImageLimits, header_size


# Qwen2-VL's smart_resize (the processor's, and the token count's) raises ValueError for an
# image whose longer side exceeds 200 times the shorter; the run screens such images out before
# any model is loaded (harness.core.images.screen_images). The processor takes every other size
# (a 1x1 image is scaled up to min_pixels; pixel counts are bounded by PIL's decompression-bomb
# check at decode) and every mode (images reach it as RGB, three channels).
QWEN2VL_IMAGE_LIMITS = ImageLimits(max_aspect=200, rule="Qwen2-VL's smart_resize refuses an aspect ratio above 200")


def image_size(ref, limits: ImageLimits | None = QWEN2VL_IMAGE_LIMITS) -> tuple[int, int]:
    """``(width, height)`` of a query image from its header (a full decode only when the
    reference is neither a file nor bytes, or its header cannot be read: then ``load()``
    reports what is wrong with it); one line naming the file for a size ``limits`` refuses
    (a family's ``image_limits``; Qwen2-VL's by default)."""
    size = header_size(ref)
    problem = limits.problem(*size) if limits is not None else None
    if problem:
        raise MireEvalError(f"{ref.key}: image: {problem} (pass --skip-missing-images to skip such queries)")
    return size


def fitter(image_processor) -> Callable | None:
    """A function resizing a decoded PIL image to the size the processor would resize it to,
    with the processor's resampling; None where that is not bit-identical (not the PIL
    Qwen2-VL-style processor, or resizing switched off)."""
    size = getattr(image_processor, "size", None)
    if (type(image_processor).__name__ not in ("Qwen2VLImageProcessorPil", "Qwen2_5_VLImageProcessorPil")
            or not getattr(image_processor, "do_resize", True) or size is None
            or not size.get("shortest_edge") or not size.get("longest_edge")):
        return None
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    factor = image_processor.patch_size * image_processor.merge_size
    lo, hi, resample = size["shortest_edge"], size["longest_edge"], image_processor.resample

    def fit(image):
        try:
            height, width = smart_resize(image.height, image.width, factor=factor, min_pixels=lo, max_pixels=hi)
        except ValueError as exc:  # aspect ratio beyond 200: the processor refuses it too
            raise MireEvalError(f"image {image.width}x{image.height}: {exc}") from None
        if (height, width) == (image.height, image.width):
            return image
        return image.resize((width, height), resample=resample)

    return fit


def decode(ref, fit: Callable | None):
    image = ref.load()
    return fit(image) if fit is not None else image


def batches(refs: Sequence, order: Sequence[int], batch_size: int, fit: Callable | None,
            workers: int) -> Iterator[tuple[list[int], list]]:
    """``(indices, images)`` per batch of ``order`` (None where a row has no image); the next
    batch is decoded by ``workers`` threads while the caller works on the current one
    (``workers=0``: decoded in the calling thread)."""
    chunks = [list(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
    if workers <= 0:
        for idx in chunks:
            yield idx, [decode(refs[i], fit) if refs[i] is not None else None for i in idx]
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        def submit(idx: list[int]) -> list[Future | None]:
            return [pool.submit(decode, refs[i], fit) if refs[i] is not None else None for i in idx]

        pending = submit(chunks[0]) if chunks else []
        for n, idx in enumerate(chunks):
            current = pending
            pending = submit(chunks[n + 1]) if n + 1 < len(chunks) else []
            yield idx, [f.result() if f is not None else None for f in current]
