import json
import shutil

import pytest

from harness.errors import MireEvalError
from tasks.base import LoadOptions
from tasks.loading import load_task
from tasks.m2kr import HUB_ID, IMAGES_HUB_ID

from m2kr_fixtures import (DATA_SCHEMA, FEB, INSTRUCTION, JUNE, data_rows, inat_val_archive, local_range_reader,
                           serve_hf_urls, serve_inat_val, write_m2kr_hub, write_parquet, write_snapshot)
from release_fixtures import HubStandIn, write_image, write_tar, write_zip


@pytest.fixture
def evqa(tmp_path):
    root = tmp_path / "M2KR"
    paths = ["inat/train/0001.jpg", "landmarks/a/b/c/abc.jpg"]
    write_snapshot(root, "EVQA", paths, [{"language": "en", "passage_id": "p9", "passage_content": None}])
    images = tmp_path / "evqa_images"
    write_image(images / paths[0], size=(3, 5))
    write_image(images / paths[1], size=(5, 3))
    return root, images


def test_evqa_from_a_local_snapshot(evqa, cache):
    root, images = evqa
    task = load_task("evqa", LoadOptions(data_dir=root, image_dir=images, cache_dir=cache))
    assert [q.id for q in task.queries] == ["EVQA_0", "EVQA_1"]  # sorted by question_id
    q0 = task.queries[0]
    assert q0.text == "What species is this 0?" and q0.instruction == INSTRUCTION
    assert q0.answers == ("Species 0", "sp0") and q0.image.load().size == (3, 5)
    assert task.queries[1].image.path == images / "landmarks/a/b/c/abc.jpg"  # E-VQA keeps img_path
    assert task.relevance == "answer-substring" and task.qrels is None and task.train is None
    assert task.corpus.ids == ["p0", "p1", "p9"] and task.corpus[0].text == "This is species 0."
    assert task.corpus[2].text == "" and task.corpus[0].title == ""
    assert task.meta["query_files"]["files"][0]["file"] == "test-00000-of-00001.parquet"
    assert len(task.meta["corpus_files"]["files"][0]["sha256"]) == 64 and task.meta["instruction_field"]


def test_gold_relevance_uses_pos_item_ids(evqa, cache):
    root, images = evqa
    task = load_task("evqa", LoadOptions(data_dir=root, image_dir=images, cache_dir=cache, relevance="gold"))
    assert task.relevance == "qrels"
    assert task.qrels == {"EVQA_0": {"p0": 1, "p0b": 1}, "EVQA_1": {"p1": 1, "p1b": 1}}
    assert task.meta["queries_without_relevant"] == 0


def test_train_split_positive_is_the_first_pos_item(evqa, cache):
    root, images = evqa
    task = load_task("evqa", LoadOptions(split="train", data_dir=root, image_dir=images, cache_dir=cache))
    assert [(ex.query.id, ex.positive.id, ex.positive.text) for ex in task.train] == [
        ("EVQA_train_0", "p0", "passage about 0"), ("EVQA_train_1", "p1", "passage about 1")]


def test_infoseek_images_by_basename_with_the_jpg_fallback(tmp_path, cache):
    root = tmp_path / "M2KR"
    write_snapshot(root, "Infoseek", ["00/oven_00000001.JPEG", "05/oven_00000002.png"])
    images = tmp_path / "infoseek_images"
    write_image(images / "oven_00000001.jpg", size=(4, 4))  # the reference retries with .jpg
    write_image(images / "oven_00000002.png", size=(2, 6))
    task = load_task("infoseek", LoadOptions(data_dir=root, image_dir=images, cache_dir=cache))
    assert [q.image.path.name for q in task.queries] == ["oven_00000001.jpg", "oven_00000002.png"]
    assert task.queries[1].image.load().size == (2, 6)

    (images / "oven_00000002.png").unlink()
    with pytest.raises(MireEvalError, match=r"oven_00000002.png: image of query 'Infoseek_1': missing or corrupt \(file not found\)"):
        load_task("infoseek", LoadOptions(data_dir=root, image_dir=images, cache_dir=cache))
    task = load_task("infoseek", LoadOptions(data_dir=root, image_dir=images, cache_dir=cache, skip_missing_images=True))
    assert [q.id for q in task.queries] == ["Infoseek_0"] and task.meta["skipped_images"] == 1


def test_schema_and_layout_errors(evqa, cache, tmp_path):
    root, images = evqa
    rows = [{k: v for k, v in r.items() if k != "answers"} for r in data_rows("EVQA", ["a.jpg"])]
    write_parquet(root / "EVQA_data" / "test-00000-of-00001.parquet", rows)
    with pytest.raises(MireEvalError, match=r"EVQA_data/test: missing field 'answers'"):
        load_task("evqa", LoadOptions(data_dir=root, image_dir=images, cache_dir=cache))
    rows = data_rows("EVQA", ["a.jpg", "b.jpg"])
    rows[1]["pos_item_ids"] = []
    write_parquet(root / "EVQA_data" / "test-00000-of-00001.parquet", rows, DATA_SCHEMA)
    with pytest.raises(MireEvalError, match=r"EVQA_data/test row 1: field 'pos_item_ids' is empty"):
        load_task("evqa", LoadOptions(data_dir=root, image_dir=images, cache_dir=cache))
    with pytest.raises(MireEvalError, match=r"is not a copy of .*M2KR: it lacks EVQA_data/"):
        load_task("evqa", LoadOptions(data_dir=tmp_path, cache_dir=cache))
    shutil.rmtree(root / "EVQA_passages")
    (root / "EVQA_passages").mkdir()
    write_snapshot(tmp_path / "ok", "EVQA", ["a.jpg"])
    shutil.copytree(tmp_path / "ok" / "EVQA_data", root / "EVQA_data", dirs_exist_ok=True)
    with pytest.raises(MireEvalError, match=r"EVQA_passages: no parquet files for split 'test_passages'"):
        load_task("evqa", LoadOptions(data_dir=root, image_dir=images, cache_dir=cache, skip_missing_images=True))


def test_offline_without_data_says_what_to_fetch(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MireEvalError, match=r"infoseek: cannot read Infoseek_data/test from the hub .*`mire-eval fetch "
                                            r"infoseek`.*`hf download .* --repo-type dataset .*--local-dir DIR` "
                                            r"and pass --data-dir DIR"):
        load_task("infoseek", LoadOptions(cache_dir=cache))


def test_unreachable_hub_is_one_line_before_any_request(cache, monkeypatch):
    import harness.hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(harness.hub, "reachable", lambda timeout=None: False)
    hub = HubStandIn({}, {HUB_ID: [(JUNE, None, "")]}).install(monkeypatch)
    from harness.cli_data import fetch_task

    for attempt in (lambda: load_task("infoseek", LoadOptions(cache_dir=cache)), lambda: fetch_task("evqa")):
        with pytest.raises(MireEvalError, match=r"hub \(https://huggingface.co\) cannot be reached; .*hf download") as err:
            attempt()
        assert "\n" not in str(err.value) and "--revision" not in str(err.value)  # no commit known yet
    assert hub.listed == [] and hub.history_listed == [] and hub.downloaded == []
    assert not (cache / "m2kr" / "fetch.json").exists()  # nothing resolved, nothing recorded


def test_infoseek_declares_no_valid_split(cache):
    from harness.cli_data import fetch_task

    with pytest.raises(MireEvalError, match=r"task 'infoseek' has no split 'valid'; known: test, train"):
        load_task("infoseek", LoadOptions(split="valid", cache_dir=cache))
    with pytest.raises(MireEvalError, match=r"task 'infoseek' has no split 'valid'"):
        fetch_task("infoseek", split="valid")


@pytest.fixture
def hub_copy(tmp_path):
    """M2KR's history (Feb 2024 E-VQA only, March 2024 + InfoSeek, June 2024 both re-uploaded)
    and M2KR_Images' archives as published (m2kr_fixtures.write_m2kr_hub)."""
    return write_m2kr_hub(tmp_path)


def test_fetch_evqa_test_takes_the_landmark_tar_and_inat_2021_val_not_inat_zip(hub_copy, cache, monkeypatch, capsys,
                                                                               tmp_path):
    hub = HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    serve_inat_val(monkeypatch, inat_val_archive(tmp_path / "inat2021"))
    from harness.cli_data import fetch_task

    assert fetch_task("evqa") == cache / "m2kr"
    out = capsys.readouterr().out
    plan, rest = out.split("in all")
    cover, verified = rest.split("evqa: 3 test queries")
    images = cache / "m2kr-images" / "EVQA"
    assert f"{HUB_ID} at commit {JUNE} (resolved online" in plan  # no pin, no record: the newest complete commit
    assert f"{HUB_ID}@{JUNE[:10]}:EVQA_data/test-00000-of-00001.parquet" in plan
    assert "BByrneLab/M2KR_Images@main:EVQA/google-landmark.tar" in plan and "inat.zip" not in out
    assert f"{(tmp_path / 'inat2021' / 'val.tar.gz').as_uri()}  8.4 GB (as published)  -> {images / 'inat2021_val.tar.gz'}" in plan
    assert f"inat2021_val.tar.gz: provides inat/val/ " in plan and f"unpacked into {images / 'inat'}" in plan
    assert "+ 8.4 GB in all" in out  # the URL's size as its source states it
    assert "  inat/val/                       2 image(s)  <- inat2021_val.tar.gz" in cover
    assert "  google-landmark/train/          1 image(s)  <- EVQA/google-landmark.tar" in cover
    assert "3 passages" in verified and "(0 missing)" in verified
    assert (images / "inat" / "val" / "04883_Plantae_x" / "0002.jpg").is_file()
    assert (images / "google-landmark" / "train" / "a" / "b" / "abc.jpg").is_file()
    m2kr_files, image_files = hub.downloaded[0][2], hub.downloaded[1][2]  # the test split only
    assert m2kr_files == ("EVQA_data/test-00000-of-00001.parquet",
                          "EVQA_passages/test_passages-00000-of-00001.parquet", "README.md")
    assert image_files == ("EVQA/google-landmark.tar",)
    record = json.loads((cache / "m2kr" / "fetch.json").read_text())
    assert record["revision"] == JUNE and record["fetches"]["EVQA/test"]["revision"] == JUNE
    assert record["fetches"]["EVQA/test"]["image_archives"] == [
        "EVQA/google-landmark.tar", (tmp_path / "inat2021" / "val.tar.gz").as_uri()]
    task = load_task("evqa", LoadOptions(cache_dir=cache))  # later loads read the cached copy
    assert task.queries[0].image.load() and task.meta["revision"] == JUNE
    assert task.meta["fetched"]["revision"] == JUNE and task.meta["instruction_field"]


def test_fetch_evqa_train_takes_inat_zip_whose_members_are_read_from_its_central_directory(
        hub_copy, cache, monkeypatch, capsys):
    hub = HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    from tasks import m2kr_images

    zip_path = hub_copy.repos[(IMAGES_HUB_ID, None)] / "EVQA" / "inat.zip"
    asked = []
    monkeypatch.setattr(m2kr_images, "http_range_reader",
                        lambda url, headers=None: (asked.append(url), local_range_reader(zip_path))[1])
    from harness.cli_data import fetch_task

    fetch_task("evqa", split="train")
    out = capsys.readouterr().out
    assert asked == [f"https://huggingface.co/datasets/{IMAGES_HUB_ID}/resolve/main/EVQA/inat.zip"]
    assert "EVQA/inat.zip: provides inat/train/ (members read from its central directory just now" in out
    assert "  inat/train/                     1 image(s)  <- EVQA/inat.zip" in out
    assert hub.downloaded[1][2] == ("EVQA/google-landmark.tar", "EVQA/inat.zip") and "val.tar.gz" not in out
    assert (cache / "m2kr-images" / "EVQA" / "inat" / "train" / "00000_Animalia_y" / "0001.jpg").is_file()
    assert "evqa: 2 train queries" in out


def test_a_plan_leaving_images_uncovered_is_refused_before_any_archive_moves(hub_copy, cache, monkeypatch, capsys):
    """The zip as once described (train/ and val/) would have covered inat/val; the real one
    does not: a test split pointed at it is refused after the parquet, before the archives."""
    from tasks import m2kr_images

    hub = HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    sources = dict(m2kr_images.SOURCES, EVQA={**m2kr_images.SOURCES["EVQA"],
                                             "test": (m2kr_images.INAT_ZIP, m2kr_images.LANDMARK_TAR)})
    monkeypatch.setattr(m2kr_images, "SOURCES", sources)
    from harness.cli_data import fetch_task

    with pytest.raises(MireEvalError, match=r"evqa: the test split references 2 image\(s\) that no archive of the plan "
                                            r"provides \(inat/val/ x2; e\.g\. inat/val/04883_Plantae_x/0003\.jpg\); "
                                            r"nothing was downloaded"):
        fetch_task("evqa")
    assert "  inat/val/                       2 image(s)  NOT COVERED by this plan" in capsys.readouterr().out
    assert [d[0] for d in hub.downloaded] == [HUB_ID]  # the split's parquet only: no image archive
    assert not (cache / "m2kr-images").exists()


def test_missing_images_after_a_fetch_are_a_failed_fetch_with_count_and_examples(hub_copy, cache, monkeypatch, tmp_path):
    HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    serve_inat_val(monkeypatch, inat_val_archive(tmp_path / "inat2021", members=("val/other/9.jpg",)))
    from typer.testing import CliRunner

    from harness.cli import app

    result = CliRunner().invoke(app, ["fetch", "evqa"])
    images = cache / "m2kr-images" / "EVQA"
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line == (f"error: evqa: fetch incomplete: 2 of 3 test images missing or unreadable under {images} "
                    f"(e.g. {images / 'inat/val/04883_Plantae_x/0002.jpg'}, {images / 'inat/val/04883_Plantae_x/0003.jpg'}); "
                    "put them there (or pass --image-dir) and run the fetch again")
    assert "ready in" not in result.output


def test_a_download_whose_md5_differs_is_removed_and_an_error(hub_copy, cache, monkeypatch, tmp_path):
    HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    serve_inat_val(monkeypatch, inat_val_archive(tmp_path / "inat2021"), md5="0" * 32)
    from harness.cli_data import fetch_task

    with pytest.raises(MireEvalError, match=r"val\.tar\.gz: md5 [0-9a-f]{32} is not the published 0{32}; the download was removed"):
        fetch_task("evqa")
    assert not list((cache / "m2kr-images" / "EVQA").glob("inat2021_val*"))


def test_fetch_infoseek_test_takes_only_the_val_archive_and_finds_images_by_basename(hub_copy, cache, monkeypatch, capsys):
    hub = HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    from harness.cli_data import fetch_task

    fetch_task("infoseek")
    assert hub.downloaded[1][2] == ("Infoseek/infoseek_val_images.tar",)  # not the 48 GB train or 41.6 GB test tar
    out = capsys.readouterr().out
    assert "infoseek_train_images" not in out and "infoseek_test_images" not in out
    assert "infoseek: 2 test queries, 2 passages" in out and "(0 missing)" in out
    task = load_task("infoseek", LoadOptions(cache_dir=cache))
    assert [q.image.path.relative_to(cache / "m2kr-images" / "Infoseek").as_posix() for q in task.queries] == [
        "infoseek_val_images/oven_00000001.jpg", "infoseek_val_images/oven_00000002.JPEG"]  # .JPEG -> .jpg retry


def test_a_pin_without_the_config_fails_before_any_download(hub_copy, cache, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_M2KR_REVISION", FEB)  # the February 2024 upload: E-VQA only
    hub = HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    from harness.cli_data import fetch_task

    with pytest.raises(MireEvalError, match=rf"infoseek: {HUB_ID} has no Infoseek_data/test-\*.parquet at revision "
                                            rf"{FEB} \(MIRE_EVAL_M2KR_REVISION\); set MIRE_EVAL_M2KR_REVISION"):
        fetch_task("infoseek")
    assert hub.listed == [(HUB_ID, FEB)] and hub.downloaded == [] and hub.history_listed == []
    with pytest.raises(MireEvalError, match="has no Infoseek_data/test"):
        load_task("infoseek", LoadOptions(cache_dir=cache))
    assert hub.downloaded == [] and not (cache / "m2kr" / "fetch.json").exists()


def test_reading_from_the_hub_asks_for_the_split_files_only(hub_copy, cache, monkeypatch):
    HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    asked = serve_hf_urls(monkeypatch, hub_copy)
    task = load_task("evqa", LoadOptions(cache_dir=cache, skip_missing_images=True))
    assert asked == [f"hf://datasets/{HUB_ID}@{JUNE}/EVQA_data/test-00000-of-00001.parquet",
                     f"hf://datasets/{HUB_ID}@{JUNE}/EVQA_passages/test_passages-00000-of-00001.parquet"]
    assert task.meta["query_files"]["revision"] == JUNE and task.meta["skipped_images"] == 3
    assert task.meta["revision"] == JUNE


def test_extract_archive_adds_the_stem_folder_only_when_members_lack_it(tmp_path):
    from tasks.m2kr_hub import extract_archive

    flat = write_zip(tmp_path / "inat.zip", {"train/1.jpg": b"x", "val/2.jpg": b"y"})
    prefixed = write_tar(tmp_path / "google-landmark.tar", {"google-landmark/train/3.jpg": b"z"})
    assert extract_archive(flat) == tmp_path / "inat" and (tmp_path / "inat" / "val" / "2.jpg").read_bytes() == b"y"
    assert extract_archive(prefixed) == tmp_path
    assert (tmp_path / "google-landmark" / "train" / "3.jpg").read_bytes() == b"z"
    (tmp_path / "inat" / "val" / "2.jpg").unlink()
    extract_archive(flat)  # once: the marker says it was unpacked
    assert not (tmp_path / "inat" / "val" / "2.jpg").exists()


def test_fetch_with_a_local_copy_only_verifies_it(evqa, cache, monkeypatch, capsys):
    import huggingface_hub

    root, images = evqa
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("downloaded"))
    from harness.cli_data import fetch_task

    assert fetch_task("evqa", data_dir=root, image_dir=images) == root
    assert "evqa: 2 test queries, 3 passages" in capsys.readouterr().out


def test_hub_revision_is_a_run_input(hub_copy, cache, monkeypatch):
    """Read from the hub, a split is identified by the commit read (resolved, or a pin)."""
    other = "0" * 40
    hub_copy.repos[(HUB_ID, other)] = hub_copy.folder(JUNE)
    HubStandIn(hub_copy.repos, hub_copy.commits).install(monkeypatch)
    serve_hf_urls(monkeypatch, hub_copy)
    options = LoadOptions(cache_dir=cache, skip_missing_images=True)
    assert load_task("evqa", options).inputs == {f"hf://datasets/{HUB_ID}/EVQA_data/test": JUNE,
                                                 f"hf://datasets/{HUB_ID}/EVQA_passages/test_passages": JUNE}
    monkeypatch.setenv("MIRE_EVAL_M2KR_REVISION", other)
    assert set(load_task("evqa", options).inputs.values()) == {other}
