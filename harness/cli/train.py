"""``mire-eval pretrain`` and ``mire-eval finetune``: the trainer behind the CLI.

How hyper-parameters are resolved and a run is recorded: :mod:`harness.training.launch`.

Checkpoints go to ``OUTPUT/checkpoints/<task>/<retriever>/`` (``final/`` is the model).
``finetune`` then evaluates ``final/`` on the task's test split as setting ``fine-tuned``.
Nothing here imports torch at import time.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Optional

import typer

from harness.cli.options import SEED_RANGE, CommandOptions, parse_options, shared_options
from harness.core.errors import MireEvalError, user_errors
from harness.training.launch import read_training_file, retriever_trainable, run_training, setup_distributed

# Trainer flags shared by both commands: (name, type, help). Unset flags leave the defaults.
TRAIN_FLAGS = [
    ("epochs", int, "passes over the training data"),
    ("lr", float, "peak learning rate (AdamW; linear warm-up, then constant)"),
    ("batch_size", int, "examples per step and device: the in-batch negatives"),
    ("micro_batch", int, "embed at most this many items at once (gradient caching keeps the full-batch loss)"),
    ("temperature", float, "InfoNCE temperature"),
    ("warmup", int, "warm-up steps"),
    ("max_steps", int, "stop after this many steps"),
    ("seed", int, "seed of shuffling, sampling and initialisation"),
    ("hard_negatives", int, "hard negatives per example (from the training data)"),
    ("precision", str, "auto | fp32 | bf16 | fp16 (autocast on CUDA only)"),
    ("save_every", int, "steps between resumable checkpoints (always at epoch ends)"),
]
# Ranges typer checks on the command line (a count of steps or examples is at least 1).
TRAIN_LIMITS = {"epochs": {"min": 1}, "batch_size": {"min": 1}, "micro_batch": {"min": 1}, "warmup": {"min": 0},
                "max_steps": {"min": 1}, "seed": SEED_RANGE, "hard_negatives": {"min": 0}, "save_every": {"min": 1}}


def with_train_flags(command):
    """Give a typer command the shared trainer flags; it receives them in ``**flags``."""
    signature = inspect.signature(command)
    names = {name for name, _, _ in TRAIN_FLAGS}
    own = [p for p in signature.parameters.values()
           if p.kind is not inspect.Parameter.VAR_KEYWORD and p.name not in names]  # idempotent
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[kind],
                          default=typer.Option(None, help=text, **TRAIN_LIMITS.get(name, {})))
        for name, kind, text in TRAIN_FLAGS
    ]
    command.__signature__ = signature.replace(parameters=own + extra)
    return command


# The shared flags of the evaluation after training, and of the training itself. Not split,
# view, setting (train, then the test split's full view as fine-tuned) nor seed (a trainer flag).
FINETUNE_FLAGS = ("task", "retriever", "checkpoint", "option", "device", "overwrite", "data_dir", "image_dir",
                  "skip_missing_images", "relevance", "k", "limit", "output", "search", "search_option", "metrics")
TRAINING_HELP = {
    "retriever": "retriever name (must provide build_trainable)",
    "checkpoint": "starting checkpoint (hub id or directory)",
    "option": "KEY=VALUE: trainer field or build_trainable option (repeatable)",
    "overwrite": "replace an existing run in the checkpoint directory",
}


@shared_options(*FINETUNE_FLAGS, help={
    **TRAINING_HELP, "task": "task name or local:PATH (its train split is used)",
    "relevance": "override the task's relevance for the evaluation",
    "k": "passages retrieved per query in the evaluation", "limit": "evaluate only the first N test queries",
    "output": "results directory of the evaluation (as for run)",
    "search": "search of the evaluation: exact | ivf | ivfpq (docs/ann.md)"})
def finetune(
    opts: CommandOptions,
    checkpoints: Optional[Path] = typer.Option(None, help="root for checkpoints/ (default: the mire-eval cache)"),
    resume: bool = typer.Option(False, help="continue from the last saved step"),
    evaluate: bool = typer.Option(True, help="evaluate the trained model on the test split"),
    **flags,
) -> None:
    """Train a retriever on a task's train split, then evaluate it on the test split as fine-tuned."""
    with user_errors():
        from harness.core.cache import cache_home
        from tasks.base import task_slug
        from tasks.loading import load_task

        task, retriever = opts.task, opts.retriever
        retriever_trainable(retriever)  # unknown or untrainable retrievers fail before loading data
        # The evaluation's settings are checked now (a bad --search option costs no training);
        # its checkpoint is the trained model, known once training is done.
        opts.run_settings(split="test", setting="fine-tuned")
        device = setup_distributed(opts.device)
        data = load_task(task, opts.load("train"))
        if not data.train:
            raise MireEvalError(f"task {task!r}: the train split has no training examples")
        out = (checkpoints or cache_home()) / "checkpoints" / task_slug(task) / retriever
        result = run_training("finetune", retriever, data.train, out, opts.checkpoint, device, flags,
                              parse_options(opts.option), defaults_key=task, resume=resume,
                              overwrite=opts.overwrite)
        last = result.history[-1] if result.history else {}
        typer.echo(f"finetuned {retriever} on {task}: {result.steps} steps, loss {last.get('loss', float('nan')):.4f} "
                   f"-> {result.model_dir}")
        if not evaluate or int(os.environ.get("RANK", "0")) != 0:
            return
        from harness.evaluation.pipeline import run_evaluation

        settings = opts.run_settings(checkpoint=str(result.model_dir), split="test", device=device,
                                     setting="fine-tuned", overwrite=False, retriever_options={})
        test = load_task(task, settings.load, corpus_from=data)  # the train split's corpus, not read again
        evaluation = run_evaluation(settings, data=test)
        m = evaluation.metrics
        typer.echo(f"{task} / {retriever} (fine-tuned, full): hit_rate@5={m.get('hit_rate@5', float('nan')):.4f} "
                   f"mrr@5={m.get('mrr@5', float('nan')):.4f} -> {evaluation.directory}")


@shared_options("retriever", "checkpoint", "option", "device", "overwrite", "image_dir",
                help={**TRAINING_HELP, "image_dir": "root of the images the data names"})
def pretrain(
    opts: CommandOptions,
    data: list[Path] = typer.Option(..., help="training file(s): pairs .jsonl or R2P/ViD2R .json (repeatable)"),
    checkpoints: Optional[Path] = typer.Option(None, help="root for checkpoints/ (default: the mire-eval cache)"),
    name: Optional[str] = typer.Option(None, help="run name (default: pretrain-<first data file stem>)"),
    run_folder: Optional[Path] = typer.Option(None, "--output", help="folder of this training run: OUTPUT/final is "
                                              "the model (default: CHECKPOINTS/checkpoints/<name>/<retriever>)"),
    resume: bool = typer.Option(False, help="continue from the last saved step"),
    **flags,
) -> None:
    """Post-training adaptation / alignment pre-training on generic pairs or R2P data (setting
    ``aligned`` when evaluated: the model's training.json says so)."""
    with user_errors():
        from harness.core.cache import cache_home
        from harness.evaluation.pipeline import check_output_dir

        retriever = opts.retriever
        retriever_trainable(retriever)
        if run_folder is not None and (checkpoints is not None or name is not None):
            raise MireEvalError("--output: names the run's folder itself; drop --checkpoints and --name")
        if run_folder is not None:
            check_output_dir(run_folder)
        device = setup_distributed(opts.device)
        examples = [e for path in data for e in read_training_file(path, opts.image_dir)]
        out = run_folder or (checkpoints or cache_home()) / "checkpoints" / (name or f"pretrain-{data[0].stem}") / retriever
        result = run_training("pretrain", retriever, examples, out, opts.checkpoint, device, flags,
                              parse_options(opts.option), resume=resume, overwrite=opts.overwrite)
        last = result.history[-1] if result.history else {}
        typer.echo(f"pretrained {retriever} on {len(examples)} pairs: {result.steps} steps, "
                   f"loss {last.get('loss', float('nan')):.4f} -> {result.model_dir}")


def register(app: typer.Typer) -> None:
    app.command("finetune")(with_train_flags(finetune))
    app.command("pretrain")(with_train_flags(pretrain))
