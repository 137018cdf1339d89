"""A PreFLMR to pre-train, put together from a ColBERT text tower and a CLIP vision tower
(the demo's offline row; PreFLMR's own start, ColBERTv2 + CLIP, the same way).

Text encoder (query and context, tied) and its 128-d linear from the ColBERT directory
(``bert.*``, ``linear.weight``), the CLIP vision model from a CLIPModel directory
(``vision_model.*``); the mapping MLP and the transformer mapping network (one layer, the text
encoder's BERT configuration, as PreFLMR's shallow mapping network) freshly initialised from
the torch seed. Every tensor of both files is loaded or named as unused (CLIP's text side),
strictly (:func:`retrievers.checkpoint.load_into`).
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import MireEvalError
from retrievers.checkpoint import find_weights, load_into, read_json, read_weights, resolve
from retrievers.preflmr.configuration import FLMR_FIELDS, FLMRConfig
from retrievers.preflmr.loading import LoadedFLMR, _tokenizer
from retrievers.preflmr.modeling import FLMRModel


def fresh_flmr(colbert_checkpoint: str, vision_model: str, prefix_length: int = 32,
               mapping_layers: int = 1, query_maxlen: int = 32, doc_maxlen: int = 512) -> LoadedFLMR:
    from transformers import BertConfig, CLIPVisionConfig

    from retrievers.mire.conversion import image_processor

    text_dir = resolve(colbert_checkpoint, ["*.json", "*.txt", "*.safetensors", "artifact.metadata"],
                       "--option colbert_checkpoint=DIR").directory
    vision_dir = resolve(vision_model, ["*.json", "*.txt", "*.safetensors"], "--option vision_model=DIR").directory
    bert = read_json(text_dir / "config.json", "ColBERT config")
    clip = read_json(vision_dir / "config.json", "CLIP config")
    vision = clip.get("vision_config", clip)
    fields = {**FLMR_FIELDS, "mapping_network_prefix_length": prefix_length,
              "use_transformer_mapping_network": True, "transformer_mapping_config_base": "mapping_base",
              "transformer_mapping_num_hidden_layers": mapping_layers, "mask_instruction_token": ":",
              "vision_model_version": str(vision_model)}
    for k in ("architectures", "transformers_version", "_name_or_path", "model_type"):
        bert.pop(k, None)
        vision.pop(k, None)
    config = FLMRConfig(fields, BertConfig(**bert), CLIPVisionConfig(**vision),
                        {"text_encoder_base_model": "bert-base-uncased", "query_maxlen": query_maxlen,
                         "projection_dim": 0})
    mapping = BertConfig(**bert)
    mapping.num_hidden_layers, mapping.is_decoder, mapping.add_cross_attention = mapping_layers, True, True
    model = FLMRModel(config, mapping)
    text_file = find_weights(text_dir, ("model.safetensors",))
    text_state = read_weights(text_file).state_dict
    load_into(model.context_text_encoder.bert_model, {k[len("bert."):]: v for k, v in text_state.items()
                                                      if k.startswith("bert.")}, text_file, {},
              ignore=(r"position_ids$",))
    if "linear.weight" not in text_state:
        raise MireEvalError(f"{text_file}: weights: linear.weight missing (not a ColBERT checkpoint)")
    model.context_text_encoder_linear.load_state_dict({"weight": text_state["linear.weight"]})
    clip_file = find_weights(vision_dir, ("model.safetensors",))
    load_into(model.context_vision_encoder, read_weights(clip_file).state_dict, clip_file,
              {"vision_model.": ""}, ignore=(r"^text_model\.", r"^logit_scale$", r"projection", r"position_ids$"))
    query_tok, _ = _tokenizer(text_dir, "tokenizer")
    context_tok, _ = _tokenizer(text_dir, "tokenizer")
    return LoadedFLMR(model, query_tok, context_tok, query_maxlen, doc_maxlen, image_processor(Path(vision_dir)),
                      f"{vision_model} (preprocessor_config.json)", None, [text_file, clip_file], None)
