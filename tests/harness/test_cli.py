"""The CLI through typer's runner: summaries, files, and one-line errors with exit code 2."""

import csv
import json
import shutil
import subprocess
import sys

import pytest
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
    from retrievers.registry import RETRIEVERS

    known = RETRIEVERS.names()
    assert {"bm25", "colbertv2", "jfe", "mire"} <= set(known)  # the built-in families, whatever is added
    assert f"unknown retriever 'nope'; known: {', '.join(known)}" in result.output
    result = runner.invoke(app, ["run", "--task", "nope", "--retriever", "bm25"])
    assert result.exit_code == 2 and "unknown task 'nope'; known:" in result.output


def test_run_score_and_leaderboard(local_task, tmp_path):
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "hit_rate@5=1.0000" in result.output
    (run_dir,) = out.glob("local-animals-*/bm25/*")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["retriever"]["name"] == "bm25" and meta["task"]["queries"] == 3
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


def test_leaderboard_lists_every_run_one_row_each(local_task, tmp_path):
    """Runs alike in task, retriever, setting, view and split but not in identity (metrics,
    relevance) are rows of their own; the newest never blanks an older one's metrics."""
    out = tmp_path / "results"
    base = ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(out)]
    for extra in ([], ["--metrics", "mrr@10"], ["--relevance", "answer-word"]):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 0, result.output
    board = runner.invoke(app, ["leaderboard", "--output", str(out)])
    assert board.exit_code == 0, board.output
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    assert len(rows) == 3 and len({r["path"] for r in rows}) == 3 and len({r["run"] for r in rows}) == 3
    assert [r["created"] for r in rows] == sorted(r["created"] for r in rows)  # same task...: oldest first
    only_mrr = [r for r in rows if r["hit_rate@5"] == ""]
    assert len(only_mrr) == 1 and only_mrr[0]["mrr@10"] == "1.0"  # the --metrics mrr@10 run
    assert all(r["hit_rate@5"] == "1.0" for r in rows if r not in only_mrr)  # ... blanks no other row
    lines = board.output.splitlines()
    assert max(map(len, lines)) <= 120 and "3 rows" in lines[-1], board.output
    header, table = lines[0], [line for line in lines[1:] if line.startswith("local:")]
    assert "run" in header.split() and len(table) == 3
    assert len({line.split()[header.split().index("run")] for line in table}) == 3  # told apart on screen


def test_score_rejects_bad_files(tmp_path):
    (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq\tp\t1\n")
    (tmp_path / "r.trec").write_text("q Q0 p 1\n")
    result = runner.invoke(app, ["score", "--qrels", str(tmp_path / "q.tsv"), "--run", str(tmp_path / "r.trec")])
    assert result.exit_code == 2 and "r.trec:1: run line needs 6 fields" in result.output
    result = runner.invoke(app, ["score", "--qrels", str(tmp_path / "q.tsv"), "--run", str(tmp_path / "r.trec"),
                                 "--metrics", "bogus@5"])
    assert result.exit_code == 2 and "unknown metric 'bogus@5'" in result.output


def test_failed_run_leaves_no_results(local_task, tmp_path):
    (local_task / "images" / "fox.png").write_bytes(b"broken")  # checked at load, before any model
    result = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "mire", "--output", str(tmp_path / "r")])
    assert result.exit_code == 2 and "fox.png" in result.output
    assert not (tmp_path / "r").exists()


def one_line_error(result, pattern):
    """Exit status 2 and exactly one line on output: ``error: ...`` matching ``pattern``."""
    import re

    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and re.search(pattern, lines[0]), lines[0]


def test_the_run_we_write_scores_back_to_the_metrics_beside_it(local_task, tmp_path):
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(out)])
    assert result.exit_code == 0, result.output
    (run_dir,) = out.glob("local-animals-*/bm25/*")
    written = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    scored = runner.invoke(app, ["score", "--qrels", str(run_dir / "qrels.tsv"), "--run", str(run_dir / "run.trec"),
                                 "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output) == written


def test_score_reads_bom_files_and_refuses_duplicates(tmp_path):
    (tmp_path / "q.tsv").write_bytes(b"\xef\xbb\xbfquery-id\tcorpus-id\tscore\nq1\tp1\t1\n")
    (tmp_path / "r.trec").write_bytes(b"\xef\xbb\xbfq1 Q0 p2 1 2.0 t\nq1 Q0 p1 2 1.0 t\n")
    args = ["score", "--qrels", str(tmp_path / "q.tsv"), "--run", str(tmp_path / "r.trec"), "--json"]
    result = runner.invoke(app, [*args, "--metrics", "mrr@5,hit_rate@1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"mrr@5": 0.5, "hit_rate@1": 0.0}
    (tmp_path / "r.trec").write_text("q1 Q0 p2 1 2.0 t\nq1 Q0 p2 2 1.0 t\n")
    one_line_error(runner.invoke(app, args), r"r.trec:2: docid: 'p2' is ranked twice for query 'q1' \(lines 1 and 2\)")
    (tmp_path / "r.trec").write_text("q1 Q0 p2 1 nan t\n")
    one_line_error(runner.invoke(app, args), r"r.trec:1: score: not a finite number")
    (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\nq1\tp1\t0\n")
    one_line_error(runner.invoke(app, args), r"q.tsv:3: corpus-id: 'p1' is judged twice for query 'q1' \(lines 2 and 3\)")
    (tmp_path / "q.tsv").write_text("x", encoding="utf-16")
    one_line_error(runner.invoke(app, args), r"q.tsv:1: encoding: UTF-16 file")


def test_score_without_any_metric_is_an_error(tmp_path):
    (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\n")
    (tmp_path / "r.trec").write_text("q1 Q0 p1 1 1.0 t\n")
    for metrics in (",", "", " , "):
        result = runner.invoke(app, ["score", "--qrels", str(tmp_path / "q.tsv"), "--run", str(tmp_path / "r.trec"),
                                     "--metrics", metrics])
        one_line_error(result, r"--metrics: no metric named")


def test_bad_run_options_are_one_line_errors_before_any_work(local_task, tmp_path):
    base = ["run", "-t", f"local:{local_task}", "-r", "bm25"]
    out = tmp_path / "results"
    one_line_error(runner.invoke(app, [*base, "--output", str(out), "--setting", "bogus"]),
                   r"--setting: unknown value 'bogus'; known: zero-shot, aligned, fine-tuned")
    one_line_error(runner.invoke(app, [*base, "--output", str(out), "--relevance", "bogus"]),
                   r"--relevance: unknown value 'bogus'; known: gold, answer-word, answer-substring")
    assert not out.exists()
    (tmp_path / "file").write_text("not a folder")
    one_line_error(runner.invoke(app, [*base, "--output", str(tmp_path / "file")]), r"file: --output: not a directory")
    one_line_error(runner.invoke(app, [*base, "--output", str(tmp_path / "file" / "sub")]),
                   r"--output: not a directory \(.*file is a file\)")
    assert (tmp_path / "file").read_text() == "not a folder"


def test_relevance_a_local_task_cannot_use_is_an_error(tmp_path):
    from tests.helpers.local_task import make_local_task

    task = make_local_task(tmp_path / "t")  # no qrels: judged by answers only
    result = runner.invoke(app, ["run", "-t", f"local:{task}", "-r", "bm25", "--relevance", "gold",
                                 "--output", str(tmp_path / "r")])
    one_line_error(result, r"unknown relevance 'gold'; known: answer-word, answer-substring")
    result = runner.invoke(app, ["run", "-t", f"local:{task}", "-r", "bm25", "--relevance", "answer-substring",
                                 "--output", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output


BAD_LOCAL_INPUT = {
    "utf-16 queries": (lambda r: (r / "queries.jsonl").write_text('{"_id": "q", "text": "t"}\n', encoding="utf-16"),
                       r"queries.jsonl:1: encoding: UTF-16 file"),
    "invalid utf-8 corpus": (lambda r: (r / "corpus.jsonl").write_bytes(b'{"_id": "a", "text": "\xff"}\n'),
                             r"corpus.jsonl:1: encoding: invalid UTF-8"),
    "id with a space": (lambda r: (r / "corpus.jsonl").write_text('{"_id": "p fox", "text": "x"}\n'),
                        r"corpus.jsonl:1: field '_id': 'p fox' contains whitespace"),
    "duplicate judgement": (lambda r: (r / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq-fox\tp-fox\t1\nq-fox\tp-fox\t0\n"), r"test.tsv:3: corpus-id: 'p-fox' is judged twice"),
    "unknown passage": (lambda r: (r / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq-fox\tp-x\t1\n"),
                        r"test.tsv:2: corpus-id: 'p-x' is not in corpus.jsonl"),
    "truncated image": (lambda r: (r / "images" / "owl.png").write_bytes((r / "images" / "owl.png").read_bytes()[:60]),
                        r"owl.png: image of query 'q-owl': missing or corrupt"),
    "image outside": (lambda r: (r / "queries.jsonl").write_text(
        '{"_id": "q-fox", "text": "t", "image": "../fox.png"}\n'), r"queries.jsonl:1: field 'image': '../fox.png' leaves"),
}


def test_bad_local_input_through_the_command_line(local_task, tmp_path):
    for name, (mutate, pattern) in BAD_LOCAL_INPUT.items():
        task = tmp_path / name.replace(" ", "-")
        shutil.copytree(local_task, task)
        mutate(task)
        # bm25 reads no image (its runs load none); a bad image is refused for a retriever that does
        retriever = "mire" if "image" in name else "bm25"
        result = runner.invoke(app, ["run", "-t", f"local:{task}", "-r", retriever, "--output", str(tmp_path / "r")])
        one_line_error(result, pattern)
    assert not (tmp_path / "r").exists()


def test_the_installed_command_prints_one_line_on_stderr(tmp_path):
    (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\n", encoding="utf-16")
    (tmp_path / "r.trec").write_text("q1 Q0 p1 1 1.0 t\n")
    done = subprocess.run([sys.executable, "-m", "harness", "score", "--qrels", str(tmp_path / "q.tsv"),
                           "--run", str(tmp_path / "r.trec")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"error: {tmp_path / 'q.tsv'}:1: encoding: UTF-16 file; save it as UTF-8"]


USAGE_ERRORS = {
    ("run", "-t", "x", "-r", "bm25", "--k", "0"): r"--k: .*greater than or equal to 1",
    ("run", "-t", "x", "-r", "bm25", "--limit", "-1"): r"--limit: .*greater than or equal to 1",
    ("run", "-t", "x", "-r", "bm25", "--k", "abc"): r"--k: .*integer",
    ("run", "-t", "x", "-r", "bm25", "--seed", "-1"): r"--seed: .*greater than or equal to 0",
    ("run", "-t", "x", "-r", "bm25", "--seed", str(2**32)): r"--seed: .*less than or equal to 4294967295",
    ("probe", "-t", "x", "-r", "bm25", "--seed", "-1"): r"--seed: .*greater than or equal to 0",
    ("finetune", "-t", "x", "-r", "mire", "--seed", "-5"): r"--seed: .*greater than or equal to 0",
    ("finetune", "-t", "x", "-r", "mire", "--batch-size", "0"): r"--batch-size: .*greater than or equal to 1",
    ("run", "--bogus"): r"--bogus: No such option",
    ("run",): r"--task: Missing option",
    ("cache", "bogus"): r".*cache: No such command 'bogus'",
}


def test_usage_errors_are_one_line_with_status_2(capsys):
    """click draws usage errors in a box over several lines; the entry point prints one line."""
    import re

    from harness.cli import main

    for args, pattern in USAGE_ERRORS.items():
        with pytest.raises(SystemExit) as done:
            main(list(args))
        captured = capsys.readouterr()
        assert done.value.code == 2, (args, captured.err)
        lines = captured.err.splitlines()
        assert len(lines) == 1 and re.match(r"error: " + pattern, lines[0]), (args, captured.err)
    with pytest.raises(SystemExit) as done:
        main(["ls", "--help"])
    assert done.value.code == 0 and "List the registered tasks" in capsys.readouterr().out


def test_odd_metric_cut_offs_are_one_line_errors(tmp_path):
    (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\n")
    (tmp_path / "r.trec").write_text("q1 Q0 p1 1 1.0 t\n")
    for metric in ("mrr@0", "hit_rate@05", "recall@-1", "mrr@\u0665", "ndcg@", "mrr@1.5"):
        result = runner.invoke(app, ["score", "--qrels", str(tmp_path / "q.tsv"), "--run", str(tmp_path / "r.trec"),
                                     "--metrics", metric])
        one_line_error(result, rf"--metrics: '{metric}': the cut-off after '@' must be a whole number >= 1")


def test_score_json_is_valid_json_with_null_for_undefined_values(tmp_path):
    """A query judged only non-relevant leaves bpref undefined (NaN); JSON has no NaN, so it is null."""
    (tmp_path / "q.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\nq2\tp2\t0\n")
    (tmp_path / "r.trec").write_text("q1 Q0 p1 1 1.0 t\nq2 Q0 p2 1 1.0 t\n")
    result = runner.invoke(app, ["score", "--qrels", str(tmp_path / "q.tsv"), "--run", str(tmp_path / "r.trec"),
                                 "--metrics", "bpref,mrr@5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output, parse_constant=lambda c: pytest.fail(f"not JSON: {c}")) == \
        {"bpref": None, "mrr@5": 0.5}


def test_run_summary_names_only_computed_metrics(local_task, tmp_path):
    done = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(tmp_path / "r"),
                               "--metrics", "ndcg@10,mrr@5"])
    assert done.exit_code == 0, done.output
    assert "mrr@5=1.0000" in done.output and "nan" not in done.output.lower()
    assert "hit_rate@5" not in done.output and "recall@100" not in done.output


def test_a_seed_out_of_range_is_refused_by_the_settings_themselves(tmp_path):
    """Library callers (not only the CLI's --seed range) get the one-line error."""
    from harness.core.errors import MireEvalError
    from harness.evaluation.pipeline import RunSettings

    with pytest.raises(MireEvalError, match=r"^--seed: -1: must be between 0 and 2\*\*32 - 1$"):
        RunSettings(task="sample", retriever="bm25", output=tmp_path, seed=-1)
    assert RunSettings(task="sample", retriever="bm25", output=tmp_path, seed=2**32 - 1).seed == 2**32 - 1
