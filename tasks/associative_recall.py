"""The associative recall task (Graves et al. 2014, section 4.3): given an item of a list,
recall the item that followed it."""

from __future__ import annotations

import torch

from tasks.base import Batch, Task, draw_sizes, require_at_most, require_int

__all__ = ["AssociativeRecallTask"]


class AssociativeRecallTask(Task):
    """Show n items, then one of them as a query; answer with the item that followed it.

    An item is ``item_length`` random bit vectors (every bit Bernoulli(1/2)). Input channel
    ``width`` is the item delimiter, channel ``width + 1`` the query delimiter. For n items
    the steps are:

    - each item in turn: one step with only the item delimiter set, then its vectors;
    - one query-delimiter step, the query item's vectors, a second query-delimiter step;
    - ``item_length`` answer steps with zero input, whose targets are the item that followed
      the query in the list; the mask is 1 on exactly these steps, every channel.

    So T = n (item_length + 1) + 2 item_length + 2. The query is one of items 0..n-2, drawn
    uniformly, never the last item (it has no successor). Items are drawn independently and
    are not forced to be distinct: with the paper's 3 x 6 = 18 bits a repeat among 6 items
    has probability about 6e-5 per sequence, and a repeat of the query item makes that
    sequence's answer ambiguous.

    Worked example, width 2, item_length 1, n = 3 items a = 10, b = 01, c = 11, query b, so
    the target is c (``|`` before the item and query delimiter channels)::

        step   input    target  mask
           0   00|10     00      00     item delimiter
           1   10|00     00      00     a
           2   00|10     00      00     item delimiter
           3   01|00     00      00     b
           4   00|10     00      00     item delimiter
           5   11|00     00      00     c
           6   00|01     00      00     query delimiter
           7   01|00     00      00     query: b
           8   00|01     00      00     query delimiter
           9   00|00     11      11     answer: c

    Args:
        width: bits per vector (the paper: 6).
        item_length: vectors per item (the paper: 3).
        min_items, max_items: the training range of n, both inclusive (the paper: 2..6).
    """

    name = "associative_recall"
    size_name = "items"
    generalisation_sizes = (6, 10, 15, 20)  # the paper's numbers of items

    def __init__(
        self, width: int = 6, item_length: int = 3, min_items: int = 2, max_items: int = 6
    ) -> None:
        self.width = require_int("task.width", width, 1)
        self.item_length = require_int("task.item_length", item_length, 1)
        # Two items at least: the query must have a successor.
        self.min_items = require_int("task.min_items", min_items, 2)
        self.max_items = require_int("task.max_items", max_items, 2)
        require_at_most("task.min_items", min_items, "task.max_items", max_items)
        self.input_width = width + 2
        self.output_width = width

    def __repr__(self) -> str:
        return (
            f"AssociativeRecallTask(width={self.width}, item_length={self.item_length}, "
            f"min_items={self.min_items}, max_items={self.max_items})"
        )

    def num_steps(self, num_items: int) -> int:
        """T of a sequence of ``num_items`` items."""
        return num_items * (self.item_length + 1) + 2 * self.item_length + 2

    @property
    def max_steps(self) -> int:
        return self.num_steps(self.max_items)

    @property
    def largest_training_size(self) -> int:
        return self.max_items

    def sample_batch(
        self, generator: torch.Generator, batch_size: int, size: int | None = None
    ) -> Batch:
        """See ``Task.sample_batch``; ``size`` is the number of items n of every sequence."""
        device = generator.device
        k = self.item_length
        counts = draw_sizes(
            generator, batch_size, size, (self.min_items, self.max_items), 2, "the number of items"
        )  # (B,)
        most = int(counts.max())
        # Vector j of item i is row i * k + j.
        rows = torch.randint(
            0, 2, (most * k, batch_size, self.width), generator=generator, device=device
        ).float()  # (n_max * k, B, W)
        # Uniform over 0..n-2; the clamp only guards the rounding of u * (n - 1) up to n - 1.
        uniform = torch.rand(batch_size, generator=generator, device=device, dtype=torch.float64)
        query = (uniform * (counts - 1)).long().clamp(max=counts - 2).unsqueeze(0)  # (1, B)

        step = torch.arange(self.num_steps(most), device=device).unsqueeze(1)  # (T, 1)
        n = counts.unsqueeze(0)  # (1, B)
        in_list = step < n * (k + 1)  # (T, B)
        item, offset = step // (k + 1), step % (k + 1)  # (T, 1) each
        is_item_delimiter = in_list & (offset == 0)
        is_item_vector = in_list & (offset > 0)
        after = step - n * (k + 1)  # (T, B): steps since the list ended
        is_query_delimiter = (after == 0) | (after == k + 1)
        is_query_vector = (after >= 1) & (after <= k)
        is_answer = (after >= k + 2) & (after <= 2 * k + 1)

        # Which row each step shows or recalls; steps that show none read row 0, zeroed below.
        index = torch.where(is_item_vector, item * k + offset - 1, 0)
        index = torch.where(is_query_vector, query * k + after - 1, index)
        index = torch.where(is_answer, (query + 1) * k + after - (k + 2), index)  # (T, B)
        shown = rows.gather(0, index.unsqueeze(-1).expand(-1, -1, self.width))  # (T, B, W)

        is_vector = (is_item_vector | is_query_vector).unsqueeze(-1)  # (T, B, 1)
        inputs = torch.cat(
            [
                shown * is_vector,
                is_item_delimiter.unsqueeze(-1).float(),
                is_query_delimiter.unsqueeze(-1).float(),
            ],
            dim=-1,
        )  # (T, B, W + 2)
        answer = is_answer.unsqueeze(-1).float()  # (T, B, 1)
        return Batch(
            inputs=inputs,
            targets=shown * answer,
            mask=answer.expand(-1, -1, self.width).contiguous(),
        )
