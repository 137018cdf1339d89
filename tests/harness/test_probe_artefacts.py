"""The evaluation hands its artefacts on: the probe never searches the full view or judges
relevance a second time, and a reused folder gives back exactly the run and qrels it holds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from harness.evaluation.pipeline import RunSettings, run_evaluation, store_spec
from harness.probe.views import run_probe
from harness.core.runs import read_trec_run
from harness.index.retriever import EncoderRetriever
from tests.helpers.toy import ColourWordEncoder, _task


class CountingRetriever(EncoderRetriever):
    """An encoder retriever that counts searches and indexings by view."""

    def __init__(self, encoder, **options):
        super().__init__(encoder, **options)
        self.searched: Counter = Counter()
        self.indexed = 0

    def index(self, corpus):
        self.indexed += 1
        return super().index(corpus)

    def search(self, queries, k, view="full"):
        self.searched[view] += 1
        return super().search(queries, k, view)


def _settings(tmp_path) -> RunSettings:
    from tasks.base import LoadOptions

    return RunSettings(task="toy", retriever="colour-words", k=6, output=tmp_path,
                       load=LoadOptions(cache_dir=tmp_path / "cache"))


def _probe(tmp_path, retriever, attention_queries=4):
    return run_probe(_settings(tmp_path), data=_task(), retriever=retriever, attention_queries=attention_queries)


def test_the_probe_searches_the_full_view_once_and_not_at_all_when_reused(tmp_path):
    first = CountingRetriever(ColourWordEncoder(), store=store_spec(_settings(tmp_path)))  # the run's store
    out = _probe(tmp_path, first)
    # the evaluation's search is the full view; the probe adds text, image and the swap
    # (searched with the full view over swapped images), one chunk each
    assert first.searched == Counter({"full": 2, "text": 1, "image": 1}) and first.indexed == 1

    # the same probe again: reused whole, nothing searched
    idle = CountingRetriever(ColourWordEncoder(), store=store_spec(_settings(tmp_path)))
    assert _probe(tmp_path, idle)["reused"] and idle.searched == Counter() and idle.indexed == 0
    # a probe with other options over the same run: the full view's run is reused
    again = CountingRetriever(ColourWordEncoder(), store=store_spec(_settings(tmp_path)))
    reused = _probe(tmp_path, again, attention_queries=2)
    assert again.searched == Counter({"full": 1, "text": 1, "image": 1})  # the swap only
    assert again.indexed == 1  # the other views need the index
    assert again.store_info["reused"] is True  # the run's embedding store, not a fresh encoding
    assert reused["directory"] == out["directory"]
    for key in ("views", "indices_by_metric", "by_type", "compare"):
        assert reused[key] == out[key], key


def test_a_reused_run_reads_back_exactly_what_was_evaluated(tmp_path):
    settings = RunSettings(task="toy", retriever="colour-words", k=6, output=tmp_path, limit=5)
    first = run_evaluation(settings, retriever=ColourWordEncoder(), data=_task())
    again = run_evaluation(settings, retriever=ColourWordEncoder(), data=_task())
    assert not first.reused and again.reused
    assert first.run and again.run == first.run  # every score bit for bit (run.trec holds repr)
    assert again.qrels == first.qrels and list(again.qrels) == [q.id for q in first.data.queries]
    assert len(again.data.queries) == 5  # --limit applied to the data handed on
    assert read_trec_run(Path(first.directory) / "run.trec") == first.run
    assert json.loads((Path(first.directory) / "metrics.json").read_text())["metrics"] == again.metrics


def test_scores_below_printed_precision_survive_the_round_trip(tmp_path):
    """Two scores closer than any fixed rounding stay ordered after a reuse."""
    from harness.core.runs import write_trec_run

    run = {"q": {"a": 0.1 + 0.2, "b": 0.30000000000000004 - 2 ** -54, "c": 1 / 3}}
    write_trec_run(run, tmp_path / "run.trec", tag="t")
    assert read_trec_run(tmp_path / "run.trec") == run


def test_a_probe_interrupted_while_writing_never_leaves_a_finished_looking_mix(tmp_path, monkeypatch):
    # A second probe rewrote run_<view>.trec and probe_per_query.csv in place, then probe.json: killed
    # in between, the old probe.json ("probe finished") stood beside torn or newer files.
    import csv

    import pytest

    out = Path(_probe(tmp_path, CountingRetriever(ColourWordEncoder(), store=store_spec(_settings(tmp_path))))
               ["directory"])
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert "probe.json" in before and "probe_per_query.csv" in before

    def interrupted(self, rows):
        self.writer.writerow(["torn"])
        raise KeyboardInterrupt  # a Ctrl-C while the rows are written

    monkeypatch.setattr(csv.DictWriter, "writerows", interrupted)
    with pytest.raises(KeyboardInterrupt):  # other probe options: the probe is redone over the same run
        _probe(tmp_path, CountingRetriever(ColourWordEncoder(), store=store_spec(_settings(tmp_path))),
               attention_queries=3)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert "probe.json" not in after  # the probe is not finished, and says so
    for name, data in after.items():  # nothing torn, nothing left over
        assert name in before and data == before[name], name
