"""uniir-clip-sf beyond the forward pass: strict, safe loading of the released layout, options,
views, and runs through the real CLI (run and probe)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from tests.helpers import evil
from tests.helpers import tiny_uniir
from harness.cli import app
from harness.core.errors import MireEvalError
from harness.index.retriever import EncoderRetriever
from retrievers.registry import RETRIEVERS
from harness.core.types import Query
from retrievers.checkpoint import read_weights
from retrievers.uniir import DEFAULT_INSTRUCTION, build
from retrievers.uniir.conversion import load_clip_sf, openai_to_transformers, strip_prefix, transformers_to_openai
from tests.helpers.colour_task import write_colour_task
from tests.helpers.single_thread import one_thread  # noqa: F401

runner = CliRunner()


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return write_colour_task(tmp_path_factory.mktemp("task") / "colours")


def _state(uniir_dir):
    return read_weights(uniir_dir / "clip_sf_tiny.pth").state_dict


def _eot():
    return tiny_uniir.vocab_size() - 1, tiny_uniir.vocab_size() - 2


def test_registered():
    assert "uniir-clip-sf" in RETRIEVERS.names()
    assert RETRIEVERS.get("uniir-clip-sf") is build


def test_conversion_consumes_every_tensor_and_inverts(uniir_dir):
    state = _state(uniir_dir)
    model = load_clip_sf(state, "x.pth", *_eot())
    back = transformers_to_openai(model)
    original = strip_prefix(state, "x.pth")
    assert set(back) == set(original)
    assert all(torch.equal(back[k], original[k]) for k in original)
    mapped, unused = openai_to_transformers(original)
    assert unused == [] and set(mapped) == set(model.state_dict())


@pytest.mark.parametrize("edit, named", [
    (lambda s: s.update({"clip_model.visual.extra_head.weight": torch.zeros(2)}), "clip_model.visual.extra_head.weight"),
    (lambda s: s.pop("clip_model.visual.ln_post.bias"), "vision_model.post_layernorm.bias"),
    (lambda s: s.update({"clip_model.visual.proj": torch.zeros(64, 16)}), "visual_projection.weight"),
    (lambda s: s.update({"stray.weight": torch.zeros(1)}), "stray.weight"),
    (lambda s: s.pop("clip_model.text_projection"), "text_projection"),
])
def test_strict_loading_names_the_tensor(uniir_dir, edit, named):
    state = dict(_state(uniir_dir))
    edit(state)
    with pytest.raises(MireEvalError) as err:
        load_clip_sf(state, "clip_sf.pth", *_eot())
    assert named in str(err.value) and "\n" not in str(err.value)


def test_tokenizer_must_fit_the_embeddings(uniir_dir):
    with pytest.raises(MireEvalError, match="tokenizer and checkpoint do not match"):
        load_clip_sf(_state(uniir_dir), "clip_sf.pth", eos_token_id=49407, bos_token_id=49406)


def test_options_and_views(uniir_dir, image_refs):
    enc = build(str(uniir_dir))
    q = Query("q", "what is this", image_refs[0])
    assert enc.query_text(q, "full") == f"{DEFAULT_INSTRUCTION} what is this."
    assert enc.query_text(q, "image") == DEFAULT_INSTRUCTION
    plain = build(str(uniir_dir), instruct="false", instruction="Find it.")
    assert plain.query_text(q, "full") == "What is this." and plain.query_text(q, "image") == ""
    assert plain.describe()["instruction"] is None and plain.describe()["options"]["instruct"] is False
    custom = build(str(uniir_dir), instruction="find the passage")
    # M-BEIR formats the instruction itself first (capital, final period)
    assert custom.query_text(q, "text") == "Find the passage. what is this."
    # the text view is the image-less query, and the image view differs from the full one
    full, text, image = (enc.encode_queries([q], v) for v in ("full", "text", "image"))
    no_image = enc.encode_queries([q.with_image(None)], "full")
    assert torch.equal(text, no_image) and not torch.allclose(full, image)
    for bad in ({"instruct": "maybe"}, {"batch_size": 0}, {"temperature": 1}, {"instruction": ""}):
        with pytest.raises(MireEvalError):
            build(str(uniir_dir), **bad)


def test_describe_records_the_choices(uniir_dir):
    d = EncoderRetriever(build(str(uniir_dir))).describe()  # the record meta.json gets
    assert list(d)[:6] == ["name", "checkpoint", "similarity", "search", "views", "options"]
    assert d["similarity"] == "cosine" and d["instruction"] == DEFAULT_INSTRUCTION
    assert d["weights_reader"].startswith("torch.load(weights_only=True)")
    assert d["checkpoint_entries"]["epoch"] == 19 and d["checkpoint_entries"]["optimizer"] == "present (not used)"
    assert "summed" in d["views"]["full"] and "instruction alone" in d["views"]["image"]


@pytest.mark.slow  # ~25 s on 2 shared cores: two CLI evaluations, four probe views
def test_run_and_probe_through_the_cli(uniir_dir, task, tmp_path, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "cache"))
    out = tmp_path / "results"
    ran = runner.invoke(app, ["run", "--task", f"local:{task}", "--retriever", "uniir-clip-sf", "--checkpoint",
                              str(uniir_dir), "--output", str(out), "--k", "8"])
    assert ran.exit_code == 0, ran.output
    (meta,) = out.rglob("meta.json")
    assert json.loads(meta.read_text())["retriever"]["weights_file"] == "clip_sf_tiny.pth"
    probed = runner.invoke(app, ["probe", "--task", f"local:{task}", "--retriever", "uniir-clip-sf",
                                 "--checkpoint", str(uniir_dir), "--output", str(out)])
    assert probed.exit_code == 0, probed.output
    (probe_json,) = out.rglob("probe.json")
    record = json.loads(probe_json.read_text())
    assert {"full", "text", "image", "swap"} <= set(record["views"])
    # the gold score is split exactly into its text and image parts (SumsModalities)
    assert record["attribution"]["split"].startswith("cosine of a summed query vector")
    assert record["attribution"]["full"]["n_split"] == 8 and record["attribution"]["text"]["mean_image_part"] == 0


@pytest.mark.parametrize("kind", evil.KINDS)
def test_pickled_code_is_refused(kind, uniir_dir, task, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(uniir_dir, ckpt)
    marker = tmp_path / "ran"
    evil.write(kind, ckpt / "clip_sf_tiny.pth", _state(uniir_dir), marker)
    result = runner.invoke(app, ["run", "--task", f"local:{task}", "--retriever", "uniir-clip-sf", "--checkpoint",
                                 str(ckpt), "--output", str(tmp_path / "results"), "--k", "8"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and "clip_sf_tiny.pth" in lines[0]
    assert "refusing to unpickle" in lines[0] and not marker.exists()
    assert not list((tmp_path / "results").rglob("metrics.json"))


def test_query_parts_split_the_score_exactly(uniir_dir, image_refs):
    from harness.probe.attribution import split_kind
    from harness.index.retriever import EncoderRetriever
    from retrievers.hooks import SumsModalities

    enc = build(str(uniir_dir))
    assert isinstance(enc, SumsModalities) and split_kind(EncoderRetriever(enc)).startswith("cosine of a summed")
    queries = [Query("a", "what bird", image_refs[0]), Query("b", "who made this", None)]
    for view in ("full", "text", "image"):
        text, image = enc.query_parts(queries, view)
        assert torch.allclose(text + image, enc.encode_queries(queries, view), atol=1e-6)
    text, image = enc.query_parts(queries, "text")
    assert torch.equal(image, torch.zeros_like(image))  # the text view has no image part
    text, image = enc.query_parts(queries, "full")
    assert torch.equal(image[1], torch.zeros_like(image[1])) and image[0].abs().sum() > 0
