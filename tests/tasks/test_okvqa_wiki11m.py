import pytest

from harness.errors import MireEvalError
from tasks.base import LoadOptions
from tasks.loading import load_task
from tasks.blocks import convert_blocks
from tasks.okvqa_wiki11m import vqa_answers

from release_fixtures import write_image, write_json, write_lines


def vqa_files(folder, answers: dict[int, list[str]]):
    """OK-VQA val annotation and question files in the VQA format."""
    write_json(folder / "mscoco_val2014_annotations.json", {
        "license": {}, "data_subtype": "val2014",
        "annotations": [
            {"image_id": 42, "question_id": qid, "question_type": "other", "answer_type": "other",
             "confidence": 3,
             "answers": [{"answer_id": i + 1, "raw_answer": a, "answer": a, "answer_confidence": "yes"}
                         for i, a in enumerate(ans)]}
            for qid, ans in answers.items()]})
    write_json(folder / "OpenEnded_mscoco_val2014_questions.json", {
        "license": {}, "data_subtype": "val2014", "task_type": "Open-Ended",
        "questions": [{"image_id": 42, "question": "q?", "question_id": qid} for qid in answers]})


@pytest.fixture
def release(tmp_path):
    data = tmp_path / "okvqa"
    write_lines(data / "all_blocks.txt", [
        {"id": "0", "text": "The Eiffel Tower is in Paris."},
        {"id": 1, "text": "Red double-decker buses run in London."},
        "",
        {"id": "2", "text": "Cakes need flour."},
    ])
    write_lines(data / "test2014_pairs_cap_combine_sum.txt", [
        {"question_id": 4205, "image_id": 42, "question": "What city is this?", "answers": ["london"],
         "pos_passage": {"passage": "Red double-decker buses run in London."}},
        {"question_id": "77", "image_id": 7, "question": "What is this made of?", "answers": ["flour"],
         "pos_passage": {"passage": "Cakes need flour."}},
    ])
    vqa_files(data, {4205: ["London", "london", "", "United Kingdom"], 77: ["Flour", "sugar"], 1: ["x"]})
    images = tmp_path / "vid2r_images"  # MIRe's data/vid2r/images with coco/val2014 inside
    write_image(images / "coco" / "val2014" / "COCO_val2014_000000000042.jpg", size=(7, 3))
    write_image(images / "coco" / "val2014" / "COCO_val2014_000000000007.jpg", size=(2, 2))
    return data, images


def test_parses_pairs_answers_images_and_streams_the_corpus(release, cache):
    data, images = release
    task = load_task("okvqa-wiki11m", LoadOptions(data_dir=data, image_dir=images, cache_dir=cache))
    assert [q.id for q in task.queries] == ["77", "4205"]  # int question ids, numeric order
    q77, q4205 = task.queries
    assert q4205.text == "What city is this?" and q4205.image.load().size == (7, 3)
    assert q4205.answers == ("london", "united kingdom")  # lower-cased, empties dropped, merged
    assert q77.answers == ("flour", "sugar") and q77.image.load().size == (2, 2)
    assert task.relevance == "answer-word" and task.qrels is None
    assert task.corpus.ids == ["0", "1", "2"] and task.corpus[1].text == "Red double-decker buses run in London."

    arrows = list((cache / "okvqa-wiki11m").glob("all_blocks-*.arrow"))
    assert len(arrows) == 1  # converted once into the cache ...
    stamp = arrows[0].stat().st_mtime_ns
    again = load_task("okvqa-wiki11m", LoadOptions(data_dir=data, image_dir=images, cache_dir=cache))
    assert arrows[0].stat().st_mtime_ns == stamp and again.corpus.ids == task.corpus.ids  # ... then reused
    assert [f["file"] for f in task.meta["files"]] == [
        "test2014_pairs_cap_combine_sum.txt", "all_blocks.txt",
        "mscoco_val2014_annotations.json", "OpenEnded_mscoco_val2014_questions.json"]


def test_a_changed_corpus_file_is_converted_again(release, cache):
    data, images = release
    load_task("okvqa-wiki11m", LoadOptions(data_dir=data, image_dir=images, cache_dir=cache))
    with open(data / "all_blocks.txt", "a") as f:
        f.write('{"id": "3", "text": "new"}\n')
    task = load_task("okvqa-wiki11m", LoadOptions(data_dir=data, image_dir=images, cache_dir=cache))
    assert task.corpus.ids[-1] == "3"


def test_train_split_uses_pos_passage_and_train2014_images(release, cache):
    data, images = release
    write_lines(data / "train2014_pairs_cap_combine_sum.txt", [
        {"question_id": 9, "image_id": 5, "question": "Why?", "answers": ["a"],
         "pos_passage": {"passage": " Because. "}, "neg_passage": {"passage": "no"}}])
    write_image(images / "coco" / "train2014" / "COCO_train2014_000000000005.jpg")
    task = load_task("okvqa-wiki11m", LoadOptions(split="train", data_dir=data, image_dir=images, cache_dir=cache))
    (ex,) = task.train
    assert ex.query.id == "9" and ex.positive.text == "Because." and ex.query.answers == ()
    assert ex.query.image.path.name == "COCO_train2014_000000000005.jpg" and ex.query.image.load()


def test_errors_name_file_line_and_field(release, cache, tmp_path):
    data, images = release
    bad = tmp_path / "bad_blocks.txt"
    write_lines(bad, [{"id": "0", "text": "ok"}, '{"id": "1", "text": ', ])
    with pytest.raises(MireEvalError, match=r"bad_blocks.txt:2: malformed JSON line"):
        convert_blocks(bad, tmp_path / "out.arrow")
    assert not (tmp_path / "out.arrow").exists() and not (tmp_path / "out.arrow.tmp").exists()
    write_lines(bad, [{"id": "0"}])
    with pytest.raises(MireEvalError, match=r"bad_blocks.txt:1: missing field 'text'"):
        convert_blocks(bad, tmp_path / "out.arrow")

    vqa_files(data, {77: ["flour"]})  # 4205 has no answers
    with pytest.raises(MireEvalError, match=r"test2014_pairs_cap_combine_sum.txt:1: question_id 4205 has no answers"):
        load_task("okvqa-wiki11m", LoadOptions(data_dir=data, image_dir=images, cache_dir=cache))
    write_lines(data / "test2014_pairs_cap_combine_sum.txt", [{"question_id": 77, "question": "x"}])
    with pytest.raises(MireEvalError, match=r"test2014_pairs_cap_combine_sum.txt:1: missing field 'image_id'"):
        load_task("okvqa-wiki11m", LoadOptions(data_dir=data, image_dir=images, cache_dir=cache))
    (data / "mscoco_val2014_annotations.json").unlink()
    with pytest.raises(MireEvalError, match=r"okvqa-wiki11m: missing mscoco_val2014_annotations.json"):
        load_task("okvqa-wiki11m", LoadOptions(data_dir=data, image_dir=images, cache_dir=cache))


def test_vqa_answers_checks_the_question_file(tmp_path):
    vqa_files(tmp_path, {1: ["A"]})
    write_json(tmp_path / "OpenEnded_mscoco_val2014_questions.json", {"questions": []})
    with pytest.raises(MireEvalError, match=r"annotations\[0\]: question_id 1 is not in OpenEnded"):
        vqa_answers(tmp_path / "mscoco_val2014_annotations.json", tmp_path / "OpenEnded_mscoco_val2014_questions.json")


def test_the_okvqa_release_layout_reads_the_same_as_mires_flat_copy(release, cache, tmp_path, capsys):
    """okvqa-release: DATA_DIR/data/<split>2014_pairs_cap_combine_sum.txt, with all_blocks.txt,
    passage_id_to_line_id.json and the VQA files at DATA_DIR; MIRe: all of them in data/okvqa/."""
    import shutil

    from harness.cli_data import fetch_task

    flat, images = release
    own = tmp_path / "okvqa-release"
    shutil.copytree(flat, own)
    (own / "data").mkdir()
    (own / "test2014_pairs_cap_combine_sum.txt").rename(own / "data" / "test2014_pairs_cap_combine_sum.txt")
    write_json(own / "passage_id_to_line_id.json", {"0": 0, "1": 1, "2": 3})
    by_layout = [load_task("okvqa-wiki11m", LoadOptions(data_dir=d, image_dir=images, cache_dir=cache))
                 for d in (flat, own)]
    assert [(q.id, q.text, q.answers, q.image.path) for q in by_layout[0].queries] == \
           [(q.id, q.text, q.answers, q.image.path) for q in by_layout[1].queries]
    assert len(by_layout[1].queries) == 2 and by_layout[1].corpus.ids == by_layout[0].corpus.ids

    for d in (flat, own):  # a test-only copy is complete: no train pairs, no train2014 images
        assert fetch_task("okvqa-wiki11m", data_dir=d, image_dir=images) == d
    out = capsys.readouterr().out
    assert out.count("okvqa-wiki11m: release complete") == 2 and "train2014" not in out
    assert f"ok      {own / 'data' / 'test2014_pairs_cap_combine_sum.txt'}" in out


def test_fetch_names_the_published_gz_and_counts_the_split_from_the_pair_file(release, tmp_path, capsys):
    from harness.cli_data import fetch_task

    flat, images = release
    fetch_task("okvqa-wiki11m", data_dir=flat, image_dir=images)
    out = capsys.readouterr().out
    assert "all_blocks.txt  <- https://ciir.cs.umass.edu/downloads/ORConvQA/all_blocks.txt.gz (gunzip it" in out
    assert "<- https://ciir.cs.umass.edu/downloads/okvqa/ data/test2014_pairs_cap_combine_sum.txt" in out
    assert "okvqa-wiki11m: test2014_pairs_cap_combine_sum.txt holds 2 test questions" in out
    assert f"  COCO_val2014_*                  2 image(s)  <- {images / 'coco' / 'val2014'}" in out
