"""mire through the real CLI: zero-shot run, fine-tune + evaluation, pre-training on R2P data."""

from __future__ import annotations

import pytest
import json

from typer.testing import CliRunner

from harness.cli import app
from tests.helpers.colour_task import COLOURS, WORDS, result_metrics, write_colour_task
from tests.helpers.single_thread import one_thread  # noqa: F401


@pytest.mark.slow
def test_zero_shot_then_finetune_through_the_cli(mire_dir, tmp_path):
    task = write_colour_task(tmp_path / "colours")
    runner = CliRunner()
    zero = runner.invoke(app, ["run", "--task", f"local:{task}", "--retriever", "mire", "--checkpoint",
                               str(mire_dir), "--output", str(tmp_path / "results"), "--k", "8"])
    assert zero.exit_code == 0, zero.output
    before, meta = result_metrics(tmp_path / "results", "zero-shot")
    retriever_meta = json.dumps(meta)
    assert "reference-eval" in retriever_meta and "mire_epoch_4.pth" in retriever_meta
    ft = runner.invoke(app, ["finetune", "--task", f"local:{task}", "--retriever", "mire", "--checkpoint",
                             str(mire_dir), "--epochs", "20", "--batch-size", "8", "--lr", "2e-3", "--warmup", "0",
                             "--checkpoints", str(tmp_path / "out"), "--output", str(tmp_path / "results"), "--k", "8"])
    assert ft.exit_code == 0, ft.output
    after, _ = result_metrics(tmp_path / "results", "fine-tuned")
    assert after["mrr@5"] > before["mrr@5"] and after["mrr@5"] >= 0.75, (before, after)
    summary = json.loads(next((tmp_path / "out").rglob("training.json")).read_text())
    assert summary["config"]["temperature"] == 0.8 and summary["model_options"] == {"query_maxlen": 32, "doc_maxlen": 180}


def test_pretrain_on_r2p_through_the_cli(mire_dir, tmp_path):
    task = write_colour_task(tmp_path / "colours")
    data = [{"id": f"{i}_0", "question": "what is shown?", "document": f"code word {WORDS[i]}",
             "image": f"{name}.png"} for i, name in enumerate(COLOURS)]
    (tmp_path / "r2p.json").write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["pretrain", "--retriever", "mire", "--data", str(tmp_path / "r2p.json"),
                                      "--image-dir", str(task / "images"), "--checkpoint", str(mire_dir),
                                      "--epochs", "2", "--batch-size", "4", "--checkpoints", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "pretrained mire on 8 pairs: 4 steps" in result.output
    summary = json.loads(next((tmp_path / "o").rglob("training.json")).read_text())
    assert summary["config"]["temperature"] == 0.3 and summary["config"]["reshuffle_each_epoch"] is False
