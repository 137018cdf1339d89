"""Shared fixtures: small tasks written in the local format."""

from pathlib import Path

import pytest

from tests.helpers.local_task import make_local_task


@pytest.fixture
def local_task(tmp_path) -> Path:
    return make_local_task(tmp_path / "animals", qrels={
        "test": [("q-fox", "p-fox"), ("q-owl", "p-owl"), ("q-seal", "p-seal")],
        "train": [("q-crab", "p-crab")],
    })


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Keep every test's caches out of the user's home."""
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def hub_stand_in(monkeypatch):
    """No test opens a connection: the hub counts as reachable (each test's own stand-ins serve
    it); a test of offline behaviour sets ``harness.core.hub.reachable`` to return False."""
    import harness.core.hub

    monkeypatch.setattr(harness.core.hub, "reachable", lambda timeout=None: True)
