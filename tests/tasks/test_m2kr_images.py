"""The image plan of M2KR splits: member lists read by range requests, coverage, name fallbacks."""

import os
import zipfile

import pytest

from tasks import m2kr_images
from tasks.m2kr_images import coverage, image_group, zip_member_prefixes, zip_members

from m2kr_fixtures import local_range_reader
from release_fixtures import image_bytes, write_image, write_tar


def inat_like_zip(path, zip64=False, monkeypatch=None, payload=3 << 20):
    """inat.zip's layout: flat ``train/<class folder>/<uuid>.jpg`` members (no ``inat/``), with
    incompressible image bytes, so reading the members' data would show in the byte count."""
    if zip64:  # the real 8.92 GB zip has a ZIP64 end record: force one at this size
        monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("train/", b"")
        for i in range(3):
            z.writestr(f"train/0000{i}_Animalia_Annelida_Clitellata/{i:08x}-uuid.jpg", os.urandom(payload // 3))
    return path


@pytest.mark.parametrize("zip64", [False, True])
def test_zip_members_read_only_the_central_directory(tmp_path, monkeypatch, zip64):
    path = inat_like_zip(tmp_path / "inat.zip", zip64, monkeypatch)
    if zip64:
        with open(path, "rb") as f:
            assert b"PK\x06\x06" in f.read()  # the ZIP64 end-of-central-directory record is there
    size, reader = local_range_reader(path)
    names, requested = zip_members(size, reader)
    assert names == zipfile.ZipFile(path).namelist()
    assert zip_member_prefixes(names) == ("train/",)
    assert requested < size / 2  # never the members' data (3 MB of it here)


def test_remote_zip_members_uses_the_hub_url_and_falls_back_when_unreadable(tmp_path, monkeypatch):
    path = inat_like_zip(tmp_path / "inat.zip", payload=3000)
    asked = []
    monkeypatch.setattr(m2kr_images, "http_range_reader",
                        lambda url, headers=None: (asked.append(url), local_range_reader(path))[1])
    assert m2kr_images.remote_zip_members(m2kr_images.INAT_ZIP, "BByrneLab/M2KR_Images") == ("train/",)
    assert asked == ["https://huggingface.co/datasets/BByrneLab/M2KR_Images/resolve/main/EVQA/inat.zip"]
    assert m2kr_images.remote_zip_members(m2kr_images.LANDMARK_TAR, "BByrneLab/M2KR_Images") is None  # a tar
    monkeypatch.setattr(m2kr_images, "http_range_reader",
                        lambda url, headers=None: (_ for _ in ()).throw(OSError("offline")))
    assert m2kr_images.remote_zip_members(m2kr_images.INAT_ZIP, "BByrneLab/M2KR_Images") is None


def test_each_split_plans_the_archives_its_img_paths_need():
    evqa = m2kr_images.SOURCES["EVQA"]
    assert [s.name for s in evqa["test"]] == ["EVQA/google-landmark.tar", "inat2021_val.tar.gz"]
    assert evqa["valid"] == evqa["test"]
    assert [s.name for s in evqa["train"]] == ["EVQA/inat.zip", "EVQA/google-landmark.tar"]
    assert m2kr_images.INAT_2021_VAL.url == "https://ml-inat-competition-datasets.s3.amazonaws.com/2021/val.tar.gz"
    assert m2kr_images.INAT_ZIP.provides() == ("inat/train/",)  # the zip holds train/ only
    test_paths = ["inat/val/04883_Plantae/a.jpg", "google-landmark/train/0/1/2/x.jpg", "inat/val/1/b.jpg"]
    plan = coverage(test_paths, [(s, s.provides()) for s in evqa["test"]], by_name=False)
    assert plan.uncovered == {} and plan.groups["inat/val/"] == (2, m2kr_images.INAT_2021_VAL)
    old = coverage(test_paths, [(s, s.provides()) for s in evqa["train"]], by_name=False)
    assert old.uncovered == {"inat/val/": 2}


def test_infoseek_images_are_covered_by_name():
    assert image_group("infoseek_val/07/oven_00000002.JPEG", True) == "oven_"
    plan = coverage(["00/oven_1.JPEG", "oven_2.jpg"], [(s, s.provides()) for s in m2kr_images.SOURCES["Infoseek"]["test"]],
                    by_name=True)
    assert plan.uncovered == {} and plan.groups["oven_"][0] == 2


def test_infoseek_falls_back_to_the_name_without_extension(tmp_path):
    """The tars hold ``oven_*.JPEG``; an img_path ending ``.jpg`` (or ``.png``) still finds it."""
    from tasks.m2kr import query_image
    from tasks.m2kr_hub import EVQA, INFOSEEK, BasenameFinder, extract_archive

    root = tmp_path / "Infoseek"
    extract_archive(write_tar(root / "infoseek_val_images.tar", {"infoseek_val_images/oven_00000005.JPEG": image_bytes()}))
    finder = BasenameFinder(root)
    found = query_image(INFOSEEK, root, "05/oven_00000005.png", finder)
    assert found.path == root / "infoseek_val_images" / "oven_00000005.JPEG" and found.load()
    write_image(tmp_path / "e" / "inat/val/x/1.JPEG")
    assert query_image(EVQA, tmp_path / "e", "inat/val/x/1.jpg", BasenameFinder(tmp_path / "e")).path == \
        tmp_path / "e" / "inat/val/x/1.jpg"  # E-VQA reads img_path as it is: no fallback
