"""``--retriever st``: scores equal the library's own encode_query / encode_document +
similarity (single-vector, multi-vector through the store, multimodal), the probe's views,
torchrun, and bad input in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.helpers import st_models
from harness.cli import app
from harness.core.runs import read_trec_run
from tasks.base import LoadOptions
from tasks.loading import load_task
from tests.helpers.single_thread import one_thread  # noqa: F401

pytest.importorskip("sentence_transformers")
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample():
    return load_task("sample", LoadOptions())


@pytest.fixture(scope="module")
def multi_vector_dir(tmp_path_factory):
    return st_models.write_multi_vector(tmp_path_factory.mktemp("mve") / "tiny-mve")


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    return st_models.write_vision_text(tmp_path_factory.mktemp("blip") / "tiny-blip", "blip")


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return st_models.write_vision_text(tmp_path_factory.mktemp("clip") / "tiny-clip", "clip")


def run_cli(output: Path, checkpoint, *extra: str, task: str = "sample"):
    args = ["run", "--task", task, "--retriever", "st", "--output", str(output), "--k", "20", *extra]
    if checkpoint is not None:
        args += ["--checkpoint", str(checkpoint)]
    return runner.invoke(app, args)


def the_run(output: Path) -> tuple[dict, dict]:
    (meta,) = output.rglob("meta.json")
    return read_trec_run(meta.with_name("run.trec")), json.loads(meta.read_text())


def library_scores(model, queries, passages, stored: bool = True) -> torch.Tensor:
    """[n_queries, n_passages] from the library's own encode_query / encode_document.

    ``stored=False``: the library's ``similarity`` at full precision. ``stored=True``: the
    passage vectors as mire-eval's store holds them (fp16); a cosine model's vectors are unit
    length before rounding and the store does not renormalise them, so its score is their dot
    product (cos_sim would renormalise the rounded vector); MaxSim is the library's similarity.
    """
    from sentence_transformers import MultiVectorEncoder

    multi = isinstance(model, MultiVectorEncoder)
    kw = {} if multi else {"convert_to_tensor": True}
    q = model.encode_query(queries, **kw)
    docs = model.encode_document([p.contents for p in passages], **kw)
    if not stored:
        return model.similarity(q, docs)
    if multi:
        return model.similarity(q, [d.half().float() for d in docs])
    if model.similarity_fn_name == "cosine":
        q, docs = (torch.nn.functional.normalize(x.float(), dim=-1) for x in (q, docs))
    return q.float() @ docs.half().float().T  # cosine of unit vectors, or the model's dot


def assert_scores_equal(run: dict, scores: torch.Tensor, qids, pids, tol: float = 1e-5) -> float:
    worst = 0.0
    for i, qid in enumerate(qids):
        assert len(run[qid]) == len(pids)
        for j, pid in enumerate(pids):
            worst = max(worst, abs(run[qid][pid] - float(scores[i, j])))
    assert worst <= tol, worst
    return worst


def passages_of(data):
    return [data.corpus[i] for i in range(len(data.corpus))]


# --------------------------------------------------------------------------------------------
# single vector: the real all-MiniLM-L6-v2
# --------------------------------------------------------------------------------------------
def test_minilm_scores_equal_the_library_and_meta_records_the_model(sample, tmp_path):
    from sentence_transformers import SentenceTransformer

    done = run_cli(tmp_path / "r", st_models.minilm_dir(), "--view", "text")
    assert done.exit_code == 0, done.output
    run, meta = the_run(tmp_path / "r")
    model = SentenceTransformer(str(st_models.minilm_dir()), device="cpu")
    passages = passages_of(sample)
    texts = [q.text for q in sample.queries]
    stored = library_scores(model, texts, passages)
    assert_scores_equal(run, stored, [q.id for q in sample.queries], [p.id for p in passages])
    # against full-precision passages the store's fp16 is the only difference
    exact = library_scores(model, texts, passages, stored=False)
    assert_scores_equal(run, exact, [q.id for q in sample.queries], [p.id for p in passages], tol=1e-3)
    record = meta["retriever"]["model"]
    assert record["library"] == "sentence-transformers" and record["class"] == "SentenceTransformer"
    assert record["vectors"] == "single" and record["similarity"] == "cosine" == meta["retriever"]["similarity"]
    assert len(record["fingerprint"]) == 64 and record["revision"] is None and "prompts" in record
    summary = json.loads(next((tmp_path / "r").rglob("metrics.json")).read_text())
    assert summary["model"]["class"] == "SentenceTransformer"
    board = runner.invoke(app, ["leaderboard", "--output", str(tmp_path / "r")])
    assert board.exit_code == 0, board.output
    header = (tmp_path / "r" / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert {"model_library", "model_class", "model_vectors", "model_similarity", "model_fingerprint",
            "model_revision", "model_prompts"} <= set(header)


def test_minilm_exact_and_ivf_rank_alike_on_sample(tmp_path):
    ranks = {}
    for mode in ("exact", "ivf"):
        done = run_cli(tmp_path / mode, st_models.minilm_dir(), "--view", "text", "--search", mode)
        assert done.exit_code == 0, done.output
        run, meta = the_run(tmp_path / mode)
        ranks[mode] = {q: sorted(r, key=lambda p: (-r[p], p)) for q, r in run.items()}
    assert ranks["ivf"] == ranks["exact"]
    assert meta["ann"]["mode"] == "ivf"


# --------------------------------------------------------------------------------------------
# multi-vector
# --------------------------------------------------------------------------------------------
def test_multi_vector_maxsim_through_the_store_equals_the_library(sample, multi_vector_dir, tmp_path):
    from sentence_transformers import MultiVectorEncoder

    done = run_cli(tmp_path / "r", multi_vector_dir, "--view", "text")
    assert done.exit_code == 0, done.output
    run, meta = the_run(tmp_path / "r")
    assert meta["store"] is not None and meta["retriever"]["similarity"] == "maxsim"
    record = meta["retriever"]["model"]
    assert record["class"] == "MultiVectorEncoder" and record["vectors"] == "multi"
    model = MultiVectorEncoder(str(multi_vector_dir), device="cpu")
    passages = passages_of(sample)
    scores = library_scores(model, [q.text for q in sample.queries], passages)
    assert_scores_equal(run, scores, [q.id for q in sample.queries], [p.id for p in passages])


def test_meanmaxsim_and_dot_models_score_as_the_library(sample, multi_vector_dir, blip_dir, tmp_path):
    """The similarity is the model's: meanmaxsim (MaxSim / query rows) and dot (no normalising)."""
    from sentence_transformers import MultiVectorEncoder, SentenceTransformer

    passages, qids = passages_of(sample), [q.id for q in sample.queries]
    pids = [p.id for p in passages]
    for cls, source, fn, view, inputs in (
            (MultiVectorEncoder, multi_vector_dir, "meanmaxsim", "text", [q.text for q in sample.queries]),
            (SentenceTransformer, blip_dir, "dot", "full",
             [{"text": q.text, "image": q.image.load()} for q in sample.queries])):
        model = cls(str(source), device="cpu")
        model.similarity_fn_name = fn
        model.save(str(tmp_path / fn))
        model = cls(str(tmp_path / fn), device="cpu")
        assert model.similarity_fn_name == fn
        done = run_cli(tmp_path / f"r-{fn}", tmp_path / fn, "--view", view)
        assert done.exit_code == 0, done.output
        run, meta = the_run(tmp_path / f"r-{fn}")
        assert meta["retriever"]["model"]["similarity"] == fn
        assert_scores_equal(run, library_scores(model, inputs, passages), qids, pids)


def test_query_vectors_of_another_width_than_the_passages_are_one_line():
    """MiniLM's passages are 384 wide; a query side of another width (a model whose multimodal
    output lives in another space) is refused before any search."""
    from harness.core.errors import MireEvalError
    from retrievers.st.encoding import STEncoder
    from retrievers.st.loading import load_model

    encoder = STEncoder(load_model(str(st_models.minilm_dir()), "cpu"))
    encoder._check_dims([torch.zeros(384)], "text")  # the same width: fine
    with pytest.raises(MireEvalError, match=r"'full' query vectors have \[512\] dimensions and its passage vectors"):
        encoder._check_dims([torch.zeros(512)], "full")


@pytest.mark.slow
def test_multi_vector_under_torchrun_with_two_gloo_ranks_gives_the_one_process_run(multi_vector_dir, tmp_path):
    runs = {}
    for name, launcher in [("one", [sys.executable]),
                           ("two", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                    "--nproc-per-node", "2"])]:
        env = {**os.environ, "MIRE_EVAL_DATA": str(tmp_path / f"data-{name}"), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(ROOT)}
        out = tmp_path / f"out-{name}"
        args = ["-m", "harness", "run", "--task", "sample", "--retriever", "st", "--checkpoint",
                str(multi_vector_dir), "--view", "text", "--k", "20", "--output", str(out)]
        done = subprocess.run([*launcher, *args], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-3000:]
        (meta,) = out.rglob("meta.json")
        runs[name] = (meta.with_name("run.trec").read_text(), json.loads(meta.read_text()))
    assert runs["two"][0] == runs["one"][0] and runs["one"][0].count("\n") == 10 * 20
    assert runs["two"][1]["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert runs["two"][1]["store"]["key"] == runs["one"][1]["store"]["key"]


# --------------------------------------------------------------------------------------------
# multimodal
# --------------------------------------------------------------------------------------------
def test_blip_text_and_image_queries_score_as_the_library_and_the_text_view_is_the_question(sample, blip_dir,
                                                                                          tmp_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(blip_dir), device="cpu")
    passages, qids = passages_of(sample), [q.id for q in sample.queries]
    pids = [p.id for p in passages]
    done = run_cli(tmp_path / "full", blip_dir)
    assert done.exit_code == 0, done.output
    run, meta = the_run(tmp_path / "full")
    pairs = [{"text": q.text, "image": q.image.load()} for q in sample.queries]
    assert_scores_equal(run, library_scores(model, pairs, passages), qids, pids)
    assert "text+image input" in meta["retriever"]["views"]["full"]
    done = run_cli(tmp_path / "text", blip_dir, "--view", "text")
    assert done.exit_code == 0, done.output
    run, _ = the_run(tmp_path / "text")
    assert_scores_equal(run, library_scores(model, [q.text for q in sample.queries], passages), qids, pids)
    done = run_cli(tmp_path / "image", blip_dir, "--view", "image")
    assert done.exit_code == 0, done.output
    run, _ = the_run(tmp_path / "image")
    assert_scores_equal(run, library_scores(model, [q.image.load() for q in sample.queries], passages), qids, pids)


@pytest.mark.slow
def test_blip_probe_runs_the_four_views(blip_dir, tmp_path):
    done = runner.invoke(app, ["probe", "--task", "sample", "--retriever", "st", "--checkpoint", str(blip_dir),
                               "--output", str(tmp_path / "p"), "--k", "20"])
    assert done.exit_code == 0, done.output
    (probe,) = (tmp_path / "p").rglob("probe.json")
    views = json.loads(probe.read_text())["views"]
    assert set(views) == {"full", "text", "image", "swap"}
    for view in ("text", "image", "swap"):
        assert (probe.parent / f"run_{view}.trec").read_text().count("\n") == 10 * 20


def test_clip_needs_fusion_and_fusion_sum_is_the_sum_of_the_library_vectors(sample, clip_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    refused = run_cli(tmp_path / "refused", clip_dir)
    assert_one_line_exit_2(refused, "fusion=sum", tmp_path / "refused")
    done = run_cli(tmp_path / "sum", clip_dir, "-o", "fusion=sum")
    assert done.exit_code == 0, done.output
    run, meta = the_run(tmp_path / "sum")
    model = SentenceTransformer(str(clip_dir), device="cpu")
    norm = torch.nn.functional.normalize
    texts = norm(torch.as_tensor(model.encode_query([q.text for q in sample.queries])), dim=-1)
    images = norm(torch.as_tensor(model.encode_query([q.image.load() for q in sample.queries])), dim=-1)
    passages = passages_of(sample)
    docs = norm(torch.as_tensor(model.encode_document([p.contents for p in passages])), dim=-1)
    scores = norm(texts + images, dim=-1) @ docs.half().float().T  # cosine over the stored fp16 passages
    assert_scores_equal(run, scores, [q.id for q in sample.queries], [p.id for p in passages])
    assert meta["retriever"]["options"]["fusion"] == "sum"


# --------------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written
# --------------------------------------------------------------------------------------------
def assert_one_line_exit_2(result, needle: str, output: Path) -> None:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.output
    assert not list(output.rglob("metrics.json")) and not list(output.rglob("meta.json"))


def test_a_text_only_model_on_an_image_view_is_refused(tmp_path):
    result = run_cli(tmp_path / "r", st_models.minilm_dir())
    assert_one_line_exit_2(result, "--view text", tmp_path / "r")
    result = run_cli(tmp_path / "r", st_models.minilm_dir(), "--view", "image")
    assert_one_line_exit_2(result, "reads text only", tmp_path / "r")


def test_an_unknown_model_name_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = run_cli(tmp_path / "r", "nobody-here/no-such-model", "--view", "text")
    assert_one_line_exit_2(result, "no-such-model", tmp_path / "r")
    result = run_cli(tmp_path / "r", None, "--view", "text")
    assert_one_line_exit_2(result, "--checkpoint", tmp_path / "r")


def test_a_folder_of_neither_layout_is_one_line(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    result = run_cli(tmp_path / "r", folder, "--view", "text")
    assert_one_line_exit_2(result, "neither a Sentence-Transformers model folder", tmp_path / "r")


def test_a_model_that_needs_its_own_code_says_so_and_never_runs_it(tmp_path):
    import shutil

    folder = tmp_path / "custom"
    shutil.copytree(st_models.minilm_dir(), folder)
    marker = tmp_path / "ran"
    (folder / "custom_st.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nclass Transformer: pass\n")
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["type"] = "custom_st.Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    result = run_cli(tmp_path / "r", folder, "--view", "text")
    assert_one_line_exit_2(result, "trust_remote_code=true", tmp_path / "r")
    assert "custom_st.Transformer" in result.output and not marker.exists()


def test_pickled_code_in_a_torch_weights_file_is_refused(tmp_path):
    import shutil

    from tests.helpers import evil
    from safetensors.torch import load_file

    folder = tmp_path / "evil"
    shutil.copytree(st_models.minilm_dir(), folder)
    marker = tmp_path / "ran"
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    evil.write(evil.KINDS[0], folder / "pytorch_model.bin", state, marker)
    result = run_cli(tmp_path / "r", folder, "--view", "text")
    assert_one_line_exit_2(result, "pytorch_model.bin", tmp_path / "r")
    assert not marker.exists()


@pytest.mark.parametrize("size", [4, 1000, -64])
def test_a_truncated_safetensors_file_is_one_line(tmp_path, size):
    # safetensors' own "invalid header length" (SafetensorError) escaped as a traceback
    import shutil

    folder = tmp_path / "cut"
    shutil.copytree(st_models.minilm_dir(), folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:size])
    result = run_cli(tmp_path / "r", folder, "--view", "text")
    assert_one_line_exit_2(result, "model.safetensors: weights:", tmp_path / "r")
