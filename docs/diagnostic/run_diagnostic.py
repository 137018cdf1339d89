"""The demo run (``mire-eval demo``, harness/demo/run.py) with its small reference copy.

    python docs/diagnostic/run_diagnostic.py --output results --reference docs/demo

runs or reuses the demo into ``--output``, prints its summary, and with ``--reference``
copies what docs/ shows (the summary, the views and leaderboard figures, leaderboard.csv,
each row's metrics.json, probe.json, attribution figure and MIRe's first pooling-attention
figure; no run files) into that folder.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def copy_reference(output: Path, reference: Path, rows: list[dict]) -> None:
    """The small committed copy of a demo run in ``output`` (replaces ``reference``)."""
    shutil.rmtree(reference, ignore_errors=True)
    reference.mkdir(parents=True)
    for name in ("demo_summary.txt", "leaderboard.csv", "leaderboard.png", "diagnostic/probe_views.png"):
        shutil.copy2(output / name, reference / Path(name).name)
    for row in rows:
        run = Path(row["directory"])
        target = reference / run.relative_to(output / "diagnostic")
        target.mkdir(parents=True)
        for name in ("metrics.json", "probe.json", "attribution.png", "pooling_attention_0.png"):
            if (run / name).exists():  # pooling attention: MIRe rows only
                shutil.copy2(run / name, target / name)


def main() -> None:
    from harness.demo.run import DemoConfig, run_demo
    from harness.demo.summary import summary_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("results"))
    parser.add_argument("--limit", type=int, default=None, help="probe only the first N test queries")
    parser.add_argument("--reference", type=Path, default=None, help="copy the run's small reference here")
    args = parser.parse_args()
    result = run_demo(DemoConfig(output=args.output, limit=args.limit))
    text = summary_text(result.rows, result.output, result.figures, result.seconds)
    (args.output / "demo_summary.txt").write_text(text + "\n")
    print(text)
    if args.reference:
        copy_reference(args.output, args.reference, result.rows)


if __name__ == "__main__":
    main()
