"""M2KR on the hub: what each subset holds, the file list at a revision, the image archives.

Facts of the release this module encodes (each with its source):

* InfoSeek has no validation split: ``Infoseek_data`` holds ``train`` and ``test``, and
  ``Infoseek_passages`` holds ``train_passages`` and ``test_passages`` (the maintainer,
  LinWeizheDragon/Retrieval-Augmented-Visual-Question-Answering#37; FLMR's docs/Datasets.md
  lists no InfoSeek val). E-VQA has ``train`` / ``valid`` / ``test`` and
  ``{train,valid,test}_passages`` (same document).
* M2KR's InfoSeek test split is sampled from InfoSeek's *val* set (same thread), so its
  images are in ``Infoseek/infoseek_val_images.tar`` (~9 GB) of ``BByrneLab/M2KR_Images``;
  the train split's are in ``infoseek_train_images.tar`` (~48 GB); ``infoseek_test_images.tar``
  (~41.6 GB, InfoSeek's own test set) is used by no M2KR split.
* Which archives each split needs, what they hold and where they are unpacked:
  :mod:`tasks.m2kr_images` (E-VQA's test and valid images of ``inat/val`` come from iNat
  2021's own ``val.tar.gz``, not from ``inat.zip``, which holds ``train/`` only).
"""

from __future__ import annotations

import fnmatch
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.errors import MireEvalError

HUB_ID = "BByrneLab/multi_task_multi_modal_knowledge_retrieval_benchmark_M2KR"
# No commit is written here: tasks/m2kr_revision.py says which one a load reads.
IMAGES_HUB_ID = "BByrneLab/M2KR_Images"


@dataclass(frozen=True)
class Subset:
    """What differs between M2KR subsets."""

    name: str  # config prefix in the repository: "Infoseek", "EVQA"
    image_folder: str  # folder of BByrneLab/M2KR_Images
    image_basename: bool  # InfoSeek's img_path keeps OVEN's shard prefix; the images do not
    jpg_fallback: bool  # MIRe retries InfoSeek images with a .jpg extension
    splits: tuple[str, ...]  # of <name>_data
    passage_splits: tuple[str, ...]  # of <name>_passages


INFOSEEK = Subset(
    name="Infoseek", image_folder="Infoseek", image_basename=True, jpg_fallback=True,
    splits=("test", "train"), passage_splits=("train_passages", "test_passages"),
)
EVQA = Subset(
    name="EVQA", image_folder="EVQA", image_basename=False, jpg_fallback=False,
    splits=("test", "valid", "train"), passage_splits=("train_passages", "valid_passages", "test_passages"),
)
SUBSETS = (INFOSEEK, EVQA)
CORPUS_SPLIT = "test_passages"  # the one passages split every load reads (MIRe and PreFLMR search it)


# --------------------------------------------------------------------------------------------
# The file list at a revision
# --------------------------------------------------------------------------------------------
def hub_listing(repo_id: str, revision: str | None) -> dict[str, int | None]:
    """``{path: bytes}`` of every file of a hub dataset at ``revision`` (one API call)."""
    from huggingface_hub import HfApi

    entries = HfApi().list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
    return {e.path: getattr(e, "size", None) for e in entries if not type(e).__name__.endswith("Folder")}


def split_files(listing: dict, config: str, split: str) -> list[str]:
    """The parquet files of one config split in a listing: ``<config>/<split>-*.parquet``
    (the hub's layout) or ``<config>/<split>/*.parquet``."""
    found = sorted(p for p in listing if fnmatch.fnmatch(p, f"{config}/{split}-*.parquet"))
    return found or sorted(p for p in listing if fnmatch.fnmatch(p, f"{config}/{split}/*.parquet"))


def needed_files(subset: Subset, split: str) -> tuple[tuple[str, str], ...]:
    """The (config, split) pairs a load of ``split`` reads: its data and the test passages."""
    return ((f"{subset.name}_data", split), (f"{subset.name}_passages", CORPUS_SPLIT))


def split_patterns(subset: Subset, split: str) -> tuple[str, str]:
    """The ``hf download --include`` patterns of what a load of ``split`` reads (its data
    shards and the test passages), never the whole config: InfoSeek's train shards are ~3.5 GB.

    >>> split_patterns(EVQA, "test")
    ('EVQA_data/test-*', 'EVQA_passages/test_passages-*')
    """
    return tuple(f"{config}/{part}-*" for config, part in needed_files(subset, split))


def missing_files(listing: dict, subsets=SUBSETS) -> list[str]:
    """``config/split`` of every split ``subsets`` declare that has no parquet file in
    ``listing`` (empty: a revision every task and split can load)."""
    wanted = dict.fromkeys(pair for s in subsets for split in s.splits for pair in needed_files(s, split))
    return sorted(f"{config}/{part}" for config, part in wanted if not split_files(listing, config, part))


def check_pin(subset: Subset, split: str, listing: dict, rev: str, source: str = "",
              remedy: str = "") -> tuple[list[str], list[str]]:
    """(data files of ``split``, test passage files) at ``rev``, or a one-line error naming
    where ``rev`` came from (``source``) and what else to do (``remedy``)."""
    out = []
    for config, part in needed_files(subset, split):
        files = split_files(listing, config, part)
        if not files:
            raise MireEvalError(
                f"{subset.name.lower()}: {HUB_ID} has no {config}/{part}-*.parquet at revision {rev}"
                f"{f' ({source})' if source else ''}; set MIRE_EVAL_M2KR_REVISION to a commit that holds "
                f"{subset.name}_data and {subset.name}_passages{remedy}"
            )
        out.append(files)
    return out[0], out[1]


def human_bytes(n: int | None) -> str:
    """``1.2 GB`` style sizes (powers of 1000, as the hub shows them); ``?`` when unknown.

    >>> human_bytes(41_600_000_000), human_bytes(2048), human_bytes(None)
    ('41.6 GB', '2.0 kB', '?')
    """
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return "?"


# --------------------------------------------------------------------------------------------
# Image archives
# --------------------------------------------------------------------------------------------
def archive_stem(name: str) -> str:
    """``inat.zip`` -> ``inat``; ``google-landmark.tar`` -> ``google-landmark``; ``x.tar.gz`` -> ``x``."""
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _members(archive: Path) -> list[str]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return z.namelist()
    with tarfile.open(archive) as t:
        return t.getnames()


def extract_archive(archive: Path, into: Path | None = None) -> Path:
    """Unpack once (a ``.extracted`` marker records it); returns the folder unpacked into.

    ``into`` given: members go there as named (iNat 2021's ``val/...`` into ``inat/``).
    Otherwise members go under ``<parent>/<stem>/`` unless every member already starts with
    ``<stem>/`` (then into ``<parent>``), so ``inat.zip``'s ``train/x.jpg`` lands at
    ``inat/train/x.jpg`` either way.
    """
    if into is None:
        stem = archive_stem(archive.name)
        names = [n for n in _members(archive) if n.strip("/")]
        prefixed = bool(names) and all(PurePosixPath(n).parts[0] == stem for n in names)
        into = archive.parent if prefixed else archive.parent / stem
    target = Path(into)
    marker = archive.with_name(archive.name + ".extracted")
    if marker.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(target)
    else:
        with tarfile.open(archive) as t:
            t.extractall(target, filter="data")
    marker.touch()
    return target


class BasenameFinder:
    """``root/**/name``, whatever folder an archive put it in; the folder is walked once, on
    the first lookup (one finder per load, so files unpacked later are seen next time).
    :meth:`by_stem` finds a file by its name without extension (``oven_1.jpg`` asked,
    ``oven_1.JPEG`` unpacked)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._index: dict[str, Path] | None = None
        self._stems: dict[str, Path] = {}

    def _walk(self) -> dict[str, Path]:
        if self._index is None:
            self._index = {}
            for folder, _, files in os.walk(self.root):
                for f in sorted(files):
                    self._index.setdefault(f, Path(folder) / f)
                    self._stems.setdefault(os.path.splitext(f)[0], Path(folder) / f)
        return self._index

    def __call__(self, name: str) -> Path | None:
        return self._walk().get(name)

    def by_stem(self, name: str) -> Path | None:
        self._walk()
        return self._stems.get(os.path.splitext(name)[0])
