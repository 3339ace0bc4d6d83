"""The state of a training run: the one definition of what a checkpoint holds.

``TrainState.state_dict()`` is what ``ntm.train`` saves at each evaluation and
``TrainState.load_state_dict()`` puts all of it back, so a resumed run continues exactly where
it stopped: the model (and its averaged weights, ``train.ema_decay``), the optimizer's moments,
the counters, the last evaluation, the learning-rate decay, the curriculum's level, the count of
non-finite steps in a row, the lowest held-out cost so far (whose weights ``best.pt`` holds),
every random state and the config (which a resume must agree with on ``CHECKPOINT_SETTINGS``
and on the held-out set, ``HELD_OUT_SETTINGS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ntm.experiment import checkpoint
from ntm.experiment.average import WeightAverage
from ntm.experiment.config import HELD_OUT_SETTINGS, ConfigError, checkpoint_mismatch
from ntm.experiment.curriculum import Curriculum
from ntm.experiment.rollback import Rollback
from ntm.experiment.schedule import BitErrorDrop, PlateauDecay

__all__ = ["REQUIRED_KEYS", "TrainState"]

#: What a checkpoint must hold to be resumed (older checkpoints may lack the other keys).
REQUIRED_KEYS = ("model", "optimizer", "step", "sequences", "wall_seconds", "last_eval",
                 "random", "config")


def _no_evaluation() -> dict[str, float]:
    return {"cost": math.nan, "bit_errors": math.nan, "sequences": 0}


@dataclass
class TrainState:
    """A run's model, optimizer and everything else that changes while it trains."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    data_generator: torch.Generator  # the task's sequences
    config: dict[str, Any]  # the resolved config, as saved with each checkpoint
    lr_decay: PlateauDecay | None = None
    lr_drop: BitErrorDrop | None = None
    rollback: Rollback | None = None
    curriculum: Curriculum | None = None  # the current sizes of the training batches
    average: WeightAverage | None = None  # the averaged weights the run is judged by
    step: int = 0
    sequences: int = 0
    wall_seconds: float = 0.0
    last_eval: dict[str, float] = field(default_factory=_no_evaluation)
    solved: bool = False
    solved_at: int | None = None  # sequences at the first evaluation that solved the task
    bad_steps_in_a_row: int = 0  # steps skipped in a row (non-finite loss or gradient)
    best_cost: float = math.inf  # the lowest held-out cost so far, whose weights are in best.pt

    def learning_rate(self) -> float:
        """The rate the schedules give now: ``optim.lr``, times the plateau decay's scale (down
        to ``train.min_lr``), times the bit-error drop's factor once it has happened, times
        ``train.rollback_lr_factor`` for every rollback so far."""
        lr = self.lr_decay.lr if self.lr_decay is not None else self.config["optim"]["lr"]
        lr *= self.lr_drop.scale if self.lr_drop is not None else 1.0
        return lr * (self.rollback.scale if self.rollback is not None else 1.0)

    def apply_learning_rate(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()

    def judged_weights(self) -> dict[str, torch.Tensor]:
        """The weights the evaluations judge: the average where the run keeps one
        (``train.ema_decay``, once started), else the model's."""
        if self.average is not None:
            averaged = self.average.model_state_dict(self.model)
            if averaged is not None:
                return averaged
        return self.model.state_dict()

    def best_state_dict(self) -> dict[str, Any]:
        """What ``best.pt`` holds: the judged weights and the figures of the evaluation just
        made, with the config (for ``ntm.evaluate --best``); nothing to resume from."""
        return {"model": self.judged_weights(), "step": self.step, "sequences": self.sequences,
                "wall_seconds": self.wall_seconds, "evaluation": dict(self.last_eval),
                "config": self.config}

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain Python values only (checkpoints load with ``weights_only``)."""
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            # What ntm.evaluate and ntm.plot load: the weights the evaluations judged.
            "averaged_model": (self.average.model_state_dict(self.model)
                               if self.average is not None else None),
            "average": self.average.state_dict() if self.average is not None else None,
            "step": self.step, "sequences": self.sequences, "wall_seconds": self.wall_seconds,
            "last_eval": self.last_eval, "solved": self.solved, "solved_at": self.solved_at,
            "bad_steps_in_a_row": self.bad_steps_in_a_row, "best_cost": self.best_cost,
            "lr_decay": self.lr_decay.state_dict() if self.lr_decay is not None else None,
            "lr_drop": self.lr_drop.state_dict() if self.lr_drop is not None else None,
            "rollback": self.rollback.state_dict() if self.rollback is not None else None,
            "curriculum": (self.curriculum.state_dict() if self.curriculum is not None
                           else None),
            "random": checkpoint.random_states(self.data_generator),
            "config": self.config,
        }

    def load_state_dict(self, state: dict[str, Any], origin: str | Path = "the checkpoint",
                        ) -> None:
        """Puts back what ``state_dict`` saved. The optimizer's moments come from ``state``, its
        settings (lr, ...) from this run's config. ``CheckpointError`` when ``state`` (read
        from ``origin``) is not a resumable checkpoint, ``ConfigError`` when it was trained with
        other ``CHECKPOINT_SETTINGS`` or evaluated on another held-out set
        (``HELD_OUT_SETTINGS``); each in one sentence."""
        missing = [key for key in REQUIRED_KEYS if key not in state]
        if missing:
            raise checkpoint.CheckpointError(f"{origin} holds no {missing[0]!r}, so it was "
                                             "not written by ntm.train and cannot be resumed.")
        found = checkpoint_mismatch(state["config"], self.config)
        if found:
            raise ConfigError(
                f"{found[0]} is {found[2]!r} but the checkpoint was trained with "
                f"{found[1]!r}; resume with the run's own settings or start a new run directory."
            )
        found = checkpoint_mismatch(state["config"], self.config, HELD_OUT_SETTINGS)
        if found:
            raise ConfigError(
                f"{found[0]} is {found[2]!r} but the run was evaluated with {found[1]!r}; its "
                "best cost, plateau decay and rollback compare evaluations of one held-out set, "
                "so resume with the run's own value (ntm.evaluate measures any other set) or "
                "start a new run directory.")
        try:
            self.model.load_state_dict(state["model"])
            checkpoint.load_optimizer_state(self.optimizer, state["optimizer"])
            if self.lr_decay is not None and state.get("lr_decay"):
                self.lr_decay.load_state_dict(state["lr_decay"])
            if self.lr_drop is not None and state.get("lr_drop"):
                self.lr_drop.load_state_dict(state["lr_drop"])
            if self.rollback is not None and state.get("rollback"):
                self.rollback.load_state_dict(state["rollback"])
            if self.curriculum is not None and state.get("curriculum"):
                self.curriculum.load_state_dict(state["curriculum"])
            if self.average is not None:  # not started yet, or resumed with it newly on: None
                self.average.load_state_dict(state.get("average"), self.model)
            self.apply_learning_rate()
            checkpoint.restore_random_states(state["random"], self.data_generator)
        except (KeyError, TypeError, ValueError, RuntimeError):
            raise checkpoint.CheckpointError(
                f"{origin} does not fit the model and optimizer its own config describes, "
                "so it is damaged or was written by another version of ntm."
            ) from None
        self.step, self.sequences = state["step"], state["sequences"]
        self.wall_seconds, self.last_eval = state["wall_seconds"], state["last_eval"]
        self.solved = state.get("solved", False)
        self.solved_at = state.get("solved_at")
        self.bad_steps_in_a_row = state.get("bad_steps_in_a_row", 0)
        self.best_cost = state.get("best_cost", math.inf)  # older checkpoints: none kept yet
