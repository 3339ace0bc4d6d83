"""Loss and the paper's metrics over masked, batched sequences (docs/paper.md).

Shapes: T steps, B sequences, W output width. ``mask`` is 1 on the target bits that are
scored and 0 elsewhere (the input phase, padding after a shorter sequence).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LOSSES", "training_loss", "cost_per_sequence", "wrong_bits", "bit_errors_per_sequence",
           "evaluate_batches", "optimal_cost_per_sequence"]


def _bce_nats(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """[T, B, W] binary cross-entropy in nats, zero where the mask is 0."""
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * mask


#: ``train.loss``: what the training objective averages.
LOSSES = ("per_bit", "per_sequence")


def training_loss(logits: Tensor, targets: Tensor, mask: Tensor, per: str = "per_bit",
                  ) -> Tensor:
    """The objective, a scalar in nats: binary cross-entropy averaged over the scored bits
    (``per="per_bit"``), or summed over each sequence's scored bits and averaged over the
    batch (``"per_sequence"``, the paper's objective).

    A mean per bit keeps the gradient scale independent of sequence length and batch size, so
    one clipping threshold fits every task. The paper's sum per sequence has gradients about
    as many times larger as a sequence has target bits (84 on copy); thresholds that are not
    scale-free, such as value clipping at 10 and RMSProp's damping, were set for that sum.
    """
    bce = _bce_nats(logits, targets, mask)
    if per == "per_sequence":
        return bce.sum() / logits.shape[1]
    if per == "per_bit":
        return bce.sum() / mask.sum().clamp_min(1)
    raise ValueError(f"per is {per!r}; it must be one of {', '.join(LOSSES)}.")


def cost_per_sequence(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """The paper's cost: cross-entropy summed over each sequence's scored bits, in bits.

    Args: logits, targets, mask: [T, B, W].

    Returns: [B].
    """
    return _bce_nats(logits, targets, mask).sum(dim=(0, 2)) / math.log(2)


def wrong_bits(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """The scored bits whose thresholded output (p > 0.5, i.e. logit > 0) is wrong.

    Args: logits, targets, mask: [T, B, W] (or any one shape).

    Returns: bool, the same shape.
    """
    return ((logits > 0).to(targets.dtype) != targets) & (mask > 0)


def bit_errors_per_sequence(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """The number of ``wrong_bits`` of each sequence.

    Args: logits, targets, mask: [T, B, W].

    Returns: [B], float.
    """
    return wrong_bits(logits, targets, mask).to(mask.dtype).sum(dim=(0, 2))


@torch.no_grad()
def evaluate_batches(model: torch.nn.Module, batches) -> dict[str, float]:
    """Mean cost (bits) and bit errors per sequence of ``model`` over an iterable of batches."""
    cost = errors = count = 0.0
    for batch in batches:
        logits = model(batch.inputs)
        cost += cost_per_sequence(logits, batch.targets, batch.mask).sum().item()
        errors += bit_errors_per_sequence(logits, batch.targets, batch.mask).sum().item()
        count += batch.inputs.shape[1]
    return {"cost": cost / count, "bit_errors": errors / count, "sequences": int(count)}


def optimal_cost_per_sequence(task, batches) -> float | None:
    """The Bayes-optimal predictor's mean cost per sequence (bits) over an iterable of
    batches of ``task``, or None for a task without one (``Task.optimal_cost``)."""
    batches = list(batches)
    costs = [task.optimal_cost(batch) for batch in batches]
    if costs[0] is None:
        return None
    return float(torch.cat(costs).sum()) / sum(batch.inputs.shape[1] for batch in batches)
