"""One step of the shared trainer (:mod:`harness.training.trainer`): which passages a batch scores, and
the loss and gradients of the step, through gradient caching when a micro-batch is smaller than
the step (Gao et al. 2021; the method is described in :mod:`harness.training.trainer`).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence

import torch

from harness.training.contrastive import info_nce, pad_token_embeddings, score_matrix
from harness.core.errors import MireEvalError
from harness.core.types import Passage, TrainExample


# --------------------------------------------------------------------------------------------
# Distributed helpers (torchrun); everything degrades to one process
# --------------------------------------------------------------------------------------------
def _world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every device along dim 0; gradients flow back to each owner."""
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()))


def _all_reduce_grads(params: list[torch.nn.Parameter], world: int) -> None:
    """Average gradients over devices (no DDP wrapper: embed_* bypass ``forward``)."""
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad.div_(world)


# --------------------------------------------------------------------------------------------
# One step: which passages a batch scores, and the (cached) gradient computation
# --------------------------------------------------------------------------------------------
def batch_passages(
    examples: Sequence[TrainExample], hard_negatives: int, rng: random.Random
) -> list[Passage]:
    """Positives first (column i belongs to query i), then ``hard_negatives`` per example.

    An example with more negatives than asked gets a sample; one with fewer has its list
    cycled, so every example (and every device) contributes the same number of columns.
    """
    passages = [e.positive for e in examples]
    if hard_negatives <= 0:
        return passages
    for e in examples:
        if not e.negatives:
            raise MireEvalError(
                f"training example of query {e.query.id!r}: no negatives, but hard_negatives={hard_negatives}"
            )
        if len(e.negatives) >= hard_negatives:
            passages.extend(rng.sample(list(e.negatives), hard_negatives))
        else:
            passages.extend(e.negatives[i % len(e.negatives)] for i in range(hard_negatives))
    return passages


class _RngState:
    """The CPU (and current CUDA) RNG state at one moment, replayable later."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(device) if self.cuda else None
        self.device = device

    @contextlib.contextmanager
    def replay(self):
        devices = [self.device] if self.cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu_state)
            if self.cuda:
                torch.cuda.set_rng_state(self.cuda_state, self.device)
            yield


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


class StepRunner:
    """Computes one step's loss and leaves its gradients in the trainable's parameters."""

    def __init__(self, trainable, config, device: torch.device, scaler=None):
        """``config`` is the run's :class:`harness.training.trainer.TrainConfig`."""
        self.model = trainable
        self.config = config
        self.device = device
        self.scaler = scaler
        self.rank, self.world = _world()
        self.cross_device = config.cross_device_negatives and self.world > 1
        self.autocast = _autocast(config.precision, device)

    # -- embeddings ---------------------------------------------------------------------------
    def _embed(self, role: str, items: Sequence) -> tuple[torch.Tensor, torch.Tensor | None]:
        if role == "query":
            batch = self.model.collate_queries(items)
            with self.autocast:
                return self.model.embed_queries(_to(batch, self.device))
        batch = self.model.collate_passages(items)
        with self.autocast:
            return self.model.embed_passages(_to(batch, self.device))

    def _join(self, parts: list[torch.Tensor], masks: list) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.model.similarity == "maxsim":
            return pad_token_embeddings([p.float() for p in parts], masks)
        return torch.cat([p.float() for p in parts]), None

    # -- the loss from full-step embeddings -----------------------------------------------------
    def _loss(self, q, q_mask, p, p_mask, positive_ids: list[str], passage_ids: list[str]):
        n_local = p.shape[0]
        offset = 0
        if self.cross_device:
            if p_mask is not None:  # pad every device's passages to the longest before gathering
                longest = torch.tensor([p.shape[1]], device=p.device)
                torch.distributed.all_reduce(longest, op=torch.distributed.ReduceOp.MAX)
                pad = int(longest.item()) - p.shape[1]
                p = torch.nn.functional.pad(p, (0, 0, 0, pad))
                p_mask = torch.nn.functional.pad(p_mask, (0, pad), value=False)
                p_mask = _gather_with_grad(p_mask.to(p.dtype)).bool()
            p = _gather_with_grad(p)
            offset = self.rank * n_local
        scores = score_matrix(self.model.similarity, q, q_mask, p, p_mask)  # (B, n)
        labels = torch.arange(q.shape[0], device=scores.device) + offset
        exclude = None
        if self.config.mask_duplicate_positives:  # compares this device's columns only
            same = torch.tensor([[pid == qid for pid in passage_ids] for qid in positive_ids], device=scores.device)
            exclude = torch.zeros_like(scores, dtype=torch.bool)
            exclude[:, offset : offset + n_local] = same
            exclude[torch.arange(len(positive_ids)), labels] = False
        return info_nce(scores, labels, self.config.temperature, exclude)

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    # -- one step -------------------------------------------------------------------------------
    def run(self, examples: Sequence[TrainExample], passages: Sequence[Passage]) -> tuple[float, float]:
        queries = [e.query for e in examples]
        positive_ids = [e.positive.id for e in examples]
        passage_ids = [p.id for p in passages]
        micro = self.config.micro_batch or max(len(queries), len(passages))
        if len(queries) <= micro and len(passages) <= micro:
            q, q_mask = self._embed("query", queries)
            p, p_mask = self._embed("passage", passages)
            q, q_mask = self._join([q], [q_mask])
            p, p_mask = self._join([p], [p_mask])
            loss, acc = self._loss(q, q_mask, p, p_mask, positive_ids, passage_ids)
            self._backward(loss)
            return loss.item(), acc.item()
        return self._run_cached(queries, passages, micro, positive_ids, passage_ids)

    def _run_cached(self, queries, passages, micro, positive_ids, passage_ids) -> tuple[float, float]:
        chunks = [("query", queries[i : i + micro]) for i in range(0, len(queries), micro)]
        chunks += [("passage", passages[i : i + micro]) for i in range(0, len(passages), micro)]
        # 1. embed every micro-batch without a graph, remembering its RNG state
        cached, states = [], []
        with torch.no_grad():
            for role, items in chunks:
                states.append(_RngState(self.device))
                cached.append(self._embed(role, items))
        n_q = -(-len(queries) // micro)
        q, q_mask = self._join([e for e, _ in cached[:n_q]], [m for _, m in cached[:n_q]])
        p, p_mask = self._join([e for e, _ in cached[n_q:]], [m for _, m in cached[n_q:]])
        # 2. the full-step loss, backpropagated to the cached embeddings only
        q.requires_grad_(True)
        p.requires_grad_(True)
        loss, acc = self._loss(q, q_mask, p, p_mask, positive_ids, passage_ids)
        self._backward(loss)
        grads = list(q.grad.split([len(items) for _, items in chunks[:n_q]]))
        grads += list(p.grad.split([len(items) for _, items in chunks[n_q:]]))
        # 3. re-embed each micro-batch with a graph under its RNG state; push its gradient through
        for (role, items), state, grad in zip(chunks, states, grads):
            with state.replay():
                emb, _ = self._embed(role, items)
            if not emb.requires_grad:  # a frozen side (MIRe pre-training's passages) has no graph
                continue
            if emb.dim() == 3:
                grad = grad[:, : emb.shape[1]]
            emb.backward(grad.to(emb.dtype))
        return loss.item(), acc.item()


def _autocast(precision: str, device: torch.device):
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise MireEvalError(f"precision {precision!r}: known auto, fp32, bf16, fp16")
    if device.type != "cuda" or precision == "fp32":
        return contextlib.nullcontext()
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return torch.autocast("cuda", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def _uses_fp16(precision: str, device: torch.device) -> bool:
    if device.type != "cuda":
        return False
    return precision == "fp16" or (precision == "auto" and not torch.cuda.is_bf16_supported())
