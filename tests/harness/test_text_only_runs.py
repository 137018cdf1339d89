"""Runs that never read an image (a text-only retriever, --view text) need no images on disk,
and a reused bm25 run imports no torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.options import CommandOptions

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tasks" / "data" / "sample"


@pytest.fixture
def imageless(tmp_path, monkeypatch):
    """The sample task in the local format, its images folder removed."""
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "cache"))
    task = tmp_path / "task"
    shutil.copytree(SAMPLE, task)
    shutil.rmtree(task / "images")
    return task


def test_bm25_runs_without_the_tasks_images(imageless, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["run", "--task", f"local:{imageless}", "--retriever", "bm25", "--output", str(tmp_path / "out")])
    assert done.value.code == 0, capsys.readouterr().err
    # the same numbers as with the images present (bm25 never reads them)
    with pytest.raises(SystemExit):
        main(["run", "--task", f"local:{SAMPLE}", "--retriever", "bm25", "--output", str(tmp_path / "with")])
    without = json.loads(next((tmp_path / "out").rglob("metrics.json")).read_text())["metrics"]
    with_images = json.loads(next((tmp_path / "with").rglob("metrics.json")).read_text())["metrics"]
    assert without == with_images


def test_an_image_reading_run_still_refuses_missing_images(imageless, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["run", "--task", f"local:{imageless}", "--retriever", "mire", "--output", str(tmp_path / "out")])
    assert done.value.code == 2
    assert "image of query" in capsys.readouterr().err


def test_text_view_and_text_only_retrievers_load_no_images(imageless):
    from tasks.loading import load_task

    for retriever, view in (("bm25", "full"), ("colbertv2", "full"), ("mire", "text"), ("jfe", "text")):
        opts = CommandOptions(task=f"local:{imageless}", retriever=retriever, view=view)
        data = load_task(opts.task, opts.load())
        assert len(data.queries) == 10 and all(q.image is None for q in data.queries), (retriever, view)
    full = CommandOptions(task=f"local:{SAMPLE}", retriever="mire", view="full")
    assert all(q.image is not None for q in load_task(full.task, full.load()).queries)


@pytest.mark.slow  # two fresh interpreters
def test_a_reused_bm25_run_imports_no_torch(tmp_path):
    env = {**os.environ, "MIRE_EVAL_DATA": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    command = ["run", "--task", "sample", "--retriever", "bm25", "--output", str(tmp_path / "out")]
    script = ("import sys\nfrom harness.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
              "    assert not e.code, e.code\nprint('torch' in sys.modules)")
    first = subprocess.run([sys.executable, "-c", script, *command], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([sys.executable, "-c", script, *command], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "(reused)" in again.stdout and again.stdout.strip().endswith("False"), again.stdout


@pytest.mark.slow  # a probe with paired tests
def test_a_finished_probe_is_reused_and_its_options_are_part_of_its_identity(tmp_path, monkeypatch):
    import harness.probe.views
    from harness.evaluation.pipeline import RunSettings

    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "cache"))
    settings = RunSettings(task="sample", retriever="bm25", output=tmp_path / "out")
    first = harness.probe.views.run_probe(settings)
    assert not first.get("reused") and first["probe_identity"]["attention_queries"] == 4
    calls = []
    monkeypatch.setattr(harness.probe.views, "search_and_attribute",
                        lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(AssertionError("probed again")))
    again = harness.probe.views.run_probe(settings)
    assert again["reused"] and again["directory"] == first["directory"] and calls == []
    assert again["views"] == first["views"]
    with pytest.raises(AssertionError, match="probed again"):  # other options: probed again
        harness.probe.views.run_probe(settings, attention_queries=2)
