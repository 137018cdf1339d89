"""Which M2KR commit a fetch or a hub read uses: resolved once online, recorded, reused; pins checked."""

import json
import shutil

import pytest

from harness.errors import MireEvalError
from tasks.base import LoadOptions
from tasks.loading import load_task
from tasks.m2kr_hub import HUB_ID
from tasks.m2kr_revision import read_record

from m2kr_fixtures import FEB, JUNE, MARCH, serve_hf_urls, write_m2kr_hub
from release_fixtures import HubStandIn


@pytest.fixture
def history(tmp_path):
    return write_m2kr_hub(tmp_path)


def stand_in(history, monkeypatch) -> HubStandIn:
    return HubStandIn(history.repos, history.commits).install(monkeypatch)


def fetch(task, **kw):
    from harness.cli_data import fetch_task

    return fetch_task(task, images=False, **kw)


def test_fetch_resolves_the_newest_commit_holding_both_subsets_once_and_records_it(history, cache, monkeypatch, capsys):
    hub = stand_in(history, monkeypatch)
    fetch("evqa")
    assert hub.history_listed == [HUB_ID] and hub.listed == [(HUB_ID, JUNE)]  # the newest holds both: one tree read
    err = capsys.readouterr().err
    assert f"m2kr: using {HUB_ID}@{JUNE} (2024-06-14" in err and str(cache / "m2kr" / "fetch.json") in err
    record = json.loads((cache / "m2kr" / "fetch.json").read_text())
    assert record["revision"] == JUNE and record["revision_source"] == "resolved"
    assert record["resolved"]["commit_date"].startswith("2024-06-14")
    assert record["resolved"]["commit_title"] == "Re-upload EVQA and Infoseek with instructions"

    fetch("infoseek")  # the recorded commit, without listing the history again
    assert hub.history_listed == [HUB_ID] and hub.listed == [(HUB_ID, JUNE), (HUB_ID, JUNE)]
    assert f"{HUB_ID} at commit {JUNE} (recorded in {cache / 'm2kr' / 'fetch.json'})" in capsys.readouterr().out
    assert [d[1] for d in hub.downloaded] == [JUNE, JUNE]
    record = read_record(cache)
    assert {k: v["revision"] for k, v in record["fetches"].items()} == {"EVQA/test": JUNE, "Infoseek/test": JUNE}
    task = load_task("infoseek", LoadOptions(cache_dir=cache, skip_missing_images=True))
    assert task.meta["revision"] == JUNE and task.meta["instruction_field"]  # the June re-upload, not March's


def test_a_hub_read_resolves_past_a_newer_commit_that_lacks_a_split(history, cache, monkeypatch, capsys):
    from datetime import datetime, timezone

    july = history.add_commit(history.folder(JUNE).parent / "july", "7" * 40,
                              datetime(2024, 7, 2, tzinfo=timezone.utc), "Re-uploading Infoseek")
    shutil.copytree(history.folder(JUNE), july)
    for f in (july / "Infoseek_data").glob("test-*.parquet"):
        f.unlink()
    hub = stand_in(history, monkeypatch)
    asked = serve_hf_urls(monkeypatch, history)
    task = load_task("infoseek", LoadOptions(cache_dir=cache, skip_missing_images=True))
    assert hub.listed[:2] == [(HUB_ID, "7" * 40), (HUB_ID, JUNE)]  # newest first, July lacks Infoseek_data/test
    assert {u.split("@")[1][:40] for u in asked} == {JUNE} and task.meta["revision"] == JUNE
    assert task.inputs[f"hf://datasets/{HUB_ID}/Infoseek_data/test"] == JUNE  # part of the run identity
    assert read_record(cache)["revision"] == JUNE and "fetches" not in read_record(cache)
    load_task("evqa", LoadOptions(cache_dir=cache, skip_missing_images=True))
    assert hub.history_listed == [HUB_ID]  # resolved once: every later load reads the record
    assert hub.downloaded == []


def test_no_commit_holding_both_subsets_is_one_line(history, cache, monkeypatch):
    history.commits[HUB_ID] = [c for c in history.commits[HUB_ID] if c[0] == FEB]  # E-VQA only
    hub = stand_in(history, monkeypatch)
    with pytest.raises(MireEvalError, match=rf"m2kr: no commit of {HUB_ID} holds every split of Infoseek and EVQA "
                                            rf"\(1 commits listed; the newest \({FEB}\) lacks Infoseek_data/test, "
                                            r"Infoseek_data/train, Infoseek_passages/test_passages\); "
                                            r"set MIRE_EVAL_M2KR_REVISION") as err:
        fetch("evqa")
    assert "\n" not in str(err.value) and hub.downloaded == []
    assert not (cache / "m2kr" / "fetch.json").exists()


def test_a_pin_is_read_as_given_and_not_recorded_by_a_hub_read(history, cache, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_M2KR_REVISION", MARCH)
    hub = stand_in(history, monkeypatch)
    serve_hf_urls(monkeypatch, history)
    task = load_task("infoseek", LoadOptions(cache_dir=cache, skip_missing_images=True))
    assert task.meta["revision"] == MARCH and not task.meta["instruction_field"]  # March: no instruction column
    assert hub.history_listed == [] and not (cache / "m2kr" / "fetch.json").exists()
    fetch("infoseek")  # a pinned first fetch makes the pin this machine's commit
    record = read_record(cache)
    assert record["revision"] == MARCH and record["revision_source"] == "MIRE_EVAL_M2KR_REVISION"
    assert hub.history_listed == []


def test_a_commit_recorded_by_another_process_meanwhile_wins(history, cache, monkeypatch, capsys):
    import huggingface_hub

    from tasks.m2kr_revision import update_record

    stand_in(history, monkeypatch)
    listed = huggingface_hub.HfApi.list_repo_commits

    def racing(self, *args, **kw):  # a concurrent fetch records its commit while this one resolves
        commits = listed(self, *args, **kw)
        update_record(cache, revision=MARCH, revision_source="resolved")
        return commits

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_commits", racing)
    fetch("evqa")
    assert f"at commit {MARCH} (recorded in" in capsys.readouterr().out
    assert read_record(cache)["revision"] == MARCH and read_record(cache)["fetches"]["EVQA/test"]["revision"] == MARCH


def test_a_pin_other_than_the_cached_copy_is_one_line_until_fetched(history, cache, monkeypatch):
    hub = stand_in(history, monkeypatch)
    fetch("evqa")
    monkeypatch.setenv("MIRE_EVAL_M2KR_REVISION", MARCH)
    with pytest.raises(MireEvalError, match=rf"evqa: the cached copy in .*m2kr was fetched at {JUNE}, but "
                                            rf"MIRE_EVAL_M2KR_REVISION={MARCH}; run `mire-eval fetch evqa --split test`"):
        load_task("evqa", LoadOptions(cache_dir=cache, skip_missing_images=True))
    fetch("evqa")
    assert hub.downloaded[-1][1] == MARCH and hub.history_listed == [HUB_ID]
    record = read_record(cache)
    assert record["fetches"]["EVQA/test"]["revision"] == MARCH and record["revision"] == JUNE  # the default stays
    task = load_task("evqa", LoadOptions(cache_dir=cache, skip_missing_images=True))
    assert task.meta["revision"] == MARCH and not task.meta["instruction_field"]


def test_an_older_record_lacking_infoseek_says_how_to_resolve_again(history, cache, monkeypatch):
    record = cache / "m2kr" / "fetch.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({  # as an older mire-eval wrote it, at its E-VQA-only pin
        "hub_id": HUB_ID, "revision": FEB, "split": "test", "images_hub_id": "BByrneLab/M2KR_Images",
        "files": ["EVQA_data/test-00000-of-00001.parquet", "EVQA_passages/test_passages-00000-of-00001.parquet"],
        "image_archives": ["EVQA/inat.zip", "EVQA/google-landmark.tar"]}))
    assert read_record(cache)["fetches"]["EVQA/test"]["revision"] == FEB
    hub = stand_in(history, monkeypatch)
    with pytest.raises(MireEvalError, match=rf"has no Infoseek_data/test-\*.parquet at revision {FEB} \(recorded in "
                                            rf"{record}\); set MIRE_EVAL_M2KR_REVISION .*, or remove {record} to "
                                            r"resolve the newest commit again"):
        fetch("infoseek")
    assert hub.history_listed == [] and hub.downloaded == []
    record.unlink()
    fetch("infoseek")
    assert read_record(cache)["revision"] == JUNE


def test_a_damaged_record_is_one_line(cache):
    (cache / "m2kr").mkdir()
    (cache / "m2kr" / "fetch.json").write_text('{"revision": ')
    with pytest.raises(MireEvalError, match=r"m2kr/fetch.json:1: malformed JSON"):
        load_task("evqa", LoadOptions(cache_dir=cache))
    (cache / "m2kr" / "fetch.json").write_text('{"revision": 7}')
    with pytest.raises(MireEvalError, match=r"m2kr/fetch.json:1: revision: not a fetch record"):
        load_task("evqa", LoadOptions(cache_dir=cache))


def test_unreachable_hub_with_a_recorded_commit_names_it_in_the_advice(cache, monkeypatch):
    import harness.hub

    (cache / "m2kr").mkdir()
    (cache / "m2kr" / "fetch.json").write_text(json.dumps({"revision": JUNE}))
    monkeypatch.setattr(harness.hub, "reachable", lambda timeout=None: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub = HubStandIn({}, {}).install(monkeypatch)
    with pytest.raises(MireEvalError, match=rf"cannot be reached; download it with `hf download {HUB_ID} "
                                            rf"--repo-type dataset --revision {JUNE} --include 'EVQA_data/test-\*' 'EVQA_passages/test_passages-\*' "):
        fetch("evqa")
    assert hub.listed == [] and hub.history_listed == []
