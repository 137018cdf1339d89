from pathlib import Path

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty mire-eval cache, also as $MIRE_EVAL_DATA."""
    path = tmp_path / "cache"
    path.mkdir()
    monkeypatch.setenv("MIRE_EVAL_DATA", str(path))
    return path
