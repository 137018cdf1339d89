"""The ``mire-eval`` command line.

Only typer and the lazy registries are imported here, so ``--help`` and ``ls`` answer at
once; each command imports what it needs when it runs. Extension modules (``cli_data``,
``cli_train``, ``cli_r2p``, ``cli_probe``) add their commands through ``register(app)``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Optional

import typer

from harness.cli.options import CommandOptions, shared_options
from harness.core.errors import MireEvalError, user_errors
from retrievers.registry import RETRIEVERS
from tasks.registry import TASKS

app = typer.Typer(
    name="mire-eval",
    help="Evaluate multimodal-query retrievers (image + question -> passage), and probe what they rely on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXTENSIONS = ("harness.cli.data", "harness.cli.train", "harness.cli.r2p", "harness.cli.probe", "harness.cli.cache",
              "harness.cli.offline", "harness.cli.stats")


@app.command("ls")
def ls(what: str = typer.Argument("all", help="tasks, retrievers or all")) -> None:
    """List the registered tasks and retrievers."""
    with user_errors():
        registries = {"tasks": TASKS, "retrievers": RETRIEVERS}
        if what not in (*registries, "all"):
            raise MireEvalError(f"unknown listing {what!r}; known: tasks, retrievers, all")
        for name, registry in registries.items():
            if what in (name, "all"):
                typer.echo(f"{name}:")
                for entry in registry.entries():
                    typer.echo(f"  {entry.name:15s} {entry.summary}")


RUN_FLAGS = ("task", "retriever", "checkpoint", "split", "k", "limit", "device", "view", "setting", "output",
             "overwrite", "data_dir", "image_dir", "skip_missing_images", "relevance", "empty_answers", "option",
             "search", "search_option", "seed", "metrics")


@app.command("run")
@shared_options(*RUN_FLAGS)
def run(opts: CommandOptions) -> None:
    """Evaluate one retriever on one task; writes OUTPUT/<task>/<retriever>/<tag>/."""
    with user_errors():
        from harness.evaluation.pipeline import run_evaluation

        RETRIEVERS.entry(opts.retriever)  # unknown names fail before any loading
        settings = opts.run_settings()
        result = run_evaluation(settings)
        m = result.metrics
        search = "" if opts.search == "exact" else f", search {opts.search}"
        typer.echo(f"{opts.task} / {opts.retriever} ({settings.setting}, {opts.view}{search}): "
                   f"{summary_metrics(m)}{' (reused)' if result.reused else ''}{empty_answer_note(result.directory)}"
                   f" -> {result.directory}{''.join(f'; {note}' for note in result.notes)}")


def empty_answer_note(directory) -> str:
    """``, N queries with an empty answer (rule R)`` from the run's meta.json; ``""`` when none."""
    import json

    try:
        task = json.loads((directory / "meta.json").read_text()).get("task", {})
    except (OSError, ValueError):
        return ""
    n = task.get("queries_with_empty_answer") or 0
    return f", {n} queries with an empty answer ({task.get('empty_answers', 'ignore')})" if n else ""


SUMMARY_METRICS = ("hit_rate@5", "mrr@5", "recall@100")


def summary_metrics(metrics: dict[str, float]) -> str:
    """The run's one-line summary: hit_rate@5, mrr@5 and recall@100 where computed, else the first
    three metrics ``--metrics`` asked for; never a metric that was not computed.

    >>> summary_metrics({"mrr@5": 0.5, "ndcg@10": 0.25})
    'mrr@5=0.5000'
    >>> summary_metrics({"ndcg@10": 0.25, "bpref": 1.0})
    'ndcg@10=0.2500 bpref=1.0000'
    """
    names = [n for n in SUMMARY_METRICS if n in metrics] or list(metrics)[:3]
    return " ".join(f"{n}={metrics[n]:.4f}" for n in names)


def json_number(value: float) -> float | None:
    """A metric for ``--json``: JSON has no NaN or infinity (RFC 8259 section 6), so those are null.

    >>> json_number(float("nan")), json_number(0.5)
    (None, 0.5)
    """
    import math

    return value if math.isfinite(value) else None


@app.command("score")
def score(
    qrels: Path = typer.Option(..., help="qrels file (BEIR TSV with header, or TREC)"),
    run: Path = typer.Option(..., help="TREC run file"),
    metrics: Optional[str] = typer.Option(None, help="comma-separated ranx metric names"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object {metric: value}"),
) -> None:
    """Score a TREC run file against a qrels file (all qrels queries count; missing ones score 0)."""
    with user_errors():
        from harness.metrics.scoring import DEFAULT_METRICS, check_metrics, evaluate
        from harness.core.runs import read_qrels, read_trec_run

        names = check_metrics(metrics.split(",")) if metrics is not None else list(DEFAULT_METRICS)
        judged, ranked = read_qrels(qrels), read_trec_run(run)
        if not judged:
            raise MireEvalError(f"{qrels}: no judgements")
        result = evaluate(judged, ranked, names)
        if as_json:
            typer.echo(json.dumps({name: json_number(value) for name, value in result.mean.items()},
                                  allow_nan=False))
        else:
            for name, value in result.mean.items():
                typer.echo(f"{name:15s} {value:.4f}")
            typer.echo(f"{result.n_queries} queries, {result.n_without_relevant} without any relevant passage, "
                       f"{result.n_empty_rankings} with an empty ranking")


@app.command("leaderboard")
def leaderboard(
    output: Path = typer.Option(Path("results"), help="results directory"),
    baseline: Optional[str] = typer.Option(None, help="run hash, results folder or retriever: adds the main "
                                                      "metric's difference, 95% CI and Holm-corrected p against it"),
) -> None:
    """Collect every metrics.json under OUTPUT into OUTPUT/leaderboard.csv and print it."""
    with user_errors():
        from harness.evaluation.leaderboard_table import format_leaderboard
        from harness.evaluation.results import leaderboard as collect
        from harness.evaluation.results import write_leaderboard

        rows = collect(output)
        if not rows:
            raise MireEvalError(f"{output}: no metrics.json found (run `mire-eval run` first)")
        if baseline is not None:
            from harness.stats.baseline import with_baseline

            rows = with_baseline(rows, baseline)  # harness/stats: randomization test, Holm, bootstrap CI
        write_leaderboard(rows, output / "leaderboard.csv")
        typer.echo(format_leaderboard([{k: v for k, v in r.items() if k != "paper_source"} for r in rows]))
        typer.echo(f"{len(rows)} rows -> {output / 'leaderboard.csv'}")


@app.command("demo")
def demo(
    output: Path = typer.Option(Path("results"), help="results directory"),
    limit: Optional[int] = typer.Option(None, min=1, help="probe only the first N test queries"),
) -> None:
    """The main job offline on the diagnostic task: bm25, colbertv2, MIRe zero-shot/aligned/fine-tuned
    and a tiny jfe, probed, leaderboard and figures (harness/demo/run.py)."""
    with user_errors():
        from harness.demo.run import DemoConfig, run_demo
        from harness.demo.summary import summary_text

        result = run_demo(DemoConfig(output=output, limit=limit), echo=typer.echo)
        text = summary_text(result.rows, result.output, result.figures, result.seconds)
        (result.output / "demo_summary.txt").write_text(text + "\n")
        typer.echo("\n" + text)
        from harness.report.builder import ReportConfig, write_report

        typer.echo(f"report: {write_report(ReportConfig(output=result.output))}  (open it in a browser)")


for _module in EXTENSIONS:
    if importlib.util.find_spec(_module) is not None:
        importlib.import_module(_module).register(app)


def _click_exceptions():
    """The exception module of the click typer runs on: typer >= 0.26 vendors click as ``typer._click``."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer: plain click
        from click import exceptions
    return exceptions


def usage_line(exc) -> str:
    """A click usage error as ``<option>: <message>`` on one line (click draws a box of usage and
    help around it; the promise is one line naming the option)."""
    errors = _click_exceptions()
    param = getattr(exc, "param", None)
    if param is not None:
        opts = getattr(param, "opts", None) or []
        where = opts[0] if getattr(param, "param_type_name", "") == "option" and opts else param.human_readable_name
    elif getattr(exc, "option_name", None):
        where = exc.option_name
    elif getattr(exc, "ctx", None) is not None:
        where = exc.ctx.command_path
    else:
        where = "mire-eval"
    plain_bad_value = isinstance(exc, errors.BadParameter) and not isinstance(exc, errors.MissingParameter)
    message = exc.message if plain_bad_value and exc.message else exc.format_message()
    return " ".join(f"{where}: {message}".split())


def main(argv: list[str] | None = None) -> None:
    """The ``mire-eval`` entry point: every usage error and every MireEvalError ends as one line
    ``error: ...`` on stderr with exit status 2; ``--help`` (and no arguments) still print help."""
    import sys

    errors = _click_exceptions()
    try:
        status = app(args=argv, standalone_mode=False)
    except errors.NoArgsIsHelpError as exc:
        exc.show()  # the help text, as click prints it: not an error
        raise SystemExit(exc.exit_code) from None
    except errors.UsageError as exc:
        typer.echo(f"error: {usage_line(exc)}", err=True)
        raise SystemExit(2) from None
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        raise SystemExit(1) from None
    except MireEvalError as exc:  # a command that did not catch its own (should not happen)
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    sys.exit(status if isinstance(status, int) and not isinstance(status, bool) else 0)
