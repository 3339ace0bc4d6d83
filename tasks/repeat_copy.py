"""The repeat copy task (Graves et al. 2014, section 4.2): read a sequence and a repeat count,
write the sequence that many times, then an end marker."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor

from tasks.base import Batch, Task, draw_sizes, require_at_most, require_int

__all__ = ["RepeatCopyTask"]


class RepeatCopyTask(Task):
    """Copy L random bit vectors n times, then emit an end marker.

    A sequence of L vectors repeated n times has T = (n + 1) L + 2 steps:

    - steps 0..L-1 carry the L vectors (every bit Bernoulli(1/2)) on input channels
      0..width-1;
    - step L sets the delimiter channel ``width`` to 1 and carries the repeat count on channel
      ``width + 1``, normalised to mean 0 and variance 1 over the training range of n (see
      ``normalised_repeats``); the repeat channel is 0 on every other step;
    - steps L+1..L+nL have zero input; their targets are the L vectors n times over;
    - step L+nL+1 has zero input; its target is 1 on the end-marker channel ``width`` and 0 on
      the others. The end-marker target is 0 on every other step.

    The mask is 1 on the nL answer steps and the end-marker step, on every output channel,
    end marker included: the network is also scored for holding the marker at 0 while it
    copies, and for not writing vector bits with the marker.

    Worked example, width 2, training range of n 1..10 (normalisation mean 5.5, variance 8.25),
    L = 2, n = 2, vectors x0 = 10 and x1 = 11 (``|`` before the delimiter channel, the repeat
    channel and the end-marker channel)::

        step   input       target  mask
           0   10|0|0       00|0    00|0
           1   11|0|0       00|0    00|0
           2   00|1|r       00|0    00|0    r = (2 - 5.5) / sqrt(8.25) = -1.2185
           3   00|0|0       10|0    11|1    x0
           4   00|0|0       11|0    11|1    x1
           5   00|0|0       10|0    11|1    x0
           6   00|0|0       11|0    11|1    x1
           7   00|0|0       00|1    11|1    end marker

    ``size`` in ``sample_batch`` is the repeat count n (``size_axis="repeats"``, the default)
    or the length L (``size_axis="length"``); the other one is still drawn from its training
    range, and the repeat count is always normalised over the training range of n. So
    ``python -m ntm.evaluate RUN task.size_axis=length`` tests longer sequences and the
    default evaluation more repeats.

    Args:
        width: bits per vector (the paper: 8).
        min_length, max_length: the training range of L, both inclusive (the paper: 1..10).
        min_repeats, max_repeats: the training range of n, both inclusive (the paper: 1..10).
        size_axis: what ``size`` in ``sample_batch`` fixes: ``"repeats"`` (n) or
            ``"length"`` (L). Training never passes a size, so this only matters for
            generalisation tests.
    """

    name = "repeat_copy"
    size_name = "repeats"
    # The top of the training range, and beyond it: the paper's end marker fails past ~11.
    generalisation_sizes = (10, 12, 15, 20)
    #: The sizes of ``size_axis="length"``: the top of the training range and beyond.
    length_sizes = (10, 15, 20, 30)
    SIZE_AXES = ("repeats", "length")

    def __init__(
        self,
        width: int = 8,
        min_length: int = 1,
        max_length: int = 10,
        min_repeats: int = 1,
        max_repeats: int = 10,
        size_axis: str = "repeats",
    ) -> None:
        self.width = require_int("task.width", width, 1)
        self.min_length = require_int("task.min_length", min_length, 1)
        self.max_length = require_int("task.max_length", max_length, 1)
        require_at_most("task.min_length", min_length, "task.max_length", max_length)
        self.min_repeats = require_int("task.min_repeats", min_repeats, 1)
        self.max_repeats = require_int("task.max_repeats", max_repeats, 1)
        require_at_most("task.min_repeats", min_repeats, "task.max_repeats", max_repeats)
        if size_axis not in self.SIZE_AXES:
            raise ValueError(f"task.size_axis is {size_axis!r}; it must be repeats or length.")
        self.size_axis = size_axis
        if size_axis == "length":  # instance attributes shadow the class's
            self.size_name = "length"
            self.generalisation_sizes = self.length_sizes
        self.input_width = width + 2
        self.output_width = width + 1
        # Mean and variance of n uniform over min_repeats..max_repeats.
        count = max_repeats - min_repeats + 1
        self.repeat_mean = (min_repeats + max_repeats) / 2
        self.repeat_std = math.sqrt((count**2 - 1) / 12)

    def __repr__(self) -> str:
        return (
            f"RepeatCopyTask(width={self.width}, min_length={self.min_length}, "
            f"max_length={self.max_length}, min_repeats={self.min_repeats}, "
            f"max_repeats={self.max_repeats}, size_axis={self.size_axis!r})"
        )

    @staticmethod
    def num_steps(length: int, repeats: int) -> int:
        """T of a sequence of ``length`` vectors repeated ``repeats`` times."""
        return (repeats + 1) * length + 2

    @property
    def max_steps(self) -> int:
        return self.num_steps(self.max_length, self.max_repeats)

    @property
    def largest_training_size(self) -> int:
        return self.max_length if self.size_axis == "length" else self.max_repeats

    def scaled_like(self, full: Task) -> Task:
        """This task with ``full``'s normalisation of the repeat count: a curriculum that
        starts with fewer repeats must not move the value that stands for n."""
        if not isinstance(full, RepeatCopyTask):
            raise TypeError(f"a repeat copy task cannot be scaled like {full!r}.")
        scaled = copy.copy(self)
        scaled.repeat_mean, scaled.repeat_std = full.repeat_mean, full.repeat_std
        return scaled

    def normalised_repeats(self, repeats: Tensor) -> Tensor:
        """The repeat channel's value: (n - mean) / standard deviation of the uniform
        distribution over the training range of n, whatever n is.

        A training range of one value has variance 0; then the value is n - mean (0 in
        training).

        Args:
            repeats: [B] int64, n of every sequence.

        Returns:
            [B] float32.
        """
        std = self.repeat_std if self.repeat_std > 0 else 1.0
        return (repeats.float() - self.repeat_mean) / std

    def sample_batch(
        self, generator: torch.Generator, batch_size: int, size: int | None = None
    ) -> Batch:
        """See ``Task.sample_batch``; ``size`` is the repeat count n or the length L of every
        sequence, as ``size_axis`` says."""
        by_length = self.size_axis == "length"
        lengths = draw_sizes(
            generator,
            batch_size,
            size if by_length else None,
            (self.min_length, self.max_length),
            1,
            "the length",
        )  # (B,)
        repeats = draw_sizes(
            generator,
            batch_size,
            None if by_length else size,
            (self.min_repeats, self.max_repeats),
            1,
            "the number of repeats",
        )  # (B,)
        vectors = torch.randint(
            0,
            2,
            (int(lengths.max()), batch_size, self.width),
            generator=generator,
            device=generator.device,
        ).float()  # (L_max, B, W)
        return self.layout(vectors, lengths, repeats)

    def layout(self, vectors: Tensor, lengths: Tensor, repeats: Tensor) -> Batch:
        """The batch that shows ``vectors`` and asks for them ``repeats`` times.

        Args:
            vectors: [L_max, B, W] of 0/1; sequence b uses rows 0..lengths[b]-1.
            lengths: [B] int64, L of every sequence, 1..L_max.
            repeats: [B] int64, n of every sequence, >= 1.

        Returns:
            A ``Batch`` with T = max over the batch of (n + 1) L + 2.
        """
        longest, _, width = vectors.shape
        steps = int(((repeats + 1) * lengths).max()) + 2
        step = torch.arange(steps, device=vectors.device).unsqueeze(1)  # (T, 1)
        length, n = lengths.unsqueeze(0), repeats.unsqueeze(0)  # (1, B) each
        is_presented = step < length  # (T, B)
        is_delimiter = step == length
        is_answer = (step > length) & (step <= length + n * length)
        is_end = step == length + n * length + 1

        # Step t presents vector t; answer step t recalls vector (t - L - 1) mod L. Other steps
        # read an arbitrary valid row and are zeroed below.
        index = torch.where(is_answer, (step - length - 1) % length, step).clamp(0, longest - 1)
        shown = vectors.gather(0, index.unsqueeze(-1).expand(-1, -1, width))  # (T, B, W)

        repeat = self.normalised_repeats(repeats).unsqueeze(0)  # (1, B)
        repeat_channel = torch.where(is_delimiter, repeat, 0.0)  # (T, B)
        inputs = torch.cat(
            [
                shown * is_presented.unsqueeze(-1),
                is_delimiter.unsqueeze(-1).float(),
                repeat_channel.unsqueeze(-1),
            ],
            dim=-1,
        )  # (T, B, W + 2)
        targets = torch.cat(
            [shown * is_answer.unsqueeze(-1), is_end.unsqueeze(-1).float()], dim=-1
        )  # (T, B, W + 1)
        scored = (is_answer | is_end).unsqueeze(-1).float()  # (T, B, 1)
        return Batch(
            inputs=inputs, targets=targets, mask=scored.expand(-1, -1, width + 1).contiguous()
        )
