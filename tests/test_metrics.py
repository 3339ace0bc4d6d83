"""Tests for the loss and the paper's metrics against hand-computed values and a slow loop."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ntm.experiment.metrics import (
    bit_errors_per_sequence,
    cost_per_sequence,
    evaluate_batches,
    training_loss,
)
from tasks import Batch

LN3 = math.log(3.0)


def hand_example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """T = 2 steps, B = 2 sequences, W = 2 bits; [T, B, W] each.

    The logits are chosen so each bit's cross-entropy is simple in bits: logit 0 costs 1 bit
    whatever the target; logit ln 3 is p = 3/4, so target 1 costs log2(4/3) and target 0
    costs log2(4) = 2; logit -ln 3 is p = 1/4, the mirror image.

    sequence 0: step 0  logits [0, ln3]     targets [1, 0]  mask [1, 1] -> 1 + 2 bits, 2 errors
                step 1  logits [-ln3, 5]    targets [0, 1]  mask [1, 0] -> log2(4/3), 0 errors
    sequence 1: step 0  logits [100, -100]  targets [0, 1]  mask [0, 0] -> nothing (masked)
                step 1  logits [ln3, -ln3]  targets [1, 1]  mask [1, 1] -> log2(4/3) + 2, 1 error
    """
    logits = torch.tensor([
        [[0.0, LN3], [100.0, -100.0]],
        [[-LN3, 5.0], [LN3, -LN3]],
    ])
    targets = torch.tensor([
        [[1.0, 0.0], [0.0, 1.0]],
        [[0.0, 1.0], [1.0, 1.0]],
    ])
    mask = torch.tensor([
        [[1.0, 1.0], [0.0, 0.0]],
        [[1.0, 0.0], [1.0, 1.0]],
    ])
    return logits, targets, mask


def test_cost_per_sequence_hand_example() -> None:
    cost = cost_per_sequence(*hand_example())
    expected = [3.0 + math.log2(4 / 3), 2.0 + math.log2(4 / 3)]
    assert cost.shape == (2,)
    assert cost.tolist() == pytest.approx(expected, rel=1e-6)


def test_cost_is_nats_over_ln2() -> None:
    logits, targets, mask = hand_example()
    nats = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, targets, reduction="none"
    ) * mask
    expected = nats.sum(dim=(0, 2)) / math.log(2)
    torch.testing.assert_close(cost_per_sequence(logits, targets, mask), expected)


def test_bit_errors_hand_example() -> None:
    errors = bit_errors_per_sequence(*hand_example())
    assert errors.dtype.is_floating_point
    assert errors.tolist() == [2.0, 1.0]


def test_bit_errors_threshold_is_strictly_above_one_half() -> None:
    # p = 0.5 exactly (logit 0) predicts 0; the smallest positive logit predicts 1.
    logits = torch.tensor([0.0, 1e-6, -1e-6]).view(1, 1, 3)
    ones = torch.ones(1, 1, 3)
    assert bit_errors_per_sequence(logits, ones, ones).tolist() == [2.0]
    assert bit_errors_per_sequence(logits, torch.zeros(1, 1, 3), ones).tolist() == [1.0]


def test_training_loss_hand_example() -> None:
    # 5 scored bits; their cross-entropies in bits sum to 5 + 2 log2(4/3).
    loss = training_loss(*hand_example())
    expected_nats = (5 * math.log(2) + 2 * math.log(4 / 3)) / 5
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(expected_nats, rel=1e-6)


def test_training_loss_per_sequence_hand_example() -> None:
    # The same 5 scored bits summed, over a batch of 2 sequences: the paper's objective.
    loss = training_loss(*hand_example(), per="per_sequence")
    expected_nats = (5 * math.log(2) + 2 * math.log(4 / 3)) / 2
    assert loss.item() == pytest.approx(expected_nats, rel=1e-6)
    # the mean of the paper's cost per sequence, in nats
    cost = cost_per_sequence(*hand_example()).mean().item() * math.log(2)
    assert loss.item() == pytest.approx(cost, rel=1e-6)


def test_training_loss_refuses_another_reduction() -> None:
    with pytest.raises(ValueError, match="per_bit, per_sequence"):
        training_loss(*hand_example(), per="sum")


def test_training_loss_of_nothing_scored_is_zero() -> None:
    logits, targets, mask = hand_example()
    assert training_loss(logits, targets, torch.zeros_like(mask)).item() == 0.0


def test_training_loss_gradient_only_reaches_scored_bits() -> None:
    logits, targets, mask = hand_example()
    logits.requires_grad_(True)
    training_loss(logits, targets, mask).backward()
    assert torch.all(logits.grad[mask == 0] == 0)
    assert torch.all(logits.grad[mask == 1] != 0)


def slow_metrics(logits, targets, mask) -> tuple[list[float], list[float], float]:
    """Per-sequence cost (bits) and bit errors, and the mean nats per scored bit, by loops."""
    steps, batch, width = logits.shape
    costs, errors = [], []
    total_nats, scored = 0.0, 0
    for b in range(batch):
        cost = wrong = 0.0
        for t in range(steps):
            for w in range(width):
                if mask[t, b, w] == 0:
                    continue
                p = 1 / (1 + math.exp(-float(logits[t, b, w])))
                y = float(targets[t, b, w])
                nats = -(y * math.log(p) + (1 - y) * math.log(1 - p))
                total_nats += nats
                scored += 1
                cost += nats / math.log(2)
                wrong += float((p > 0.5) != (y == 1))
        costs.append(cost)
        errors.append(wrong)
    return costs, errors, total_nats / max(scored, 1)


shapes = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_metrics_match_slow_loop(shape, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    targets = torch.randint(0, 2, shape, generator=g).double()
    mask = torch.randint(0, 2, shape, generator=g).double()
    costs, errors, loss = slow_metrics(logits, targets, mask)
    assert cost_per_sequence(logits, targets, mask).tolist() == pytest.approx(costs, abs=1e-9)
    assert bit_errors_per_sequence(logits, targets, mask).tolist() == errors
    assert training_loss(logits, targets, mask).item() == pytest.approx(loss, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_masked_positions_never_count(shape, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g) * 3
    targets = torch.randint(0, 2, shape, generator=g).float()
    mask = torch.randint(0, 2, shape, generator=g).float()
    # Anything at all where the mask is 0: huge logits and flipped targets.
    hidden = mask == 0
    other_logits = torch.where(hidden, -1e4 * torch.sign(logits - 0.5), logits)
    other_targets = torch.where(hidden, 1 - targets, targets)
    for metric in (cost_per_sequence, bit_errors_per_sequence, training_loss):
        assert torch.equal(
            metric(logits, targets, mask), metric(other_logits, other_targets, mask)
        ), metric.__name__


class Identity(nn.Module):
    """A "model" whose logits are its inputs; it records whether gradients were enabled."""

    def __init__(self) -> None:
        super().__init__()
        self.grad_enabled: list[bool] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.grad_enabled.append(torch.is_grad_enabled())
        return inputs


def test_evaluate_batches_averages_over_sequences_not_batches() -> None:
    logits, targets, mask = hand_example()  # 2 sequences: costs c0, c1; errors 2, 1
    # A second batch of one sequence, all scored and all wrong: logit ln 3 against target 0.
    single = Batch(torch.full((1, 1, 2), LN3), torch.zeros(1, 1, 2), torch.ones(1, 1, 2))
    model = Identity()
    result = evaluate_batches(model, [Batch(logits, targets, mask), single])
    costs = [3.0 + math.log2(4 / 3), 2.0 + math.log2(4 / 3), 4.0]
    assert result["sequences"] == 3
    assert result["cost"] == pytest.approx(sum(costs) / 3, rel=1e-6)
    assert result["bit_errors"] == pytest.approx((2 + 1 + 2) / 3)
    assert model.grad_enabled == [False, False]
