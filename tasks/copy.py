"""The copy task (Graves et al. 2014, section 4.1): read a sequence, then write it back."""

from __future__ import annotations

import torch

from tasks.base import Batch, Task, draw_sizes, require_at_most, require_int

__all__ = ["CopyTask"]


class CopyTask(Task):
    """Copy L random bit vectors after a delimiter flag.

    A sequence of length L has T = 2L + 1 steps. Steps 0..L-1 carry the L vectors (every
    bit Bernoulli(1/2)) on channels 0..width-1; step L sets only the delimiter channel
    ``width``; on steps L+1..2L the input is zero and the targets are the L vectors in order.
    The mask is 1 on exactly those L answer steps, every channel.

    Worked example, width 2, L = 2, vectors x0 = 10 and x1 = 11 (``|`` before the delimiter
    channel)::

        step   input   target  mask
           0   10|0      00     00
           1   11|0      00     00
           2   00|1      00     00
           3   00|0      10     11
           4   00|0      11     11

    Args:
        width: bits per vector (the paper: 8).
        min_length, max_length: the training range of L, both inclusive (the paper: 1..20).
    """

    name = "copy"
    size_name = "length"
    generalisation_sizes = (10, 20, 30, 50, 80, 120)  # the paper's lengths, and 80

    def __init__(self, width: int = 8, min_length: int = 1, max_length: int = 20) -> None:
        self.width = require_int("task.width", width, 1)
        self.min_length = require_int("task.min_length", min_length, 1)
        self.max_length = require_int("task.max_length", max_length, 1)
        require_at_most("task.min_length", min_length, "task.max_length", max_length)
        self.input_width = width + 1
        self.output_width = width

    def __repr__(self) -> str:
        return (
            f"CopyTask(width={self.width}, min_length={self.min_length}, "
            f"max_length={self.max_length})"
        )

    @property
    def max_steps(self) -> int:
        return 2 * self.max_length + 1

    @property
    def largest_training_size(self) -> int:
        return self.max_length

    def sample_batch(
        self, generator: torch.Generator, batch_size: int, size: int | None = None
    ) -> Batch:
        """See ``Task.sample_batch``; ``size`` is the length L of every sequence."""
        device = generator.device
        lengths = draw_sizes(
            generator, batch_size, size, (self.min_length, self.max_length), 1, "the copy length"
        )  # (B,)
        longest = int(lengths.max())
        vectors = torch.randint(
            0, 2, (longest, batch_size, self.width), generator=generator, device=device
        ).float()  # (L_max, B, W)

        step = torch.arange(2 * longest + 1, device=device).unsqueeze(1)  # (T, 1)
        length = lengths.unsqueeze(0)  # (1, B)
        is_presented = step < length  # (T, B)
        is_delimiter = step == length
        is_answer = (step > length) & (step <= 2 * length)

        # Step t presents vector t; answer step t recalls vector t - L - 1. Other steps read
        # an arbitrary valid index and are zeroed below.
        index = torch.where(is_answer, step - length - 1, step).clamp(0, longest - 1)  # (T, B)
        index = index.unsqueeze(-1).expand(-1, -1, self.width)  # (T, B, W)
        shown = vectors.gather(0, index)  # (T, B, W)

        inputs = torch.cat(
            [shown * is_presented.unsqueeze(-1), is_delimiter.unsqueeze(-1).float()], dim=-1
        )  # (T, B, W + 1)
        answer = is_answer.unsqueeze(-1).float()  # (T, B, 1)
        return Batch(
            inputs=inputs,
            targets=shown * answer,
            mask=answer.expand(-1, -1, self.width).contiguous(),
        )
