"""``mire-eval cache ls | rm``: the embedding stores under the cache root (:mod:`harness.index.store`)."""

from __future__ import annotations

from typing import List

import typer

from harness.core.errors import MireEvalError, user_errors


def _size(n: int) -> str:
    """
    >>> _size(512), _size(3 * 1024 ** 3)
    ('512 B', '3.0 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def register(app: typer.Typer) -> None:
    cache = typer.Typer(help="Manage the embedding stores (encoded corpora) under the cache root.",
                        no_args_is_help=True)
    app.add_typer(cache, name="cache")

    @cache.command("ls")
    def ls() -> None:
        """One line per store: key, retriever, task, passages, tokens, size, date, shards committed."""
        with user_errors():
            from harness.core.cache import cache_home
            from harness.index.store import list_stores

            rows = list_stores(cache_home())
            if not rows:
                typer.echo(f"no stores under {cache_home() / 'stores'}")
                return
            typer.echo(f"{'key':24s}  {'retriever':12s} {'task':14s} {'passages':>9s} {'tokens':>11s} "
                       f"{'size':>10s}  {'created':25s} shards")
            for r in rows:
                typer.echo(f"{r['key']:24s}  {str(r['retriever']):12s} {str(r['task']):14s} {r['passages']:>9} "
                           f"{r['tokens']:>11} {_size(r['size']):>10s}  {str(r['created']):25s} {r['shards']}")

    @cache.command("rm")
    def rm(keys: List[str] = typer.Argument(None, help="store keys (see `mire-eval cache ls`)"),
           all_: bool = typer.Option(False, "--all", help="remove every store")) -> None:
        """Remove stores by key (or all of them)."""
        with user_errors():
            from harness.core.cache import cache_home
            from harness.index.store import list_stores, remove_store

            known = [r["key"] for r in list_stores(cache_home())]
            keys = known if all_ else list(keys or [])
            if not keys and not all_:
                raise MireEvalError("cache rm: give store keys or --all")
            unknown = [k for k in keys if k not in known]
            if unknown:  # checked before removing anything
                raise MireEvalError(f"cache rm: no store {unknown[0]!r} under {cache_home() / 'stores'}")
            for k in keys:
                remove_store(cache_home(), k)
                typer.echo(f"removed {k}")
