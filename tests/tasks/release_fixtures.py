"""Writers of tiny releases in each benchmark's exact on-disk format (imported by the tests)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image


def image_bytes(color=(200, 30, 30), size=(6, 4), fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, color=(200, 30, 30), size=(6, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(color, size, "PNG" if path.suffix.lower() == ".png" else "JPEG"))
    return path


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))
    return path


def write_lines(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def write_webqa_tsv(folder: Path, images: dict[str, bytes | str]) -> None:
    """``imgs.tsv`` lines ``id<TAB>base64`` in the given order, and ``imgs.lineidx`` offsets."""
    folder.mkdir(parents=True, exist_ok=True)
    offsets, out = [], b""
    for image_id, payload in images.items():
        offsets.append(len(out))
        data = payload.encode() if isinstance(payload, str) else base64.b64encode(payload)
        out += image_id.encode() + b"\t" + data + b"\n"
    (folder / "imgs.tsv").write_bytes(out)
    (folder / "imgs.lineidx").write_text("".join(f"{o}\n" for o in offsets))
