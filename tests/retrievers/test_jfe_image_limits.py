"""An image a retriever's processor refuses is a one-line error naming the query and the file,
or skipped and counted with --skip-missing-images, as an undecodable one (issue 20, kind 5)."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.core.errors import MireEvalError
from harness.core.images import ImageLimits, screen_images
from harness.core.types import FileImage, Query
from retrievers.jfe import IMAGE_LIMITS
from retrievers.mllm.images import image_size
from retrievers.offline import save_tiny_qwen2vl
from tests.helpers.single_thread import one_thread  # noqa: F401


@pytest.fixture
def wide_task(local_task):
    Image.new("RGB", (2100, 10), (200, 80, 20)).save(local_task / "images" / "fox.png")  # aspect ratio 210
    return local_task


def test_the_limit_is_qwen2vl_smart_resize_own():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    for width, height in ((2100, 10), (2010, 10), (2000, 10), (10, 2001), (1, 1), (3, 500)):
        try:
            smart_resize(height, width)
            refused = False
        except ValueError:
            refused = True
        assert (IMAGE_LIMITS.problem(width, height) is not None) == refused, (width, height)


def test_screening_names_query_and_file_or_skips(tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", (2100, 10)).save(path)
    ok = tmp_path / "ok.png"
    Image.new("RGB", (30, 20)).save(ok)
    queries = [Query("q-strip", "x", FileImage(path)), Query("q-ok", "y", FileImage(ok)), Query("q-none", "z")]
    with pytest.raises(MireEvalError) as err:
        screen_images(queries, IMAGE_LIMITS, skip=False)
    assert str(err.value).startswith(f"{path}: image of query 'q-strip': cannot be processed (2100x10: aspect ratio 210")
    kept, skipped = screen_images(queries, IMAGE_LIMITS, skip=True)
    assert [q.id for q in kept] == ["q-ok", "q-none"] and skipped == ["q-strip"]
    assert screen_images(queries, None, skip=False)[0] == queries  # a retriever with no limits (bm25, CLIP's)
    with pytest.raises(MireEvalError, match=rf"^{path}: image: cannot be processed"):
        image_size(FileImage(path))  # the encoder's own path, for callers outside a run
    assert ImageLimits().problem(100000, 1) is None


def test_jfe_run_on_a_2100x10_image_is_one_line_or_skipped(tmp_path, wide_task):
    out = tmp_path / "results"
    args = ["run", "-t", f"local:{wide_task}", "-r", "jfe", "--output", str(out)]
    refused = CliRunner().invoke(app, [*args, "--checkpoint", str(tmp_path / "not-loaded")])
    assert refused.exit_code == 2  # refused before any model is looked for
    line = refused.output.strip()
    assert "\n" not in line and line.startswith("error: ") and "images/fox.png: image of query 'q-fox'" in line
    assert "aspect ratio 210 exceeds 200" in line and "--skip-missing-images" in line

    tiny = save_tiny_qwen2vl(tmp_path / "tiny-qwen2vl")
    skipped = CliRunner().invoke(app, [*args, "--checkpoint", str(tiny), "--skip-missing-images"])
    assert skipped.exit_code == 0, skipped.output
    meta = json.loads(next(out.glob("local-*/jfe/*/meta.json")).read_text())
    assert meta["task"]["skipped_images_processor"] == 1
    assert meta["task"]["skipped_images_processor_query_ids"] == ["q-fox"]
    assert meta["task"]["n_queries_evaluated"] == 2  # the test split: q-owl and q-seal
    bm25 = CliRunner().invoke(app, ["run", "-t", f"local:{wide_task}", "-r", "bm25", "--output", str(out)])
    assert bm25.exit_code == 0, bm25.output  # BM25 never reads the image: nothing to refuse
