"""CLI commands of the probe: ``probe``, ``plot``, ``make-diagnostic``.

``harness.cli`` calls :func:`register`. Nothing heavy is imported here: torch, matplotlib
and the retrievers load inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.options import SEED_RANGE, CommandOptions, deprecated_out, output_path, shared_options

# The shared flags of ``run`` but ``view``: the probe runs every view.
PROBE_FLAGS = ("task", "retriever", "checkpoint", "split", "k", "limit", "device", "setting", "output", "overwrite",
               "data_dir", "image_dir", "skip_missing_images", "relevance", "option", "search", "search_option",
               "seed", "metrics")

def _format(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def probe_line(result: dict) -> str:
    """The one-line summary ``mire-eval probe`` prints.

    >>> r = {"task": "t", "retriever": "r", "main_metric": "m", "directory": "d",
    ...      "views": {v: {"metrics": {"m": x}} for v, x in [("full", 1.0), ("text", 0.5), ("image", 0.25), ("swap", 1.0)]},
    ...      "indices": {"image_dependence": 0.5, "text_dependence": 0.75, "text_dominance": 0.25, "swap_sensitivity": 0.0}}
    >>> probe_line(r)
    'probe t/r: m full 1.000 text 0.500 image 0.250 swap 1.000 | image dependence 0.500, text dependence 0.750, text-dominance 0.250, swap sensitivity 0.000 -> d'
    """
    m = result["main_metric"]
    views = " ".join(f"{v} {_format(result['views'][v]['metrics'][m])}" for v in ("full", "text", "image", "swap"))
    idx = result["indices"]
    return (f"probe {result['task']}/{result['retriever']}: {m} {views} | "
            f"image dependence {_format(idx['image_dependence'])}, text dependence {_format(idx['text_dependence'])}, "
            f"text-dominance {_format(idx['text_dominance'])}, swap sensitivity {_format(idx['swap_sensitivity'])}"
            f"{_undefined_swaps(result)}{' (reused)' if result.get('reused') else ''} -> {result['directory']}")


def _undefined_swaps(result: dict) -> str:
    """`` (swap undefined for N of M queries: reason)`` when some query has no swap."""
    swap = result.get("swap") or {}
    if not swap.get("n_undefined"):
        return ""
    reasons = "; ".join(swap.get("undefined_reasons", {}))
    return f" (swap undefined for {swap['n_undefined']} of {result.get('n_queries')} queries: {reasons})"


def register(app: typer.Typer) -> None:
    @app.command()
    @shared_options(*PROBE_FLAGS, help={
        "k": "passages retrieved per query and view", "limit": "probe only the first N queries",
        "overwrite": "recompute the full-view run even if an identical one is finished",
        "seed": "seed of the run and of the swap view's derangement"})
    def probe(
        opts: CommandOptions,
        stat_test: str = typer.Option("fisher", help="paired test of each view against full: fisher "
                                                     "(randomization), student (t-test), bootstrap, mcnemar"),
        attention_queries: int = typer.Option(4, help="queries whose pooling attention is kept (MIRe)"),
    ):
        """The text-dominance probe: full, text, image and swap views over one index."""
        from harness.core.errors import user_errors

        with user_errors():
            from harness.probe.views import run_probe
            from retrievers.registry import RETRIEVERS

            RETRIEVERS.entry(opts.retriever)  # unknown names fail before any loading
            settings = opts.run_settings()
            typer.echo(probe_line(run_probe(settings, stat_test=stat_test, attention_queries=attention_queries)))

    @app.command()
    def plot(
        output: Path = typer.Option(Path("results"), help="results directory holding probe outputs (as for run)"),
        attention_queries: int = typer.Option(4, help="pooling-attention figures per MIRe probe", min=0),
        force: bool = typer.Option(False, "--force", help="redraw every figure, also those up to date"),
    ):
        """Draw the probe's figures (PNG) beside the results they come from: those missing or
        older than their data (or than the drawing code)."""
        from harness.core.errors import MireEvalError, user_errors

        with user_errors():
            from harness.probe.plots import plot_results

            drawn: list = []
            figures = plot_results(output, attention_queries, force=force, drawn=drawn)
            if not figures:
                raise MireEvalError(f"{output}: no probe.json or metrics.json found (run `mire-eval probe` first)")
            typer.echo(f"plot: {len(figures)} figures under {output}, {len(drawn)} drawn, "
                       f"{len(figures) - len(drawn)} up to date ({', '.join(sorted({p.name for p in figures}))})")

    @app.command("make-diagnostic")
    def make_diagnostic(
        output: Optional[Path] = typer.Option(None, "--output", help="directory to write the task into (local format)"),
        seed: int = typer.Option(0, help="generation seed", **SEED_RANGE),
        out: Optional[Path] = deprecated_out(),
    ):
        """Write the controlled diagnostic task in the local format (read it as local:OUTPUT)."""
        import json

        from harness.core.errors import user_errors
        from tasks.diagnostic import DiagnosticConfig, generate

        with user_errors():
            out = output_path(output, out)
            generate(out, DiagnosticConfig(seed=seed))
        info = json.loads((out / "diagnostic.json").read_text())
        chance = info["chance"]["random"]["hit_rate@1"]
        typer.echo(f"make-diagnostic: {info['chance']['n_objects']} passages, {info['counts']['train']} train and "
                   f"{info['counts']['test']} test queries -> {out} (hit_rate@1 by chance {chance:.4f})")
