"""``mire-eval offline-models --output DIR``: the demo's offline weights, where a user can pass them.

Writes the very weights ``mire-eval demo`` starts from (built by the same cached steps of
:mod:`harness.demo`, with the demo's seed 0, so a row run by hand from them reproduces the
demo's row):

* ``DIR/colbertv2``: all-MiniLM-L6-v2 in the ColBERTv2 layout (``--retriever colbertv2``, and
  MIRe's text tower);
* ``DIR/clip-small``: the small random CLIP (MIRe's vision tower);
* ``DIR/mire``: MIRe over both, pooling freshly initialised (``--retriever mire``; the demo's
  ``zero-shot`` row; ``pretrain`` / ``finetune`` start from here);
* ``DIR/jfe``: the tiny random Qwen2-VL with a tokenizer learnt on the diagnostic task's words
  (``--retriever jfe``; the demo trains it before probing).

Needs the ``demo`` extra (``pip install 'mire-eval[demo]'``). docs/retrievers.md shows the
commands that run each of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.options import deprecated_out, output_path


def write_offline_models(output: Path) -> dict[str, Path]:
    """Copy the demo's offline weights into ``output`` (built into the cache first if needed)."""
    import shutil

    from harness.demo.run import DemoConfig, jfe_training_text, offline_parts, tiny_qwen2vl, untrained_mire
    from tasks.base import LoadOptions
    from tasks.loading import load_task

    config = DemoConfig()
    parts, _ = offline_parts(config)
    untrained, _ = untrained_mire(parts, config)
    train = load_task("diagnostic", LoadOptions(split="train"))
    qwen, _ = tiny_qwen2vl(config, jfe_training_text(train), train.meta["diagnostic_fingerprint"])
    written = {"colbertv2": parts / "minilm-colbert", "clip-small": parts / "clip-small", "mire": untrained,
               "jfe": qwen}
    output.mkdir(parents=True, exist_ok=True)
    for name, source in written.items():
        target = output / name
        tmp = output / f".{name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)  # each model whole or absent
    return {name: output / name for name in written}


def register(app: typer.Typer) -> None:
    @app.command("offline-models")
    def offline_models(
        output: Optional[Path] = typer.Option(None, "--output", help="folder to write the models into"),
        out: Optional[Path] = deprecated_out(),
    ) -> None:
        """Write the demo's offline weights (ColBERTv2 from MiniLM, a small CLIP, MIRe, a tiny
        Qwen2-VL) into OUTPUT, to pass as --checkpoint (docs/retrievers.md)."""
        from harness.core.errors import user_errors

        with user_errors():
            from harness.evaluation.pipeline import check_output_dir

            target = output_path(output, out)
            check_output_dir(target)
            for name, path in write_offline_models(target).items():
                typer.echo(f"{name:11s} {path}")
