"""The demo's fixed compute settings: what makes two demo runs on machines of the same kind equal.

The demo trains four models for a few dozen steps each; a float summed in another order after the
first step changes the weights, and a few steps later a hit or two among 96 queries. What sets the
summation order on a CPU:

* the number of intra-op threads: torch splits matmuls and reductions by thread, so by default a
  4-core machine sums in another order than a 2-core one (the demo's README numbers came from a
  2-core machine; a newcomer's machine gave other third decimals). The demo fixes it at
  :data:`DEMO_THREADS` for training and evaluation, whatever the machine has;
* torch's choice among kernels: ``torch.use_deterministic_algorithms(True)`` makes every op that
  has a deterministic implementation use it and raises on one that has none, so nothing in
  the demo is silently nondeterministic;
* the CPU's vector instructions (``torch.backends.cpu.get_cpu_capability()``: AVX2, AVX512, ...)
  and the library versions: recorded, not fixed. "Machines of the same kind" means the same
  capability and the same torch/transformers versions (the meta.json of each run lists them).

Seeds are already fixed: every training run seeds torch and ``random`` from its configuration
(``seed`` 42), the epoch order from ``(seed, epoch)``, each evaluation from ``--seed`` (0).
"""

from __future__ import annotations

from contextlib import contextmanager

# Two threads: the cores of the machine the reference was made on (docs/demo, README), and
# what a laptop always has; a machine with fewer cores still computes the same sums, slower.
DEMO_THREADS = 2


def compute_record() -> dict:
    """What decides the demo's floating-point sums, for demo.json and meta.json: torch's
    intra-op and inter-op thread counts, whether deterministic algorithms are enforced, the CPU
    capability torch dispatches to, and torch's version."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}


@contextmanager
def fixed_compute(threads: int = DEMO_THREADS):
    """Within the block: ``threads`` intra-op threads and deterministic algorithms (both restored
    after). Yields :func:`compute_record` as set. The inter-op pool can only be sized before
    torch starts parallel work, so it is set when still possible and recorded as it is."""
    import torch

    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # "cannot set number of interop threads after parallel work has started"
        pass
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield compute_record()
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1], warn_only=before[2])
