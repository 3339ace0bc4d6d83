"""The experiment configuration: typed schemas for Hydra, and value checks with clear messages.

The YAML files under ``conf/`` fill these dataclasses; Hydra rejects a value of the wrong
type (``memory.N=abc``) while composing. ``validate`` then checks what types cannot
(``memory.N=0``, a shift radius too large for the memory) and raises a ``ConfigError``
whose message is one sentence naming the setting and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from ntm.controller import CONTROLLERS
from ntm.memory import MEMORY_INITS

__all__ = [
    "ConfigError",
    "Config",
    "MODELS",
    "OPTIMIZERS",
    "DEVICES",
    "validate",
    "register_configs",
]

MODELS = ("ntm", "lstm")
OPTIMIZERS = ("adam", "rmsprop")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A setting a user chose is not allowed; the message names it and what is allowed."""


@dataclass
class ModelConfig:
    kind: str = "ntm"
    read_heads: int = 1
    write_heads: int = 1
    shift_radius: int = 1
    clip: float | None = 20.0  # controller-to-head outputs clipped to [-clip, clip]
    size: int | None = None  # model=lstm only: cells per layer of the baseline
    layers: int | None = None  # model=lstm only: its depth


@dataclass
class ControllerConfig:
    kind: str = "lstm"
    size: int = 100
    layers: int = 1


@dataclass
class MemoryConfig:
    N: int = 128  # locations
    M: int = 20  # width of a location
    init: str = "constant"


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 2e-3
    momentum: float = 0.0  # rmsprop
    alpha: float = 0.95  # rmsprop: decay of the squared-gradient average
    eps: float = 1e-8
    beta1: float = 0.9  # adam: decay of the gradient average (momentum)
    beta2: float = 0.999  # adam: decay of the squared-gradient average
    centered: bool = False  # rmsprop: Graves (2013) subtracts the squared mean gradient


@dataclass
class TrainConfig:
    batch_size: int = 64
    max_sequences: int = 2_000_000  # budget; training stops when it is spent
    max_minutes: float | None = None  # optional wall-clock budget
    clip_grad_norm: float | None = 1.0
    clip_grad_value: float | None = None
    lr_decay_patience: int | None = None  # evaluations without a better held-out cost
    lr_decay_factor: float = 0.5  # ... before the learning rate is multiplied by this
    min_lr: float = 1e-4  # the decay stops here
    eval_every: int = 50  # steps between evaluations (and checkpoints)
    eval_size: int = 1000  # held-out sequences per evaluation
    eval_batch_size: int = 500
    eval_seed: int = 1_000_003  # the held-out set's own seed, the same for every run seed
    solved_bit_errors: float | None = 0.01  # stop once held-out bit errors/sequence <= this
    pictures: bool = True  # draw the run's pictures at the end (learning curves, memory use)
    plot_every: int | None = None  # also draw pictures every this many evaluations
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    progress: bool = True  # progress bar on a terminal (never in a log file or CI)


@dataclass
class Config:
    task: Any = MISSING  # a task's parameters; checked by tasks.make_task
    model: ModelConfig = field(default_factory=ModelConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    device: str = "auto"


def register_configs() -> None:
    """Registers the schema ``config_schema`` that ``conf/config.yaml`` builds on."""
    ConfigStore.instance().store(name="config_schema", node=Config)


def _positive(cfg: DictConfig, *keys: str, allow_none: bool = False) -> None:
    for key in keys:
        value = _get(cfg, key)
        if value is None and allow_none:
            continue
        if value is None or value <= 0:
            raise ConfigError(f"{key} is {value}; it must be greater than 0.")


def _choice(cfg: DictConfig, key: str, allowed: tuple[str, ...] | list[str]) -> None:
    value = _get(cfg, key)
    if value not in allowed:
        raise ConfigError(f"{key} is {value!r}; allowed values are {', '.join(allowed)}.")


def _get(cfg: DictConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node[part]
    return node


def validate(cfg: DictConfig) -> None:
    """Checks every value a user can set; raises ``ConfigError`` on the first bad one.

    Task parameters are checked by the task's own constructor (``tasks.make_task``).
    """
    _choice(cfg, "model.kind", MODELS)
    if cfg.model.kind == "lstm":
        for key in ("model.size", "model.layers"):
            value = _get(cfg, key)
            if value is None or value <= 0:
                raise ConfigError(f"{key} is {value}; the LSTM baseline needs it greater than 0 "
                                  "(choose it with model=lstm, which sets 256 x 3).")
    else:
        for key in ("model.size", "model.layers"):
            if _get(cfg, key) is not None:
                raise ConfigError(f"{key} is set but model.kind is {cfg.model.kind!r}; it "
                                  "applies to model=lstm only (size the NTM with controller.*).")
    _choice(cfg, "controller.kind", list(CONTROLLERS))
    _choice(cfg, "memory.init", MEMORY_INITS)
    _choice(cfg, "optim.name", OPTIMIZERS)
    _choice(cfg, "device", DEVICES)
    _positive(cfg, "controller.size", "controller.layers", "memory.N", "memory.M", "optim.lr",
              "optim.eps", "train.batch_size", "train.max_sequences", "train.eval_every",
              "train.eval_size", "train.eval_batch_size", "train.min_lr")
    _positive(cfg, "train.max_minutes", "train.clip_grad_norm", "train.clip_grad_value",
              "train.threads", "train.plot_every", "train.lr_decay_patience", "model.clip",
              allow_none=True)
    if not 0 < cfg.train.lr_decay_factor < 1:
        raise ConfigError(f"train.lr_decay_factor is {cfg.train.lr_decay_factor}; "
                          "it must be in (0, 1).")
    for key in ("model.read_heads", "model.write_heads", "model.shift_radius"):
        if _get(cfg, key) < 0:
            raise ConfigError(f"{key} is {_get(cfg, key)}; it must be 0 or more.")
    if cfg.model.read_heads + cfg.model.write_heads == 0:
        raise ConfigError("model.read_heads and model.write_heads are both 0; "
                          "at least one of them must be 1 or more.")
    if 2 * cfg.model.shift_radius + 1 > cfg.memory.N:
        raise ConfigError(
            f"model.shift_radius is {cfg.model.shift_radius}, which needs "
            f"{2 * cfg.model.shift_radius + 1} memory locations; with memory.N = {cfg.memory.N} "
            f"it must be at most {(cfg.memory.N - 1) // 2}."
        )
    if not 0 <= cfg.optim.momentum < 1:
        raise ConfigError(f"optim.momentum is {cfg.optim.momentum}; it must be in [0, 1).")
    for key in ("optim.beta1", "optim.beta2"):
        if not 0 <= _get(cfg, key) < 1:
            raise ConfigError(f"{key} is {_get(cfg, key)}; it must be in [0, 1).")
    if not 0 < cfg.optim.alpha < 1:
        raise ConfigError(f"optim.alpha is {cfg.optim.alpha}; it must be in (0, 1).")
    for key in ("seed", "train.eval_seed"):
        if not 0 <= _get(cfg, key) < 2**63:
            raise ConfigError(f"{key} is {_get(cfg, key)}; it must be an integer in [0, 2**63).")
    threshold = cfg.train.solved_bit_errors
    if threshold is not None and threshold < 0:
        raise ConfigError(f"train.solved_bit_errors is {threshold}; it must be 0 or more, "
                          "or null to train for the whole budget.")
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device is 'cuda' but no CUDA device is available; "
                              "use device=cpu or device=auto.")
