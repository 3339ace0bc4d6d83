"""The task interface: a task draws batches of (input, target, mask) sequences.

Shapes: T steps (the longest sequence of the batch), B batch, I input width, O output width.
Sequences are time-major, ``[T, B, width]``, the layout the model steps through. A batch's
shorter sequences are padded at the end with zero inputs, zero targets and zero mask.

All randomness comes from an explicit ``torch.Generator``, so one seed gives one batch; the
global random state is never read or changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

__all__ = ["Batch", "Task", "require_int", "require_at_most", "draw_sizes"]


@dataclass(frozen=True)
class Batch:
    """One batch of sequences, time-major.

    Attributes:
        inputs: [T, B, I] float32, what the model reads at each step.
        targets: [T, B, O] float32 of 0/1, the bits to predict.
        mask: [T, B, O] float32 of 0/1, 1 where a target bit is scored; 0 on the steps where
            no answer is asked for and on the padding after a sequence's end.
    """

    inputs: Tensor
    targets: Tensor
    mask: Tensor

    def __post_init__(self) -> None:
        if self.targets.shape != self.mask.shape or self.inputs.shape[:2] != self.mask.shape[:2]:
            raise ValueError(
                f"Batch shapes disagree: inputs {tuple(self.inputs.shape)}, targets "
                f"{tuple(self.targets.shape)}, mask {tuple(self.mask.shape)}; they must share "
                "[T, B] and targets must match mask."
            )

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with all three tensors on ``device``."""
        return Batch(self.inputs.to(device), self.targets.to(device), self.mask.to(device))

    @staticmethod
    def join(batches: list[Batch]) -> Batch:
        """The sequences of ``batches`` side by side in one batch, in order: [T, sum B, width],
        T the longest of theirs, the shorter padded at the end as any batch is (zeros)."""
        steps = max(b.mask.shape[0] for b in batches)

        def padded(t: Tensor) -> Tensor:
            return torch.nn.functional.pad(t, (0, 0, 0, 0, 0, steps - t.shape[0]))

        return Batch(*(torch.cat([padded(getattr(b, name)) for b in batches], dim=1)
                       for name in ("inputs", "targets", "mask")))

    def part(self, sequences: slice) -> Batch:
        """The sequences ``sequences`` (a slice of the batch dimension), cut after the last
        step that any of them has scored: the steps after it are padding for these sequences
        and change no cost or bit error of theirs."""
        mask = self.mask[:, sequences]
        scored = mask.flatten(1).any(dim=1).nonzero()
        steps = int(scored[-1]) + 1 if len(scored) else mask.shape[0]
        return Batch(self.inputs[:steps, sequences].contiguous(),
                     self.targets[:steps, sequences].contiguous(), mask[:steps].contiguous())


class Task(ABC):
    """A source of training and test sequences.

    Subclasses set the class attributes ``name`` (the registry key), ``size_name`` and
    ``generalisation_sizes``, and set ``input_width`` and ``output_width`` in ``__init__``
    after validating their parameters.
    """

    name: ClassVar[str]
    #: What ``size`` in ``sample_batch`` counts, in a word: "length", "items", "repeats".
    size_name: ClassVar[str]
    #: The sizes a generalisation evaluation visits by default: usually the top of the training
    #: range and a few sizes beyond it.
    generalisation_sizes: ClassVar[tuple[int, ...]]
    input_width: int
    output_width: int

    @abstractmethod
    def sample_batch(
        self, generator: torch.Generator, batch_size: int, size: int | None = None
    ) -> Batch:
        """Draw ``batch_size`` sequences with ``generator``.

        Args:
            generator: the only source of randomness; tensors are made on its device.
            batch_size: B, an integer >= 1.
            size: None: the task's training distribution (copy, associative recall, repeat
                copy: every sequence draws its own size uniformly from the training range,
                both bounds included; N-grams and priority sort: their configured size). An
                integer: every sequence has that size (what it counts is ``size_name``: copy,
                the length; associative recall, the number of items), also beyond the
                training range, for generalisation tests.

        Returns:
            A ``Batch`` with T the length of the batch's longest sequence.
        """

    @property
    @abstractmethod
    def max_steps(self) -> int:
        """T of the longest sequence in the training range."""

    @property
    @abstractmethod
    def largest_training_size(self) -> int:
        """The largest ``size`` (in ``size_name`` units) the task trains on."""

    def scaled_like(self, full: Task) -> Task:
        """This task, a smaller version of ``full`` (a curriculum's level), encoding its inputs
        as ``full`` does, so that an input value means the same at every level. Most tasks'
        encodings do not depend on their settings: ``self``."""
        return self

    def optimal_cost(self, batch: Batch) -> Tensor | None:
        """The cost of the Bayes-optimal predictor on ``batch``, or None if the task has none.

        The cost is defined as in ``ntm.experiment.metrics.cost_per_sequence``: binary
        cross-entropy summed over each sequence's scored target bits (mask 1), in bits. Tasks
        whose targets are a function of the inputs (copy, associative recall) have optimal cost
        0 and return None; tasks with random targets (dynamic N-grams) compute it from the batch
        alone.

        Args:
            batch: a batch of this task, on any device.

        Returns:
            [B] float32 on the batch's device, or None.
        """
        return None


def require_int(setting: str, value: object, minimum: int) -> int:
    """``value`` if it is an integer >= ``minimum``, else a one-sentence ``ValueError``.

    Bools and floats are refused: ``True`` or ``20.0`` in a config is a mistake, not a size.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{setting} is {value!r}; it must be an integer >= {minimum}.")
    return value


def require_at_most(low_setting: str, low: int, high_setting: str, high: int) -> None:
    """A one-sentence ``ValueError`` unless ``low <= high``."""
    if low > high:
        raise ValueError(
            f"{low_setting} ({low}) is above {high_setting} ({high}); "
            f"it must be at most {high_setting}."
        )


def draw_sizes(
    generator: torch.Generator,
    batch_size: int,
    size: int | None,
    training_range: tuple[int, int],
    smallest: int,
    size_name: str,
) -> Tensor:
    """The size of every sequence of a batch.

    Args:
        generator: source of randomness, and the device of the result.
        batch_size: B, checked to be an integer >= 1.
        size: None to draw each size uniformly from ``training_range``; else the size of
            every sequence, checked to be an integer >= ``smallest``.
        training_range: (low, high), both inclusive.
        smallest: the smallest size the task can lay out.
        size_name: what ``size`` means for the task, for the error message.

    Returns:
        [B] int64.
    """
    require_int("batch_size", batch_size, 1)
    if size is None:
        low, high = training_range
        return torch.randint(
            low, high + 1, (batch_size,), generator=generator, device=generator.device
        )
    require_int(f"size ({size_name})", size, smallest)
    return torch.full((batch_size,), size, dtype=torch.int64, device=generator.device)
