"""Where the benchmarks keep their query images: COCO folders and WebQA's base64 tsv.

Images stay references until a retriever decodes them. WebQA (ReMuQ's image source)
packs ~390K images as ``image_id<TAB>base64`` lines in one ``imgs.tsv``; ``imgs.lineidx``
holds each line's byte offset, and an image id maps to line ``int(id) % 10_000_000``
(MIRe's ``REMUQLoader``, the ReMuQ README). We seek there and read one line, never the file.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.core.errors import MireEvalError
from harness.core.types import _decode
from tasks.base import LoadOptions
from tasks.releases import ManualFile

WEBQA_ID_MODULUS = 10_000_000


# --------------------------------------------------------------------------------------------
# COCO 2014 (OK-VQA)
# --------------------------------------------------------------------------------------------
COCO_ZIP = "http://images.cocodataset.org/zips/{}2014.zip (unzip)"
COCO_SIZES = {"train": "13 GB", "val": "6 GB"}  # cocodataset.org/#download: "2014 Train images [83K/13GB]"


def coco_root(options: LoadOptions) -> Path:
    """``--image-dir``, else ``<cache>/coco`` (shared by both OK-VQA tasks)."""
    return Path(options.image_dir) if options.image_dir else Path(options.cache_dir) / "coco"


def coco_manual_files(*splits: str) -> list[ManualFile]:
    """The COCO 2014 image folders a task needs, for ``mire-eval fetch``."""
    return [ManualFile(f"{s}2014", COCO_ZIP.format(s), ("", "coco"), "images", is_dir=True, size=COCO_SIZES[s])
            for s in splits]


def coco_file_name(split: str, image_id: int | str) -> str:
    """``COCO_val2014_000000297147.jpg`` from a split and a numeric id.

    >>> coco_file_name("val", 297147)
    'COCO_val2014_000000297147.jpg'
    """
    return f"COCO_{split}2014_{int(image_id):012d}.jpg"


def coco_image_path(image_dir: Path, file_name: str) -> Path:
    """Where a COCO image lives under ``image_dir``, in any of the layouts releases use.

    ``image_dir`` may be the split folder itself (``.../val2014``, the reference's eval
    layout), the COCO root holding ``train2014/`` and ``val2014/``, or a parent holding
    ``coco/<split>2014/`` (MIRe's ``data/vid2r/images``). The layout is chosen per folder,
    by which of those directories exists, never per file.
    """
    split_dir = file_name.split("_")[1] if file_name.count("_") >= 2 else ""
    return _split_root(Path(image_dir), split_dir) / file_name


@lru_cache(maxsize=64)
def _split_root(image_dir: Path, split_dir: str) -> Path:
    for candidate in (image_dir / "coco" / split_dir, image_dir / split_dir):
        if split_dir and candidate.is_dir():
            return candidate
    return image_dir


# --------------------------------------------------------------------------------------------
# WebQA imgs.tsv (ReMuQ)
# --------------------------------------------------------------------------------------------
def read_lineidx(path: Path) -> np.ndarray:
    """Byte offsets of the tsv's lines (one integer per line of ``imgs.lineidx``)."""
    try:
        with open(path, "rb") as f:
            return np.array(f.read().split(), dtype=np.int64)
    except ValueError as exc:
        raise MireEvalError(f"{path}: malformed line offset ({exc})") from None


@dataclass(frozen=True)
class TsvImage:
    """One image in a WebQA-style base64 tsv, found by byte offset."""

    tsv: Path
    offset: int
    image_id: str

    @property
    def key(self) -> str:
        return f"{self.tsv}#{self.image_id}"

    def _payload(self) -> bytes:
        with open(self.tsv, "rb") as f:
            f.seek(self.offset)
            line = f.readline().rstrip(b"\r\n")
        found_id, sep, data = line.partition(b"\t")
        if not sep:
            raise MireEvalError(f"{self.key}: image: no tab-separated base64 field at byte {self.offset}")
        if found_id.decode(errors="replace") != self.image_id:
            raise MireEvalError(
                f"{self.key}: image: line at byte {self.offset} holds image {found_id.decode(errors='replace')!r}"
            )
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise MireEvalError(f"{self.key}: image: invalid base64") from None

    def source(self) -> io.BytesIO:
        return io.BytesIO(self._payload())

    def load(self):
        return _decode(self.source(), self.key)


@dataclass(frozen=True)
class MissingImage:
    """An image id the index does not cover; ``source`` and ``load`` raise."""

    origin: str
    reason: str

    @property
    def key(self) -> str:
        return self.origin

    def source(self):
        raise MireEvalError(f"{self.origin}: image: {self.reason}")

    def load(self):
        return self.source()


class WebQAImages:
    """Image references into ``imgs.tsv`` via ``imgs.lineidx``."""

    def __init__(self, tsv: Path, lineidx: Path):
        self.tsv = Path(tsv)
        self.offsets = read_lineidx(lineidx)

    def __call__(self, image_id: str):
        try:
            line = int(image_id) % WEBQA_ID_MODULUS
        except ValueError:
            return MissingImage(f"{self.tsv}#{image_id}", "image id is not an integer")
        if line >= len(self.offsets):
            return MissingImage(f"{self.tsv}#{image_id}", f"line {line} is beyond imgs.lineidx ({len(self.offsets)} lines)")
        return TsvImage(self.tsv, int(self.offsets[line]), str(image_id))
