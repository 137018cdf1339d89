"""Images are checked by decoding them fully: what PIL's verify() lets through is caught before a run."""

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.core.errors import MireEvalError
from harness.core.images import check_ref, inspect_image
from harness.core.types import BytesImage, FileImage
from tasks.base import LoadOptions
from tasks.loading import load_task


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, idat: bytes) -> bytes:
    """A greyscale 8-bit PNG with the given IDAT payload and valid CRCs on every chunk."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def good_png() -> bytes:
    return png_bytes(16, 16, zlib.compress(b"".join(b"\x00" + bytes(range(16)) for _ in range(16))))


def broken_zlib_png() -> bytes:
    stream = zlib.compress(b"".join(b"\x00" + bytes(range(16)) for _ in range(16)))
    return png_bytes(16, 16, stream[:2] + bytes(b ^ 0xFF for b in stream[2:-4]) + stream[-4:])


def bomb_png() -> bytes:
    return png_bytes(40000, 40000, zlib.compress(b"\x00" * 64))


def truncated_jpeg() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def wide_png(kind: str) -> bytes:
    values = np.array([[0, 1000], [30000, 65535]], dtype=np.uint16)
    image = Image.fromarray({"16-bit": values, "32-bit": values.astype(np.int32),
                             "float": values.astype(np.float32) / 65535}[kind])
    buf = io.BytesIO()
    image.save(buf, "PNG" if kind == "16-bit" else "TIFF")
    return buf.getvalue()


BAD = {"truncated.jpg": truncated_jpeg, "broken-zlib.png": broken_zlib_png, "bomb.png": bomb_png}


@pytest.mark.parametrize("name", BAD)
def test_header_checks_pass_them_but_a_full_decode_does_not(name):
    data = BAD[name]()
    if name != "bomb.png":  # the old check: these pass verify()
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    check = inspect_image(io.BytesIO(data))
    assert check.problem.startswith("missing or corrupt (")
    assert check_ref(BytesImage(data, name)).problem == check.problem
    with pytest.raises(MireEvalError, match=rf"{name}: image: missing or corrupt"):
        BytesImage(data, name).load()
    assert inspect_image(io.BytesIO(good_png())).problem is None


def test_bomb_is_named_as_such(tmp_path):
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    assert "decompression bomb" in check_ref(FileImage(tmp_path / "bomb.png")).problem


def _task_with(local_task, images: dict[str, bytes]):
    rows = [json.loads(line) for line in (local_task / "queries.jsonl").read_text().splitlines()]
    by_id = {row["_id"]: row for row in rows}
    for qid, data in images.items():
        name = f"images/{qid}-bad.bin"
        (local_task / name).write_bytes(data)
        by_id[qid]["image"] = name
    (local_task / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return local_task


@pytest.mark.parametrize("name", BAD)
def test_without_the_flag_the_error_names_the_image_and_the_query(local_task, name):
    _task_with(local_task, {"q-owl": BAD[name]()})
    with pytest.raises(MireEvalError, match=r"q-owl-bad.bin: image of query 'q-owl': missing or corrupt") as err:
        load_task(f"local:{local_task}", LoadOptions())
    assert "\n" not in str(err.value)


def test_skip_missing_images_skips_and_counts_every_undecodable_kind(local_task):
    _task_with(local_task, {"q-fox": truncated_jpeg(), "q-owl": broken_zlib_png(), "q-seal": bomb_png()})
    data = load_task(f"local:{local_task}", LoadOptions(skip_missing_images=True))
    assert data.queries == [] and data.meta["skipped_images"] == 3
    assert sorted(data.meta["skipped_image_query_ids"]) == ["q-fox", "q-owl", "q-seal"]


def test_skipped_images_are_counted_in_meta_json(local_task, tmp_path):
    _task_with(local_task, {"q-owl": broken_zlib_png()})
    # a run that reads images skips and counts (meta.json's "task" is this meta)
    task = load_task(f"local:{local_task}", LoadOptions(skip_missing_images=True)).meta
    assert task["skipped_images"] == 1 and task["skipped_image_query_ids"] == ["q-owl"] and task["queries"] == 2
    # bm25 reads no image: nothing to skip, every query kept
    result = CliRunner().invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--skip-missing-images",
                                      "--output", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    (meta,) = (tmp_path / "r").glob("*/bm25/*/meta.json")
    task = json.loads(meta.read_text())["task"]
    assert task["skipped_images"] == 0 and task["queries"] == 3


@pytest.mark.parametrize("kind, mode, pixel", [
    ("16-bit", "I;16", (255, 255, 255)), ("32-bit", "I", (255, 255, 255)), ("float", "F", (0, 0, 0))])
def test_wide_images_decode_as_the_reference_does_with_one_warning(local_task, capsys, kind, mode, pixel):
    _task_with(local_task, {"q-fox": wide_png(kind), "q-owl": wide_png(kind)})
    data = load_task(f"local:{local_task}", LoadOptions())
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: 2 query image(s) are 16-bit or floating-point")
    assert check_ref(data.queries[0].image).mode == mode
    rgb = data.queries[0].image.load()
    assert rgb.mode == "RGB" and rgb.getpixel((1, 0)) == pixel  # clipped, as Image.convert("RGB") does


def test_good_images_print_no_warning(local_task, capsys):
    load_task(f"local:{local_task}", LoadOptions())
    assert capsys.readouterr().err == ""
