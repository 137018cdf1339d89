"""``mire-eval fetch TASK``: download a benchmark once into the cache, verify it, say where.

Tasks on the Hugging Face hub (InfoSeek, E-VQA) are downloaded at one commit (pinned, recorded,
or resolved once: tasks/m2kr_revision.py), only the files ``--split`` needs; each file is
printed with its size and target before downloading.
Releases that live on Google Drive or project pages (OK-VQA-GS, Wiki-11M, ReMuQ, COCO)
cannot be fetched by a program; for those the command checks what is already in place,
prints each missing file with its source and exact target path, and exits with status 2.
No torch import here: the command imports the task module only when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.core.cache import cache_home


def fetch_task(task: str, data_dir: Path | None = None, image_dir: Path | None = None,
               images: bool = True, split: str = "test") -> Path | None:
    """Run one task's fetch; returns where its data is, or None for a task with nothing to fetch
    (shipped in the package, generated, or a local folder)."""
    from harness.cli.options import check_folders
    from harness.core.errors import MireEvalError
    from tasks.registry import TASKS
    from tasks.base import LoadOptions

    spec = TASKS.get(task)
    if spec.fetch is None:
        return None
    check_folders(data_dir, image_dir)
    if split not in spec.splits:
        raise MireEvalError(f"task {task!r} has no split {split!r}; known: {', '.join(spec.splits)}")
    options = LoadOptions(split=split, data_dir=data_dir, image_dir=image_dir, cache_dir=cache_home())
    return spec.fetch(options) if images else spec.fetch(options, images=False)


def register(app: typer.Typer) -> None:
    @app.command("fetch")
    def fetch(
        task: str = typer.Argument(..., help="task name (mire-eval ls tasks)"),
        data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="check a local copy instead of the cache"),
        image_dir: Optional[Path] = typer.Option(None, "--image-dir", help="where the images are or go"),
        images: bool = typer.Option(True, "--images/--no-images", help="also fetch/check the query images"),
        split: str = typer.Option("test", "--split", help="fetch only what this split needs"),
    ) -> None:
        """Download TASK once into $MIRE_EVAL_DATA (or say which files to put where)."""
        from harness.core.errors import user_errors

        with user_errors():
            where = fetch_task(task, data_dir, image_dir, images, split)
            typer.echo(f"{task}: nothing to fetch (its data ships with mire-eval or is made locally)" if where is None
                       else f"{task}: ready in {where}")
