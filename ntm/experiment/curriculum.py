"""A curriculum: some of a task's integer settings start small and grow to their configured
values as the training batches are learned.

``train.curriculum`` maps task settings to their starting values, e.g. ``{max_length: 2}``
for copy or ``{max_repeats: 1}`` for repeat copy (its default). Training batches come from the
task with those values; at each evaluation, if the training bit errors per sequence since the
previous one are at or below ``train.curriculum_bit_errors``, every setting still below its
configured value (``task.max_length``, ...) grows by ``train.curriculum_step``, up to that
value. The held-out set is always drawn from the full task, so held-out figures, the solved
test and the learning curves compare with runs without a curriculum.

Its state is the current values, saved in checkpoints so a resumed run goes on at the level it
had reached.
"""

from __future__ import annotations

__all__ = ["Curriculum"]


class Curriculum:
    """The current values of the growing task settings.

    Args:
        start: {setting: starting value}, each at most its target.
        target: {setting: configured value}, with the same keys as ``start``.
        bit_errors: the training bit errors per sequence at or below which the settings grow.
        step: how much each setting grows at a time (an integer >= 1).
    """

    def __init__(self, start: dict[str, int], target: dict[str, int], bit_errors: float,
                 step: int = 1) -> None:
        if set(start) != set(target):
            raise ValueError(f"start names {sorted(start)} but target names {sorted(target)}.")
        self.levels = dict(start)
        self.target = dict(target)
        self.bit_errors = bit_errors
        self.increment = step

    @property
    def complete(self) -> bool:
        """Every setting has reached its configured value."""
        return all(self.levels[key] >= self.target[key] for key in self.levels)

    def step(self, train_bit_errors: float) -> bool:
        """Grows every setting below its target by the step when ``train_bit_errors`` (per
        sequence, over the batches trained since the last evaluation) are at or below the
        threshold; returns whether anything grew."""
        if self.complete or not train_bit_errors <= self.bit_errors:  # NaN: no finite step
            return False
        self.levels = {key: min(value + self.increment, self.target[key])
                       for key, value in self.levels.items()}
        return True

    def describe(self) -> str:
        """The levels in words: ``task.max_length = 4 of 20, task.max_repeats = 2 of 10``."""
        return ", ".join(f"task.{key} = {value} of {self.target[key]}"
                         for key, value in self.levels.items())

    def column_text(self) -> str:
        """The levels as ``metrics.csv``'s ``curriculum`` column holds them: ``max_length=4
        max_repeats=2`` (space-separated, in the order of ``train.curriculum``)."""
        return " ".join(f"{key}={value}" for key, value in self.levels.items())

    def state_dict(self) -> dict[str, dict[str, int]]:
        return {"levels": dict(self.levels)}

    def load_state_dict(self, state: dict[str, dict[str, int]]) -> None:
        """The saved levels of the settings this curriculum grows, each at most its target
        (a setting the checkpoint did not grow keeps its start)."""
        saved = state["levels"]
        if not isinstance(saved, dict):
            raise ValueError(f"the saved curriculum levels are {saved!r}, not a mapping.")
        self.levels = {key: min(int(saved.get(key, value)), self.target[key])
                       for key, value in self.levels.items()}
