"""Retrievers: one file per family. Each module exposes ``build(checkpoint, device, **options)``."""
