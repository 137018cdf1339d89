"""The tiny Qwen2-VL the jfe tests share (a module-scoped fixture), its words and its images."""

from __future__ import annotations

import io

import pytest

from harness.core.types import BytesImage, Passage, Query, TrainExample

CITIES = ["paris", "london", "berlin", "madrid", "rome", "vienna", "oslo", "dublin", "prague", "lisbon", "athens",
          "warsaw"]
COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]


def image(color: str, size=(56, 56)) -> BytesImage:
    """A one-colour PNG query image, ``size`` = (width, height) in pixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return BytesImage(buf.getvalue(), color)


def examples() -> list[TrainExample]:
    """12 (city question + colour image, city passage) pairs."""
    return [
        TrainExample(Query(f"q{i}", f"what city is {c}", image(COLORS[i % 8])),
                     Passage(f"p{i}", c.title(), f"{c} is a city with many facts"))
        for i, c in enumerate(CITIES)
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random Qwen2-VL directory whose vocabulary holds the words of :func:`examples`
    (import it into a test module: ``from tests.helpers.tiny_jfe import tiny  # noqa: F401``)."""
    from retrievers.offline import save_tiny_qwen2vl

    extra = " ".join(CITIES + [c.title() for c in CITIES] + ["city", "many", "with", "what"])
    return save_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"), extra_text=extra)
