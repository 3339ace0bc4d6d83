"""A guard against the collapse: back to the best evaluation's state when a run falls apart.

A copy run that has nearly found the algorithm sometimes jumps back to chance within one
evaluation interval and then needs thousands of sequences to relearn (docs/training.md, "The
collapse"). ``Rollback`` keeps the model's and the optimizer's state (and the average of the
weights, ``train.ema_decay``, where the run keeps one) of the evaluation with the fewest
held-out bit errors so far; when a later evaluation's bit errors exceed ``factor`` times
that best (and ``min_bit_errors``, by default 1), it puts that state back. The bit errors it
watches are the trained weights' own, also where the run is judged by an average of them (the
training loop then evaluates the trained weights a second time): the average follows a
collapse late and blurred, and may never pass the limit while the trained weights sit at
chance (docs/training.md, dynamic N-grams). The data
generator is not rewound, so the run goes on from the good state with batches it has not
seen. Put back at the same rate, a state on the edge of a collapse often collapses again
(copy at batch 8 rolled back up to ten times in a run); ``lr_factor`` lowers the rate at every
rollback. The best evaluation's figures are kept with its state, so that after a rollback the
run reports the model it holds, not the one it discarded. Its state travels in checkpoints, so a
resumed run rolls back exactly as an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ntm.experiment.average import WeightAverage
from ntm.experiment.checkpoint import load_optimizer_state

__all__ = ["Rollback", "kept_evaluation"]


def _limit(best: float, factor: float, min_bit_errors: float) -> float:
    """Held-out bit errors above this, after a best of ``best``, trigger a rollback."""
    return max(factor * best, min_bit_errors)


def kept_evaluation(bit_errors: Sequence[float], factor: float | None,
                    min_bit_errors: float = 1.0,
                    guarded: Sequence[bool] | None = None) -> int:
    """Which evaluation's model a run holds after its last one, replayed from its held-out bit
    errors per sequence in order (``metrics.csv``'s ``eval_bit_errors``): the last evaluation's
    index, or, when that one triggered a rollback, the index of the best evaluation before it,
    whose state was put back. ``factor`` None: no rollback (the last index). ``guarded[i]``
    says whether evaluation i went through the guard (a budget stop between two evaluation
    steps does not; default: all did); only those can be a best or trigger a rollback, and a
    non-finite figure is never a best. ``bit_errors`` must not be empty."""
    if not bit_errors:
        raise ValueError("bit_errors is empty; a run needs at least one evaluation.")
    last = len(bit_errors) - 1
    seen = [True] * len(bit_errors) if guarded is None else list(guarded)
    if factor is None or not seen[last]:
        return last
    before = [i for i in range(last) if seen[i] and math.isfinite(bit_errors[i])]
    best = min(before, key=lambda i: (bit_errors[i], i), default=None)
    if best is None or bit_errors[last] < bit_errors[best]:  # a new best is kept as it is
        return last
    return best if bit_errors[last] > _limit(bit_errors[best], factor, min_bit_errors) else last


class Rollback:
    """Args:
        factor: ``train.rollback_factor``, at least 1: an evaluation with more than
            ``max(factor * best, min_bit_errors)`` held-out bit errors per sequence triggers
            a rollback.
        min_bit_errors: ``train.rollback_min_bit_errors``, > 0: below this many bit errors a
            worse evaluation is noise near solving, not a collapse.
        lr_factor: ``train.rollback_lr_factor``, in (0, 1]: the learning rate is multiplied by
            this at every rollback, for the rest of the run (1: unchanged).
    """

    def __init__(self, factor: float, min_bit_errors: float = 1.0,
                 lr_factor: float = 1.0) -> None:
        self.factor, self.min_bit_errors, self.lr_factor = factor, min_bit_errors, lr_factor
        self.best = math.inf
        # {"model": ..., "optimizer": ..., "evaluation": the best evaluation's figures,
        #  "average": the average of the weights then, or None}
        self.saved: dict[str, Any] | None = None
        self.count = 0  # rollbacks so far

    @property
    def scale(self) -> float:
        """The factor on the learning rate after the rollbacks so far."""
        return self.lr_factor ** self.count

    def limit(self) -> float:
        """Held-out bit errors above this trigger a rollback (infinite before a best exists)."""
        if self.saved is None:
            return math.inf
        return _limit(self.best, self.factor, self.min_bit_errors)

    @property
    def best_evaluation(self) -> dict[str, float] | None:
        """The figures of the evaluation whose state is kept (None before one, and in a
        checkpoint written before they were kept)."""
        return None if self.saved is None else self.saved.get("evaluation")

    def step(self, bit_errors: float, model: nn.Module, optimizer: torch.optim.Optimizer,
             evaluation: dict[str, float] | None = None,
             average: WeightAverage | None = None) -> bool:
        """Records an evaluation made with ``model`` as it is now (its figures,
        ``evaluation``, are kept with a new best state); returns True when it put back the
        best state (into ``model``, ``optimizer`` and the weights' ``average``, when the run
        keeps one)."""
        if bit_errors < self.best:
            self.best = bit_errors
            self.saved = {"model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                          "optimizer": copy.deepcopy(optimizer.state_dict()),
                          "evaluation": None if evaluation is None else dict(evaluation),
                          "average": None if average is None else average.state_dict()}
            return False
        if not bit_errors > self.limit():
            return False
        model.load_state_dict(self.saved["model"])
        load_optimizer_state(optimizer, copy.deepcopy(self.saved["optimizer"]))
        if average is not None:  # a state saved before the average started holds None
            average.load_state_dict(self.saved.get("average"), model)
        self.count += 1
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "saved": self.saved, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.saved, self.count = state["best"], state["saved"], int(state["count"])
