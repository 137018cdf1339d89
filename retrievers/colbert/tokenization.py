"""ColBERT's tokenisation (the reference's ``QueryTokenizer`` / ``DocTokenizer``).

* both sides get ``". "`` prepended and the ``"."`` token (position 1, right after ``[CLS]``)
  overwritten by the marker: ``[unused0]`` (shown as ``[Q]``) for queries, ``[unused1]``
  (``[D]``) for passages;
* queries are padded to ``query_maxlen`` and every ``[PAD]`` becomes ``[MASK]`` (query
  augmentation). With ``attend_to_mask_tokens=False`` (colbertv2.0's metadata) BERT's
  attention mask is 0 at those positions, but their output vectors are KEPT: the plain
  ColBERTv2 path keeps every position that is not ``[PAD]``, and none is left;
* passages are truncated at ``doc_maxlen``; output vectors of ``[PAD]`` and of punctuation
  tokens (every character of ``string.punctuation``) are dropped.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import torch

from retrievers.colbert.configuration import ColBERTSettings


class ColBERTTokenizer:
    """Query/passage tensorisation with the ``[Q]``/``[D]`` markers, as the reference."""

    def __init__(self, tokenizer, settings: ColBERTSettings):
        self.tok = tokenizer
        self.settings = settings
        self.q_marker = tokenizer.convert_tokens_to_ids(settings.query_token_id)
        self.d_marker = tokenizer.convert_tokens_to_ids(settings.doc_token_id)
        self.mask_id = tokenizer.mask_token_id
        self.pad_id = tokenizer.pad_token_id
        # The reference skips the first token id of every punctuation character.
        self.punctuation_ids = sorted(
            {tokenizer.encode(c, add_special_tokens=False)[0] for c in string.punctuation}
        )

    def queries(self, texts: Sequence[str], maxlen: int, attend_to_mask: bool):
        """``(ids, attention_mask)`` [B, maxlen]; ``[PAD]`` -> ``[MASK]``.

        ``attend_to_mask=False`` leaves the tokenizer's mask (0 on the augmentation tokens);
        True sets it to 1 everywhere (ColBERT's ``attend_to_mask_tokens``, and MIRe training,
        whose collate builds the mask as ``ids != [PAD]`` after the replacement)."""
        enc = self.tok([". " + t for t in texts], padding="max_length", truncation=True,
                       max_length=maxlen, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        ids[:, 1] = self.q_marker                                   # [B, maxlen]
        ids[ids == self.pad_id] = self.mask_id
        if attend_to_mask:
            mask = torch.ones_like(mask)
        return ids, mask

    def passage_ids(self, texts: Sequence[str], maxlen: int) -> list[list[int]]:
        """Unpadded token ids per passage, ``[D]`` marker in place."""
        enc = self.tok([". " + t for t in texts], padding=False, truncation="longest_first",
                       max_length=maxlen)
        out = []
        for ids in enc["input_ids"]:
            ids = list(ids)
            ids[1] = self.d_marker
            out.append(ids)
        return out

    def pad(self, rows: Sequence[list[int]], width: int | None = None):
        """Right-pad with ``[PAD]`` to ``width`` (default: the longest row): ``(ids, mask)``."""
        width = width or max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return ids, (ids != self.pad_id).long()

    def passages(self, texts: Sequence[str], maxlen: int):
        return self.pad(self.passage_ids(texts, maxlen))

    def token_mask(self, ids: torch.Tensor, skip_punctuation: bool) -> torch.Tensor:
        """Which passage output vectors are kept: not ``[PAD]`` and (optionally) not punctuation."""
        keep = ids != self.pad_id
        if skip_punctuation:
            keep &= ~torch.isin(ids, torch.tensor(self.punctuation_ids, device=ids.device))
        return keep

