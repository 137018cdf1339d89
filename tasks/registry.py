"""The tasks ``mire-eval`` knows by name: one line per task, ``name -> "module:TASK"``.

A target is a :class:`tasks.base.TaskSpec`, imported only when the task is used; it describes
itself (its ``description`` is what ``mire-eval ls`` shows). ``local:PATH`` is matched by form,
not registered. Adding a task is a file in this folder plus one line here (docs/contributing.md);
a third-party package adds one by an entry point in the group ``mire_eval.tasks`` (docs/own-model.md).
"""

from __future__ import annotations

from harness.core.registry import Entry, Registry

TASKS = Registry("task", patterns=(Entry("local:PATH", "tasks.local:load_local",
                                          "any directory in the local format (docs/tasks.md)"),),
                 group="mire_eval.tasks")

for _name, _target in [
    ("sample", "tasks.sample:TASK"),
    ("okvqa", "tasks.okvqa:TASK"),
    ("okvqa-wiki11m", "tasks.okvqa_wiki11m:TASK"),
    ("infoseek", "tasks.infoseek:TASK"),
    ("evqa", "tasks.evqa:TASK"),
    ("remuq", "tasks.remuq:TASK"),
    ("diagnostic", "tasks.diagnostic:TASK"),
]:
    TASKS.register(_name, _target)
