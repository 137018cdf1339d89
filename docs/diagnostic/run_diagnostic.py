"""The demo run (``mire-eval demo``, harness/demo/run.py) and its committed reference.

    make reference
    # = python docs/diagnostic/run_diagnostic.py --clean --reference docs/demo \\
    #       --readme README.md --probe-doc docs/probe.md

runs the demo into ``--output`` (with ``--clean``: from an empty cache, in a new temporary
folder, as a fresh clone would), prints its summary, and with ``--reference`` copies what docs/
shows (the summary, the views and leaderboard figures, leaderboard.csv, each row's metrics.json,
meta.json, probe.json, attribution figure and MIRe's first pooling-attention figure, rows.json
and reference.json: when, where, versions, threads, time, memory; no run files) into that
folder. ``--readme`` and ``--probe-doc`` rewrite the generated blocks of those documents
(:mod:`harness.demo.reference`); tests/harness/test_demo_reference.py checks they agree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

REFERENCE_FILES = ("metrics.json", "meta.json", "probe.json", "attribution.png", "pooling_attention_0.png")


def copy_reference(output: Path, reference: Path, rows: list[dict], record: dict) -> None:
    """The small committed copy of a demo run in ``output``: replaces the run folders and files
    of an earlier copy in ``reference``; other files there (the report's screenshots) stay."""
    reference.mkdir(parents=True, exist_ok=True)
    for old in reference.iterdir():
        if old.is_dir():
            shutil.rmtree(old)  # <retriever>/<run>/ folders of the earlier reference
        elif old.suffix in (".json", ".txt", ".csv") or old.name in ("leaderboard.png", "probe_views.png"):
            old.unlink()
    for name in ("demo_summary.txt", "leaderboard.csv", "leaderboard.png", "diagnostic/probe_views.png", "demo.json"):
        shutil.copy2(output / name, reference / Path(name).name)
    listed = []
    for row in rows:
        run = Path(row["directory"])
        relative = run.relative_to(output / "diagnostic")
        target = reference / relative
        target.mkdir(parents=True)
        for name in REFERENCE_FILES:
            if (run / name).exists():  # pooling attention: MIRe rows only
                shutil.copy2(run / name, target / name)
        listed.append({"label": row["label"], "folder": str(relative)})
    (reference / "rows.json").write_text(json.dumps(listed, indent=1) + "\n")
    (reference / "reference.json").write_text(json.dumps(record, indent=1) + "\n")


def machine() -> str:
    """``"2 CPU cores, no GPU"`` (or the GPU's name)."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({platform.machine()}), {gpu}"


def write_documents(reference: Path, readme: Path | None, probe_doc: Path | None) -> None:
    """Rewrite the generated blocks of the README and docs/probe.md from ``reference``."""
    from harness.demo.reference import probe_doc_blocks, readme_block, replace_block

    record = json.loads((reference / "reference.json").read_text())
    if readme is not None:
        summary = (reference / "demo_summary.txt").read_text()
        readme.write_text(replace_block(readme.read_text(), "demo-summary", readme_block(summary, record)))
    if probe_doc is not None:
        text = probe_doc.read_text()
        for name, block in probe_doc_blocks(reference).items():
            text = replace_block(text, name, block)
        probe_doc.write_text(text)


def main() -> None:
    from harness.demo.run import DemoConfig, run_demo
    from harness.demo.summary import summary_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("results"))
    parser.add_argument("--limit", type=int, default=None, help="probe only the first N test queries")
    parser.add_argument("--clean", action="store_true",
                        help="run from an empty cache in a new temporary folder (--output is then inside it)")
    parser.add_argument("--reference", type=Path, default=None, help="copy the run's small reference here")
    parser.add_argument("--readme", type=Path, default=None, help="rewrite this README's demo-summary block")
    parser.add_argument("--probe-doc", type=Path, default=None, help="rewrite docs/probe.md's generated tables")
    args = parser.parse_args()
    reference, readme, probe_doc = (p.resolve() if p else None for p in (args.reference, args.readme, args.probe_doc))
    if args.clean:
        scratch = Path(tempfile.mkdtemp(prefix="mire-eval-reference-"))
        os.environ["MIRE_EVAL_DATA"] = str(scratch / "cache")
        os.chdir(scratch)  # --output stays relative: the summary prints results/..., as a user's would
        print(f"clean run in {scratch} (cache {scratch / 'cache'})")
    started = time.perf_counter()
    result = run_demo(DemoConfig(output=args.output, limit=args.limit))
    wall = time.perf_counter() - started
    text = summary_text(result.rows, result.output, result.figures, result.seconds)
    (args.output / "demo_summary.txt").write_text(text + "\n")
    print(text)
    if reference:
        import transformers

        demo_log = json.loads((args.output / "demo.json").read_text())
        record = {"date": date.today().isoformat(), "machine": machine(), "compute": demo_log["compute"],
                  "transformers": transformers.__version__, "wall_s": round(wall, 1),
                  "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                  "load_average": [round(x, 2) for x in os.getloadavg()], "clean": args.clean, "limit": args.limit}
        copy_reference(args.output, reference, result.rows, record)
        write_documents(reference, readme, probe_doc)


if __name__ == "__main__":
    main()
