"""FLMR / PreFLMR configuration: the published ``config.json`` fields, and mire-eval's defaults.

The released checkpoints (``LinWeizheDragon/FLMR``, ``LinWeizheDragon/PreFLMR_ViT-B``,
``-L``, ``-G``) carry a ``config.json`` written by the authors' ``FLMRConfig``
(github.com/LinWeizheDragon/FLMR, ``flmr/models/flmr/configuration_flmr.py``): a
``text_config`` (BERT fields plus ``text_encoder_base_model`` and ``query_maxlen``), a
``vision_config`` (CLIP vision fields) and the retrieval fields of :data:`FLMR_FIELDS`, whose
defaults here are the authors'. Parsing is plain JSON into transformers' ``BertConfig`` /
``CLIPVisionConfig``: no code from the checkpoint runs.

The transformer mapping network's BERT configuration is named by
``transformer_mapping_config_base`` (the authors call ``BertConfig.from_pretrained`` on it).
``bert-base-uncased`` (every release) is known here without a download
(:data:`BERT_BASE_UNCASED`); any other value is a local directory (absolute, or relative to
the checkpoint) or a hub id holding a BERT ``config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import MireEvalError
from retrievers.checkpoint import read_json

DEFAULT_CHECKPOINT = "LinWeizheDragon/PreFLMR_ViT-L"
CHECKPOINTS = ("LinWeizheDragon/PreFLMR_ViT-B", "LinWeizheDragon/PreFLMR_ViT-L",
               "LinWeizheDragon/PreFLMR_ViT-G", "LinWeizheDragon/FLMR")

# The retrieval fields of FLMRConfig with the authors' defaults (configuration_flmr.py).
FLMR_FIELDS = {
    "mask_punctuation": True,
    "mapping_network_prefix_length": 32,
    "dim": 128,
    "use_vision_encoder": True,
    "initializer_range": 0.02,
    "separate_query_and_context_text_encoder": False,
    "separate_query_and_context_vision_encoder": False,
    "query_concat_output_from_vision_encoder": True,
    "query_concat_output_from_text_encoder": True,
    "context_concat_output_from_vision_encoder": False,
    "context_concat_output_from_text_encoder": True,
    "use_transformer_mapping_network": False,
    "transformer_mapping_config_base": None,
    "transformer_mapping_num_hidden_layers": None,
    "load_cpu_extension": False,
    "mask_instruction_token": None,
    "transformer_mapping_cross_attention_length": 32,
    "vision_model_version": "openai/clip-vit-base-patch32",
    "query_mask_input_ids_skip_list": [],
}

# FLMRTextConfig's own defaults (the BERT fields default to bert-base-uncased's).
TEXT_DEFAULTS = {"text_encoder_base_model": "bert-base-uncased", "query_maxlen": 32, "projection_dim": 0}

# bert-base-uncased's config.json (huggingface.co/bert-base-uncased), read by the authors'
# ``BertConfig.from_pretrained("bert-base-uncased")`` for the mapping network.
BERT_BASE_UNCASED = {
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": False,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0,
    "position_embedding_type": "absolute", "type_vocab_size": 2, "use_cache": True, "vocab_size": 30522,
}

# The instructions of the authors' fine-tuning example (examples/example_finetune_preflmr.py);
# the first is the default for a query without one (tasks that ship no instruction: okvqa,
# remuq, local tasks). M2KR ships one per row since the June 2024 revision.
INSTRUCTIONS = (
    "Using the provided image, obtain documents that address the subsequent question: ",
    "Retrieve documents that provide an answer to the question alongside the image: ",
    "Extract documents linked to the question provided in conjunction with the image: ",
    "Utilizing the given image, obtain documents that respond to the following question: ",
    "Using the given image, access documents that provide insights into the following question: ",
    "Obtain documents that correspond to the inquiry alongside the provided image: ",
    "With the provided image, gather documents that offer a solution to the question: ",
)
DEFAULT_INSTRUCTION = INSTRUCTIONS[0]

# Named options (``--option``): how the query text is built, what stands in for a missing
# image, and the mapping network's self-attention (see modeling.py).
INSTRUCTION_MODES = ("m2kr", "off")
MISSING_IMAGE = ("black", "error")
MAPPING_ATTENTION = ("bidirectional", "causal")

# Evaluation lengths: the authors' tokenizers pad queries to query_maxlen (query_tokenizer's
# tokenizer_config.json, 32 when absent) and truncate passages at 512 (example_use_preflmr.py
# indexes with doc_maxlen=512).
EVAL_DOC_MAXLEN = 512

# The black image the authors' evaluation feeds for a query without one (example_use_preflmr.py).
BLACK_IMAGE_SIZE = (336, 336)

# Fine-tuning: the authors' documented run (FLMR README, "Finetune the PreFLMR model on
# downstream datasets": E-VQA, PreFLMR_ViT-G, --freeze_vit, lr 5e-6, 100 warm-up steps, batch 8,
# bf16; torch AdamW's defaults, so weight decay 0.01; a loss without temperature). Not
# reproduced: its 8-step gradient accumulation (64 examples per update, here 8), its 4 random
# negatives per query (here in-batch only; --hard-negatives takes mined ones), its random
# instruction per query, its linear LR decay (here constant after the warm-up).
# PreFLMR's first stage as MIRe's authors re-ran it (PreFLMR†, cfgs/preflmr_train_vid2r.yaml):
# mapping structure only, lr 1e-4, 5 epochs, no temperature.
PRETRAIN_DEFAULTS = dict(lr=1e-4, epochs=5, batch_size=128, temperature=1.0, warmup=0, weight_decay=0.0,
                         adam_eps=1e-8, precision="auto")

FINETUNE_DEFAULTS = {
    "*": dict(lr=5e-6, warmup=100, batch_size=8, temperature=1.0, epochs=1, weight_decay=0.01,
              adam_eps=1e-8, precision="auto", freeze_vision=True),
}


@dataclass
class FLMRConfig:
    """A parsed ``config.json``: the retrieval fields, the text and vision configs."""

    fields: dict
    text_config: object = field(repr=False)     # transformers.BertConfig
    vision_config: object = field(repr=False)   # transformers.CLIPVisionConfig
    text_extra: dict = field(default_factory=dict)  # text_encoder_base_model, query_maxlen, projection_dim
    path: Path | None = None

    def __getattr__(self, name):
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    @classmethod
    def from_json(cls, path: Path) -> FLMRConfig:
        from transformers import BertConfig, CLIPVisionConfig

        data = read_json(path, "FLMR config")
        if data.get("model_type") not in (None, "flmr"):
            raise MireEvalError(f"{path}: model_type: {data.get('model_type')!r}, expected 'flmr'")
        fields = {k: data.get(k, v) for k, v in FLMR_FIELDS.items()}
        text = dict(data.get("text_config") or {})
        extra = {k: text.pop(k, v) for k, v in TEXT_DEFAULTS.items()}
        if extra["text_encoder_base_model"] != "bert-base-uncased":
            raise MireEvalError(f"{path}: text_config.text_encoder_base_model: "
                                f"{extra['text_encoder_base_model']!r} is not supported (only "
                                "'bert-base-uncased', the BERT text encoder of every FLMR/PreFLMR release)")
        if fields["use_transformer_mapping_network"] and not fields["transformer_mapping_num_hidden_layers"]:
            raise MireEvalError(f"{path}: transformer_mapping_num_hidden_layers: missing")
        if not fields["use_vision_encoder"]:
            raise MireEvalError(f"{path}: use_vision_encoder: false is not supported "
                                "(the query's image is read through the vision encoder)")
        for k in ("model_type", "architectures", "_name_or_path", "transformers_version"):
            text.pop(k, None)
        vision = {k: v for k, v in (data.get("vision_config") or {}).items()
                  if k not in ("model_type", "architectures", "_name_or_path", "transformers_version")}
        try:
            text_config = BertConfig(**text)
            vision_config = CLIPVisionConfig(**vision)
        except Exception as exc:  # a field of the wrong type
            raise MireEvalError(f"{path}: text_config/vision_config: cannot build ({exc})") from None
        return cls(fields, text_config, vision_config, extra, path)

    def to_json(self) -> dict:
        """The authors' layout (what ``FLMRConfig.to_dict`` writes, less transformers' bookkeeping)."""
        text = {**self.text_config.to_dict(), **self.text_extra, "model_type": "flmr_text_model"}
        vision = {**self.vision_config.to_dict(), "model_type": "flmr_vision_model"}
        for d in (text, vision):
            for k in ("transformers_version", "architectures", "_name_or_path", "output_attentions"):
                d.pop(k, None)
        return {**self.fields, "text_config": text, "vision_config": vision, "model_type": "flmr",
                "architectures": ["FLMRModelForRetrieval"]}

    def mapping_bert_config(self, checkpoint_dir: Path | None):
        """The mapping network's BertConfig: the base's, with ``num_hidden_layers`` from the
        config and cross-attention on (``is_decoder``, ``add_cross_attention``), as the authors'."""
        from transformers import BertConfig

        base = self.transformer_mapping_config_base
        if base == "bert-base-uncased":
            data = dict(BERT_BASE_UNCASED)
        else:
            data = read_json(_mapping_base_dir(str(base), checkpoint_dir) / "config.json",
                             "transformer_mapping_config_base")
        for k in ("architectures", "transformers_version", "_name_or_path", "model_type"):
            data.pop(k, None)
        config = BertConfig(**data)
        if config.hidden_size != self.text_config.hidden_size:
            raise MireEvalError(f"{self.path}: transformer_mapping_config_base: hidden_size "
                                f"{config.hidden_size} != text hidden_size {self.text_config.hidden_size} "
                                "(the cross-attention needs them equal)")
        config.num_hidden_layers = int(self.transformer_mapping_num_hidden_layers)
        config.is_decoder = True
        config.add_cross_attention = True
        return config


def _mapping_base_dir(base: str, checkpoint_dir: Path | None) -> Path:
    from retrievers.checkpoint import resolve

    for candidate in (Path(base), (checkpoint_dir / base) if checkpoint_dir else None):
        if candidate is not None and (candidate / "config.json").is_file():
            return candidate
    return resolve(base, ["config.json"], "DIR as transformer_mapping_config_base").directory
