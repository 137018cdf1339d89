"""Results are never torn, stale, or served from other data.

* stale: editing a data file the task read, or one byte of the checkpoint, means a new run;
* crash windows: a process killed at each step of writing a run folder leaves either the old
  complete folder or the new one, never a folder that reuse, leaderboard or plot take as finished;
* concurrency: identical runs started together all succeed, one computes, the others reuse.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.evaluation.pipeline import RunSettings, run_evaluation
from harness.evaluation.results import MARKER, is_complete, leaderboard
from retrievers.bm25 import BM25Retriever
from tasks.base import LoadOptions, task_slug


def _run(task_dir: Path, out: Path, **kw):
    return run_evaluation(RunSettings(task=f"local:{task_dir}", retriever="bm25", output=out, **kw))


def _folders(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*/*/*") if p.is_dir())


# --------------------------------------------------------------------------------------------
# Stale results
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit", ["corpus.jsonl", "qrels/test.tsv"])
def test_editing_a_data_file_the_task_read_is_not_reused(local_task, tmp_path, edit):
    out = tmp_path / "res"
    first = _run(local_task, out)
    assert not first.reused and _run(local_task, out).reused  # unchanged: reused
    path = local_task / edit
    if edit == "corpus.jsonl":  # the fox passage loses the words its query matches on
        path.write_text(path.read_text().replace("Red fox", "Empty").replace("The red fox hunts voles", "Nothing"))
    else:  # the fox query's relevant passage becomes the owl's
        path.write_text(path.read_text().replace("q-fox\tp-fox", "q-fox\tp-owl"))
    again = _run(local_task, out)
    assert not again.reused and again.metrics["hit_rate@1"] < first.metrics["hit_rate@1"]
    assert again.directory != first.directory
    recorded = json.loads((again.directory / "meta.json").read_text())["identity"]["inputs"]
    assert str(path.resolve()) in recorded
    assert _run(local_task, out).reused


def test_editing_one_checkpoint_byte_is_not_reused(local_task, tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "weights.bin").write_bytes(bytes(range(256)) * 4)

    def run():  # the retriever is handed in: the checkpoint only enters through the identity
        return run_evaluation(RunSettings(task=f"local:{local_task}", retriever="bm25", checkpoint=str(ckpt),
                                          output=tmp_path / "res"), retriever=BM25Retriever())

    first = run()
    assert run().reused
    data = bytearray((ckpt / "weights.bin").read_bytes())
    data[500] ^= 1
    (ckpt / "weights.bin").write_bytes(bytes(data))
    assert not run().reused
    assert run().reused and len(_folders(tmp_path / "res")) == 2 and first.directory.exists()


def test_a_skipped_image_restored_or_broken_later_is_another_run(local_task, tmp_path):
    """--skip-missing-images: which queries survive is part of the run, not only the data files."""
    out, image = tmp_path / "res", local_task / "images" / "owl.png"
    full = _run(local_task, out, load=LoadOptions(skip_missing_images=True))
    assert json.loads((full.directory / "metrics.json").read_text())["n_queries"] == 3
    kept = image.read_bytes()
    image.unlink()
    fewer = _run(local_task, out, load=LoadOptions(skip_missing_images=True))
    assert not fewer.reused and fewer.directory != full.directory
    assert json.loads((fewer.directory / "metrics.json").read_text())["n_queries"] == 2
    image.write_bytes(kept[: len(kept) // 2])  # back, but broken: the same two queries
    assert _run(local_task, out, load=LoadOptions(skip_missing_images=True)).directory == fewer.directory
    image.write_bytes(kept)  # restored: the three-query result again, never the two-query one
    again = _run(local_task, out, load=LoadOptions(skip_missing_images=True))
    assert again.reused and again.directory == full.directory
    assert json.loads((again.directory / "metrics.json").read_text())["n_queries"] == 3
    # without the flag the query set follows from the data files: the tag it always had
    plain = RunSettings(task=f"local:{local_task}", retriever="bm25", output=out)
    assert "queries" not in plain.identity({}, ["q-fox"]) and plain.identity({}, ["q-fox"]) == plain.identity({})


# --------------------------------------------------------------------------------------------
# Crash windows: a child process killed (os._exit, no clean-up) at each step of the write
# --------------------------------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    import harness.evaluation.pipeline as evaluate
    import harness.evaluation.results as results
    step = sys.argv[3]
    evaluate.seed_everything = lambda seed: None  # bm25 draws nothing; spares the child a torch import
    def die(at):
        if at == step:
            os._exit(137)
    if step == "writing":  # after meta.json, before metrics.json
        real = evaluate.write_json
        def write_json(path, obj):
            die("writing" if Path(path).name == "metrics.json" else "")
            real(path, obj)
        evaluate.write_json = write_json
    elif step == "unsealed":  # every file written, no marker yet
        def write_marker(directory):
            die("unsealed")
        results.write_marker = write_marker
    else:
        results._after_step = die
    evaluate.run_evaluation(evaluate.RunSettings(task="local:" + sys.argv[1], retriever="bm25",
                                                 output=Path(sys.argv[2]), overwrite=True))
    sys.exit(3)  # not killed: the step was never reached
""")


@pytest.mark.slow
@pytest.mark.parametrize("step", ["writing", "unsealed", "sealed", "set-aside", "in-place"])
def test_a_write_killed_at_any_step_never_leaves_a_torn_or_missing_result(local_task, tmp_path, step):
    out = tmp_path / "res"
    old = _run(local_task, out)
    old_meta = (old.directory / "meta.json").read_text()
    child = subprocess.run([sys.executable, "-c", CHILD, str(local_task), str(out), step],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 137, child.stderr

    if step == "set-aside":  # the old result waits beside, complete ...
        assert not old.directory.exists()
    rows = leaderboard(out)  # never a row for a scratch or set-aside folder
    assert all(Path(r["path"]) == old.directory for r in rows)
    # ... and the leaderboard moves it back: the previous good result stays listed
    assert is_complete(old.directory) and len(rows) == 1
    assert (old.directory / "meta.json").read_text() == old_meta or step == "in-place"
    again = _run(local_task, out)
    assert again.reused and again.directory == old.directory and is_complete(again.directory)
    if step != "in-place":  # the killed writer never replaced the old result
        assert (again.directory / "meta.json").read_text() == old_meta
    assert [p.name for p in _folders(out)] == [old.directory.name]  # scratch and old folders tidied


def test_a_set_aside_result_of_a_live_writer_is_left_to_it(local_task, tmp_path):
    """A writer holding the run's lock is mid-overwrite: leaderboard does not move its folders."""
    from harness.evaluation.results import restore_set_aside, run_lock

    out = tmp_path / "res"
    final = _run(local_task, out).directory
    aside = final.parent / f".{final.name}.123-abcdef01.old"
    final.rename(aside)
    with run_lock(final):
        assert leaderboard(out) == [] and aside.exists() and not final.exists()
    assert restore_set_aside(out) == [final] and is_complete(final) and not aside.exists()


def test_a_first_run_killed_before_its_seal_is_neither_listed_nor_reused(local_task, tmp_path, capsys):
    out = tmp_path / "res"
    child = subprocess.run([sys.executable, "-c", CHILD, str(local_task), str(out), "sealed"],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 137, child.stderr
    assert leaderboard(out) == []
    # a visible folder that lacks files (e.g. copied by hand) is skipped with one warning line
    fake = out / task_slug(f"local:{local_task}") / "bm25" / "zero-shot-full-test-0000000000"
    fake.mkdir(parents=True)
    (fake / "metrics.json").write_text("{}")
    assert leaderboard(out) == []
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == [f"warning: {fake}: incomplete results folder (no valid {MARKER}); skipped"]
    assert not _run(local_task, out).reused


def test_a_marker_that_does_not_match_the_files_is_not_complete(local_task, tmp_path):
    result = _run(local_task, tmp_path / "res")
    (result.directory / "run.trec").write_text("")
    assert not is_complete(result.directory)
    assert not _run(local_task, tmp_path / "res").reused


# --------------------------------------------------------------------------------------------
# Identical runs started together
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_six_identical_runs_started_together(tmp_path):
    """Rounds alternate plain and --overwrite; MIRE_EVAL_STRESS_ROUNDS=N runs more of them."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "harness", "run", "--task", "sample", "--retriever", "bm25"]
    rounds = int(os.environ.get("MIRE_EVAL_STRESS_ROUNDS", "2"))
    for round_, extra in enumerate([[], ["--overwrite"]][i % 2] for i in range(rounds)):
        out = tmp_path / f"round{round_}"
        procs = [subprocess.Popen([*command, "--output", str(out), *extra], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(6)]
        results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
        for rc, stdout, stderr in results:
            assert rc == 0 and "Traceback" not in stderr, stderr
        lines = [stdout.strip().splitlines()[-1] for _, stdout, _ in results]
        reused = [line for line in lines if "(reused)" in line]
        assert len(reused) == (0 if extra else 5), lines  # one computes, the others wait and reuse
        assert len({line.replace(" (reused)", "") for line in lines}) == 1  # same numbers, same folder
        (folder,) = _folders(out)
        assert is_complete(folder)
        assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no scratch left


def _same_size_damage(path: Path, kind: str) -> None:
    """Damage a sealed file without changing its size (the seal records sizes only)."""
    data = bytearray(path.read_bytes())
    if kind == "list":  # valid JSON, but not the object every reader expects
        data = b"[" + b" " * (len(data) - 2) + b"]"
    else:
        data[1:3] = b"\xff\xfe" if kind == "utf8" else b"{{"
    path.write_bytes(bytes(data))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["metrics.json", "meta.json", "per_query.csv"])
@pytest.mark.parametrize("kind", ["utf8", "syntax", "list"])
def test_a_damaged_file_in_a_sealed_folder_is_one_line_for_every_reader(local_task, tmp_path, name, kind):
    # leaderboard, compare and report read results folders with open()/json.load: a sealed file
    # damaged in place (same size) was a UnicodeDecodeError / JSONDecodeError traceback
    from typer.testing import CliRunner

    from harness.cli import app

    out = tmp_path / "results"
    for view in ("full", "text"):
        _run(local_task, out, view=view)
    first, second = _folders(out)
    _same_size_damage(second / name, kind)
    if name == "per_query.csv" and kind != "utf8":
        return  # "{{" is a valid CSV cell, "[ ]" a CSV without rows
    assert is_complete(second)
    runner = CliRunner()
    for args in (["leaderboard", "--output", str(out), "--baseline", str(first)],
                 ["compare", str(first), str(second)],
                 ["report", "--output", str(out)]):
        done = runner.invoke(app, args)
        if done.exit_code == 0:  # a command that does not read this file (compare reads no meta.json)
            continue
        lines = done.output.strip().splitlines()
        assert done.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, done.output)
        assert str(second / name) in lines[0], (args, lines[0])
        if args[0] == "report":
            assert not (out / "report.html").exists()


def test_the_report_never_shows_data_edited_since_the_run_as_the_runs(local_task, tmp_path):
    # the drill-down loaded the task as it is now: an edited corpus showed new passage texts
    # beside the old run's ranks, as if the run had seen them
    from harness.report.collect import load_task_data

    out = tmp_path / "res"
    _run(local_task, out)
    (row,) = leaderboard(out)
    data, why = load_task_data(row)
    assert data is not None and why is None
    corpus = local_task / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("Red fox", "Grey wolf"))
    data, why = load_task_data(row)
    assert data is None and f"{corpus.resolve()}: changed since the run" in why
