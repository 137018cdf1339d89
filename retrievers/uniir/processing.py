"""UniIR CLIP_SF's inputs: text to CLIP token ids as ``clip.tokenize`` makes them, images to
pixels as ``clip.load``'s preprocessing makes them.

Text (OpenAI ``clip/simple_tokenizer.py``, ``clip/clip.py:tokenize``): ``ftfy.fix_text``, HTML
unescaped twice, whitespace runs collapsed, lower-cased, split and byte-pair encoded with CLIP's
merges (transformers' ``CLIPTokenizer`` reading the same vocabulary does the split and BPE),
then ``<|startoftext|>`` + the first 75 tokens + ``<|endoftext|>`` (``truncate=True``: 77 at
most). Rows are padded with 0 as ``clip.tokenize`` pads; the text tower is causal and pools at
``<|endoftext|>``, so the padding never reaches an embedding.

Images (``clip._transform(n_px)``, torchvision semantics reproduced with PIL and torch):
resize the shorter side to ``n_px`` (bicubic; the longer side ``int(n_px * long / short)``),
centre crop ``n_px`` x ``n_px`` (offsets ``round((size - n_px) / 2)``, Python rounding), RGB,
``/ 255`` as float32, minus :data:`CLIP_MEAN`, divided by :data:`CLIP_STD`. mire-eval's images
arrive decoded to RGB, so the conversion comes before the resize here (identical for RGB
sources; UniIR's M-BEIR images are RGB JPEGs).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import torch

from harness.errors import MireEvalError
from retrievers.uniir.configuration import CLIP_MEAN, CLIP_STD, CONTEXT_LENGTH

_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """``whitespace_clean(basic_clean(text)).lower()`` of OpenAI's tokenizer.

    >>> clean_text("  Caf\\u00e9 &amp;amp;  \\u201cQuotes\\u201d\\n")
    'café & "quotes"'
    """
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return _SPACES.sub(" ", text).strip().lower()


class ClipTokenizer:
    """CLIP's BPE over :func:`clean_text`, with ``clip.tokenize``'s framing and truncation."""

    def __init__(self, tokenizer, source: str):
        self.tokenizer = tokenizer
        self.source = source
        vocab = tokenizer.get_vocab()
        try:
            self.sot, self.eot = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
        except KeyError:
            raise MireEvalError(f"{source}: tokenizer: no <|startoftext|>/<|endoftext|> tokens (not CLIP's)") from None

    def ids(self, text: str) -> list[int]:
        """One text's ids: ``[sot] + bpe[:75] + [eot]`` (77 at most)."""
        return self.batch_ids([text])[0]

    def batch_ids(self, texts: list[str]) -> list[list[int]]:
        bodies = self.tokenizer([clean_text(t) for t in texts], add_special_tokens=False)["input_ids"]
        return [[self.sot, *body[: CONTEXT_LENGTH - 2], self.eot] for body in bodies]

    def __call__(self, texts: list[str]) -> torch.Tensor:
        """[B, L] int64 (L = the longest row, at most 77), padded with 0."""
        rows = self.batch_ids(texts) if texts else []
        out = torch.zeros(len(rows), max((len(r) for r in rows), default=2), dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row)
        return out


def load_tokenizer(source: str) -> ClipTokenizer:
    """CLIP's tokenizer from a directory holding ``vocab.json`` + ``merges.txt`` or a hub id
    (only those files are fetched; no code)."""
    from transformers import CLIPTokenizer

    from retrievers.checkpoint import resolve

    directory = resolve(source, ["vocab.json", "merges.txt", "*.json"], "-o tokenizer=DIR").directory
    for name in ("vocab.json", "merges.txt"):
        if not (directory / name).is_file():
            raise MireEvalError(f"{directory}: tokenizer: {name} not found (CLIP's vocab.json + merges.txt)")
    try:
        tok = CLIPTokenizer.from_pretrained(str(directory))
    except Exception as exc:
        raise MireEvalError(f"{directory}: tokenizer: cannot load ({type(exc).__name__}: {exc})") from None
    return ClipTokenizer(tok, str(source))


def write_tokenizer_from_bpe(bpe_gz: str | Path, directory: str | Path) -> Path:
    """``vocab.json`` + ``merges.txt`` for :func:`load_tokenizer` from OpenAI's gzipped merges
    file (``clip/bpe_simple_vocab_16e6.txt.gz``: a header line, then one merge per line; the
    vocabulary is the 256 byte symbols, the same with ``</w>``, each merge joined, then
    ``<|startoftext|>`` and ``<|endoftext|>``, in that order, as ``SimpleTokenizer`` builds it).
    """
    import gzip
    import json

    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1: 49152 - 256 - 2 + 1] if m.strip()]
    symbols = list(byte_symbols().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return directory


def byte_symbols() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table (printable Latin-1 bytes map
    to themselves, the rest to 256 + n in byte order)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}  # insertion order is the vocabulary's order
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + len(table) - len(keep))
    return table


def resize_crop(image, n_px: int):
    """Shorter side to ``n_px`` (bicubic), then the centre ``n_px`` x ``n_px`` (PIL in, PIL out)."""
    from PIL import Image

    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = n_px, int(n_px * long / short)
    size = (new_short, new_long) if w <= h else (new_long, new_short)
    if size != (w, h):
        image = image.resize(size, Image.BICUBIC)
    w, h = image.size
    top, left = int(round((h - n_px) / 2.0)), int(round((w - n_px) / 2.0))
    return image.crop((left, top, left + n_px, top + n_px))


def pixels(images: list, n_px: int) -> torch.Tensor:
    """[B, 3, n_px, n_px] float32, CLIP-normalised, from decoded RGB PIL images."""
    import numpy as np

    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(CLIP_STD, dtype=torch.float32)[:, None, None]
    out = []
    for image in images:
        crop = resize_crop(image, n_px).convert("RGB")
        x = torch.from_numpy(np.array(crop, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div(255)
        out.append((x - mean) / std)
    return torch.stack(out) if out else torch.zeros(0, 3, n_px, n_px)
