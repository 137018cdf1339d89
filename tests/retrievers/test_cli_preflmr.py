"""preflmr through the real CLI: run (full view), probe (three views), finetune and re-evaluate."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.helpers.colour_task import result_metrics, write_colour_task
from tests.helpers.single_thread import one_thread  # noqa: F401


@pytest.mark.slow
def test_run_probe_and_finetune_through_the_cli(preflmr_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "data"))
    task = write_colour_task(tmp_path / "colours")
    runner = CliRunner()
    common = ["--task", f"local:{task}", "--retriever", "preflmr", "--checkpoint", str(preflmr_dir),
              "--output", str(tmp_path / "results")]
    zero = runner.invoke(app, ["run", *common, "--k", "8"])
    assert zero.exit_code == 0, zero.output
    before, meta = result_metrics(tmp_path / "results", "zero-shot")
    assert meta["retriever"]["name"] == "preflmr" and meta["retriever"]["options"]["instructions"] == "m2kr"
    probe = runner.invoke(app, ["probe", *common])
    assert probe.exit_code == 0, probe.output
    ft = runner.invoke(app, ["finetune", *common, "--epochs", "3", "--batch-size", "8", "--lr", "1e-3",
                             "--warmup", "0", "--checkpoints", str(tmp_path / "out"), "--k", "8"])
    assert ft.exit_code == 0, ft.output
    after, meta_ft = result_metrics(tmp_path / "results", "fine-tuned")
    summary = json.loads(next((tmp_path / "out").rglob("training.json")).read_text())
    assert summary["config"]["temperature"] == 1.0 and summary["config"]["weight_decay"] == 0.01
    assert summary["model_options"] == {"freeze_vision": True}
    assert meta_ft["retriever"]["state_dict"]["missing"] == []
    assert after != before  # the fine-tuned weights were saved and loaded back
