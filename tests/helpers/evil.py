"""Checkpoint files that run code when unpickled without an allow-list (test fixtures).

Each writer takes a real state dict, so the file is otherwise a valid checkpoint: if its
payload ran and the load went on, the run would succeed. The payload touches ``marker``.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch

KINDS = ("zip", "legacy", "legacy-magic", "bare-pickle")


class Touch:
    """Unpickles to ``pathlib.Path(marker).touch()`` (None): a call of a function by REDUCE."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"__import__('pathlib').Path({self.marker!r}).touch()",))


class TouchThenMagic(Touch):
    """Touches ``marker`` and evaluates to torch's legacy magic number, the first pickle of a
    legacy-format file, so a loader that reads that pickle unrestricted goes on as normal."""

    def __reduce__(self):
        from torch.serialization import MAGIC_NUMBER

        return (eval, (f"(__import__('pathlib').Path({self.marker!r}).touch(), {MAGIC_NUMBER})[1]",))


def write(kind: str, path: Path, state: dict, marker: Path) -> Path:
    """A ``kind`` (see :data:`KINDS`) file at ``path`` holding ``state`` under "model"."""
    if kind == "zip":
        torch.save({"model": state, "config": Touch(marker)}, path)
    elif kind == "legacy":
        torch.save({"model": state, "config": Touch(marker)}, path, _use_new_zipfile_serialization=False)
    elif kind == "legacy-magic":
        buf = io.BytesIO()
        torch.save({"model": state}, buf, _use_new_zipfile_serialization=False)
        data = buf.getvalue()
        head = io.BytesIO(data)
        pickle.load(head)  # our own file: the magic number, an int
        path.write_bytes(pickle.dumps(TouchThenMagic(marker), protocol=2) + data[head.tell():])
    elif kind == "bare-pickle":
        path.write_bytes(pickle.dumps({"model": state, "config": Touch(marker)}))
    else:
        raise ValueError(kind)
    return path


def load_trusting(path: Path):
    """What an unrestricted loader does (only for showing the payloads are live)."""
    if path.read_bytes()[:2] == b"\x80\x04":  # a bare pickle (protocol 4)
        return pickle.loads(path.read_bytes())
    return torch.load(path, weights_only=False)
