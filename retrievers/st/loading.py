"""Loading a Sentence-Transformers model safely: which class, which code, which weights.

A checkpoint is a local folder or a hub id (``owner/name@revision``), resolved like every
checkpoint (:func:`retrievers.checkpoint.resolve`). Before the library reads anything:

* the layout decides the class: a ``modules.json`` folder whose
  ``config_sentence_transformers.json`` says ``"model_type": "MultiVectorEncoder"`` (or PyLate's
  ``"ColBERT"``) loads as :class:`sentence_transformers.MultiVectorEncoder`, any other
  ``modules.json`` folder as :class:`sentence_transformers.SentenceTransformer`, and a Stanford
  ColBERT checkpoint (``config.json`` architectures ``HF_ColBERT``) as a MultiVectorEncoder;
  anything else is refused in one line (the library would build a new model around it);
* code the checkpoint names (a ``modules.json`` type outside the library, a ``config.json``
  ``auto_map``) runs only with ``-o trust_remote_code=true`` given on the command line;
* every torch weights file (``.bin``, ``.pt``, ``.pth``) is read first by
  :func:`harness.core.weights.read_weights` (``torch.load(weights_only=True)``, pickled code
  refused in one line); the library then reads it the same way, safetensors with safetensors.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import MireEvalError

EXTRA = "st"
SINGLE, MULTI = "SentenceTransformer", "MultiVectorEncoder"
# modules.json types the library maps onto its own classes without importing them
LIBRARY_ALIASES = ("pylate.models.Dense.Dense",)
TORCH_WEIGHTS = (".bin", ".pt", ".pth")


def require_library():
    """The ``sentence_transformers`` module, or one line naming the extra that installs it."""
    try:
        import sentence_transformers
    except ImportError:
        raise MireEvalError(f"--retriever st needs sentence-transformers: pip install 'mire-eval[{EXTRA}]'") from None
    return sentence_transformers


@dataclass(frozen=True)
class Layout:
    """What a checkpoint folder is: the class it loads as and the code it would run."""

    model_class: str  # SINGLE or MULTI
    format: str  # "sentence-transformers" | "stanford-colbert"
    custom_code: tuple[str, ...]  # module types / auto_map entries outside the library


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MireEvalError(f"{path}: checkpoint: cannot read JSON ({exc})") from None
    return data


def inspect_layout(directory: Path) -> Layout:
    """The class and custom code of a checkpoint folder; one line when it is neither layout."""
    directory = Path(directory)
    config = _json(directory / "config.json") if (directory / "config.json").is_file() else {}
    custom = [f"config.json auto_map {name}" for name in sorted(config.get("auto_map") or {})]
    if (directory / "modules.json").is_file():
        modules = _json(directory / "modules.json")
        if not isinstance(modules, list):
            raise MireEvalError(f"{directory / 'modules.json'}: checkpoint: expected a list of modules")
        for i, module in enumerate(modules):
            kind = module.get("type") if isinstance(module, dict) else None
            if not isinstance(kind, str):
                raise MireEvalError(f"{directory / 'modules.json'}:{i + 1}: type: missing")
            if not kind.startswith("sentence_transformers.") and kind not in LIBRARY_ALIASES:
                custom.append(f"modules.json type {kind}")
        st_config = directory / "config_sentence_transformers.json"
        model_type = (_json(st_config) if st_config.is_file() else {}).get("model_type", SINGLE)
        if model_type == "ColBERT":  # PyLate's name for the same layout
            model_type = MULTI
        if model_type not in (SINGLE, MULTI):
            raise MireEvalError(f"{st_config}: model_type: {model_type!r} is not an embedding model "
                                f"(--retriever st loads {SINGLE} and {MULTI})")
        return Layout(model_type, "sentence-transformers", tuple(custom))
    if "HF_ColBERT" in (config.get("architectures") or []):
        return Layout(MULTI, "stanford-colbert", tuple(custom))
    raise MireEvalError(f"{directory}: checkpoint: neither a Sentence-Transformers model folder (modules.json) "
                        "nor a Stanford ColBERT checkpoint (config.json architectures HF_ColBERT)")


def vet_weights(directory: Path) -> list[str]:
    """Read every torch weights file under ``directory`` without running pickled code (one line
    when one holds code), and check every safetensors file's header against its size (one line
    when truncated or damaged, not safetensors' own error from inside the library's load);
    returns the weights files found, relative to ``directory``."""
    from harness.core.weights import read_weights, safetensors_header

    found = []
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file() and path.suffix in TORCH_WEIGHTS:
            read_weights(path)
        if path.is_file() and path.suffix == ".safetensors":
            safetensors_header(path)  # reads the header only: cheap for multi-GB files
        if path.is_file() and path.suffix in (*TORCH_WEIGHTS, ".safetensors"):
            found.append(str(path.relative_to(directory)))
    return found


@contextmanager
def quiet_loading():
    """transformers' load report and weight-loading bar off while the library loads a model
    (a checkpoint that does not fit its class fails in one line instead)."""
    from transformers.utils import logging

    level, bar = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bar:
            logging.enable_progress_bar()


@dataclass
class LoadedModel:
    """A loaded model and where it came from (what meta.json records)."""

    model: object
    layout: Layout
    source: str  # the --checkpoint as given
    directory: Path
    revision: str | None  # hub commit, None for a local folder
    weights: list[str]
    fingerprint: str


def load_model(checkpoint: str | None, device: str, trust_remote_code: bool = False) -> LoadedModel:
    """Resolve, inspect, vet and load ``checkpoint`` with the class its layout names."""
    if not checkpoint:
        raise MireEvalError("--retriever st: --checkpoint: missing; name a Sentence-Transformers model "
                            "folder or hub id (owner/name@revision)")
    st = require_library()
    from harness.core.fingerprint import fingerprint_paths
    from retrievers.checkpoint import resolve

    resolved = resolve(checkpoint)
    directory = resolved.path
    if not directory.is_dir():
        raise MireEvalError(f"{checkpoint}: checkpoint: a Sentence-Transformers model is a folder, not a file")
    layout = inspect_layout(directory)
    if layout.custom_code and not trust_remote_code:
        raise MireEvalError(f"{checkpoint}: checkpoint: the model runs its own code ({', '.join(layout.custom_code)}); "
                            "read it, then pass -o trust_remote_code=true to run it")
    weights = vet_weights(directory)
    cls = st.MultiVectorEncoder if layout.model_class == MULTI else st.SentenceTransformer
    try:
        with quiet_loading():
            model = cls(str(directory), device=device, trust_remote_code=trust_remote_code, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise MireEvalError(f"{checkpoint}: checkpoint: sentence-transformers cannot load it ({reason})") from None
    model.eval()
    return LoadedModel(model, layout, checkpoint, directory, resolved.revision, weights,
                       fingerprint_paths([directory]))
