"""The embedding store: same run as in memory, reuse, invalidation, kill -9, corruption, torchrun."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from harness.cli import app
from harness.core.runs import canonical_ranking
from harness.index.store import stores_root
from harness.index.store_index import StoreSpec
from harness.index.retriever import EncoderRetriever
from tests.helpers.store_helpers import HELPER, WordEncoder, make_corpus, make_task, script_env



@pytest.fixture
def checkpoint(tmp_path) -> Path:
    path = tmp_path / "words.ckpt"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def retriever_for(checkpoint, root=None, similarity="maxsim", shard=16, **options):
    encoder = WordEncoder(str(checkpoint), similarity, **options)
    store = None if root is None else StoreSpec(Path(root), str(checkpoint), "words")
    return EncoderRetriever(encoder, passage_batch=8, shard_passages=shard, store=store)


def shard_bytes(info: dict) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(info["path"], "shards").iterdir())}


@pytest.mark.parametrize("similarity", ["maxsim", "cosine"])
def test_run_over_the_store_equals_the_in_memory_run(tmp_path, checkpoint, similarity):
    task = make_task(203)  # 13 shards, the last one partial; many tied scores
    memory = retriever_for(checkpoint, similarity=similarity)
    memory.index(task.corpus)
    stored = retriever_for(checkpoint, tmp_path / "stores", similarity=similarity)
    stored.index(task.corpus)
    assert stored.store_info["shards"] == 13 and stored.store is None
    for k in (5, 250):
        expected = memory.search(task.queries, k)
        got = stored.search(task.queries, k)
        assert got == expected
        # the order a run file is written in (ties by trec_eval's id order) is the same too
        assert [canonical_ranking(got[q]) for q in got] == [canonical_ranking(expected[q]) for q in got]
    for row in (0, 17, 202):  # the probe reads gold passages back from the index
        assert torch.equal(stored.passage_vectors(row), memory.passage_vectors(row))


def test_second_index_reuses_the_store_without_encoding(tmp_path, checkpoint):
    corpus = make_corpus(100)
    first = retriever_for(checkpoint, tmp_path)
    first.index(corpus)
    second = retriever_for(checkpoint, tmp_path)
    second.index(corpus)
    assert first.store_info["reused"] is False and first.encoder.passages_encoded == 100
    assert second.store_info["reused"] is True and second.encoder.passages_encoded == 0
    assert second.store_info["key"] == first.store_info["key"]


def flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("change", ["checkpoint byte", "option", "corpus line", "code version"])
def test_any_change_of_the_key_encodes_again(tmp_path, checkpoint, change, monkeypatch):
    base = retriever_for(checkpoint, tmp_path)
    base.index(make_corpus(40))
    corpus, options = make_corpus(40), {}
    if change == "checkpoint byte":
        flip_byte(checkpoint, 700)
    elif change == "option":
        options = {"doc_maxlen": 11}
    elif change == "corpus line":
        corpus = make_corpus(40, changed_line=39)
    else:
        import harness.index.store

        monkeypatch.setattr(harness.index.store, "PASSAGE_ENCODING_VERSION", harness.index.store.PASSAGE_ENCODING_VERSION + 1)
    other = retriever_for(checkpoint, tmp_path, **options)
    other.index(corpus)
    assert other.store_info["key"] != base.store_info["key"]
    assert other.store_info["reused"] is False and other.encoder.passages_encoded == 40


def test_a_damaged_shard_is_detected_and_encoded_again(tmp_path, checkpoint):
    corpus = make_corpus(100)
    first = retriever_for(checkpoint, tmp_path)
    first.index(corpus)
    clean = shard_bytes(first.store_info)
    flip_byte(Path(first.store_info["path"], "shards", "000003.f16"), 5)
    again = retriever_for(checkpoint, tmp_path)
    again.index(corpus)
    info = again.store_info
    assert (info["reused"], info["encoded_shards"], info["damaged_shards"]) == (False, 1, 1)
    assert again.encoder.passages_encoded == 16
    assert shard_bytes(info) == clean


def test_kill_9_during_encoding_then_rerun_gives_the_same_shards_and_run(tmp_path, checkpoint):
    env = script_env(MIRE_EVAL_DATA=str(tmp_path / "killed"))
    proc = subprocess.Popen([sys.executable, str(HELPER), str(checkpoint), str(tmp_path / "out1"), "160",
                             "--delay", "0.05"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        committed: list = []
        while not committed and time.monotonic() < deadline and proc.poll() is None:
            committed = list(stores_root(tmp_path / "killed").glob("*/shards/*.json"))
            time.sleep(0.01)
        assert committed, "no shard committed before the deadline"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    n_committed = len(list(stores_root(tmp_path / "killed").glob("*/shards/*.json")))
    assert 1 <= n_committed < 10

    corpus = make_corpus(160)
    resumed = retriever_for(checkpoint, stores_root(tmp_path / "killed"))
    resumed.index(corpus)
    clean = retriever_for(checkpoint, stores_root(tmp_path / "clean"))
    clean.index(corpus)
    assert resumed.store_info["resumed_shards"] == n_committed
    assert resumed.encoder.passages_encoded == 160 - 16 * n_committed
    assert shard_bytes(resumed.store_info) == shard_bytes(clean.store_info)  # no temporary file left either
    queries = make_task(160).queries
    assert resumed.search(queries, 20) == clean.search(queries, 20)


def run_files(output: Path) -> tuple[str, dict]:
    directory = Path(json.loads((output / "done.json").read_text())["directory"])
    return (directory / "run.trec").read_text(), json.loads((directory / "meta.json").read_text())


@pytest.mark.slow
def test_two_gloo_ranks_under_torchrun_give_the_same_store_and_run_as_one_process(tmp_path, checkpoint):
    common = [str(HELPER), str(checkpoint), "OUT", "150"]
    runs = {}
    for name, launcher in [("one", [sys.executable]),
                           ("two", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                    "--nproc-per-node", "2"])]:
        env = script_env(MIRE_EVAL_DATA=str(tmp_path / name), OMP_NUM_THREADS="1")
        args = [a.replace("OUT", str(tmp_path / f"out-{name}")) for a in common]
        done = subprocess.run([*launcher, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = run_files(tmp_path / f"out-{name}")
    (run_one, meta_one), (run_two, meta_two) = runs["one"], runs["two"]
    assert run_two == run_one and run_one.count("\n") == 12 * 20
    assert meta_one["distributed"] == {"world_size": 1, "backend": None}
    assert meta_two["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert meta_two["store"]["key"] == meta_one["store"]["key"]
    assert meta_two["store"]["encoded_shards"] == 10
    assert shard_bytes(meta_two["store"]) == shard_bytes(meta_one["store"])


def test_meta_records_the_key_and_reuse_and_cache_ls_rm_manage_stores(tmp_path, checkpoint, monkeypatch):
    from harness.core.cache import cache_home
    from harness.evaluation.pipeline import RunSettings, build_retriever, run_evaluation

    task = make_task(60)
    metas = []
    for _ in range(2):
        settings = RunSettings(task="words", retriever="words", checkpoint=str(checkpoint), k=10,
                               output=tmp_path / "results", overwrite=True)
        retriever = build_retriever(settings, built=WordEncoder(str(checkpoint)), passage_batch=8, shard_passages=16)
        result = run_evaluation(settings, retriever=retriever, data=task)
        metas.append(json.loads((result.directory / "meta.json").read_text()))
    assert [m["store"]["reused"] for m in metas] == [False, True]
    key = metas[0]["store"]["key"]
    assert metas[1]["store"]["key"] == key and metas[0]["store"]["identity"]["corpus"] == task.corpus.fingerprint()
    assert Path(metas[0]["store"]["path"]).parent == stores_root(cache_home())

    runner = CliRunner()
    listed = runner.invoke(app, ["cache", "ls"])
    assert listed.exit_code == 0 and key in listed.output and "words" in listed.output
    assert " 60 " in listed.output and "4/4" in listed.output
    missing = runner.invoke(app, ["cache", "rm", "nosuchkey"])
    assert missing.exit_code == 2 and "error: cache rm: no store 'nosuchkey'" in missing.output
    assert runner.invoke(app, ["cache", "rm", key]).exit_code == 0
    assert not Path(metas[0]["store"]["path"]).exists()
    assert "no stores" in runner.invoke(app, ["cache", "ls"]).output
