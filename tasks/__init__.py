"""The paper's tasks as batch generators, and a registry from config name to task class.

A config names a task and its parameters (``task.name: copy``, ``task.max_length: 20``);
``make_task`` turns them into a ``Task``, or a one-sentence ``ValueError`` naming the setting.
"""

from __future__ import annotations

import inspect

from tasks.associative_recall import AssociativeRecallTask
from tasks.base import Batch, Task
from tasks.copy import CopyTask
from tasks.dynamic_ngrams import DynamicNGramsTask
from tasks.priority_sort import PrioritySortTask
from tasks.repeat_copy import RepeatCopyTask

__all__ = [
    "TASKS",
    "Batch",
    "Task",
    "CopyTask",
    "RepeatCopyTask",
    "AssociativeRecallTask",
    "DynamicNGramsTask",
    "PrioritySortTask",
    "make_task",
    "task_defaults",
]

#: Registry: task name -> task class.
TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        CopyTask,
        RepeatCopyTask,
        AssociativeRecallTask,
        DynamicNGramsTask,
        PrioritySortTask,
    )
}


def make_task(name: str, **params: object) -> Task:
    """The task registered as ``name``, built with ``params``.

    Raises:
        ValueError: ``name`` is not registered, a parameter is not one of the task's
            settings, or a value is out of range (each in one sentence naming the setting).
    """
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"task.name is {name!r}; it must be one of: {', '.join(sorted(TASKS))}.")
    cls = TASKS[name]
    settings = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for param in params:
        if param not in settings:
            raise ValueError(
                f"task.{param} is not a setting of task {name!r}; "
                f"its settings are: {', '.join(settings)}."
            )
    return cls(**params)


def task_defaults(name: str) -> dict[str, object]:
    """The settings of the task registered as ``name`` with their default values (empty for a
    name not registered); what a run from before a setting existed trained with."""
    if name not in TASKS:
        return {}
    parameters = inspect.signature(TASKS[name].__init__).parameters.values()
    return {p.name: p.default for p in parameters
            if p.name != "self" and p.default is not inspect.Parameter.empty}
