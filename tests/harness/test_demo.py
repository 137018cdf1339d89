"""``mire-eval demo`` at a small size: every row runs through run_probe / run_training, the
summary prints what the written probe.json files hold, and a second demo retrains nothing,
reprobes nothing and redraws nothing."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

import harness.demo.run as demo

from harness.demo.summary import read_row, summary_text

pytestmark = pytest.mark.slow  # every test here shares one run of the whole demo (a module fixture)

SMALL = dict(limit=12, text_layers=1,
             align={**demo.ALIGN, "max_steps": 2, "batch_size": 8},
             finetune={**demo.FINETUNE, "max_steps": 1, "batch_size": 8},
             preflmr_align={**demo.PREFLMR_ALIGN, "max_steps": 1, "batch_size": 8},
             jfe_stage1={**demo.JFE_STAGE1, "max_steps": 1, "batch_size": 8},
             jfe_stage2={**demo.JFE_STAGE2, "max_steps": 1, "batch_size": 8},
             jfe_sizes={**demo.JFE_SIZES, "hidden": 32, "vision_dim": 32})
pytestmark = pytest.mark.slow  # trains four small models and probes six rows

LABELS = ["bm25 (zero-shot)", "colbertv2 (zero-shot)", "mire (zero-shot)", "mire (aligned)", "mire (fine-tuned)",
          "preflmr (aligned)", f"jfe ({demo.JFE_LABEL})"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    patch = pytest.MonkeyPatch()
    patch.setenv("MIRE_EVAL_DATA", str(root / "cache"))
    config = demo.DemoConfig(output=root / "results", **SMALL)
    first = demo.run_demo(config, echo=lambda line: None)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished step ran again")

    import harness.training.launch
    import harness.probe.plots
    import harness.probe.views

    with pytest.MonkeyPatch.context() as again:
        for module, name in ((harness.training.launch, "run_training"), (harness.probe.views, "run_probe"),
                             (harness.probe.plots, "plot_results")):
            again.setattr(module, name, must_not_run)
        second = demo.run_demo(config, echo=lambda line: None)
    yield root, first, second
    patch.undo()


def test_every_row_is_probed_and_on_the_leaderboard(runs):
    root, first, _ = runs
    assert [r["label"] for r in first.rows] == LABELS
    board = list(csv.DictReader(open(root / "results" / "leaderboard.csv")))
    on_board = {(r["retriever"], r["setting"]) for r in board}
    for row in first.rows:
        probe = json.loads((root / row["directory"] / "probe.json").read_text())
        assert (probe["retriever"], probe["setting"]) == (row["retriever"], row["setting"])
        assert probe["n_queries"] == 12 and set(probe["views"]) == {"full", "text", "image", "swap"}
        assert (row["retriever"], row["setting"]) in on_board
    names = {p.name for p in first.figures}
    assert {"probe_views.png", "leaderboard.png", "attribution.png"} <= names
    assert all(p.exists() for p in first.figures)
    # trained checkpoints live in the cache and record where their training started
    events = {e["what"]: e for e in first.events}
    trained = Path(events["mire fine-tuning (finetune stage)"]["path"])
    assert trained.is_relative_to(root / "cache")
    finetuned = json.loads((trained / "training.json").read_text())
    assert finetuned["stage"] == "finetune" and finetuned["checkpoint"] == events["mire alignment (pretrain stage)"]["path"]
    assert all(e["cache"] == "built" for e in first.events)


def test_second_demo_reuses_every_run_and_checkpoint(runs):
    root, first, second = runs
    assert [e["what"] for e in second.events] == [e["what"] for e in first.events]
    assert all(e["cache"] == "hit" for e in second.events), second.events
    assert [r["directory"] for r in second.rows] == [r["directory"] for r in first.rows]
    assert all(r["reused"] for r in second.rows)
    logged = json.loads((root / "results" / "demo.json").read_text())
    assert {e["cache"] for e in logged["events"]} == {"hit"}


def test_summary_numbers_are_the_written_ones(runs):
    root, first, _ = runs
    text = summary_text(first.rows, first.output, first.figures, first.seconds)
    lines = {line[:45].strip(): line[45:].split() for line in text.splitlines()}
    for row in first.rows:
        probe = json.loads((root / row["directory"] / "probe.json").read_text())
        printed = [None if x == "-" else float(x) for x in lines[row["label"]]]
        full = probe["views"]["full"]["metrics"]["hit_rate@1"]
        by_type = probe["by_type"]["image-needed"]["views"]["full"]["metrics"]["hit_rate@1"]
        dominance = probe["indices"]["text_dominance"]
        assert printed == [round(full, 3), round(by_type, 3), None if dominance is None else round(dominance, 3)]
        assert read_row(row["directory"])["all"] == full
    # chance comes from the task's diagnostic.json, carried in probe.json
    chance = json.loads((root / first.rows[0]["directory"] / "probe.json").read_text())["chance"]
    n = chance["n_objects"]
    assert chance["random"]["hit_rate@1"] == pytest.approx(1 / n)
    assert re.search(rf"chance: random ranking\s+1/{n}\s+1/{n}", text)
    assert str(root / "results" / "diagnostic" / "probe_views.png") in text


def test_cli_demo_prints_and_writes_the_summary(runs, monkeypatch):
    """`mire-eval demo` at the fixture's size (same cache and output: every step reused)."""
    import functools

    from typer.testing import CliRunner

    from harness.cli import app

    root, first, _ = runs
    monkeypatch.setenv("MIRE_EVAL_DATA", str(root / "cache"))  # the fixture's cache, not this test's own
    small = {k: v for k, v in SMALL.items() if k != "limit"}
    monkeypatch.setattr(demo, "DemoConfig", functools.partial(demo.DemoConfig, **small))
    result = CliRunner().invoke(app, ["demo", "--output", str(root / "results"), "--limit", "12"])
    assert result.exit_code == 0, result.output
    written = (root / "results" / "demo_summary.txt").read_text()
    assert written.strip() in result.output
    assert "total time" in written and "bm25 (zero-shot)" in written
    assert result.output.count(": reused") == len(first.events)
    report = root / "results" / "report.html"
    assert f"report: {report}" in result.output and "mire (fine-tuned)" in report.read_text()
