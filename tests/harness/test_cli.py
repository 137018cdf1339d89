"""The CLI through typer's runner: summaries, files, and one-line errors with exit code 2."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from harness.cli import app

runner = CliRunner()


def test_help_and_ls_do_not_import_torch():
    code = ("import sys; from typer.testing import CliRunner; from harness.cli import app; "
            "r = CliRunner().invoke(app, ['ls']); assert r.exit_code == 0, r.output; "
            "assert 'bm25' in r.output and 'okvqa' in r.output; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_names_list_the_known_ones(local_task):
    result = runner.invoke(app, ["run", "--task", f"local:{local_task}", "--retriever", "nope"])
    assert result.exit_code == 2
    assert "unknown retriever 'nope'; known: bm25, colbertv2, jfe, mire" in result.output
    result = runner.invoke(app, ["run", "--task", "nope", "--retriever", "bm25"])
    assert result.exit_code == 2 and "unknown task 'nope'; known:" in result.output


def test_run_score_and_leaderboard(local_task, tmp_path):
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "hit_rate@5=1.0000" in result.output
    (run_dir,) = out.glob("local-animals/bm25/*")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["retriever"]["retriever"] == "bm25" and meta["task"]["queries"] == 3
    assert {"load_task", "index", "search", "metrics"} <= set(meta["timings_s"])

    scored = runner.invoke(app, ["score", "--qrels", str(run_dir / "qrels.tsv"), "--run", str(run_dir / "run.trec"),
                                 "--metrics", "hit_rate@1,mrr@5", "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output) == {"hit_rate@1": 1.0, "mrr@5": 1.0}

    text_view = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--view", "image",
                                    "--output", str(out)])
    assert text_view.exit_code == 0 and "hit_rate@5=0.0000" in text_view.output
    board = runner.invoke(app, ["leaderboard", "--output", str(out)])
    assert board.exit_code == 0, board.output
    lines = (out / "leaderboard.csv").read_text().splitlines()
    assert lines[0].startswith("task,retriever,setting,view") and len(lines) == 3


def test_score_rejects_bad_files(tmp_path):
    (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq\tp\t1\n")
    (tmp_path / "r.trec").write_text("q Q0 p 1\n")
    result = runner.invoke(app, ["score", "--qrels", str(tmp_path / "q.tsv"), "--run", str(tmp_path / "r.trec")])
    assert result.exit_code == 2 and "r.trec:1: run line needs 6 fields" in result.output
    result = runner.invoke(app, ["score", "--qrels", str(tmp_path / "q.tsv"), "--run", str(tmp_path / "r.trec"),
                                 "--metrics", "bogus@5"])
    assert result.exit_code == 2 and "unknown metric 'bogus@5'" in result.output


def test_failed_run_leaves_no_results(local_task, tmp_path):
    (local_task / "images" / "fox.png").write_bytes(b"broken")
    result = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(tmp_path / "r")])
    assert result.exit_code == 2 and "fox.png" in result.output
    assert not (tmp_path / "r").exists()

