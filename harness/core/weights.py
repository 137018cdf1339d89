"""Reading weights files without ever running pickled code.

``.safetensors`` files are read after checking that their header describes exactly the bytes
the file holds (so a truncated or malformed file is one line naming the first tensor at fault).
``.pth``/``.pt``/``.bin`` files are read by ``torch.load(weights_only=True)`` and nothing else:
torch's allow-list unpickler reads every pickle of the file, in the zip format and in the legacy
format alike. The few non-tensor classes the MIRe authors' ``.pth`` holds (an OmegaConf config)
are allow-listed by name as inert :class:`Opaque` stand-ins; every other class, any call of a
function (the way a malicious ``__reduce__`` runs code), a bare pickle, the tar format and
TorchScript are refused before anything runs, with the way to convert a trusted file.

>>> plain({"a": [1, (2, 3)]})
{'a': [1, [2, 3]]}
"""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import MireEvalError

# --------------------------------------------------------------------------------------------
# Inert stand-ins for the few non-tensor classes the authors' .pth holds
# --------------------------------------------------------------------------------------------
class Opaque:
    """An instance of an allow-listed class we do not import, kept as inert data.

    torch's weights-only unpickler builds it with ``cls.__new__`` (pickle's NEWOBJ) and
    ``__setstate__`` (BUILD), or calls it (REDUCE): every path only stores what it is given.
    """

    __slots__ = ("args", "state")
    qualname = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args = args
        obj.state = None
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __repr__(self) -> str:
        return f"<opaque {self.qualname}>"


# What the MIRe authors' ``.pth`` holds besides tensors (reference/mire.md §1.9): an OmegaConf
# config (its containers, nodes and metadata, with typing.Any and builtin types as type
# annotations) and an empty ``collections.defaultdict`` resolver cache. Each name is mapped to an
# inert stand-in, so nothing of omegaconf or the builtins is ever called by the unpickler.
STANDIN_NAMES = (
    "omegaconf.dictconfig.DictConfig", "omegaconf.listconfig.ListConfig",
    "omegaconf.base.ContainerMetadata", "omegaconf.base.Metadata",
    *(f"omegaconf.nodes.{n}" for n in ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode",
                                       "BytesNode", "PathNode", "EnumNode", "ValueNode", "InterpolationResultNode")),
    "typing.Any", "collections.defaultdict",
    *(f"builtins.{n}" for n in ("int", "float", "str", "bool", "bytes", "dict", "list", "tuple", "set", "object")),
)
_STANDINS: dict[str, type] = {}


def _standins() -> list[tuple[type, str]]:
    """``(stand-in class, "module.name")`` pairs for ``torch.serialization.safe_globals``."""
    for name in STANDIN_NAMES:
        if name not in _STANDINS:
            _STANDINS[name] = type(name.rsplit(".", 1)[1], (Opaque,), {"__slots__": (), "qualname": name})
    return [(cls, name) for name, cls in _STANDINS.items()]


def _standins_used(obj) -> set[str]:
    """Names of the stand-ins present in an unpickled object (recorded as how it was read).
    Iterative, with a visited set: OmegaConf nodes point back to their parents."""
    seen: set[str] = set()
    stack, visited = [obj], set()
    while stack:
        item = stack.pop()
        if id(item) in visited:
            continue
        visited.add(id(item))
        if isinstance(item, Opaque):
            seen.add(item.qualname)
            stack += [item.args, item.state]
        elif isinstance(item, type) and issubclass(item, Opaque):
            seen.add(item.qualname)
        elif isinstance(item, dict):
            stack += list(item.keys()) + list(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack += list(item)
    return seen


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
    if isinstance(obj, type) and issubclass(obj, Opaque):
        return obj.qualname
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

    Torch files go through ``torch.load(weights_only=True)`` only: torch's allow-list unpickler
    reads every pickle of the file, in the zip format and in the legacy format (whose magic
    number, protocol and system-info pickles it reads with the same unpickler), with the
    :data:`STANDIN_NAMES` allowed as inert stand-ins. Anything else (other classes, any call of a
    function, a bare pickle, the legacy tar format, TorchScript) is refused in one line.

    A torch file holding ``{"model": state_dict, ...}`` (the MIRe training format) gives
    that state dict, the other entries become ``extras``.
    """
    path = Path(path)
    if not path.is_file():
        raise MireEvalError(f"{path}: weights: file not found")
    if path.suffix == ".safetensors":
        return Loaded(read_safetensors(path), {}, "safetensors")
    obj, reader = _torch_load(path)
    if not isinstance(obj, dict):
        raise MireEvalError(f"{path}: weights: expected a dict, found {type(obj).__name__}")
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj.get(key), dict):
            extras = {k: v for k, v in obj.items() if k != key}
            return Loaded(_tensors(obj[key], path, key), extras, reader)
    return Loaded(_tensors(obj, path, None), {}, reader)


SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                      "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def safetensors_header(path: str | Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``name -> (dtype, shape)`` of a safetensors file, after checking that its header describes
    exactly the bytes the file holds (format: 8-byte little-endian header length, a JSON header,
    then each tensor's bytes at ``data_offsets`` relative to the header's end, contiguous).

    Reads only the header, so it is cheap for multi-GB files. Raises a one-line
    :class:`MireEvalError` naming the file and, where one is at fault, the tensor.
    """
    import struct

    path = Path(path)
    size = path.stat().st_size
    bad = f"{path}: weights: not a readable safetensors file"
    if size < 8:
        raise MireEvalError(f"{bad} ({size} bytes: empty or truncated)")
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > size - 8:
            raise MireEvalError(f"{bad} (header of {n} bytes in a file of {size}: truncated or not safetensors)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise MireEvalError(f"{bad} (header is not JSON: {type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise MireEvalError(f"{bad} (header is not a JSON object)")
    data = size - 8 - n
    out, spans = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            width = SAFETENSORS_DTYPES[dtype]
            count = 1
            for d in shape:
                if not isinstance(d, int) or d < 0:
                    raise ValueError
                count *= d
        except (KeyError, TypeError, ValueError):
            raise MireEvalError(f"{path}: weights: {name}: malformed header entry {str(entry)[:80]}") from None
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            raise MireEvalError(f"{path}: weights: {name}: malformed data_offsets {[begin, end]}")
        if end - begin != count * width:
            raise MireEvalError(f"{path}: weights: {name}: {end - begin} bytes for {dtype} of shape {shape}")
        out[name] = (dtype, shape)
        spans.append((begin, end, name))
    cut = sorted(span for span in spans if span[1] > data)
    if cut:  # the first tensor the file does not hold in full
        begin, end, name = cut[0]
        raise MireEvalError(f"{path}: weights: {name}: ends at byte {end} of the data, the file has {data} (truncated)")
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise MireEvalError(f"{path}: weights: {name}: data not contiguous (starts at {begin}, expected {position})")
        position = end
    if position != data:
        raise MireEvalError(f"{bad} ({data - position} bytes after the last tensor)")
    return out


def read_safetensors(path: str | Path) -> dict:
    """All tensors of a safetensors file (header checked by :func:`safetensors_header` first)."""
    from safetensors.torch import load_file

    safetensors_header(path)
    try:
        return load_file(str(path))
    except Exception as exc:
        raise MireEvalError(f"{path}: weights: not a readable safetensors file ({exc})") from None


CONVERT_HINT = ("if you trust the file, convert it where its code may run: "
                "safetensors.torch.save_file(torch.load(F, weights_only=False)['model'], 'model.safetensors')")


def _torch_load(path: Path) -> tuple[object, str]:
    """``(object, how it was read)`` from ``torch.load(weights_only=True)`` with the stand-ins."""
    import torch

    form = "zip" if zipfile.is_zipfile(path) else "legacy"
    if form == "legacy" and not _legacy_magic(path):
        raise MireEvalError(f"{path}: weights: not a torch zip or legacy checkpoint (a bare pickle, the tar format or another); "
                            f"refusing to unpickle it; {CONVERT_HINT}")
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(_standins()):
            warnings.simplefilter("ignore")  # torch's note on pickle protocols; the error says what matters
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise MireEvalError(f"{path}: weights: refusing to unpickle ({_torch_reason(exc)}); {CONVERT_HINT}") from None
    except RuntimeError as exc:
        text = str(exc)
        if "Invalid magic number" in text or "legacy .tar format" in text or "TorchScript" in text:
            what = ("the legacy tar format" if "tar" in text else "a TorchScript archive" if "TorchScript" in text
                    else "not a torch checkpoint (a bare pickle or another format)")
            raise MireEvalError(f"{path}: weights: {what}; refusing to unpickle it; {CONVERT_HINT}") from None
        raise MireEvalError(f"{path}: weights: cannot read ({_torch_reason(exc)})") from None
    except Exception as exc:
        raise MireEvalError(f"{path}: weights: cannot read ({type(exc).__name__}: {_torch_reason(exc)})") from None
    used = sorted(_standins_used(obj))
    reader = f"torch.load(weights_only=True), {form} format"
    if used:
        reader += f", inert stand-ins for {', '.join(used)}"
    return obj, reader


def _legacy_magic(path: Path) -> bool:
    """Whether the file opens as torch's legacy format does: the pickled magic number (any
    protocol torch.save may have used), compared as bytes before anything is unpickled."""
    import torch

    with open(path, "rb") as f:
        head = f.read(64)
    magic = torch.serialization.MAGIC_NUMBER
    return any(head.startswith(pickle.dumps(magic, protocol=p)) for p in range(2, pickle.HIGHEST_PROTOCOL + 1))


def _torch_reason(exc: Exception) -> str:
    """torch's own reason, without its advice to load with ``weights_only=False``."""
    keep = []
    for line in str(exc).splitlines():
        line = line.strip()
        if not line or line.startswith(("Weights only load failed", "Check the documentation", "(1)", "(2)")):
            continue
        keep.append(line.split("WeightsUnpickler error:", 1)[-1].split(" Please use", 1)[0].strip())
    reason = " ".join(k for k in keep if k) or type(exc).__name__
    return reason[:200]


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
