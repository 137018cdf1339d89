import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from harness.cli_data import fetch_task, register
from harness.errors import MireEvalError


def test_importing_the_command_module_does_not_import_torch():
    code = "import sys, harness.cli_data, harness.registry; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("task, first", [
    ("okvqa", "retriever_test.json"), ("okvqa-wiki11m", "all_blocks.txt"), ("remuq", "test.json")])
def test_fetch_of_a_manual_release_lists_each_missing_file_with_source_and_target(task, first, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path))
    with pytest.raises(MireEvalError, match=rf"{task}: \d+ file\(s\) missing .* put them at the paths shown"):
        fetch_task(task)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{task}: the test split needs ")  # the plan comes first
    missing = next(line for line in out if line.startswith("missing "))
    assert missing.startswith(f"missing {tmp_path / task}") and first in missing and "<-" in missing


def test_fetch_reports_a_complete_release(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "cache"))
    data = tmp_path / "remuq"
    data.mkdir()
    for name in ("test.json", "open_corpus_195837.csv", "imgs.tsv", "imgs.lineidx"):
        (data / name).write_text("[]" if name == "test.json" else "x")  # the questions are read for the coverage
    assert fetch_task("remuq", data_dir=data) == data  # the test split needs no train.json
    out = capsys.readouterr().out
    assert out.count("ok ") == 4 and "remuq: release complete" in out
    with pytest.raises(MireEvalError, match="remuq: 1 file"):
        fetch_task("remuq", data_dir=data, split="train")


def test_fetch_command_is_registered_and_fails_with_the_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path))
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop():  # a second command so typer keeps "fetch" as a sub-command
        pass

    result = CliRunner().invoke(app, ["fetch", "okvqa", "--no-images"])
    assert result.exit_code == 2 and not isinstance(result.exception, MireEvalError)  # caught, not a traceback
    assert "val2014" not in result.output and "retriever_test.json" in result.output
    assert "error: okvqa: 2 file(s) missing" in result.output  # the test split's; --no-images: no COCO folders
