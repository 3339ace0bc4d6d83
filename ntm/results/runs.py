"""Loading a trained run: its config (with overrides), its task and its model with the
checkpoint's weights; one episode of it; what to call its model.

Shared by ``ntm.plot``, ``ntm.evaluate`` and training's own pictures. Nothing in a run
directory is executed: the config is YAML (plain values only) and the checkpoint is read with
``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from ntm.experiment import checkpoint
from ntm.experiment.build import build_model, build_task
from ntm.experiment.config import Config, ConfigError, checkpoint_mismatch, validate
from ntm.models.ntm import Trace
from ntm.models.transformer import AttentionTrace, SequenceTooLong
from tasks import Batch, Task, task_defaults

__all__ = ["BEST_HELP", "EVALUATION_MEMORY", "load_run", "load_ntm_run", "episode", "paper_model",
           "model_label", "memory_override", "run_config", "trained_up_to"]

#: The help of ``--best``, the flag of ``ntm.evaluate`` and ``ntm.plot`` for ``load_run``'s
#: ``best``.
BEST_HELP = ("the weights of the run's lowest held-out cost (RUN_DIR/best.pt) instead of its "
             "last checkpoint")


#: The memory an NTM that trained in less is evaluated with (the paper's N, for copy lengths up
#: to 120), unless the command line gives memory.N.
EVALUATION_MEMORY = 128


def run_config(run_dir: str | Path) -> DictConfig:
    """The run's config.yaml as written, or an empty config where it cannot be read (then
    ``load_run`` says what is wrong)."""
    try:
        found = OmegaConf.load(Path(run_dir) / "config.yaml")
    except Exception:  # missing, damaged, not YAML: all reported by load_run
        return OmegaConf.create()
    return found if isinstance(found, DictConfig) else OmegaConf.create()


def memory_override(config: DictConfig, overrides: Sequence[str]) -> list[str]:
    """``["memory.N=128"]`` (``EVALUATION_MEMORY``) for an NTM run that trained with fewer
    locations and a constant or random memory (its ``config`` as written: ``run_config``),
    when ``overrides`` give no ``memory.N``; else none. ``ntm.evaluate`` adds it, and ``ntm.plot``
    for a size beyond the training range: longer sequences need the rows (copy's default
    trains in 21). A learned memory would grow by rows it never learned, so it keeps its
    size (a learned start weighting grows by locations it never starts on)."""
    if any(item.partition("=")[0].strip() == "memory.N" for item in overrides):
        return []
    if (config.get("model", {}).get("kind") != "ntm" or "memory" not in config
            or config.memory.get("init") == "learned"
            or config.memory.get("N", EVALUATION_MEMORY) >= EVALUATION_MEMORY):
        return []
    return [f"memory.N={EVALUATION_MEMORY}"]


def trained_up_to(written: DictConfig, cfg: DictConfig) -> int:
    """The largest size the run trained on, from its config as written (``run_config``: before
    overrides such as task.max_length=50), on the size axis of ``cfg``, the config evaluated
    (repeat copy: task.size_axis=length counts lengths)."""
    axis = {"size_axis": cfg.task.size_axis} if "size_axis" in cfg.task else {}
    return build_task(written, **axis).largest_training_size


def _check_overrides(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Each override is ``key=value`` for a setting the run has, with a value of its type."""
    missing = object()
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value; write it like "
                              "task.max_length=50.")
        old = OmegaConf.select(cfg, key, default=missing)
        if old is missing:
            raise ConfigError(f"{key} is not a setting of this run's config.yaml; "
                              "override only settings the run has.")
        new = OmegaConf.select(OmegaConf.from_dotlist([item]), key)
        same_kind = isinstance(new, type(old)) or (type(old) is float and type(new) is int)
        wrong_kind = not same_kind or isinstance(old, bool) != isinstance(new, bool)
        if old is not None and new is not None and wrong_kind:
            raise ConfigError(f"{key} is {new!r}; it must be of type {type(old).__name__}, "
                              f"like the run's value {old!r}.")


def _mean_rows(bias: Tensor, n: int) -> Tensor:
    """A learned initial memory [N_trained, M] grown to [n, M] by copies of its mean row."""
    return torch.cat([bias, bias.mean(0, keepdim=True).expand(n - len(bias), -1)])


def _never_started_on(logits: Tensor, n: int) -> Tensor:
    """Learned start-weighting logits [H, N_trained] grown to [H, n] by -inf: weight 0."""
    return torch.cat([logits, logits.new_full((len(logits), n - logits.shape[1]),
                                              float("-inf"))], dim=1)


#: The trained parameters that have one entry per location, with what they are (for the error)
#: and how an evaluation in more locations grows them.
_GROWN_BY_LOCATION = {
    "memory_bias": ("its initial memory (memory.init=learned)", _mean_rows),
    "initial_weight_logits": ("its start weighting (memory.initial_weighting=learned)",
                              _never_started_on),
}


def _load_weights(model: nn.Module, weights: dict[str, Tensor], cfg: DictConfig,
                  trained_locations: int) -> None:
    """The checkpoint's weights into ``model``; buffers that depend only on N (the constant
    memory, the initial focus) are rebuilt when ``memory.N`` was overridden. A learned initial
    memory (``memory.init=learned``) can grow: the new locations start from the mean of the
    learned rows (an evaluation-time extension; the paper does not say), and cannot shrink. So
    can a learned start weighting (``memory.initial_weighting=learned``): the new locations'
    logits are -inf, so every head starts exactly as it learned to, on the old locations."""
    n = cfg.memory.N
    parameters = dict(model.named_parameters())  # a constant memory's bias is a buffer
    for key, (what, grow) in _GROWN_BY_LOCATION.items():
        if n == trained_locations or key not in weights or key not in parameters:
            continue
        if n < trained_locations:
            raise ConfigError(f"memory.N is {n} but this run learned {what} for "
                              f"{trained_locations} locations; it may grow but not shrink.")
        weights = {**weights, key: grow(weights[key], n)}
    if n != trained_locations:
        buffers = {name: b.shape for name, b in model.named_buffers()}
        weights = {k: v for k, v in weights.items() if buffers.get(k, v.shape) == v.shape}
    mismatch = ConfigError("the checkpoint's weights do not fit the model the overrides "
                           "describe; only task sizes and memory.N may differ from the run.")
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError:
        raise mismatch from None
    buffer_names = {name for name, _ in model.named_buffers()}
    if unexpected or set(missing) - buffer_names:
        raise mismatch


def load_run(run_dir: str | Path, overrides: Sequence[str] = (), best: bool = False,
             ) -> tuple[DictConfig, Task, nn.Module]:
    """The config (with ``overrides``, dotlist ``key=value``), task and trained model (on the
    CPU, eval mode; its averaged weights where the run kept an average, ``train.ema_decay``) of
    a run directory written by ``ntm.train``: the last checkpoint's weights, or with ``best``
    those of the evaluation with the lowest held-out cost (``best.pt``).

    Raises ``ConfigError`` or ``CheckpointError``, in one sentence and before any work, for a
    missing run directory or config, a bad override, a missing, damaged or foreign checkpoint,
    or a checkpoint trained with other settings (task, model, memory, ...) than the config.
    Nothing in the run directory is executed: the config is YAML (plain values only), the
    checkpoint is read with ``weights_only=True``.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        what = "is a file, not a run directory" if run_dir.exists() else "does not exist"
        raise ConfigError(f"run directory {run_dir} {what}; give one made by ntm.train.")
    if not config_path.is_file():
        raise ConfigError(f"{config_path} does not exist; give a run directory made by "
                          "ntm.train.")
    try:  # onto the schema: types are checked, settings newer than the run get defaults
        cfg = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(config_path))
    except Exception:  # yaml and omegaconf raise many kinds; all mean the same here
        raise ConfigError(f"{config_path} cannot be read as the config of an ntm run: it is "
                          "damaged or was not written by ntm.train.") from None
    if isinstance(cfg.get("task"), DictConfig) and isinstance(cfg.task.get("name"), str):
        # Task settings newer than the run take the task's defaults, as the schema's do above.
        cfg.task = OmegaConf.merge(task_defaults(cfg.task.name), cfg.task)
    trained_locations = cfg.memory.N
    trained_steps = build_task(cfg).max_steps  # learned positions are sized by the training task
    _check_overrides(cfg, overrides)
    ckpt_path = run_dir / (checkpoint.BEST_NAME if best else checkpoint.CHECKPOINT_NAME)
    if best and not ckpt_path.is_file():
        raise checkpoint.CheckpointError(
            f"{ckpt_path} does not exist: the run has not finished an evaluation, or was "
            "trained before ntm kept its best weights; leave out --best to load its last "
            "checkpoint.")
    state = checkpoint.load(ckpt_path)
    if not isinstance(state.get("model"), dict):
        raise checkpoint.CheckpointError(f"{ckpt_path} holds no model weights.")
    if isinstance(state.get("config"), dict):  # written by ntm.train: it says what it learned
        found = checkpoint_mismatch(state["config"], OmegaConf.to_container(cfg, resolve=True))
        if found:
            raise ConfigError(f"{ckpt_path} was trained with {found[0]} = {found[1]!r} but "
                              f"{config_path} has {found[2]!r}; they come from different runs.")
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    cfg.device = "cpu"  # one short episode: the CPU is enough, and always there
    cfg.train.compile = "false"  # evaluation runs the eager step (and cudagraphs needs CUDA)
    cfg.train.curriculum = None  # what the run trained on first does not matter here
    validate(cfg)
    task = build_task(cfg)
    with torch.random.fork_rng(devices=[]):  # initialisation must not move the global RNG
        model = build_model(cfg, task, max_steps=trained_steps)
    # A run that averaged its weights (train.ema_decay) was judged by the average: load that.
    weights = state.get("averaged_model") or state["model"]
    if not isinstance(weights, dict):
        raise checkpoint.CheckpointError(f"{ckpt_path} holds no readable averaged weights.")
    _load_weights(model, weights, cfg, trained_locations)
    return cfg, task, model.eval()


def load_ntm_run(run_dir: str | Path, task_name: str) -> tuple[DictConfig, Task, nn.Module]:
    """``load_run`` for a diagnostic that reads an NTM trained on ``task_name``
    (``benchmarks/plateau.py``, ``benchmarks/recall_lookup.py``): config, task and model, or
    ``ConfigError`` in one sentence for a run of another model or task."""
    cfg, task, model = load_run(run_dir)
    if cfg.task.name != task_name or cfg.model.kind != "ntm":
        raise ConfigError(f"{run_dir} trained {cfg.model.kind} on {cfg.task.name}; this script "
                          f"reads an NTM trained on {task_name}.")
    return cfg, task, model


@torch.no_grad()
def episode(model: nn.Module, task: Task, seed: int, size: int | None = None,
            sequences: int = 1) -> tuple[Batch, Tensor, Trace | AttentionTrace]:
    """One sequence (or a batch of ``sequences``) drawn from ``seed`` (size ``size``; None draws
    from the training range), run through ``model`` on its device in eval mode: (batch, logits
    [T, B, O], trace). The global random state is not touched."""
    generator = torch.Generator().manual_seed(seed)
    try:
        batch = task.sample_batch(generator, sequences, size)
    except ValueError as e:  # a size the task cannot lay out
        raise ConfigError(str(e)) from None
    device = next(model.parameters()).device
    batch = batch.to(device)
    was_training = model.training
    model.eval()
    try:  # the generator only matters for memory.init=random
        memory_generator = torch.Generator(device=device).manual_seed(seed)
        logits, trace = model(batch.inputs, trace=True, generator=memory_generator)
    except SequenceTooLong as e:  # learned positions end at the training length
        raise ConfigError(str(e)) from None
    finally:
        model.train(was_training)
    return batch, logits, trace


def paper_model(cfg: DictConfig) -> str:
    """The paper's name for a run's model: NTM-FF, NTM-LSTM or LSTM; Transformer for ours."""
    if cfg.model.kind == "lstm":
        return "LSTM"
    if cfg.model.kind == "transformer":
        return "Transformer"
    return "NTM-FF" if cfg.controller.kind == "feedforward" else "NTM-LSTM"


def model_label(cfg: DictConfig) -> str:
    """A run's model for titles: the paper's name, with the LSTM baseline's size."""
    if cfg.model.kind == "lstm":
        return f"LSTM {cfg.model.layers} x {cfg.model.size}"
    if cfg.model.kind == "transformer":
        m = cfg.model
        return f"Transformer {m.layers} x {m.size} ({m.heads} heads, {m.positions})"
    return paper_model(cfg)
