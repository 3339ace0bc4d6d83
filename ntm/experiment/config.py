"""The experiment configuration: typed schemas for Hydra, and value checks with clear messages.

The YAML files under ``conf/`` fill these dataclasses; Hydra rejects a value of the wrong
type (``memory.N=abc``) while composing. ``validate`` then checks what types cannot
(``memory.N=0``, ``optim.lr=nan``, a size that would ask for terabytes, a key added with ``+``
that no code reads, settings of one group that must agree with another) and raises a
``ConfigError`` whose message is one sentence naming the setting and what is allowed. The
rules of a domain live with its constructor (a shift radius too large for the memory in
``NTMConfig``, controller kinds in ``make_controller``, memory initialisations in
``initial_memory``, task names and settings in ``tasks.make_task``); ``validate`` asks them
and puts their ValueError into the words of the config.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ntm.experiment.metrics import LOSSES
from ntm.models import MODEL_GROUPS, MODELS
from ntm.models.fast import COMPILE_SETTINGS, MAX_STEPS_PER_GRAPH, WRAPPERS, normalise
from ntm.models.heads import check_write_gate_bias
from tasks import TASKS, make_task, task_defaults

__all__ = [
    "ConfigError",
    "Config",
    "OPTIMIZERS",
    "DEVICES",
    "LIMITS",
    "CHECKPOINT_SETTINGS",
    "HELD_OUT_SETTINGS",
    "validate",
    "check_overrides",
    "checkpoint_mismatch",
    "curriculum_targets",
    "register_configs",
]

OPTIMIZERS = ("adam", "rmsprop")
DEVICES = ("auto", "cpu", "cuda")

#: Upper bounds of the sizes, far above any published NTM (the paper: N = 128, M = 20, a
#: controller of 100 to 256, up to 4 head pairs, batch 1) yet low enough that one mistyped
#: override cannot ask for terabytes: each at its bound, the others at their defaults, still
#: fits in a few GiB. ``train.threads`` beyond about 10^4 crashes OpenMP outright; clipping
#: bounds become float32 tensors (1e300 overflows), and 1e6 is as good as no clipping.
LIMITS: dict[str, int | float] = {
    "memory.N": 16_384,
    "memory.M": 4096,
    "controller.size": 4096,
    "controller.layers": 64,
    "model.read_heads": 64,
    "model.write_heads": 64,
    "train.batch_size": 16_384,
    "train.eval_size": 100_000,
    "train.eval_batch_size": 16_384,
    "train.threads": 1024,
    "train.compile_steps": MAX_STEPS_PER_GRAPH,  # a graph of many steps compiles for minutes
    "model.clip": 1e6,
    "model.size": 4096,  # the baselines' width (an LSTM of 3 x 4096 is 800 MB of weights)
    "model.layers": 64,
    "model.heads": 64,
    "model.ffn_size": 16_384,
    "train.clip_grad_norm": 1e6,
    "train.clip_grad_value": 1e6,
}

#: Settings that fix what a checkpoint holds (the model's shapes, the optimizer's state, the
#: data): a run resumes, and a checkpoint is loaded, only with a config that agrees on them.
CHECKPOINT_SETTINGS = ("task", "model", "controller", "memory", "optim.name", "optim.momentum",
                       "optim.centered", "optim.amsgrad", "seed")
#: Settings that fix the held-out set (``train.eval_size`` sequences drawn from
#: ``train.eval_seed``): a run's best cost (``best.pt``), plateau decay and rollback compare
#: evaluations of one set, so a run resumes only with the same ones (``ntm.evaluate`` measures
#: any other set).
HELD_OUT_SETTINGS = ("train.eval_size", "train.eval_seed")


class ConfigError(ValueError):
    """A setting a user chose is not allowed; the message names it and what is allowed."""


@dataclass
class ModelConfig:
    kind: str = "ntm"
    read_heads: int = 1
    write_heads: int = 1
    shift_radius: int = 1
    clip: float | None = 20.0  # controller-to-head outputs clipped to [-clip, clip]
    similarity: str = "cosine"  # content score: cosine (paper), dot, scaled_dot, additive
    write_gate_bias: float | None = None  # write heads' initial gate bias (null: the layer's)
    size: int | None = None  # model=lstm: cells per layer; model=transformer: its width
    layers: int | None = None  # model=lstm and model=transformer only: the depth
    heads: int | None = None  # model=transformer only: attention heads per layer
    ffn_size: int | None = None  # model=transformer only: the feed-forward hidden width
    positions: str | None = None  # model=transformer only: sinusoidal, learned, alibi, none


@dataclass
class ControllerConfig:
    kind: str = "lstm"
    size: int = 100
    layers: int = 1
    layer_norm: bool = False  # layer normalisation in each layer (ntm/models/controller.py)


@dataclass
class MemoryConfig:
    N: int = 128  # locations
    M: int = 20  # width of a location
    init: str = "constant"
    initial_weighting: str = "onehot"  # the heads' w_0: onehot (location 0) or learned


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 4e-3
    momentum: float = 0.0  # rmsprop
    alpha: float = 0.95  # rmsprop: decay of the squared-gradient average
    eps: float = 1e-8  # fallback only: conf/optim/adam.yaml sets 1e-4
    beta1: float = 0.9  # adam: decay of the gradient average (momentum)
    beta2: float = 0.999  # adam: decay of the squared-gradient average
    amsgrad: bool = False  # adam: divide by the largest squared-gradient average so far
    centered: bool = False  # rmsprop: Graves (2013) subtracts the squared mean gradient


@dataclass
class TrainConfig:
    batch_size: int = 16
    max_sequences: int = 2_000_000  # budget; training stops when it is spent
    max_minutes: float | None = None  # optional wall-clock budget
    clip_grad_norm: float | None = 1.0
    clip_grad_value: float | None = None
    loss: str = "per_bit"  # the objective: mean per scored bit, or sum per sequence (the paper's)
    lr_decay_patience: int | None = None  # evaluations without a better held-out cost
    lr_decay_factor: float = 0.5  # ... before the learning rate is multiplied by this
    min_lr: float = 1e-4  # the decay stops here
    lr_drop_bit_errors: float | None = None  # once held-out bit errors/sequence reach this ...
    lr_drop_factor: float = 0.25  # ... the learning rate is multiplied by this, for good
    rollback_factor: float | None = None  # back to the best state past this x the best bit errors
    rollback_min_bit_errors: float = 1.0  # ... and past this many
    rollback_lr_factor: float = 1.0  # the learning rate is multiplied by this at each rollback
    warmup_sequences: int = 0  # the learning rate rises linearly over these first sequences
    lr_cooldown_start: int | None = None  # from this many sequences on (None: never) ...
    lr_cooldown_sequences: int = 0  # ... the rate falls linearly over these sequences ...
    lr_cooldown_factor: float = 0.1  # ... to this fraction of itself, and stays there
    eval_every: int = 50  # steps between evaluations (and checkpoints)
    eval_size: int = 1000  # held-out sequences per evaluation
    eval_batch_size: int = 500
    eval_seed: int = 1_000_003  # the held-out set's own seed, the same for every run seed
    solved_bit_errors: float | None = 0.01  # stop once held-out bit errors/sequence <= this
    sequences_after_solved: int = 0  # ... or this many sequences after the first such evaluation
    pictures: bool = True  # draw the run's pictures at the end (learning curves, memory use)
    plot_every: int | None = None  # also draw pictures every this many evaluations
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    progress: bool = True  # progress bar on a terminal (never in a log file or CI)
    max_bad_steps: int = 10  # steps in a row with a non-finite loss or gradient stop the run
    compile: str = "auto"  # the fast step (ntm/models/fast.py): auto, true, false or cudagraphs
    compile_steps: int = 4  # time steps per compiled graph (a sequence runs as chunks of them)
    compile_wrapper: str = "cpp"  # how a compiled CPU graph calls its kernels: cpp or python
    curriculum: Any = None  # task settings that start small, {setting: start}; checked by validate
    curriculum_bit_errors: float = 1.0  # ... and grow once training bit errors/seq are <= this
    curriculum_step: int = 1  # ... by this much at a time (ntm/experiment/curriculum.py)
    ema_decay: float | None = None  # judge the run by a moving average of its weights (None: no)
    ema_start: int = 0  # ... begun at this many sequences (ntm/experiment/average.py)


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


def _get(cfg: DictConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _positive(cfg: DictConfig, *keys: str, allow_none: bool = False) -> None:
    """Each of ``keys`` is a finite number above 0 and at most its ``LIMITS`` entry (or null,
    with ``allow_none``)."""
    for key in keys:
        value = _get(cfg, key)
        if value is None and allow_none:
            continue
        high = LIMITS.get(key, math.inf)
        finite = not isinstance(value, float) or math.isfinite(value)  # ints may exceed floats
        if value is None or not finite or not 0 < value <= high:
            allowed = ("a finite number greater than 0" if high == math.inf
                       else f"greater than 0 and at most {high:g}" if isinstance(high, float)
                       else f"an integer from 1 to {high}")
            raise ConfigError(f"{key} is {value}; it must be {allowed}"
                              f"{', or null' if allow_none else ''}.")


def _choice(cfg: DictConfig, key: str, allowed: tuple[str, ...] | list[str]) -> None:
    value = _get(cfg, key)
    if value not in allowed:
        raise ConfigError(f"{key} is {value!r}; allowed values are {', '.join(allowed)}.")


def _resolvable(cfg: DictConfig) -> None:
    """Every interpolation (``memory.N=${oc.env:SIZE}``) resolves to a value of its type."""
    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as e:
        reason = str(e.msg).splitlines()[0].rstrip(".").replace(". ", "; ")
        raise ConfigError(f"{e.full_key} cannot be resolved: {reason}.") from None


def _known_keys(cfg: DictConfig, prefix: str = "") -> None:
    """The keys of the schema, no more (``+memory.size=3`` would otherwise be accepted and
    ignored) and no fewer (``~seed`` removes one). Sections without a schema (``task``, whose
    keys the task checks) are left alone."""
    schema = OmegaConf.get_type(cfg)
    if not is_dataclass(schema):
        return
    allowed = [f.name for f in fields(schema)]
    for key in allowed:
        if key not in cfg:
            raise ConfigError(f"{prefix}{key} is not set; every run needs it, so do not remove "
                              f"it with ~{prefix}{key}.")
    for key in cfg:
        name = f"{prefix}{key}"
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            if close:
                raise ConfigError(f"{name} is not a setting; the closest setting is "
                                  f"{prefix}{close[0]}.")
            where = f"of {prefix[:-1]} are" if prefix else "at the top level are"
            raise ConfigError(f"{name} is not a setting; the settings {where} "
                              f"{', '.join(allowed)}.")
        if isinstance(cfg[key], DictConfig):
            _known_keys(cfg[key], f"{name}.")


def validate(cfg: DictConfig) -> None:
    """Checks every value a user can set; raises ``ConfigError`` on the first bad one.

    Task parameters are checked by the task's own constructor (``tasks.make_task``), and the
    length of its sequences by ``ntm.experiment.build.build_task``.
    """
    _resolvable(cfg)
    _known_keys(cfg)
    _choice(cfg, "model.kind", list(MODELS))
    _baseline_settings(cfg)
    _choice(cfg, "optim.name", OPTIMIZERS)
    _choice(cfg, "device", DEVICES)
    _choice(cfg, "train.loss", LOSSES)
    if normalise(cfg.train.compile) not in COMPILE_SETTINGS:
        raise ConfigError(f"train.compile is {cfg.train.compile!r}; allowed values are "
                          f"{', '.join(COMPILE_SETTINGS)}.")
    _choice(cfg, "train.compile_wrapper", list(WRAPPERS))
    _positive(cfg, "controller.size", "controller.layers", "memory.N", "memory.M", "optim.lr",
              "optim.eps", "train.batch_size", "train.max_sequences", "train.eval_every",
              "train.eval_size", "train.eval_batch_size", "train.min_lr", "train.max_bad_steps",
              "train.rollback_min_bit_errors", "train.compile_steps")
    _positive(cfg, "train.max_minutes", "train.clip_grad_norm", "train.clip_grad_value",
              "train.threads", "train.plot_every", "train.lr_decay_patience", "model.clip",
              "train.lr_drop_bit_errors", "train.rollback_factor",
              allow_none=True)
    for key in ("optim.lr", "train.min_lr"):  # above 1 is a typo (2e3 for 2e-3): it diverges
        if _get(cfg, key) > 1:
            raise ConfigError(f"{key} is {_get(cfg, key)}; it must be at most 1.")
    if cfg.train.rollback_factor is not None and cfg.train.rollback_factor < 1:
        raise ConfigError(f"train.rollback_factor is {cfg.train.rollback_factor}; it must be at "
                          "least 1, or null for no rollback.")
    for key in ("train.lr_decay_factor", "train.lr_drop_factor"):
        if not 0 < _get(cfg, key) < 1:
            raise ConfigError(f"{key} is {_get(cfg, key)}; it must be in (0, 1).")
    if not 0 < cfg.train.rollback_lr_factor <= 1:
        raise ConfigError(f"train.rollback_lr_factor is {cfg.train.rollback_lr_factor}; it must "
                          "be in (0, 1] (1: the rate is not lowered at a rollback).")
    for key in ("model.read_heads", "model.write_heads"):
        if not 0 <= _get(cfg, key) <= LIMITS[key]:
            raise ConfigError(f"{key} is {_get(cfg, key)}; it must be an integer from 0 to "
                              f"{LIMITS[key]}.")
    try:  # for every model kind: a baseline ignores it, but a bad value is still a typo
        check_write_gate_bias(cfg.model.write_gate_bias, "model.write_gate_bias")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    _model_rules(cfg)
    length = cfg.task.get("max_length")  # (a wrong type is the task's to report)
    if (cfg.model.kind == "ntm" and cfg.task.name == "copy" and isinstance(length, int)
            and cfg.memory.N <= length):
        raise ConfigError(f"memory.N is {cfg.memory.N}; copy needs more locations than "
                          f"task.max_length = {length} (one per vector), so set memory.N to "
                          f"at least {length + 1}.")
    if not 0 <= cfg.optim.momentum < 1:
        raise ConfigError(f"optim.momentum is {cfg.optim.momentum}; it must be in [0, 1).")
    for key in ("optim.beta1", "optim.beta2"):
        if not 0 <= _get(cfg, key) < 1:
            raise ConfigError(f"{key} is {_get(cfg, key)}; it must be in [0, 1).")
    if not 0 < cfg.optim.alpha < 1:
        raise ConfigError(f"optim.alpha is {cfg.optim.alpha}; it must be in (0, 1).")
    if cfg.train.sequences_after_solved < 0:
        raise ConfigError(f"train.sequences_after_solved is {cfg.train.sequences_after_solved}; "
                          "it must be an integer from 0 (stop at the solve) up.")
    if not 0 <= cfg.train.warmup_sequences <= cfg.train.max_sequences:
        raise ConfigError(f"train.warmup_sequences is {cfg.train.warmup_sequences}; it must be "
                          "an integer from 0 (no warm-up) to train.max_sequences.")
    start = cfg.train.lr_cooldown_start
    if start is not None and start < 0:
        raise ConfigError(f"train.lr_cooldown_start is {start}; it must be null (no cool-down) "
                          "or an integer from 0 up.")
    if cfg.train.lr_cooldown_sequences < 0:
        raise ConfigError(f"train.lr_cooldown_sequences is {cfg.train.lr_cooldown_sequences}; "
                          "it must be an integer from 0 (straight to train.lr_cooldown_factor) "
                          "up.")
    if not 0 < cfg.train.lr_cooldown_factor <= 1:
        raise ConfigError(f"train.lr_cooldown_factor is {cfg.train.lr_cooldown_factor}; it must "
                          "be in (0, 1].")
    decay = cfg.train.ema_decay
    if decay is not None and not 0 < decay < 1:
        raise ConfigError(f"train.ema_decay is {decay}; it must be in (0, 1) (0.999 averages "
                          "about the last 1,000 steps), or null for no average of the weights.")
    if cfg.train.ema_start < 0:
        raise ConfigError(f"train.ema_start is {cfg.train.ema_start}; it must be an integer from "
                          "0 (average from the first step) up.")
    for key in ("seed", "train.eval_seed"):
        if not 0 <= _get(cfg, key) < 2**63:
            raise ConfigError(f"{key} is {_get(cfg, key)}; it must be an integer in [0, 2**63).")
    threshold = cfg.train.solved_bit_errors
    if threshold is not None and not 0 <= threshold < math.inf:
        raise ConfigError(f"train.solved_bit_errors is {threshold}; it must be a finite number, "
                          "0 or more, or null to train for the whole budget.")
    _curriculum(cfg)
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device is 'cuda' but no CUDA device is available; "
                              "use device=cpu or device=auto.")
    if normalise(cfg.train.compile) == "cudagraphs":
        import torch

        if cfg.device == "cpu" or not torch.cuda.is_available():
            raise ConfigError("train.compile is 'cudagraphs', which needs a CUDA device, but "
                              "the run is on the CPU; use device=cuda (or auto) on a GPU, or "
                              "train.compile=true or auto.")


def _task_settings(cfg: DictConfig) -> dict[str, Any]:
    """``cfg.task`` resolved, with the task's own default for each setting it does not set."""
    task = OmegaConf.to_container(cfg.task, resolve=True)
    if not isinstance(task, dict):
        return {}
    name = task.get("name")
    return {**task_defaults(name if isinstance(name, str) else ""), **task}


def curriculum_targets(cfg: DictConfig) -> dict[str, int]:
    """The configured value of each task setting ``train.curriculum`` grows (the task's own
    default where the config does not set it)."""
    settings = _task_settings(cfg)
    return {key: settings[key] for key in cfg.train.curriculum}


def _curriculum(cfg: DictConfig) -> None:
    """``train.curriculum`` names integer settings of the task, each starting from 1 to its
    configured value, and the task accepts the start; its threshold and step are in range."""
    start = cfg.train.curriculum
    if start is None:
        return
    if not isinstance(start, DictConfig):
        raise ConfigError(f"train.curriculum is {start!r}; it must map task settings to their "
                          "starting values, like {max_length: 2}, or be null.")
    threshold, step = cfg.train.curriculum_bit_errors, cfg.train.curriculum_step
    if not 0 <= threshold < math.inf:
        raise ConfigError(f"train.curriculum_bit_errors is {threshold}; it must be a finite "
                          "number, 0 or more.")
    if step < 1:
        raise ConfigError(f"train.curriculum_step is {step}; it must be an integer >= 1.")
    settings = _task_settings(cfg)
    name = settings.get("name")
    if not isinstance(name, str) or name not in TASKS:
        return  # build_task names the task's own error
    params = {key: value for key, value in settings.items() if key != "name"}
    try:
        full = make_task(name, **params)
    except ValueError:
        return  # build_task names the task's own error
    integers = [key for key, value in settings.items()
                if isinstance(value, int) and not isinstance(value, bool)]
    if not start:
        raise ConfigError("train.curriculum is empty; name the task settings that start small "
                          f"(of task {name!r}: {', '.join(integers)}), or set it to null.")
    for key, value in start.items_ex(resolve=True):
        if key not in integers:
            raise ConfigError(f"train.curriculum.{key} is not an integer setting of task "
                              f"{name!r}; those are: {', '.join(integers)}.")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= settings[key]:
            raise ConfigError(f"train.curriculum.{key} is {value}; it must be an integer from 1 "
                              f"to task.{key} ({settings[key]}).")
    try:
        first = make_task(name, **{**params, **start})
    except ValueError as e:
        raise ConfigError(f"train.curriculum starts task {name!r} where it cannot start: "
                          f"{str(e).rstrip('.')}.") from None
    if (first.input_width, first.output_width) != (full.input_width, full.output_width):
        raise ConfigError(f"train.curriculum changes the width of task {name!r}'s inputs or "
                          "outputs, which the model's shape fixes; grow sizes such as "
                          "max_length instead.")


#: The ``model.*`` settings only a baseline reads (None for the other models), and how its
#: config file sizes it.
BASELINE_SETTINGS = {
    "lstm": (("model.size", "model.layers"), "the LSTM baseline", "model=lstm, which sets 256 x 3"),
    "transformer": (("model.size", "model.layers", "model.heads", "model.ffn_size",
                     "model.positions"), "the Transformer baseline",
                    "model=transformer, which sets them all"),
}


def _baseline_settings(cfg: DictConfig) -> None:
    """A baseline's own settings are set (sizes above 0); other models' are left null."""
    kind = cfg.model.kind
    needed, name, how = BASELINE_SETTINGS.get(kind, ((), "", ""))
    for key in needed:
        value = _get(cfg, key)
        if value is None or (not isinstance(value, str) and value <= 0):
            raise ConfigError(f"{key} is {value}; {name} needs it "
                              f"{'set' if key == 'model.positions' else 'greater than 0'} "
                              f"(choose it with {how}).")
        if key in LIMITS and value > LIMITS[key]:
            raise ConfigError(f"{key} is {value}; it must be an integer from 1 to "
                              f"{LIMITS[key]}.")
    for key in dict.fromkeys(k for keys, _, _ in BASELINE_SETTINGS.values() for k in keys):
        if key not in needed and _get(cfg, key) is not None:
            users = [f"model={k}" for k, (keys, _, _) in BASELINE_SETTINGS.items() if key in keys]
            hint = " (size the NTM with controller.*)" if kind == "ntm" else ""
            raise ConfigError(f"{key} is set but model.kind is {kind!r}; it applies to "
                              f"{' and '.join(users)} only{hint}.")


def _model_rules(cfg: DictConfig) -> None:
    """The rules of the model's own constructor (``ModelEntry.check``), its ValueError put in
    the config's words: each of its names becomes the setting it comes from."""
    entry = MODELS[cfg.model.kind]
    if entry.check is None:
        return
    try:
        entry.check(cfg)
    except ValueError as e:
        names = "|".join(sorted(entry.settings, key=len, reverse=True))
        message = re.sub(rf"(?<![\w.])({names})(?![\w.])", lambda m: entry.settings[m[1]], str(e))
        raise ConfigError(message) from None


def _first_difference(old: Any, new: Any, key: str) -> tuple[str, Any, Any] | None:
    """The first leaf setting (dotted key) where two config trees differ, or None; a section's
    ``name`` or ``kind`` comes first, so another task is reported as such."""
    if isinstance(old, dict) and isinstance(new, dict):
        for part in sorted(set(old) | set(new), key=lambda k: (k not in ("name", "kind"), k)):
            found = _first_difference(old.get(part), new.get(part), f"{key}.{part}")
            if found:
                return found
        return None
    return None if old == new else (key, old, new)


def _with_defaults(trained: dict) -> dict:
    """``trained`` with the schema's default for each setting of a group it lacks: a
    checkpoint written before a setting existed (``model.similarity``) was trained as that
    setting's default behaves (``task.size_axis``: the task's own default)."""
    defaults = OmegaConf.to_container(OmegaConf.structured(Config))
    filled = dict(trained)
    for group, values in defaults.items():
        if isinstance(values, dict) and isinstance(trained.get(group), dict):
            filled[group] = {**values, **trained[group]}
    task = trained.get("task")  # the task's own settings: its constructor's defaults
    if isinstance(task, dict) and isinstance(task.get("name"), str):
        filled["task"] = {**task_defaults(task["name"]), **task}
    return filled


def checkpoint_mismatch(trained: dict, current: dict,
                        settings: Sequence[str] = CHECKPOINT_SETTINGS,
                        ) -> tuple[str, Any, Any] | None:
    """Where ``current`` (a resolved config as a dict) disagrees with ``trained`` (the config
    saved in a checkpoint) on ``settings`` (``CHECKPOINT_SETTINGS``, or ``HELD_OUT_SETTINGS``
    for the held-out set): (dotted key, trained value, current value) of the first difference,
    or None; a setting newer than the checkpoint counts as its default there. Groups the
    trained model does not read (``ModelEntry.groups``: the LSTM baseline reads neither
    controller nor memory) are not compared, nor the settings of its groups it ignores
    (``ModelEntry.ignores``: the NTM's heads, clipping, similarity and write gate for the
    baselines)."""
    trained = _with_defaults(trained)
    model = trained.get("model")
    kind = model.get("kind") if isinstance(model, dict) else None
    unused = set(MODEL_GROUPS) - set(MODELS[kind].groups) if kind in MODELS else set()
    ignored = MODELS[kind].ignores if kind in MODELS else ()
    for key in settings:
        if key.split(".")[0] in unused:
            continue
        old, new = trained, current
        for part in key.split("."):
            old = old.get(part) if isinstance(old, dict) else None
            new = new.get(part) if isinstance(new, dict) else None
        drop = {name.split(".", 1)[1] for name in ignored if name.split(".")[0] == key}
        if drop and isinstance(old, dict) and isinstance(new, dict):
            old = {k: v for k, v in old.items() if k not in drop}
            new = {k: v for k, v in new.items() if k not in drop}
        found = _first_difference(old, new, key)
        if found:
            return found
    return None


def check_overrides(overrides: Sequence[str], conf_dir: str | Path) -> None:
    """Command-line overrides that Hydra would answer with a traceback rather than a message:
    a config group (a folder of ``conf_dir``) given something other than an option name
    (``controller=null``, ``task=0``), or an integer too large for a float (Hydra overflows
    converting it); ``ConfigError`` in one sentence. Anything else, parsed or not, is left to
    Hydra, which reports its own errors in a few lines."""
    groups = {p.name: sorted(q.stem for q in p.glob("*.yaml"))
              for p in Path(conf_dir).iterdir() if p.is_dir()}
    parser = OverridesParser.create()
    for item in overrides:
        try:
            (override,) = parser.parse_overrides([item])
        except (HydraException, ValueError):  # a flag (-m, --cfg job) or Hydra's to report
            continue
        if override.is_sweep_override() or override.is_delete():
            continue
        key, value = override.key_or_group, override.value()
        if key in groups and not isinstance(value, str | list | dict):
            raise ConfigError(f"{key} is {item.partition('=')[2]!r}, which is not an option "
                              f"name; choose one of {', '.join(groups[key])}.")
        if isinstance(value, int) and abs(value) > sys.float_info.max:
            raise ConfigError(f"{key} is a {len(str(abs(value)))}-digit number; no setting "
                              "takes numbers that large.")
