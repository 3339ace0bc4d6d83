"""Builds the objects of an experiment from its config, by registered names only.

Configs choose components by name (``task.name``, ``model.kind``, ``controller.kind``,
``optim.name``), never by import path, so nothing a user writes can run code.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ntm.experiment.config import ConfigError
from ntm.models import MODELS
from tasks import Task, make_task

__all__ = ["MAX_STEPS", "MAX_WIDTH", "build_task", "build_model", "build_optimizer",
           "resolve_device"]

#: Bounds on what a task's settings may ask for, far above the paper's tasks (copy: up to 41
#: steps of 9 bits); the memory a batch needs for backpropagation grows with both.
MAX_STEPS = 10_000
MAX_WIDTH = 4096


def build_task(cfg: DictConfig, **overrides: Any) -> Task:
    """The task named by ``cfg.task.name`` with its parameters (and ``overrides``), whose
    sequences are at most ``MAX_STEPS`` long and ``MAX_WIDTH`` wide."""
    params = OmegaConf.to_container(cfg.task, resolve=True)
    if not isinstance(params, dict):
        raise ConfigError(f"task is {params!r}; it must be a task's settings, like task=copy.")
    params.update(overrides)
    name = params.pop("name", None)
    try:  # the task registry owns the names, each task its settings
        task = make_task(name, **params)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None
    settings = ", ".join(f"task.{key} = {value}" for key, value in params.items())
    if task.max_steps > MAX_STEPS:
        raise ConfigError(f"the task's settings ({settings}) make sequences of up to "
                          f"{task.max_steps} steps; at most {MAX_STEPS} are allowed.")
    if max(task.input_width, task.output_width) > MAX_WIDTH:
        raise ConfigError(f"the task's settings ({settings}) make inputs of "
                          f"{task.input_width} bits; at most {MAX_WIDTH} are allowed.")
    return task


def build_model(cfg: DictConfig, task: Task, max_steps: int | None = None) -> nn.Module:
    """The model ``cfg.model.kind`` (a name in ``ntm.models.MODELS``) sized for ``task``,
    initialised from torch's global RNG: the NTM, the LSTM baseline (``model=lstm``, sized
    by ``model.size``/``model.layers``) or the Transformer (``model=transformer``, which is
    also given the longest sequence it must handle: ``max_steps``, by default the task's)."""
    if cfg.model.kind not in MODELS:
        raise ConfigError(f"model.kind is {cfg.model.kind!r}; allowed values are "
                          f"{', '.join(MODELS)}.")
    entry = MODELS[cfg.model.kind]
    if entry.takes_max_steps:
        steps = max_steps or task.max_steps
        return entry.build(cfg, task.input_width, task.output_width, max_steps=steps)
    return entry.build(cfg, task.input_width, task.output_width)


def build_optimizer(cfg: DictConfig, params) -> torch.optim.Optimizer:
    """Adam, or the paper's RMSProp (``centered`` with momentum gives Graves' 2013 form).

    Both update every parameter in one call per operation (``foreach``, torch's default on CUDA
    only): on a CPU the same arithmetic, bit for bit, as the loop over parameters
    (``tests/test_config.py``), in fewer calls, which at small batches is time (part of the
    compiled step's gain at batch 1, ``ntm/models/fast.py``)."""
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                amsgrad=o.amsgrad, foreach=True)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=o.lr, alpha=o.alpha, eps=o.eps, momentum=o.momentum, centered=o.centered,
            foreach=True)
    raise ConfigError(f"optim.name is {o.name!r}; allowed values are adam, rmsprop.")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when there is a GPU, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
