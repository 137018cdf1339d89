"""Finding and reading checkpoints without ever running pickled code.

A ``--checkpoint`` is a local directory, a local weights file, or a hub id. Weights come from
safetensors when present; ``.pth``/``.bin`` files are read with ``torch.load(weights_only=True)``
and, when non-tensor entries stop that (the MIRe authors' ``.pth`` holds an OmegaConf config),
with :class:`RestrictedUnpickler`: tensors and plain containers are rebuilt, every other class
becomes an inert :class:`Opaque` value, and a pickle that *calls* anything unknown (the way a
malicious ``__reduce__`` runs code) is refused.

>>> plain({"a": [1, (2, 3)]})
{'a': [1, [2, 3]]}
"""

from __future__ import annotations

import json
import pickle
import re
import types
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import MireEvalError

# Hub ids with the revisions we read. ``main`` resolves to the newest commit at download time;
# the resolved commit is recorded in meta.json (``Resolved.revision``). Pin one by passing
# ``owner/name@<commit>`` as the checkpoint.
HUB_REVISIONS = {
    "colbert-ir/colbertv2.0": "main",
    "Y-J-Ju/MIRe_base_pt": "main",
    "openai/clip-vit-base-patch32": "main",
    "openai/clip-vit-large-patch14-336": "main",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


@dataclass
class Resolved:
    """A checkpoint on local disk: ``path`` is a directory or a single weights file."""

    path: Path
    source: str  # what the user gave
    revision: str | None = None  # hub commit, when it came from the hub

    @property
    def directory(self) -> Path:
        return self.path if self.path.is_dir() else self.path.parent


def resolve(checkpoint: str, allow_patterns: list[str] | None = None,
            pass_as: str = "--checkpoint DIR") -> Resolved:
    """A local path as is; otherwise a hub id downloaded (cached) by huggingface_hub.

    ``pass_as`` says, in the error for an unreachable hub, where the user puts a copy made
    with ``hf download``.
    """
    local = Path(checkpoint).expanduser()
    if local.exists():
        return Resolved(local, checkpoint)
    repo_id, _, pinned = checkpoint.partition("@")
    if not _HUB_ID.match(repo_id) or checkpoint.startswith((".", "/")):
        raise MireEvalError(f"{checkpoint}: checkpoint: no such file or directory")
    from huggingface_hub import snapshot_download

    from harness import hub

    revision = pinned or HUB_REVISIONS.get(repo_id, "main")
    hub.require(repo_id, pass_as, revision=pinned or None)
    try:
        path = snapshot_download(repo_id, revision=revision, allow_patterns=allow_patterns)
    except Exception as exc:  # offline, unknown repo, gated: one line telling what to fetch
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise MireEvalError(
            f"{checkpoint}: checkpoint: cannot download from the Hugging Face hub ({reason}); "
            f"{hub.download_advice(repo_id, pass_as, revision=pinned or None)}"
        ) from None
    return Resolved(Path(path), checkpoint, Path(path).name)


# --------------------------------------------------------------------------------------------
# Restricted unpickling
# --------------------------------------------------------------------------------------------
class Opaque:
    """An instance of a class we refused to import, kept as inert data.

    Built by pickle's NEWOBJ (``cls.__new__``) then ``__setstate__``; calling the class
    (pickle's REDUCE, how a ``__reduce__`` payload runs a function) is refused in ``__init__``.
    """

    __slots__ = ("state",)
    qualname = "?"

    def __init__(self, *args, **kwargs):
        raise MireEvalError(f"refusing to unpickle: the file calls {self.qualname}{args!r:.80}")

    def __setstate__(self, state):
        self.state = state

    def __repr__(self) -> str:
        return f"<opaque {self.qualname}>"


_STANDINS: dict[tuple[str, str], type] = {}


def _standin(module: str, name: str) -> type:
    key = (module, name)
    if key not in _STANDINS:
        _STANDINS[key] = type(name, (Opaque,), {"__slots__": (), "qualname": f"{module}.{name}"})
    return _STANDINS[key]


def _allowed() -> dict[tuple[str, str], object]:
    import collections
    import copyreg

    import torch

    allowed: dict[tuple[str, str], object] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("collections", "defaultdict"): collections.defaultdict,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
    }
    for name in ("dict", "list", "set", "frozenset", "tuple", "int", "float", "str", "bytes",
                 "bytearray", "complex", "bool", "slice", "range", "object"):
        for module in ("builtins", "__builtin__"):
            allowed[(module, name)] = getattr(__import__("builtins"), name)
    allowed[("__builtin__", "long")] = int
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter",
                 "_rebuild_parameter_with_state"):
        allowed[("torch._utils", name)] = getattr(torch._utils, name)
    for name, value in vars(torch).items():
        if isinstance(value, torch.dtype):
            allowed[("torch", name)] = value
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds tensors and plain containers; everything else becomes :class:`Opaque`."""

    _allow: dict | None = None

    def find_class(self, module: str, name: str):
        if RestrictedUnpickler._allow is None:
            RestrictedUnpickler._allow = _allowed()
        target = RestrictedUnpickler._allow.get((module, name))
        return target if target is not None else _standin(module, name)


restricted_pickle = types.SimpleNamespace(
    __name__="restricted_pickle", Unpickler=RestrictedUnpickler, load=pickle.load,
)


def plain(obj):
    """Opaque values to plain data: an OmegaConf DictConfig/ListConfig becomes its dict/list,
    any other unknown object its class name. Used to record a checkpoint's config."""
    if isinstance(obj, Opaque):
        state = getattr(obj, "state", None)
        if isinstance(state, dict) and "_content" in state:
            return plain(state["_content"])
        if isinstance(state, dict) and "_val" in state:
            return plain(state["_val"])
        return repr(obj)
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return type(obj).__name__


# --------------------------------------------------------------------------------------------
# Reading weights
# --------------------------------------------------------------------------------------------
@dataclass
class Loaded:
    """Tensors of one weights file and the non-tensor entries beside them (plain data)."""

    state_dict: dict
    extras: dict = field(default_factory=dict)
    reader: str = "safetensors"


def read_weights(path: str | Path) -> Loaded:
    """Read a ``.safetensors``/``.pth``/``.bin`` file without executing pickled code.

    A torch file holding ``{"model": state_dict, ...}`` (the MIRe training format) gives
    that state dict, the other entries become ``extras``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise MireEvalError(f"{path}: weights: file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return Loaded(load_file(str(path)), {}, "safetensors")
        except Exception as exc:
            raise MireEvalError(f"{path}: weights: not a readable safetensors file ({exc})") from None
    reader = "torch.load(weights_only=True)"
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        reader = "restricted unpickler"
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False,
                             pickle_module=restricted_pickle)
        except MireEvalError as exc:
            raise MireEvalError(f"{path}: weights: {exc}") from None
        except Exception as exc:
            raise MireEvalError(f"{path}: weights: cannot read ({type(exc).__name__}: {exc})") from None
    except Exception as exc:
        raise MireEvalError(f"{path}: weights: cannot read ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise MireEvalError(f"{path}: weights: expected a dict, found {type(obj).__name__}")
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj.get(key), dict):
            extras = {k: v for k, v in obj.items() if k != key}
            return Loaded(_tensors(obj[key], path, key), extras, reader)
    return Loaded(_tensors(obj, path, None), {}, reader)


def _tensors(state: dict, path: Path, key: str | None) -> dict:
    import torch

    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        where = f"[{key!r}]" if key else ""
        raise MireEvalError(f"{path}: weights{where}: entry {bad[0]!r} is not a tensor")
    return dict(state)


def summarise_extras(extras: dict) -> dict:
    """What to record of a training checkpoint's non-tensor entries (config, epoch), as
    plain data; optimizer/scheduler/scaler states are reduced to their presence."""
    out = {}
    for key, value in extras.items():
        if key in ("optimizer", "scheduler", "scaler"):
            out[key] = "present (not used)"
        else:
            out[key] = plain(value)
    return out


def find_weights(directory: Path, preferred: tuple[str, ...] = ()) -> Path:
    """The one weights file of a checkpoint directory (``preferred`` names first)."""
    for name in preferred:
        if (directory / name).is_file():
            return directory / name
    files = sorted(p for p in directory.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if not files:
        raise MireEvalError(f"{directory}: checkpoint: no weights file ({', '.join(WEIGHT_SUFFIXES)})")
    safes = [p for p in files if p.suffix == ".safetensors"]
    if len(safes) == 1:
        return safes[0]
    if len(files) > 1:
        names = ", ".join(p.name for p in files)
        raise MireEvalError(f"{directory}: checkpoint: several weights files ({names}); pass one file")
    return files[0]


def read_json(path: Path, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise MireEvalError(f"{path}: {what}: file not found") from None
    except json.JSONDecodeError as exc:
        raise MireEvalError(f"{path}: {what}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MireEvalError(f"{path}: {what}: expected a JSON object")
    return data


# --------------------------------------------------------------------------------------------
# Matching a state dict to a module
# --------------------------------------------------------------------------------------------
@dataclass
class KeyReport:
    """How a source state dict was mapped onto a module: recorded in describe()."""

    renamed: dict[str, str] = field(default_factory=dict)  # source prefix -> our prefix (counts)
    dropped: list[str] = field(default_factory=list)  # harmless source keys we ignore
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"renamed_prefixes": self.renamed, "dropped": _compact(self.dropped),
                "missing": self.missing, "unexpected": self.unexpected}


def _compact(keys: list[str], limit: int = 8) -> list[str]:
    return keys if len(keys) <= limit else keys[:limit] + [f"... {len(keys) - limit} more"]


def load_into(module, state: dict, origin: Path | str, prefixes: dict[str, str],
              ignore: tuple[str, ...] = (), allow_missing: tuple[str, ...] = ()) -> KeyReport:
    """Rename ``prefixes`` (first match wins), drop keys matching ``ignore`` (regexes, e.g.
    ``position_ids`` buffers some transformers versions persist), load strictly.

    Missing or unexpected keys raise a one-line :class:`MireEvalError` naming the file, except
    missing keys matching ``allow_missing`` (recorded)."""
    report = KeyReport()
    mapped = {}
    for key, value in state.items():
        if any(re.search(p, key) for p in ignore):
            report.dropped.append(key)
            continue
        new = key
        for src, dst in prefixes.items():
            if key.startswith(src):
                new = dst + key[len(src):]
                report.renamed[f"{src} -> {dst}"] = report.renamed.get(f"{src} -> {dst}", 0) + 1
                break
        mapped[new] = value
    own = module.state_dict()
    report.unexpected = sorted(set(mapped) - set(own))
    missing = sorted(set(own) - set(mapped))
    report.missing = [k for k in missing if any(re.search(p, k) for p in allow_missing)]
    fatal = [k for k in missing if k not in report.missing]
    if report.unexpected or fatal:
        parts = []
        if fatal:
            parts.append(f"{len(fatal)} missing keys (e.g. {fatal[0]})")
        if report.unexpected:
            parts.append(f"{len(report.unexpected)} unexpected keys (e.g. {report.unexpected[0]})")
        raise MireEvalError(f"{origin}: weights: {'; '.join(parts)}")
    shapes = [k for k, v in mapped.items() if tuple(v.shape) != tuple(own[k].shape)]
    if shapes:
        k = shapes[0]
        raise MireEvalError(
            f"{origin}: weights: {k} has shape {tuple(mapped[k].shape)}, "
            f"the config gives {tuple(own[k].shape)}"
        )
    module.load_state_dict(mapped, strict=False)
    return report


def device_of(device: str) -> str:
    """Validate a device string early (one line instead of a torch traceback)."""
    import torch

    try:
        torch.device(device)
    except RuntimeError:
        raise MireEvalError(f"device {device!r}: unknown device") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MireEvalError(f"device {device!r}: CUDA is not available on this machine")
    return device

