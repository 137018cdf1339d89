import json

import pytest
import typer
from PIL import Image
from tests.helpers.tiny_trainable import tiny_task
from typer.testing import CliRunner

import tasks.loading

from harness.cli.train import register
from harness.core.errors import MireEvalError
from harness.core.registry import Entry
from harness.training.pairs import read_pairs
from retrievers.registry import FINETUNE_DEFAULTS, PRETRAIN_DEFAULTS, RETRIEVERS, TRAINABLES
from tasks.base import task_slug
from tests.helpers.single_thread import one_thread  # noqa: F401



@pytest.fixture(autouse=True)
def tiny_retriever(monkeypatch):
    """A trainable test retriever, registered for the duration of one test only."""
    monkeypatch.setitem(RETRIEVERS._entries, "tiny-test",
                        Entry("tiny-test", "tests.helpers.tiny_trainable:build", "test only"))
    for registry, target in [(TRAINABLES, "build_trainable"), (PRETRAIN_DEFAULTS, "PRETRAIN_DEFAULTS"),
                             (FINETUNE_DEFAULTS, "FINETUNE_DEFAULTS")]:
        monkeypatch.setitem(registry._entries, "tiny-test",
                            Entry("tiny-test", f"tests.helpers.tiny_trainable:{target}", ""))



@pytest.fixture
def app():
    app = typer.Typer()
    register(app)
    return app


def test_finetune_trains_with_module_defaults_and_flags(app, tmp_path, monkeypatch):
    seen = {}

    def fake_load(name, options, corpus_from=None):
        seen["split"] = options.split
        return tiny_task(16)

    import harness.evaluation.pipeline  # noqa: F401 - binds the real load_task before it is patched for this test

    monkeypatch.setattr(tasks.loading, "load_task", fake_load)
    args = ["finetune", "--task", "tiny", "--retriever", "tiny-test", "--epochs", "2", "--micro-batch", "3",
            "--option", "similarity=maxsim", "--checkpoints", str(tmp_path), "--no-evaluate"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen["split"] == "train"
    out = tmp_path / "checkpoints" / "tiny" / "tiny-test"
    summary = json.loads((out / "final" / "training.json").read_text())
    # FINETUNE_DEFAULTS["*"] gives lr/batch/temperature and the model option width; flags win
    assert summary["config"]["lr"] == 0.05 and summary["config"]["batch_size"] == 4
    assert summary["config"]["epochs"] == 2 and summary["config"]["micro_batch"] == 3
    assert summary["model_options"] == {"width": 16, "similarity": "maxsim"}
    assert summary["steps"] == 8 and summary["stage"] == "finetune"
    assert json.loads((out / "final" / "config.json").read_text())["similarity"] == "maxsim"
    again = CliRunner().invoke(app, args)  # an existing run is neither resumed nor replaced silently
    assert again.exit_code == 2 and "--resume or --overwrite" in again.output
    resumed = CliRunner().invoke(app, [*args[:6], "3", *args[7:], "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "final" / "training.json").read_text())["steps"] == 12


def test_pretrain_reads_pairs_with_images(app, tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "img" / "a.png")
    rows = [{"image": "a.png", "passage": f"a red square number {i}"} for i in range(4)]
    rows += [{"question": f"who wrote book {i}", "title": "Books", "passage": f"author {i} wrote it"} for i in range(4)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(app, ["pretrain", "--retriever", "tiny-test", "--data", str(data), "--image-dir",
                                      str(tmp_path / "img"), "--batch-size", "4", "--checkpoints", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "pretrained tiny-test on 8 pairs: 2 steps" in result.output
    assert (tmp_path / "o" / "checkpoints" / "pretrain-pairs" / "tiny-test" / "final" / "config.json").is_file()


def test_read_pairs_formats_and_errors(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "question": "q", "image": "x.png", "instruction": "Find it.",
                               "passage": "text", "title": "T", "negatives": ["n1", {"title": "t", "text": "n2"}]})
                    + "\n\n" + json.dumps({"question": "q2", "passage": "text", "title": "T"}) + "\n")
    first, second = read_pairs(good)
    assert first.query.id == "a" and first.query.instruction == "Find it." and first.query.image.path.name == "x.png"
    assert [n.text for n in first.negatives] == ["n1", "n2"] and first.negatives[1].title == "t"
    assert second.query.id == "good:3" and second.query.image is None
    assert first.positive.id == second.positive.id  # same title + text -> same passage id
    for line, message in [("{", "good2.jsonl:1: not valid JSON"), ('{"question": "q"}', "field 'passage'"),
                          ('{"passage": "p"}', "needs a 'question' or an 'image'"),
                          ('{"image": "nope.png", "passage": "p"}', "nope.png: field 'image'")]:
        bad = tmp_path / "good2.jsonl"
        bad.write_text(line + "\n")
        with pytest.raises(MireEvalError, match=message):
            read_pairs(bad)


def test_finetune_then_evaluates_as_fine_tuned_through_the_real_cli(local_task, tmp_path, monkeypatch):
    import tasks.local
    from harness.cli import app as real_app

    corpus_reads = []
    real_read = tasks.local.read_corpus
    monkeypatch.setattr(tasks.local, "read_corpus", lambda path: corpus_reads.append(path) or real_read(path))
    result = CliRunner().invoke(real_app, [
        "finetune", "-t", f"local:{local_task}", "-r", "tiny-test", "--batch-size", "1", "--epochs", "3",
        "--checkpoints", str(tmp_path / "ck"), "--output", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    assert "finetuned tiny-test on local:" in result.output and "(fine-tuned, full): hit_rate@5=" in result.output
    (run_dir,) = (tmp_path / "results").glob("local-animals-*/tiny-test/fine-tuned-full-test-*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["setting"] == "fine-tuned" and metrics["n_queries"] == 3  # the test split, not train
    model_dir = tmp_path / "ck" / "checkpoints" / task_slug(f"local:{local_task}") / "tiny-test" / "final"
    assert metrics["checkpoint"] == str(model_dir)
    assert json.loads((model_dir / "training.json").read_text())["examples"] == 1  # the train split's one pair
    assert len(corpus_reads) == 1  # train and test share one reading of corpus.jsonl


def test_untrainable_or_unknown_retrievers_are_one_line_errors(local_task):
    from harness.cli import app as real_app

    result = CliRunner().invoke(real_app, ["finetune", "-t", f"local:{local_task}", "-r", "bm25"])
    assert result.exit_code == 2 and "cannot be trained" in result.output
    result = CliRunner().invoke(real_app, ["pretrain", "-r", "nope", "--data", "x.jsonl"])
    assert result.exit_code == 2 and "unknown retriever 'nope'" in result.output
