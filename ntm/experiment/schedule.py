"""Learning-rate schedules: a linear warm-up, a linear cool-down over a fixed span of
sequences, decay on a plateau of the held-out cost, and a drop once the held-out bit errors
are low.

NTM training with Adam at a high learning rate reaches about one wrong bit per sequence fast
and then spends most of its time on the last bits, with the held-out cost bouncing; a lower
rate settles it. ``PlateauDecay`` keeps a scale factor on the configured learning rate and
halves it (by default) when the held-out cost has not improved for ``patience`` evaluations.
Its state is three numbers, saved in checkpoints so a resumed run decays exactly as an
uninterrupted one.

``BitErrorDrop`` lowers the rate once, the first time the held-out bit errors reach a level:
a run that has nearly found the algorithm has sharply focused heads, and full-size steps then
blur the focus and can throw the run back to chance (docs/training.md, "The collapse").
"""

from __future__ import annotations

import math

__all__ = ["BitErrorDrop", "PlateauDecay", "cooldown_factor", "warmup_factor"]


def warmup_factor(sequences: int, warmup_sequences: int) -> float:
    """The fraction of the learning rate used for a step taken after ``sequences`` training
    sequences: rising linearly from ``1 / warmup_sequences`` to 1 over the first
    ``warmup_sequences`` (0: no warm-up, always 1). A function of the sequences seen, so a
    resumed run warms up exactly as an uninterrupted one."""
    if warmup_sequences <= 0 or sequences >= warmup_sequences:
        return 1.0
    return (sequences + 1) / warmup_sequences


def cooldown_factor(sequences: int, start: int | None, length: int, final: float) -> float:
    """The fraction of the learning rate used for a step taken after ``sequences`` training
    sequences: 1 before ``start`` (None: never), then falling linearly to ``final`` over
    ``length`` sequences (0: at once) and ``final`` from there on. A rate held high while it
    still finds structure and lowered at the end removes the noise of its steps, where a
    lower rate all along would have learned less; a function of the sequences seen, so a
    resumed run cools down exactly as an uninterrupted one."""
    if start is None or sequences < start:
        return 1.0
    if sequences >= start + length:
        return final
    return 1.0 - (1.0 - final) * (sequences - start) / length


class PlateauDecay:
    """Multiplies the learning rate by ``factor`` after ``patience`` evaluations without a
    new best held-out cost, never going below ``min_lr``.

    Args:
        base_lr: the configured learning rate (``optim.lr``).
        factor: in (0, 1).
        patience: evaluations without improvement before a decay.
        min_lr: the floor.
    """

    def __init__(self, base_lr: float, factor: float, patience: int, min_lr: float) -> None:
        self.base_lr, self.factor, self.patience, self.min_lr = base_lr, factor, patience, min_lr
        # The floor as a scale. Decays are judged on the scale, not on the rate: base_lr x
        # (min_lr / base_lr) can round to one step above min_lr, and a comparison of rates
        # would then decay forever. The scale stops there, so a run resumed with a lower
        # train.min_lr goes on from the floor rather than from a scale that kept shrinking.
        self.floor_scale = min_lr / base_lr
        self.best = math.inf
        self.bad_evaluations = 0
        self.scale = 1.0

    @property
    def lr(self) -> float:
        return max(self.base_lr * self.scale, min(self.min_lr, self.base_lr))

    def step(self, held_out_cost: float) -> bool:
        """Records an evaluation; returns True when the learning rate was just lowered."""
        if held_out_cost < self.best:
            self.best, self.bad_evaluations = held_out_cost, 0
            return False
        self.bad_evaluations += 1
        if self.bad_evaluations < self.patience or self.scale <= self.floor_scale:
            return False
        self.scale = max(self.scale * self.factor, self.floor_scale)
        self.bad_evaluations = 0
        return True

    def state_dict(self) -> dict[str, float]:
        return {"best": self.best, "bad_evaluations": self.bad_evaluations, "scale": self.scale}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.best = state["best"]
        self.bad_evaluations = int(state["bad_evaluations"])
        self.scale = state["scale"]


class BitErrorDrop:
    """Multiplies the learning rate by ``factor`` from the first evaluation whose held-out bit
    errors per sequence are at or below ``bit_errors`` on, for the rest of the run.

    Args:
        bit_errors: the level (``train.lr_drop_bit_errors``), >= 0.
        factor: in (0, 1) (``train.lr_drop_factor``).
    """

    def __init__(self, bit_errors: float, factor: float) -> None:
        self.bit_errors, self.factor = bit_errors, factor
        self.dropped = False

    @property
    def scale(self) -> float:
        return self.factor if self.dropped else 1.0

    def step(self, held_out_bit_errors: float) -> bool:
        """Records an evaluation; returns True when the learning rate was just lowered."""
        if self.dropped or not held_out_bit_errors <= self.bit_errors:
            return False
        self.dropped = True
        return True

    def state_dict(self) -> dict[str, bool]:
        return {"dropped": self.dropped}

    def load_state_dict(self, state: dict[str, bool]) -> None:
        self.dropped = bool(state["dropped"])
