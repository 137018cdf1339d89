"""docs/contributing.md's recipe for a retriever, followed to the letter: an encoder defined
here, one registry line, and ``mire-eval run`` evaluates it; nothing else of the harness is
touched (the store, search, metrics and results folder come from the harness)."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from typer.testing import CliRunner

from harness.cli import app
from harness.core.runs import read_trec_run
from retrievers.base import describe_record
from retrievers.registry import RETRIEVERS

runner = CliRunner()
DIM = 64


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class HashedWords:
    """A bag of words hashed into DIM buckets, L2-normalised: the smallest cosine Encoder."""

    name = "hashed-words"
    similarity = "cosine"
    modalities = frozenset({"text"})

    def _vector(self, text: str) -> torch.Tensor:
        v = torch.zeros(DIM)
        for w in _words(text):
            v[sum(map(ord, w)) % DIM] += 1.0  # stable across processes, unlike hash()
        return v / v.norm() if v.norm() > 0 else v

    def encode_queries(self, queries, view):
        return torch.stack([self._vector("" if view == "image" else q.text) for q in queries])

    def encode_passages(self, passages):
        return torch.stack([self._vector(f"{p.title} {p.text}") for p in passages])

    def describe(self):
        return describe_record(name=self.name, checkpoint=None, similarity=self.similarity, search="exact",
                               options={"dim": DIM}, views={"full": "question text", "text": "question text",
                                                            "image": "nothing: empty vector"})


def build(checkpoint=None, device="cpu", **options):
    """The family's factory, as retrievers/registry.py names one."""
    return HashedWords()


@pytest.fixture
def registered(monkeypatch):
    """The one registry line, for this test only."""
    monkeypatch.setattr(RETRIEVERS, "_entries", dict(RETRIEVERS._entries))
    monkeypatch.setattr(RETRIEVERS, "_loaded", dict(RETRIEVERS._loaded))
    RETRIEVERS.register("hashed-words", "tests.test_contributing:build", "bag of hashed words (a test)")


def test_a_retriever_from_the_recipe_runs_through_run(registered, tmp_path):
    listed = runner.invoke(app, ["ls", "retrievers"])
    assert "hashed-words" in listed.output
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", "--task", "sample", "--retriever", "hashed-words", "--output", str(out)])
    assert result.exit_code == 0, result.output
    (folder,) = [p.parent for p in out.rglob("complete.json")]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["retriever"]["name"] == "hashed-words" and meta["retriever"]["search"] == "exact"
    assert meta["store"] is not None  # the harness's embedding store, not the encoder's business
    # every score in the run is the encoder's own cosine of that query and passage (fp16 store)
    from tasks.loading import load_task

    data = load_task("sample")
    queries = {q.id: q for q in data.queries}
    passages = {p.id: p for p in (data.corpus[i] for i in range(len(data.corpus)))}
    encoder, run = HashedWords(), read_trec_run(folder / "run.trec")
    assert set(run) == set(queries)
    for qid, ranked in run.items():
        for pid, score in ranked.items():
            want = float(encoder._vector(queries[qid].text) @ encoder._vector(f"{passages[pid].title} "
                                                                               f"{passages[pid].text}"))
            assert math.isclose(score, want, abs_tol=2e-3), (qid, pid, score, want)
    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    assert metrics["hit_rate@100"] == 1.0  # 20 passages: every relevant one is ranked


def test_what_build_returns_is_checked_before_anything_is_indexed(registered, monkeypatch, tmp_path):
    monkeypatch.setattr(HashedWords, "similarity", "euclidean")
    result = runner.invoke(app, ["run", "--task", "sample", "--retriever", "hashed-words",
                                 "--output", str(tmp_path / "results")])
    assert result.exit_code == 2
    assert "error: retriever 'hashed-words': similarity 'euclidean'; known: maxsim, cosine, dot" in result.output
    assert not list((tmp_path / "results").rglob("meta.json"))
