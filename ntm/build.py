"""Builds the objects of an experiment from its config, by registered names only.

Configs choose components by name (``task.name``, ``model.kind``, ``controller.kind``,
``optim.name``), never by import path, so nothing a user writes can run code.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ntm.baseline import LSTMBaseline
from ntm.config import ConfigError
from ntm.model import NTM, NTMConfig
from tasks import Task, make_task

__all__ = ["build_task", "build_model", "build_optimizer", "resolve_device"]


def build_task(cfg: DictConfig, **overrides: Any) -> Task:
    """The task named by ``cfg.task.name`` with its parameters (and ``overrides``)."""
    params = OmegaConf.to_container(cfg.task, resolve=True)
    assert isinstance(params, dict)
    params.update(overrides)
    name = params.pop("name", None)
    try:
        return make_task(name, **params)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def model_config(cfg: DictConfig, task: Task) -> NTMConfig:
    """The NTM's shapes from the config groups ``model``, ``controller`` and ``memory``."""
    return NTMConfig(
        input_size=task.input_width,
        output_size=task.output_width,
        memory_locations=cfg.memory.N,
        memory_width=cfg.memory.M,
        read_heads=cfg.model.read_heads,
        write_heads=cfg.model.write_heads,
        controller=cfg.controller.kind,
        controller_size=cfg.controller.size,
        controller_layers=cfg.controller.layers,
        shift_radius=cfg.model.shift_radius,
        memory_init=cfg.memory.init,
        clip=cfg.model.clip,
    )


def build_model(cfg: DictConfig, task: Task) -> nn.Module:
    """The model ``cfg.model.kind`` sized for ``task`` (initialised from torch's global RNG):
    the NTM, or the LSTM baseline (``model=lstm``, sized by ``model.size``/``model.layers``)."""
    if cfg.model.kind == "ntm":
        return NTM(model_config(cfg, task))
    if cfg.model.kind == "lstm":
        return LSTMBaseline(task.input_width, task.output_width, cfg.model.size, cfg.model.layers)
    raise ConfigError(f"model.kind is {cfg.model.kind!r}; allowed values are ntm, lstm.")


def build_optimizer(cfg: DictConfig, params) -> torch.optim.Optimizer:
    """Adam, or the paper's RMSProp (``centered`` with momentum gives Graves' 2013 form)."""
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=o.lr, alpha=o.alpha, eps=o.eps, momentum=o.momentum, centered=o.centered
        )
    raise ConfigError(f"optim.name is {o.name!r}; allowed values are adam, rmsprop.")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when there is a GPU, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
