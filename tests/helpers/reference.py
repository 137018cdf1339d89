"""What the equivalence tests against the authors' code share: the exported reference fixture
(tensors + JSON metadata, docs/equivalence/) and the tiny query images it was computed on."""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open


def read_fixture(path: Path) -> tuple[dict, dict]:
    """(tensors by name, string metadata) of a reference ``.safetensors`` fixture."""
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def saved_images(directory: Path, n: int = 3) -> list[Path]:
    """``tiny.images(n)`` saved as ``img{i}.png`` under ``directory`` (what the reference read)."""
    from tests.helpers import tiny

    paths = []
    for i, im in enumerate(tiny.images(n)):
        im.save(directory / f"img{i}.png")
        paths.append(directory / f"img{i}.png")
    return paths
