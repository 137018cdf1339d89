"""FLMR's tokenisation and masks (the authors' ``tokenization_flmr.py`` and
``FLMRModelForRetrieval.query_mask`` / ``mask``), on ColBERT's tokenizer.

* Queries: ``". " + text``, position 1 overwritten by ``[unused0]`` ([Q]), padded to
  ``query_maxlen`` with every [PAD] turned into [MASK]; the attention mask stays 0 on those
  (``attend_to_mask_tokens`` False, the released tokenizers' setting). Identical to
  :meth:`retrievers.colbert.tokenization.ColBERTTokenizer.queries`.
* Query rows kept (``query_mask``): with a ``mask_instruction_token``, position i of a
  sequence is kept iff its id is not 0, not in ``query_mask_input_ids_skip_list``, and
  ``i < 2`` or ``i > s`` with s the first position of the instruction token (1 when absent,
  where the authors log an error and keep everything after [Q]); without one, every id not 0
  and not in the skip list.
* Passages: ``". " + text``, position 1 = ``[unused1]`` ([D]), truncated at ``doc_maxlen``;
  rows kept: not [PAD] and, with ``mask_punctuation``, not the first token id of any
  ``string.punctuation`` character.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from retrievers.colbert.configuration import ColBERTSettings
from retrievers.colbert.tokenization import ColBERTTokenizer


def flmr_tokenizer(tokenizer, query_maxlen: int, doc_maxlen: int) -> ColBERTTokenizer:
    """ColBERT's tokenisation with FLMR's markers ([unused0] / [unused1])."""
    settings = ColBERTSettings(query_maxlen=query_maxlen, doc_maxlen=doc_maxlen,
                               attend_to_mask_tokens=False)
    return ColBERTTokenizer(tokenizer, settings)


def instruction_token_id(tokenizer, token: str | None) -> int | None:
    """The first id of ``mask_instruction_token`` as the authors take it (``encode(...)[0]``)."""
    if token is None:
        return None
    return tokenizer.encode(token, add_special_tokens=False)[0]


def query_keep(input_ids: torch.Tensor, instruction_id: int | None,
               skip_ids: Sequence[int] = ()) -> torch.Tensor:
    """Which query rows are kept (the authors' ``query_mask``): BoolTensor [B, Lq]."""
    keep = input_ids != 0
    if skip_ids:
        keep &= ~torch.isin(input_ids, torch.tensor(list(skip_ids), device=input_ids.device))
    if instruction_id is None:
        return keep
    found = input_ids == instruction_id                               # [B, Lq]
    first = torch.argmax(found.int(), dim=1).clamp(min=1)             # [B]; absent -> 0 -> 1
    pos = torch.arange(input_ids.size(1), device=input_ids.device)[None, :]
    return keep & ((pos > first[:, None]) | (pos < 2))


def cross_attention_mask(input_ids: torch.Tensor, skip_ids: Sequence[int] = ()) -> torch.Tensor:
    """The mapping network's cross-attention mask over the text rows: 1 everywhere (padding
    and [MASK] included) but the skip-list ids: LongTensor [B, Lq]."""
    mask = torch.ones_like(input_ids)
    if skip_ids:
        mask[torch.isin(input_ids, torch.tensor(list(skip_ids), device=input_ids.device))] = 0
    return mask


def query_text(question: str, instruction: str | None, mask_token: str | None) -> str:
    """The query text as the authors' M2KR evaluation builds it (example_use_preflmr.py
    ``prepare_inputs``): the instruction stripped, ':' appended when it does not end with
    one, every ':' replaced by ``mask_instruction_token``, then ``" ".join([instruction, "",
    question, ""])``. ``instruction`` None: the question alone."""
    if instruction is None:
        return question
    instruction = instruction.strip()
    if not instruction.endswith(":"):
        instruction += ":"
    if mask_token is not None:
        instruction = instruction.replace(":", mask_token)
    return " ".join([instruction, "", question, ""])
