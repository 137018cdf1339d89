"""CLI commands of the statistics and the report: ``compare`` and ``report``.

``harness.cli`` calls :func:`register`. numpy and the readers load inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from harness.cli_options import SEED_RANGE


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        systems: List[Path] = typer.Argument(..., help="results folders (or TREC run files with --qrels); "
                                                       "the first is the baseline"),
        qrels: Optional[Path] = typer.Option(None, help="qrels file: the arguments are TREC run files"),
        metrics: Optional[str] = typer.Option(None, help="comma-separated ranx metric names "
                                                         "(default: hit_rate@5, mrr@5, recall@100)"),
        test: str = typer.Option("fisher", help="paired test: fisher (randomization), student (t-test), "
                                                "bootstrap, mcnemar (exact; binary metrics, others fisher)"),
        permutations: int = typer.Option(10_000, min=1, help="randomization permutations and bootstrap resamples"),
        seed: int = typer.Option(0, help="seed of the permutations and resamples", **SEED_RANGE),
        clusters: Optional[Path] = typer.Option(None, help="query_id<TAB>cluster file: the bootstrap resamples "
                                                           "these clusters (default: shared images, if any)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    ) -> None:
        """Paired comparison of runs against the first: means, difference, 95% CI, p and Holm-corrected p."""
        from harness.errors import MireEvalError, user_errors

        with user_errors():
            from harness.metrics import check_metrics
            from harness.stats.format import format_comparison
            from harness.stats.inputs import from_results, from_run_files, read_clusters, score_systems
            from harness.stats.paired import TESTS
            from harness.stats.table import compare_scores

            if test not in TESTS:
                raise MireEvalError(f"--test: unknown value {test!r}; known: {', '.join(TESTS)}")
            names = check_metrics(metrics.split(",")) if metrics is not None else ["hit_rate@5", "mrr@5", "recall@100"]
            chosen = from_run_files(qrels, systems) if qrels is not None else from_results(systems)
            if clusters is not None:
                chosen.clusters, chosen.clustering = read_clusters(clusters, chosen.queries), f"clusters of {clusters}"
            scores = score_systems(chosen, names)
            result = compare_scores(scores, names, chosen.names[0], test, permutations, seed, chosen.clusters,
                                    chosen.clustering)
            if as_json:
                typer.echo(json.dumps({**result, "systems": chosen.names}, allow_nan=False))
            else:
                typer.echo(format_comparison(result))

    @app.command()
    def report(
        output: Path = typer.Option(Path("results"), help="results directory (the report is written into it)"),
        baseline: Optional[str] = typer.Option(None, help="baseline run per task: a run hash or a retriever name "
                                                          "(default: each task's first row)"),
        queries: int = typer.Option(300, min=1, help="queries per task in the drill-down"),
        seed: int = typer.Option(0, help="seed of the permutations and resamples", **SEED_RANGE),
    ) -> None:
        """One self-contained HTML page of every run under OUTPUT: OUTPUT/report.html."""
        from harness.errors import user_errors

        with user_errors():
            from harness.report.builder import ReportConfig, write_report

            path = write_report(ReportConfig(output=output, baseline=baseline, queries=queries, seed=seed))
            typer.echo(f"report: {path}")
