"""The ``--device`` string, checked for every retriever (torch imported only to ask about CUDA).

bm25 and other retrievers that never touch torch would otherwise accept any spelling
(``--device gpu``) and record it on the efficiency card; retrievers that load weights still
ask torch whether the device exists (:func:`retrievers.checkpoint.device_of`).
"""

from __future__ import annotations

import re

from harness.core.errors import MireEvalError

# What --device may name: torch's spellings of the devices mire-eval runs on (the command line's
# callback, harness/cli/options.py, uses the same pattern).
DEVICE_PATTERN = r"cpu|cuda|cuda:\d+|mps"


def check_device(device: str) -> str:
    """``device`` unchanged if it is ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` and, for
    ``cuda``, CUDA is available.

    Raises :class:`MireEvalError` (one line) otherwise."""
    if not re.fullmatch(DEVICE_PATTERN, device):
        raise MireEvalError(f"--device: unknown device {device!r}; known: cpu, cuda, cuda:N, mps")
    if device.startswith("cuda"):  # torch only then: a CPU run stays free of it
        import torch

        if not torch.cuda.is_available():  # else the efficiency card would say "cuda" for a CPU run
            raise MireEvalError(f"--device: {device!r}: CUDA is not available on this machine")
    return device
