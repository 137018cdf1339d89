"""Numbers that were silently wrong (issue 20): ties that followed the corpus file's order, a
swap view that swapped nothing, metrics deeper than the run, BM25 runs cut short."""

from __future__ import annotations

import json

import pytest

from harness.errors import MireEvalError
from harness.evaluate import RunSettings, run_evaluation
from harness.probe import SAME_PICTURE, run_probe, swap_plan
from harness.results import leaderboard
from harness.leaderboard_table import format_leaderboard
from harness.types import BytesImage, Corpus, Query, TaskData
from retrievers.base import EncoderRetriever
from retrievers.bm25 import BM25Retriever
from store_helpers import WordEncoder
from test_probe import COLOURS, ColourWordEncoder, _png, _task

SMALL = {"nlist": "4", "nprobe": "2", "candidates": "64"}
PQ = {**SMALL, "pq_m": "2", "pq_nbits": "4", "refine": "0"}  # decoded (approximate) scores, not rescored
TWINS = [f"d{i:02d}" for i in range(40)]  # forty copies of one passage
TOP5 = ["d39", "d38", "d37", "d36", "d35"]  # trec_eval's order among equal scores: id descending


def twins_task(reverse: bool) -> TaskData:
    """60 other passages, then the forty copies (the last rows: a GEMV's edge), or all reversed."""
    records = [{"_id": f"o{i:02d}", "title": "", "text": f"crab vole n{i}"} for i in range(60)]
    records += [{"_id": pid, "title": "", "text": "fox owl seal"} for pid in TWINS]
    records = records[::-1] if reverse else records
    queries = [Query("q1", "fox owl river")]
    return TaskData("twins", "test", queries, Corpus.from_records(records), qrels={"q1": {"d00": 1}})


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "words.ckpt"
    path.write_bytes(bytes(range(256)) * 4)
    return path


@pytest.mark.parametrize("similarity", ["maxsim", "cosine"])
def test_identical_passages_tie_whatever_the_corpus_order_in_memory(checkpoint, similarity):
    runs = []
    for reverse in (False, True):
        # 384 dimensions, one query: scored one by one, the copies at the end of this layout got two
        # different scores on this machine's BLAS and the top-5 was d33..d37 (before harness/distinct.py)
        retriever = EncoderRetriever(WordEncoder(str(checkpoint), similarity, dim=384), passage_batch=8)
        data = twins_task(reverse)
        retriever.index(data.corpus)
        assert len(retriever.distinct.corpus) == 61 and retriever.distinct.n_duplicates == 39
        run = retriever.search(data.queries, 40)["q1"]
        assert set(run) == set(TWINS) and len(set(run.values())) == 1  # bit-identical
        top5 = sorted(retriever.search(data.queries, 5)["q1"], key=lambda p: p.encode(), reverse=True)
        assert top5 == TOP5
        runs.append(retriever.search(data.queries, 100))
    assert runs[0] == runs[1]  # the same run, scores to the bit


@pytest.mark.parametrize("search", ["exact", "ivf", "ivfpq"])
def test_one_corpus_in_two_orders_gives_the_same_run_exact_and_approximate(tmp_path, checkpoint, search):
    runs, stores = [], []
    for reverse in (False, True):
        retriever = EncoderRetriever(WordEncoder(str(checkpoint)), passage_batch=8, shard_passages=16)
        settings = RunSettings(task="twins", retriever="words", checkpoint=str(checkpoint), k=5, overwrite=True,
                               output=tmp_path / f"results-{reverse}", search=search,
                               search_options={"exact": {}, "ivf": SMALL, "ivfpq": PQ}[search])
        result = run_evaluation(settings, retriever=retriever, data=twins_task(reverse))
        meta = json.loads((result.directory / "meta.json").read_text())
        stores.append(meta["store"])
        runs.append(result.run)
        twins = sorted((p for p in result.run["q1"] if p in TWINS), reverse=True)
        assert twins and twins == TOP5[: len(twins)] and len({result.run["q1"][p] for p in twins}) == 1
        if search != "ivfpq":  # exact MaxSim (ivf reranks exactly); ivfpq's decoded scores may rank another first
            assert twins == TOP5
            assert result.metrics["hit_rate@5"] == 0.0  # d00 is a copy too, ranked below d35 by id
    assert runs[0] == runs[1]
    assert stores[0]["passages"] == {"rows": 100, "distinct": 61, "duplicates": 39}
    assert stores[1]["key"] == stores[0]["key"] and stores[1]["reused"]  # the same distinct passages, in order


def test_bm25_identical_passages_tie_by_id_in_both_orders():
    runs = []
    for reverse in (False, True):
        bm25 = BM25Retriever()
        data = twins_task(reverse)
        bm25.index(data.corpus)
        run = bm25.search(data.queries, 5)
        assert sorted(run["q1"], key=lambda p: p.encode(), reverse=True) == TOP5
        runs.append(bm25.search(data.queries, 100))
    assert runs[0] == runs[1] and len(runs[0]["q1"]) == 40  # the 60 others share no term


def test_bm25_returns_k_passages_with_their_true_scores_and_says_when_fewer():
    # "common" is in every passage: Robertson's IDF (floored at 0 by bm25s) gives it 0, so 37 of
    # the 40 passages score exactly 0; they share a term, so they are returned (bm25s' own
    # retrieve, filtered to scores > 0, returned 3).
    records = [{"_id": f"p{i:02d}", "text": "common word " + ("rare" if i < 3 else f"other{i}")} for i in range(40)]
    corpus = Corpus.from_records(records)
    queries = [Query("q", "common rare"), Query("z", "zebra")]
    for method, zeros in (("robertson", 37), ("lucene", 0), ("bm25l", 0), ("bm25+", 0)):
        bm25 = BM25Retriever(method=method)
        bm25.index(corpus)
        run = bm25.search(queries, 40)
        assert len(run["q"]) == 40 and sum(s == 0 for s in run["q"].values()) == zeros, method
        assert run["z"] == {}  # no passage shares a term: bm25l/bm25+ would score them all the same constant
        assert min(run["q"].values()) >= 0
    assert sorted(bm25.search(queries, 3)["q"]) == ["p00", "p01", "p02"]


def test_a_short_bm25_ranking_is_said_in_metrics_json_and_the_summary(tmp_path, local_task):
    settings = RunSettings(task=f"local:{local_task}", retriever="bm25", k=5, output=tmp_path)
    result = run_evaluation(settings)
    summary = json.loads((result.directory / "metrics.json").read_text())
    short = sum(len(r) < 5 for r in result.run.values())
    assert summary["n_short_rankings"] == short > 0
    assert summary["short_rankings_reason"] == "the passages sharing at least one term with the question, at most k"
    total = summary["n_queries"]
    assert any(note.startswith(f"{short} of {total} rankings shorter than k=5") for note in result.notes)


# --------------------------------------------------------------------------------------------
# The swap view
# --------------------------------------------------------------------------------------------
def test_swap_never_hands_a_query_its_own_picture_by_content():
    red, green = _png(COLOURS["red"]), _png(COLOURS["green"])
    red_copy = BytesImage(red.data, origin="another/path/red.png")  # same bytes, another name
    qs = [Query("a", "x", red), Query("b", "y", red_copy), Query("c", "z", green), Query("d", "w")]
    for seed in range(20):
        swapped, undefined = swap_plan(qs, seed)
        assert undefined == {"d": "the query has no image"}
        assert [q.image.data for q in swapped[:2]] == [green.data, green.data]  # the only other picture
        assert swapped[2].image.data == red.data
    # one query, or every query showing one picture: no swap exists
    assert swap_plan(qs[:1], 0)[1] == {"a": SAME_PICTURE}
    assert swap_plan(qs[:2], 0)[1] == {"a": SAME_PICTURE, "b": SAME_PICTURE}


def test_probe_of_one_query_reports_swap_sensitivity_as_undefined_not_zero(tmp_path):
    out = run_probe(RunSettings(task="toy", retriever="colour-words", k=6, output=tmp_path, limit=1), data=_task(),
                    retriever=EncoderRetriever(ColourWordEncoder()))
    assert out["indices"]["swap_sensitivity"] is None
    assert out["views"]["swap"]["metrics"]["mrr@5"] is None
    assert out["swap"]["n_undefined"] == 1 and out["swap"]["undefined_reasons"] == {SAME_PICTURE: 1}
    assert out["swap"]["swap_sensitivity"].startswith("undefined: no query has an image")
    assert "swap" not in out["compare"]["vs_full"]


def test_probe_swap_gives_queries_sharing_one_picture_another_picture(tmp_path):
    data = _task()
    # q0..q5: red, red, green, green, blue, blue; make every image red but q5's
    queries = [q.with_image(data.queries[0].image) for q in data.queries[:5]] + [data.queries[5]]
    data = TaskData("toy", "test", queries, data.corpus, qrels=data.qrels, meta=data.meta)
    out = run_probe(RunSettings(task="toy", retriever="colour-words", k=6, output=tmp_path), data=data,
                    retriever=EncoderRetriever(ColourWordEncoder()))
    swapped, undefined = swap_plan(queries, 0)
    assert len(undefined) == 0  # five red queries get the blue picture, q5 a red one
    assert out["swap"]["n_queries"] == 6 and out["indices"]["swap_sensitivity"] is not None


# --------------------------------------------------------------------------------------------
# Metrics deeper than the run
# --------------------------------------------------------------------------------------------
def test_default_metrics_deeper_than_k_are_left_out_and_named(tmp_path, local_task):
    settings = RunSettings(task=f"local:{local_task}", retriever="bm25", k=1, output=tmp_path)
    assert all(m.endswith("@1") for m in settings.metrics)
    assert "hit_rate@5" in settings.metrics_left_out and "recall@100" in settings.metrics_left_out
    result = run_evaluation(settings)
    summary = json.loads((result.directory / "metrics.json").read_text())
    assert "hit_rate@5" not in summary["metrics"] and summary["k"] == 1 and summary["depth_limited"] == []
    assert any(n.startswith("not computed, cut-off > k=1: hit_rate@5") for n in result.notes)


def test_named_metrics_deeper_than_k_are_computed_and_marked_depth_limited(tmp_path, local_task):
    deep = RunSettings(task=f"local:{local_task}", retriever="bm25", k=1, output=tmp_path, metrics_named=True,
                       metrics=("hit_rate@1", "hit_rate@5"))
    full = RunSettings(task=f"local:{local_task}", retriever="bm25", k=100, output=tmp_path,
                       metrics=("hit_rate@1", "hit_rate@5"))
    shallow, whole = run_evaluation(deep), run_evaluation(full)
    assert shallow.metrics["hit_rate@5"] == shallow.metrics["hit_rate@1"]  # what a depth-1 ranking can give
    assert json.loads((shallow.directory / "metrics.json").read_text())["depth_limited"] == ["hit_rate@5"]
    rows = {r["k"]: r for r in leaderboard(tmp_path)}
    assert rows[1]["depth_limited"] == "hit_rate@5" and rows[100]["depth_limited"] is None
    table = format_leaderboard(list(rows.values()))
    assert " k " in table.splitlines()[0] + " " and f"{shallow.metrics['hit_rate@5']:.4f}*" in table
    assert f"{whole.metrics['hit_rate@5']:.4f}*" not in table.replace(f"{shallow.metrics['hit_rate@5']:.4f}*", "")
    assert "* depth-limited" in table


def test_probe_refuses_a_main_metric_deeper_than_k_in_one_line(tmp_path):
    with pytest.raises(MireEvalError, match=r"^--k 2: the probe's main metric mrr@5 has cut-off 5 > k 2"):
        run_probe(RunSettings(task="toy", retriever="colour-words", k=2, output=tmp_path), data=_task(),
                  retriever=EncoderRetriever(ColourWordEncoder()))

