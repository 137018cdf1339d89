"""MIRe checkpoints in and out: the authors' layout or ours -> :class:`LoadedMIRe`, and ours
written back (:func:`save_mire`).

The authors' directory holds ``config.json`` (a BERT config updated with the MIRe fields:
:class:`~retrievers.mire.configuration.MIReConfig`), a ``.pth`` holding ``{"model":
state_dict, "config": OmegaConf, ...}`` (read without running pickled code by
:mod:`harness.core.weights`; the OmegaConf entries summarised into ``describe()``),
``artifact.metadata`` and the tokenizer. Their key tree is renamed to ours by
:func:`checkpoint_prefixes`; CLIP's config and preprocessor config come from the vision
model the config names (ours carry them beside the weights).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import MireEvalError
from retrievers.checkpoint import (
    KeyReport, Resolved, find_weights, load_into, read_weights, resolve, summarise_extras,
)
from retrievers.colbert.configuration import ColBERTSettings
from retrievers.colbert.modeling import IGNORED_KEYS, TextTower, load_text_tower, save_text_tower
from retrievers.colbert.tokenization import ColBERTTokenizer
from retrievers.mire.configuration import DEFAULT_CHECKPOINT, MIReConfig
from retrievers.mire.files import resolve_mire, say
from retrievers.mire.modeling import MIReModel


def checkpoint_prefixes(model: MIReModel) -> dict[str, str]:
    """Source key prefixes -> ours (first match wins). The authors' MIRe(ColBERT) tree is
    ``model.{bert,linear}``, ``vision_tower.vision_tower.<CLIPVisionModel>``; a CLIPVisionModel
    keeps its weights under ``vision_model.`` in transformers 4.x and at its root in 5.x."""
    inner = "vision_model." if any(k.startswith("vision_model.") for k in
                                   model.vision_tower.state_dict()) else ""
    return {
        "model.": "colbert.",
        "vision_tower.vision_tower.vision_model.": "vision_tower." + inner,
        "vision_tower.vision_tower.": "vision_tower.",
        "vision_tower.vision_model.": "vision_tower." + inner,
    }


@dataclass
class LoadedMIRe:
    model: MIReModel
    tokenizer: ColBERTTokenizer
    settings: ColBERTSettings
    processor: object
    source: Resolved | None
    weights: Path | None
    keys: KeyReport | None
    extras: dict
    notes: list[str]
    reader: str | None = None  # how the weights file was read (Loaded.reader)

    def describe(self) -> dict:
        c = self.model.config
        return {
            "checkpoint": self.source.source if self.source else None,
            "revision": self.source.revision if self.source else None,
            "weights_file": self.weights.name if self.weights else None,
            "weights_reader": self.reader,
            "config": {k: getattr(c, k) for k in MIReConfig.MIRE_FIELDS},
            "state_dict": self.keys.as_dict() if self.keys else None,
            "checkpoint_entries": self.extras, "load_notes": self.notes,
            "image_processor": type(self.processor).__name__,
        }


def _vision_source(name: str, directory: Path | None) -> Path:
    """Where the CLIP config and preprocessor config live (our checkpoints carry them)."""
    if directory is not None and (directory / "vision_config.json").is_file():
        return directory
    return resolve(name, ["*.json"], "DIR as vision_model_name in the checkpoint's config.json").directory


def _vision_config(path: Path):
    from transformers import CLIPVisionConfig

    file = path / "vision_config.json"
    try:
        if file.is_file():
            return CLIPVisionConfig.from_json_file(str(file))
        return CLIPVisionConfig.from_pretrained(str(path))
    except Exception as exc:
        raise MireEvalError(f"{path}: CLIP vision config: cannot load ({exc})") from None


def image_processor(path: Path):
    """The PIL CLIP processor (resize shortest side, centre crop, CLIP mean/std): the
    reference's transformers 4.x ``CLIPImageProcessor``, with or without torchvision."""
    from transformers import CLIPImageProcessorPil

    try:
        return CLIPImageProcessorPil.from_pretrained(str(path))
    except Exception as exc:
        raise MireEvalError(f"{path}: preprocessor_config.json: cannot load ({exc})") from None


def _text_side(config: MIReConfig, directory: Path, notes: list[str]):
    """Tokenizer and artifact.metadata: the checkpoint directory's, else its ColBERT's."""
    from transformers import AutoTokenizer

    source = directory
    has_tokenizer = (directory / "vocab.txt").is_file() or (directory / "tokenizer.json").is_file()
    if not ((directory / "artifact.metadata").is_file() and has_tokenizer):
        colbert = config.colbert_checkpoint
        if not Path(colbert).exists():
            notes.append(f"colbert_checkpoint {colbert!r} is not here; tokenizer and "
                         "artifact.metadata read from colbert-ir/colbertv2.0 (the same files)")
            colbert = "colbert-ir/colbertv2.0"
        source = resolve(colbert, ["*.json", "*.txt", "artifact.metadata"],
                         "DIR as colbert_checkpoint in the checkpoint's config.json").directory
    settings = ColBERTSettings.from_metadata(source / "artifact.metadata")
    try:
        tok = AutoTokenizer.from_pretrained(str(source), trust_remote_code=False)
    except Exception as exc:
        raise MireEvalError(f"{source}: tokenizer: cannot load ({exc})") from None
    return ColBERTTokenizer(tok, settings), settings


def load_mire(checkpoint: str | None, weights_file: str | None = None) -> LoadedMIRe:
    """A MIRe checkpoint: the authors' directory (config.json + ``.pth`` holding
    ``{"model": state_dict, "config": OmegaConf, ...}`` + artifact.metadata + tokenizer), a
    ``.pth`` inside one, our own directory (safetensors + the same JSON), or a hub id. Which
    weights file is read: :mod:`retrievers.mire.files` (``weights_file``, else the only one,
    else the highest ``mire_epoch_N.pth``, said on stderr and in ``load_notes``)."""
    source, weights, notice = resolve_mire(checkpoint or DEFAULT_CHECKPOINT, weights_file)
    say(notice)
    directory = source.directory
    notes: list[str] = [notice] if notice else []
    config = MIReConfig.from_json(directory / "config.json")
    vision_dir = _vision_source(config.vision_model_name, directory)
    config.vision_config = _vision_config(vision_dir)
    loaded = read_weights(weights)
    model = MIReModel(config)
    keys = load_into(model, loaded.state_dict, weights, checkpoint_prefixes(model),
                     ignore=IGNORED_KEYS + (r"^model\.bert\.pooler\.",))
    tokenizer, settings = _text_side(config, directory, notes)
    return LoadedMIRe(model.eval(), tokenizer, settings, image_processor(vision_dir), source,
                      weights, keys, summarise_extras(loaded.extras), notes, loaded.reader)


def fresh_mire(colbert_checkpoint: str | None, vision_model: str, num_tokens: int = 16,
               num_heads: int = 12) -> LoadedMIRe:
    """A MIRe to pre-train: ColBERTv2 and CLIP weights loaded, the pooling module initialised."""
    # The advice of a failed download names the option that works here: pre-training starts from
    # a ColBERTv2 and a CLIP, not from a MIRe checkpoint (--checkpoint).
    tower = load_text_tower(colbert_checkpoint, "-o colbert_checkpoint=DIR")
    pass_as = "-o vision_model=DIR"
    vision = resolve(vision_model, ["*.json", "*.txt", "*.safetensors"], pass_as)
    if not any(vision.directory.glob("*.safetensors")):
        vision = resolve(vision_model, ["*.json", "*.txt", "pytorch_model.bin"], pass_as)
    config = MIReConfig(vision_model_name=vision_model,
                        colbert_checkpoint=colbert_checkpoint or "colbert-ir/colbertv2.0",
                        num_tokens=num_tokens, num_heads=num_heads,
                        hidden_size=tower.model.bert.config.hidden_size,
                        out_dim=tower.settings.dim, pretraining=True,
                        text_config=tower.model.bert.config,
                        vision_config=_vision_config(vision.directory))
    model = MIReModel(config)
    model.colbert.load_state_dict(tower.model.state_dict())
    clip_file = find_weights(vision.directory, ("model.safetensors", "pytorch_model.bin"))
    inner = checkpoint_prefixes(model)["vision_tower.vision_model."][len("vision_tower."):]
    keys = load_into(model.vision_tower, read_weights(clip_file).state_dict, clip_file,
                     prefixes={"vision_model.": inner},
                     ignore=(r"^text_model\.", r"^logit_scale$", r"projection", r"position_ids$"))
    return LoadedMIRe(model, tower.tokenizer, tower.settings, image_processor(vision.directory),
                      tower.source, tower.weights, keys, {}, ["pooling module freshly initialised"])



def save_mire(loaded: LoadedMIRe, directory: Path) -> None:
    """Our layout: the authors' config.json fields, tokenizer, artifact.metadata, CLIP's
    vision_config.json + preprocessor_config.json, and model.safetensors (every weight)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    model = loaded.model
    text = TextTower(model.colbert, loaded.tokenizer, loaded.settings, loaded.source,
                     loaded.weights, loaded.keys)
    save_text_tower(text, directory, prefix="colbert.")
    (directory / "config.json").write_text(json.dumps(model.config.to_json(), indent=2))
    model.config.vision_config.to_json_file(str(directory / "vision_config.json"))
    loaded.processor.save_pretrained(str(directory))
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt", "model": "mire"})
