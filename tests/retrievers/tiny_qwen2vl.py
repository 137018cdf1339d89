"""A tiny random Qwen2-VL saved in the hub layout, with a byte-level BPE tokenizer trained
locally by ``tokenizers`` and a Qwen2-VL style chat template (default system turn, image
placeholder ``<|vision_start|><|image_pad|><|vision_end|>``, generation prompt)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from retrievers.jfe.loading import image_only_processor_class

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|image_pad|>", "<|video_pad|>"]

CHAT_TEMPLATE = (
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

WORDS = (
    "You are a helpful assistant. Summary above image and question passage in one word: "
    "Retrieve a passage that answers the question about the image. Represent the for retrieval. "
    "which what who where is the of a an in on facts about things and stuff question topic red green blue "
)


def make_tokenizer(extra_text: str = "") -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([WORDS, extra_text] * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def qwen2vl_config(tokenizer, hidden: int = 32, layers: int = 2, heads: int = 2, kv_heads: int = 1,
                   intermediate: int | None = None, vocab_size: int | None = None, vision_depth: int = 1,
                   vision_dim: int = 32, vision_heads: int = 2, vision_mlp_ratio: int = 2) -> Qwen2VLConfig:
    """A Qwen2-VL configuration of any size, wired to ``tokenizer``'s special token ids.

    The real 2B model: hidden 1536, 28 layers, 12 heads, 2 kv heads, intermediate 8960,
    vocab 151936, vision depth 32, vision dim 1280, 16 vision heads, mlp ratio 4.
    """
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
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


def make_processor(tokenizer):
    return image_only_processor_class("qwen2_vl")(Qwen2VLImageProcessorPil(), tokenizer, chat_template=CHAT_TEMPLATE)


def save_tiny_qwen2vl(directory: Path, seed: int = 0, extra_text: str = "", **sizes) -> Path:
    """Write config, random weights (safetensors), tokenizer, image processor, chat template."""
    tokenizer = make_tokenizer(extra_text)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(qwen2vl_config(tokenizer, **sizes))
    model.save_pretrained(directory)
    make_processor(tokenizer).save_pretrained(directory)
    return Path(directory)
