import random

import json

import pytest

from harness.errors import MireEvalError
from tasks.base import LoadOptions
from tasks.loading import load_task
from tasks.okvqa import TASK, TRAIN_SEED
from tasks.releases import file_digest

from release_fixtures import write_image, write_json

PASSAGES = "RAVQA_v2_data/okvqa/pre-extracted_features/passages"  # the release unpacked, as MIRe keeps it
CORPUS = "okvqa_full_clean_corpus.csv"


def ctx(i, text):
    return {"id": str(i), "text": text}


@pytest.fixture
def release(tmp_path):
    """The RA-VQA layout: retriever_*.json + okvqa_full_clean_corpus.csv, COCO root with val2014/."""
    data = tmp_path / "data"
    folder = data / PASSAGES
    write_json(folder / "retriever_test.json", [
        {"question_id": 20, "img_id": "COCO_val2014_000000000042",
         "question": "a red bus on a street What city is this bus in?", "caption": "a red bus on a street",
         "answers": {"London": 6, " paris ": 2}, "gold_answer": "london", "ctxs": [ctx(1, "London buses are red.")]},
        {"question_id": 3, "img_id": "COCO_val2014_000000000007",
         "question": "old question", "caption": "x", "answers": {"cake": 10}, "ctxs": [ctx(2, "cake")]},
        {"question_id": 11, "img_id": "COCO_val2014_000000000008",
         "question": "no passages here", "caption": "c", "answers": {"a": 1}, "ctxs": []},
        # a later record with the same question_id replaces the earlier one (the reference's dict)
        {"question_id": 3, "img_id": "COCO_val2014_000000000007",
         "question": "a cake on a table What is a cake made of? a cake on a table", "caption": "a cake on a table",
         "answers": {"flour": 10, "eggs": 3}, "ctxs": [ctx(2, "Cake is made of flour.")]},
    ])
    (folder / "okvqa_full_clean_corpus.csv").write_text(
        'kid,text\n1,London buses are red.\n2,"Cake is made of flour, eggs and sugar."\n0042,"He said ""hi""."\n'
    )
    images = tmp_path / "coco"
    write_image(images / "val2014" / "COCO_val2014_000000000042.jpg", (255, 0, 0), (8, 5))
    write_image(images / "val2014" / "COCO_val2014_000000000007.jpg", (0, 255, 0), (3, 9))
    return data, images


def test_parses_queries_corpus_images_and_relevance(release):
    data, images = release
    task = load_task("okvqa", LoadOptions(data_dir=data, image_dir=images))

    assert [q.id for q in task.queries] == ["3", "20"]  # sorted by question_id, duplicate replaced
    q3, q20 = task.queries
    assert q20.text == "What city is this bus in?"  # caption cut, ends stripped
    assert q3.text == "What is a cake made of?"  # both occurrences of the caption cut, not its words
    assert q20.answers == ("London", " paris ")  # dict keys, as released (harness.relevance normalises)
    assert q3.answers == ("flour", "eggs")
    assert q20.image.load().size == (8, 5) and q20.image.load().getpixel((0, 0))[0] > 200
    assert q3.image.load().size == (3, 9)

    assert task.relevance == "answer-word" and task.qrels is None and task.train is None
    assert task.corpus.ids == ["1", "2", "42"]  # integer kids, spelled as str(int) like pandas
    assert task.corpus[1].text == "Cake is made of flour, eggs and sugar."
    assert task.corpus[2].text == 'He said "hi".'
    assert task.meta["skipped_without_ctxs"] == 1
    assert task.meta["queries"] == 2 and task.meta["passages"] == 3 and task.meta["skipped_images"] == 0
    corpus_file = data / PASSAGES / "okvqa_full_clean_corpus.csv"
    assert task.meta["files"][1] == file_digest(corpus_file)
    assert len(task.meta["files"][1]["sha256"]) == 64


def test_flat_val2014_image_dir_is_the_reference_layout(release):
    data, images = release
    task = load_task("okvqa", LoadOptions(data_dir=data, image_dir=images / "val2014"))
    assert str(task.queries[1].image.path) == str(images / "val2014" / "COCO_val2014_000000000042.jpg")


def test_missing_image_errors_or_is_skipped_and_counted(release):
    data, images = release
    (images / "val2014" / "COCO_val2014_000000000007.jpg").unlink()
    with pytest.raises(MireEvalError, match="COCO_val2014_000000000007.jpg.*file not found.*--skip-missing-images"):
        load_task("okvqa", LoadOptions(data_dir=data, image_dir=images))
    task = load_task("okvqa", LoadOptions(data_dir=data, image_dir=images, skip_missing_images=True))
    assert [q.id for q in task.queries] == ["20"]
    assert task.meta["skipped_images"] == 1 and task.meta["skipped_image_query_ids"] == ["3"]


def test_corrupt_image_is_an_error(release):
    data, images = release
    (images / "val2014" / "COCO_val2014_000000000042.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(MireEvalError, match="COCO_val2014_000000000042.jpg.*cannot decode"):
        load_task("okvqa", LoadOptions(data_dir=data, image_dir=images))


def test_train_split_draws_one_seeded_positive_and_keeps_negatives(tmp_path):
    data = tmp_path / "data"
    ctxs = [ctx(i, f"passage {i}") for i in range(6)]
    write_json(data / "retriever_train.json", [  # the RA-VQA release's name; MIRe's copy adds "negs"
        {"question_id": q, "img_id": f"COCO_train2014_{q:012d}", "question": f"cap{q} why {q}?",
         "caption": f"cap{q}", "answers": {"x": 1}, "ctxs": ctxs, "negs": [f"negative {q}", ctx(99, "neg")]}
        for q in (5, 9, 7)
    ])
    (data / "okvqa_full_clean_corpus.csv").write_text("kid,text\n0,passage 0\n")
    images = tmp_path / "coco"
    for q in (5, 9, 7):
        write_image(images / "train2014" / f"COCO_train2014_{q:012d}.jpg")
    task = load_task("okvqa", LoadOptions(split="train", data_dir=data, image_dir=images))

    rng = random.Random(TRAIN_SEED)  # the rule: one choice per question, in question_id order
    expected = [rng.choice(ctxs)["id"] for _ in range(3)]
    assert [ex.query.id for ex in task.train] == ["5", "7", "9"]
    assert [ex.positive.id for ex in task.train] == expected
    assert task.train[0].query.text == "why 5?"
    assert [(n.id, n.text) for n in task.train[0].negatives] == [("5-negs0", "negative 5"), ("99", "neg")]
    again = load_task("okvqa", LoadOptions(split="train", data_dir=data, image_dir=images))
    assert [ex.positive.id for ex in again.train] == expected
    assert task.train[1].query.image.load().size == (6, 4)


def test_train_without_negatives_as_the_release_ships_it(release):
    data, images = release
    write_json(data / PASSAGES / "retriever_train.json", [
        {"question_id": 4, "img_id": "COCO_train2014_000000000004", "question": "q?", "answers": {"a": 1},
         "ctxs": [ctx(1, "London buses are red.")]}])
    write_image(images / "train2014" / "COCO_train2014_000000000004.jpg")
    task = load_task("okvqa", LoadOptions(split="train", data_dir=data, image_dir=images))
    assert [(ex.query.id, ex.positive.id, ex.negatives) for ex in task.train] == [("4", "1", ())]


def test_fetch_of_a_test_only_release_reports_it_complete(release, capsys):
    from harness.cli_data import fetch_task

    data, images = release
    assert fetch_task("okvqa", data_dir=data, image_dir=images) == data
    out = capsys.readouterr().out
    assert "okvqa: release complete" in out and "retriever_train" not in out and "train2014" not in out

    with pytest.raises(MireEvalError, match=r"okvqa: 2 file\(s\) missing"):
        fetch_task("okvqa", data_dir=data, image_dir=images, split="train")
    out = capsys.readouterr().out
    assert f"missing {data / 'retriever_train.json'}  <- RA-VQA v2 data: hub dataset BByrneLab/RAVQAV2Data" in out
    assert "`hf download BByrneLab/RAVQAV2Data --repo-type dataset --local-dir DIR`" in out
    assert f"missing {images / 'train2014'}/  <- http://images.cocodataset.org/zips/train2014.zip (unzip) [13 GB]" in out


def test_corpus_source_names_the_vis_dpr_release(tmp_path, capsys):
    from harness.cli_data import fetch_task

    with pytest.raises(MireEvalError, match="missing"):
        fetch_task("okvqa", data_dir=tmp_path, image_dir=tmp_path)
    line = next(l for l in capsys.readouterr().out.splitlines() if CORPUS in l)
    assert "Vis-DPR release" in line and "retriever_reader_for_okvqa" in line


def test_missing_file_names_it_and_says_how_to_get_it(tmp_path):
    with pytest.raises(MireEvalError, match=r"okvqa: missing retriever_test.json .*`mire-eval fetch okvqa`"):
        load_task("okvqa", LoadOptions(data_dir=tmp_path))


def test_malformed_json_and_missing_fields_name_file_and_field(release):
    data, images = release
    path = data / PASSAGES / "retriever_test.json"
    path.write_text('[{"question_id": 1,\n "img_id": }]')
    with pytest.raises(MireEvalError, match=r"retriever_test.json:2: malformed JSON"):
        load_task("okvqa", LoadOptions(data_dir=data, image_dir=images))
    write_json(path, [{"question_id": 1, "img_id": "COCO_val2014_000000000042", "ctxs": [], "answers": {}}])
    with pytest.raises(MireEvalError, match=r"retriever_test.json: item 0: missing field 'question'"):
        load_task("okvqa", LoadOptions(data_dir=data, image_dir=images))
    write_json(path, [{"question_id": 1, "img_id": "x", "question": "q", "answers": {}, "ctxs": [{"id": 1}]}])
    with pytest.raises(MireEvalError, match=r"item 0: ctxs\[0\]: missing field 'text'"):
        load_task("okvqa", LoadOptions(data_dir=data, image_dir=images))


def test_corpus_without_text_column_is_an_error(release):
    data, images = release
    (data / PASSAGES / "okvqa_full_clean_corpus.csv").write_text("kid,passage\n1,x\n")
    with pytest.raises(MireEvalError, match=r"okvqa_full_clean_corpus.csv: missing column 'text'"):
        load_task("okvqa", LoadOptions(data_dir=data, image_dir=images))


def test_declaration():
    assert TASK.name == "okvqa" and TASK.relevance == "answer-word" and TASK.main_metric == "hit_rate@5"
    assert set(TASK.splits) == {"test", "testdev", "train"}


@pytest.mark.parametrize("layout", ["", "okvqa/pre-extracted_features/passages", "pre-extracted_features/passages"])
def test_the_release_unpacked_at_any_level_reads_like_mires_copy(release, tmp_path, layout):
    """MIRe keeps data/okvqa/RAVQA_v2_data/okvqa/pre-extracted_features/passages/ (the fixture);
    --data-dir may also point inside the unpacked release, or at the files themselves."""
    import shutil

    data, images = release
    moved = tmp_path / "elsewhere"
    shutil.copytree(data / PASSAGES, moved / layout)
    ours = load_task("okvqa", LoadOptions(data_dir=moved, image_dir=images))
    mire = load_task("okvqa", LoadOptions(data_dir=data, image_dir=images))
    assert [(q.id, q.text) for q in ours.queries] == [(q.id, q.text) for q in mire.queries] and len(ours.queries) == 2


def test_release_files_read_are_the_run_inputs(release, tmp_path):
    """The files the adapter read are the run's inputs; editing the corpus means a new run."""
    from harness.evaluate import RunSettings, run_evaluation

    data, images = release
    folder = data / PASSAGES
    options = LoadOptions(data_dir=data, image_dir=images)
    task = load_task("okvqa", options)
    read = {folder / "retriever_test.json", folder / "okvqa_full_clean_corpus.csv"}
    assert task.inputs == {str(p.resolve()): file_digest(p)["sha256"] for p in read}

    def run():
        return run_evaluation(RunSettings(task="okvqa", retriever="bm25", load=options, output=tmp_path / "res"))

    first = run()
    assert run().reused
    corpus = folder / "okvqa_full_clean_corpus.csv"
    corpus.write_text(corpus.read_text().replace("London buses are red.", "Buses."))
    assert not run().reused and first.directory.exists()


def test_fetch_prints_the_plan_with_the_archive_size_and_the_image_coverage(release, capsys):
    from harness.cli_data import fetch_task

    data, images = release
    fetch_task("okvqa", data_dir=data, image_dir=images)
    out = capsys.readouterr().out
    plan, checked = out.split("ok      ", 1)
    assert "okvqa: the test split needs 3 file(s), downloaded by hand (not from a hub):" in plan
    assert "RAVQA_v2_data.tar.gz, 31.1 GB; untar it, then unzip the zips inside it" in plan
    assert "[inside RAVQA_v2_data.tar.gz (31.1 GB)]" in plan
    assert f"{images / 'val2014'}/  <- http://images.cocodataset.org/zips/val2014.zip (unzip)  [6 GB]" in plan
    assert "okvqa: image coverage of the test split (image reference, images, where):" in checked
    assert f"  COCO_val2014_*" in checked and f"image(s)  <- {images / 'val2014'}" in checked


def test_fetch_refuses_a_split_whose_images_the_plan_does_not_hold(release, capsys):
    from harness.cli_data import fetch_task

    data, images = release
    records = json.loads((data / PASSAGES / "retriever_test.json").read_text())
    records[0]["img_id"] = records[0]["img_id"].replace("val2014", "train2014")
    write_json(data / PASSAGES / "retriever_test.json", records)
    with pytest.raises(MireEvalError, match=r"okvqa: the test split references 1 image\(s\) that no folder of the "
                                            r"plan holds \(COCO_train2014_\*\)"):
        fetch_task("okvqa", data_dir=data, image_dir=images)
    assert "  COCO_train2014_*                1 image(s)  NOT COVERED by the plan" in capsys.readouterr().out
