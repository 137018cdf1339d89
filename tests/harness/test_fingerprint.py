"""One fingerprint policy: full sha256 for small files, sampled (with mtime) above the threshold,
cached by (path, size, mtime_ns), recorded as the files a task read."""

import hashlib
import json
import os
import time

import pytest

import harness.core.fingerprint as fp
from harness.core.fingerprint import fingerprint_file, fingerprint_paths, recording_reads
from tasks.base import LoadOptions
from tasks.loading import load_task


def _age(path, seconds=60):
    """Backdate a file past the racy window, as any file written a while ago."""
    t = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(t, t))


def test_small_files_get_their_sha256(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc" * 1000)
    assert fingerprint_file(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_large_files_are_sampled_and_any_rewrite_changes_them(tmp_path, monkeypatch):
    monkeypatch.setattr(fp, "FULL_HASH_LIMIT", 1000)
    monkeypatch.setattr(fp, "CHUNK", 64)
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 5000)
    _age(path)
    reads, sampled = [], fp._sampled
    monkeypatch.setattr(fp, "_sampled", lambda p, s: reads.append(p) or sampled(p, s))
    first = fingerprint_file(path)
    assert first.startswith("sampled-") and first == fingerprint_file(path)
    assert len(reads) == 1  # cached by (path, size, mtime_ns): read once
    # one byte rewritten between the sampled chunks, same size: the new mtime makes it a change
    data = bytearray(b"x" * 5000)
    data[2500] = ord("y")  # chunks at 2303..2367 and 2632..2696
    path.write_bytes(bytes(data))
    _age(path, 30)
    assert fingerprint_file(path) != first


def test_cache_is_shared_through_the_cache_root_and_skips_racy_files(tmp_path, monkeypatch):
    old = tmp_path / "old.txt"
    old.write_text("settled")
    _age(old)
    fresh = tmp_path / "fresh.txt"
    fresh.write_text("just written")
    fingerprint_file(old)
    fingerprint_file(fresh)
    stored = json.loads((fp._cache_file()).read_text())
    assert any(k.startswith(f"{old.resolve()}|") for k in stored)
    assert not any(k.startswith(f"{fresh.resolve()}|") for k in stored)  # its next edit may keep its mtime


def test_fingerprint_paths_names_and_contents(tmp_path):
    ckpt = tmp_path / "ckpt"
    (ckpt / "sub").mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    (ckpt / "sub" / "w.bin").write_bytes(b"\0" * 100)
    base = fingerprint_paths([ckpt])
    moved = tmp_path / "elsewhere"
    ckpt.rename(moved)
    assert fingerprint_paths([moved]) == base  # where it lives does not matter
    (moved / "sub" / "w.bin").rename(moved / "sub" / "v.bin")
    assert fingerprint_paths([moved]) != base  # what it holds does


@pytest.mark.parametrize("with_qrels", [True, False])
def test_a_local_task_reports_the_files_it_read(tmp_path, with_qrels):
    from tests.helpers.local_task import make_local_task

    root = make_local_task(tmp_path / "t", qrels={"test": [("q-fox", "p-fox")]} if with_qrels else None)
    data = load_task(f"local:{root}", LoadOptions())
    expected = {root / "corpus.jsonl", root / "queries.jsonl"} | ({root / "qrels" / "test.tsv"} if with_qrels else set())
    assert set(data.inputs) == {str(p.resolve()) for p in expected}
    assert data.inputs[str((root / "corpus.jsonl").resolve())] == hashlib.sha256(
        (root / "corpus.jsonl").read_bytes()).hexdigest()
    with recording_reads() as reads:
        pass
    assert reads == {}  # nothing leaks from one recording into the next
