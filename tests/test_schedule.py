"""PlateauDecay and BitErrorDrop: when the learning rate drops, its floor, and their state
round trips; the warm-up and cool-down factors."""

from __future__ import annotations

import pytest
import torch

from ntm.experiment.schedule import BitErrorDrop, PlateauDecay, cooldown_factor, warmup_factor
from ntm.experiment.state import TrainState


def test_decays_after_patience_evaluations_without_improvement() -> None:
    decay = PlateauDecay(base_lr=1e-3, factor=0.5, patience=2, min_lr=1e-4)
    assert decay.lr == 1e-3
    assert not decay.step(10.0)  # first best
    assert not decay.step(9.0)  # improvement
    assert not decay.step(9.5)  # one bad evaluation
    assert decay.step(9.2)  # two: halve
    assert decay.lr == 5e-4
    assert not decay.step(9.1)  # the count restarts after a decay
    assert decay.step(9.3)
    assert decay.lr == 2.5e-4


def test_never_below_min_lr() -> None:
    decay = PlateauDecay(base_lr=1e-3, factor=0.1, patience=1, min_lr=3e-4)
    decay.step(1.0)
    assert decay.step(2.0)
    assert decay.lr == 3e-4  # 1e-4 would be below the floor
    assert not decay.step(2.0)  # at the floor: no more decays
    assert decay.lr == 3e-4


def test_a_lower_floor_on_resume_goes_on_from_the_old_floor() -> None:
    """The decay's scale stops at the floor: a run resumed with a lower train.min_lr halves
    from the rate it ran at, not from a scale that kept shrinking while the floor held."""
    decay = PlateauDecay(base_lr=1e-3, factor=0.5, patience=1, min_lr=1e-4)
    decay.step(1.0)
    for _ in range(4):  # 5e-4, 2.5e-4, 1.25e-4, then the floor
        decay.step(2.0)
    assert decay.lr == 1e-4
    resumed = PlateauDecay(base_lr=1e-3, factor=0.5, patience=1, min_lr=2.5e-5)
    resumed.load_state_dict(decay.state_dict())
    assert resumed.lr == 1e-4
    assert resumed.step(2.0)
    assert resumed.lr == 5e-5


def test_no_decay_is_reported_at_a_floor_that_rounds() -> None:
    """3e-4 x (3e-6 / 3e-4) is one rounding step above 3e-6: still the floor, so no decay is
    reported once the rate is there."""
    decay = PlateauDecay(base_lr=3e-4, factor=0.1, patience=1, min_lr=3e-6)
    decay.step(1.0)
    assert decay.step(2.0) and decay.step(2.0)  # 3e-5, then the floor
    assert abs(decay.lr - 3e-6) < 1e-18
    assert not any(decay.step(2.0) for _ in range(5))


def test_a_base_rate_below_the_floor_is_kept() -> None:
    decay = PlateauDecay(base_lr=1e-5, factor=0.5, patience=1, min_lr=1e-4)
    decay.step(1.0)
    assert not decay.step(2.0)
    assert decay.lr == 1e-5


def test_the_scheduled_rate_reaches_every_group() -> None:
    """TrainState applies the schedules' rate: optim.lr x the decay's scale x the drop's."""
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.Adam([{"params": params[:1]}, {"params": params[1:]}], lr=1e-3)
    decay = PlateauDecay(1e-3, 0.5, 1, 1e-5)
    decay.step(1.0)
    decay.step(1.0)
    drop = BitErrorDrop(bit_errors=1.0, factor=0.25)
    state = TrainState(torch.nn.Linear(1, 1), optimizer, torch.Generator(),
                       {"optim": {"lr": 1e-3}}, decay, drop)
    state.apply_learning_rate()
    assert [g["lr"] for g in optimizer.param_groups] == [5e-4, 5e-4]
    drop.step(0.5)
    state.apply_learning_rate()
    assert [g["lr"] for g in optimizer.param_groups] == [1.25e-4, 1.25e-4]


def test_state_round_trip_continues_identically() -> None:
    costs = [5.0, 4.0, 4.5, 4.2, 3.9, 4.0, 4.1, 4.0, 3.0, 3.5, 3.6]
    whole = PlateauDecay(1e-3, 0.5, 2, 1e-5)
    lrs_whole = [(whole.step(c), whole.lr)[1] for c in costs]
    first = PlateauDecay(1e-3, 0.5, 2, 1e-5)
    lrs = [(first.step(c), first.lr)[1] for c in costs[:5]]
    second = PlateauDecay(1e-3, 0.5, 2, 1e-5)
    second.load_state_dict(first.state_dict())
    lrs += [(second.step(c), second.lr)[1] for c in costs[5:]]
    assert lrs == lrs_whole
    assert min(lrs_whole) < 1e-3  # the sequence did decay


def test_warmup_rises_linearly_to_one_and_stays() -> None:
    assert warmup_factor(0, 0) == 1.0 and warmup_factor(5, 0) == 1.0  # no warm-up
    factors = [warmup_factor(n, 4) for n in range(6)]
    assert factors == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_cooldown_falls_linearly_from_its_start_to_its_fraction_and_stays() -> None:
    assert [cooldown_factor(n, None, 4, 0.2) for n in (0, 10**9)] == [1.0, 1.0]  # never
    factors = [cooldown_factor(n, 2, 4, 0.2) for n in range(9)]
    assert factors == pytest.approx([1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.2, 0.2])
    assert [cooldown_factor(n, 3, 0, 0.5) for n in range(5)] == [1.0, 1.0, 1.0, 0.5, 0.5]


def test_bit_error_drop_happens_once_at_the_level_and_stays() -> None:
    drop = BitErrorDrop(bit_errors=1.0, factor=0.25)
    assert drop.scale == 1.0
    assert not drop.step(5.0)
    assert not drop.step(float("nan"))  # no evaluation yet
    assert drop.step(1.0)  # at the level
    assert drop.scale == 0.25
    assert not drop.step(0.5)  # once only
    assert not drop.step(30.0)  # and for good, even when the errors rise again
    assert drop.scale == 0.25
    again = BitErrorDrop(1.0, 0.25)
    again.load_state_dict(drop.state_dict())
    assert again.scale == 0.25 and not again.step(0.1)
