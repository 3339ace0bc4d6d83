"""The training app: ``python -m ntm.train [overrides]`` (or ``ntm-train``).

Trains on batches of mixed-length sequences, evaluates on a fixed held-out set every
``train.eval_every`` steps, appends a row to ``metrics.csv`` and writes a checkpoint at each
evaluation, and stops when the task is solved or the budget is spent. Started on a run
directory that holds a checkpoint (``hydra.run.dir=runs/...``), it resumes from it exactly.

A step whose loss or gradients are not finite is skipped (``first_nonfinite``): parameters and
optimizer state stay as they were, the step is logged and counted in the ``skipped_steps``
column (steps skipped since the previous row), and ``train.max_bad_steps`` such steps in a row
stop the run with a ``NonFiniteError``, leaving the last checkpoint as it was.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ntm import checkpoint
from ntm.build import build_model, build_optimizer, build_task, resolve_device
from ntm.config import (
    ConfigError,
    check_overrides,
    checkpoint_mismatch,
    register_configs,
    validate,
)
from ntm.fast import accelerate
from ntm.metrics import cost_per_sequence, evaluate_batches, training_loss
from ntm.run_dir import check_writable
from ntm.schedule import PlateauDecay
from ntm.threads import available_cpus, choose_threads
from tasks import Batch, Task

__all__ = ["METRICS_FIELDS", "NonFiniteError", "RunResult", "StepResult", "first_nonfinite",
           "train", "train_step", "main"]

log = logging.getLogger("ntm.train")

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
METRICS_NAME = "metrics.csv"
METRICS_FIELDS = ("step", "sequences", "wall_seconds", "train_cost", "eval_cost",
                  "eval_bit_errors", "eval_optimal_cost", "sequences_per_second",
                  "learning_rate", "skipped_steps")
# What a checkpoint must hold to be resumed.
RESUME_KEYS = ("model", "optimizer", "step", "sequences", "wall_seconds", "last_eval", "random",
               "config")


class NonFiniteError(RuntimeError):
    """``train.max_bad_steps`` steps in a row had a non-finite loss or gradient; the message
    says where, in one sentence."""


@dataclass
class RunResult:
    """How a run ended."""

    solved: bool
    step: int
    sequences: int
    wall_seconds: float
    eval_cost: float
    eval_bit_errors: float


def held_out_set(task: Task, cfg: DictConfig, device: torch.device) -> list[Batch]:
    """The fixed evaluation batches, drawn from ``train.eval_seed`` (not the run's seed)."""
    generator = torch.Generator().manual_seed(cfg.train.eval_seed)
    sizes = [cfg.train.eval_batch_size] * (cfg.train.eval_size // cfg.train.eval_batch_size)
    if cfg.train.eval_size % cfg.train.eval_batch_size:
        sizes.append(cfg.train.eval_size % cfg.train.eval_batch_size)
    return [task.sample_batch(generator, size).to(device) for size in sizes]


def optimal_cost(task: Task, batches: list[Batch]) -> float | None:
    """The Bayes-optimal predictor's mean cost per sequence on ``batches`` (bits), or None
    for a task without one (only dynamic N-grams has one)."""
    costs = [task.optimal_cost(batch) for batch in batches]
    if costs[0] is None:
        return None
    return float(torch.cat(costs).sum()) / sum(batch.inputs.shape[1] for batch in batches)


class MetricsLog:
    """``metrics.csv`` (one row per evaluation) and, when installed, TensorBoard scalars."""

    def __init__(self, run_dir: Path, resume_step: int | None, resume_sequences: int) -> None:
        self.path = run_dir / METRICS_NAME
        if resume_step is None or not self.path.exists():
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(METRICS_FIELDS)
        else:  # drop rows written after the checkpoint we resume from
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            with open(self.path, "w", newline="") as f:
                writer = csv.DictWriter(f, METRICS_FIELDS)
                writer.writeheader()
                writer.writerows(rows)
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            # On resume, drop events written after the checkpoint (x axis: sequences seen).
            purge = resume_sequences + 1 if resume_step is not None else None
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        except ImportError:  # TensorBoard is an optional extra
            pass

    def write(self, row: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, METRICS_FIELDS).writerow(row)
        if self.tensorboard is not None:
            for key in METRICS_FIELDS[2:]:
                if row[key] != "":
                    self.tensorboard.add_scalar(key, row[key], global_step=int(row["sequences"]))
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


class StepResult(NamedTuple):
    logits: torch.Tensor  # [T, B, out], detached
    nonfinite: str | None  # None, or what was not finite: the step was skipped


def first_nonfinite(model: torch.nn.Module, loss: torch.Tensor) -> str | None:
    """None when ``loss`` and every gradient of ``model`` are finite; else "the loss" or "the
    gradient of NAME" for the first parameter, in model order, whose gradient is not.

    The happy path is one fused norm per gradient and one sync with the device; parameters are
    searched only when it fails. A gradient whose norm overflows float32 counts as not finite.
    """
    named = [(name, p.grad) for name, p in model.named_parameters() if p.grad is not None]
    norms = torch._foreach_norm([grad for _, grad in named])  # what clip_grad_norm_ uses
    if torch.isfinite(torch.stack([loss.detach(), *norms])).all():
        return None
    if not torch.isfinite(loss):
        return "the loss"
    return next((f"the gradient of {name}" for (name, _), norm in zip(named, norms, strict=True)
                 if not torch.isfinite(norm)), "the gradient norm")


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    clip_grad_value: float | None = None,
    clip_grad_norm: float | None = None,
) -> StepResult:
    """One optimisation step on ``batch``, or none when the loss or a gradient is not finite:
    then the parameters and the optimizer's state (Adam's step count and moments too) are
    left exactly as they were, and ``nonfinite`` says what was not finite."""
    model.train()
    logits = model(batch.inputs)
    loss = training_loss(logits, batch.targets, batch.mask)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nonfinite = first_nonfinite(model, loss)  # before clipping: value clipping hides an inf
    if nonfinite is not None:
        optimizer.zero_grad(set_to_none=True)
        return StepResult(logits.detach(), nonfinite)
    if clip_grad_value is not None:
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_grad_value)
    if clip_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()
    return StepResult(logits.detach(), None)


def _stop_message(step: int, nonfinite: str, limit: int) -> str:
    return (f"training stopped at step {step} after {limit} steps in a row with a non-finite "
            f"loss or gradient (train.max_bad_steps = {limit}; the last: {nonfinite}), leaving "
            "the last checkpoint as it was; resume with a lower optim.lr or tighter clipping.")


def _check_resume_config(saved: dict, cfg: DictConfig) -> None:
    found = checkpoint_mismatch(saved, OmegaConf.to_container(cfg, resolve=True))
    if found:
        raise ConfigError(
            f"{found[0]} is {found[2]!r} but the checkpoint was trained with "
            f"{found[1]!r}; resume with the run's own settings or start a new run directory."
        )


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train(cfg: DictConfig, run_dir: str | Path) -> RunResult:
    """Trains (or resumes) the run described by ``cfg`` in ``run_dir``."""
    run_dir = Path(run_dir)
    validate(cfg)
    task = build_task(cfg)
    check_writable(run_dir)
    device = resolve_device(cfg.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    data_generator = _seed_everything(cfg.seed)
    model = build_model(cfg, task).to(device)
    accelerate(model, cfg.train.compile, device)  # the fast step, ntm/fast.py
    optimizer = build_optimizer(cfg, model.parameters())
    eval_batches = held_out_set(task, cfg, device)
    eval_optimal = optimal_cost(task, eval_batches)
    t = cfg.train
    decay = None
    if t.lr_decay_patience:
        decay = PlateauDecay(cfg.optim.lr, t.lr_decay_factor, t.lr_decay_patience, t.min_lr)

    threshold = t.solved_bit_errors
    ckpt_path = run_dir / checkpoint.CHECKPOINT_NAME
    step = sequences = 0
    wall = 0.0
    last = {"cost": math.nan, "bit_errors": math.nan, "sequences": 0}
    solved = False
    resume_step = None
    bad_in_a_row = 0  # steps skipped in a row (non-finite loss or gradient)
    if ckpt_path.exists():
        # On the CPU: random states must stay CPU tensors; load_state_dict moves the rest.
        state = checkpoint.load(ckpt_path)
        missing = [key for key in RESUME_KEYS if key not in state]
        if missing:
            raise checkpoint.CheckpointError(f"{ckpt_path} holds no {missing[0]!r}, so it was "
                                             "not written by ntm.train and cannot be resumed.")
        _check_resume_config(state["config"], cfg)
        try:
            model.load_state_dict(state["model"])
            # The optimizer's moments come from the checkpoint, its settings (lr, ...) from cfg.
            settings = [{k: v for k, v in g.items() if k != "params"}
                        for g in optimizer.param_groups]
            optimizer.load_state_dict(state["optimizer"])
            for group, setting in zip(optimizer.param_groups, settings, strict=True):
                group.update(setting)
            if decay is not None and state.get("lr_decay"):
                decay.load_state_dict(state["lr_decay"])
                decay.apply(optimizer)
            checkpoint.restore_random_states(state["random"], data_generator)
        except (KeyError, TypeError, ValueError, RuntimeError):
            raise checkpoint.CheckpointError(
                f"{ckpt_path} does not fit the model and optimizer its own config describes, "
                "so it is damaged or was written by another version of ntm."
            ) from None
        bad_in_a_row = state.get("bad_steps_in_a_row", 0)
        step, sequences, wall = state["step"], state["sequences"], state["wall_seconds"]
        last, resume_step = state["last_eval"], step
        # Solved by this run's threshold, which may be stricter than the checkpoint's.
        solved = threshold is not None and last["bit_errors"] <= threshold
        log.info("Resuming %s from step %d (%d sequences).", run_dir, step, sequences)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    metrics = MetricsLog(run_dir, resume_step, sequences)

    max_seconds = math.inf if t.max_minutes is None else 60 * t.max_minutes

    def out_of_budget() -> bool:
        return solved or sequences >= t.max_sequences or wall >= max_seconds

    progress_on = t.progress and not os.environ.get("CI")
    bar = tqdm(total=t.max_sequences, initial=sequences, unit="seq", dynamic_ncols=True,
               disable=None if progress_on else True)
    session_start = time.perf_counter() - wall
    train_cost = train_seen = train_time = 0.0
    cost_seen = skipped = 0  # since the last row: sequences in train_cost, steps skipped
    with logging_redirect_tqdm() if not bar.disable else nullcontext():
        while not out_of_budget():
            started = time.perf_counter()
            batch = task.sample_batch(data_generator, t.batch_size).to(device)
            logits, nonfinite = train_step(model, optimizer, batch, t.clip_grad_value,
                                           t.clip_grad_norm)
            step += 1
            if nonfinite is None:
                bad_in_a_row = 0
                cost = cost_per_sequence(logits, batch.targets, batch.mask).sum().item()
                train_cost += cost
                cost_seen += t.batch_size
            else:
                bad_in_a_row, skipped, cost = bad_in_a_row + 1, skipped + 1, math.nan
                log.warning("Step %d skipped: %s is not finite (%d in a row).", step, nonfinite,
                            bad_in_a_row)
                if bad_in_a_row >= t.max_bad_steps:
                    bar.close()
                    metrics.close()
                    raise NonFiniteError(_stop_message(step, nonfinite, t.max_bad_steps))
            train_seen += t.batch_size
            sequences += t.batch_size
            train_time += time.perf_counter() - started
            wall = time.perf_counter() - session_start
            bar.update(t.batch_size)
            bar.set_postfix(step=step, cost=f"{cost / t.batch_size:.2f}", refresh=False)

            if step % t.eval_every == 0 or out_of_budget():
                model.eval()
                last = evaluate_batches(model, eval_batches)
                solved = threshold is not None and last["bit_errors"] <= threshold
                wall = time.perf_counter() - session_start
                row = {
                    "step": step, "sequences": sequences, "wall_seconds": round(wall, 3),
                    "train_cost": train_cost / cost_seen if cost_seen else math.nan,
                    "eval_cost": last["cost"], "eval_bit_errors": last["bit_errors"],
                    "eval_optimal_cost": "" if eval_optimal is None else eval_optimal,
                    "sequences_per_second": round(train_seen / train_time, 2),
                    "learning_rate": optimizer.param_groups[0]["lr"], "skipped_steps": skipped,
                }
                if decay is not None and decay.step(last["cost"]):
                    decay.apply(optimizer)
                    log.info("Held-out cost has not improved for %d evaluations: learning "
                             "rate now %g.", t.lr_decay_patience, decay.lr)
                metrics.write(row)
                checkpoint.save(ckpt_path, {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "step": step, "sequences": sequences, "wall_seconds": wall,
                    "last_eval": last, "solved": solved, "bad_steps_in_a_row": bad_in_a_row,
                    "lr_decay": decay.state_dict() if decay is not None else None,
                    "random": checkpoint.random_states(data_generator),
                    "config": OmegaConf.to_container(cfg, resolve=True),
                })
                log.info("step %d, %d sequences, %.0f s: held-out cost %.3f bits/seq%s, "
                         "%.3f bit errors/seq; train cost %.3f; %.0f seq/s", step, sequences,
                         wall, last["cost"],
                         "" if eval_optimal is None else f" (Bayes-optimal {eval_optimal:.3f})",
                         last["bit_errors"], row["train_cost"], row["sequences_per_second"])
                train_cost = train_seen = train_time = 0.0
                cost_seen = skipped = 0
                evaluations = step // t.eval_every
                drawing_due = t.plot_every and evaluations % t.plot_every == 0
                if t.pictures and drawing_due and not out_of_budget():
                    _draw(run_dir, cfg, model, task)
    bar.close()
    metrics.close()
    if t.pictures:
        _draw(run_dir, cfg, model, task)
    result = RunResult(solved, step, sequences, wall, last["cost"], last["bit_errors"])
    if solved:
        log.info("Solved %s after %d sequences, %.0f s.", task.name, sequences, wall)
    elif threshold is None:
        log.info("Finished %s after %d sequences, %.0f s (no solved threshold); held-out cost "
                 "%.3f bits and %.3f bit errors per sequence.", task.name, sequences, wall,
                 last["cost"], last["bit_errors"])
    else:
        log.info("Stopped %s unsolved after %d sequences, %.0f s; held-out bit errors %.3f "
                 "per sequence.", task.name, sequences, wall, last["bit_errors"])
    return result


def _draw(run_dir: Path, cfg: DictConfig, model: torch.nn.Module, task: Task) -> None:
    """The run's pictures (learning curves, memory use); a failure is logged, never fatal."""
    from ntm.plot import write_run_pictures  # matplotlib is slow to import; only when needed

    try:
        paths = write_run_pictures(run_dir, cfg, model, task)
    except Exception as e:  # a picture must never cost a training run
        log.warning("Could not draw the pictures of %s: %s", run_dir, e)
    else:
        log.info("Pictures: %s", ", ".join(str(p) for p in paths))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        validate(cfg)  # before the thread count is used (100000 threads crash OpenMP)
        # Runs that a launcher starts side by side share the CPUs (ntm/threads.py).
        threads, why = choose_threads(cfg.train.threads, hydra_cfg.launcher,
                                      hydra_cfg.mode == RunMode.MULTIRUN, available_cpus())
        if threads:
            torch.set_num_threads(threads)
        log.info("torch threads: %d (%s).", torch.get_num_threads(), why)
        result = train(cfg, run_dir)
    except (ConfigError, checkpoint.CheckpointError, NonFiniteError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    return result.eval_bit_errors


def main() -> None:
    """Console entry point ``ntm-train``."""
    register_configs()
    try:  # the few overrides Hydra itself would answer with a traceback
        check_overrides(sys.argv[1:], CONF_DIR)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()


if __name__ == "__main__":
    main()
