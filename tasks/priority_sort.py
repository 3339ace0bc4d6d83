"""The priority sort task (Graves et al. 2014, section 4.5): read vectors with priorities,
write the highest-priority ones back in order of priority."""

from __future__ import annotations

import torch
from torch import Tensor

from tasks.base import Batch, Task, require_at_most, require_int

__all__ = ["PrioritySortTask"]


class PrioritySortTask(Task):
    """Sort random bit vectors by their priorities and write back the highest ones.

    With n input vectors and k = min(num_outputs, n) answers, T = n + k + 1 steps:

    - steps 0..n-1 carry the vectors (every bit Bernoulli(1/2)) on input channels
      0..width-1 and each vector's priority, uniform on [-1, 1], on channel ``width``;
    - step n sets only the delimiter channel ``width + 1``;
    - steps n+1..n+k have zero input; their targets are the k vectors of highest priority,
      highest first, each vector whole (the rows are sorted, never the bit columns on their
      own). The mask is 1 on exactly these steps, every channel.

    Equal priorities (float32 draws: a tie among 20 has probability about 1e-5 per sequence)
    keep their input order.

    Worked example, width 2, n = 3, num_outputs 2; vectors a = 10, b = 01, c = 11 with
    priorities 0.5, -0.3, 0.9 (``|`` before the priority and the delimiter channels)::

        step   input          target  mask
           0   10| 0.5|0       00      00
           1   01|-0.3|0       00      00
           2   11| 0.9|0       00      00
           3   00| 0.0|1       00      00     delimiter
           4   00| 0.0|0       11      11     c (0.9)
           5   00| 0.0|0       10      11     a (0.5)

    The task has no training range of sizes: ``size`` in ``sample_batch`` is the number of
    input vectors n (default ``num_inputs``), still answered with the ``num_outputs`` best
    (all n, sorted, when n is smaller).

    Args:
        width: bits per vector (the paper: 8).
        num_inputs: n, the vectors per sequence (the paper: 20).
        num_outputs: k, the vectors written back (the paper: 16), at most ``num_inputs``.
    """

    name = "priority_sort"
    size_name = "inputs"
    # The paper's 20, then more vectors to choose the same 16 from (memory holds 128).
    generalisation_sizes = (20, 30, 40, 60)

    def __init__(self, width: int = 8, num_inputs: int = 20, num_outputs: int = 16) -> None:
        self.width = require_int("task.width", width, 1)
        self.num_inputs = require_int("task.num_inputs", num_inputs, 1)
        self.num_outputs = require_int("task.num_outputs", num_outputs, 1)
        require_at_most("task.num_outputs", num_outputs, "task.num_inputs", num_inputs)
        self.input_width = width + 2
        self.output_width = width

    def __repr__(self) -> str:
        return (
            f"PrioritySortTask(width={self.width}, num_inputs={self.num_inputs}, "
            f"num_outputs={self.num_outputs})"
        )

    def num_steps(self, num_inputs: int) -> int:
        """T of a sequence of ``num_inputs`` input vectors."""
        return num_inputs + min(self.num_outputs, num_inputs) + 1

    @property
    def max_steps(self) -> int:
        return self.num_steps(self.num_inputs)

    @property
    def largest_training_size(self) -> int:
        return self.num_inputs

    def sample_batch(
        self, generator: torch.Generator, batch_size: int, size: int | None = None
    ) -> Batch:
        """See ``Task.sample_batch``; ``size`` is the number of input vectors n."""
        require_int("batch_size", batch_size, 1)
        n = self.num_inputs if size is None else require_int("size (the number of inputs)", size, 1)
        device = generator.device
        vectors = torch.randint(
            0, 2, (n, batch_size, self.width), generator=generator, device=device
        ).float()  # (n, B, W)
        priorities = torch.rand(n, batch_size, generator=generator, device=device) * 2 - 1
        return self.layout(vectors, priorities)

    def layout(self, vectors: Tensor, priorities: Tensor) -> Batch:
        """The batch that shows ``vectors`` with ``priorities`` and asks for the best, sorted.

        Args:
            vectors: [n, B, W] of 0/1.
            priorities: [n, B] float.

        Returns:
            A ``Batch`` with T = n + min(num_outputs, n) + 1.
        """
        n, batch, width = vectors.shape
        k = min(self.num_outputs, n)
        # Rank the rows (whole vectors) by priority, highest first; ties keep input order.
        order = torch.sort(priorities, dim=0, descending=True, stable=True).indices  # (n, B)
        best = vectors.gather(0, order[:k].unsqueeze(-1).expand(-1, -1, width))  # (k, B, W)

        zeros = vectors.new_zeros
        shown = torch.cat(
            [vectors, priorities.unsqueeze(-1).to(vectors), zeros(n, batch, 1)], dim=-1
        )  # (n, B, W + 2)
        delimiter = zeros(1, batch, width + 2)
        delimiter[..., width + 1] = 1.0
        inputs = torch.cat([shown, delimiter, zeros(k, batch, width + 2)])  # (T, B, W + 2)
        targets = torch.cat([zeros(n + 1, batch, width), best])  # (T, B, W)
        mask = torch.cat([zeros(n + 1, batch, width), vectors.new_ones(k, batch, width)])
        return Batch(inputs=inputs, targets=targets, mask=mask)
