"""The shared contrastive trainer: any retriever that exposes a :class:`Trainable` trains here.

One optimisation step sees ``batch_size`` training examples (per device). Each query is
scored against every passage of the step: all positives, plus ``hard_negatives`` sampled
from each example's negatives, plus (``cross_device_negatives`` under torchrun) those of
every other device. The loss is InfoNCE with a temperature (:mod:`harness.training.contrastive`).

Memory is bounded by ``micro_batch`` through gradient caching (Gao et al. 2021, "Scaling
Deep Contrastive Learning Batch Size under Memory Limited Setup"):

1. embed all queries and passages micro-batch by micro-batch without a graph, remembering
   each micro-batch's RNG state;
2. compute the loss over the whole step from those cached embeddings and backpropagate it to
   the embeddings only;
3. re-embed each micro-batch with a graph, under its remembered RNG state so dropout draws the
   same masks, and push the cached embedding gradients through the model.

The parameter gradients equal those of the plain full-batch loss, so in-batch negatives span
the whole effective batch whatever the micro-batch (plain gradient accumulation would only
see a micro-batch's negatives). When one micro-batch holds the whole step the trainer skips
the cache and runs the plain loss.

Optimiser: AdamW (weight decay 0, eps 1e-8 unless set), linear warm-up then constant LR
(``transformers.get_constant_schedule_with_warmup``). Autocast bf16/fp16 on CUDA only.
Checkpoints hold no pickle: model via ``trainable.save_checkpoint``, optimiser tensors and RNG
states as safetensors, everything else as JSON. Layout of ``output_dir``::

    final/                       the trained model (trainable.save_checkpoint) + training.json
    steps/step-00000100/         model/  optimizer.safetensors  rng.safetensors  state.json
    history.jsonl                one line per step: step, epoch, loss, accuracy, lr
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from harness.core.errors import MireEvalError
from harness.core.progress import progress as progress_bar
from harness.training.step import StepRunner, _all_reduce_grads, _uses_fp16, _world, batch_passages
from harness.training.state import (
    latest_state,
    load_optimizer,
    load_rng,
    read_history,
    read_state,
    save_state,
    write_history,
)
from harness.core.types import Passage, Query, TrainExample


# --------------------------------------------------------------------------------------------
# What a trainable retriever provides
# --------------------------------------------------------------------------------------------
@runtime_checkable
class Trainable(Protocol):
    """A ``torch.nn.Module`` a retriever module builds with ``build_trainable(...)``.

    ``embed_*`` return ``(emb, mask)``: maxsim ``[B, L, d]`` and a ``[B, L]`` bool mask,
    cosine ``[B, d]`` and ``None``. Which parameters train is the Trainable's business.
    """

    similarity: str

    def collate_queries(self, queries: Sequence[Query]) -> dict[str, torch.Tensor]: ...

    def collate_passages(self, passages: Sequence[Passage]) -> dict[str, torch.Tensor]: ...

    def embed_queries(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    def embed_passages(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    def save_checkpoint(self, directory: Path) -> None: ...


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all recorded in ``final/training.json``)."""

    epochs: int = 1
    lr: float = 2e-5
    batch_size: int = 32  # examples per optimisation step and device: the in-batch negatives
    micro_batch: int | None = None  # GradCache chunk (queries or passages embedded at once)
    temperature: float = 0.02
    warmup: int = 0  # linear warm-up steps, then constant
    max_steps: int | None = None
    seed: int = 42
    hard_negatives: int = 0  # negatives per example drawn from TrainExample.negatives
    mask_duplicate_positives: bool = False  # ignore other columns holding a query's own positive
    reshuffle_each_epoch: bool = True  # False: the same order every epoch (MIRe's reference)
    precision: str = "auto"  # auto (bf16 on CUDA when supported, else fp16; fp32 on CPU) | fp32 | bf16 | fp16
    max_grad_norm: float | None = None
    weight_decay: float = 0.0
    adam_eps: float = 1e-8
    cross_device_negatives: bool = False  # under torchrun: score against every device's passages
    save_every: int | None = None  # steps between resumable states (always at epoch ends)
    keep_last: int = 2  # resumable states kept on disk

    def check(self) -> None:
        """One-line errors for values no run can use."""
        rules = [
            (self.epochs >= 1, "epochs", "must be >= 1"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.micro_batch is None or self.micro_batch >= 1, "micro_batch", "must be >= 1"),
            (self.temperature > 0, "temperature", "must be > 0"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.warmup >= 0 and self.hard_negatives >= 0, "warmup/hard_negatives", "must be >= 0"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps", "must be >= 1"),
            (self.precision in ("auto", "fp32", "bf16", "fp16"), "precision", "known: auto, fp32, bf16, fp16"),
        ]
        for ok, name, rule in rules:
            if not ok:
                raise MireEvalError(f"training option {name}: {rule} (got {asdict(self).get(name, '')!r})")

    @classmethod
    def split_options(cls, options: dict) -> tuple[dict, dict]:
        """Separate trainer fields from the rest (which go to ``build_trainable``).

        >>> TrainConfig.split_options({"lr": 1e-4, "query_maxlen": 32})
        ({'lr': 0.0001}, {'query_maxlen': 32})
        """
        names = {f.name for f in fields(cls)}
        return (
            {k: v for k, v in options.items() if k in names},
            {k: v for k, v in options.items() if k not in names},
        )


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    history: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
def epoch_order(n: int, seed: int, epoch: int, reshuffle: bool) -> list[int]:
    """The seeded example order of one epoch.

    >>> epoch_order(5, 0, 1, reshuffle=False) == epoch_order(5, 0, 0, reshuffle=False)
    True
    """
    g = torch.Generator().manual_seed(seed + (epoch if reshuffle else 0))
    return torch.randperm(n, generator=g).tolist()


def train(
    build: Callable[[str | None], torch.nn.Module],
    examples: Sequence[TrainExample],
    config: TrainConfig,
    output_dir: str | Path,
    checkpoint: str | None = None,
    device: str = "cpu",
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``build(checkpoint)`` on ``examples``; save the model to ``output_dir/final``.

    ``build`` makes the Trainable from a checkpoint (the given one, or on ``resume`` the
    model of the last saved step, which is how a run continues exactly where it stopped).
    """
    output_dir = Path(output_dir)
    dev = torch.device(device)
    rank, world = _world()
    config.check()
    global_batch = config.batch_size * world
    per_epoch = len(examples) // global_batch  # drop_last
    if per_epoch == 0:
        raise MireEvalError(f"training data: {len(examples)} examples, fewer than one batch of {global_batch}")
    total = per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)

    last = latest_state(output_dir) if resume else None
    torch.manual_seed(config.seed + rank)
    random.seed(config.seed + rank)
    model = build(str(last / "model") if last else checkpoint)
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise MireEvalError("the trainable has no parameter that requires grad")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, eps=config.adam_eps)
    from transformers import get_constant_schedule_with_warmup

    scheduler = get_constant_schedule_with_warmup(optimizer, config.warmup)
    scaler = torch.amp.GradScaler("cuda") if _uses_fp16(config.precision, dev) else None
    step, history = 0, []
    if last is not None:
        saved = read_state(last)
        was = (saved["config"]["batch_size"] * saved["world_size"], saved["examples"])
        if was != (global_batch, len(examples)):
            raise MireEvalError(
                f"{last}: saved with {was[1]} examples in batches of {was[0]}; now {len(examples)} in batches of "
                f"{global_batch}: the data position would not carry over (start afresh with --overwrite)"
            )
        load_optimizer(optimizer, last)
        scheduler.load_state_dict(saved["scheduler"])
        if scaler is not None and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        load_rng(last, saved["python_rng"], dev)
        step = saved["step"]
        history = read_history(output_dir, step)

    runner = StepRunner(model, config, dev, scaler)
    model.train()
    bar = progress_bar(desc="train", total=total, initial=step, unit="step", disable=not progress or rank != 0)
    if rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_history(output_dir, history)
    while step < total:
        epoch, position = divmod(step, per_epoch)
        order = epoch_order(len(examples), config.seed, epoch, config.reshuffle_each_epoch)
        start = position * global_batch + rank * config.batch_size
        batch = [examples[i] for i in order[start : start + config.batch_size]]
        rng = random.Random(f"{config.seed}:{epoch}:{position}:{rank}")
        passages = batch_passages(batch, config.hard_negatives, rng)

        optimizer.zero_grad(set_to_none=True)
        loss, acc = runner.run(batch, passages)
        if world > 1:
            _all_reduce_grads(params, world)
        if scaler is not None:
            scaler.unscale_(optimizer)
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        step += 1
        if not math.isfinite(loss):
            raise MireEvalError(f"training diverged at step {step}: loss {loss} (lower --lr or use fp32)")
        record = {"step": step, "epoch": epoch, "loss": loss, "accuracy": acc, "lr": lr}
        history.append(record)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}", lr=f"{lr:.2e}")
        end_of_epoch = step % per_epoch == 0
        due = end_of_epoch or step == total or (config.save_every and step % config.save_every == 0)
        if rank == 0:
            with open(output_dir / "history.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if due:
                state = {"step": step, "epoch": epoch, "config": asdict(config), "world_size": world,
                         "examples": len(examples)}
                save_state(output_dir, model, optimizer, scheduler, scaler, state, dev, config.keep_last)
        _barrier(world)
    bar.close()
    model.eval()
    final = output_dir / "final"
    if rank == 0:
        shutil.rmtree(final, ignore_errors=True)
        model.save_checkpoint(final)
        summary = {"config": asdict(config), "steps": step, "examples": len(examples), "world_size": world,
                   "last": history[-1] if history else None}
        (final / "training.json").write_text(json.dumps(summary, indent=1))
    _barrier(world)
    return TrainResult(final, step, history)


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
