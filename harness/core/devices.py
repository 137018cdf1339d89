"""The ``--device`` string, checked without importing torch.

bm25 and other retrievers that never touch torch would otherwise accept any spelling
(``--device gpu``) and record it on the efficiency card; retrievers that load weights still
ask torch whether the device exists (:func:`retrievers.checkpoint.device_of`).
"""

from __future__ import annotations

import re

from harness.core.errors import MireEvalError

# The device types torch.device parses (c10/core/DeviceType.cpp), optionally ``:index``.
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "hip", "xla", "meta", "hpu", "mtia", "maia", "ipu",
                "lazy", "vulkan", "ve", "privateuseone")
_DEVICE = re.compile(rf"^({'|'.join(DEVICE_TYPES)})(:\d+)?$")


def check_device(device: str) -> str:
    """``device`` unchanged if torch would parse it (``cpu``, ``cuda``, ``cuda:1`` ...) and, for
    ``cuda``, CUDA is available.

    Raises :class:`MireEvalError` (one line) otherwise."""
    if not _DEVICE.match(device):
        raise MireEvalError(f"--device: unknown device {device!r}; use cpu, cuda or cuda:N "
                            f"(torch's device types: {', '.join(DEVICE_TYPES)})")
    if device.startswith("cuda"):  # torch only then: a CPU run stays free of it
        import torch

        if not torch.cuda.is_available():  # else the efficiency card would say "cuda" for a CPU run
            raise MireEvalError(f"--device: {device!r}: CUDA is not available on this machine")
    return device
