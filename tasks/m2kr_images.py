"""Where each M2KR split's query images come from, and the check that a plan covers them.

An image source is one archive: on ``BByrneLab/M2KR_Images`` or at a public URL. Each
records the member prefixes the archive holds, the folder (under the subset's image root)
it is unpacked into, and so the ``img_path`` prefixes it provides. A fetch plans the
sources of its split, compares the split's ``img_path`` values with what the plan provides
(:func:`coverage`) and refuses a plan that leaves any image uncovered, before any archive is
downloaded.

Facts recorded here (each with its source; the hub was not reachable from where this was
written, 2026-12-06, so the member prefixes are the public record's, not read by us):

* ``EVQA/inat.zip`` (8.92 GB): members ``train/...`` only, as far as the public loaders that
  read it by member name show; FLMR's docs/Datasets.md expects ``inat/train``, ``inat/val``
  and ``google-landmark/train`` under the image root. :func:`remote_zip_members` reads the
  zip's central directory with HTTP range requests (a few MB) when the hub can be reached,
  and a fetch uses what it finds over the recorded prefixes.
* ``EVQA/google-landmark.tar``: members ``train/...`` (same sources).
* iNat 2021's validation images, which E-VQA's test and valid splits reference as
  ``inat/val/...`` (2,000 of the 3,750 test rows): the competition's own ``val.tar.gz``
  (8.4 GB, md5 f6f6e0e242e3d4c9569ba56400938afc, 100,000 images, members ``val/<class
  folder>/<uuid>.jpg``; github.com/visipedia/inat_comp, 2021/README.md), unpacked into
  ``inat/``.
* InfoSeek: M2KR's test split is sampled from InfoSeek *val* (``infoseek_val_images.tar``),
  its train split from InfoSeek train (``infoseek_train_images.tar``); images are found by
  file name (``oven_*``), wherever the archive put them (tasks/m2kr_hub.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.errors import MireEvalError

VERIFIED = "2026-12-06, public record (dataset card, FLMR docs/Datasets.md, loaders reading members by name), not read by mire-eval"


@dataclass(frozen=True)
class ImageSource:
    """One image archive a split needs.

    ``name``: the path in ``BByrneLab/M2KR_Images`` (``url`` empty) or the file name of the
    download (``url`` set). ``members``: the archive's top-level member prefixes
    (``"train/"``). ``into``: the folder under the subset's image root it is unpacked into
    (``""``: the root). ``size``: bytes as published (None: read from the hub listing).
    """

    name: str
    members: tuple[str, ...]
    into: str
    verified: str
    url: str = ""
    size: int | None = None
    md5: str = ""
    stated_size: str = ""  # the size as its source prints it ("8.4 GB")

    @property
    def on_hub(self) -> bool:
        return not self.url

    def provides(self, members: Iterable[str] | None = None) -> tuple[str, ...]:
        """The ``img_path`` prefixes this archive provides once unpacked (``members``: the
        prefixes actually read from the archive, else the recorded ones).

        >>> INAT_2021_VAL.provides()
        ('inat/val/',)
        """
        prefix = f"{self.into.strip('/')}/" if self.into.strip("/") else ""
        return tuple(prefix + m for m in (members if members is not None else self.members))


INAT_ZIP = ImageSource("EVQA/inat.zip", ("train/",), "inat", VERIFIED, stated_size="8.92 GB")
LANDMARK_TAR = ImageSource("EVQA/google-landmark.tar", ("train/",), "google-landmark", VERIFIED)
INAT_2021_VAL = ImageSource(
    "inat2021_val.tar.gz", ("val/",), "inat",
    "iNat 2021 competition README (github.com/visipedia/inat_comp/tree/master/2021)",
    url="https://ml-inat-competition-datasets.s3.amazonaws.com/2021/val.tar.gz",
    size=None, md5="f6f6e0e242e3d4c9569ba56400938afc", stated_size="8.4 GB")
INFOSEEK_VAL = ImageSource("Infoseek/infoseek_val_images.tar", ("oven_",), "", "maintainer, RA-VQA issue #37")
INFOSEEK_TRAIN = ImageSource("Infoseek/infoseek_train_images.tar", ("oven_",), "", "maintainer, RA-VQA issue #37")

# split -> the archives it needs, per subset (M2KR config prefix)
SOURCES: dict[str, dict[str, tuple[ImageSource, ...]]] = {
    "EVQA": {"test": (LANDMARK_TAR, INAT_2021_VAL), "valid": (LANDMARK_TAR, INAT_2021_VAL),
             "train": (INAT_ZIP, LANDMARK_TAR)},
    "Infoseek": {"test": (INFOSEEK_VAL,), "train": (INFOSEEK_TRAIN,)},
}


def sources_for(subset: str, split: str) -> tuple[ImageSource, ...]:
    return SOURCES.get(subset, {}).get(split, ())


# --------------------------------------------------------------------------------------------
# Coverage: does the plan provide every img_path of the split?
# --------------------------------------------------------------------------------------------
def image_group(img_path: str, by_name: bool) -> str:
    """The prefix an ``img_path`` is counted under: its first two folders (``inat/val/``),
    or for images found by name the name's stem up to its first ``_`` (``oven_``).

    >>> image_group("inat/val/04883_Plantae/abc.jpg", False), image_group("07/oven_0002.JPEG", True)
    ('inat/val/', 'oven_')
    """
    if by_name:
        name = PurePosixPath(img_path).name
        return name.split("_", 1)[0] + "_" if "_" in name else name
    parts = PurePosixPath(img_path).parts[:-1][:2]
    return "".join(f"{p}/" for p in parts)


@dataclass(frozen=True)
class Coverage:
    """``groups``: prefix -> (images, the source covering it or None); ``examples``: the first
    ``img_path`` of each group."""

    groups: dict[str, tuple[int, ImageSource | None]]
    examples: dict[str, str]

    @property
    def uncovered(self) -> dict[str, int]:
        return {g: n for g, (n, s) in self.groups.items() if s is None}

    def lines(self) -> list[str]:
        out = []
        for group, (n, source) in sorted(self.groups.items()):
            where = f"<- {source.name}" if source else "NOT COVERED by this plan"
            out.append(f"  {group:<24} {n:>8} image(s)  {where}")
        return out


def coverage(img_paths: Iterable[str], sources: Iterable[tuple[ImageSource, tuple[str, ...]]],
             by_name: bool) -> Coverage:
    """Which source provides each ``img_path`` prefix. ``sources``: (source, the prefixes it
    provides: :meth:`ImageSource.provides`)."""
    sources = list(sources)
    counts: Counter = Counter()
    examples: dict[str, str] = {}
    for path in img_paths:
        group = image_group(path, by_name)
        counts[group] += 1
        examples.setdefault(group, path)
    groups = {}
    for group, n in counts.items():
        found = next((s for s, provided in sources for p in provided
                      if (group.startswith(p) if not by_name else group == p)), None)
        groups[group] = (n, found)
    return Coverage(groups, examples)


def refuse_uncovered(task: str, split: str, cover: Coverage) -> None:
    """A one-line error when the plan leaves images uncovered (printed lines say which)."""
    missing = cover.uncovered
    if missing:
        first = sorted(missing)[0]
        raise MireEvalError(
            f"{task}: the {split} split references {sum(missing.values())} image(s) that no archive of the "
            f"plan provides ({', '.join(f'{g} x{n}' for g, n in sorted(missing.items()))}; e.g. "
            f"{cover.examples[first]}); nothing was downloaded; put them under --image-dir and pass --no-images")


# --------------------------------------------------------------------------------------------
# A zip's member list from its central directory, read with HTTP range requests
# --------------------------------------------------------------------------------------------
class RangeFile(io.RawIOBase):
    """A read-only, seekable file over ``read_range(start, length) -> bytes`` (an HTTP range
    request, or a local stand-in); ``requested`` counts the bytes asked for."""

    def __init__(self, size: int, read_range: Callable[[int, int], bytes]):
        self.size, self.read_range, self.pos, self.requested = size, read_range, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), max(0, self.size - self.pos))
        if n == 0:
            return 0
        data = self.read_range(self.pos, n)
        if len(data) != n:
            raise OSError(f"range request at {self.pos}: asked {n} bytes, got {len(data)}")
        buffer[:n] = data
        self.pos += n
        self.requested += n
        return n


def zip_member_prefixes(names: Iterable[str]) -> tuple[str, ...]:
    """The distinct top-level folders of a member list (``("train/", "val/")``), sorted.

    >>> zip_member_prefixes(["train/", "train/a/1.jpg", "val/b/2.jpg"])
    ('train/', 'val/')
    """
    return tuple(sorted({PurePosixPath(n).parts[0] + "/" for n in names if "/" in n.strip("/")}))


def zip_members(size: int, read_range: Callable[[int, int], bytes]) -> tuple[list[str], int]:
    """(member names, bytes requested) of a zip of ``size`` bytes read through ``read_range``:
    the end-of-central-directory record (ZIP64 included) and the central directory only,
    never the members' data (zipfile reads no more than that when opened). The directory is
    ~100 bytes per member: a few MB for 10^4-10^5 images."""
    import zipfile

    raw = RangeFile(size, read_range)
    # 4 MB reads: the central directory grows with the member count (~100 bytes a member),
    # so a zip of 10^5 images needs a few requests, not thousands
    with zipfile.ZipFile(io.BufferedReader(raw, buffer_size=4 << 20)) as z:
        names = z.namelist()
    return names, raw.requested


def http_range_reader(url: str, headers: dict | None = None) -> tuple[int, Callable[[int, int], bytes]]:
    """(size, read_range) of a remote file that serves HTTP range requests."""
    def request(extra: dict) -> urllib.request.Request:
        return urllib.request.Request(url, headers={**(headers or {}), **extra})

    with urllib.request.urlopen(request({"Range": "bytes=0-0"}), timeout=60) as response:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
    if not total.isdigit():
        raise OSError(f"{url}: no Content-Range in the answer to a range request")

    def read_range(start: int, length: int) -> bytes:
        with urllib.request.urlopen(request({"Range": f"bytes={start}-{start + length - 1}"}), timeout=120) as r:
            return r.read()

    return int(total), read_range


def remote_zip_members(source: ImageSource, hub_id: str) -> tuple[str, ...] | None:
    """The top-level member prefixes of ``source`` (a zip on the hub) read from its central
    directory, or None when it cannot be read (offline, no range support): the plan then
    uses the recorded prefixes and says so."""
    if not source.name.endswith(".zip"):
        return None
    try:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        size, reader = http_range_reader(hf_hub_url(hub_id, source.name, repo_type="dataset"), build_hf_headers())
        names, _ = zip_members(size, reader)
    except Exception:  # noqa: BLE001 - any failure falls back to the recorded prefixes
        return None
    return zip_member_prefixes(names)


# --------------------------------------------------------------------------------------------
# Downloading a URL source
# --------------------------------------------------------------------------------------------
def download_url(source: ImageSource, dest: Path, chunk: int = 8 << 20) -> Path:
    """Download ``source.url`` to ``dest`` once (a ``.part`` file renamed when complete) and
    check its md5 when the source states one; a mismatch removes the file and is an error."""
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.md5()
    with urllib.request.urlopen(source.url, timeout=120) as response, open(part, "wb") as out:
        while block := response.read(chunk):
            digest.update(block)
            out.write(block)
    if source.md5 and digest.hexdigest() != source.md5:
        part.unlink()
        raise MireEvalError(f"{source.url}: md5 {digest.hexdigest()} is not the published {source.md5}; "
                            "the download was removed, run the fetch again")
    os.replace(part, dest)
    return dest
