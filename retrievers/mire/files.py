"""Which files of a MIRe checkpoint to read: one weights file, chosen by a documented rule, and
the small files beside it.

The authors' training code writes ``mire_epoch_N.pth`` every epoch beside ``config.json``,
``artifact.metadata`` and the tokenizer, so a repository or folder in their layout may hold
several weights files. The rule (:func:`choose_weights`), the same for a hub repository and a
local folder:

1. ``-o weights_file=NAME`` when given (it must be there);
2. else the one ``.pth`` / ``.safetensors`` file when there is exactly one;
3. else, when every weights file is a ``mire_epoch_N.pth``, the highest epoch, with a
   one-line notice on stderr;
4. else a one-line error listing the candidates.

For a hub id the repository is listed first (``HfApi().list_repo_files``) and only the chosen
weights file and the small files (JSON, text, ``artifact.metadata``) are downloaded.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from harness.errors import MireEvalError

WEIGHT_SUFFIXES = (".pth", ".safetensors")
EPOCH_FILE = re.compile(r"^mire_epoch_(\d+)\.pth$")
SMALL_FILES = ("*.json", "*.txt", "artifact.metadata")  # config, tokenizer, ColBERT metadata


def choose_weights(names: Iterable[str], where: str, weights_file: str | None = None) -> tuple[str, str | None]:
    """(the weights file to read, a notice or None) among the top-level ``names`` of a
    checkpoint (see the module docstring for the rule). ``where`` names it in messages.

    >>> choose_weights(["config.json", "mire_epoch_2.pth", "mire_epoch_10.pth", "mire_epoch_9.pth"], "repo")[0]
    'mire_epoch_10.pth'
    >>> choose_weights(["config.json", "model.safetensors"], "repo")
    ('model.safetensors', None)
    """
    top = sorted(n for n in names if "/" not in n.strip("/"))
    candidates = [n for n in top if n.endswith(WEIGHT_SUFFIXES)]
    if weights_file:
        if weights_file not in top:
            raise MireEvalError(f"{where}: weights_file={weights_file!r} is not there; "
                                f"weights files: {', '.join(candidates) or 'none'}")
        return weights_file, None
    if len(candidates) == 1:
        return candidates[0], None
    if not candidates:
        raise MireEvalError(f"{where}: checkpoint: no weights file ({', '.join(WEIGHT_SUFFIXES)})")
    epochs = {int(m.group(1)): n for n in candidates if (m := EPOCH_FILE.match(n))}
    if len(epochs) != len(candidates):  # another weights file beside the epochs (best.pth): no guess
        raise MireEvalError(f"{where}: checkpoint: several weights files ({', '.join(candidates)}); "
                            "name one with -o weights_file=NAME")
    chosen = epochs[max(epochs)]
    notice = (f"mire: {where} holds {len(candidates)} weights files ({', '.join(candidates)}); reading the "
              f"highest epoch, {chosen} (-o weights_file=NAME reads another)")
    return chosen, notice


def small_files(names: Iterable[str]) -> list[str]:
    """The top-level files downloaded beside the weights (config, tokenizer, metadata)."""
    return sorted(n for n in names if "/" not in n and any(fnmatch.fnmatch(n, p) for p in SMALL_FILES))


def hub_files(repo_id: str, revision: str) -> list[str]:
    """Every file path of a hub model repository at ``revision`` (one API call)."""
    from huggingface_hub import HfApi

    return list(HfApi().list_repo_files(repo_id, revision=revision))


def folder_weights(directory: Path, weights_file: str | None = None) -> tuple[Path, str | None]:
    """The rule applied to a local folder in the authors' (or our) layout."""
    names = [p.name for p in Path(directory).iterdir() if p.is_file()]
    chosen, notice = choose_weights(names, str(directory), weights_file)
    return Path(directory) / chosen, notice


def say(notice: str | None) -> None:
    if notice:
        print(notice, file=sys.stderr)


def resolve_mire(checkpoint: str, weights_file: str | None = None):
    """(:class:`~retrievers.checkpoint.Resolved`, the weights file, a notice or None) of a
    MIRe checkpoint: a weights file as given; a folder by the rule; a hub id listed first and
    only the chosen weights and the small files downloaded. Offline (the listing fails), the
    hub cache's copy is read and the rule applied to it."""
    from harness import hub
    from retrievers.checkpoint import HUB_REVISIONS, Resolved, resolve

    local = Path(checkpoint).expanduser()
    if local.is_file():
        if weights_file and weights_file != local.name:
            raise MireEvalError(f"{checkpoint}: weights_file={weights_file!r} names another file than the one given")
        return Resolved(local, checkpoint), local, None
    if local.exists():
        weights, notice = folder_weights(local, weights_file)
        return Resolved(local, checkpoint), weights, notice
    repo_id, _, pinned = checkpoint.partition("@")
    names = None
    if "/" in repo_id and not checkpoint.startswith((".", "/")) and not hub.offline():
        hub.require(repo_id, "--checkpoint DIR", revision=pinned or None)
        try:
            names = hub_files(repo_id, pinned or HUB_REVISIONS.get(repo_id, "main"))
        except Exception:  # noqa: BLE001 - unlisted: resolve() words the hub's failure
            names = None
    if names is None:
        source = resolve(checkpoint)
        weights, notice = folder_weights(source.directory, weights_file)
        return source, weights, notice
    chosen, notice = choose_weights(names, repo_id, weights_file)
    source = resolve(checkpoint, [chosen, *small_files(names)])
    return source, source.directory / chosen, notice

