import pytest

from harness.core.errors import MireEvalError
from harness.core.images import check_ref
from tasks.base import LoadOptions
from tasks.loading import load_task
from tasks.images import TsvImage, WebQAImages

from tests.helpers.release_fixtures import image_bytes, write_json, write_webqa_tsv


def question(qid, img_id, gold, text="which animal is on the flag of this country?"):
    return {"question_id": qid, "img_id": img_id, "question": text, "answers": {"a dragon is on the flag": 1},
            "ctxs": [{"id": gold, "text": f"gold passage {gold}"}, {"id": "999", "text": "another"}]}


@pytest.fixture
def release(tmp_path):
    """ReMuQ files next to data/webqa/imgs.{tsv,lineidx} (MIRe's layout)."""
    data = tmp_path / "remuq"
    write_json(data / "test.json", [question("q2", "20000001", "17"), question("q1", "30000000", "5")])
    write_json(data / "train.json", [question("t1", "30000000", "5"), question("t0", "20000001", "17")])
    (data / "open_corpus_195837.csv").write_text("kid,text\n5,The Welsh flag has a dragon.\n17,gold passage 17\n")
    # line i of the tsv holds image id with id % 10_000_000 == i
    write_webqa_tsv(data / "webqa", {"30000000": image_bytes((0, 0, 255), (5, 7)),
                                     "20000001": image_bytes((0, 255, 0), (4, 4))})
    return data


def test_queries_images_from_tsv_offsets_and_gold_qrels(release):
    task = load_task("remuq", LoadOptions(data_dir=release))
    assert [q.id for q in task.queries] == ["q1", "q2"]
    q1, q2 = task.queries
    assert isinstance(q1.image, TsvImage) and q1.image.offset == 0 and q2.image.offset > 0
    assert q1.image.load().size == (5, 7) and q1.image.load().getpixel((2, 2))[2] > 200
    assert q2.image.load().size == (4, 4)
    assert task.relevance == "qrels" and task.qrels == {"q1": {"5": 1}, "q2": {"17": 1}}
    assert task.corpus.ids == ["5", "17"] and task.corpus[0].text == "The Welsh flag has a dragon."
    assert task.meta["queries_without_relevant"] == 0 and task.meta["passages"] == 2
    assert {f["file"] for f in task.meta["files"]} == {"test.json", "open_corpus_195837.csv", "imgs.lineidx", "imgs.tsv"}


def test_train_uses_the_first_ctx(release):
    task = load_task("remuq", LoadOptions(split="train", data_dir=release))
    assert [(ex.query.id, ex.positive.id, ex.positive.text) for ex in task.train] == [
        ("t0", "17", "gold passage 17"), ("t1", "5", "gold passage 5")]
    assert task.train[0].negatives == ()


def test_image_dir_option_points_at_the_tsv(release, tmp_path):
    moved = tmp_path / "elsewhere"
    (release / "webqa").rename(moved)
    with pytest.raises(MireEvalError, match="remuq: missing imgs.tsv"):
        load_task("remuq", LoadOptions(data_dir=release))
    assert len(load_task("remuq", LoadOptions(data_dir=release, image_dir=moved)).queries) == 2


def test_the_tsv_is_read_by_offset_not_whole(release, monkeypatch):
    task = load_task("remuq", LoadOptions(data_dir=release))
    reads = []
    import builtins

    real_open = builtins.open

    class Spy:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def seek(self, n):
            return self.f.seek(n)

        def readline(self):
            line = self.f.readline()
            reads.append(len(line))
            return line

        def read(self, *a):
            raise AssertionError("the whole tsv must never be read")

    monkeypatch.setattr(builtins, "open", lambda p, *a, **k: Spy(real_open(p, *a, **k)) if str(p).endswith(".tsv") else real_open(p, *a, **k))
    task.queries[1].image.load()
    assert len(reads) == 1


def test_corrupt_missing_or_mismatched_images(release):
    write_webqa_tsv(release / "webqa", {"30000000": "bm90IGFuIGltYWdl",  # base64 of "not an image"
                                        "20000009": image_bytes()})
    with pytest.raises(MireEvalError, match=r"imgs.tsv#30000000: image of query 'q1': missing or corrupt \(cannot decode: cannot identify image file"):
        load_task("remuq", LoadOptions(data_dir=release))
    ref = WebQAImages(release / "webqa" / "imgs.tsv", release / "webqa" / "imgs.lineidx")("20000001")
    with pytest.raises(MireEvalError, match=r"imgs.tsv#20000001: image: line at byte \d+ holds image '20000009'"):
        ref.load()
    assert check_ref(ref).problem.startswith("missing or corrupt (line at byte")
    task = load_task("remuq", LoadOptions(data_dir=release, skip_missing_images=True))
    assert task.queries == [] and task.meta["skipped_images"] == 2
    assert sorted(task.meta["skipped_image_query_ids"]) == ["q1", "q2"]

    write_webqa_tsv(release / "webqa", {"30000000": image_bytes()})  # one line: id ...0001 is beyond it
    with pytest.raises(MireEvalError, match=r"query 'q2': missing or corrupt \(line 1 is beyond imgs.lineidx \(1 lines\)"):
        load_task("remuq", LoadOptions(data_dir=release))
    write_webqa_tsv(release / "webqa", {"30000000": "!!!", "20000001": image_bytes()})
    with pytest.raises(MireEvalError, match=r"imgs.tsv#30000000: image of query 'q1': missing or corrupt \(invalid base64\)"):
        load_task("remuq", LoadOptions(data_dir=release))


def test_missing_fields_and_files(release):
    write_json(release / "test.json", [{"question_id": "q", "question": "x", "answers": {}, "ctxs": []}])
    with pytest.raises(MireEvalError, match=r"test.json: item 0: missing field 'img_id'"):
        load_task("remuq", LoadOptions(data_dir=release))
    (release / "open_corpus_195837.csv").unlink()
    with pytest.raises(MireEvalError, match=r"remuq: missing open_corpus_195837.csv"):
        load_task("remuq", LoadOptions(data_dir=release))
    (release / "webqa" / "imgs.lineidx").write_text("0\nten\n")
    with pytest.raises(MireEvalError):
        load_task("remuq", LoadOptions(data_dir=release))


def test_answer_relevance_is_a_named_option(release):
    task = load_task("remuq", LoadOptions(data_dir=release, relevance="answer-word"))
    assert task.relevance == "answer-word" and task.qrels is None
    with pytest.raises(MireEvalError, match="remuq: unknown relevance 'bogus'"):
        load_task("remuq", LoadOptions(data_dir=release, relevance="bogus"))


def test_mire_layout_with_webqa_beside_the_remuq_folder(release):
    """MIRe keeps data/remuq/ and data/webqa/ side by side; WebQA's release unpacks to imgs/."""
    sibling = release.parent / "webqa"
    (release / "webqa").rename(sibling)
    task = load_task("remuq", LoadOptions(data_dir=release))
    assert [q.id for q in task.queries] == ["q1", "q2"] and task.queries[0].image.load().size == (5, 7)
    assert task.meta["image_tsv"] == str(release / "../webqa" / "imgs.tsv")
    sibling.rename(release / "imgs")
    assert load_task("remuq", LoadOptions(data_dir=release)).meta["image_tsv"] == str(release / "imgs" / "imgs.tsv")
