"""Resumable training state, without pickle.

A state directory holds the model (``trainable.save_checkpoint``), the optimiser's tensors as
safetensors with its scalars and param groups as JSON, the torch RNG states as safetensors, and
``state.json`` (step, epoch, scheduler, grad scaler, Python RNG, config) written last, so a
directory with ``state.json`` is complete. Reading one back (``--resume``) checks every file:
a damaged or foreign state is one line naming the file and the field, never a traceback.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from harness.core.errors import MireEvalError
from harness.core.weights import read_safetensors


def save_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> None:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    save_file(tensors, str(directory / "optimizer.safetensors"))
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    (directory / "optimizer.json").write_text(json.dumps({"param_groups": groups, "scalars": scalars}))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MireEvalError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MireEvalError(f"{path}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise MireEvalError(f"{path}: expected a JSON object")
    return data


def load_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> None:
    path = directory / "optimizer.json"
    meta = _read_json(path)
    state: dict[int, dict] = {}
    try:
        tensors = read_safetensors(directory / "optimizer.safetensors") if (directory / "optimizer.safetensors").is_file() \
            else {}
        for name, value in [*tensors.items(), *meta["scalars"].items()]:
            pid, key = name.split(".", 1)
            state.setdefault(int(pid), {})[key] = value
        groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MireEvalError(f"{path}: optimizer state does not fit this model ({type(exc).__name__}: {exc})") from None


def save_rng(directory: Path, device: torch.device) -> dict:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        tensors["torch_cuda"] = torch.cuda.get_rng_state(device)
    save_file(tensors, str(directory / "rng.safetensors"))
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": list(internal), "gauss": gauss}


def load_rng(directory: Path, python_state: dict, device: torch.device) -> None:
    path = directory / "rng.safetensors"
    tensors = read_safetensors(path)
    try:
        torch.set_rng_state(tensors["torch_cpu"])
        if device.type == "cuda" and "torch_cuda" in tensors:
            torch.cuda.set_rng_state(tensors["torch_cuda"], device)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise MireEvalError(f"{path}: torch_cpu: not a torch RNG state ({type(exc).__name__})") from None
    try:
        random.setstate((python_state["version"], tuple(python_state["internal"]), python_state["gauss"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise MireEvalError(f"{directory / 'state.json'}: python_rng: not a Python RNG state ({exc})") from None


def read_state(directory: Path) -> dict:
    """``state.json`` of a saved step, its fields checked (one line naming a bad one)."""
    path = directory / "state.json"
    state = _read_json(path)
    checks = {"step": int, "examples": int, "world_size": int, "config": dict, "scheduler": dict, "python_rng": dict}
    for name, kind in checks.items():
        if not isinstance(state.get(name), kind) or isinstance(state.get(name), bool):
            raise MireEvalError(f"{path}: {name}: expected {kind.__name__}, found {type(state.get(name)).__name__}")
    if not isinstance(state["config"].get("batch_size"), int) or state["step"] < 0:
        raise MireEvalError(f"{path}: config.batch_size / step: not a saved training state")
    if state.get("scaler") is not None and not isinstance(state["scaler"], dict):
        raise MireEvalError(f"{path}: scaler: expected an object or null")
    return state


def latest_state(output_dir: Path) -> Path | None:
    """The newest complete resumable state under ``output_dir/steps`` (or None)."""
    steps = output_dir / "steps"
    if not steps.is_dir():
        return None
    done = sorted(d for d in steps.glob("step-*") if d.is_dir() and not d.name.endswith(".tmp")
                  and (d / "state.json").is_file())
    return done[-1] if done else None


def save_state(output_dir: Path, model, optimizer, scheduler, scaler, state: dict, device, keep_last: int) -> Path:
    steps = output_dir / "steps"
    final = steps / f"step-{state['step']:08d}"
    tmp = steps / f"{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_checkpoint(tmp / "model")
    save_optimizer(optimizer, tmp)
    full = {
        **state,
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "python_rng": save_rng(tmp, device),
    }
    (tmp / "state.json").write_text(json.dumps(full, indent=1))  # written last: marks completeness
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(d for d in steps.glob("step-*") if d.is_dir() and not d.name.endswith(".tmp"))[:-keep_last]:
        shutil.rmtree(old)
    return final


def read_history(output_dir: Path, upto: int) -> list[dict]:
    path = output_dir / "history.jsonl"
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise MireEvalError(f"{path}:{number}: not valid JSON") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise MireEvalError(f"{path}:{number}: step: expected an integer")
        rows.append(row)
    return [r for r in rows if r["step"] <= upto]


def write_history(output_dir: Path, history: list[dict]) -> None:
    (output_dir / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
