"""Tiny checkpoints in the real layouts, written once per test session."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import tiny  # noqa: E402


@pytest.fixture(scope="session")
def colbert_dir(tmp_path_factory) -> Path:
    return tiny.write_colbert(tmp_path_factory.mktemp("ckpts") / "colbertv2.0")


@pytest.fixture(scope="session")
def uniir_dir(tmp_path_factory) -> Path:
    """UniIR's released layout: clip_sf_tiny.pth (+ the tiny CLIP tokenizer)."""
    import tiny_uniir

    return tiny_uniir.write_uniir(tmp_path_factory.mktemp("uniir") / "ckpt")


@pytest.fixture(scope="session")
def mire_dir(tmp_path_factory) -> Path:
    """The authors' layout: config.json, artifact.metadata, tokenizer, mire_epoch_4.pth."""
    return tiny.write_mire_authors(tmp_path_factory.mktemp("mire") / "ckpt")


@pytest.fixture(scope="session")
def image_refs():
    from harness.types import BytesImage

    refs = []
    for i, im in enumerate(tiny.images(3)):
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        refs.append(BytesImage(buf.getvalue(), f"img{i}.png"))
    return refs


@pytest.fixture(scope="session")
def queries(image_refs):
    from harness.types import Query

    return [
        Query("q1", "What is the name of the bird sitting on the branch?", image_refs[0]),
        Query("q2", "who made this?", image_refs[1]),
        Query("q3", "where?", image_refs[0]),
    ]


@pytest.fixture(scope="session")
def passages():
    from harness.types import Passage

    return [
        Passage("p1", "Robin", "The European robin is a small bird; it eats insects."),
        Passage("p2", "", "Paris is the capital of France (2.1 million residents)!"),
        Passage("p3", "", "Toyota Motor Corporation is a Japanese car maker. " * 30),
        Passage("p4", "", "Bus."),
    ]


@pytest.fixture(scope="session")
def preflmr_dir(tmp_path_factory) -> Path:
    """A tiny PreFLMR in the released Hugging Face layout (tiny_preflmr.py)."""
    import tiny_preflmr

    return tiny_preflmr.write_preflmr(tmp_path_factory.mktemp("preflmr") / "ckpt")
