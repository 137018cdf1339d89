"""Finding checkpoints and matching their weights to a module.

A ``--checkpoint`` is a local directory, a local weights file, or a hub id. Weights files are
read by :mod:`harness.core.weights` (safetensors checked against their bytes; torch files only by
``torch.load(weights_only=True)``, never running pickled code); its readers are re-exported
here. :func:`load_into` and :func:`check_match` hold the one rule every family's weights obey.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import MireEvalError
from harness.core.weights import (  # noqa: F401  (re-exported: where the loaders look for them)
    Loaded,
    Opaque,
    plain,
    read_safetensors,
    read_weights,
    safetensors_header,
    summarise_extras,
)

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

    from harness.core import hub

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
    """A checkpoint's JSON object (config.json ...) under harness/core/textfiles' rules: invalid
    UTF-8, a wide encoding, a syntax error or too deep a nesting is one line naming file and line."""
    from harness.core.textfiles import parse_json, read_text

    if not Path(path).is_file():
        raise MireEvalError(f"{path}: {what}: file not found")
    data = parse_json(read_text(path, what), path, what=f"{what}: invalid JSON")
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
    shapes = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in mapped.items()
              if k in own and tuple(v.shape) != tuple(own[k].shape)]
    check_match(origin, fatal, report.unexpected, shapes)
    module.load_state_dict(mapped, strict=False)
    return report


def check_match(origin: Path | str, missing: list[str], unexpected: list[str],
                shapes: list[tuple[str, tuple, tuple]]) -> None:
    """The one rule every family's weights obey: no model weight missing (never left randomly
    initialised), no file tensor unused, every shape as the config gives. One line naming the
    file and the first tensor at fault; ``shapes`` holds ``(name, in file, in model)``."""
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {sorted(missing)[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {sorted(unexpected)[0]})")
        raise MireEvalError(f"{origin}: weights: {'; '.join(parts)}")
    if shapes:
        name, got, want = sorted(shapes)[0]
        raise MireEvalError(f"{origin}: weights: {name} has shape {got}, the config gives {want}")


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

