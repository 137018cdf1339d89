import pytest
"""`make-diagnostic`, `probe` and `plot` through typer's runner, on the generated task."""

import json

from PIL import Image
from typer.testing import CliRunner

from harness.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_make_diagnostic_probe_local_copy_and_plot(tmp_path, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "cache"))
    task_dir = tmp_path / "diag"
    made = runner.invoke(app, ["make-diagnostic", "--output", str(task_dir)])
    assert made.exit_code == 0, made.output
    assert "48 passages, 864 train and 288 test queries" in made.output

    out = tmp_path / "results"
    probed = runner.invoke(app, ["probe", "--task", f"local:{task_dir}", "--retriever", "bm25", "--output", str(out)])
    assert probed.exit_code == 0, probed.output
    assert probed.output.startswith("probe local:") and "image dependence 0.000" in probed.output
    (probe_json,) = out.glob("local-diag-*/bm25/*/probe.json")
    record = json.loads(probe_json.read_text())
    # a local copy keeps its query types and chance levels (queries.jsonl "type", diagnostic.json)
    assert set(record["by_type"]) == {"image-needed", "text-sufficient", "both-needed"}
    assert record["by_type"]["image-needed"]["views"]["full"]["metrics"]["hit_rate@1"] == 1 / 48
    assert record["chance"]["n_objects"] == 48

    plotted = runner.invoke(app, ["plot", "--output", str(out)])
    assert plotted.exit_code == 0, plotted.output
    assert (probe_json.parents[2] / "probe_views.png").exists() and (out / "leaderboard.png").exists()
    with Image.open(probe_json.parent / "attribution.png") as img:
        assert img.size == (640, 660)


def test_probe_errors_are_one_line(tmp_path):
    bad = runner.invoke(app, ["probe", "--task", "diagnostic", "--retriever", "bm25", "--stat-test", "wilcoxon",
                              "--output", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown paired test 'wilcoxon'; known: fisher, student, bootstrap, mcnemar" in bad.output
    empty = runner.invoke(app, ["plot", "--output", str(tmp_path / "none")])
    assert empty.exit_code == 2 and "no probe.json or metrics.json found" in empty.output


def test_probe_cli_and_diagnostic_task_import_without_torch():
    import subprocess
    import sys

    code = ("import sys, harness.cli.probe, tasks.diagnostic; "
            "heavy = {'torch', 'matplotlib', 'transformers'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_make_diagnostic_into_a_file_is_one_line(tmp_path):
    target = tmp_path / "existing.txt"
    target.write_text("keep")
    r = runner.invoke(app, ["make-diagnostic", "--output", str(target)])
    assert r.exit_code == 2, r.output
    assert r.output.strip() == f"error: {target}: --output: is a file, not a directory; name a directory to write into"
    assert target.read_text() == "keep"
