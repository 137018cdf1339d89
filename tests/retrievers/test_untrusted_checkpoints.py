"""Loading a checkpoint never runs code from it (mire, colbertv2 and finetune --resume, through
the CLI): every kind of payload in :mod:`evil` ends in one line and exit 2, the marker untouched."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from tests.helpers import evil
from harness.cli import app
from retrievers.checkpoint import read_weights
from tasks.base import task_slug
from tests.helpers.colour_task import write_colour_task
from tests.helpers.single_thread import one_thread  # noqa: F401


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return write_colour_task(tmp_path_factory.mktemp("task") / "colours")


def _one_line_exit_2(result, marker, name):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], result.output
    assert "refusing to unpickle" in lines[0] and "Traceback" not in result.output
    assert not marker.exists()


@pytest.mark.parametrize("kind", evil.KINDS)
def test_payloads_are_live_when_loaded_trustingly(kind, tmp_path):
    """The fixtures would run code under an unrestricted loader: the tests below mean something."""
    marker = tmp_path / "ran"
    evil.load_trusting(evil.write(kind, tmp_path / "x.pth", {"w": __import__("torch").ones(1)}, marker))
    assert marker.exists()


@pytest.mark.parametrize("kind", evil.KINDS)
def test_mire_run_refuses(kind, mire_dir, task, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(mire_dir, ckpt)
    marker = tmp_path / "ran"
    evil.write(kind, ckpt / "mire_epoch_4.pth", read_weights(mire_dir / "mire_epoch_4.pth").state_dict, marker)
    result = CliRunner().invoke(app, ["run", "--task", f"local:{task}", "--retriever", "mire", "--checkpoint",
                                      str(ckpt), "--output", str(tmp_path / "results"), "--k", "8"])
    _one_line_exit_2(result, marker, "mire_epoch_4.pth")
    assert not list((tmp_path / "results").rglob("metrics.json"))


@pytest.mark.parametrize("kind", evil.KINDS)
def test_colbertv2_run_refuses(kind, colbert_dir, task, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(colbert_dir, ckpt)
    (ckpt / "model.safetensors").unlink()
    marker = tmp_path / "ran"
    evil.write(kind, ckpt / "pytorch_model.bin", load_file(str(colbert_dir / "model.safetensors")), marker)
    result = CliRunner().invoke(app, ["run", "--task", f"local:{task}", "--retriever", "colbertv2", "--checkpoint",
                                      str(ckpt), "--output", str(tmp_path / "results"), "--k", "8"])
    _one_line_exit_2(result, marker, "pytorch_model.bin")


@pytest.mark.parametrize("kind", evil.KINDS)
def test_finetune_resume_refuses(kind, mire_dir, task, tmp_path):
    """A resumable state whose model directory holds a payload (a shared or downloaded run)."""
    out = tmp_path / "ck" / "checkpoints" / task_slug(f"local:{task}") / "mire"
    step = out / "steps" / "step-00000004"
    shutil.copytree(mire_dir, step / "model")
    marker = tmp_path / "ran"
    evil.write(kind, step / "model" / "mire_epoch_4.pth",
               read_weights(mire_dir / "mire_epoch_4.pth").state_dict, marker)
    (step / "state.json").write_text(json.dumps({"step": 4}))
    result = CliRunner().invoke(app, ["finetune", "--task", f"local:{task}", "--retriever", "mire", "--resume",
                                      "--epochs", "8", "--batch-size", "8", "--checkpoints", str(tmp_path / "ck"),
                                      "--no-evaluate"])
    _one_line_exit_2(result, marker, "mire_epoch_4.pth")


def test_authors_checkpoint_meta_says_how_it_was_read(mire_dir, task, tmp_path):
    result = CliRunner().invoke(app, ["run", "--task", f"local:{task}", "--retriever", "mire", "--checkpoint",
                                      str(mire_dir), "--output", str(tmp_path / "results"), "--k", "8"])
    assert result.exit_code == 0, result.output
    meta = json.loads(next((tmp_path / "results").rglob("meta.json")).read_text())
    reader = json.dumps(meta)
    assert "torch.load(weights_only=True), zip format, inert stand-ins for" in reader
    assert "omegaconf.dictconfig.DictConfig" in reader and "restricted unpickler" not in reader
