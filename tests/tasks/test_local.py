"""The local format: parsing, splits, and a one-line error for every kind of bad input."""

import json

import pytest

from harness.core.errors import MireEvalError
from tasks.base import LoadOptions
from tasks.loading import load_task
from tests.helpers.local_task import make_local_task, write_jsonl


def load(root, **kw):
    return load_task(f"local:{root}", LoadOptions(**kw))


def test_parses_queries_corpus_qrels_and_images(local_task):
    data = load(local_task)
    assert [q.id for q in data.queries] == ["q-fox", "q-owl", "q-seal"]
    assert data.qrels == {"q-fox": {"p-fox": 1}, "q-owl": {"p-owl": 1}, "q-seal": {"p-seal": 1}}
    assert data.relevance == "qrels" and len(data.corpus) == 5
    assert data.corpus[0].title == "Red fox"
    assert data.queries[2].answers == ("herring", "cod")
    assert data.queries[0].image.load().size == (32, 32)
    assert set(data.meta["files"]) == {"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"}


def test_train_split_gives_training_pairs(local_task):
    data = load(local_task, split="train")
    assert [(e.query.id, e.positive.id) for e in data.train] == [("q-crab", "p-crab")]


def test_without_qrels_one_test_split_judged_by_answers(tmp_path):
    data = load(make_local_task(tmp_path / "t"))
    assert data.relevance == "answer-word" and data.qrels is None and len(data.queries) == 4
    with pytest.raises(MireEvalError, match="only split is 'test'"):
        load(tmp_path / "t", split="train")


@pytest.mark.parametrize("mutate, message", [
    (lambda r: (r / "corpus.jsonl").unlink(), r"corpus.jsonl: file not found"),
    (lambda r: write_jsonl(r / "corpus.jsonl", ['{"_id": "a", "text": "x"}', "{not json"]), r"corpus.jsonl:2: malformed JSON"),
    (lambda r: write_jsonl(r / "corpus.jsonl", [{"_id": "a"}]), r"corpus.jsonl:1: missing field 'text'"),
    (lambda r: write_jsonl(r / "corpus.jsonl", [{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}]), r"corpus.jsonl:2: duplicate _id 'a'"),
    (lambda r: write_jsonl(r / "queries.jsonl", [{"_id": "q", "text": 3}]), r"queries.jsonl:1: field 'text' must be str"),
    (lambda r: write_jsonl(r / "queries.jsonl", [{"_id": "q", "text": "t", "answers": [1]}]), r"queries.jsonl:1: field 'answers'"),
    (lambda r: (r / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq-nope\tp-fox\t1\n"), r"test.tsv:2: query-id: 'q-nope' is not in queries.jsonl"),
    (lambda r: (r / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq-fox\tp-nope\t1\n"), r"test.tsv:2: corpus-id: 'p-nope' is not in corpus.jsonl"),
    (lambda r: (r / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq-fox\tp-fox\tx\n"), r"test.tsv:2: score: not an integer"),
    (lambda r: (r / "images" / "owl.png").unlink(), r"images/owl.png: image of query 'q-owl': missing or corrupt \(file not found\)"),
    (lambda r: (r / "images" / "owl.png").write_bytes(b"\x89PNG garbage"), r"images/owl.png: image of query 'q-owl': missing or corrupt \(cannot decode"),
])
def test_bad_input_is_one_line_naming_file_and_field(local_task, mutate, message):
    mutate(local_task)
    with pytest.raises(MireEvalError, match=message) as err:
        load(local_task)
    assert "\n" not in str(err.value)


def test_skip_missing_images_skips_and_counts(local_task):
    (local_task / "images" / "owl.png").write_bytes(b"not an image")
    data = load(local_task, skip_missing_images=True)
    assert [q.id for q in data.queries] == ["q-fox", "q-seal"]
    assert data.meta["skipped_image_query_ids"] == ["q-owl"] and data.meta["skipped_images"] == 1
    assert "q-owl" not in data.qrels


def test_unknown_split_and_missing_directory(local_task, tmp_path):
    with pytest.raises(MireEvalError, match="no dev.tsv; splits here: test, train"):
        load(local_task, split="dev")
    with pytest.raises(MireEvalError, match="task directory not found"):
        load(tmp_path / "nowhere")


def test_numeric_ids_are_read_as_strings(tmp_path):
    root = make_local_task(tmp_path / "t")
    rows = [json.loads(l) for l in (root / "corpus.jsonl").read_text().splitlines()]
    rows[0]["_id"] = 7
    write_jsonl(root / "corpus.jsonl", rows)
    assert load(root).corpus.ids[0] == "7"


@pytest.mark.parametrize("mutate, message", [
    (lambda r: write_jsonl(r / "corpus.jsonl", [{"_id": "p fox", "text": "x"}]), r"corpus.jsonl:1: field '_id': 'p fox' contains whitespace"),
    (lambda r: write_jsonl(r / "queries.jsonl", [{"_id": "q\tfox", "text": "t"}]), r"queries.jsonl:1: field '_id': 'q\\tfox' contains whitespace"),
    (lambda r: write_jsonl(r / "queries.jsonl", [{"_id": "", "text": "t"}]), r"queries.jsonl:1: field '_id': empty id"),
    (lambda r: (r / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq-fox\tp-fox\t1\nq-owl\tp-owl\t1\nq-fox\tp-fox\t2\n"),
     r"test.tsv:4: corpus-id: 'p-fox' is judged twice for query 'q-fox' \(lines 2 and 4\)"),
    (lambda r: (r / "corpus.jsonl").write_bytes(b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": "\xff"}\n'), r"corpus.jsonl:2: encoding: invalid UTF-8"),
    (lambda r: (r / "queries.jsonl").write_text('{"_id": "q", "text": "t"}\n', encoding="utf-16"), r"queries.jsonl:1: encoding: UTF-16 file"),
    (lambda r: (r / "qrels" / "test.tsv").write_bytes(b"query-id\tcorpus-id\tscore\nq-fox\tp-\xe9\t1\n"), r"test.tsv:2: encoding: invalid UTF-8"),
    (lambda r: write_jsonl(r / "queries.jsonl", ['{"_id": "q", "text": ' + "[" * 100_000 + "]" * 100_000 + "}"]), r"queries.jsonl:1: malformed JSON line \(nested too deeply\)"),
])
def test_more_bad_input_is_one_line_naming_file_line_and_field(local_task, mutate, message):
    mutate(local_task)
    with pytest.raises(MireEvalError, match=message) as err:
        load(local_task)
    assert "\n" not in str(err.value)


def test_bom_files_load_like_plain_ones(local_task):
    plain = load(local_task)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        path = local_task / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    data = load(local_task)
    assert [q.id for q in data.queries] == [q.id for q in plain.queries] and data.qrels == plain.qrels
    assert data.corpus.ids == plain.corpus.ids


@pytest.mark.parametrize("image", ["../outside.png", "images/../../outside.png", "ABSOLUTE", "images/link.png"])
def test_image_paths_must_stay_inside_the_task_folder(local_task, image):
    outside = local_task.parent / "outside.png"
    outside.write_bytes((local_task / "images" / "fox.png").read_bytes())
    (local_task / "images" / "link.png").symlink_to(outside)
    rows = [json.loads(line) for line in (local_task / "queries.jsonl").read_text().splitlines()]
    rows[1]["image"] = str(outside) if image == "ABSOLUTE" else image
    write_jsonl(local_task / "queries.jsonl", rows)
    with pytest.raises(MireEvalError, match=r"queries.jsonl:2: field 'image': .* leaves .*use --image-dir") as err:
        load(local_task)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("image", ["", "  "])
def test_an_empty_image_path_is_an_error_not_a_query_without_image(local_task, image):
    rows = [json.loads(line) for line in (local_task / "queries.jsonl").read_text().splitlines()]
    rows[1]["image"] = image
    write_jsonl(local_task / "queries.jsonl", rows)
    with pytest.raises(MireEvalError, match=r"^.*queries.jsonl:2: field 'image': empty path \(use null"):
        load(local_task)


def test_image_dir_is_where_images_elsewhere_are_read(local_task, tmp_path):
    elsewhere = tmp_path / "pictures"
    (local_task / "images").rename(elsewhere)
    rows = [json.loads(line) for line in (local_task / "queries.jsonl").read_text().splitlines()]
    for row in rows:
        row["image"] = row["image"].removeprefix("images/")
    write_jsonl(local_task / "queries.jsonl", rows)
    data = load(local_task, image_dir=elsewhere)
    assert data.queries[0].image.load().size == (32, 32)
    assert data.queries[0].image.path == elsewhere / "fox.png"


def test_relevance_names(local_task):
    assert load(local_task, relevance="gold").relevance == "qrels"
    assert load(local_task, relevance="answer-word").qrels is None
    with pytest.raises(MireEvalError, match=r"unknown relevance 'bogus'; known: gold, answer-word, answer-substring"):
        load(local_task, relevance="bogus")


def test_a_second_split_takes_the_first_splits_corpus_with_the_same_inputs(local_task, monkeypatch):
    """``finetune`` loads train, then test: the corpus is read once, and the test load's
    inputs (the run identity) are those of a fresh load."""
    import tasks.local

    fresh_test = load(local_task, split="test")
    reads = []
    real = tasks.local.read_corpus
    monkeypatch.setattr(tasks.local, "read_corpus", lambda path: reads.append(path) or real(path))
    train = load(local_task, split="train")
    test = load_task(f"local:{local_task}", LoadOptions(split="test"), corpus_from=train)
    assert len(reads) == 1 and test.corpus is train.corpus
    assert test.inputs == fresh_test.inputs and test.meta == fresh_test.meta
    assert [q.id for q in test.queries] == [q.id for q in fresh_test.queries]

    other = make_local_task(local_task.parent / "other", qrels={"test": [("q-fox", "p-fox")]})
    elsewhere = load_task(f"local:{other}", LoadOptions(split="test"), corpus_from=train)
    assert len(reads) == 2 and elsewhere.corpus is not train.corpus  # another source is read


def test_extra_query_fields_travel_on_the_query(tmp_path):
    root = make_local_task(tmp_path / "t")
    rows = [json.loads(line) for line in (root / "queries.jsonl").read_text().splitlines()]
    rows[0]["type"], rows[1]["difficulty"] = "image-needed", 3
    write_jsonl(root / "queries.jsonl", rows)
    queries = load(root).queries
    assert queries[0].extra == {"type": "image-needed"} and queries[1].extra == {"difficulty": 3}
    assert queries[2].extra == {}
