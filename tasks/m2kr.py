"""M2KR (PreFLMR's benchmark) subsets on the Hugging Face hub: InfoSeek and E-VQA.

One dataset repository holds every subset as two configs, ``<Subset>_data`` (splits
``train`` / ``valid`` / ``test``) and ``<Subset>_passages`` (``test_passages`` is the corpus
MIRe and PreFLMR search), stored as parquet files ``<config>/<split>-NNNNN-of-NNNNN.parquet``.
Three ways in, one reader (``datasets``): a local copy of the repository (``--data-dir``),
the copy ``mire-eval fetch`` downloaded into the cache, or the hub at one commit (pinned,
recorded or resolved once: :mod:`tasks.m2kr_revision`).

Relevance follows the reference (MIRe's ``compute_pseudo_recall``, FLMR's PseudoRecall): a
passage is relevant when it contains an answer as a substring (``answer-substring``);
``--relevance gold`` uses the released ``pos_item_ids`` instead.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pyarrow as pa

from harness import hub
from harness.errors import MireEvalError
from harness.fingerprint import record_input
from harness.types import Corpus, FileImage, Passage, Query, TaskData, TrainExample
from tasks import m2kr_images, m2kr_revision
from tasks.base import LoadOptions, TaskSpec, corpus_once
from tasks.m2kr_hub import (
    HUB_ID,
    IMAGES_HUB_ID,
    BasenameFinder,
    Subset,
    check_pin,
    extract_archive,
    hub_listing,
    human_bytes,
    split_patterns,
)
from tasks.m2kr_revision import CACHE_NAME, Revision
from tasks.releases import assemble, file_digest

__all__ = ["HUB_ID", "IMAGES_HUB_ID", "Subset", "m2kr_task"]

DATA_COLUMNS = ("question_id", "question", "img_path", "answers", "pos_item_ids")
RELEVANCE = ("answer-substring", "answer-word", "qrels")


def image_root(subset: Subset, options: LoadOptions) -> Path:
    if options.image_dir:
        return Path(options.image_dir)
    return Path(options.cache_dir) / "m2kr-images" / subset.image_folder


# --------------------------------------------------------------------------------------------
# Reading one config split
# --------------------------------------------------------------------------------------------
def _local_root(subset: Subset, options: LoadOptions) -> Path | None:
    if options.data_dir:
        root = Path(options.data_dir)
        if not (root / f"{subset.name}_data").is_dir():
            raise MireEvalError(
                f"{subset.name.lower()}: {root} is not a copy of {HUB_ID}: it lacks {subset.name}_data/ "
                f"(expected {subset.name}_data/<split>-*.parquet and {subset.name}_passages/test_passages-*.parquet)"
            )
        return root
    cached = Path(options.cache_dir) / CACHE_NAME
    return cached if (cached / f"{subset.name}_data").is_dir() else None


def _parquet_files(root: Path, config: str, split: str) -> list[Path]:
    folder = root / config
    files = sorted(folder.glob(f"{split}-*.parquet")) or sorted((folder / split).glob("*.parquet"))
    if not files:
        raise MireEvalError(f"{folder}: no parquet files for split {split!r} ({split}-*.parquet); "
                            f"`mire-eval fetch` downloads one split at a time (--split)")
    return files


def hub_revision(subset: Subset, options: LoadOptions) -> Revision:
    """The commit to read from the hub, with its file list: pinned or recorded (no request
    before the reachability check), else resolved once online and recorded."""
    known = m2kr_revision.known(options.cache_dir)
    hub.require(HUB_ID, "--data-dir DIR", "dataset", known.commit if known else None,
                split_patterns(subset, options.split))
    rev = known or m2kr_revision.revision(options.cache_dir)
    return rev if rev.listing is not None else replace(rev, listing=hub_listing(HUB_ID, rev.commit))


def read_split(subset: Subset, config: str, split: str, options: LoadOptions):
    """``(datasets.Dataset, provenance)`` of one config split, local copy first, else the hub."""
    import datasets

    datasets.disable_progress_bars()
    hf_cache = str(Path(options.cache_dir) / "hf-datasets")
    root = _local_root(subset, options)
    rev = None
    try:
        if root is not None:
            files = _parquet_files(root, config, split)
            ds = datasets.load_dataset("parquet", data_files={split: [str(f) for f in files]},
                                       split=split, cache_dir=hf_cache)
            return ds, {"config": config, "split": split, "files": [file_digest(f) for f in files]}
        rev = m2kr_revision.known(options.cache_dir)  # named in the advice should the hub fail
        if hub.offline() or os.environ.get("HF_DATASETS_OFFLINE") == "1":
            raise ConnectionError("offline mode")
        rev = hub_revision(subset, options)
        data, passages = check_pin(subset, split if config.endswith("_data") else "test", rev.listing,
                                   rev.commit, rev.source, rev.remedy())
        wanted = data if config.endswith("_data") else passages  # this split's files only, never the config
        urls = [f"hf://datasets/{HUB_ID}@{rev.commit}/{p}" for p in wanted]
        ds = datasets.load_dataset("parquet", data_files={split: urls}, split=split, cache_dir=hf_cache)
        record_input(f"hf://datasets/{HUB_ID}/{config}/{split}", rev.commit)  # part of the run identity
        return ds, {"config": config, "split": split, "revision": rev.commit, "files": wanted}
    except MireEvalError:
        raise
    except Exception as exc:  # noqa: BLE001 - hub, network and parquet errors all end here
        task = subset.name.lower()
        commit = rev.commit if rev else None
        place = f"{root}" if root is not None else f"the hub ({HUB_ID}{f'@{commit[:10]}' if commit else ''})"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MireEvalError(
            f"{task}: cannot read {config}/{split} from {place} ({reason}); run `mire-eval fetch "
            f"{'evqa' if subset.name == 'EVQA' else task}` online, or "
            f"{hub.download_advice(HUB_ID, '--data-dir DIR', 'dataset', commit, split_patterns(subset, options.split))}"
        ) from None


def _columns(ds, needed, config: str, split: str) -> None:
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise MireEvalError(f"{config}/{split}: missing field {missing[0]!r} (columns: {', '.join(ds.column_names)})")


def read_passages(subset: Subset, options: LoadOptions) -> tuple[Corpus, dict]:
    config = f"{subset.name}_passages"
    ds, provenance = read_split(subset, config, "test_passages", options)
    _columns(ds, ("passage_id", "passage_content"), config, "test_passages")
    table = ds.data.table  # Arrow, memory-mapped by datasets: no Python objects per passage
    ids = table.column("passage_id").cast(pa.string())
    texts = table.column("passage_content").cast(pa.string()).fill_null("")
    titles = pa.nulls(len(table), pa.string()).fill_null("")  # MIRe matches and encodes passage_content only
    return Corpus(pa.table({"_id": ids, "title": titles, "text": texts}, schema=Corpus.SCHEMA)), provenance


# --------------------------------------------------------------------------------------------
# Queries, relevance, training pairs
# --------------------------------------------------------------------------------------------
def query_image(subset: Subset, images: Path, img_path: str, finder: BasenameFinder | None = None) -> FileImage:
    """The image file of ``img_path``: InfoSeek by basename (wherever its archive's top folder
    put it, with MIRe's ``.jpg`` retry, then any file of the same name without extension:
    the tars hold ``oven_*.JPEG``), E-VQA at ``img_path`` under the image root."""
    if not subset.image_basename:
        return FileImage(images / img_path)
    name = os.path.basename(img_path)
    candidates = [name] + ([str(Path(name).with_suffix(".jpg"))] if subset.jpg_fallback else [])
    for candidate in candidates:
        if (images / candidate).exists():
            return FileImage(images / candidate)
    for candidate in candidates:
        found = finder(candidate) if finder else None
        if found is not None:
            return FileImage(found)
    found = finder.by_stem(name) if finder and subset.jpg_fallback else None  # oven_1.jpg asked, oven_1.JPEG unpacked
    return FileImage(found if found is not None else images / name)


def load_subset(subset: Subset, spec: TaskSpec, options: LoadOptions) -> TaskData:
    task, relevance = spec.name, spec.resolve_relevance(options)
    split = options.split
    config = f"{subset.name}_data"
    cached = _cached_copy(subset, task, options)  # before any read: a pin naming another commit stops here
    ds, provenance = read_split(subset, config, split, options)
    training = options.split == "train"
    needed = DATA_COLUMNS + (("pos_item_contents",) if training else ())
    _columns(ds, needed, config, split)
    has_instruction = "instruction" in ds.column_names
    images = image_root(subset, options)
    finder = BasenameFinder(images)

    columns = list(needed) + (["instruction"] if has_instruction else [])
    by_qid: dict[str, tuple[Query, dict, Passage | None]] = {}
    row_number = 0
    for batch in ds.select_columns(columns).iter(batch_size=4096):
        for j, qid in enumerate(batch["question_id"]):
            qid, pos_ids = str(qid), [str(p) for p in batch["pos_item_ids"][j] or ()]
            if not pos_ids:
                raise MireEvalError(f"{config}/{split} row {row_number + j}: field 'pos_item_ids' is empty")
            instruction = batch["instruction"][j] if has_instruction else None
            query = Query(qid, batch["question"][j] or "", query_image(subset, images, batch["img_path"][j], finder),
                          tuple(str(a) for a in batch["answers"][j] or ()),
                          instruction if isinstance(instruction, str) else None)
            positive = None
            if training:  # only the first positive is kept: long train splits stay small
                positive = Passage(pos_ids[0], "", str((batch["pos_item_contents"][j] or [""])[0]).strip())
            by_qid[qid] = (query, {p: 1 for p in pos_ids}, positive)  # a duplicate id replaces, as in the reference
        row_number += len(batch["question_id"])
    ordered = [by_qid[qid] for qid in sorted(by_qid)]  # the reference searches queries sorted by id
    queries = [query for query, _, _ in ordered]
    qrels = {query.id: rel for query, rel, _ in ordered}
    train = [TrainExample(query, positive) for query, _, positive in ordered] if training else None
    commit = provenance.get("revision", cached.get("revision"))
    source = (task, options.data_dir and str(Path(options.data_dir).resolve()), str(Path(options.cache_dir).resolve()),
              commit)
    corpus, corpus_provenance = corpus_once(source, lambda: read_passages(subset, options))
    return assemble(
        task, options, queries, corpus, relevance, qrels=qrels, train=train,
        meta={"source": f"{HUB_ID} ({config}, {subset.name}_passages/test_passages)",
              "query_files": provenance, "corpus_files": corpus_provenance, "image_dir": str(images),
              "instruction_field": has_instruction,
              "revision": commit, **cached},
    )


# --------------------------------------------------------------------------------------------
# mire-eval fetch
# --------------------------------------------------------------------------------------------
def _cached_copy(subset: Subset, task: str, options: LoadOptions) -> dict:
    """``{"fetched": entry, "revision": commit}`` of the split in the cache's copy, from the
    fetch record (``{}`` for ``--data-dir`` or a hub read). A pin naming another commit than
    the copy was fetched at is a one-line error: the copy is not what the user asked for."""
    if options.data_dir or _local_root(subset, options) is None:
        return {}
    record = m2kr_revision.read_record(options.cache_dir)
    entry = record.get("fetches", {}).get(f"{subset.name}/{options.split}")
    if entry is None:
        return {}
    fetched_at, pin = entry.get("revision"), m2kr_revision.pinned()
    if pin and fetched_at and not fetched_at.startswith(pin):
        raise MireEvalError(
            f"{task}: the cached copy in {Path(options.cache_dir) / CACHE_NAME} was fetched at {fetched_at}, "
            f"but {m2kr_revision.ENV}={pin}; run `mire-eval fetch {task} --split {options.split}` to fetch "
            f"that commit, or unset {m2kr_revision.ENV}")
    return {"fetched": entry, "revision": fetched_at}


def fetch_subset(subset: Subset, spec: TaskSpec, options: LoadOptions, images: bool = True) -> Path:
    """Download what ``options.split`` needs (at :func:`hub_revision`'s commit) once, verify it,
    say where, and record the commit in the fetch record.

    Order: the file lists are read and the whole plan (every file, its size and target, the
    image archives with the ``img_path`` prefixes each provides) is printed; the split's
    parquet files (MBs) are downloaded; the split's ``img_path`` prefixes are compared with
    what the plan's archives provide and a plan leaving images uncovered is refused before
    any archive moves (:mod:`tasks.m2kr_images`); then the archives are downloaded and
    unpacked; a split with images still missing is a failed fetch.
    """
    task = spec.name
    from huggingface_hub import snapshot_download

    if options.data_dir:  # a copy the user made: verify it, download nothing
        return _verify(subset, spec, options, Path(options.data_dir), images)
    target = Path(options.cache_dir) / CACHE_NAME
    image_dir = image_root(subset, options)
    rev = None
    try:
        rev = hub_revision(subset, options)  # resolved and recorded here when nothing is pinned or recorded
        listing = rev.listing
        data, passages = check_pin(subset, options.split, listing, rev.commit, rev.source, rev.remedy())
        plan = [(f"{HUB_ID}@{rev.commit[:10]}:{p}", listing[p], target / p) for p in data + passages]
        sources = m2kr_images.sources_for(subset.name, options.split) if images else ()
        images_listing = hub_listing(IMAGES_HUB_ID, None) if any(s.on_hub for s in sources) else {}
        absent = [s.name for s in sources if s.on_hub and s.name not in images_listing]
        if absent:
            raise MireEvalError(f"{task}: {IMAGES_HUB_ID} has no {absent[0]}")
        provided = [(s, *_members_of(s)) for s in sources]
        plan += [(f"{IMAGES_HUB_ID}@main:{s.name}" if s.on_hub else s.url,
                  images_listing.get(s.name) if s.on_hub else s.size, _archive_path(s, image_dir))
                 for s in sources]
        _print_plan(task, options.split, plan, rev, provided, image_dir)
        snapshot_download(HUB_ID, repo_type="dataset", revision=rev.commit, local_dir=str(target),
                          allow_patterns=data + passages + ["README.md"])
        if sources:
            cover = m2kr_images.coverage(_img_paths([target / p for p in data]),
                                         [(s, prefixes) for s, prefixes, _ in provided], subset.image_basename)
            print(f"{task}: image coverage of the {options.split} split (img_path prefix, images, archive):")
            print("\n".join(cover.lines()))
            m2kr_images.refuse_uncovered(task, options.split, cover)
            on_hub = [s.name for s in sources if s.on_hub]
            if on_hub:
                snapshot_download(IMAGES_HUB_ID, repo_type="dataset", local_dir=str(image_dir.parent),
                                  allow_patterns=on_hub)
            for s in sources:
                archive = _archive_path(s, image_dir)
                if not s.on_hub:
                    m2kr_images.download_url(s, archive)
                extract_archive(archive, image_dir / s.into if s.into else None)
    except MireEvalError:
        raise
    except Exception as exc:  # noqa: BLE001 - hub, network and archive errors all end here
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        advice = hub.download_advice(HUB_ID, "--data-dir DIR", "dataset", rev.commit if rev else None,
                                     split_patterns(subset, options.split))
        raise MireEvalError(f"{task}: download failed ({reason}); {advice}") from None
    m2kr_revision.update_record(  # the revision only when none is recorded: a pinned first fetch sets the default
        options.cache_dir, revision=rev.commit, revision_source=m2kr_revision.ENV,
        fetches={f"{subset.name}/{options.split}": {
            "revision": rev.commit, "files": data + passages, "images_hub_id": IMAGES_HUB_ID,
            "image_archives": [s.name if s.on_hub else s.url for s in sources]}})
    return _verify(subset, spec, options, target, images)


def _archive_path(source: m2kr_images.ImageSource, image_dir: Path) -> Path:
    """Where an archive is downloaded: hub files keep their repository path (under the
    images folder), URL downloads sit in the subset's image folder."""
    return image_dir.parent / source.name if source.on_hub else image_dir / source.name


def _members_of(source: m2kr_images.ImageSource) -> tuple[tuple[str, ...], str]:
    """(the img_path prefixes ``source`` provides, where its member list came from)."""
    read = m2kr_images.remote_zip_members(source, IMAGES_HUB_ID) if source.on_hub and not hub.offline() else None
    if read is not None:
        return source.provides(read), "members read from its central directory just now"  # over the record
    return source.provides(), f"members as recorded: {source.verified}"


def _img_paths(files: list[Path]) -> list[str]:
    """The ``img_path`` column of a split's parquet files (only that column is read)."""
    import pyarrow.parquet as pq

    out: list[str] = []
    for f in files:
        out += [p for p in pq.read_table(f, columns=["img_path"]).column("img_path").to_pylist() if p]
    return out


def _print_plan(task: str, split: str, plan: list, rev: Revision, provided=(), image_dir: Path | None = None) -> None:
    """The commit and where it came from, one line per file (source, size, target), the
    image archives with what each provides, then the total. Printed before downloading."""
    print(f"{task}: {HUB_ID} at commit {rev.commit} ({rev.source})")
    print(f"{task}: the {split} split needs {len(plan)} file(s):")
    stated = {s.url: s.stated_size for s, _, _ in provided if not s.on_hub}  # URL downloads: as published
    for source, size, dest in plan:
        shown = human_bytes(size) if size is not None or source not in stated else f"{stated[source]} (as published)"
        print(f"  {source}  {shown}  -> {dest}")
    for s, prefixes, origin in provided:
        into = image_dir / s.into if s.into else image_dir
        stated = f", {s.stated_size} as published" if s.stated_size else ""
        print(f"  {s.name}: provides {', '.join(prefixes)} ({origin}{stated}); unpacked into {into}")
    sizes = [p[1] for p in plan]
    known = [n for n in sizes if n is not None]
    unknown = [s.stated_size for s, _, _ in provided if not s.on_hub and s.size is None and s.stated_size]
    extra = "".join(f" + {u}" for u in unknown)  # URL downloads: the size their source states
    print(f"{task}: {human_bytes(sum(known))}{extra} in all"
          f"{'' if len(known) + len(unknown) == len(plan) else ' (some sizes unknown)'}; archives are unpacked once")


def _verify(subset: Subset, spec: TaskSpec, options: LoadOptions, where: Path, images: bool = True) -> Path:
    """Load the split (images checked) and print what is there; with ``images``, a split
    whose images are not all in place is a failed fetch: the count and three examples."""
    task = spec.name
    local = LoadOptions(split=options.split, data_dir=options.data_dir, cache_dir=options.cache_dir,
                        image_dir=options.image_dir, skip_missing_images=True)
    data = load_subset(subset, spec, local)
    missing = data.meta["skipped_images"]
    root = image_root(subset, options)
    if images and missing:
        total = data.meta["queries"] + missing
        examples = ", ".join(data.meta.get("skipped_image_examples", [])[:3])
        raise MireEvalError(
            f"{task}: fetch incomplete: {missing} of {total} {options.split} images missing or unreadable under "
            f"{root} (e.g. {examples}); put them there (or pass --image-dir) and run the fetch again")
    checked = f"images in {root} ({missing} missing)" if images else "images not checked (--no-images)"
    print(f"{task}: {data.meta['queries'] + (0 if images else missing)} {options.split} queries, "
          f"{data.meta['passages']} passages in {where}; {checked}")
    return where


def m2kr_task(subset: Subset, name: str, description: str, paper_metric: str) -> TaskSpec:
    spec = TaskSpec(
        name=name,
        description=description,
        source=f"hf:{HUB_ID} ({subset.name}_data, {subset.name}_passages); images hf:{IMAGES_HUB_ID}",
        relevance="answer-substring",
        relevances=RELEVANCE,
        main_metric="hit_rate@5",
        paper_metric=paper_metric,
        splits=subset.splits,
        load=lambda options: load_subset(subset, spec, options),
        fetch=lambda options, images=True: fetch_subset(subset, spec, options, images),
    )
    return spec
