import hashlib

import pytest

import harness.core.fingerprint as fingerprint

from harness.core.errors import MireEvalError
from tasks.base import LoadOptions, resolve_relevance
from tasks.releases import file_digest, read_kid_text_csv, remove_caption


@pytest.mark.parametrize("question, caption, expected", [
    ("a dog on a couch What breed is this?", "a dog on a couch", "What breed is this?"),
    ("What breed is a dog on a couch?", "a dog on a couch", "What breed is ?"),  # cut anywhere, then strip
    ("What is on the plate ", "a cat", "What is on the plate"),  # no occurrence: only stripped
    ("  keep me  ", None, "  keep me  "),  # no caption field: untouched
])
def test_caption_removal_matches_the_reference(question, caption, expected):
    assert remove_caption(question, caption) == expected


def test_kid_text_csv_typing_and_quoting(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('kid,text\n7,"multi\nline, ""quoted"""\n8,\n')
    corpus = read_kid_text_csv(path)
    assert corpus.ids == ["7", "8"] and corpus[0].text == 'multi\nline, "quoted"' and corpus[1].text == ""
    path.write_text("kid,text\nab12,x\n")
    assert read_kid_text_csv(path).ids == ["ab12"]
    path.write_text("kid,text\n1,x\n,y\n")
    with pytest.raises(MireEvalError, match=r"c.csv: field 'kid' is empty in 1 row"):
        read_kid_text_csv(path)


def test_quoted_newlines_across_block_boundaries(tmp_path):
    """Arrow reads a CSV in blocks; a quoted newline where a block ends must not split a row."""
    rows = [(i, f"passage {i} first line\nsecond line {i}") for i in range(200)]
    path = tmp_path / "corpus.csv"
    path.write_text("kid,text\n" + "".join(f'{i},"{t}"\n' for i, t in rows))
    for block_size in (64, 97, 1 << 10):  # small blocks put boundaries inside quoted values
        corpus = read_kid_text_csv(path, block_size=block_size)
        assert corpus.ids == [str(i) for i, _ in rows] and corpus[199].text == rows[199][1]


def test_file_digest_hashes_small_files_and_fingerprints_huge_ones(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3000)
    small = file_digest(path)
    assert small["bytes"] == 3000 and small["sha256"] == hashlib.sha256(b"x" * 3000).hexdigest()
    monkeypatch.setattr(fingerprint, "FULL_HASH_LIMIT", 1000)
    monkeypatch.setattr(fingerprint, "CHUNK", 100)
    big = file_digest(path)
    assert "sha256" not in big and big["method"] == fingerprint.SAMPLED_METHOD
    path.write_bytes(b"x" * 2999 + b"z")
    assert file_digest(path)["bytes"] == 3000
    assert file_digest(path)["fingerprint"] != big["fingerprint"]


def test_relevance_override():
    opts = LoadOptions(relevance="gold")
    assert resolve_relevance("t", opts, "answer-substring", ("answer-substring", "qrels")) == "qrels"
    with pytest.raises(MireEvalError, match="t: unknown relevance 'gold'; known: answer-word"):
        resolve_relevance("t", opts, "answer-word", ("answer-word",))


@pytest.mark.parametrize("name", ["okvqa", "okvqa-wiki11m", "infoseek", "evqa", "remuq"])
def test_registered_tasks_declare_themselves(name):
    from tasks.registry import TASKS

    spec = TASKS.get(name)
    assert spec.name == name and spec.fetch is not None and "test" in spec.splits and "train" in spec.splits
    assert spec.main_metric in {"hit_rate@5", "mrr@5"} and spec.relevance in {"qrels", "answer-word", "answer-substring"}


def test_task_modules_import_without_torch_or_datasets():
    import subprocess
    import sys

    code = ("import sys, tasks.okvqa, tasks.okvqa_wiki11m, tasks.infoseek, tasks.evqa, tasks.remuq; "
            "heavy = {'torch', 'datasets'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_release_ids_that_a_trec_file_cannot_hold_are_refused_at_load():
    """A run.trec written from them could not be read back (trec_eval splits on whitespace)."""
    from harness.core.types import Corpus, Query
    from tasks.releases import assemble

    def load(qid: str, pid: str):
        corpus = Corpus.from_records([{"_id": "p1", "title": "", "text": "x"}, {"_id": pid, "title": "", "text": "y"}])
        return assemble("okvqa", LoadOptions(), [Query(id=qid, text="q")], corpus, "answer-word")

    assert load("q1", "p2").corpus.ids == ["p1", "p2"]
    with pytest.raises(MireEvalError, match=r"^okvqa: query: field 'question_id': 'q 1' contains whitespace"):
        load("q 1", "p2")
    with pytest.raises(MireEvalError, match=r"^okvqa: corpus: field 'passage id': 'p\\t2' contains whitespace"):
        load("q1", "p\t2")
    with pytest.raises(MireEvalError, match=r"okvqa: corpus: field 'passage id': empty id"):
        load("q1", "")
