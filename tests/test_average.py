"""Tests for ``ntm.experiment.average``: the moving average of the weights (train.ema_decay)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ntm.experiment.average import WeightAverage


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))  # parameters and buffers


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_the_average_follows_its_recurrence_from_the_first_step_at_its_start() -> None:
    """Nothing before ``start`` sequences; the first step at or after it copies the weights,
    each later one moves the average by ``1 - decay`` towards them."""
    model, average = _model(), WeightAverage(0.9, start=8)
    _set(model, 1.0)
    average.update(model, sequences=4)
    assert average.averaged is None and average.model_state_dict(model) is None
    average.update(model, sequences=8)
    _set(model, 3.0)
    average.update(model, sequences=12)
    _set(model, 5.0)
    average.update(model, sequences=16)
    expected = 0.9 * (0.9 * 1.0 + 0.1 * 3.0) + 0.1 * 5.0
    for name, a in average.averaged.items():
        torch.testing.assert_close(a, torch.full_like(a, expected), msg=name)


def test_applied_puts_the_average_in_and_the_live_weights_back() -> None:
    """Inside ``applied`` the model's own parameter tensors hold the average (buffers stay);
    on leaving, even by an exception, they hold the live weights again."""
    model, average = _model(), WeightAverage(0.5)
    ids = [id(p) for p in model.parameters()]
    live = {k: v.clone() for k, v in model.state_dict().items()}
    with average.applied(model) as inside:  # not started: the live model as it is
        assert inside is model and all(torch.equal(v, live[k])
                                       for k, v in model.state_dict().items())
    average.update(model, 0)
    _set(model, 2.0)
    average.update(model, 32)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError), average.applied(model):
        assert [id(p) for p in model.parameters()] == ids
        for name, p in model.named_parameters():
            torch.testing.assert_close(p, 0.5 * live[name] + 0.5 * 2.0)
        raise RuntimeError("evaluation failed")
    for k, v in model.state_dict().items():
        assert torch.equal(v, trained[k]), k


def test_model_state_dict_is_the_model_with_the_average_and_state_dict_loads_back() -> None:
    """``model_state_dict`` is the model's state dict with the averaged weights (what
    ntm.evaluate loads); ``state_dict`` (float64) loaded into a fresh average, or None, restores
    where it was, exactly."""
    model, average = _model(), WeightAverage(0.5)
    average.update(model, 0)
    first = {k: v.clone() for k, v in model.state_dict().items()}
    _set(model, 2.0)
    average.update(model, 32)
    state = average.model_state_dict(model)
    assert state.keys() == model.state_dict().keys()
    assert state["0.weight"].dtype == torch.float32
    torch.testing.assert_close(state["0.weight"], 0.5 * first["0.weight"] + 1.0)
    assert torch.equal(state["1.running_mean"], model.state_dict()["1.running_mean"])
    again = WeightAverage(0.5)
    again.load_state_dict(average.state_dict(), model)
    assert again.averaged.keys() == average.averaged.keys()
    for name in average.averaged:
        assert again.averaged[name].dtype == torch.float64
        assert torch.equal(again.averaged[name], average.averaged[name])
    again.load_state_dict(None, model)
    assert again.averaged is None
    again.load_state_dict(WeightAverage(0.5).state_dict(), model)  # saved before its start
    assert again.averaged is None


def test_a_slow_average_still_follows_small_moves_of_the_weights() -> None:
    """At a decay of 0.9999, 20,000 steps towards weights 1e-3 away cover 1 - e**-2 of the
    way: float32 would lose each step's 1e-7 against a value of 1 and stay behind."""
    model, average = _model(), WeightAverage(0.9999)
    _set(model, 1.0)
    average.update(model, 0)
    _set(model, 1.001)
    for _ in range(20_000):
        average.update(model, 1)
    w = torch.tensor(1.001).item()  # 1.001 as float32 holds it
    expected = 1.0 + (w - 1.0) * (1 - 0.9999 ** 20_000)
    for a in average.averaged.values():
        torch.testing.assert_close(a, torch.full_like(a, expected), rtol=0, atol=1e-9)
