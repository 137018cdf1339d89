"""What a newcomer met (issue 26): a trained checkpoint is evaluated under the setting its
provenance names, --setting overrides it visibly, --device is checked once for every command,
a --data-dir that does not exist says so, a shipped task has nothing to fetch, pretrain takes
--output, pre-training advice names the option that works, and run --help says what it takes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from harness.cli import app, main
from harness.core.provenance import checkpoint_setting, resolve_setting
from harness.core.registry import Entry
from retrievers.registry import FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS, RETRIEVERS, TRAINABLES


@pytest.fixture
def tiny_retriever(monkeypatch):
    monkeypatch.setitem(RETRIEVERS._entries, "tiny-test", Entry("tiny-test", "tests.helpers.tiny_trainable:build", "test only"))
    for registry, target in [(TRAINABLES, "build_trainable"), (PRETRAIN_DEFAULTS, "PRETRAIN_DEFAULTS"),
                             (FINETUNE_DEFAULTS, "FINETUNE_DEFAULTS")]:
        monkeypatch.setitem(registry._entries, "tiny-test", Entry("tiny-test", f"tests.helpers.tiny_trainable:{target}", ""))


def _pairs(tmp_path):
    rows = [{"question": f"who wrote book {i}", "title": "Books", "passage": f"author {i} wrote it"} for i in range(4)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def _meta(results):
    (meta,) = results.rglob("meta.json")
    return json.loads(meta.read_text()), json.loads((meta.parent / "metrics.json").read_text())


def test_trained_checkpoints_are_evaluated_under_their_provenance(tiny_retriever, local_task, tmp_path):
    runner = CliRunner()
    done = runner.invoke(app, ["pretrain", "-r", "tiny-test", "--data", str(_pairs(tmp_path)), "--batch-size", "2",
                               "--output", str(tmp_path / "aligned")])
    assert done.exit_code == 0, done.output
    model = tmp_path / "aligned" / "final"
    assert json.loads((model / "training.json").read_text())["setting"] == "aligned"
    assert checkpoint_setting(str(model)) == ("aligned", str(model / "training.json"))

    ran = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "tiny-test", "--checkpoint", str(model),
                              "--output", str(tmp_path / "r1")])
    assert ran.exit_code == 0, ran.output
    assert "(aligned, full)" in ran.output
    meta, metrics = _meta(tmp_path / "r1")
    assert metrics["setting"] == "aligned" and meta["settings"]["setting_source"] == str(model / "training.json")

    # an override is allowed and recorded
    over = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "tiny-test", "--checkpoint", str(model),
                               "--setting", "zero-shot", "--output", str(tmp_path / "r2")])
    assert over.exit_code == 0, over.output
    meta, metrics = _meta(tmp_path / "r2")
    assert metrics["setting"] == "zero-shot"
    assert meta["settings"]["setting_source"].startswith("--setting overrides 'aligned'")


def test_finetune_writes_fine_tuned_provenance(tiny_retriever, local_task, tmp_path):
    done = CliRunner().invoke(app, ["finetune", "-t", f"local:{local_task}", "-r", "tiny-test", "--batch-size", "1",
                                    "--checkpoints", str(tmp_path / "ck"), "--no-evaluate"])
    assert done.exit_code == 0, done.output
    (record,) = (tmp_path / "ck").rglob("final/training.json")
    assert json.loads(record.read_text())["setting"] == "fine-tuned"
    assert checkpoint_setting(str(record.parent))[0] == "fine-tuned"
    assert checkpoint_setting(str(next(record.parent.glob("*.safetensors"))))[0] == "fine-tuned"  # one file


def test_released_checkpoints_are_zero_shot(tmp_path):
    assert checkpoint_setting(None)[0] == "zero-shot"
    assert checkpoint_setting("Y-J-Ju/MIRe_base_pt")[0] == "zero-shot"
    (tmp_path / "model").mkdir()
    assert checkpoint_setting(str(tmp_path / "model"))[0] == "zero-shot"
    assert resolve_setting("fine-tuned", None) == ("fine-tuned", "--setting overrides 'zero-shot' (no training "
                                                   "provenance (released or converted checkpoint): zero-shot)")
    (tmp_path / "model" / "training.json").write_text('{"stage": "distil"}')
    from harness.core.errors import MireEvalError

    with pytest.raises(MireEvalError, match="stage: unknown value 'distil'; pass --setting"):
        checkpoint_setting(str(tmp_path / "model"))


@pytest.mark.parametrize("command", [
    ["run", "-t", "sample", "-r", "bm25"], ["probe", "-t", "sample", "-r", "bm25"],
    ["finetune", "-t", "sample", "-r", "mire"], ["pretrain", "-r", "mire", "--data", "x.jsonl"],
    ["build-r2p", "--qa", "a", "--kb", "b", "--output", "c"]])
def test_device_is_checked_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--device", "gpu"])
    assert done.value.code == 2
    assert capsys.readouterr().err == "error: --device: unknown device 'gpu'; known: cpu, cuda, cuda:N, mps\n"


def test_a_missing_data_dir_says_it_does_not_exist(tmp_path, capsys):
    for command in (["run", "-t", "infoseek", "-r", "bm25", "--output", str(tmp_path / "o")], ["fetch", "okvqa"]):
        with pytest.raises(SystemExit) as done:
            main([*command, "--data-dir", str(tmp_path / "nowhere")])
        assert done.value.code == 2
        assert capsys.readouterr().err == f"error: --data-dir {tmp_path / 'nowhere'}: no such folder\n"


def test_fetching_a_shipped_task_is_not_an_error(capsys):
    with pytest.raises(SystemExit) as done:
        main(["fetch", "sample"])
    assert done.value.code == 0
    assert "sample: nothing to fetch" in capsys.readouterr().out


def test_run_help_names_every_setting_and_what_a_checkpoint_may_be():
    shown = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "240"}).output
    text = " ".join(shown.replace("│", " ").split())  # the help as one line, rich's box removed
    assert "zero-shot | aligned | fine-tuned" in text
    assert "hub id" in text and "directory" in text and "weights file" in text


def test_mire_pretraining_advice_names_the_option_that_works(monkeypatch):
    import harness.core.hub
    from harness.core.errors import MireEvalError
    from retrievers.mire.conversion import fresh_mire

    monkeypatch.setattr(harness.core.hub, "offline", lambda: False)
    monkeypatch.setattr(harness.core.hub, "reachable", lambda timeout=0: False)
    with pytest.raises(MireEvalError, match=r"pass -o colbert_checkpoint=DIR"):
        fresh_mire(None, "openai/clip-vit-base-patch32")
