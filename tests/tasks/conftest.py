from pathlib import Path

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty mire-eval cache, also as $MIRE_EVAL_DATA."""
    path = tmp_path / "cache"
    path.mkdir()
    monkeypatch.setenv("MIRE_EVAL_DATA", str(path))
    return path


@pytest.fixture(autouse=True)
def no_m2kr_pin(monkeypatch):
    """No test inherits a user's $MIRE_EVAL_M2KR_REVISION: a test that pins sets it."""
    monkeypatch.delenv("MIRE_EVAL_M2KR_REVISION", raising=False)


@pytest.fixture(autouse=True)
def no_range_requests(monkeypatch):
    """No test sends an HTTP range request: reading a zip's central directory on the hub
    fails as offline (a test that reads one serves a local file)."""
    from tasks import m2kr_images

    def offline(url, headers=None):
        raise OSError("no network in tests")

    monkeypatch.setattr(m2kr_images, "http_range_reader", offline)
