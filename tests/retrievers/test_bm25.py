"""BM25 end to end on a small local task."""

from harness.evaluation.pipeline import RunSettings, run_evaluation
from retrievers.bm25 import build
from tasks.base import LoadOptions
from tasks.loading import load_task


def test_bm25_finds_passages_by_question_words(local_task):
    data = load_task(f"local:{local_task}", LoadOptions())
    bm25 = build()
    bm25.index(data.corpus)
    run = bm25.search(data.queries, k=3)
    assert [max(run[q], key=run[q].get) for q in ("q-fox", "q-owl", "q-seal")] == ["p-fox", "p-owl", "p-seal"]
    assert all(score > 0 for ranking in run.values() for score in ranking.values())
    assert bm25.search(data.queries, k=3, view="image") == {q.id: {} for q in data.queries}
    assert bm25.search(data.queries, k=3, view="text") == run


def test_bm25_run_writes_results(local_task, tmp_path):
    result = run_evaluation(RunSettings(task=f"local:{local_task}", retriever="bm25", output=tmp_path / "res"))
    assert result.metrics["hit_rate@1"] == 1.0 and not result.reused
    files = sorted(p.name for p in result.directory.iterdir())
    assert files == ["complete.json", "meta.json", "metrics.json", "per_query.csv", "qrels.tsv", "run.trec"]
    again = run_evaluation(RunSettings(task=f"local:{local_task}", retriever="bm25", output=tmp_path / "res"))
    assert again.reused and again.directory == result.directory


def test_chunked_indexing_scores_like_one_whole_corpus_tokenize():
    """Indexing a chunk at a time (for the progress bar) gives bm25s's whole-corpus scores,
    stopword-only and empty passages included."""
    import random

    import bm25s

    from harness.core.types import Corpus, Query
    from retrievers.bm25 import BM25Retriever

    rng = random.Random(0)
    words = "the a of river mountain bird stone red blue green ancient city tower bridge and is was".split()
    records = [{"_id": f"p{i}", "title": "", "text": " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))}
               for i in range(300)]
    records[3]["text"], records[4]["text"] = "the a of", ""
    corpus = Corpus.from_records(records)
    queries = [Query(f"q{i}", " ".join(rng.choice(words) for _ in range(4))) for i in range(40)]
    chunked = BM25Retriever()
    chunked.index(corpus, chunk=37)
    whole = BM25Retriever()
    whole._bm25.index(bm25s.tokenize(corpus.texts(), stopwords="en", stemmer=whole._stemmer, show_progress=False),
                      show_progress=False)
    whole._ids = corpus.ids
    assert chunked.search(queries, 20) == whole.search(queries, 20)


import math  # noqa: E402

import pytest  # noqa: E402

from harness.cli.options import parse_options  # noqa: E402
from harness.core.errors import MireEvalError  # noqa: E402


@pytest.mark.parametrize("pair, field", [
    ("k1=abc", "k1"), ("k1=NaN", "k1"), ("k1=-1", "k1"), ("k1=0", "k1"), ("k1=Infinity", "k1"),
    ("b=1.5", "b"), ("b=-0.1", "b"), ("b=true", "b"),
    ("method=bogus", "method"), ("stemmer=klingon", "stemmer"), ("stopwords=xx", "stopwords"),
])
def test_bad_bm25_options_are_one_line_errors_naming_the_option(pair, field):
    """Options arrive as ``-o key=value`` text parsed as JSON; each bad one is refused before bm25s sees it."""
    with pytest.raises(MireEvalError, match=f"option {field}=") as caught:
        build(**parse_options([pair]))
    assert "\n" not in str(caught.value)


def test_good_bm25_options_are_taken_and_null_switches_off():
    bm25 = build(**parse_options(["k1=0.9", "b=0", "method=atire", "stemmer=null", "stopwords=de"]))
    assert bm25.settings == {"k1": 0.9, "b": 0.0, "method": "atire", "stemmer": None, "stopwords": "de"}
    assert math.isfinite(build(k1="1.2").settings["k1"])
