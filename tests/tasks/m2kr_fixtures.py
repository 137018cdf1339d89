"""M2KR as published, in miniature: the repository's parquet layout and its commit history
(imported by the M2KR tests; served through :class:`release_fixtures.HubStandIn`).

The history follows the repository's: a February 2024 upload holding E-VQA only (no
``instruction`` column), InfoSeek added in March 2024 (still without ``instruction``), and
both subsets re-uploaded in June 2024 with it. The commit ids are made up; the first is the
one mire-eval once pinned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from release_fixtures import image_bytes, write_tar, write_zip
from tasks.m2kr_hub import HUB_ID, IMAGES_HUB_ID

INSTRUCTION = "Using the provided image, obtain documents that address the subsequent question: "

DATA_SCHEMA = pa.schema([  # the columns of M2KR's <Subset>_data parquet files
    ("question_id", pa.string()), ("question", pa.string()), ("img_id", pa.string()),
    ("img_path", pa.string()), ("image_id", pa.string()), ("pos_item_ids", pa.list_(pa.string())),
    ("pos_item_contents", pa.list_(pa.string())), ("answers", pa.list_(pa.string())),
    ("gold_answer", pa.string()), ("question_type", pa.string()), ("instruction", pa.string()),
])
EARLY_SCHEMA = pa.schema([f for f in DATA_SCHEMA if f.name != "instruction"])  # before June 2024

SPLITS = {"Infoseek": ("test", "train"), "EVQA": ("test", "train", "valid")}  # InfoSeek has no valid split

FEB = "2cfa1198bf19127dcd071f2f688ad3d1f707126b"  # E-VQA only
MARCH = "3a0c1f7e5b2d4c6e8f9a1b3c5d7e9f0a2b4c6d8e"  # + InfoSeek, no instruction column
JUNE = "6e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d"  # both re-uploaded, with instruction
# E-VQA's img_path per split as released: test and valid reference iNat 2021 *val* images and
# landmarks, train iNat 2021 train images and landmarks
EVQA_IMAGES = {"test": ["inat/val/04883_Plantae_x/0002.jpg", "google-landmark/train/a/b/abc.jpg",
                        "inat/val/04883_Plantae_x/0003.jpg"],
               "valid": ["inat/val/04883_Plantae_x/0002.jpg", "google-landmark/train/a/b/abc.jpg"],
               "train": ["inat/train/00000_Animalia_y/0001.jpg", "google-landmark/train/a/b/abc.jpg"]}
INFOSEEK_IMAGES = ["00/oven_00000001.JPEG", "07/oven_00000002.JPEG"]


def data_rows(prefix, img_paths, instruction=True):
    return [
        {"question_id": f"{prefix}_{i}", "question": f"What species is this {i}?", "img_id": f"img{i}",
         "img_path": p, "image_id": f"img{i}", "pos_item_ids": [f"p{i}", f"p{i}b"],
         "pos_item_contents": [f" passage about {i} ", "other"], "answers": [f"Species {i}", f"sp{i}"],
         "gold_answer": f"Species {i}", "question_type": "templated",
         **({"instruction": INSTRUCTION} if instruction else {})}
        for i, p in enumerate(img_paths)
    ]


def write_parquet(path, rows, schema=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def write_snapshot(root, subset, img_paths, passages_extra=None, instruction=True):
    """The repository layout: <Subset>_data/<split>-00000-of-00001.parquet, <Subset>_passages/...
    ``img_paths``: one list for every split, or ``{split: list}``."""
    per_split = img_paths if isinstance(img_paths, dict) else {s: img_paths for s in SPLITS[subset]}
    img_paths = per_split["test"]
    for split in SPLITS[subset]:
        prefix = subset if split == "test" else f"{subset}_{split}"
        rows = data_rows(prefix, per_split[split], instruction)
        write_parquet(root / f"{subset}_data" / f"{split}-00000-of-00001.parquet", rows[::-1],
                      DATA_SCHEMA if instruction else EARLY_SCHEMA)
    passages = [{"language": "en", "passage_id": f"p{i}", "passage_content": f"This is species {i}."}
                for i in range(len(img_paths))] + (passages_extra or [])
    write_parquet(root / f"{subset}_passages" / "test_passages-00000-of-00001.parquet", passages)
    write_parquet(root / f"{subset}_passages" / "train_passages-00000-of-00001.parquet", passages)
    (root / "README.md").write_text("---\nconfigs: []\n---\n")


def _utc(*date) -> datetime:
    return datetime(*date, tzinfo=timezone.utc)


@dataclass
class M2KRHub:
    """``repos`` for :class:`HubStandIn` (each commit's tree, main = the newest, the images
    repository) and ``commits`` (the M2KR history)."""

    repos: dict
    commits: dict = field(default_factory=dict)

    def folder(self, commit: str) -> Path:
        return Path(self.repos[(HUB_ID, commit)])

    def add_commit(self, root: Path, commit: str, when: datetime, title: str) -> Path:
        """A commit whose tree is ``root``; it becomes main when it is the newest."""
        history = self.commits.setdefault(HUB_ID, [])
        history.append((commit, when, title))
        self.repos[(HUB_ID, commit)] = root
        if when == max(c[1] for c in history):
            self.repos[(HUB_ID, None)] = root
        return root


def write_m2kr_hub(tmp_path: Path) -> M2KRHub:
    """M2KR's three uploads (:data:`FEB`, :data:`MARCH`, :data:`JUNE`) and M2KR_Images' archives
    as published: E-VQA's flat (inat.zip: train/, val/; google-landmark.tar: train/), InfoSeek's
    one per set."""
    hub = M2KRHub({})
    base = tmp_path / "hub"
    feb = hub.add_commit(base / "feb", FEB, _utc(2024, 2, 8), "Upload EVQA")
    write_snapshot(feb, "EVQA", EVQA_IMAGES, instruction=False)
    march = hub.add_commit(base / "march", MARCH, _utc(2024, 3, 20), "Add Infoseek")
    write_snapshot(march, "EVQA", EVQA_IMAGES, instruction=False)
    write_snapshot(march, "Infoseek", INFOSEEK_IMAGES, instruction=False)
    june = hub.add_commit(base / "june", JUNE, _utc(2024, 6, 14), "Re-upload EVQA and Infoseek with instructions")
    write_snapshot(june, "EVQA", EVQA_IMAGES)
    write_snapshot(june, "Infoseek", INFOSEEK_IMAGES)

    images = base / "images"
    # inat.zip holds iNat 2021 train only (the public record's member layout); val comes from
    # the competition's own val.tar.gz (inat_val_archive)
    write_zip(images / "EVQA" / "inat.zip", {"train/00000_Animalia_y/0001.jpg": image_bytes()})
    write_tar(images / "EVQA" / "google-landmark.tar", {"train/a/b/abc.jpg": image_bytes()})
    write_tar(images / "Infoseek" / "infoseek_val_images.tar",
              {"infoseek_val_images/oven_00000001.jpg": image_bytes(),
               "infoseek_val_images/oven_00000002.JPEG": image_bytes()})
    write_tar(images / "Infoseek" / "infoseek_train_images.tar", {"oven_00000009.jpg": image_bytes()})
    write_tar(images / "Infoseek" / "infoseek_test_images.tar", {"oven_00000010.jpg": image_bytes()})
    hub.repos[(IMAGES_HUB_ID, None)] = images
    return hub


def inat_val_archive(folder: Path, members=("val/04883_Plantae_x/0002.jpg", "val/04883_Plantae_x/0003.jpg")) -> Path:
    """iNat 2021's val.tar.gz in miniature: ``val/<class folder>/<uuid>.jpg`` members."""
    import io
    import tarfile

    path = folder / "val.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as t:
        for name in members:
            data = image_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def serve_inat_val(monkeypatch, archive: Path, md5: str | None = None) -> None:
    """Point the E-VQA plan's iNat 2021 val source at ``archive`` (a file:// URL, read by the
    real downloader) with the archive's own md5 unless ``md5`` is given."""
    import hashlib
    from dataclasses import replace

    from tasks import m2kr_images

    digest = md5 or hashlib.md5(archive.read_bytes()).hexdigest()
    local = replace(m2kr_images.INAT_2021_VAL, url=archive.as_uri(), md5=digest)
    sources = {subset: {split: tuple(local if s is m2kr_images.INAT_2021_VAL else s for s in found)
                        for split, found in splits.items()} for subset, splits in m2kr_images.SOURCES.items()}
    monkeypatch.setattr(m2kr_images, "SOURCES", sources)


def serve_hf_urls(monkeypatch, hub: M2KRHub) -> list[str]:
    """``datasets.load_dataset`` reading ``hf://datasets/<M2KR>@<commit>/<path>`` from the
    commit's folder; returns the list of URLs asked for (filled as loads run)."""
    import datasets

    real_load, asked = datasets.load_dataset, []

    def load_dataset(kind, data_files, split, cache_dir):
        prefix, local = f"hf://datasets/{HUB_ID}@", []
        for url in data_files[split]:
            if not url.startswith(prefix):  # a local file (the cache's copy): read as it is
                local.append(url)
                continue
            asked.append(url)
            at, path = url[len(prefix):].split("/", 1)
            local.append(str(hub.folder(at) / path))
        return real_load(kind, data_files={split: local}, split=split, cache_dir=cache_dir)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return asked


def local_range_reader(path: Path):
    """(size, read_range) over a local file: what an HTTP range request answers, served
    from disk (the hub's inat.zip stands in as a fixture with its real member layout)."""
    def read_range(start: int, length: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(length)

    return path.stat().st_size, read_range
