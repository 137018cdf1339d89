"""CLI commands of the probe: ``probe``, ``plot``, ``make-diagnostic``.

``harness.cli`` calls :func:`register`. Nothing heavy is imported here: torch, matplotlib
and the retrievers load inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _format(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def probe_line(result: dict) -> str:
    """The one-line summary ``mire-eval probe`` prints.

    >>> r = {"task": "t", "retriever": "r", "main_metric": "m", "directory": "d",
    ...      "views": {v: {"metrics": {"m": x}} for v, x in [("full", 1.0), ("text", 0.5), ("image", 0.25), ("swap", 1.0)]},
    ...      "indices": {"m": {"image_dependence": 0.5, "text_dependence": 0.75, "text_dominance": 0.25, "swap_sensitivity": 0.0}}}
    >>> probe_line(r)
    'probe t/r: m full 1.000 text 0.500 image 0.250 swap 1.000 | image dependence 0.500, text dependence 0.750, text-dominance 0.250, swap sensitivity 0.000 -> d'
    """
    m = result["main_metric"]
    views = " ".join(f"{v} {_format(result['views'][v]['metrics'][m])}" for v in ("full", "text", "image", "swap"))
    idx = result["indices"][m]
    return (f"probe {result['task']}/{result['retriever']}: {m} {views} | "
            f"image dependence {_format(idx['image_dependence'])}, text dependence {_format(idx['text_dependence'])}, "
            f"text-dominance {_format(idx['text_dominance'])}, swap sensitivity {_format(idx['swap_sensitivity'])}"
            f" -> {result['directory']}")


def _options(pairs: list[str]) -> tuple[tuple[str, object], ...]:
    """``key=value`` strings to retriever options (JSON values where they parse)."""
    import json

    from harness.errors import MireEvalError

    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MireEvalError(f"--option {pair!r}: expected key=value")
        try:
            out.append((key, json.loads(value)))
        except json.JSONDecodeError:
            out.append((key, value))
    return tuple(out)


def register(app: typer.Typer) -> None:
    @app.command()
    def probe(
        task: str = typer.Option(..., help="task name or local:PATH"),
        retriever: str = typer.Option(..., help="retriever name"),
        checkpoint: Optional[str] = typer.Option(None, help="checkpoint (hub id or directory)"),
        split: str = typer.Option("test"),
        k: int = typer.Option(100, help="ranking depth per view"),
        limit: Optional[int] = typer.Option(None, help="first N queries only"),
        device: str = typer.Option("cpu"),
        setting: str = typer.Option("zero-shot", help="zero-shot or fine-tuned (recorded, used in the path)"),
        seed: int = typer.Option(0, help="seed of the swap view's derangement"),
        stat_test: str = typer.Option("student", help="ranx paired test: student (t-test) or fisher (randomisation)"),
        output: Path = typer.Option(Path("results"), help="results directory"),
        option: list[str] = typer.Option([], help="retriever option key=value (repeatable)"),
    ):
        """The text-dominance probe: full / text / image / swap views over one index."""
        from harness.errors import MireEvalError
        from harness.probe import ProbeSettings, run_probe

        if stat_test not in ("student", "fisher"):
            raise MireEvalError(f"--stat-test {stat_test!r}: use student or fisher")
        settings = ProbeSettings(task=task, retriever=retriever, checkpoint=checkpoint, split=split, k=k, limit=limit,
                                 device=device, setting=setting, seed=seed, stat_test=stat_test, output=str(output),
                                 retriever_options=_options(option))
        typer.echo(probe_line(run_probe(settings)))

    @app.command()
    def plot(
        results: Path = typer.Option(Path("results"), help="results directory holding probe outputs"),
        attention_queries: int = typer.Option(4, help="pooling-attention figures per MIRe probe"),
    ):
        """Draw the probe's figures (PNG) beside the results they come from."""
        from harness.errors import MireEvalError
        from harness.plots import plot_results

        written = plot_results(results, attention_queries)
        if not written:
            raise MireEvalError(f"{results}: no probe.json found (run `mire-eval probe` first)")
        typer.echo(f"plot: {len(written)} figures under {results} ({', '.join(sorted({p.name for p in written}))})")

    @app.command("make-diagnostic")
    def make_diagnostic(
        out: Path = typer.Option(..., help="directory to write the task into (local format)"),
        seed: int = typer.Option(0, help="generation seed"),
    ):
        """Write the controlled diagnostic task in the local format (read it as local:OUT)."""
        import json

        from tasks.diagnostic import DiagnosticConfig, generate

        generate(out, DiagnosticConfig(seed=seed))
        info = json.loads((out / "diagnostic.json").read_text())
        chance = info["chance"]["random"]["hit_rate@1"]
        typer.echo(f"make-diagnostic: {info['chance']['n_objects']} passages, {info['counts']['train']} train and "
                   f"{info['counts']['test']} test queries -> {out} (hit_rate@1 by chance {chance:.4f})")
