"""Decoding query images, and checking that they decode, the same way for every source.

A check must decode the pixels, not only the header: PIL's ``verify()`` passes a truncated
JPEG and a PNG whose chunk CRCs are valid but whose zlib stream is broken, which then fail
mid-run. :func:`inspect_image` runs ``load()`` (a full decode) and reports any failure,
including PIL's ``DecompressionBombError`` (a header claiming more than
``2 * Image.MAX_IMAGE_PIXELS`` pixels), as "missing or corrupt".

Images are turned into RGB with ``convert("RGB")``, as MIRe's reference code does
(``Image.open(path).convert("RGB")``). For 16-bit (``I;16``, ``I``) and floating-point
(``F``) images that conversion saturates (mostly white) or truncates (mostly black); we keep
it for fidelity and report how many such images a run holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.errors import MireEvalError

MISSING_OR_CORRUPT = "missing or corrupt"


def is_wide_mode(mode: str) -> bool:
    """True for PIL modes with more than 8 bits per sample (``convert("RGB")`` clips them).

    >>> [is_wide_mode(m) for m in ("RGB", "L", "P", "I;16", "I", "F")]
    [False, False, False, True, True, True]
    """
    return mode in ("I", "F") or mode.startswith(("I;", "F;"))


@dataclass(frozen=True)
class ImageCheck:
    """What a full decode found: ``problem`` is None for a good image; ``mode`` is PIL's."""

    problem: str | None
    mode: str | None = None

    @property
    def wide(self) -> bool:
        return self.mode is not None and is_wide_mode(self.mode)


def _open_loaded(source):
    """Open and fully decode ``source`` (a path or a binary file object); PIL errors propagate."""
    from PIL import Image

    img = Image.open(source)
    try:
        img.load()
    except BaseException:
        img.close()
        raise
    return img


def _describe(exc: BaseException) -> str:
    from PIL import Image

    if isinstance(exc, FileNotFoundError):
        return f"{MISSING_OR_CORRUPT} (file not found)"
    if isinstance(exc, Image.DecompressionBombError):
        return f"{MISSING_OR_CORRUPT} (decompression bomb: {str(exc).split(',')[0]})"
    detail = str(exc).split(" <_io.")[0] or type(exc).__name__
    return f"{MISSING_OR_CORRUPT} (cannot decode: {detail})"


def inspect_image(source) -> ImageCheck:
    """Decode ``source`` fully; the problem in words, or None, and the image's mode.

    Any decoder failure counts: PIL raises OSError, SyntaxError, ValueError, EOFError,
    struct.error, zlib.error or DecompressionBombError depending on the format and the fault.
    """
    try:
        with _open_loaded(source) as img:
            return ImageCheck(None, img.mode)
    except MireEvalError:
        raise
    except Exception as exc:  # noqa: BLE001 - every decoder failure means a corrupt image
        return ImageCheck(_describe(exc))


def decode_rgb(source, origin: str):
    """The image at ``source`` as an RGB PIL image (the reference's ``convert("RGB")``)."""
    try:
        with _open_loaded(source) as img:
            return img.convert("RGB")
    except MireEvalError:
        raise
    except Exception as exc:  # noqa: BLE001 - see inspect_image
        raise MireEvalError(f"{origin}: image: {_describe(exc)}") from None


def check_ref(ref) -> ImageCheck:
    """:func:`inspect_image` for any image reference.

    References with a ``source()`` (a path or file object to decode) are decoded here; a
    ``source()`` that raises :class:`MireEvalError` (a missing tsv line, bad base64) is a
    missing image. Other references are checked by decoding them with ``load()``.
    """
    source = getattr(ref, "source", None)
    if source is None:
        try:
            ref.load()
        except MireEvalError as exc:
            return ImageCheck(str(exc).split(": image: ", 1)[-1])
        return ImageCheck(None)
    try:
        opened = source()
    except MireEvalError as exc:
        return ImageCheck(f"{MISSING_OR_CORRUPT} ({str(exc).split(': image: ', 1)[-1]})")
    return inspect_image(opened)


def wide_image_warning(count: int) -> str:
    """The one warning a run prints when ``count`` images are 16-bit or floating-point."""
    return (f"warning: {count} query image(s) are 16-bit or floating-point; they are converted to RGB "
            "as the reference does (Image.convert('RGB'): values saturate, most pixels become white or black)")


# --------------------------------------------------------------------------------------------
# What a retriever's image processor refuses
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageLimits:
    """The images a retriever's processor refuses, known before any model is loaded (a
    retriever package's ``IMAGE_LIMITS``, read by
    :func:`retrievers.registry.image_limits`): ``max_aspect`` (the longer side over the shorter
    must not exceed it) and ``rule`` (where the limit comes from, for the error line)."""

    max_aspect: float | None = None
    rule: str = ""

    def problem(self, width: int, height: int) -> str | None:
        """Why a ``width`` x ``height`` image is refused, or None.

        >>> ImageLimits(200, "Qwen2-VL").problem(2100, 10)
        'cannot be processed (2100x10: aspect ratio 210 exceeds 200; Qwen2-VL)'
        >>> ImageLimits(200).problem(1990, 10) is None
        True
        """
        if self.max_aspect is not None and max(width, height) > self.max_aspect * min(width, height):
            ratio = max(width, height) / max(min(width, height), 1)
            return (f"cannot be processed ({width}x{height}: aspect ratio {ratio:g} exceeds {self.max_aspect:g}"
                    f"{'; ' + self.rule if self.rule else ''})")
        return None


def header_size(ref) -> tuple[int, int]:
    """``(width, height)`` of an image reference from its header (a full decode only when the
    reference is neither a file nor bytes, or its header cannot be read)."""
    import io

    from PIL import Image

    source = getattr(ref, "path", None)
    if source is None and isinstance(getattr(ref, "data", None), (bytes, bytearray)):
        source = io.BytesIO(ref.data)
    if source is not None:
        try:
            with Image.open(source) as img:
                return img.size
        except (OSError, SyntaxError, ValueError):
            pass
    return ref.load().size


def screen_images(queries, limits: ImageLimits | None, skip: bool) -> tuple[list, list[str]]:
    """``(kept queries, skipped ids)``: the queries whose image ``limits`` refuses are dropped
    with ``skip`` (``--skip-missing-images``), else the first is one line naming the file and
    the query, as a missing or corrupt image is (:func:`tasks.base.check_images`)."""
    if limits is None:
        return list(queries), []
    kept, skipped = [], []
    for q in queries:
        problem = limits.problem(*header_size(q.image)) if q.image is not None else None
        if problem is None:
            kept.append(q)
        elif skip:
            skipped.append(q.id)
        else:
            raise MireEvalError(f"{q.image.key}: image of query {q.id!r}: {problem} "
                                "(pass --skip-missing-images to skip such queries)")
    return kept, skipped
