"""An exponential moving average of the weights (Polyak averaging), ``train.ema_decay``.

Where a task's targets are random (dynamic N-grams), every step moves the weights by the noise
of its batch as well as by the signal, and the held-out cost carries that noise: a high rate
learns fast and sits above the optimum, a low one is close to it and slow. The average of the
weights over the last steps, ``a <- decay * a + (1 - decay) * w`` after every step taken,
keeps the signal and cancels most of the noise, so the run can keep a higher rate.

The average is what the run is judged by: every held-out evaluation (and so the learning
curves, the solve and the plateau decay), the checkpoint's ``averaged_model``, which
``ntm.evaluate`` and ``ntm.plot`` load in place of the trained weights, ``best.pt`` and the
run's pictures. The rollback (``ntm.experiment.rollback``) is the exception: it watches the trained
weights, evaluated a second time (``metrics.csv``'s ``trained_bit_errors``), since a collapse
happens to them and the average shows it late and blurred; it puts the average back with the
weights.
The optimizer keeps training the live weights. ``train.ema_start`` (sequences) starts the
average late, so that the fast first fall of the cost is not averaged with the weights it left
behind; before it, the run is judged by its live weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """Args:
        decay: ``train.ema_decay``, in (0, 1): the weight of the old average at each step;
            the average spans about ``1 / (1 - decay)`` steps.
        start: ``train.ema_start``: the first step at or after this many sequences starts the
            average from the live weights.

    The average is kept in float64: in float32 a step of ``(1 - decay) * (w - a)`` below half
    a unit in the last place of ``a`` is lost, and at a decay of 0.9999 and a low rate the
    average would stop following the weights.
    """

    def __init__(self, decay: float, start: int = 0) -> None:
        self.decay, self.start = decay, start
        self.averaged: dict[str, Tensor] | None = None  # parameter name -> its average

    def update(self, model: nn.Module, sequences: int) -> None:
        """After a step taken at ``sequences`` sequences (counted before the step)."""
        if self.averaged is None and sequences < self.start:
            return
        params = dict(model.named_parameters())
        with torch.no_grad():
            if self.averaged is None:
                self.averaged = {name: p.detach().to(torch.float64, copy=True)
                                 for name, p in params.items()}
                return
            averages = list(self.averaged.values())
            torch._foreach_lerp_(averages, [params[name].detach().to(torch.float64)
                                            for name in self.averaged], 1.0 - self.decay)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """``model`` with the averaged weights in place of its own (the same tensors, so a
        compiled step sees them too), its own put back on leaving; the live weights before the
        average has started."""
        if self.averaged is None:
            yield model
            return
        params = dict(model.named_parameters())
        live = {name: params[name].detach().clone() for name in self.averaged}
        with torch.no_grad():
            for name, average in self.averaged.items():
                params[name].copy_(average)
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, weights in live.items():
                    params[name].copy_(weights)

    def model_state_dict(self, model: nn.Module) -> dict[str, Tensor] | None:
        """``model.state_dict()`` with the averaged weights in place of its own (what
        ``ntm.evaluate`` loads); None before the average starts."""
        if self.averaged is None:
            return None
        with self.applied(model):
            return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        """The average itself, in float64, for a checkpoint or a rollback."""
        return {"averaged": None if self.averaged is None
                else {name: a.clone() for name, a in self.averaged.items()}}

    def load_state_dict(self, state: dict[str, Any] | None, model: nn.Module) -> None:
        """Puts back what ``state_dict`` gave (None: not started), on the device of ``model``'s
        parameters."""
        saved = None if state is None else state["averaged"]
        if saved is None:
            self.averaged = None
            return
        self.averaged = {name: saved[name].to(device=p.device, dtype=torch.float64, copy=True)
                         for name, p in model.named_parameters()}
