"""``mire-eval build-r2p``: the response-to-passage conversion (MIRe's pre-training data)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.options import check_device, deprecated_out, output_path


def register(app: typer.Typer) -> None:
    @app.command("build-r2p")
    def build_r2p_command(
        qa: Path = typer.Option(..., "--qa", help="QA pairs: JSON array or JSON lines of {question, document (the response), image, ...}"),
        kb: Path = typer.Option(..., "--kb", help="knowledge base: Wiki6M .jsonl (wikipedia_content), BEIR corpus.jsonl or a mire-eval .arrow corpus"),
        output: Optional[Path] = typer.Option(None, "--output", help="R2P JSON file to write"),
        checkpoint: str = typer.Option(None, "--checkpoint", help="ColBERTv2 checkpoint (default colbert-ir/colbertv2.0)"),
        k: int = typer.Option(3, "--k", help="passages retrieved per response"),
        device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N | mps", callback=check_device),
        batch_size: int = typer.Option(256, "--batch-size", help="responses searched together"),
        remove_bracket: bool = typer.Option(False, "--remove-bracket", help="the authors' 'Title: ... content:' variant"),
        limit: int = typer.Option(None, "--limit", help="convert only the first N pairs"),
        out: Optional[Path] = deprecated_out(),
    ) -> None:
        """Search each response over the KB with ColBERTv2 and write P1 + response + P2 + P3."""
        from harness.core.errors import user_errors

        with user_errors():
            from harness.training.r2p import build_r2p, check_build_options
            from retrievers.colbert import build

            out = output_path(output, out)
            check_build_options(out, k, batch_size, limit)  # before the model loads
            retriever = build(checkpoint, device, query_maxlen=80, doc_maxlen=256)
            n = build_r2p(qa, kb, out, retriever, k=k, batch_size=batch_size,
                          remove_bracket=remove_bracket, limit=limit)
            typer.echo(f"build-r2p: {n} pairs -> {out}")
