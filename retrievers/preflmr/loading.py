"""Loading a released FLMR / PreFLMR checkpoint, strictly, without running its code.

The released Hugging Face layout (``LinWeizheDragon/PreFLMR_ViT-{B,L,G}``, ``LinWeizheDragon/FLMR``):

    config.json                  FLMRConfig fields (configuration.py)
    model.safetensors            (or model-0000i-of-0000n.safetensors + model.safetensors.index.json)
    query_tokenizer/             BERT vocab + tokenizer_config.json (query_maxlen)
    context_tokenizer/           BERT vocab + tokenizer_config.json (doc_maxlen)
    preprocessor_config.json     the CLIP image processor, when shipped; otherwise the one of
                                 ``vision_model_version`` (what the authors' indexing engine reads)

Key mapping (the conversion, kept apart from the modeling; :func:`released_prefixes`):

* ``{query,context}_vision_encoder.vision_model.vision_model.*`` (the authors'
  ``FLMRVisionModel`` around a transformers-4 ``CLIPVisionModel``) ->
  ``{query,context}_vision_encoder.*`` (transformers 5's ``CLIPVisionModel`` has no inner
  ``vision_model.``). Loading the file with the authors' class under transformers 5's
  ``from_pretrained`` misses exactly these keys and leaves CLIP randomly initialised, with only a
  load report saying so; here a key left over or a weight left unloaded is a one-line error.
* Without separate query/context encoders the authors alias one module under two names and a
  file holds either name (or both, equal): the query name is read as the context name.
* Dropped, recorded: ``position_ids`` buffers and ``cls.*`` (the authors'
  ``_keys_to_ignore_on_load_unexpected``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from harness.errors import MireEvalError
from retrievers.checkpoint import KeyReport, Resolved, load_into, read_json, read_weights, resolve
from retrievers.preflmr.configuration import DEFAULT_CHECKPOINT, EVAL_DOC_MAXLEN, FLMRConfig
from retrievers.preflmr.modeling import FLMRModel

HUB_FILES = ["*.json", "*.safetensors", "query_tokenizer/*", "context_tokenizer/*"]
IGNORED = (r"position_ids$", r"^cls\.")


@dataclass
class LoadedFLMR:
    model: FLMRModel
    query_tokenizer: object     # transformers BertTokenizer (query_tokenizer/)
    context_tokenizer: object   # transformers BertTokenizer (context_tokenizer/)
    query_maxlen: int
    doc_maxlen: int
    processor: object           # CLIPImageProcessorPil
    processor_source: str
    source: Resolved | None
    weights: list[Path] = field(default_factory=list)
    keys: KeyReport | None = None
    reader: str = "safetensors"

    def describe(self) -> dict:
        c = self.model.config
        return {
            "checkpoint": self.source.source if self.source else None,
            "revision": self.source.revision if self.source else None,
            "weights_files": [p.name for p in self.weights], "weights_reader": self.reader,
            "config": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in c.fields.items()},
            "text_config": {"layers": c.text_config.num_hidden_layers, "hidden": c.text_config.hidden_size},
            "vision_config": {"layers": c.vision_config.num_hidden_layers, "hidden": c.vision_config.hidden_size,
                              "image_size": c.vision_config.image_size, "patch_size": c.vision_config.patch_size},
            "state_dict": self.keys.as_dict() if self.keys else None,
            "image_processor": self.processor_source,
            "query_maxlen": self.query_maxlen, "doc_maxlen": self.doc_maxlen,
        }


def released_prefixes() -> dict[str, str]:
    """Released key prefix -> ours (first match wins)."""
    out = {}
    for side in ("query", "context"):
        out[f"{side}_vision_encoder.vision_model.vision_model."] = f"{side}_vision_encoder."
        out[f"{side}_vision_encoder.vision_model."] = f"{side}_vision_encoder."
    return out


TIED = {
    "text": (("query_text_encoder.", "context_text_encoder."),
             ("query_text_encoder_linear.", "context_text_encoder_linear.")),
    "vision": (("query_vision_encoder.", "context_vision_encoder."),
               ("query_vision_projection.", "context_vision_projection.")),
}


# The authors' FLMRTextModel holds one BERT under two names (``bert_model``, ``text_model``).
ALIASED = (("query_text_encoder.text_model.", "query_text_encoder.bert_model."),
           ("context_text_encoder.text_model.", "context_text_encoder.bert_model."))


def untie(state: dict, config: FLMRConfig, origin: Path | str, report: KeyReport) -> dict:
    """Read each alias of one module (the authors' ``text_model`` for ``bert_model``; a tied
    module's query name for its context name) as the canonical name; a file holding both
    names must hold equal values. Recorded in ``report`` (renamed / dropped)."""
    groups = list(ALIASED)
    if not config.separate_query_and_context_text_encoder:
        groups += TIED["text"]
    if not config.separate_query_and_context_vision_encoder:
        groups += TIED["vision"]
    out = dict(state)
    for alias, canonical in groups:
        for key in [k for k in out if k.startswith(alias)]:
            twin = canonical + key[len(alias):]
            if twin in out:
                if not torch.equal(out[twin], out[key]):
                    raise MireEvalError(f"{origin}: weights: {key} differs from {twin}, "
                                        "which name the same module")
                report.dropped.append(key)
                del out[key]
            else:
                out[twin] = out.pop(key)
                name = f"{alias} -> {canonical}"
                report.renamed[name] = report.renamed.get(name, 0) + 1
    return out


def _weight_files(directory: Path) -> list[Path]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index, "weights index").get("weight_map", {})
        return [directory / name for name in sorted(set(weight_map.values()))]
    if (directory / "model.safetensors").is_file():
        return [directory / "model.safetensors"]
    raise MireEvalError(f"{directory}: checkpoint: no model.safetensors (FLMR releases ship safetensors)")


def _tokenizer(directory: Path, what: str):
    """A BERT tokenizer from ``directory`` (vocab.txt), never the class its config names."""
    from transformers import BertTokenizer

    if not ((directory / "vocab.txt").is_file() or (directory / "tokenizer.json").is_file()):
        raise MireEvalError(f"{directory / 'vocab.txt'}: {what}: file not found")
    settings = {}
    if (directory / "tokenizer_config.json").is_file():
        settings = read_json(directory / "tokenizer_config.json", what)
    try:
        # from_pretrained of BertTokenizer itself: the files' added tokens and special tokens
        # are read, the tokenizer class the config names (the authors') is not imported.
        tok = BertTokenizer.from_pretrained(str(directory), do_lower_case=settings.get("do_lower_case", True))
    except Exception as exc:
        raise MireEvalError(f"{directory}: {what}: cannot load ({exc})") from None
    return tok, settings


def _processor(directory: Path, config: FLMRConfig):
    from retrievers.mire.conversion import image_processor

    if (directory / "preprocessor_config.json").is_file():
        return image_processor(directory), "checkpoint's preprocessor_config.json"
    name = config.vision_model_version
    where = resolve(name, ["preprocessor_config.json"], "DIR as vision_model_version in config.json").directory
    return image_processor(where), f"{name} (vision_model_version)"


def load_flmr(checkpoint: str | None, mapping_attention: str = "bidirectional") -> LoadedFLMR:
    """A released FLMR/PreFLMR directory or hub id (``owner/name@revision`` pins a commit)."""
    source = resolve(checkpoint or DEFAULT_CHECKPOINT, HUB_FILES)
    directory = source.directory
    config = FLMRConfig.from_json(directory / "config.json")
    mapping = config.mapping_bert_config(directory) if config.use_transformer_mapping_network else None
    query_tok, qset = _tokenizer(directory / "query_tokenizer", "query tokenizer")
    context_tok, cset = _tokenizer(directory / "context_tokenizer", "context tokenizer")
    query_maxlen = int(qset.get("query_maxlen", config.text_extra.get("query_maxlen", 32)))
    doc_maxlen = min(EVAL_DOC_MAXLEN, int(cset.get("doc_maxlen", EVAL_DOC_MAXLEN)))
    if config.mask_instruction_token is not None and \
            query_tok.convert_tokens_to_ids(query_tok.tokenize(config.mask_instruction_token))[:1] == [query_tok.unk_token_id]:
        raise MireEvalError(f"{directory / 'config.json'}: mask_instruction_token: "
                            f"{config.mask_instruction_token!r} is unknown to the query tokenizer")
    processor, processor_source = _processor(directory, config)
    files = _weight_files(directory)
    state, reader = {}, "safetensors"
    for f in files:
        loaded = read_weights(f)
        reader = loaded.reader
        clash = set(state) & set(loaded.state_dict)
        if clash:
            raise MireEvalError(f"{f}: weights: {sorted(clash)[0]} is also in another shard")
        state.update(loaded.state_dict)
    model = FLMRModel(config, mapping, mapping_attention)
    origin = files[0] if len(files) == 1 else directory
    aliases = KeyReport()
    state = untie(state, config, origin, aliases)
    keys = load_into(model, state, origin, released_prefixes(), ignore=IGNORED)
    keys.dropped = aliases.dropped + keys.dropped
    keys.renamed = {**aliases.renamed, **keys.renamed}
    return LoadedFLMR(model.eval(), query_tok, context_tok, query_maxlen, doc_maxlen, processor,
                      processor_source, source, files, keys, reader)


def save_flmr(loaded: LoadedFLMR, directory: Path) -> None:
    """The released layout: config.json, model.safetensors (transformers-4 CLIP key nesting,
    as released), query_tokenizer/, context_tokenizer/, preprocessor_config.json. Trained
    models are saved so, and load back through :func:`load_flmr`."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    model = loaded.model
    for sub, tok, extra in (("query_tokenizer", loaded.query_tokenizer, {"query_maxlen": loaded.query_maxlen}),
                            ("context_tokenizer", loaded.context_tokenizer, {"doc_maxlen": loaded.doc_maxlen})):
        target = directory / sub
        target.mkdir(exist_ok=True)
        tok.save_pretrained(str(target))
        cfg_path = target / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        cfg.update(extra)
        cfg_path.write_text(json.dumps(cfg, indent=2))
    loaded.processor.save_pretrained(str(directory))
    config = model.config.to_json()
    if model.config.use_transformer_mapping_network and config["transformer_mapping_config_base"] != "bert-base-uncased":
        # the mapping network's BERT configuration travels with the checkpoint
        base = model.transformer_mapping_network.config.to_dict()
        for k in ("is_decoder", "add_cross_attention", "_attn_implementation", "transformers_version"):
            base.pop(k, None)
        (directory / "mapping_base").mkdir(exist_ok=True)
        (directory / "mapping_base" / "config.json").write_text(json.dumps(base, indent=2))
        config["transformer_mapping_config_base"] = "mapping_base"
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    tensors = {}
    for k, v in model.state_dict().items():
        for side in ("query", "context"):
            if k.startswith(f"{side}_vision_encoder."):
                k = f"{side}_vision_encoder.vision_model.vision_model." + k[len(f"{side}_vision_encoder."):]
        tensors[k] = v.detach().cpu().contiguous()
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
