"""``--search ivf|ivfpq`` wired into runs: identity, index cache beside the store, one-line
errors through the command line, quality against exact end to end, torchrun = one process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.evaluate import RunSettings, run_evaluation
from retrievers.base import EncoderRetriever
from store_helpers import WordEncoder, make_task
from tests.conftest import write_jsonl

HELPER = Path(__file__).with_name("store_helpers.py")
runner = CliRunner()
SMALL = {"nlist": "16", "nprobe": "2", "candidates": "8"}  # candidates well below the corpus


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    path = tmp_path / "words.ckpt"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def settings(tmp_path, checkpoint, search="exact", **options) -> RunSettings:
    return RunSettings(task="words", retriever="words", checkpoint=str(checkpoint), k=10,
                       output=tmp_path / "results", overwrite=True, search=search, search_options=options)


def evaluate(tmp_path, checkpoint, task, search="exact", **options) -> dict:
    retriever = EncoderRetriever(WordEncoder(str(checkpoint)), passage_batch=8, shard_passages=16)
    result = run_evaluation(settings(tmp_path, checkpoint, search, **options), retriever=retriever, data=task)
    return {**json.loads((result.directory / "meta.json").read_text()), "directory": str(result.directory)}


def test_search_parameters_are_in_the_identity_and_exact_keeps_its_own(tmp_path, checkpoint):
    exact = settings(tmp_path, checkpoint)
    assert "search" not in exact.identity()  # exact runs keep the tags they always had
    tags = {}
    for name, search, options in [("exact", "exact", {}), ("ivf", "ivf", {}), ("ivf2", "ivf", {"nprobe": "2"}),
                                  ("ivf8", "ivf", {"nprobe": "8"}), ("ivfpq", "ivfpq", {}),
                                  ("cand", "ivf", {"candidates": 64})]:
        s = settings(tmp_path, checkpoint, search, **options)
        tags[name] = s.tag(s.identity())
    assert tags["ivf"] == tags["ivf2"]  # the default, spelt out or not, is the same run
    assert len({tags[n] for n in ("exact", "ivf", "ivf8", "ivfpq", "cand")}) == 5
    ivf8 = settings(tmp_path, checkpoint, "ivf", nprobe="8").identity()["search"]
    assert ivf8["mode"] == "ivf" and ivf8["nprobe"] == 8 and ivf8["candidates"] == 8192
    # ivf never refines: its identity has no refine (the tags it had before refine existed)
    assert "refine" not in ivf8 and set(ivf8) == {"mode", "nlist", "nprobe", "candidates", "interaction",
                                                  "sample", "niter", "seed", "pq_m", "pq_nbits"}
    pq = {r: settings(tmp_path, checkpoint, "ivfpq", **({"refine": r} if r else {})) for r in ("", "100", "5")}
    pq_tags = {r: s.tag(s.identity()) for r, s in pq.items()}
    assert pq_tags[""] == pq_tags["100"] != pq_tags["5"]  # refine changes results, so the run
    assert pq["5"].identity()["search"]["refine"] == 5


def test_index_is_built_once_beside_the_store_and_rebuilt_when_store_or_build_parameters_change(
        tmp_path, checkpoint, capsys):
    task = make_task(120)
    first = evaluate(tmp_path, checkpoint, task, "ivf", **SMALL)
    err = capsys.readouterr().err
    assert "index: " in err and " tokens, " in err and "B/token" in err  # the prediction, before building
    ann, store = first["ann"], first["store"]
    assert not ann["reused"] and Path(ann["path"]).parent == Path(store["path"]) / "ann"
    assert first["identity"]["search"]["nprobe"] == 2 and first["retriever"]["search"] == "ivf"
    assert first["settings"]["search"] == "ivf" and first["settings"]["search_options"] == SMALL

    again = evaluate(tmp_path, checkpoint, task, "ivf", **{**SMALL, "nprobe": "4"})  # search-time only
    assert again["ann"]["reused"] and again["ann"]["path"] == ann["path"] and again["ann"]["nprobe"] == 4
    assert "index: " not in capsys.readouterr().err  # nothing predicted: nothing built

    finer = evaluate(tmp_path, checkpoint, task, "ivf", **{**SMALL, "nlist": "8"})  # a build parameter
    assert not finer["ann"]["reused"] and finer["ann"]["path"] != ann["path"]

    other = tmp_path / "other.ckpt"
    other.write_bytes(checkpoint.read_bytes()[:-1] + b"\x00")  # one byte: another store, another index
    moved = evaluate(tmp_path, other, task, "ivf", **SMALL)
    assert moved["store"]["key"] != store["key"] and not moved["ann"]["reused"]
    assert Path(moved["ann"]["path"]).parent == Path(moved["store"]["path"]) / "ann"


def top5(meta: dict) -> dict[str, set[str]]:
    best: dict[str, set[str]] = {}
    for line in (Path(meta["directory"]) / "run.trec").read_text().splitlines():
        q, _, p, rank, *_ = line.split()
        if int(rank) <= 5:
            best.setdefault(q, set()).add(p)
    return best


def test_approximate_search_finds_most_of_the_exact_top5(tmp_path, checkpoint):
    task = make_task(200)
    exact = evaluate(tmp_path, checkpoint, task)
    approx = evaluate(tmp_path, checkpoint, task, "ivf", nlist="16", nprobe="4", candidates="32")
    assert "ann" not in exact and exact["retriever"]["search"] == "exact"
    assert approx["ann"]["candidates"] == 32
    want, got = top5(exact), top5(approx)
    overlap = [len(want[q] & got.get(q, set())) / len(want[q]) for q in want]
    assert sum(overlap) / len(overlap) >= 0.8, overlap


def test_a_build_that_does_not_fit_is_refused_in_one_line(tmp_path, checkpoint, monkeypatch):
    import harness.ann.params as params

    monkeypatch.setattr(params, "available_ram", lambda: 1024)
    retriever = EncoderRetriever(WordEncoder(str(checkpoint)), passage_batch=8, shard_passages=16)
    with pytest.raises(Exception) as caught:
        run_evaluation(settings(tmp_path, checkpoint, "ivf", **SMALL), retriever=retriever, data=make_task(60))
    assert type(caught.value).__name__ == "MireEvalError"
    assert "index build needs" in str(caught.value) and "GiB available" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not list((tmp_path / "results").rglob("meta.json"))  # nothing half-written


def test_a_refine_beyond_the_candidates_rescores_them_all_and_allocates_no_more(tmp_path, checkpoint):
    """refine=2**31-1 (in range) once allocated 2**31 places per query and died; it means "every
    candidate", the run of refine = the corpus size (60 passages, fewer than the 8192 candidates)."""
    task = make_task(60)
    options = {"nlist": "16", "pq_m": "2", "pq_nbits": "4"}
    runs = {}
    for refine in (str(2**31 - 1), "60"):
        meta = evaluate(tmp_path / refine, checkpoint, task, "ivfpq", **options, refine=refine)
        assert meta["ann"]["refine"] == int(refine)  # meta.json records it as given
        runs[refine] = (Path(meta["directory"]) / "run.trec").read_text().splitlines()
    assert runs["60"] and [line.split()[:5] for line in runs[str(2**31 - 1)]] == [line.split()[:5] for line in runs["60"]]


def local_words_task(root: Path, n: int = 240, n_queries: int = 30) -> Path:
    """Passages of 6-12 words; each query is 4 words of one passage, which is its gold."""
    rng = random.Random(0)
    vocab = ("river mountain forest castle bridge harbour village garden temple market desert island valley "
             "tower church school museum station library palace lake ocean meadow canyon glacier volcano "
             "prairie orchard vineyard lighthouse apple violin engine doctor winter summer copper silver "
             "pepper tiger eagle salmon rabbit wheat cotton marble granite candle mirror ladder blanket "
             "hammer kettle pencil saddle anchor basket bottle button cabbage camera carpet cherry chimney "
             "compass cottage crystal dragon feather fountain helmet jacket jungle kitten lemon lizard "
             "magnet needle onion parrot peanut pillow pirate pumpkin puzzle rocket shadow shovel spider "
             "sponge statue thunder tomato trumpet tunnel turtle umbrella wagon walnut whistle wizard").split()
    passages = [" ".join(rng.choice(vocab) for _ in range(rng.randint(6, 12))) for _ in range(n)]
    write_jsonl(root / "corpus.jsonl", [{"_id": f"p{i:04d}", "title": "", "text": t} for i, t in enumerate(passages)])
    gold = rng.sample(range(n), n_queries)
    write_jsonl(root / "queries.jsonl", [
        {"_id": f"q{j:03d}", "text": " ".join(rng.sample(passages[i].split(), 4))} for j, i in enumerate(gold)])
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                             + "".join(f"q{j:03d}\tp{i:04d}\t1\n" for j, i in enumerate(gold)))
    return root


@pytest.fixture(scope="module")
def colbert_dir(tmp_path_factory) -> Path:
    """MiniLM's first two layers in the ColBERTv2 layout: real token vectors, small and offline."""
    from retrievers.offline import write_minilm_colbert

    return write_minilm_colbert(tmp_path_factory.mktemp("ckpt") / "colbertv2.0", text_layers=2)


def cli_run(task: Path, colbert_dir: Path, out: Path, *extra: str):
    return runner.invoke(app, ["run", "-t", f"local:{task}", "-r", "colbertv2", "--checkpoint", str(colbert_dir),
                               "--k", "10", "--output", str(out), *extra])


def test_run_with_search_ivf_through_the_cli_is_close_to_exact(tmp_path, colbert_dir):
    task = local_words_task(tmp_path / "words")
    out = tmp_path / "results"
    exact = cli_run(task, colbert_dir, out)
    assert exact.exit_code == 0, exact.output
    ivf = cli_run(task, colbert_dir, out, "--search", "ivf", "--search-option", "nlist=32",
                  "--search-option", "candidates=24")
    assert ivf.exit_code == 0, ivf.output
    metas = {}
    for path in out.rglob("metrics.json"):
        meta = json.loads(path.with_name("meta.json").read_text())
        metas[meta["retriever"]["search"]] = (json.loads(path.read_text())["metrics"], meta)
    (m_exact, meta_exact), (m_ivf, meta_ivf) = metas["exact"], metas["ivf"]
    assert "search" not in meta_exact["identity"] and meta_exact["settings"]["search"] == "exact"
    assert meta_ivf["identity"]["search"]["nlist"] == 32 and meta_ivf["ann"]["candidates"] == 24
    assert m_exact["hit_rate@5"] >= 0.25, m_exact  # 12x chance (5 of 240): closeness means something
    assert abs(m_ivf["hit_rate@5"] - m_exact["hit_rate@5"]) <= 0.1, (m_ivf, m_exact)
    assert abs(m_ivf["mrr@5"] - m_exact["mrr@5"]) <= 0.1
    assert "search ivf" in ivf.output
    board = runner.invoke(app, ["leaderboard", "--output", str(out)])  # an approximate run is its own row
    assert board.exit_code == 0 and "2 rows" in board.output, board.output
    table = board.output.splitlines()
    assert "search" in table[0] and sum(" ivf " in f"{line} " for line in table) == 1


@pytest.mark.parametrize("extra, fragment", [
    (["-r", "bm25", "--search", "ivf"], "--search ivf: retriever 'bm25' is not a late-interaction (maxsim) encoder"),
    (["-r", "bm25", "--search", "hnsw"], "--search hnsw: unknown search; known: exact, ivf, ivfpq"),
    (["-r", "bm25", "--search", "ivf", "--search-option", "nprobe=0"],
     "--search-option nprobe=0: must be an integer in [1, 1048576]"),
    (["-r", "bm25", "--search", "ivf", "--search-option", "nprob=4"], "--search-option nprob: unknown for --search ivf"),
    (["-r", "bm25", "--search", "ivf", "--search-option", "nprobe"], "--search-option 'nprobe': expected KEY=VALUE"),
    (["-r", "bm25", "--search-option", "nprobe=4"], "--search-option nprobe: only --search ivf or ivfpq takes options"),
    (["-r", "bm25", "--search", "ivf", "--search-option", "refine=5"],
     "--search-option refine=5: only --search ivfpq uses it"),
    (["-r", "bm25", "--search", "ivfpq", "--search-option", "refine=abc"],
     "--search-option refine=abc: must be an integer"),
])
def test_bad_search_options_are_one_line_errors_through_the_cli(local_task, tmp_path, extra, fragment):
    for command in (["run"], ["probe"]):
        result = runner.invoke(app, [*command, "-t", f"local:{local_task}", *extra, "--output", str(tmp_path / "r")])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.output
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("metrics.json"))


def test_the_search_option_help_names_every_parameter():
    from dataclasses import fields

    from harness.ann import AnnParams
    from harness.cli_options import FLAGS
    listed = FLAGS["search_option"].help.split(": ", 1)[1].replace(" (repeatable)", "").split(", ")
    assert sorted(listed) == sorted([*(f.name for f in fields(AnnParams) if f.name != "mode"), "audit"])  # audit: harness.efficiency


def test_a_cosine_encoder_with_search_ivf_searches_one_row_matrices_and_ranks_as_exact(tmp_path, checkpoint):
    """A single-vector encoder under --search ivf: each vector a [1, d] matrix (MaxSim = the dot
    product); probing every cell with every passage a candidate, the run is exact's."""
    runs = {}
    for mode, options in (("exact", {}), ("ivf", {"nlist": "4", "nprobe": "4", "candidates": "40"})):
        encoder = WordEncoder(str(checkpoint), "cosine")
        retriever = EncoderRetriever(encoder, passage_batch=8, shard_passages=16)
        result = run_evaluation(settings(tmp_path / mode, checkpoint, mode, **options), retriever=retriever,
                                data=make_task(40))
        meta = json.loads((result.directory / "meta.json").read_text())
        runs[mode] = result.run
    assert meta["ann"]["mode"] == "ivf" and "one-row matrices" in meta["retriever"]["vectors_searched_as"]
    for qid, ranking in runs["exact"].items():
        assert list(runs["ivf"][qid]) == list(ranking)
        assert all(abs(runs["ivf"][qid][p] - s) < 1e-6 for p, s in ranking.items())


def test_bm25_with_search_ivf_is_refused_before_indexing(tmp_path, local_task):
    result = runner.invoke(app, ["run", "-t", f"local:{local_task}", "-r", "bm25", "--search", "ivf",
                                 "--output", str(tmp_path / "r")])
    assert result.exit_code == 2 and "is not a late-interaction" in result.output, result.output


@pytest.mark.parametrize("mode, options", [("ivf", SMALL),
                                           ("ivfpq", {**SMALL, "pq_m": "2", "pq_nbits": "4", "refine": "12"}),
                                           # k=10 above refine and above candidates; refine past the corpus
                                           ("ivfpq", {**SMALL, "pq_m": "2", "pq_nbits": "4", "refine": "3"}),
                                           ("ivfpq", {**SMALL, "pq_m": "2", "pq_nbits": "4",
                                                      "refine": str(2**31 - 1)})])
def test_two_gloo_ranks_search_their_shards_and_give_one_process_run(tmp_path, checkpoint, mode, options):
    """ivfpq with refine: the global best 12 by decoded MaxSim are rescored, each rank its own."""
    runs = {}
    for name, launcher in [("one", [sys.executable]),
                           ("two", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                    "--nproc-per-node", "2"])]:
        env = {**os.environ, "MIRE_EVAL_DATA": str(tmp_path / name), "OMP_NUM_THREADS": "1"}
        out = tmp_path / f"out-{name}"
        args = [str(HELPER), str(checkpoint), str(out), "150", "--search", mode,
                *[a for k, v in options.items() for a in ("--search-option", f"{k}={v}")]]
        done = subprocess.run([*launcher, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        directory = Path(json.loads((out / "done.json").read_text())["directory"])
        runs[name] = ((directory / "run.trec").read_text(), json.loads((directory / "meta.json").read_text()))
    (run_one, meta_one), (run_two, meta_two) = runs["one"], runs["two"]
    assert meta_two["distributed"]["world_size"] == 2 and meta_two["ann"]["mode"] == mode
    assert run_two == run_one
    # with 8 candidates of 150 passages the search is approximate: it differs from exact
    exact_dir = tmp_path / "exact"
    env = {**os.environ, "MIRE_EVAL_DATA": str(tmp_path / "one"), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(HELPER), str(checkpoint), str(exact_dir), "150"], env=env, check=True,
                   capture_output=True, timeout=300)
    exact = Path(json.loads((exact_dir / "done.json").read_text())["directory"]) / "run.trec"
    assert exact.read_text() != run_one


def test_probe_searches_every_view_approximately_also_when_the_full_run_is_reused(tmp_path, colbert_dir):
    task = local_words_task(tmp_path / "words")
    out = tmp_path / "probe"
    args = ["probe", "-t", f"local:{task}", "-r", "colbertv2", "--checkpoint", str(colbert_dir), "--k", "10",
            "--output", str(out), "--search", "ivf", "--search-option", "nlist=32", "--search-option", "candidates=24"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    (probe,) = out.rglob("probe.json")
    before = json.loads(probe.read_text())
    meta = json.loads(probe.with_name("meta.json").read_text())
    assert meta["ann"]["candidates"] == 24 and meta["identity"]["search"]["mode"] == "ivf"
    again = runner.invoke(app, args)  # the full view is reused; the other views search through the index again
    assert again.exit_code == 0, again.output
    after = json.loads(probe.read_text())
    assert after["views"] == before["views"] and after["indices"] == before["indices"]
    assert (probe.parent / "run_text.trec").read_text().count("\n") > 0


def test_finetune_refuses_a_bad_search_before_training(local_task, tmp_path):
    result = runner.invoke(app, ["finetune", "-t", f"local:{local_task}", "-r", "colbertv2", "--search", "hnsw",
                                 "--checkpoints", str(tmp_path / "ckpts"), "--output", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == ["error: --search hnsw: unknown search; known: exact, ivf, ivfpq"]
    assert not (tmp_path / "ckpts").exists()
