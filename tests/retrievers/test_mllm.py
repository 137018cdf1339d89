"""A second multimodal-LLM embedder defined from the base in a few lines (docs/contributing.md,
"A multimodal-LLM embedder"): mean pooling and its own prompts and checkpoint record, on the
same tiny Qwen2-VL as jfe; it encodes what its configuration says, saves and loads its own
checkpoints, and runs through ``mire-eval run`` with one registry line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from typer.testing import CliRunner

from harness.cli import app
from harness.core.types import Passage, Query
from retrievers.base import check_encoder
from retrievers.mllm import POOLINGS, MllmEncoder, MllmModel, MllmSettings, build_encoder, build_trainable_model
from retrievers.registry import RETRIEVERS
from tests.helpers.single_thread import one_thread  # noqa: F401
from tests.helpers.tiny_jfe import image, tiny  # noqa: F401  (tiny: a fixture)


# -- the whole family: a configuration and a factory ------------------------------------------
@dataclass
class MeanSettings(MllmSettings):
    family: ClassVar[str] = "tiny-mean"
    prompt_sets: ClassVar[dict] = {"plain": {"query": "{image}{instruction} {question}", "passage": "{title}{text}"}}
    pooling: ClassVar[str] = "mean"
    config_name: ClassVar[str] = "tiny_mean_config.json"
    prompts: str = "plain"


class MeanModel(MllmModel):
    settings_class = MeanSettings


def build(checkpoint=None, device="cpu", **options):
    return build_encoder(MllmEncoder, MeanModel, checkpoint, device, 64, options)
# ----------------------------------------------------------------------------------------------


def direct_mean_state(model, prompt: str, img=None) -> torch.Tensor:
    """One prompt, no padding, straight through the backbone: the mean of its final states."""
    inputs = model.processor(text=[prompt], images=[img] if img is not None else None, return_tensors="pt")
    with torch.inference_mode():
        hidden = model.backbone(**inputs).last_hidden_state  # (1, L, H)
    return torch.nn.functional.normalize(hidden[0].mean(0), dim=-1)


QUERIES = [Query("a", "what city is paris", image("red", (90, 60))), Query("b", "which city", None),
           Query("c", "what is the long name of the city with many facts", image("blue"))]
PASSAGES = [Passage("p", "Paris", "paris is a city"), Passage("q", "", "a much longer passage about many cities")]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_the_family_embeds_the_mean_of_the_final_states(tiny, padding_side):  # noqa: F811
    encoder = build(str(tiny), image_workers=0)
    check_encoder(encoder, "tiny-mean")
    encoder.model.processor.tokenizer.padding_side = padding_side
    got = encoder.encode_queries(QUERIES, "full")
    assert got.shape == (3, 32) and got.dtype == torch.float32
    for i, q in enumerate(QUERIES):
        prompt, with_image = encoder.model.query_prompt(q, "full")
        expected = direct_mean_state(encoder.model, prompt, q.image.load() if with_image else None)
        torch.testing.assert_close(got[i], expected, rtol=1e-4, atol=1e-5)
    got = encoder.encode_passages(PASSAGES)
    for i, p in enumerate(PASSAGES):
        torch.testing.assert_close(got[i], direct_mean_state(encoder.model, encoder.model.passage_prompt(p)),
                                   rtol=1e-4, atol=1e-5)
    # its own prompt, not jfe's; and not jfe's vectors
    assert "Summary" not in encoder.model.passage_prompt(PASSAGES[0])
    from retrievers.jfe import build as build_jfe

    jfe = build_jfe(str(tiny), image_workers=0).encode_passages(PASSAGES)
    assert not torch.allclose(jfe, got, atol=1e-3)


def test_describe_and_checkpoint_name_the_family(tiny, tmp_path):  # noqa: F811
    record = build(str(tiny)).describe()
    assert record["name"] == "tiny-mean" and record["pooling"] == POOLINGS["mean"]
    assert record["options"]["prompts"] == "plain" and record["query_prompt"] == "{image}{instruction} {question}"
    model = build_trainable_model(MeanModel, str(tiny), "cpu", "finetune", {"lora_rank": 4, "gradient_checkpointing": False})
    torch.manual_seed(0)
    with torch.no_grad():  # move the adapter off its zero start so the round trip means something
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.05)
    model.eval()
    want = model.embed_passages(model.collate_passages(PASSAGES))[0].detach()
    model.save_checkpoint(tmp_path / "ck")
    saved = json.loads((tmp_path / "ck" / "tiny_mean_config.json").read_text())
    assert saved["weights"] == "lora" and saved["prompts"] == "plain" and not (tmp_path / "ck" / "jfe_config.json").exists()
    loaded = build(str(tmp_path / "ck"), image_workers=0)
    torch.testing.assert_close(loaded.encode_passages(PASSAGES), want, rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception, match="tiny-mean: unknown option"):
        build(str(tiny), pool="max")


def test_one_registry_line_runs_it_through_run(tiny, local_task, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(RETRIEVERS, "_entries", dict(RETRIEVERS._entries))
    monkeypatch.setattr(RETRIEVERS, "_loaded", dict(RETRIEVERS._loaded))
    RETRIEVERS.register("tiny-mean", "tests.retrievers.test_mllm:build", "mean-pooled tiny MLLM (a test)")
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["run", "-t", f"local:{local_task}", "-r", "tiny-mean", "--checkpoint", str(tiny),
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads(next(out.rglob("meta.json")).read_text())
    assert meta["retriever"]["name"] == "tiny-mean" and meta["retriever"]["pooling"] == POOLINGS["mean"]
