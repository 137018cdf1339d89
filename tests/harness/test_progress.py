"""The progress-bar helper: on for a terminal or MIRE_EVAL_PROGRESS=1, off otherwise; rate,
ETA, kept when done; a bar inside another is erased when done."""

import io

import harness.core.progress as progress_module
from harness.core.progress import enabled, progress


def test_switch(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    monkeypatch.delenv("MIRE_EVAL_PROGRESS", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert not enabled()
    monkeypatch.setenv("MIRE_EVAL_PROGRESS", "1")
    assert enabled()
    monkeypatch.setenv("RANK", "1")  # torchrun: only rank 0 draws
    assert not enabled()
    monkeypatch.setenv("RANK", "0")
    assert enabled()
    monkeypatch.setenv("MIRE_EVAL_PROGRESS", "0")
    assert not enabled()
    assert progress(range(3), "x").disable
    assert list(progress(range(3), "x")) == [0, 1, 2]  # a disabled bar still iterates


def test_bar_shows_rate_and_eta_and_stays(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    out = io.StringIO()
    monkeypatch.setenv("MIRE_EVAL_PROGRESS", "1")
    items = list(progress(range(5), "encode queries", unit="batch", file=out, delay=0))
    assert items == list(range(5))
    last = out.getvalue().split("\r")[-1]
    assert "encode queries" in last and "5/5" in last and "batch/s" in last and "<00:00" in last
    assert last.endswith("\n"), "kept on screen (leave=True)"


def test_nested_bar_is_erased_when_done(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("MIRE_EVAL_PROGRESS", "1")
    outer_out, inner_out = io.StringIO(), io.StringIO()
    with progress(desc="probe views", total=2, file=outer_out, delay=0) as outer:
        inner = progress(range(3), "search", file=inner_out, delay=0)
        assert not inner.leave and outer.leave
        list(inner)
        outer.update(2)
    assert progress_module.MAX_INTERVAL_S <= 5 and outer.maxinterval == progress_module.MAX_INTERVAL_S
