import json

import pytest
import torch
from PIL import Image

from harness.core.errors import MireEvalError
from harness.core.types import Corpus, Passage, Query
from harness.index.retriever import EncoderRetriever
from harness.training.trainer import TrainConfig, train
from retrievers.jfe import JfeSettings, build, build_trainable
from tests.helpers.single_thread import one_thread  # noqa: F401
from tests.helpers.tiny_jfe import examples, image, tiny  # noqa: F401  (tiny: a fixture)


def direct_last_state(model, prompt: str, img=None) -> torch.Tensor:
    """One prompt, no padding, straight through the backbone: the last position's final state."""
    inputs = model.processor(text=[prompt], images=[img] if img is not None else None, return_tensors="pt")
    with torch.no_grad():
        hidden = model.backbone(**inputs).last_hidden_state  # (1, L, H)
    return torch.nn.functional.normalize(hidden[0, -1], dim=-1)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_embedding_is_the_last_token_final_hidden_state(tiny, padding_side):
    encoder = build(str(tiny))
    encoder.model.processor.tokenizer.padding_side = padding_side
    queries = [Query("a", "what city is paris", image("red", (90, 60))), Query("b", "which city", None),
               Query("c", "what is the long name of the city with many facts", image("blue"))]
    got = encoder.encode_queries(queries, "full")
    assert got.shape == (3, 32) and got.dtype == torch.float32
    for i, q in enumerate(queries):
        prompt, with_image = encoder.model.query_prompt(q, "full")
        expected = direct_last_state(encoder.model, prompt, q.image.load() if with_image else None)
        torch.testing.assert_close(got[i], expected, rtol=1e-4, atol=1e-5)
    passages = [Passage("p", "Paris", "paris is a city"), Passage("q", "", "a much longer passage about many cities")]
    got = encoder.encode_passages(passages)
    for i, p in enumerate(passages):
        torch.testing.assert_close(got[i], direct_last_state(encoder.model, encoder.model.passage_prompt(p)),
                                   rtol=1e-4, atol=1e-5)
    assert encoder.model.passage_prompt(passages[0]).endswith("Summary above passage in one word:<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("prompts", ["zero-shot", "instruct"])
def test_views_change_exactly_their_part_of_the_prompt(tiny, prompts):
    model = build(str(tiny), prompts=prompts).model
    q = Query("a", "what city is paris", image("red"), instruction="Find the article.")
    full, has_full = model.query_prompt(q, "full")
    text, has_text = model.query_prompt(q, "text")
    only_image, has_image = model.query_prompt(q, "image")
    vision = "<|vision_start|><|image_pad|><|vision_end|>"
    assert has_full and has_image and not has_text
    assert full.count(vision) == 1 and text == full.replace(vision, "")
    assert full.count(q.text) == 1 and only_image == full.replace(q.text, "")
    assert ("Find the article." in full) == (prompts == "instruct")  # M2KR-style instruction, trained prompts only
    encoder = build(str(tiny), prompts=prompts)
    e_full, e_text, e_image = (encoder.encode_queries([q], v) for v in ("full", "text", "image"))
    torch.testing.assert_close(e_text, encoder.encode_queries([q.with_image(None)], "full"))
    assert not torch.allclose(e_full, e_text) and not torch.allclose(e_full, e_image)
    with pytest.raises(MireEvalError, match="unknown view"):
        encoder.encode_queries([q], "audio")


def test_length_grouping_gives_the_same_embeddings_and_pixels_are_bounded(tiny):
    queries = [e.query for e in examples()] + [Query("x", "a question with more words than the others", image("red", (200, 120)))]
    grouped = build(str(tiny), batch_size=3)
    plain = build(str(tiny), batch_size=3, group_by_length=False)
    torch.testing.assert_close(grouped.encode_queries(queries, "full"), plain.encode_queries(queries, "full"),
                               rtol=1e-4, atol=1e-5)
    small = build(str(tiny), max_pixels=28 * 28 * 2, min_pixels=28 * 28)
    batch = small.model.collate_queries([queries[-1]])
    assert int(batch["image_grid_thw"].prod()) // 4 <= 2  # at most two visual tokens
    described = small.describe()
    options = described["options"]
    assert options["max_pixels"] == 28 * 28 * 2 and options["min_pixels"] == 28 * 28
    assert options["trust_remote_code"] is False and described["views"]["image"] == "question left out of the prompt"


def _hit_at_1(encoder, data) -> float:
    retriever = EncoderRetriever(encoder)
    retriever.index(Corpus.from_records([{"_id": e.positive.id, "title": e.positive.title, "text": e.positive.text}
                                         for e in data]))
    run = retriever.search([e.query for e in data], 3)
    return sum(max(run[e.query.id], key=run[e.query.id].get) == e.positive.id for e in data) / len(data)


@pytest.mark.slow
def test_lora_finetuning_lowers_loss_raises_hit_rate_and_round_trips(tiny, tmp_path):
    data = examples()
    before = _hit_at_1(build(str(tiny), prompts="instruct"), data)
    config = TrainConfig(epochs=40, lr=2e-3, batch_size=12, micro_batch=6, temperature=0.05, warmup=3, seed=0)
    trainables = []

    def make(checkpoint):
        trainables.append(build_trainable(checkpoint or str(tiny), lora_rank=8))
        return trainables[-1]

    result = train(make, data, config, tmp_path, progress=False)
    losses = [h["loss"] for h in result.history]
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    trained = trainables[0]
    assert trained.backbone.get_base_model().visual.blocks[0].attn.qkv.weight.requires_grad is False
    assert all("lora_" in n for n, p in trained.named_parameters() if p.requires_grad)
    after = _hit_at_1(build(str(result.model_dir)), data)
    assert after >= before + 0.4, (before, after)

    saved = json.loads((result.model_dir / "jfe_config.json").read_text())
    assert saved["weights"] == "lora" and saved["prompts"] == "instruct" and saved["model"] == str(tiny)
    assert "trust_remote_code" not in saved  # only ever from the command line
    assert (result.model_dir / "adapter_model.safetensors").is_file()
    assert not list(result.model_dir.glob("*.bin"))
    trained.eval()
    batch = trained.collate_queries([data[0].query])
    with torch.no_grad():
        reference = trained.embed_queries(batch)[0]
        reloaded = build_trainable(str(result.model_dir)).eval()
        assert [n for n, p in reloaded.named_parameters() if p.requires_grad] == \
               [n for n, p in trained.named_parameters() if p.requires_grad]  # optimiser state lines up on resume
        torch.testing.assert_close(reloaded.embed_queries(batch)[0], reference, rtol=1e-5, atol=1e-6)
    merged = build(str(result.model_dir))  # LoRA merged into the weights for inference
    torch.testing.assert_close(merged.encode_queries([data[0].query], "full"), reference, rtol=1e-4, atol=1e-5)


def test_full_finetuning_saves_weights_and_loads_back(tiny, tmp_path):
    model = build_trainable(str(tiny), lora=False, gradient_checkpointing=False)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and not any(".visual." in f".{n}" for n in trainable)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    model.eval()
    q = Query("a", "what city is paris", image("red"))
    reference = model.embed_queries(model.collate_queries([q]))[0]
    model.save_checkpoint(tmp_path / "full")
    assert json.loads((tmp_path / "full" / "jfe_config.json").read_text())["weights"] == "full"
    assert (tmp_path / "full" / "model.safetensors").is_file()
    torch.testing.assert_close(build(str(tmp_path / "full")).encode_queries([q], "full"), reference,
                               rtol=1e-4, atol=1e-5)


def test_bad_inputs_are_one_line_errors(tiny, tmp_path):
    with pytest.raises(MireEvalError, match="unknown option"):
        JfeSettings.create(nonsense=1)
    with pytest.raises(MireEvalError, match="prompts"):
        JfeSettings.create(prompts="chatty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MireEvalError, match="hf download .* --local-dir DIR"):
        build(str(tmp_path / "empty"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "jfe_config.json").write_text('{"weights": "pickle"}')
    with pytest.raises(MireEvalError, match="weights"):
        build(str(tmp_path / "bad"))
    assert JfeSettings.create().revision == "895c3a49bc3fa70a340399125c650a463535e71c"  # default model is pinned


def test_pretrain_cli_stage1_on_pairs_then_finetune_starts_from_it(tiny, tmp_path):
    """Stage 1 (generic pairs through ``mire-eval pretrain``) writes a LoRA checkpoint that
    stage 2 continues from; the task instruction from FINETUNE_DEFAULTS replaces stage 1's."""
    import typer
    from typer.testing import CliRunner

    from harness.cli.train import register
    from harness.training.launch import run_training

    app = typer.Typer()
    register(app)
    Image.new("RGB", (40, 40), "red").save(tmp_path / "a.png")
    rows = [{"image": "a.png", "passage": "a red square"}, {"question": "what city is paris", "passage": "paris facts"},
            {"image": "a.png", "question": "what colour", "passage": "red", "instruction": "Answer briefly."},
            {"question": "which city is oslo", "title": "Oslo", "passage": "oslo is a city"}]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(app, ["pretrain", "--retriever", "jfe", "--data", str(tmp_path / "pairs.jsonl"),
                                      "--checkpoint", str(tiny), "--batch-size", "4", "--micro-batch", "2",
                                      "--max-steps", "1", "--option", "lora_rank=4", "--checkpoints", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    stage1 = tmp_path / "o" / "checkpoints" / "pretrain-pairs" / "jfe" / "final"
    saved = json.loads((stage1 / "jfe_config.json").read_text())
    assert saved["prompts"] == "instruct" and saved["lora_rank"] == 4 and saved["weights"] == "lora"
    summary = json.loads((stage1 / "training.json").read_text())
    assert summary["config"]["temperature"] == 0.02 and summary["config"]["lr"] == 1e-4  # PRETRAIN_DEFAULTS
    stage2 = run_training("finetune", "jfe", examples()[:4], tmp_path / "ft", str(stage1), "cpu",
                          {"batch_size": 4, "max_steps": 1}, {}, defaults_key="okvqa", progress=False)
    config = json.loads((stage2.model_dir / "jfe_config.json").read_text())
    assert config["instruction"].startswith("Retrieve a document that provides the knowledge")
    assert config["lora_rank"] == 4 and config["model"] == str(tiny)


def test_zero_shot_and_fine_tuned_runs_land_side_by_side(tiny, local_task, tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app
    from harness.evaluation.results import leaderboard

    results = tmp_path / "results"
    zero = CliRunner().invoke(app, ["run", "-t", f"local:{local_task}", "-r", "jfe", "--checkpoint", str(tiny),
                                    "--output", str(results)])
    assert zero.exit_code == 0, zero.output
    tuned = CliRunner().invoke(app, ["finetune", "-t", f"local:{local_task}", "-r", "jfe", "--checkpoint", str(tiny),
                                     "--batch-size", "1", "--max-steps", "1", "-o", "lora_rank=4",
                                     "--checkpoints", str(tmp_path / "ck"), "--output", str(results)])
    assert tuned.exit_code == 0, tuned.output
    rows = leaderboard(results)
    assert sorted(r["setting"] for r in rows) == ["fine-tuned", "zero-shot"]
    meta = json.loads(next(results.glob("local-animals-*/jfe/fine-tuned-*/meta.json")).read_text())
    assert meta["retriever"]["options"]["prompts"] == "instruct" and meta["retriever"]["options"]["weights"] == "lora"


@pytest.mark.parametrize("option, pattern", [
    ({"batch_size": 0}, r"option batch_size=0: must be >= 1"),
    ({"batch_size": "eight"}, r"option batch_size='eight': expected a whole number"),
    ({"lora_dropout": 1.5}, r"option lora_dropout=1.5: must be <= 1"),
    ({"lora_dropout": float("nan")}, r"option lora_dropout=nan: expected a finite number"),
    ({"lora": "maybe"}, r"option lora='maybe': expected true or false"),
    ({"max_pixels": -1}, r"option max_pixels=-1: must be >= 1"),
])
def test_typed_options_are_checked_as_one_line(option, pattern):
    with pytest.raises(MireEvalError, match=pattern):
        JfeSettings.create(**option)
    assert JfeSettings.create(batch_size="4", lora="false", image_workers=0).batch_size == 4
