"""A checkpoint's setting (zero-shot / aligned / fine-tuned), read from its training provenance.

``mire-eval finetune`` and ``pretrain`` (``harness.training.launch.run_training``) write
``training.json`` beside the weights they save (``final/``), with the stage they ran and the
setting it makes: ``pretrain`` (MIRe's alignment, jfe's post-training adaptation on generic
pairs) -> ``aligned``; ``finetune`` (on a task's train split) -> ``fine-tuned``. A checkpoint
without that file (a hub id, a released or converted checkpoint, the default) is evaluated as
``zero-shot``. ``--setting`` overrides what the provenance says; meta.json records where the
setting came from (``settings.setting_source``), so an override is visible.

No torch here: ``run`` resolves the setting before anything heavy is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.errors import MireEvalError

SETTING_OF_STAGE = {"pretrain": "aligned", "finetune": "fine-tuned"}
PROVENANCE_FILE = "training.json"


def provenance_file(checkpoint: str | None) -> Path | None:
    """``training.json`` of a local checkpoint (a directory, or beside one weights file), if any."""
    if not checkpoint:
        return None
    path = Path(checkpoint)
    folder = path if path.is_dir() else path.parent if path.is_file() else None
    if folder is None or not (folder / PROVENANCE_FILE).is_file():
        return None
    return folder / PROVENANCE_FILE


def checkpoint_setting(checkpoint: str | None) -> tuple[str, str]:
    """``(setting, source)`` of ``checkpoint``: what its training.json says (``setting``, or
    for files written before it was recorded, the ``stage``), else ``zero-shot``.

    ``source`` says where the setting came from, for meta.json. Raises MireEvalError naming the
    file when a training.json is unreadable or names an unknown stage.
    """
    found = provenance_file(checkpoint)
    if found is None:
        return "zero-shot", "no training provenance (released or converted checkpoint): zero-shot"
    try:
        record = json.loads(found.read_text())
    except (OSError, ValueError) as exc:
        raise MireEvalError(f"{found}: unreadable training provenance ({exc}); pass --setting") from None
    if not isinstance(record, dict):
        raise MireEvalError(f"{found}:1: not a JSON object; pass --setting")
    setting = record.get("setting") or SETTING_OF_STAGE.get(record.get("stage"))
    if not isinstance(setting, str):
        if "stage" not in record:  # a training.json without the record run_training adds
            return "zero-shot", f"{found} names no stage: zero-shot"
        raise MireEvalError(f"{found}:1: stage: unknown value {record.get('stage')!r}; pass --setting")
    return setting, str(found)


def resolve_setting(given: str | None, checkpoint: str | None) -> tuple[str, str]:
    """``(setting, source)`` for a run: ``--setting`` when given (the source then also names
    what the provenance said, when it differs), else :func:`checkpoint_setting`."""
    if given is None:
        return checkpoint_setting(checkpoint)
    found, where = checkpoint_setting(checkpoint)
    if found.partition("@")[0] == given.partition("@")[0]:
        return given, f"--setting (agrees with {where})"
    return given, f"--setting overrides {found!r} ({where})"
