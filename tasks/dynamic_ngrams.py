"""The dynamic N-grams task (Graves et al. 2014, section 4.4): predict the next bit of a
sequence drawn from a random 6-gram model, which must be learned afresh from each sequence."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from tasks.base import Batch, Task, require_int

__all__ = ["DynamicNGramsTask", "draw_beta_half", "draw_sequences"]

#: Bits of context of a 6-gram model: the five before the bit predicted.
CONTEXT_BITS = 5
NUM_CONTEXTS = 2**CONTEXT_BITS


def draw_beta_half(generator: torch.Generator, shape: tuple[int, ...]) -> Tensor:
    """Beta(1/2, 1/2) variates from ``generator`` only.

    Beta(1/2, 1/2) is the arcsine distribution, with CDF F(p) = (2 / pi) arcsin(sqrt(p)); so
    for U uniform on [0, 1), p = sin^2(pi U / 2) has exactly that distribution (inverse CDF).

    Returns:
        ``shape`` float32 on the generator's device, in [0, 1].
    """
    uniform = torch.rand(shape, generator=generator, device=generator.device)
    return torch.sin(uniform * (math.pi / 2)) ** 2


def draw_sequences(generator: torch.Generator, tables: Tensor, length: int) -> Tensor:
    """Bit sequences drawn from 6-gram tables.

    The first 5 bits are Bernoulli(1/2); bit t >= 5 is 1 with probability
    ``tables[b, c]``, where the context c = sum_k x[t - 1 - k] 2^k reads the previous 5 bits,
    the most recent as the lowest bit.

    Args:
        generator: the source of randomness.
        tables: [B, 32] float, P(next bit = 1 | context) of every sequence.
        length: N, the bits per sequence, >= 1.

    Returns:
        [N, B] float32 of 0/1.
    """
    batch_size = tables.shape[0]
    uniform = torch.rand((length, batch_size), generator=generator, device=tables.device)  # (N, B)
    bits = torch.empty(length, batch_size, dtype=torch.int64, device=tables.device)
    start = min(length, CONTEXT_BITS)
    bits[:start] = (uniform[:start] < 0.5).long()
    context = torch.zeros(batch_size, dtype=torch.int64, device=tables.device)  # (B,)
    for t in range(start):
        context = (context << 1) | bits[t]
    for t in range(start, length):  # each bit depends on the last ones: a loop over time
        p_one = tables.gather(1, context.unsqueeze(1)).squeeze(1)  # (B,)
        bits[t] = (uniform[t] < p_one).long()
        context = ((context << 1) | bits[t]) & (NUM_CONTEXTS - 1)
    return bits.float()


class DynamicNGramsTask(Task):
    """Read a bit sequence one bit at a time and predict each next bit.

    Every sequence has its own 6-gram model: for each of the 32 five-bit contexts, the
    probability that the next bit is 1 is drawn from Beta(1/2, 1/2). The first 5 bits are
    Bernoulli(1/2), each later bit follows the table given the 5 bits before it.

    A sequence of N bits x_0..x_{N-1} has T = N - 1 steps: step t reads x_t (input width 1)
    and its target is x_{t+1} (output width 1). Every step is scored (mask 1), so a sequence's
    cost covers the N - 1 bits x_1..x_{N-1}; x_0 is only read, never predicted. All sequences
    of a batch have the same N, so there is no padding.

    The Bayes-optimal predictor (``optimal_probabilities``) at step t, with the 5-bit context
    c = x_{t-4}..x_t, predicts P(x_{t+1} = 1) = (N1 + 1/2) / (N1 + N0 + 1), where N1 and N0
    count how often c was followed by 1 and by 0 before, in the same sequence (the posterior
    mean under the Beta(1/2, 1/2) prior). Steps 0..3 have fewer than 5 bits read and predict
    1/2, as does a context's first occurrence.

    Worked example, N = 10 bits 1010101010, so T = 9::

        step  input  target  context x_{t-4}..x_t       optimal P(1)
           0    1      0      -                            1/2
           1    0      1      -                            1/2
           2    1      0      -                            1/2
           3    0      1      -                            1/2
           4    1      0      10101 new                    1/2
           5    0      1      01010 new                    1/2
           6    1      0      10101 after 0 once           (0 + 1/2) / 2 = 1/4
           7    0      1      01010 after 1 once           (1 + 1/2) / 2 = 3/4
           8    1      0      10101 after 0 twice          (0 + 1/2) / 3 = 1/6

    Its optimal cost is 6 + 2 log2(4/3) + log2(6/5) = 7.093 bits.

    At N = 200 the optimal cost averages 132.2 bits per sequence (measured on 100,000
    sequences; standard error 0.1), over the 199 predicted bits. The paper's "about 133 bits
    per sequence" is the same predictor within the precision of its figure; scoring x_0 as
    well would add exactly 1 bit (any predictor without information pays 1 bit for it).

    The task has no training range of sizes: ``size`` in ``sample_batch`` is the sequence
    length N in bits (default ``length``), and the generalisation sizes are longer sequences,
    where the counts grow past those seen in training.

    Args:
        length: N, bits per sequence (the paper: 200), >= 2.
    """

    name = "dynamic_ngrams"
    size_name = "length"
    generalisation_sizes = (200, 500, 1000)

    def __init__(self, length: int = 200) -> None:
        self.length = require_int("task.length", length, 2)
        self.input_width = 1
        self.output_width = 1

    def __repr__(self) -> str:
        return f"DynamicNGramsTask(length={self.length})"

    @property
    def max_steps(self) -> int:
        return self.length - 1

    @property
    def largest_training_size(self) -> int:
        return self.length

    def sample_batch(
        self, generator: torch.Generator, batch_size: int, size: int | None = None
    ) -> Batch:
        """See ``Task.sample_batch``; ``size`` is the length N in bits of every sequence."""
        require_int("batch_size", batch_size, 1)
        length = self.length if size is None else require_int("size (the length in bits)", size, 2)
        tables = draw_beta_half(generator, (batch_size, NUM_CONTEXTS))  # (B, 32)
        return self.layout(draw_sequences(generator, tables, length))

    @staticmethod
    def layout(bits: Tensor) -> Batch:
        """The batch that reads ``bits`` and predicts each next one.

        Args:
            bits: [N, B] of 0/1, N >= 2.

        Returns:
            A ``Batch`` of T = N - 1 steps, inputs, targets and mask [T, B, 1].
        """
        bits = bits.float().unsqueeze(-1)  # (N, B, 1)
        return Batch(inputs=bits[:-1], targets=bits[1:], mask=torch.ones_like(bits[1:]))

    @staticmethod
    def optimal_probabilities(batch: Batch) -> Tensor:
        """The Bayes-optimal P(target = 1) at every step, from the bits read so far.

        Vectorised over the batch, a loop over time: the counts of every (context, next bit)
        pair are updated after each step's prediction.

        Args:
            batch: a batch of this task; contexts come from the inputs, outcomes from the
                targets.

        Returns:
            [T, B, 1] float32 on the batch's device.
        """
        read = batch.inputs[..., 0].long()  # (T, B)
        outcome = batch.targets[..., 0].long()  # (T, B)
        steps, batch_size = read.shape
        # counts[b, 2c + bit]: how often context c was followed by bit; exact in float32.
        counts = torch.zeros(batch_size, 2 * NUM_CONTEXTS, device=read.device)
        context = torch.zeros(batch_size, dtype=torch.int64, device=read.device)  # (B,)
        p_one = torch.full((steps, batch_size), 0.5, device=read.device)
        for t in range(steps):
            # Context x_{t-4}..x_t, the most recent bit lowest.
            context = ((context << 1) | read[t]) & (NUM_CONTEXTS - 1)
            if t < CONTEXT_BITS - 1:  # fewer than 5 bits read: 1/2
                continue
            zeros = counts.gather(1, (2 * context).unsqueeze(1)).squeeze(1)  # (B,): N0
            ones = counts.gather(1, (2 * context + 1).unsqueeze(1)).squeeze(1)  # N1
            p_one[t] = (ones + 0.5) / (ones + zeros + 1.0)
            event = (2 * context + outcome[t]).unsqueeze(1)  # (B, 1)
            counts.scatter_add_(1, event, torch.ones_like(event, dtype=counts.dtype))
        return p_one.unsqueeze(-1)

    def optimal_cost(self, batch: Batch) -> Tensor:
        """The Bayes-optimal predictor's cost in bits per sequence, [B]; see ``Task``."""
        p_one = self.optimal_probabilities(batch)  # (T, B, 1)
        likelihood = torch.where(batch.targets > 0.5, p_one, 1.0 - p_one)
        return -(torch.log2(likelihood) * batch.mask).sum(dim=(0, 2))  # (B,)
