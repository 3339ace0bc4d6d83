"""Rollback: it keeps the best evaluation's state, puts it back past its limit, round trips."""

from __future__ import annotations

import math
import random

import pytest
import torch

from ntm.experiment.average import WeightAverage
from ntm.experiment.rollback import Rollback, kept_evaluation


def _model_and_optimizer() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    return model, torch.optim.Adam(model.parameters(), lr=0.1)


def _train(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    optimizer.zero_grad()
    model(torch.randn(4, 3)).pow(2).sum().backward()
    optimizer.step()


def _weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_rolls_back_to_the_best_state_past_the_limit_only() -> None:
    model, optimizer = _model_and_optimizer()
    guard = Rollback(factor=10)
    assert guard.limit() == math.inf and not guard.step(40.0, model, optimizer)
    _train(model, optimizer)
    assert not guard.step(0.5, model, optimizer)  # the new best
    best, best_moments = _weights(model), optimizer.state_dict()["state"][0]["exp_avg"].clone()
    assert guard.limit() == 5.0  # 10 x 0.5
    _train(model, optimizer)
    assert not guard.step(4.0, model, optimizer)  # worse, but within the limit: kept
    assert not all(torch.equal(a, b) for a, b in zip(_weights(model), best, strict=True))
    _train(model, optimizer)
    assert guard.step(6.0, model, optimizer)  # past it: back to the best
    assert all(torch.equal(a, b) for a, b in zip(_weights(model), best, strict=True))
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], best_moments)
    assert guard.count == 1 and guard.best == 0.5


def test_a_rollback_puts_the_weight_average_back_too() -> None:
    """A run that averages its weights (train.ema_decay) gets the best evaluation's average
    back with its weights; an average begun after that evaluation is dropped."""
    model, optimizer = _model_and_optimizer()
    average, guard = WeightAverage(0.5), Rollback(factor=2)
    assert not guard.step(3.0, model, optimizer, average=average)  # a best before the start
    for sequences in (0, 4):
        _train(model, optimizer)
        average.update(model, sequences)
    assert not guard.step(2.0, model, optimizer, average=average)  # the best, averaged
    kept = {k: v.clone() for k, v in average.averaged.items()}
    for sequences in (8, 12):
        _train(model, optimizer)
        average.update(model, sequences)
    assert not all(torch.equal(average.averaged[k], v) for k, v in kept.items())
    assert guard.step(5.0, model, optimizer, average=average)
    assert all(torch.equal(average.averaged[k], v) for k, v in kept.items())
    late, guard = WeightAverage(0.5), Rollback(factor=2)
    assert not guard.step(2.0, model, optimizer, average=late)
    _train(model, optimizer)
    late.update(model, 0)
    assert guard.step(5.0, model, optimizer, average=late) and late.averaged is None


def test_the_limit_is_at_least_one_bit_error() -> None:
    model, optimizer = _model_and_optimizer()
    guard = Rollback(factor=10)
    guard.step(0.01, model, optimizer)
    assert guard.limit() == 1.0
    assert not guard.step(0.9, model, optimizer)  # noise near solving is not a collapse
    assert not guard.step(math.nan, model, optimizer)
    assert guard.step(1.5, model, optimizer)


def test_a_higher_floor_lets_noise_near_solving_pass_and_still_catches_a_collapse() -> None:
    """``train.rollback_min_bit_errors=10``: a jump from 0.05 to 1.9 bit errors (in copy often
    the step before solving) is kept; one back towards chance (37) is rolled back."""
    model, optimizer = _model_and_optimizer()
    guard = Rollback(factor=10, min_bit_errors=10)
    guard.step(0.05, model, optimizer)
    assert guard.limit() == 10.0
    assert not guard.step(1.9, model, optimizer)
    assert guard.step(37.0, model, optimizer)
    guard.step(0.0, model, optimizer)
    assert guard.limit() == 10.0


def test_each_rollback_scales_the_learning_rate_by_lr_factor() -> None:
    model, optimizer = _model_and_optimizer()
    guard = Rollback(factor=2, lr_factor=0.5)
    guard.step(3.0, model, optimizer)
    assert guard.scale == 1.0
    assert guard.step(7.0, model, optimizer) and guard.scale == 0.5
    assert guard.step(7.0, model, optimizer) and guard.scale == 0.25
    again = Rollback(factor=2, lr_factor=0.5)
    again.load_state_dict(guard.state_dict())  # the count travels, so a resumed run's rate too
    assert again.scale == 0.25


def test_state_round_trip() -> None:
    model, optimizer = _model_and_optimizer()
    guard = Rollback(factor=2)
    guard.step(3.0, model, optimizer)
    best = _weights(model)
    _train(model, optimizer)
    again = Rollback(factor=2)
    again.load_state_dict(guard.state_dict())
    assert again.step(7.0, model, optimizer)
    assert all(torch.equal(a, b) for a, b in zip(_weights(model), best, strict=True))


def test_a_rollback_keeps_the_optimizers_foreach_setting() -> None:
    """A best state saved by an optimizer without ``foreach`` (a checkpoint written before
    ``build_optimizer`` asked for it) puts back the moments, not that setting."""
    model, optimizer = _model_and_optimizer()
    guard = Rollback(factor=2)
    guard.step(3.0, model, optimizer)  # saved with foreach None
    optimizer.param_groups[0]["foreach"] = True
    _train(model, optimizer)
    assert guard.step(7.0, model, optimizer)
    assert optimizer.param_groups[0]["foreach"] is True


def test_the_best_evaluation_figures_travel_with_its_state() -> None:
    """The figures given with a new best are kept (and round-trip); a worse evaluation's are
    not; a checkpoint from before they were kept gives None."""
    model, optimizer = _model_and_optimizer()
    guard = Rollback(factor=2)
    assert guard.best_evaluation is None
    guard.step(3.0, model, optimizer, {"cost": 9.0, "bit_errors": 3.0})
    assert not guard.step(4.0, model, optimizer, {"cost": 11.0, "bit_errors": 4.0})
    assert guard.step(7.0, model, optimizer, {"cost": 20.0, "bit_errors": 7.0})
    assert guard.best_evaluation == {"cost": 9.0, "bit_errors": 3.0}
    again = Rollback(factor=2)
    again.load_state_dict(guard.state_dict())
    assert again.best_evaluation == {"cost": 9.0, "bit_errors": 3.0}
    old = guard.state_dict()
    old["saved"] = {k: v for k, v in old["saved"].items() if k != "evaluation"}
    again.load_state_dict(old)
    assert again.best_evaluation is None


@pytest.mark.parametrize("factor, floor", [(2.0, 1.0), (10.0, 10.0), (1.3, 0.5)])
def test_kept_evaluation_replays_the_rollback_from_the_bit_errors(factor, floor) -> None:
    """The report's replay from metrics.csv names the evaluation whose model the guard holds
    after each evaluation, on random runs with collapses, ties and new bests."""
    rng = random.Random(0)
    for _ in range(200):
        errors = [rng.choice([0.0, 0.5, 1.0, 2.0, 3.0, 12.0, 40.0]) * rng.choice([1, 1, 0.9])
                  for _ in range(rng.randint(1, 12))]
        # A budget stop between evaluation steps is evaluated but not shown to the guard.
        guarded = [rng.random() > 0.2 for _ in errors]
        model = torch.nn.Linear(1, 1, bias=False)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        guard = Rollback(factor, floor)
        for i, e in enumerate(errors):
            with torch.no_grad():
                model.weight.fill_(i)  # the model evaluated i-th "is" evaluation i
            if guarded[i]:
                guard.step(e, model, optimizer)
            kept = kept_evaluation(errors[: i + 1], factor, floor, guarded[: i + 1])
            assert int(model.weight.item()) == kept, (errors[: i + 1], guarded[: i + 1])


def test_kept_evaluation_without_a_rollback_and_its_errors() -> None:
    assert kept_evaluation([0.1, 30.0], None) == 1
    assert kept_evaluation([0.1, 30.0], 10.0) == 0
    assert kept_evaluation([5.0], 2.0) == 0
    # An evaluation the guard never saw is neither a best nor a trigger.
    assert kept_evaluation([40.0, 30.0, 2.0, 35.0], 10.0, 10.0, [True, True, False, True]) == 3
    assert kept_evaluation([0.5, 40.0], 10.0, 10.0, [True, False]) == 1
    assert kept_evaluation([math.nan, 0.5, 40.0], 10.0, 10.0) == 1  # NaN is never a best
    with pytest.raises(ValueError, match="bit_errors is empty"):
        kept_evaluation([], 2.0)
