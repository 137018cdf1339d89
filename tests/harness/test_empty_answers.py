"""Queries whose answer is empty after strip(): counted in meta.json and the run's summary line,
judged by the named rule (--empty-answers)."""

import json

from typer.testing import CliRunner

from harness.cli import app


def write_task(root):
    from tests.conftest import make_local_task

    make_local_task(root)
    lines = (root / "queries.jsonl").read_text().splitlines()
    crab = json.loads(lines[3])
    crab["answers"] = [" "]  # the release's empty answer
    lines[3] = json.dumps(crab)
    (root / "queries.jsonl").write_text("\n".join(lines) + "\n")
    return root


def run(task, out, *extra):
    return CliRunner().invoke(app, ["run", "--task", f"local:{task}", "--retriever", "bm25", "--output", str(out),
                                    *extra])


def test_empty_answers_are_counted_and_judged_by_the_named_rule(tmp_path):
    task = write_task(tmp_path / "animals")
    default = run(task, tmp_path / "results")
    assert default.exit_code == 0, default.output
    assert ", 1 queries with an empty answer (ignore) -> " in default.output
    folder = next((tmp_path / "results").rglob("meta.json")).parent
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["task"]["queries_with_empty_answer"] == 1 and meta["task"]["empty_answers"] == "ignore"
    assert "empty_answers" not in meta["identity"]["load"]  # the default keeps earlier identities
    assert "q-crab" not in (folder / "qrels.tsv").read_text()

    reference = run(task, tmp_path / "ref", "--empty-answers", "all-relevant")
    assert reference.exit_code == 0, reference.output
    assert ", 1 queries with an empty answer (all-relevant) -> " in reference.output
    folder = next((tmp_path / "ref").rglob("meta.json")).parent
    judged = [line.split("\t")[1] for line in (folder / "qrels.tsv").read_text().splitlines() if line.startswith("q-crab")]
    assert len(judged) == 5  # every passage of the corpus
    assert json.loads((folder / "meta.json").read_text())["identity"]["load"]["empty_answers"] == "all-relevant"


def test_an_unknown_rule_is_one_line(tmp_path):
    result = run(write_task(tmp_path / "animals"), tmp_path / "results", "--empty-answers", "some")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --empty-answers: unknown value 'some'; known: ignore, all-relevant"
