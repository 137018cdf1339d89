"""jfe loading: no remote code from a checkpoint, every weight checked, precision, images."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from harness.cli import app
from harness.core.errors import MireEvalError
from harness.core.types import BytesImage, Query
from retrievers.jfe import build, build_trainable
from retrievers.mllm.loading import resolve_dtype
from tests.helpers.single_thread import one_thread  # noqa: F401
from tests.helpers.tiny_jfe import image, tiny  # noqa: F401  (tiny: a fixture)

EVIL_MODULE = '''
import pathlib
pathlib.Path({marker!r}).write_text("imported")
from transformers import Qwen2VLConfig, Qwen2VLModel


class EvilConfig(Qwen2VLConfig):
    pass


class EvilModel(Qwen2VLModel):
    config_class = EvilConfig
'''


def _one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    return lines[0]


def _run(checkpoint: Path, task: Path, out: Path, *options: str):
    args = ["run", "-t", f"local:{task}", "-r", "jfe", "--checkpoint", str(checkpoint), "--output", str(out)]
    for option in options:
        args += ["-o", option]
    return CliRunner().invoke(app, args)


def _evil_checkpoint(tiny, directory: Path, marker: Path) -> Path:  # noqa: F811
    """A full jfe checkpoint that asks for remote code itself: jfe_config.json says
    trust_remote_code, config.json maps AutoModel to its own module, which writes ``marker``."""
    shutil.copytree(tiny, directory)
    config = json.loads((directory / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "evil.py").write_text(EVIL_MODULE.format(marker=str(marker)))
    (directory / "jfe_config.json").write_text(json.dumps({"model": ".", "weights": "full", "trust_remote_code": True}))
    return directory


def test_a_checkpoint_cannot_switch_on_remote_code(tiny, local_task, tmp_path):  # noqa: F811
    marker = tmp_path / "imported"
    ckpt = _evil_checkpoint(tiny, tmp_path / "evil-ckpt", marker)
    line = _one_line(_run(ckpt, local_task, tmp_path / "results"))
    assert "config.json: auto_map" in line and "-o trust_remote_code=true" in line
    assert not marker.exists()
    assert not list((tmp_path / "results").rglob("metrics.json"))


@pytest.mark.slow
def test_the_command_line_can_switch_on_remote_code(tiny, local_task, tmp_path):  # noqa: F811
    """The marker module is live: the user's -o trust_remote_code=true imports it (its own
    modules cache, in a subprocess, so the user's cache is untouched)."""
    marker = tmp_path / "imported"
    ckpt = _evil_checkpoint(tiny, tmp_path / "evil-ckpt", marker)
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "harness", "run", "-t", f"local:{local_task}", "-r", "jfe", "--checkpoint",
                    str(ckpt), "--output", str(tmp_path / "results"), "-o", "trust_remote_code=true"],
                   env=env, capture_output=True, timeout=300)
    assert marker.read_text() == "imported"


def _broken(tiny, directory: Path, how: str) -> tuple[Path, str]:  # noqa: F811
    """A copy of the tiny model with its model.safetensors damaged; the tensor name the error names."""
    shutil.copytree(tiny, directory)
    file = directory / "model.safetensors"
    tensors = load_file(str(file))
    name = next(k for k in tensors if "layers.0.mlp.up_proj" in k)
    data = file.read_bytes()
    if how == "empty":
        file.write_bytes(b"")
        return directory, ""
    if how == "malformed":
        file.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + data[100:])
        return directory, ""
    if how == "truncated":
        file.write_bytes(data[: len(data) // 2])
        n = int.from_bytes(data[:8], "little")
        spans = {k: v["data_offsets"] for k, v in json.loads(data[8 : 8 + n]).items() if k != "__metadata__"}
        held = len(data) // 2 - 8 - n
        first_cut = min((k for k in spans if spans[k][1] > held), key=lambda k: spans[k][0])
        return directory, first_cut
    if how == "wrong-shape":
        tensors[name] = torch.zeros(tensors[name].shape[0] + 1, tensors[name].shape[1])
    elif how == "missing":
        del tensors[name]
    save_file(tensors, str(file), metadata={"format": "pt"})
    return directory, name.removeprefix("model.")


@pytest.mark.parametrize("how", ["empty", "malformed", "truncated", "wrong-shape", "missing"])
def test_damaged_weights_are_one_line_errors(tiny, local_task, tmp_path, how):  # noqa: F811
    ckpt, tensor = _broken(tiny, tmp_path / "ckpt", how)
    line = _one_line(_run(ckpt, local_task, tmp_path / "results"))
    assert "model.safetensors: weights:" in line
    assert tensor in line
    if how == "missing":
        assert "1 missing keys" in line
    if how == "wrong-shape":
        assert "has shape (65, 32), the config gives (64, 32)" in line
    assert not list((tmp_path / "results").rglob("metrics.json"))


@pytest.fixture(scope="module")
def lora_dir(tiny, tmp_path_factory):  # noqa: F811
    """A LoRA checkpoint with a non-zero update (lora_B starts at zero)."""
    model = build_trainable(str(tiny), lora_rank=4, gradient_checkpointing=False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn_like(p))
    directory = tmp_path_factory.mktemp("lora") / "ckpt"
    model.save_checkpoint(directory)
    return directory


@pytest.mark.parametrize("how", ["missing", "wrong-shape", "truncated"])
def test_damaged_adapters_are_one_line_errors(lora_dir, tmp_path, how):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(lora_dir, ckpt)
    file = ckpt / "adapter_model.safetensors"
    tensors = load_file(str(file))
    name = sorted(k for k in tensors if "lora_A" in k)[0]
    if how == "truncated":
        file.write_bytes(file.read_bytes()[:-10])
    else:
        if how == "missing":
            del tensors[name]
        else:
            tensors[name] = torch.zeros(tensors[name].shape[0] + 1, tensors[name].shape[1])
        save_file(tensors, str(file))
    with pytest.raises(MireEvalError) as err:
        build(str(ckpt))
    message = str(err.value)
    assert "adapter_model.safetensors: weights:" in message and "\n" not in message
    if how != "truncated":
        assert name in message


def test_lora_stays_unmerged_in_half_precision_and_merges_in_fp32(lora_dir):
    query = [Query("a", "what city is paris", image("red"))]
    bf16 = build(str(lora_dir), dtype="bf16")
    assert bf16.model.lora_merged is False and hasattr(bf16.model.backbone, "peft_config")
    assert bf16.describe()["lora"].startswith("kept as a separate branch")
    unmerged = build_trainable(str(lora_dir), dtype="bf16", gradient_checkpointing=False).eval()
    with torch.no_grad():
        reference = unmerged.embed_queries(unmerged.collate_queries(query))[0][0]
    torch.testing.assert_close(bf16.encode_queries(query, "full")[0], reference, rtol=0, atol=0)
    fp32 = build(str(lora_dir))
    assert fp32.model.lora_merged is True and not hasattr(fp32.model.backbone, "peft_config")
    unmerged32 = build_trainable(str(lora_dir), gradient_checkpointing=False).eval()
    with torch.no_grad():
        reference32 = unmerged32.embed_queries(unmerged32.collate_queries(query))[0][0]
    torch.testing.assert_close(fp32.encode_queries(query, "full")[0], reference32, rtol=1e-5, atol=1e-6)


def test_dtype_auto_falls_back_to_fp16_without_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("auto", "cuda") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype("auto", "cuda:0") == torch.bfloat16
    assert resolve_dtype("auto", "cpu") == torch.float32 and resolve_dtype("fp16", "cpu") == torch.float16
    with pytest.raises(MireEvalError, match="dtype 'fp8'"):
        resolve_dtype("fp8", "cpu")


def test_flash_attention_without_flash_attn_is_one_line(tiny, local_task, tmp_path):  # noqa: F811
    import importlib.util

    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is installed here")
    line = _one_line(_run(tiny, local_task, tmp_path / "results", "attn_implementation=flash_attention_2"))
    assert "flash-attn" in line


def _png(size) -> BytesImage:
    g = torch.Generator().manual_seed(size[0] * 7 + size[1])
    pixels = (torch.rand(size[1], size[0], 3, generator=g) * 255).to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return BytesImage(buf.getvalue(), f"{size[0]}x{size[1]}.png")


@pytest.mark.parametrize("size", [(1600, 1200), (333, 97), (20, 30), (2000, 56)])
def test_shrinking_after_decoding_gives_identical_pixel_values(tiny, size):  # noqa: F811
    model = build(str(tiny), max_pixels=64 * 28 * 28).model
    assert type(model.processor.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    full = _png(size).load()
    shrunk = model.load_image(_png(size))
    assert shrunk.width * shrunk.height <= 64 * 28 * 28 and shrunk.width % 28 == 0 and shrunk.height % 28 == 0
    a = model.processor.image_processor(images=[full], return_tensors="pt")
    b = model.processor.image_processor(images=[shrunk], return_tensors="pt")
    assert torch.equal(a["image_grid_thw"], b["image_grid_thw"])
    assert torch.equal(a["pixel_values"], b["pixel_values"])


def test_images_decode_per_batch_and_lengths_count_the_placeholder_once(tiny, monkeypatch):  # noqa: F811
    loads = []

    class Counting(BytesImage):
        def load(self):
            loads.append(self.origin)
            return super().load()

    refs = [_png((60 + 10 * i, 40 + 5 * i)) for i in range(6)]
    queries = [Query(f"q{i}", "what city is paris", Counting(r.data, r.origin)) for i, r in enumerate(refs)]
    encoder = build(str(tiny), batch_size=2, image_workers=2)
    model = encoder.model
    for q in queries[:2]:  # length estimate = what the processor gives the model
        prompt, _ = model.query_prompt(q, "full")
        img = q.image.load()
        n = len(model.processor(text=[prompt], images=[img], return_tensors="pt")["input_ids"][0])
        assert model.prompt_length(prompt, img.size) == n
    loads.clear()
    seen = []
    embed = model.embed
    monkeypatch.setattr(model, "embed", lambda batch: (seen.append(len(loads)), embed(batch))[1])
    got = encoder.encode_queries(queries, "full")
    assert seen[0] <= 4 and seen[1] <= 6 and len(loads) == 6  # the current batch and the next, never all upfront
    plain = build(str(tiny), batch_size=2, image_workers=0, group_by_length=False)
    torch.testing.assert_close(got, plain.encode_queries(queries, "full"), rtol=1e-4, atol=1e-5)
    described = encoder.describe()
    assert described["image_processor_class"] == "Qwen2VLImageProcessorPil" and described["options"]["image_processor"] == "pil"
    assert getattr(model.processor.tokenizer, "backend", "tokenizers") == "tokenizers"  # the choice reached only images
