"""What a user reads: `ls` listings, the unknown-task error, and the printed leaderboard."""

import csv
import json
import re

from typer.testing import CliRunner

from harness.cli import app
from harness.evaluation.results import LEADERBOARD_METRICS, write_marker
from tasks.registry import TASKS

runner = CliRunner()


def test_ls_lists_local_path_under_tasks_only():
    out = runner.invoke(app, ["ls"]).output
    tasks, retrievers = out.split("retrievers:")
    assert "local:PATH" in tasks and "local:PATH" not in retrievers
    assert "local:PATH" in runner.invoke(app, ["ls", "tasks"]).output
    assert "local:PATH" not in runner.invoke(app, ["ls", "retrievers"]).output


def test_unknown_task_error_mentions_local_path():
    result = runner.invoke(app, ["run", "--task", "nope", "--retriever", "bm25"])
    assert result.exit_code == 2
    assert "unknown task 'nope'" in result.output and "local:PATH" in result.output


def _result(root, task, retriever, view, metrics, limit=None, probe=None):
    slug = task.replace(":", "-").replace("/", "_")
    directory = root / slug / retriever / f"zero-shot-{view}-test-0123456789"
    directory.mkdir(parents=True)
    (directory / "metrics.json").write_text(json.dumps({
        "task": task, "retriever": retriever, "setting": "zero-shot", "view": view, "split": "test",
        "checkpoint": None, "limit": limit, "created": "2026-01-01T00:00:00", "metrics": metrics,
        "n_queries": 12, "n_without_relevant": 0}))
    if probe is not None:
        (directory / "probe.json").write_text(json.dumps({"indices": {"text_dominance": probe}}))
    write_marker(directory)


def test_leaderboard_table_fits_120_columns_with_task_names_and_paper_names(tmp_path):
    local = f"local:{tmp_path}/some/deep/folder/diag-copy"
    full = {m: 0.5 for m in LEADERBOARD_METRICS}
    _result(tmp_path, "okvqa", "bm25", "full", full, probe=0.25)
    _result(tmp_path, "remuq", "colbertv2", "full", {**full, "hit_rate@5": None}, limit=10)
    _result(tmp_path, local, "mire", "text", {m: float("nan") for m in LEADERBOARD_METRICS})
    result = runner.invoke(app, ["leaderboard", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 120, result.output
    assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b", result.output), result.output
    table = "\n".join(lines[:-1])  # the last line names leaderboard.csv's path
    assert str(tmp_path) not in table and "local:diag-copy" in table
    header, paper = lines[0], lines[1]
    # the paper names sit under the ranx names, read from each task's TaskSpec
    at = header.index("hit_rate@5")
    assert paper[at: at + len("hit_rate@5")].strip() == "(R@5/PR@5)"
    assert "(MRR@5)" in paper  # okvqa's and remuq's specs name MRR@5 too
    declared = TASKS.get("okvqa").paper_metric
    assert "PR@5" in declared  # the header follows the declaration, not a table in the code
    # the CSV keeps every column, full precision, paths included
    with open(tmp_path / "leaderboard.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"path", "created", "checkpoint", *LEADERBOARD_METRICS} <= set(rows[0])
    assert any(r["task"] == local for r in rows)


def test_leaderboard_without_paper_names_has_a_one_line_header():
    from harness.evaluation.leaderboard_table import format_leaderboard

    text = format_leaderboard([{"task": "local:/a/b", "retriever": "bm25", "view": "full", "mrr@5": 0.25}])
    assert text.splitlines() == ["task     retriever  view   mrr@5", "local:b  bm25       full  0.2500"]


def test_two_local_tasks_of_one_folder_name_keep_apart_in_results_and_in_the_table(tmp_path):
    from harness.evaluation.leaderboard_table import format_leaderboard
    from tasks.base import task_slug

    a, b = f"local:{tmp_path}/a/base", f"local:{tmp_path}/b/base"
    assert task_slug(a) != task_slug(b) and task_slug(a).startswith("local-base-")
    assert task_slug(a) == task_slug(f"local:{tmp_path}/b/../a/base/")  # the resolved path names it
    assert task_slug("diagnostic") == "diagnostic" and task_slug("okvqa") == "okvqa"
    text = format_leaderboard([{"task": t, "retriever": "bm25", "view": "full", "mrr@5": 0.25} for t in (a, b)])
    labels = [line.split()[0] for line in text.splitlines()[1:]]
    assert len(set(labels)) == 2 and all(label.startswith("local:base-") for label in labels), text
    assert task_slug(a).endswith(labels[0].rsplit("-", 1)[1])  # the label names the results folder's hash
    # alone, a local task keeps its plain name
    assert format_leaderboard([{"task": a, "retriever": "bm25"}]).splitlines()[1].split()[0] == "local:base"


def test_leaderboard_csv_is_written_through_a_unique_temporary_file(tmp_path, monkeypatch):
    import os

    from harness.evaluation.results import write_leaderboard

    (tmp_path / "leaderboard.tmp").write_text("someone else's scratch file")
    replaced = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (replaced.append(str(src)), real(src, dst))[1])
    write_leaderboard([{"task": "okvqa", "mrr@5": 0.5}], tmp_path / "leaderboard.csv")
    assert (tmp_path / "leaderboard.tmp").read_text() == "someone else's scratch file"
    assert len(replaced) == 1 and replaced[0] != str(tmp_path / "leaderboard.tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard.csv", "leaderboard.tmp"]
    assert list(csv.DictReader(open(tmp_path / "leaderboard.csv"))) == [{"task": "okvqa", "mrr@5": "0.5"}]
