"""Loading a task by name: a registered :class:`~tasks.base.TaskSpec` or ``local:PATH``.

Apart from :mod:`tasks.base` because it dispatches to :mod:`tasks.local`, which builds on
:mod:`tasks.base` (keeping the two apart keeps the import graph acyclic).
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import MireEvalError
from harness.types import TaskData
from tasks.base import LoadOptions, TaskSpec, _offered, _read


def task_spec(name: str) -> TaskSpec | None:
    """The registered task's declaration; None for ``local:PATH`` (a folder declares nothing)."""
    from harness.registry import TASKS

    return None if name.startswith("local:") else TASKS.get(name)


def load_task(name: str, options: LoadOptions | None = None, corpus_from: TaskData | None = None) -> TaskData:
    """Load a registered task or ``local:PATH``; ``inputs`` lists the files it read.

    ``corpus_from``: an earlier load of the same task (another split); its corpus is taken
    instead of read again when it came from the same source (:func:`tasks.base.corpus_once`).
    """
    from harness.fingerprint import recording_reads

    options = options or LoadOptions()
    offered = _offered.set(corpus_from.corpus_read if corpus_from is not None else None)
    read = _read.set([])
    try:
        with recording_reads() as reads:  # every adapter fingerprints the files it reads
            if name.startswith("local:"):
                from tasks.local import load_local

                data = load_local(Path(name[len("local:"):]), options)
            else:
                spec = task_spec(name)
                if options.split not in spec.splits:
                    raise MireEvalError(f"task {name!r} has no split {options.split!r}; "
                                        f"known: {', '.join(spec.splits)}")
                data = spec.load(options)
        corpus_reads = _read.get()
    finally:
        _read.reset(read)
        _offered.reset(offered)
    data.inputs = {**data.inputs, **reads}
    data.corpus_read = corpus_reads[-1] if corpus_reads else None
    # answers empty after strip(): counted for every task, judged by the rule the run names
    # (harness.relevance.answer_qrels reads it from here)
    data.meta["queries_with_empty_answer"] = sum(1 for q in data.queries if any(not a.strip() for a in q.answers))
    data.meta["empty_answers"] = options.empty_answers
    return data
