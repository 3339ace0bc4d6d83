"""Checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint holds the model, the optimizer, the step and sequence counters, every random
state (Python, NumPy, torch, the task's data generator) and the resolved config. A second
file, ``best.pt``, holds only the weights (and figures) of the run's best evaluation. Both are
written to a temporary file and renamed over the old one, so a run killed at any moment
leaves either the previous checkpoint or the new one, never half of one. It is loaded with
``weights_only=True``: a checkpoint holds tensors and plain Python values, never code.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ntm.experiment.writes import write_atomically

__all__ = ["BEST_NAME", "CHECKPOINT_NAME", "CheckpointError", "save", "load", "random_states",
           "restore_random_states", "load_optimizer_state"]

CHECKPOINT_NAME = "checkpoint.pt"
#: Beside it: the weights of the evaluation with the lowest held-out cost so far (what a
#: noisy task's run is judged by), for ``ntm.evaluate --best`` and ``ntm.plot --best``; written
#: by ``save`` too, but not resumable (no optimizer, no random states).
BEST_NAME = "best.pt"
#: Written into every checkpoint; a change to what a checkpoint holds gets a new number, so
#: that a checkpoint of another version of the code is refused by name, not by a KeyError.
FORMAT_PREFIX = "ntm-checkpoint-"
FORMAT = f"{FORMAT_PREFIX}1"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or not an ntm checkpoint; the message says which."""


def random_states(data_generator: torch.Generator) -> dict[str, Any]:
    """Every random state a run depends on, as tensors and plain Python values."""
    np_state = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "data": data_generator.get_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any], data_generator: torch.Generator) -> None:
    """Puts back what ``random_states`` took."""
    random.setstate(states["python"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    torch.set_rng_state(states["torch"])
    data_generator.set_state(states["data"])
    if "cuda" in states and torch.cuda.is_available():
        # Resumed with fewer or more GPUs visible: the devices both runs saw get their state.
        for index, state in enumerate(states["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, index)


def save(path: str | Path, state: dict[str, Any]) -> None:
    """Writes ``state`` to ``path`` atomically (temporary file in the same folder, rename);
    ``WriteError`` in one sentence when the disk is full or the filesystem fails, the previous
    checkpoint left as it was and no temporary file left behind."""
    # Serialised in memory first: torch turns a failing write into a RuntimeError without its
    # reason, a plain write keeps the OSError (ENOSPC, EIO, ...) that the message names.
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    write_atomically(path, lambda f: f.write(buffer.getbuffer()), binary=True)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Reads a checkpoint written by ``save``; ``CheckpointError`` in one sentence otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train a run first or "
                              "point at a run directory that has one.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # torch raises many kinds on damaged files; all mean the same here
        raise CheckpointError(
            f"checkpoint {path} cannot be read: it is damaged or not an ntm checkpoint."
        ) from None
    found = state.get("format") if isinstance(state, dict) else None
    if isinstance(found, str) and found.startswith(FORMAT_PREFIX) and found != FORMAT:
        raise CheckpointError(f"checkpoint {path} was written by another version of ntm "
                              f"(format {found}, this version reads {FORMAT}); use that "
                              "version with it, or start a new run directory.")
    if found != FORMAT:
        raise CheckpointError(f"{path} is not an ntm checkpoint (format {FORMAT} expected).")
    return state


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Puts ``state`` (an optimizer's ``state_dict``: its moments and step counts) into
    ``optimizer``, which keeps its own settings (lr, betas, ``foreach``, ...): those come from
    this run's config, not from a checkpoint or saved state that may predate them."""
    settings = [{k: v for k, v in group.items() if k != "params"}
                for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, setting in zip(optimizer.param_groups, settings, strict=True):
        group.update(setting)
