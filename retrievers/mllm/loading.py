"""Loading a multimodal LLM embedder's parts without surprises: the processor, the backbone, a
LoRA adapter (every family built on :mod:`retrievers.mllm`; ``family`` below is its name, as in
its error lines).

* Code: a checkpoint never switches on remote code itself. ``trust_remote_code`` comes only from
  the command line (``-o trust_remote_code=true``); a directory whose JSON files name their own
  classes (``auto_map``) is refused in one line unless it is set.
* Weights: safetensors only. Every weights file's header is checked against its bytes before
  transformers reads it, and a tensor missing from the file (which transformers would initialise
  randomly) or of the wrong shape is an error naming the file and the tensor
  (:func:`retrievers.checkpoint.check_match`, the rule ``mire`` and ``colbertv2`` follow too).
* Precision: ``dtype=auto`` is bf16 on a CUDA device that supports it, else fp16 there, fp32 on
  CPU; a LoRA adapter is merged into the weights only in fp32 (rounding ``W + dW`` to bf16 drops
  much of a small trained update, a known peft behaviour), otherwise it stays a separate branch.
* Images: the PIL image processor unless ``image_processor="torchvision"`` is asked for, so a
  checkpoint's numbers do not depend on whether torchvision is importable.
"""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from harness.core.errors import MireEvalError
from harness.core.hub import download_advice, require
from harness.core.quiet import quiet_peft_wrap
from harness.core.weights import safetensors_header
from retrievers.checkpoint import check_match

IMAGE_ONLY_TYPES = ("qwen2_vl", "qwen2_5_vl")
IMAGE_PROCESSORS = ("pil", "torchvision")
# JSON files through which transformers finds a checkpoint's own Python classes (``auto_map``).
CODE_POINTERS = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json",
                 "image_processor_config.json", "video_preprocessor_config.json")


def image_only_processor_class(model_type: str):
    """Qwen2-VL's processor minus its video processor (which needs torchvision).

    It sets the image/video token attributes the full processor sets, then initialises
    ``ProcessorMixin`` with just the image processor and the tokenizer.
    """
    from transformers.processing_utils import ProcessorMixin

    if model_type == "qwen2_5_vl":
        from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor as base
    else:
        from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor as base

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return type(f"{base.__name__}ImageOnly", (base,), {"__init__": __init__})


def resolve_dtype(name: str, device: str, family: str = "mllm") -> torch.dtype:
    """``auto``: bf16 on a CUDA device with bf16 support, fp16 on one without (pre-Ampere),
    fp32 on CPU; otherwise the named dtype."""
    if name == "auto":
        if not device.startswith("cuda"):
            name = "fp32"
        else:
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    try:
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
    except KeyError:
        raise MireEvalError(f"{family}: dtype {name!r}; known: auto, fp32, bf16, fp16") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def hub_error(name: str, revision: str | None, exc: Exception, family: str) -> MireEvalError:
    if "trust_remote_code" in str(exc):
        return remote_code_error(name, family)
    return MireEvalError(f"{name}: cannot load ({_first_line(exc)}); {download_advice(name, '--checkpoint DIR', revision=revision)}")


def require_hub(name: str, revision: str | None) -> None:
    """A hub id (not a local folder) needs the hub: fail in one line when it is out of reach."""
    if not Path(name).exists():
        require(name, "--checkpoint DIR", revision=revision)


def remote_code_error(where: str, family: str, detail: str = "") -> MireEvalError:
    return MireEvalError(f"{where}: this checkpoint runs its own Python code{detail}; {family} never runs it unless "
                         "you pass -o trust_remote_code=true (only for code you trust)")


def check_remote_code(path: str | Path, trusted: bool, family: str) -> None:
    """Refuse a local directory whose JSON files point at its own classes (``auto_map``),
    unless remote code was allowed on the command line. Hub ids are checked by transformers
    (which raises when ``trust_remote_code=False``; :func:`hub_error` words that)."""
    directory = Path(path)
    if trusted or not directory.is_dir():
        return
    for name in CODE_POINTERS:
        file = directory / name
        if not file.is_file():
            continue
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise MireEvalError(f"{file}: not valid JSON") from None
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        if auto_map:
            first = next(iter(auto_map.values())) if isinstance(auto_map, dict) else auto_map
            raise remote_code_error(f"{file}: auto_map", family, f" ({str(first)[:80]})")


def check_attention(name: str | None, family: str) -> None:
    """flash_attention_2 needs the flash-attn package; say so in one line, before loading."""
    if name == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise MireEvalError(f"{family}: attn_implementation flash_attention_2 needs the flash-attn package "
                            "(pip install flash-attn, CUDA only); use sdpa or leave the option unset")


@contextmanager
def _quiet_transformers():
    """transformers' own load report and progress bar: the outcome is checked and reported here."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def load_processor(path: str, model_type: str, settings, revision: str | None):
    """The model's processor with the image-resolution bounds of ``settings`` applied and the
    image processor backend ``settings.image_processor`` (``pil`` unless asked otherwise)."""
    from transformers import AutoImageProcessor, AutoProcessor
    from transformers.image_utils import SizeDict

    if settings.image_processor not in IMAGE_PROCESSORS:
        raise MireEvalError(f"{settings.family}: image_processor {settings.image_processor!r}; known: {', '.join(IMAGE_PROCESSORS)}")
    check_remote_code(path, settings.trust_remote_code, settings.family)
    kw = {"revision": revision, "trust_remote_code": settings.trust_remote_code}
    require_hub(path, revision)
    try:
        with _quiet_transformers():
            if model_type in IMAGE_ONLY_TYPES:
                processor = image_only_processor_class(model_type).from_pretrained(path, **kw)
            else:
                processor = AutoProcessor.from_pretrained(path, **kw)
            if hasattr(processor, "image_processor"):
                # The backend goes to the image processor alone: passed to the processor it would
                # also land on the tokenizer (whose ``backend`` attribute means something else).
                processor.image_processor = AutoImageProcessor.from_pretrained(
                    path, backend=settings.image_processor, **kw)
    except (OSError, ValueError) as exc:
        raise hub_error(path, revision, exc, settings.family) from None
    if not hasattr(processor, "image_processor") or not getattr(processor, "chat_template", None):
        raise MireEvalError(f"{path}: {settings.family} needs an image-text-to-text model with an image processor and a chat template")
    size = getattr(processor.image_processor, "size", None)
    if size is not None and "longest_edge" in size and "shortest_edge" in size:  # Qwen-style pixel bounds
        processor.image_processor.size = SizeDict(shortest_edge=settings.min_pixels, longest_edge=settings.max_pixels)
    return processor


def weight_files(directory: Path, family: str) -> tuple[Path, list[Path]]:
    """``(origin to name in errors, safetensors files)`` of a local model directory: the shard
    index and its shards, or ``model.safetensors``."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise MireEvalError(f"{index}: weight_map: not a safetensors shard index") from None
        return index, [directory / n for n in names]
    single = directory / "model.safetensors"
    if not single.is_file():
        raise MireEvalError(f"{directory}: weights: no model.safetensors ({family} reads safetensors only)")
    return single, [single]


def load_backbone(path: str, settings, device: str, dtype: torch.dtype):
    """The MLLM without its LM head (``AutoModel``), from safetensors only, every weight checked."""
    from transformers import AutoModel

    check_attention(settings.attn_implementation, settings.family)
    check_remote_code(path, settings.trust_remote_code, settings.family)
    origin: Path | str = path
    local = Path(path)
    if local.is_dir() and (local / "config.json").is_file():
        origin, files = weight_files(local, settings.family)
        for file in files:
            if not file.is_file():
                raise MireEvalError(f"{origin}: weights: shard {file.name} not found")
            safetensors_header(file)
    require_hub(path, settings.revision)
    try:
        with _quiet_transformers():
            model, info = AutoModel.from_pretrained(
                path, revision=settings.revision, trust_remote_code=settings.trust_remote_code,
                dtype=dtype, use_safetensors=True, output_loading_info=True, ignore_mismatched_sizes=True,
                **({"attn_implementation": settings.attn_implementation} if settings.attn_implementation else {}),
            )
    except (OSError, ValueError) as exc:
        raise hub_error(path, settings.revision, exc, settings.family) from None
    except Exception as exc:  # a file transformers or safetensors cannot read after all
        raise MireEvalError(f"{origin}: weights: cannot load ({type(exc).__name__}: {_first_line(exc)})") from None
    shapes = [(name, tuple(got), tuple(want)) for name, got, want in info.get("mismatched_keys") or ()]
    # Unexpected keys are not fatal here: checkpoints of the generation model carry lm_head,
    # which AutoModel has no use for.
    check_match(origin, sorted(info.get("missing_keys") or ()), [], shapes)
    return model.to(device)


_SIZE_MISMATCH = re.compile(r"size mismatch for (\S+): copying a param with shape torch\.Size\(\[([^\]]*)\]\) from "
                            r"checkpoint, the shape in current model is torch\.Size\(\[([^\]]*)\]\)")


def load_adapter(backbone, checkpoint: str, trainable: bool, dtype: torch.dtype):
    """A peft LoRA adapter (``adapter_model.safetensors``) on ``backbone``, every adapter weight
    checked; merged into the weights only for fp32 inference. Returns ``(model, merged)``."""
    from peft import PeftModel

    file = Path(checkpoint) / "adapter_model.safetensors"
    if not file.is_file():
        raise MireEvalError(f"{checkpoint}: adapter_model.safetensors missing")
    stored = safetensors_header(file)
    try:
        with _quiet_transformers(), warnings.catch_warnings(), quiet_peft_wrap():
            warnings.filterwarnings("ignore", message="Found missing adapter keys")  # checked below, as an error
            model = PeftModel.from_pretrained(backbone, checkpoint, is_trainable=trainable)
    except RuntimeError as exc:
        found = _SIZE_MISMATCH.search(str(exc))
        if found:
            name, got, want = found.groups()
            check_match(file, [], [], [(name.replace(".default.", "."), _shape(got), _shape(want))])
        raise MireEvalError(f"{file}: weights: cannot load ({_first_line(exc)})") from None
    except (OSError, ValueError) as exc:
        raise MireEvalError(f"{file}: weights: cannot load ({_first_line(exc)})") from None
    # peft stores a weight without its adapter name: ...lora_A.default.weight -> ...lora_A.weight
    expected = {k.replace(".default.", ".") for k in model.state_dict() if ".lora_" in k and ".default." in k}
    check_match(file, sorted(expected - set(stored)), [], [])
    if trainable or dtype != torch.float32:
        return model, False
    return model.merge_and_unload(), True


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split(",") if d.strip())
