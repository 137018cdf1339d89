"""The diagnostic task: deterministic, balanced, and each query type needs what it claims."""

from __future__ import annotations

import collections
import hashlib
import json
import re

import numpy as np
import pytest
from PIL import Image

from harness.core.errors import MireEvalError
from tasks.diagnostic import QUERY_TYPES, DiagnosticConfig, chance_levels, generate, query_types
from tasks.local import read_queries


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("diag") / "d")


def _digest(directory):
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(directory)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _jsonl(path):
    return [json.loads(line) for line in open(path)]


@pytest.mark.slow
def test_generation_is_deterministic_from_the_seed(task_dir, tmp_path):
    assert _digest(generate(tmp_path / "again")) == _digest(task_dir)
    assert _digest(generate(tmp_path / "other", DiagnosticConfig(seed=1))) != _digest(task_dir)


def test_local_format_and_balanced_design(task_dir):
    corpus = _jsonl(task_dir / "corpus.jsonl")
    queries = {q["_id"]: q for q in _jsonl(task_dir / "queries.jsonl")}
    assert len(corpus) == DiagnosticConfig().n_objects == 48
    assert all(set(p) == {"_id", "title", "text"} for p in corpus)
    for split, per_object in (("train", 6), ("test", 2)):
        lines = (task_dir / "qrels" / f"{split}.tsv").read_text().splitlines()
        assert lines[0] == "query-id\tcorpus-id\tscore"
        pairs = [line.split("\t") for line in lines[1:]]
        assert all(q in queries and s == "1" for q, _, s in pairs)
        counts = collections.Counter((queries[q]["type"], p) for q, p, _ in pairs)
        # every object is the target of the same number of queries of every type
        assert set(counts.values()) == {per_object} and len(counts) == 48 * len(QUERY_TYPES)
    # the type travels on the query as read, no second reading of queries.jsonl
    assert query_types(read_queries(task_dir / "queries.jsonl", task_dir)) == {q: v["type"] for q, v in queries.items()}


def test_text_only_chance_is_exact_on_image_needed(task_dir):
    """Image-needed questions are a few fixed texts, each paired once with every object, so
    any ranking computed from the text alone hits exactly k of the N objects per text."""
    queries = {q["_id"]: q for q in _jsonl(task_dir / "queries.jsonl")}
    gold = {q: p for q, p, _ in (line.split("\t") for line in (task_dir / "qrels/test.tsv").read_text().splitlines()[1:])}
    targets = collections.defaultdict(list)
    for q, p in gold.items():
        if queries[q]["type"] == "image-needed":
            targets[queries[q]["text"]].append(p)
    assert len(targets) == 2
    for objects in targets.values():
        assert sorted(objects) == sorted(p["_id"] for p in _jsonl(task_dir / "corpus.jsonl"))
    names = [p["title"] for p in _jsonl(task_dir / "corpus.jsonl")]
    for q in queries.values():
        named = [n for n in names if n in q["text"]]
        assert len(named) == (1 if q["type"] == "text-sufficient" else 0)
    assert chance_levels(DiagnosticConfig())["text-only"]["image-needed"]["hit_rate@5"] == 5 / 48


def test_images_show_the_pattern_except_for_both_needed(task_dir):
    queries = _jsonl(task_dir / "queries.jsonl")
    sizes, white = set(), collections.defaultdict(list)
    for q in queries[::7]:
        with Image.open(task_dir / q["image"]) as img:
            sizes.add(img.size)
            pixels = np.asarray(img.convert("RGB"))
        white[q["type"]].append(int((pixels == 255).all(axis=2).sum()))  # the pattern is pure white
    assert sizes == {(128, 128)}
    assert max(white["both-needed"]) == 0
    assert min(white["image-needed"]) > 0 and min(white["text-sufficient"]) > 0


def test_both_needed_question_names_the_pattern_the_image_hides(task_dir):
    objects = {o["id"]: o for o in json.loads((task_dir / "diagnostic.json").read_text())["objects"]}
    queries = {q["_id"]: q for q in _jsonl(task_dir / "queries.jsonl")}
    for q in queries.values():
        obj = objects[q["_id"].split("-")[-2]]
        says_pattern = obj["pattern"] in q["text"]
        assert says_pattern == (q["type"] == "both-needed")
        words = set(re.findall(r"[a-z]+", q["text"].lower()))
        assert obj["colour"] not in words and obj["shape"] not in words


def test_bad_config_is_refused():
    with pytest.raises(MireEvalError, match="colours"):
        DiagnosticConfig(colours=("mauve",))
    with pytest.raises(MireEvalError, match="multiple of 2"):
        DiagnosticConfig(test_per_object=3)


def test_registered_task_generates_itself_once_and_loads_as_local(tmp_path, monkeypatch):
    from tasks.base import LoadOptions
    from tasks.loading import load_task

    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path))
    test = load_task("diagnostic", LoadOptions(split="test"))
    stamp = tmp_path / "diagnostic" / "diagnostic.json"
    first = stamp.stat().st_mtime_ns
    train = load_task("diagnostic", LoadOptions(split="train"))
    assert stamp.stat().st_mtime_ns == first  # generated once, then read
    assert test.name == "diagnostic" and test.relevance == "qrels"
    assert len(test.queries) == 288 and len(train.queries) == 864 and len(test.corpus) == 48
    assert collections.Counter(test.meta["query_types"].values()) == {t: 96 for t in QUERY_TYPES}
    assert test.meta["chance"]["random"]["hit_rate@1"] == 1 / 48
    assert len(train.train) == 864 and train.train[0].positive.id == train.qrels[train.train[0].query.id].popitem()[0]
    assert test.queries[0].image.load().size == (128, 128)


def test_output_that_cannot_be_a_directory_is_refused_before_writing(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MireEvalError, match=r"file: --output: is a file, not a directory"):
        generate(tmp_path / "file")
    with pytest.raises(MireEvalError, match=r"file/task: --output: .*file is a file, not a directory"):
        generate(tmp_path / "file" / "task")
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "qrels").write_text("x")
    with pytest.raises(MireEvalError, match=r"qrels: --output: is a file"):
        generate(tmp_path / "task")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file", "qrels", "task"]
