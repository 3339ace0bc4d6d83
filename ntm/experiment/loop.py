"""The training loop behind ``python -m ntm.train`` (the command line is ``ntm/train.py``).

Trains on batches of mixed-length sequences, evaluates on a fixed held-out set every
``train.eval_every`` steps, appends a row to ``metrics.csv`` and writes a checkpoint at each
evaluation (and ``best.pt``, the judged weights of the lowest held-out cost so far), and stops
when the task is solved or the budget is spent. Started on a run directory that holds a
checkpoint (``hydra.run.dir=runs/...``), it resumes from it exactly.

A step whose loss or gradients are not finite is skipped (``first_nonfinite``; finite gradients
whose norm overflows float32 are scaled down instead when the step clips): parameters and
optimizer state stay as they were, the step is logged and counted in the ``skipped_steps``
column (steps skipped since the previous row), and ``train.max_bad_steps`` such steps in a row
stop the run with a ``NonFiniteError``, leaving the last checkpoint as it was.

The run directory is held for the run (``ntm/experiment/lock.py``): another process on it gets
``RunDirInUse`` before anything is written. A file that cannot be written (a full disk, a
filesystem gone) stops the run with a ``WriteError`` (``ntm/experiment/writes.py``), its last
checkpoint intact and resumable.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ntm.experiment import checkpoint, lock
from ntm.experiment.average import WeightAverage
from ntm.experiment.build import build_model, build_optimizer, build_task, resolve_device
from ntm.experiment.config import curriculum_targets, validate
from ntm.experiment.curriculum import Curriculum
from ntm.experiment.metrics import (
    bit_errors_per_sequence,
    cost_per_sequence,
    evaluate_batches,
    optimal_cost_per_sequence,
)
from ntm.experiment.metrics_log import METRICS_NAME, MetricsLog, read_columns
from ntm.experiment.rollback import Rollback
from ntm.experiment.run_dir import check_writable
from ntm.experiment.schedule import BitErrorDrop, PlateauDecay, cooldown_factor, warmup_factor
from ntm.experiment.state import TrainState
from ntm.experiment.step import StepResult, train_step
from ntm.experiment.writes import write_atomically
from ntm.models.fast import accelerate
from tasks import Batch, Task

__all__ = ["Draw", "Interrupted", "NonFiniteError", "RunResult", "held_out_set", "seed_everything",
           "train"]

log = logging.getLogger("ntm.train")

#: Draws a run's pictures: (run directory, config, model, task).
Draw = Callable[[Path, DictConfig, torch.nn.Module, Task], None]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: at ``step``, with the last checkpoint at ``checkpoint_step`` (None
    when none was written yet). A ``KeyboardInterrupt``, so callers that do not know it still
    stop."""

    def __init__(self, step: int, checkpoint_step: int | None) -> None:
        super().__init__(step, checkpoint_step)
        self.step, self.checkpoint_step = step, checkpoint_step


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


@dataclass
class _Window:
    """What happened since the last row of ``metrics.csv``."""

    train_cost: float = 0.0  # summed over the sequences of finite steps ...
    train_bit_errors: float = 0.0  # ... and so are these
    cost_seen: int = 0  # ... which are these many
    seen: int = 0  # sequences trained on, skipped steps included
    seconds: float = 0.0  # spent in training steps (not evaluating)
    skipped: int = 0  # steps skipped (non-finite loss or gradient)
    scaled: int = 0  # steps whose finite gradient's norm overflowed float32 (scaled down)


def train(cfg: DictConfig, run_dir: str | Path, draw: Draw | None = None) -> RunResult:
    """Trains (or resumes) the run described by ``cfg`` in ``run_dir``. ``draw`` draws the
    run's pictures where ``train.pictures`` and ``train.plot_every`` ask for them (``ntm.train``
    passes ``draw_pictures``; pictures belong to ``ntm.results``, above this module)."""
    run_dir = Path(run_dir)
    validate(cfg)
    task = build_task(cfg)
    check_writable(run_dir)
    with lock.hold(run_dir):
        return _train(cfg, run_dir, task, draw)


def _train(cfg: DictConfig, run_dir: Path, task: Task, draw: Draw | None) -> RunResult:
    """``train`` once the run directory is checked and held."""
    t = cfg.train
    device = resolve_device(cfg.device)
    if t.threads:
        torch.set_num_threads(t.threads)
    state = _initial_state(cfg, task, device)
    ckpt_path = run_dir / checkpoint.CHECKPOINT_NAME
    resume_step = None
    if ckpt_path.exists():
        # On the CPU: random states must stay CPU tensors; load_state_dict moves the rest.
        saved = checkpoint.load(ckpt_path)
        state.load_state_dict(saved, origin=ckpt_path)
        resume_step = state.step
        log.info("Resuming %s from step %d (%d sequences).", run_dir, state.step,
                 state.sequences)
        if "best_cost" not in saved:  # written before runs kept best.pt
            state.best_cost = _lowest_recorded_cost(run_dir, resume_step)
            log.info("The checkpoint is older than best.pt: best.pt will hold the first later "
                     "evaluation below %.3f, the lowest held-out cost in metrics.csv.",
                     state.best_cost)
        saved_threshold = saved["config"].get("train", {}).get("solved_bit_errors")
        if saved_threshold != t.solved_bit_errors or state.solved_at is None:
            # Solved by this run's threshold, which may differ from the checkpoint's.
            state.solved_at = (state.sequences if _solved(state.last_eval, t.solved_bit_errors)
                               else None)
    state.solved = _solved(state.last_eval, t.solved_bit_errors)
    # Drawn after the checkpoint is checked, so that a refused resume draws nothing; the draw
    # uses its own generator, so its place changes no run.
    eval_batches = held_out_set(task, cfg, device)
    eval_optimal = optimal_cost_per_sequence(task, eval_batches)
    max_seconds = math.inf if t.max_minutes is None else 60 * t.max_minutes

    def out_of_budget() -> bool:
        done = (state.solved_at is not None
                and state.sequences >= state.solved_at + t.sequences_after_solved)
        return done or state.sequences >= t.max_sequences or state.wall_seconds >= max_seconds

    metrics = MetricsLog(run_dir, resume_step, state.sequences)
    bar = _progress_bar(cfg, state.sequences, task.name)
    session_start = time.perf_counter() - state.wall_seconds
    start_sequences, start_seconds = state.sequences, state.wall_seconds
    window = _Window()
    checkpoint_step = resume_step
    solve_logged = False
    training_task = _training_task(cfg, task, state)
    try:
        write_atomically(run_dir / "config.yaml", lambda f: OmegaConf.save(cfg, f, resolve=True))
        with logging_redirect_tqdm() if not bar.disable else nullcontext():
            while not out_of_budget():
                started = time.perf_counter()
                _set_step_rate(state, cfg)
                batch = training_task.sample_batch(state.data_generator, t.batch_size).to(device)
                result = train_step(state.model, state.optimizer, batch, t.clip_grad_value,
                                    t.clip_grad_norm, t.loss)
                cost = _count_step(state, window, result, batch, cfg)
                if state.average is not None and result.nonfinite is None:
                    state.average.update(state.model, state.sequences)
                state.sequences += t.batch_size
                window.seconds += time.perf_counter() - started
                state.wall_seconds = time.perf_counter() - session_start
                bar.update(t.batch_size)
                bar.set_postfix(step=state.step, cost=f"{cost / t.batch_size:.2f}", refresh=False)

                if state.step % t.eval_every == 0 or out_of_budget():
                    trained_bit_errors = _evaluate(state, eval_batches, cfg)
                    state.wall_seconds = time.perf_counter() - session_start
                    first_solve = state.solved and state.solved_at is None
                    if first_solve:
                        state.solved_at = state.sequences
                    # A budget stop between two evaluation steps evaluates too (the run's
                    # last figures), but the schedules only ever see the evaluation steps, so
                    # a run resumed with a larger budget goes on as if never stopped.
                    _record(state, window, metrics, ckpt_path, eval_optimal, cfg,
                            schedules=state.step % t.eval_every == 0,
                            trained_bit_errors=trained_bit_errors)
                    checkpoint_step = state.step
                    if first_solve:  # now, not after the pictures: the solve is this moment's
                        _log_solved(state, task, t.solved_bit_errors,
                                    f"; training on for {t.sequences_after_solved} more "
                                    "sequences (train.sequences_after_solved)"
                                    if t.sequences_after_solved and not out_of_budget()
                                    else ".")
                        solve_logged = True
                    window = _Window()
                    training_task = _training_task(cfg, task, state)
                    evaluations = state.step // t.eval_every
                    drawing_due = t.plot_every and evaluations % t.plot_every == 0
                    if draw and t.pictures and drawing_due and not out_of_budget():
                        with _judged(state) as model:
                            draw(run_dir, cfg, model, task)
                # Where the bar ends, once per step and after any evaluation: a budget that
                # runs out during an evaluation ends the bar at the sequences reached.
                if not bar.disable and t.max_minutes is not None:
                    bar.total = progress_total(
                        state.sequences, t.max_sequences, state.sequences - start_sequences,
                        state.wall_seconds - start_seconds, max_seconds - state.wall_seconds)
    except KeyboardInterrupt:
        raise Interrupted(state.step, checkpoint_step) from None
    finally:
        bar.close()
        metrics.close()
    if draw and t.pictures:
        with _judged(state) as model:
            draw(run_dir, cfg, model, task)
    return _result(state, task, t.solved_bit_errors, t.sequences_after_solved, solve_logged)


def _training_task(cfg: DictConfig, task: Task, state: TrainState) -> Task:
    """The task the training batches come from: ``task``, or with a curriculum the task at
    the curriculum's current level (the held-out set always comes from ``task``)."""
    if state.curriculum is None or state.curriculum.complete:
        return task
    return build_task(cfg, **state.curriculum.levels).scaled_like(task)


def _next_step_rate(state: TrainState, cfg: DictConfig) -> float:
    """The learning rate of the next step: the schedules' rate (``state.learning_rate()``)
    times its warm-up and cool-down fractions."""
    t = cfg.train
    return (state.learning_rate() * warmup_factor(state.sequences, t.warmup_sequences)
            * cooldown_factor(state.sequences, t.lr_cooldown_start, t.lr_cooldown_sequences,
                              t.lr_cooldown_factor))


def _set_step_rate(state: TrainState, cfg: DictConfig) -> None:
    """Sets the optimizer's learning rate for the next step: every step's rate comes from
    ``_next_step_rate``, whichever schedules are on."""
    lr = _next_step_rate(state, cfg)
    for group in state.optimizer.param_groups:
        group["lr"] = lr


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _initial_state(cfg: DictConfig, task: Task, device: torch.device) -> TrainState:
    """A fresh run: seeded, the model initialised from the seed, the optimizer built."""
    data_generator = seed_everything(cfg.seed)
    model = build_model(cfg, task).to(device)
    # train.compile: the compiled NTM step, train.compile_steps time steps per graph
    mode = accelerate(model, cfg.train.compile, device, steps_per_graph=cfg.train.compile_steps,
                      wrapper=cfg.train.compile_wrapper)
    log.info("Time step: %s (train.compile=%s).",
             f"compiled by torch.compile, mode {mode}, {cfg.train.compile_steps} steps per graph"
             if mode else "eager", cfg.train.compile)
    optimizer = build_optimizer(cfg, model.parameters())
    t = cfg.train
    decay = (PlateauDecay(cfg.optim.lr, t.lr_decay_factor, t.lr_decay_patience, t.min_lr)
             if t.lr_decay_patience else None)
    drop = (BitErrorDrop(t.lr_drop_bit_errors, t.lr_drop_factor)
            if t.lr_drop_bit_errors is not None else None)
    rollback = (Rollback(t.rollback_factor, t.rollback_min_bit_errors, t.rollback_lr_factor)
                if t.rollback_factor is not None else None)
    curriculum = (Curriculum(dict(t.curriculum), curriculum_targets(cfg),
                             t.curriculum_bit_errors, t.curriculum_step)
                  if t.curriculum is not None else None)
    average = WeightAverage(t.ema_decay, t.ema_start) if t.ema_decay is not None else None
    return TrainState(model, optimizer, data_generator, OmegaConf.to_container(cfg, resolve=True),
                      decay, drop, rollback, curriculum, average)


#: The held-out set is drawn this many sequences at a time, whatever ``train.eval_batch_size``
#: is, so that the batch size (a matter of speed) cannot change the set, the solve or the run.
HELD_OUT_DRAW = 500


def held_out_set(task: Task, cfg: DictConfig, device: torch.device) -> list[Batch]:
    """The fixed evaluation batches: ``train.eval_size`` sequences drawn from
    ``train.eval_seed`` (not the run's seed), ``HELD_OUT_DRAW`` at a time, then given out
    ``train.eval_batch_size`` at a time (each batch cut after its last scored step)."""
    generator = torch.Generator().manual_seed(cfg.train.eval_seed)
    size, batch_size = cfg.train.eval_size, cfg.train.eval_batch_size
    drawn = Batch.join([task.sample_batch(generator, min(HELD_OUT_DRAW, size - start))
                        for start in range(0, size, HELD_OUT_DRAW)])
    return [drawn.part(slice(start, start + batch_size)).to(device)
            for start in range(0, size, batch_size)]


def _solved(last_eval: dict[str, float], threshold: float | None) -> bool:
    return threshold is not None and last_eval["bit_errors"] <= threshold


def _progress_bar(cfg: DictConfig, sequences: int, task_name: str) -> tqdm:
    """On a terminal only: never in CI, never with ``train.progress=false``. Counts sequences
    up to the budget (``progress_total`` moves the end to where the minutes run out); its
    description says when the run stops earlier, solved."""
    progress_on = cfg.train.progress and not os.environ.get("CI")
    return tqdm(total=cfg.train.max_sequences, initial=sequences, unit="seq", dynamic_ncols=True,
                desc=progress_description(cfg, task_name),
                disable=None if progress_on else True)


def progress_description(cfg: DictConfig, task_name: str) -> str:
    """The bar's description: the task, and the stop other than the budget (solved)."""
    threshold = cfg.train.solved_bit_errors
    if threshold is None:
        return task_name
    after = cfg.train.sequences_after_solved
    return (f"{task_name} (stops early once bit errors <= {threshold:g}"
            + (f", {after} sequences later)" if after else ")"))


def progress_total(sequences: int, max_sequences: int, session_sequences: int,
                   session_seconds: float, seconds_left: float) -> int:
    """Where the bar ends: ``max_sequences``, or, when the minutes budget runs out first, the
    sequences reached by then at this session's rate (``session_sequences`` trained in
    ``session_seconds``); so its ETA is the real stop, not the sequence budget's."""
    if math.isinf(seconds_left) or session_sequences <= 0 or session_seconds <= 0:
        return max_sequences
    at_deadline = sequences + session_sequences / session_seconds * max(seconds_left, 0.0)
    return min(max_sequences, max(sequences, math.ceil(at_deadline)))


def _count_step(state: TrainState, window: _Window, result: StepResult, batch: Batch,
                cfg: DictConfig) -> float:
    """Counts one step taken (or skipped); returns its summed cost, NaN when skipped. Raises
    ``NonFiniteError`` when it is the ``train.max_bad_steps``-th skipped in a row."""
    batch_size, limit = cfg.train.batch_size, cfg.train.max_bad_steps
    state.step += 1
    window.seen += batch_size
    if result.nonfinite is None:
        state.bad_steps_in_a_row = 0
        window.scaled += result.scaled
        cost = cost_per_sequence(result.logits, batch.targets, batch.mask).sum().item()
        if state.curriculum is not None and not state.curriculum.complete:
            window.train_bit_errors += bit_errors_per_sequence(
                result.logits, batch.targets, batch.mask).sum().item()
        window.train_cost += cost
        window.cost_seen += batch_size
        return cost
    state.bad_steps_in_a_row += 1
    window.skipped += 1
    log.warning("Step %d skipped: %s is not finite (%d in a row).", state.step, result.nonfinite,
                state.bad_steps_in_a_row)
    if state.bad_steps_in_a_row >= limit:
        raise NonFiniteError(
            f"training stopped at step {state.step} after {limit} steps in a row with a "
            f"non-finite loss or gradient (train.max_bad_steps = {limit}; the last: "
            f"{result.nonfinite}), leaving the last checkpoint as it was; resume with a lower "
            "optim.lr or tighter clipping.")
    return math.nan


def _lowest_recorded_cost(run_dir: Path, step: int) -> float:
    """The lowest held-out cost in ``metrics.csv`` up to ``step`` (inf without one): the best
    so far of a run resumed from a checkpoint written before ``best.pt`` was kept, so that
    ``best.pt`` never holds weights worse than an earlier row."""
    path = run_dir / METRICS_NAME
    if not path.is_file():
        return math.inf
    columns, _ = read_columns(path, ("eval_cost",), optional=("step",))
    costs = columns["eval_cost"][~(columns["step"] > step)]  # rows without a step count
    costs = costs[np.isfinite(costs)]
    return float(costs.min()) if len(costs) else math.inf


def _judged(state: TrainState) -> AbstractContextManager[torch.nn.Module]:
    """The model the run is judged by: its averaged weights in place (``train.ema_decay``),
    or the model as it is."""
    return state.average.applied(state.model) if state.average is not None else nullcontext(
        state.model)


def _evaluate(state: TrainState, eval_batches: list[Batch],
              cfg: DictConfig) -> float | None:
    """Evaluates on the held-out set (the averaged weights, where the run keeps them);
    records whether the task is solved. Returns the trained weights' own held-out bit errors
    where the run judges an average and guards against the collapse (a second evaluation:
    the guard watches the weights that collapse, which the average follows late and
    blurred), else None."""
    state.model.eval()
    with _judged(state) as model:
        state.last_eval = evaluate_batches(model, eval_batches)
    state.solved = _solved(state.last_eval, cfg.train.solved_bit_errors)
    if state.rollback is None or state.average is None or state.average.averaged is None:
        return None
    return evaluate_batches(state.model, eval_batches)["bit_errors"]


def _record(state: TrainState, window: _Window, metrics: MetricsLog, ckpt_path: Path,
            eval_optimal: float | None, cfg: DictConfig, schedules: bool = True,
            trained_bit_errors: float | None = None) -> None:
    """After an evaluation: lets the learning-rate schedules, the rollback (``schedules``) see
    the held-out cost and bit errors (the guard the trained weights' ``trained_bit_errors``
    where ``_evaluate`` made them), and the curriculum the training bit errors; writes the
    row of ``metrics.csv`` (with the rate and the curriculum levels the window trained with) and
    the checkpoint, and ``best.pt`` when the held-out cost is the lowest so far; logs."""
    last = state.last_eval
    row = {
        "step": state.step, "sequences": state.sequences,
        "wall_seconds": round(state.wall_seconds, 3),
        "train_cost": window.train_cost / window.cost_seen if window.cost_seen else math.nan,
        "eval_cost": last["cost"], "eval_bit_errors": last["bit_errors"],
        "eval_optimal_cost": "" if eval_optimal is None else eval_optimal,
        "sequences_per_second": round(window.seen / window.seconds, 2),
        "learning_rate": state.optimizer.param_groups[0]["lr"],
        "skipped_steps": window.skipped,
        "trained_bit_errors": "" if trained_bit_errors is None else trained_bit_errors,
        "curriculum": "" if state.curriculum is None else state.curriculum.column_text(),
    }
    if last["cost"] < state.best_cost:  # before the checkpoint that records it (a kill
        state.best_cost = last["cost"]  # between the two writes it again on resume)
        checkpoint.save(ckpt_path.with_name(checkpoint.BEST_NAME), state.best_state_dict())
    decay, drop = state.lr_decay, state.lr_drop
    guard, curriculum = state.rollback, state.curriculum
    if not schedules:
        decay = drop = guard = curriculum = None
    if decay is not None and decay.step(last["cost"]):
        state.apply_learning_rate()
        log.info("Held-out cost has not improved for %d evaluations: learning rate now %g.",
                 cfg.train.lr_decay_patience, _next_step_rate(state, cfg))
    watched = last["bit_errors"] if trained_bit_errors is None else trained_bit_errors
    rolled_back = guard is not None and guard.step(watched, state.model, state.optimizer, last,
                                                   state.average)
    if rolled_back:
        state.apply_learning_rate()
        if guard.best_evaluation is not None:  # the figures of the model now in place (the
            state.last_eval = dict(guard.best_evaluation)  # row keeps the discarded one's)
            state.solved = _solved(state.last_eval, cfg.train.solved_bit_errors)
        log.warning("Held-out bit errors%s %.3f are above %g times the best so far (%.3f) "
                    "and above %g: model, optimizer (and weight average) put back to that "
                    "evaluation's state "
                    "(rollback %d, train.rollback_factor); learning rate now %g.",
                    "" if trained_bit_errors is None else " of the trained weights", watched,
                    guard.factor, guard.best, guard.min_bit_errors, guard.count,
                    _next_step_rate(state, cfg))
    if drop is not None and drop.step(last["bit_errors"]):
        state.apply_learning_rate()
        log.info("Held-out bit errors %.3f are at or below train.lr_drop_bit_errors = %g: "
                 "learning rate now %g.", last["bit_errors"], drop.bit_errors,
                 _next_step_rate(state, cfg))
    train_bit_errors = window.train_bit_errors / window.cost_seen if window.cost_seen else math.nan
    # Not after a rollback: those training errors were the discarded model's.
    if curriculum is not None and not rolled_back and curriculum.step(train_bit_errors):
        log.info("Training bit errors %.3f per sequence are at or below "
                 "train.curriculum_bit_errors = %g: training batches now have %s.",
                 train_bit_errors, curriculum.bit_errors, curriculum.describe())
    if window.scaled:
        log.warning("%d of the steps since the last evaluation had a finite gradient whose "
                    "norm overflowed float32; each was clipped and taken (docs/training.md, "
                    "\"Gradients past float32's range\").", window.scaled)
    metrics.write(row)
    checkpoint.save(ckpt_path, state.state_dict())
    log.info("step %d, %d sequences, %.0f s: held-out cost %.3f bits/seq%s, %.3f bit "
             "errors/seq; train cost %.3f; %.0f seq/s", state.step, state.sequences,
             state.wall_seconds, last["cost"],
             "" if eval_optimal is None else f" (Bayes-optimal {eval_optimal:.3f})",
             last["bit_errors"], row["train_cost"], row["sequences_per_second"])


def _log_solved(state: TrainState, task: Task, threshold: float, then: str = ".") -> None:
    """The line that reports the solve, logged at the evaluation that solves, before the
    pictures (``benchmarks/time_to_solve.py`` reads its time)."""
    log.info("Solved %s after %d sequences, %.0f s: held-out bit errors %.3f per sequence, at "
             "or below train.solved_bit_errors = %g%s", task.name, state.sequences,
             state.wall_seconds, state.last_eval["bit_errors"], threshold, then)


def _result(state: TrainState, task: Task, threshold: float | None,
            after_solved: int = 0, solve_logged: bool = False) -> RunResult:
    """How the run ended, logged in one line (a run that stopped at its solve was logged at
    that evaluation, ``solve_logged``, and is not logged again)."""
    last, sequences, wall = state.last_eval, state.sequences, state.wall_seconds
    if state.solved_at is not None and after_solved and sequences > state.solved_at:
        log.info("Finished %s after %d sequences, %.0f s, %d of them past its solve at %d "
                 "(train.sequences_after_solved = %d); held-out bit errors %.3f per sequence "
                 "(train.solved_bit_errors = %g).", task.name, sequences, wall,
                 sequences - state.solved_at, state.solved_at, after_solved, last["bit_errors"],
                 threshold)
    elif state.solved:
        if not solve_logged:  # a resumed run that was solved already
            _log_solved(state, task, threshold)
    elif threshold is None:
        log.info("Finished %s after %d sequences, %.0f s (no solved threshold: "
                 "train.solved_bit_errors is null); held-out cost %.3f bits and %.3f bit errors "
                 "per sequence.", task.name, sequences, wall, last["cost"], last["bit_errors"])
    else:
        log.info("Stopped %s unsolved after %d sequences, %.0f s (the budget is spent); "
                 "held-out bit errors %.3f per sequence, above train.solved_bit_errors = %g.",
                 task.name, sequences, wall, last["bit_errors"], threshold)
    return RunResult(state.solved, state.step, sequences, wall, last["cost"], last["bit_errors"])
