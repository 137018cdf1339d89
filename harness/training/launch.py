"""Training as ``mire-eval pretrain`` / ``finetune`` and ``mire-eval demo`` run it: resolve the
hyper-parameters, build the retriever's Trainable, train, record what was trained.

Hyper-parameters come, lowest priority first, from the retriever's defaults as
:mod:`retrievers.registry` names them (``PRETRAIN_DEFAULTS``, a flat dict;
``FINETUNE_DEFAULTS[task]``, falling back to ``["*"]``), then ``--option key=value`` pairs,
then the explicit flags. Keys that are :class:`harness.training.trainer.TrainConfig` fields
configure the trainer; every other key is passed to the retriever's ``build_trainable``.
Nothing here imports torch at import time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Optional

from harness.core.errors import MireEvalError
from harness.core.provenance import SETTING_OF_STAGE
from harness.training.pairs import read_pairs
from harness.training.r2p import read_r2p
from retrievers.registry import FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS, RETRIEVERS, TRAINABLES


def retriever_trainable(name: str):
    """The retriever's ``build_trainable``, as :data:`retrievers.registry.TRAINABLES` names it."""
    RETRIEVERS.entry(name)  # an unknown retriever is named as such
    if name not in TRAINABLES.names():
        raise MireEvalError(f"retriever {name!r} cannot be trained; trainable: {', '.join(TRAINABLES.names())}")
    return TRAINABLES.get(name)


def training_defaults(name: str, stage: str, task: Optional[str] = None) -> dict:
    """The registry's defaults for ``name`` at ``stage`` (fine-tuning: ``task``'s, else ``"*"``)."""
    if stage == "finetune":
        table = FINETUNE_DEFAULTS.get(name) if name in FINETUNE_DEFAULTS.names() else {}
        return table.get(task) or table.get("*") or {}
    return PRETRAIN_DEFAULTS.get(name) if name in PRETRAIN_DEFAULTS.names() else {}


def setup_distributed(device: str) -> str:
    """Under torchrun, join the process group and pick this process's GPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    import torch
    import torch.distributed as dist

    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return device


def run_training(
    stage: str,
    retriever: str,
    examples: list,
    output_dir: Path,
    checkpoint: Optional[str],
    device: str,
    flags: dict,
    options: dict,
    defaults_key: Optional[str] = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
):
    """Resolve hyper-parameters, build the Trainable and train it (shared by both commands)."""
    from harness.training.trainer import TrainConfig, train  # torch: only when training

    build_trainable = retriever_trainable(retriever)
    defaults = training_defaults(retriever, stage, defaults_key)
    merged = {**defaults, **options, **{k: v for k, v in flags.items() if v is not None}}
    trainer_options, model_options = TrainConfig.split_options(merged)
    config = TrainConfig(**trainer_options)
    if output_dir.exists() and any(output_dir.iterdir()) and not resume:
        if not overwrite:
            raise MireEvalError(f"{output_dir}: already holds a training run; pass --resume or --overwrite")
        if int(os.environ.get("RANK", "0")) == 0:
            shutil.rmtree(output_dir)

    def build(ckpt):
        return build_trainable(ckpt, device, stage=stage, **model_options)

    result = train(build, examples, config, output_dir, checkpoint, device, resume=resume, progress=progress)
    # The provenance `run` reads to label an evaluation of these weights (harness/core/provenance.py).
    record = {"stage": stage, "setting": SETTING_OF_STAGE[stage], "retriever": retriever, "checkpoint": checkpoint,
              "task": defaults_key, "model_options": model_options}
    summary_path = result.model_dir / "training.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        summary_path.write_text(json.dumps({**summary, **record}, indent=1, default=str))
    return result


def read_training_file(path: Path, image_dir: Optional[Path]) -> list:
    """Pairs JSON lines (:mod:`harness.training.pairs`) or an R2P/ViD2R JSON list (:mod:`harness.training.r2p`)."""
    if path.suffix == ".jsonl":
        return read_pairs(path, image_dir)
    if path.suffix == ".json":
        if image_dir is None:
            raise MireEvalError(f"{path}: R2P/ViD2R data names images relative to a folder; pass --image-dir")
        return list(read_r2p(path, image_dir))
    raise MireEvalError(f"{path}: training data must be .jsonl (pairs) or .json (R2P/ViD2R)")
