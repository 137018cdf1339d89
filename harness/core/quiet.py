"""Known, harmless warnings of the libraries we call, silenced only around those calls.

Each filter matches one message, so any other warning from the same call still shows.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager


@contextmanager
def quiet_numba():
    """numba's ``NumbaTypeSafetyWarning`` "unsafe cast from uint64 to int64", raised while ranx's
    functions compile on a cold cache (its counts and indices fit in int64)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"unsafe cast from uint64 to int64")
        yield


@contextmanager
def quiet_peft_wrap():
    """transformers 5's FutureWarning "`is_gradient_checkpointing` is deprecated", raised when
    peft (``get_peft_model``, ``PeftModel.from_pretrained``) reads the old property; our code
    uses ``is_activation_checkpointing`` / ``activation_checkpointing_enable``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


@contextmanager
def quiet_saving():
    """transformers' "Writing model shards" bar off while a model is saved (one shard, instant)."""
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()
