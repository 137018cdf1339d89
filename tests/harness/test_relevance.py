"""Answer-match qrels: tricky answers, both variants, the whole corpus, cached."""

from harness.relevance import answer_qrels
from harness.types import Corpus, Query

CORPUS = Corpus.from_records([
    {"_id": "p1", "text": "He writes C++ and version 3.5 of the code."},
    {"_id": "p2", "text": "Option (a) is right; the cat sat."},
    {"_id": "p3", "text": "Concatenation of 3x5 strings; category theory."},
    {"_id": "p4", "text": "The Eiffel Tower was finished in 1889."},
])


def q(qid, *answers):
    return Query(qid, "?", answers=answers)


def test_word_boundaries_with_regex_metacharacters():
    queries = [q("cpp", "c++"), q("ver", "3.5"), q("opt", "(A)"), q("cat", "cat"), q("eif", "eiffel tower"),
               q("none", "tower was finished in 1888")]
    qrels = answer_qrels(queries, CORPUS, "answer-word")
    assert qrels == {"cpp": {"p1": 1}, "ver": {"p1": 1}, "opt": {"p2": 1}, "cat": {"p2": 1},
                     "eif": {"p4": 1}, "none": {}}  # "3.5" never matches "3x5"; "cat" not in "category"


def test_substring_variant_ignores_word_boundaries():
    qrels = answer_qrels([q("cat", "cat"), q("ver", "3.5")], CORPUS, "answer-substring")
    assert qrels == {"cat": {"p2": 1, "p3": 1}, "ver": {"p1": 1}}


def test_every_relevant_passage_counts_and_cache_is_reused(tmp_path):
    queries = [q("the", "the")]
    first = answer_qrels(queries, CORPUS, "answer-word", cache_dir=tmp_path)
    assert set(first["the"]) == {"p1", "p2", "p4"}
    cached = list(tmp_path.glob("qrels-*.json.gz"))
    assert len(cached) == 1
    assert answer_qrels(queries, CORPUS, "answer-word", cache_dir=tmp_path) == first
    other = answer_qrels(queries, CORPUS, "answer-substring", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("qrels-*.json.gz"))) == 2 and "p3" in other["the"]  # "theory"


def test_a_damaged_cache_entry_is_recomputed_and_rewritten(tmp_path):
    import gzip
    import json

    queries = [q("the", "the")]
    first = answer_qrels(queries, CORPUS, "answer-word", cache_dir=tmp_path)
    (cached,) = tmp_path.glob("qrels-*.json.gz")
    whole = cached.read_bytes()
    damage = {"truncated": whole[: len(whole) // 2], "empty": b"", "not gzip": b"{}",
              "empty JSON": gzip.compress(b""), "wrong shape": gzip.compress(b'{"the": ["p1"]}')}
    for name, data in damage.items():
        cached.write_bytes(data)
        assert answer_qrels(queries, CORPUS, "answer-word", cache_dir=tmp_path) == first, name
        assert json.loads(gzip.decompress(cached.read_bytes())) == first, name  # rewritten whole
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]  # no temporary file left behind


def test_cache_home_that_is_a_file_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    import pytest

    from harness.cache import cache_home
    from harness.errors import MireEvalError

    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "file"))
    with pytest.raises(MireEvalError, match=r"^MIRE_EVAL_DATA=.*file: not a directory$"):
        cache_home()
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "file" / "sub"))
    with pytest.raises(MireEvalError, match=r"^MIRE_EVAL_DATA=.*sub: not a directory \(.*file is a file\)$"):
        cache_home()
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "new" / "sub"))
    assert cache_home() == tmp_path / "new" / "sub"


def test_empty_answers_match_nothing_by_default_and_everything_by_the_reference_rule(tmp_path):
    """MIRe's has_answers (re.search(r"\\b\\b", text): any passage with a word character) and
    compute_pseudo_recall ("" in text: every passage) make every passage relevant for an
    answer that is empty after strip(); mire-eval drops such answers unless asked."""
    import re

    corpus = Corpus.from_records([{"_id": "p1", "text": "The Eiffel Tower."}, {"_id": "p2", "text": "-- ... --"},
                                  {"_id": "p3", "text": "Paris, France"}])
    queries = [Query("q-empty", "?", answers=("  ",)), Query("q-mixed", "?", answers=("", "paris")),
               Query("q", "?", answers=("tower",))]
    assert answer_qrels(queries, corpus, "answer-word") == {"q-empty": {}, "q-mixed": {"p3": 1}, "q": {"p1": 1}}
    word = answer_qrels(queries, corpus, "answer-word", empty="all-relevant")
    texts = {"p1": "The Eiffel Tower.", "p2": "-- ... --", "p3": "Paris, France"}
    reference = {p for p, t in texts.items() if re.search(r"\b" + "" + r"\b", t.lower())}  # has_answers("")
    assert set(word["q-empty"]) == reference == {"p1", "p3"}
    assert set(word["q-mixed"]) == {"p1", "p3"} and word["q"] == {"p1": 1}
    substring = answer_qrels(queries, corpus, "answer-substring", cache_dir=tmp_path, empty="all-relevant")
    assert set(substring["q-empty"]) == {"p1", "p2", "p3"}  # "" in text, for every text
    assert answer_qrels(queries, corpus, "answer-substring", cache_dir=tmp_path)["q-empty"] == {}  # its own cache entry
