"""Fixtures the harness tests share."""

import pytest


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the plot functions save, kept open for inspection (closed after)."""
    from harness.probe import plots

    kept = []

    def keep(fig, out):
        kept.append(fig)
        fig.canvas.draw()
        fig.savefig(out, dpi=plots.DPI)
        return out

    monkeypatch.setattr(plots, "_save", keep)
    yield kept
    for fig in kept:
        plots._pyplot().close(fig)
