"""The options ``run``, ``probe``, ``finetune`` and ``pretrain`` share are declared once, spelt and
explained alike; ``--output`` is the output flag of every command that writes."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from harness.cli import app
from harness.cli.options import FLAGS

runner = CliRunner()


def params(name: str) -> dict:
    command = typer.main.get_command(app).commands[name]
    return {p.name: p for p in command.params}


def spellings(flag: str) -> set[str]:
    decls = FLAGS[flag].decls or (f"--{flag.replace('_', '-')}",)
    return set(decls)


def test_shared_flags_are_the_same_option_in_every_command():
    commands = {name: params(name) for name in ("run", "probe", "finetune", "pretrain")}
    assert set(FLAGS) <= set(commands["run"])  # run takes them all
    assert "view" not in commands["probe"] and {"search", "search_option"} <= set(commands["finetune"])
    for flag in set(FLAGS) - {"seed"}:  # seed: the trainer's own flag in finetune and pretrain
        seen = [cmd[flag] for cmd in commands.values() if flag in cmd]
        for option in seen:
            assert spellings(flag) <= set(option.opts) | set(option.secondary_opts), (flag, option.opts)
            assert option.default == seen[0].default and option.multiple == seen[0].multiple, flag
    assert commands["probe"]["seed"].default == commands["run"]["seed"].default == 0
    assert "seed" in commands["finetune"] and commands["finetune"]["seed"].default is None


@pytest.mark.parametrize("command", ["run", "probe", "finetune", "leaderboard", "plot", "demo",
                                     "make-diagnostic", "build-r2p", "pretrain", "offline-models"])
def test_every_command_that_writes_takes_output(command):
    options = params(command)
    assert any("--output" in option.opts for option in options.values())
    if "out" in options:  # the old spelling, kept for scripts, not shown
        assert options["out"].hidden and options["out"].opts == ["--out"]


def test_make_diagnostic_reads_the_old_out_and_refuses_contradictions(tmp_path):
    old = runner.invoke(app, ["make-diagnostic", "--out", str(tmp_path / "old")])
    assert old.exit_code == 0, old.output
    assert (tmp_path / "old" / "diagnostic.json").is_file()
    both = runner.invoke(app, ["make-diagnostic", "--output", str(tmp_path / "a"), "--out", str(tmp_path / "b")])
    assert both.exit_code == 2 and both.output.strip().splitlines() == [
        f"error: --out {tmp_path / 'b'}: contradicts --output {tmp_path / 'a'} (--out is the old name of --output)"]
    neither = runner.invoke(app, ["make-diagnostic"])
    assert neither.exit_code == 2 and neither.output.strip().startswith("error: --output: missing")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_metrics_flag_chooses_what_run_scores(local_task, tmp_path):
    out = tmp_path / "results"
    done = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(out),
                               "--metrics", "hit_rate@5,mrr@5"])
    assert done.exit_code == 0, done.output
    (metrics,) = out.rglob("metrics.json")
    assert set(json.loads(metrics.read_text())["metrics"]) == {"hit_rate@5", "mrr@5"}
    bad = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(out),
                              "--metrics", "hit_rat@5"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
    assert bad.output.startswith("error: --metrics: unknown metric 'hit_rat@5'")


def test_unknown_device_is_refused_for_every_retriever_also_without_the_cli(local_task, tmp_path):
    # bm25 never touches torch, so no retriever caught --device gpu: it ran and labelled the card
    # "gpu"; the command line checks the flag, RunSettings checks it for every other caller
    from harness.core.errors import MireEvalError
    from harness.evaluation.pipeline import RunSettings

    with pytest.raises(MireEvalError, match=r"^--device: unknown device 'gpu'; known: cpu, cuda, cuda:N, mps$"):
        RunSettings(task=f"local:{local_task}", retriever="bm25", output=tmp_path / "results", device="gpu")
    assert not (tmp_path / "results").exists()


def test_cuda_without_a_gpu_is_one_line_for_every_retriever(local_task, tmp_path):
    # bm25 ran with --device cuda on a CPU-only machine and its efficiency card said device "cuda"
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "results"
    bad = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--output", str(out),
                              "--device", "cuda"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1, bad.output
    assert bad.output.startswith("error: --device: 'cuda': CUDA is not available on this machine")
    assert not out.exists() or not any(out.rglob("metrics.json"))


@pytest.mark.parametrize("checkpoint, said", [
    ("owner/name@", "the revision after '@' is empty"),
    ("owner/name@@x", "revision '@x' is not a branch, tag or commit name"),
    ("@abc", "nothing before '@'"),
])
def test_a_malformed_hub_revision_is_one_line_before_anything_runs(local_task, tmp_path, checkpoint, said):
    from typer.testing import CliRunner

    from harness.cli import app

    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--checkpoint", checkpoint,
                                      "--output", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: --checkpoint {checkpoint}: {said}"), result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
