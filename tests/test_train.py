"""Tests for the training app: a smoke run, exact resume after every kind of interruption,
determinism, early stopping, resume checks, and the command line."""

from __future__ import annotations

import csv
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import (
    TINY,
    assert_one_sentence,
    compose_config,
    metrics_rows,
    saved,
    tiny_run,
    torch_isolated,
    without_timing,
)
from omegaconf import OmegaConf

import ntm.experiment.loop
from ntm.experiment import checkpoint
from ntm.experiment.build import build_model, build_task
from ntm.experiment.config import ConfigError
from ntm.experiment.loop import RunResult, held_out_set, train
from ntm.experiment.metrics import evaluate_batches
from ntm.experiment.metrics_log import METRICS_FIELDS
from ntm.experiment.schedule import cooldown_factor, warmup_factor
from ntm.results.runs import load_run
from tasks import Batch

pytestmark = pytest.mark.usefixtures("isolated_torch")

BATCH = 4  # train.batch_size in TINY
EVAL_EVERY = 3
STEPS = 12


def tiny(steps: int = STEPS, *overrides: str):
    """A tiny copy run of ``steps`` steps, evaluated every ``EVAL_EVERY`` steps."""
    return tiny_run(steps, EVAL_EVERY, *overrides)


def assert_same_state(a: dict, b: dict) -> None:
    """The same model and optimizer, bit for bit."""
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for pa, pb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(),
                      strict=True):
        for key in pa:
            assert torch.equal(torch.as_tensor(pa[key]), torch.as_tensor(pb[key])), key
    assert a["step"] == b["step"] and a["sequences"] == b["sequences"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, RunResult]:
    """Run A: ``STEPS`` steps uninterrupted."""
    run_dir = tmp_path_factory.mktemp("reference")
    with torch_isolated():
        result = train(tiny(), run_dir)
    return run_dir, result


def test_smoke(tmp_path) -> None:
    cfg = tiny(7)  # the budget ends between evaluations: a last evaluation at step 7
    result = train(cfg, tmp_path)
    assert isinstance(result, RunResult)
    assert (result.step, result.sequences, result.solved) == (7, 7 * BATCH, False)
    assert math.isfinite(result.eval_cost) and result.eval_cost > 0
    assert 0 <= result.eval_bit_errors <= 3 * 8  # at most L * width bits per sequence

    assert OmegaConf.to_container(OmegaConf.load(tmp_path / "config.yaml")) == (
        OmegaConf.to_container(cfg, resolve=True)
    )
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert tuple(next(csv.reader(f))) == METRICS_FIELDS
    rows = metrics_rows(tmp_path)
    assert [int(r["step"]) for r in rows] == [3, 6, 7]
    assert [int(r["sequences"]) for r in rows] == [12, 24, 28]
    for row in rows:
        assert row["eval_optimal_cost"] == ""  # copy has no optimal predictor
        assert row["trained_bit_errors"] == ""  # no average of the weights
        assert row["curriculum"] == ""  # no curriculum
        assert all(math.isfinite(float(row[k])) for k in METRICS_FIELDS
                   if k not in ("eval_optimal_cost", "trained_bit_errors", "curriculum"))
    assert float(rows[-1]["eval_cost"]) == result.eval_cost
    assert float(rows[-1]["eval_bit_errors"]) == result.eval_bit_errors

    state = saved(tmp_path)
    assert (state["step"], state["sequences"], state["solved"]) == (7, 28, False)
    assert state["config"] == OmegaConf.to_container(cfg, resolve=True)
    assert sorted(os.listdir(tmp_path)) == [".lock", "best.pt", "checkpoint.pt", "config.yaml",
                                            "metrics.csv"]


def test_reference_run(reference) -> None:
    run_dir, result = reference
    assert result.step == STEPS and not result.solved
    assert [int(r["step"]) for r in metrics_rows(run_dir)] == [3, 6, 9, 12]


def test_training_lowers_the_held_out_cost(tmp_path) -> None:
    train(tiny(1, "optim.lr=0.01", "train.eval_every=1"), tmp_path)  # evaluated after 1 step
    train(tiny(40, "optim.lr=0.01", "train.eval_every=40"), tmp_path)
    first, last = metrics_rows(tmp_path)
    assert int(last["step"]) == 40
    assert float(last["eval_cost"]) < float(first["eval_cost"])


class Killed(Exception):
    """Stands for the run being killed."""


def kill_after_save(monkeypatch, call: int, name: str = checkpoint.CHECKPOINT_NAME) -> None:
    """The run dies right after checkpoint number ``call`` is written (of the file ``name``:
    ``best.pt`` is written beside it at a new best held-out cost)."""
    original, calls = checkpoint.save, []

    def save(path, state):
        calls.append(Path(path).name == name)
        original(path, state)
        if calls[-1] and sum(calls) == call:
            raise Killed

    monkeypatch.setattr(ntm.experiment.checkpoint, "save", save)


def kill_during_save(monkeypatch, call: int, name: str = checkpoint.CHECKPOINT_NAME) -> None:
    """The run dies while writing checkpoint number ``call`` (of the file ``name``), after its
    metrics row."""
    original, calls = checkpoint.save, []

    def save(path, state):
        calls.append(Path(path).name == name)
        if calls[-1] and sum(calls) == call:
            tmp = Path(path).with_name(f".{Path(path).name}.tmp")
            tmp.write_bytes(b"half a checkpoint")
            raise Killed
        original(path, state)

    monkeypatch.setattr(ntm.experiment.checkpoint, "save", save)


def kill_after_step(monkeypatch, call: int) -> None:
    """The run dies right after training step number ``call``, between evaluations."""
    original, calls = ntm.experiment.loop.train_step, []

    def train_step(*args, **kwargs):
        calls.append(1)
        out = original(*args, **kwargs)
        if len(calls) == call:
            raise Killed
        return out

    monkeypatch.setattr(ntm.experiment.loop, "train_step", train_step)


def killed_and_resumed(monkeypatch, cfg, run_dir: Path, step: int) -> None:
    """Trains ``cfg`` in ``run_dir``, killed after training step ``step``, then resumed to
    its end."""
    kill_after_step(monkeypatch, step)
    with pytest.raises(Killed):
        train(cfg, run_dir)
    monkeypatch.undo()
    train(cfg, run_dir)


@pytest.mark.parametrize("kill, call, rows_left", [
    (kill_after_save, 2, [3, 6]),
    (kill_after_step, 8, [3, 6]),  # steps 7 and 8 are lost and recomputed
    (kill_during_save, 3, [3, 6, 9]),  # step 9's row is written, its checkpoint is not
])
def test_resume_after_a_kill_is_exact(reference, tmp_path, monkeypatch, kill, call,
                                      rows_left) -> None:
    reference_dir, reference_result = reference
    kill(monkeypatch, call)
    with pytest.raises(Killed):
        train(tiny(), tmp_path)
    monkeypatch.undo()
    assert [int(r["step"]) for r in metrics_rows(tmp_path)] == rows_left
    assert saved(tmp_path)["step"] == 6

    result = train(tiny(), tmp_path)
    assert without_timing(metrics_rows(tmp_path)) == without_timing(metrics_rows(reference_dir))
    assert_same_state(saved(tmp_path), saved(reference_dir))
    assert (result.step, result.eval_cost, result.eval_bit_errors) == (
        reference_result.step, reference_result.eval_cost, reference_result.eval_bit_errors
    )
    assert_same_best(tmp_path, reference_dir)
    assert sorted(os.listdir(tmp_path)) == [".lock", "best.pt", "checkpoint.pt", "config.yaml",
                                            "metrics.csv"]


def assert_same_best(a: Path, b: Path) -> None:
    """The same ``best.pt`` in two run directories: weights bit for bit, step, figures."""
    best_a, best_b = (checkpoint.load(d / checkpoint.BEST_NAME) for d in (a, b))
    assert best_a["model"].keys() == best_b["model"].keys()
    for key in best_a["model"]:
        assert torch.equal(best_a["model"][key], best_b["model"][key]), key
    for key in ("step", "sequences", "evaluation"):
        assert best_a[key] == best_b[key], key


@pytest.mark.parametrize("kill", [kill_after_save, kill_during_save])
def test_a_kill_at_the_best_weights_loses_nothing(reference, tmp_path, monkeypatch,
                                                  kill) -> None:
    """Killed while (or right after) ``best.pt`` is written, before the checkpoint that
    records its cost: the resumed run writes it again and ends as the uninterrupted one."""
    reference_dir, _ = reference
    kill(monkeypatch, 2, checkpoint.BEST_NAME)
    with pytest.raises(Killed):
        train(tiny(), tmp_path)
    monkeypatch.undo()
    train(tiny(), tmp_path)
    assert without_timing(metrics_rows(tmp_path)) == without_timing(metrics_rows(reference_dir))
    assert_same_state(saved(tmp_path), saved(reference_dir))
    assert_same_best(tmp_path, reference_dir)
    assert sorted(os.listdir(tmp_path)) == [".lock", "best.pt", "checkpoint.pt", "config.yaml",
                                            "metrics.csv"]  # no temporary file left


def test_a_checkpoint_from_before_best_weights_resumes_without_a_worse_best(
        tmp_path, caplog) -> None:
    """A run resumed from a checkpoint written before ``best.pt`` was kept (no ``best_cost``)
    takes its best so far from ``metrics.csv``: ``best.pt`` holds a later evaluation only if
    it beats every earlier row."""
    settings = ("train.eval_every=1", "optim.lr=0.05", "train.rollback_factor=null")
    train(tiny(10, *settings), tmp_path / "whole")
    costs = [float(r["eval_cost"]) for r in metrics_rows(tmp_path / "whole")]
    for first in (1, 5):  # the lowest of the first rows is beaten later, and is not
        run = tmp_path / f"old{first}"
        train(tiny(first, *settings), run)
        state = saved(run)
        del state["best_cost"]
        checkpoint.save(run / checkpoint.CHECKPOINT_NAME, state)
        (run / checkpoint.BEST_NAME).unlink()
        with caplog.at_level(logging.INFO, logger="ntm.train"):
            train(tiny(10, *settings), run)
        assert f"below {min(costs[:first]):.3f}" in caplog.text
        later = min(range(first, 10), key=costs.__getitem__)
        if costs[later] < min(costs[:first]):
            assert checkpoint.load(run / checkpoint.BEST_NAME)["step"] == later + 1
        else:
            assert not (run / checkpoint.BEST_NAME).exists()
    assert min(costs[1:]) < costs[0]  # the first case is the one with a later best


@pytest.mark.parametrize("average", [(), ("train.ema_decay=0.5",)])
def test_best_weights_are_those_of_the_lowest_held_out_cost(tmp_path, average) -> None:
    """``best.pt`` holds the judged weights (the average where the run keeps one) of the row
    with the lowest held-out cost, not the last: evaluated again they give that row's cost,
    and ``load_run(best=True)`` (``--best`` of ntm.evaluate and ntm.plot) loads them. Its cost
    travels in the checkpoint."""
    cfg = tiny(10, "train.eval_every=1", "optim.lr=0.05", "train.rollback_factor=null",
               *average)
    train(cfg, tmp_path)
    costs = [float(r["eval_cost"]) for r in metrics_rows(tmp_path)]
    best = min(range(len(costs)), key=costs.__getitem__)
    assert best != len(costs) - 1  # this run's last evaluation is not its best
    kept = checkpoint.load(tmp_path / checkpoint.BEST_NAME)
    assert kept["step"] == best + 1 and kept["evaluation"]["cost"] == costs[best]
    assert saved(tmp_path)["best_cost"] == costs[best]
    _, _, model = load_run(tmp_path, best=True)
    again = evaluate_batches(model, held_out_set(build_task(cfg), cfg, torch.device("cpu")))
    assert again["cost"] == pytest.approx(costs[best])
    _, _, last = load_run(tmp_path)
    again = evaluate_batches(last, held_out_set(build_task(cfg), cfg, torch.device("cpu")))
    assert again["cost"] == pytest.approx(costs[-1])


def test_resume_with_a_larger_budget_is_exact(reference, tmp_path) -> None:
    reference_dir, _ = reference
    first = train(tiny(6), tmp_path)
    assert first.step == 6
    assert without_timing(metrics_rows(tmp_path)) == without_timing(metrics_rows(reference_dir))[:2]
    train(tiny(), tmp_path)
    assert without_timing(metrics_rows(tmp_path)) == without_timing(metrics_rows(reference_dir))
    assert_same_state(saved(tmp_path), saved(reference_dir))


def test_a_budget_stop_between_evaluations_steers_no_schedule(tmp_path) -> None:
    """A run stopped by its budget between two evaluation steps is evaluated there (its last
    figures) but no schedule sees that evaluation: resumed with a larger budget, it ends with
    the parameters, optimizer and evaluations of a run never stopped, even with a plateau
    decay of patience 1 and a rollback that would react to it."""
    settings = ("train.lr_decay_patience=1", "train.rollback_factor=1.0001",
                "train.rollback_min_bit_errors=1e-6")
    whole = train(tiny(STEPS, *settings), tmp_path / "whole")
    stopped = train(tiny(STEPS - 2, *settings), tmp_path / "stopped")
    assert stopped.step == STEPS - 2 and (STEPS - 2) % EVAL_EVERY
    resumed = train(tiny(STEPS, *settings), tmp_path / "stopped")
    assert_same_state(saved(tmp_path / "stopped"), saved(tmp_path / "whole"))
    on_grid = [{k: row[k] for k in ("step", "eval_cost", "eval_bit_errors", "learning_rate")}
               for row in metrics_rows(tmp_path / "stopped") if int(row["step"]) % EVAL_EVERY == 0]
    assert on_grid == [{k: row[k] for k in on_grid[0]} for row in metrics_rows(tmp_path / "whole")]
    assert (resumed.eval_cost, resumed.eval_bit_errors) == (whole.eval_cost, whole.eval_bit_errors)


def test_resume_of_a_finished_run_trains_no_more(reference, tmp_path) -> None:
    reference_dir, reference_result = reference
    train(tiny(), tmp_path)
    rows = metrics_rows(tmp_path)
    result = train(tiny(), tmp_path)
    assert metrics_rows(tmp_path) == rows
    assert (result.step, result.eval_cost) == (STEPS, reference_result.eval_cost)


def test_same_seed_same_metrics_other_seed_differs(reference, tmp_path) -> None:
    reference_dir, _ = reference
    train(tiny(6), tmp_path / "same")
    train(tiny(6, "seed=1"), tmp_path / "other")
    expected = without_timing(metrics_rows(reference_dir))[:2]
    assert without_timing(metrics_rows(tmp_path / "same")) == expected
    other = without_timing(metrics_rows(tmp_path / "other"))
    for row, ref in zip(other, expected, strict=True):
        assert row["train_cost"] != ref["train_cost"]
        assert row["eval_cost"] != ref["eval_cost"]


def test_solved_run_stops_at_the_first_evaluation(tmp_path) -> None:
    result = train(tiny(STEPS, "train.solved_bit_errors=1000"), tmp_path)
    assert result.solved and result.step == EVAL_EVERY
    assert [int(r["step"]) for r in metrics_rows(tmp_path)] == [EVAL_EVERY]
    assert saved(tmp_path)["solved"]
    again = train(tiny(STEPS, "train.solved_bit_errors=1000"), tmp_path)  # resumes, solved
    assert again.solved and again.step == EVAL_EVERY and again.eval_cost == result.eval_cost
    assert len(metrics_rows(tmp_path)) == 1


@pytest.fixture
def six_steps(tmp_path) -> Path:
    train(tiny(6), tmp_path)
    return tmp_path


@pytest.mark.parametrize("override, setting", [
    ("memory.N=16", "memory"),
    ("controller.size=9", "controller"),
    ("controller.layer_norm=true", "controller"),
    ("model.read_heads=2", "model"),
    ("task.max_length=4", "task"),
    ("optim.name=rmsprop", "optim.name"),
    ("seed=5", "seed"),
])
def test_resume_with_changed_settings_is_refused(six_steps, override, setting) -> None:
    before = saved(six_steps)
    config = (six_steps / "config.yaml").read_text()
    with pytest.raises(ConfigError) as info:
        train(tiny(STEPS, override), six_steps)
    assert_one_sentence(str(info.value), setting)
    assert (six_steps / "config.yaml").read_text() == config
    assert saved(six_steps)["step"] == before["step"]
    assert [int(r["step"]) for r in metrics_rows(six_steps)] == [3, 6]


def test_resume_with_changed_shape_names_the_key(six_steps) -> None:
    with pytest.raises(ConfigError) as info:
        train(tiny(STEPS, "memory.N=16"), six_steps)
    assert "memory.N" in str(info.value)


def test_resume_may_change_the_training_budget_and_schedule(six_steps) -> None:
    train(tiny(8, "train.eval_every=2"), six_steps)
    assert [int(r["step"]) for r in metrics_rows(six_steps)] == [3, 6, 8]


def test_resume_with_a_new_learning_rate_uses_it_or_refuses(six_steps) -> None:
    try:
        train(tiny(9, "optim.lr=0.5"), six_steps)
    except ConfigError as e:
        assert "optim.lr" in str(e)
        return
    assert saved(six_steps)["optimizer"]["param_groups"][0]["lr"] == 0.5


def test_resume_from_a_corrupt_checkpoint_is_a_checkpoint_error(six_steps) -> None:
    (six_steps / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError):
        train(tiny(), six_steps)


# --- The command line. ---


def run_cli(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ntm.train", *TINY, f"train.eval_every={EVAL_EVERY}",
               f"hydra.run.dir={cwd / 'run'}", *overrides]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_command_line_runs_and_resumes(tmp_path) -> None:
    run_dir = tmp_path / "run"
    first = run_cli(tmp_path, "train.max_sequences=24")
    assert first.returncode == 0, first.stdout + first.stderr
    for name in ("config.yaml", "metrics.csv", "checkpoint.pt"):
        assert (run_dir / name).is_file(), name
    assert OmegaConf.load(run_dir / "config.yaml").train.max_sequences == 24
    assert [int(r["step"]) for r in metrics_rows(run_dir)] == [3, 6]
    assert "Resuming" not in first.stdout + first.stderr
    assert f"python -m ntm.evaluate {run_dir}" in first.stdout + first.stderr  # what next
    assert not (tmp_path / "runs").exists()  # nothing written outside hydra.run.dir

    # The same command again: it resumes, and there is nothing left to train.
    again = run_cli(tmp_path, "train.max_sequences=24")
    log = again.stdout + again.stderr
    assert again.returncode == 0, log
    assert "Resuming" in log and "from step 6" in log, log
    assert "Traceback" not in log
    assert [int(r["step"]) for r in metrics_rows(run_dir)] == [3, 6]
    assert saved(run_dir)["step"] == 6

    # A larger budget: it goes on from step 6, not from 0.
    more = run_cli(tmp_path, "train.max_sequences=36")
    assert more.returncode == 0, more.stdout + more.stderr
    assert "from step 6" in more.stdout + more.stderr
    assert [int(r["step"]) for r in metrics_rows(run_dir)] == [3, 6, 9]
    assert saved(run_dir)["step"] == 9


def test_pictures_at_the_end_and_every_evaluation(tmp_path, monkeypatch) -> None:
    """train.pictures draws at the end; train.plot_every=1 draws at every evaluation too
    (with the drawing ``python -m ntm.train`` passes)."""
    import ntm.results.plot
    from ntm.train import draw_pictures

    calls = []
    real = ntm.results.plot.write_run_pictures
    monkeypatch.setattr(ntm.results.plot, "write_run_pictures",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    train(tiny(7, "train.pictures=true", "train.plot_every=1"), tmp_path, draw=draw_pictures)
    # evaluations at steps 3 and 6 (the one at 7 ends the run), then once at the end
    assert len(calls) == 3
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["learning_curves.png", "memory_contents.png", "memory_use.png"]


def test_the_solve_is_logged_at_its_evaluation_before_the_pictures(tmp_path, caplog) -> None:
    """The line that reports the solve (what ``benchmarks/time_to_solve.py`` times) comes at
    the evaluation that solves, before the pictures are drawn, and only once."""
    seen_at_drawing = []
    draw = lambda *a: seen_at_drawing.append(  # noqa: E731
        [r.getMessage() for r in caplog.records if r.getMessage().startswith("Solved ")])
    with caplog.at_level(logging.INFO, logger="ntm.train"):
        result = train(tiny(STEPS, "train.solved_bit_errors=1000", "train.pictures=true"),
                       tmp_path, draw=draw)
    assert result.solved and result.step == EVAL_EVERY
    assert len(seen_at_drawing) == 1 and len(seen_at_drawing[0]) == 1
    solved = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Solved ")]
    assert solved == seen_at_drawing[0]
    assert solved[0].startswith(f"Solved copy after {EVAL_EVERY * BATCH} sequences")


def test_a_solve_at_the_end_of_the_budget_is_logged_once_without_training_on(tmp_path,
                                                                           caplog) -> None:
    """train.sequences_after_solved asks for more, but the budget ends at the solving
    evaluation: one line, which does not promise training that will not happen."""
    with caplog.at_level(logging.INFO, logger="ntm.train"):
        train(tiny(EVAL_EVERY, "train.solved_bit_errors=1000",
                   f"train.sequences_after_solved={6 * BATCH}"), tmp_path)
    solved = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Solved ")]
    assert len(solved) == 1 and "training on" not in solved[0]


def test_resume_with_learning_rate_decay_is_exact(tmp_path, monkeypatch) -> None:
    """The plateau decay's state travels in the checkpoint: a killed and resumed run decays
    at the same evaluations and ends with the same metrics and parameters."""
    overrides = ("train.lr_decay_patience=1", "train.lr_decay_factor=0.5", "train.min_lr=1e-6",
                 "train.eval_every=1")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(tiny(8, *overrides), whole)
    killed_and_resumed(monkeypatch, tiny(8, *overrides), parts, 5)
    assert without_timing(metrics_rows(parts)) == without_timing(metrics_rows(whole))
    rates = [float(r["learning_rate"]) for r in metrics_rows(whole)]
    assert min(rates) < rates[0]  # the decay happened in this run
    for a, b in zip(saved(whole)["model"].values(), saved(parts)["model"].values(), strict=True):
        assert torch.equal(a, b)


def test_warmup_raises_the_rate_linearly_and_resumes_exactly(tmp_path, monkeypatch) -> None:
    """The learning rate of each logged row follows ``warmup_factor`` of the sequences seen
    before the row's last step, and a killed and resumed run warms up as an uninterrupted one."""
    overrides = ("train.warmup_sequences=24", "train.eval_every=1", "optim.lr=0.01")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(tiny(8, *overrides), whole)
    rates = [float(r["learning_rate"]) for r in metrics_rows(whole)]
    expected = [0.01 * min(1.0, (BATCH * step + 1) / 24) for step in range(8)]
    assert rates == pytest.approx(expected)
    assert rates[0] < rates[-1] == pytest.approx(0.01)
    killed_and_resumed(monkeypatch, tiny(8, *overrides), parts, 3)
    assert without_timing(metrics_rows(parts)) == without_timing(metrics_rows(whole))


def test_cooldown_lowers_the_rate_linearly_with_the_other_schedules_and_resumes_exactly(
        tmp_path, monkeypatch) -> None:
    """From train.lr_cooldown_start on, each row's rate is the schedules' rate (here a
    warm-up, and the bit-error drop, which halves the rate at the first evaluation and so
    sets the optimizer's rate between steps) times ``cooldown_factor`` of the sequences seen
    before the row's last step; a killed and resumed run cools down as an uninterrupted one."""
    overrides = ("train.eval_every=1", "optim.lr=0.01", "train.warmup_sequences=8",
                 "train.rollback_factor=null", "train.lr_drop_bit_errors=1000",
                 "train.lr_drop_factor=0.5",
                 "train.lr_cooldown_start=12", "train.lr_cooldown_sequences=16",
                 "train.lr_cooldown_factor=0.1")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(tiny(10, *overrides), whole)
    rates = [float(r["learning_rate"]) for r in metrics_rows(whole)]
    seen = [BATCH * step for step in range(10)]  # before each row's step
    drop = [1.0] + [0.5] * 9  # from the second row's step on
    expected = [0.01 * d * warmup_factor(n, 8) * cooldown_factor(n, 12, 16, 0.1)
                for d, n in zip(drop, seen, strict=True)]
    assert rates == pytest.approx(expected)
    assert rates[2] == pytest.approx(0.005) and rates[-1] == pytest.approx(0.0005)
    killed_and_resumed(monkeypatch, tiny(10, *overrides), parts, 5)
    assert without_timing(metrics_rows(parts)) == without_timing(metrics_rows(whole))


def test_the_bit_error_drop_lowers_the_rate_once_and_resumes_exactly(tmp_path,
                                                                     monkeypatch) -> None:
    """From the first evaluation at or below train.lr_drop_bit_errors on, every step trains
    at optim.lr times train.lr_drop_factor (a row logs the rate its window trained with, so
    the rows after that evaluation); a killed and resumed run drops exactly as a whole one."""
    plain = tmp_path / "plain"
    train(tiny(8, "train.eval_every=1"), plain)
    errors = [float(r["eval_bit_errors"]) for r in metrics_rows(plain)]
    level = min(errors[:3])
    first = next(i for i, e in enumerate(errors) if e <= level)
    overrides = ("train.eval_every=1", f"train.lr_drop_bit_errors={level}",
                 "train.lr_drop_factor=0.25")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(tiny(8, *overrides), whole)
    rates = [float(r["learning_rate"]) for r in metrics_rows(whole)]
    lr = rates[0]
    assert rates == pytest.approx([lr] * (first + 1) + [lr * 0.25] * (7 - first))
    killed_and_resumed(monkeypatch, tiny(8, *overrides), parts, first + 2)
    assert without_timing(metrics_rows(parts)) == without_timing(metrics_rows(whole))


def test_rollback_puts_the_best_state_back_and_resumes_exactly(tmp_path, monkeypatch) -> None:
    """With train.rollback_factor=1 every evaluation worse than the best so far (and above one
    bit error) puts back the best evaluation's state and halves the rate
    (train.rollback_lr_factor=0.5); the guard's state travels in the checkpoint, so a killed
    and resumed run equals an uninterrupted one."""
    overrides = ("train.eval_every=1", "train.rollback_factor=1",
                 "train.rollback_min_bit_errors=1", "train.rollback_lr_factor=0.5",
                 "optim.lr=0.05")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(tiny(10, *overrides), whole)
    rollback = saved(whole)["rollback"]
    rows = metrics_rows(whole)
    errors = [float(r["eval_bit_errors"]) for r in rows]
    worse = [e > max(min(errors[:i]), 1.0) for i, e in enumerate(errors) if i]
    assert rollback["count"] == sum(worse) > 0  # this run did roll back
    assert rollback["best"] == min(errors)
    rates = [float(r["learning_rate"]) for r in rows]  # the rate of each row's steps: halved
    halvings = [sum(worse[:max(i - 1, 0)]) for i in range(len(rows))]  # by earlier rollbacks
    assert rates == pytest.approx([0.05 * 0.5 ** h for h in halvings])
    killed_and_resumed(monkeypatch, tiny(10, *overrides), parts, 4)
    assert without_timing(metrics_rows(parts)) == without_timing(metrics_rows(whole))
    for a, b in zip(saved(whole)["model"].values(), saved(parts)["model"].values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("average", [(), ("train.ema_decay=0.5",)])
def test_a_run_that_ends_on_a_rollback_reports_the_model_it_kept(tmp_path, average) -> None:
    """A run whose last evaluation rolls back ends holding the best evaluation's model, and
    its result, checkpoint and last line give that model's figures (the metrics row keeps
    the discarded model's, which is the curve). With a weight average, the guard watches the
    trained weights' bit errors (``trained_bit_errors``), the average is put back with the
    weights, and it is the model the checkpoint gives ntm.evaluate."""
    overrides = ("train.eval_every=1", "train.rollback_factor=1",
                 "train.rollback_min_bit_errors=1", "optim.lr=0.05", *average)
    probe = tmp_path / "probe"
    train(tiny(10, *overrides), probe)
    rows = metrics_rows(probe)
    errors = [float(r["eval_bit_errors"]) for r in rows]
    watched = [float(r["trained_bit_errors"]) if average else float(r["eval_bit_errors"])
               for r in rows]
    assert all(r["trained_bit_errors"] == "" for r in rows) != bool(average)
    worse = [i for i, e in enumerate(watched) if i and e > max(min(watched[:i]), 1.0)]
    assert worse  # the probe did roll back
    last = worse[-1]  # a run of last + 1 steps ends on this rollback
    run = tmp_path / "run"
    cfg = tiny(last + 1, *overrides)
    result = train(cfg, run)
    rows = metrics_rows(run)
    assert float(rows[-1]["eval_bit_errors"]) == errors[last]  # the collapse, as measured
    best = min(range(last), key=watched.__getitem__)
    assert saved(run)["rollback"]["best"] == watched[best] < watched[last]
    assert result.eval_bit_errors == errors[best]
    assert result.eval_cost == pytest.approx(float(rows[best]["eval_cost"]))
    state = saved(run)
    assert state["last_eval"]["bit_errors"] == errors[best]
    model = build_model(cfg, build_task(cfg))
    model.load_state_dict(state["averaged_model" if average else "model"])
    again = evaluate_batches(model.eval(), held_out_set(build_task(cfg), cfg, torch.device("cpu")))
    assert again["bit_errors"] == pytest.approx(errors[best])


def test_the_weight_average_is_what_the_run_is_judged_by_and_resumes_exactly(
        tmp_path, monkeypatch) -> None:
    """With train.ema_decay every evaluation judges the averaged weights: until
    train.ema_start the rows are those of a run without an average; after it, the last row's
    cost is the checkpoint's ``averaged_model`` evaluated again (not the trained weights'), and
    ``load_run`` (ntm.evaluate, ntm.plot) loads that average. A killed and resumed run ends
    with the same rows, weights and average as an uninterrupted one."""
    base = ("train.eval_every=1", "optim.lr=0.05", "train.rollback_factor=null")
    overrides = (*base, "train.ema_decay=0.8", "train.ema_start=16")
    plain, whole, parts = tmp_path / "plain", tmp_path / "whole", tmp_path / "parts"
    train(tiny(8, *base), plain)
    cfg = tiny(8, *overrides)
    train(cfg, whole)
    rows, plain_rows = without_timing(metrics_rows(whole)), without_timing(metrics_rows(plain))
    # The fifth step (at 16 sequences) starts the average as a copy of the weights.
    assert rows[:5] == plain_rows[:5]
    assert [r["eval_cost"] for r in rows[5:]] != [r["eval_cost"] for r in plain_rows[5:]]
    # Training never sees the average: the same training costs and trained weights.
    assert [r["train_cost"] for r in rows] == [r["train_cost"] for r in plain_rows]
    state = saved(whole)
    for key, value in saved(plain)["model"].items():
        assert torch.equal(value, state["model"][key]), key
    task = build_task(cfg)
    held_out = held_out_set(task, cfg, torch.device("cpu"))
    figures = {}
    for key in ("averaged_model", "model"):
        model = build_model(cfg, task)
        model.load_state_dict(state[key])
        figures[key] = evaluate_batches(model.eval(), held_out)["cost"]
    assert figures["averaged_model"] == pytest.approx(float(rows[-1]["eval_cost"]))
    assert figures["model"] != pytest.approx(figures["averaged_model"])
    _, _, loaded = load_run(whole)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state["averaged_model"][key]), key
    killed_and_resumed(monkeypatch, cfg, parts, 6)
    assert without_timing(metrics_rows(parts)) == rows
    for key in ("model", "averaged_model"):
        for a, b in zip(state[key].values(), saved(parts)[key].values(), strict=True):
            assert torch.equal(a, b), key
    for name, a in state["average"]["averaged"].items():
        assert torch.equal(a, saved(parts)["average"]["averaged"][name]), name


def test_resume_refuses_rmsprop_settings_that_change_its_state(tmp_path) -> None:
    """Momentum or centring added on resume would need optimizer state that was never made."""
    train(tiny(6, "optim=rmsprop", "optim.momentum=0", "optim.centered=false"), tmp_path)
    for override, setting in (("optim.momentum=0.9", "optim.momentum"),
                              ("optim.centered=true", "optim.centered")):
        with pytest.raises(ConfigError) as info:
            train(tiny(9, "optim=rmsprop", "optim.momentum=0", "optim.centered=false",
                       override), tmp_path)
        assert_one_sentence(str(info.value), setting)


def test_a_run_trains_on_past_its_solve_for_sequences_after_solved(tmp_path) -> None:
    """Solved at the first evaluation (step 3, 12 sequences), then 24 sequences more (six
    steps): it stops at step 9, though the budget allows 12, and says where it solved."""
    after = ("train.solved_bit_errors=1000", f"train.sequences_after_solved={6 * BATCH}")
    result = train(tiny(STEPS, *after), tmp_path)
    assert result.solved and result.step == 3 * EVAL_EVERY
    assert [int(r["step"]) for r in metrics_rows(tmp_path)] == [3, 6, 9]
    assert saved(tmp_path)["solved_at"] == EVAL_EVERY * BATCH


def test_sequences_after_solved_count_from_the_solve_across_a_resume(tmp_path) -> None:
    after = ("train.solved_bit_errors=1000", f"train.sequences_after_solved={6 * BATCH}")
    train(tiny(6, *after), tmp_path)  # the budget ends three steps past the solve
    assert saved(tmp_path)["step"] == 6 and saved(tmp_path)["solved_at"] == EVAL_EVERY * BATCH
    result = train(tiny(STEPS, *after), tmp_path)
    assert result.step == 3 * EVAL_EVERY and saved(tmp_path)["solved_at"] == EVAL_EVERY * BATCH
    # With a stricter threshold the old solve no longer counts: it trains to the budget.
    again = train(tiny(STEPS, "train.solved_bit_errors=0", after[1]), tmp_path)
    assert again.step == STEPS and saved(tmp_path)["solved_at"] is None


def test_resume_with_a_stricter_solved_threshold_trains_on(tmp_path) -> None:
    """A run solved under a loose threshold continues when resumed with a strict one."""
    first = train(tiny(12, "train.solved_bit_errors=1000"), tmp_path)
    assert first.solved and first.step == EVAL_EVERY
    second = train(tiny(12, "train.solved_bit_errors=0"), tmp_path)
    assert second.step > first.step


@pytest.mark.parametrize("model", [[], ["model=lstm", "model.size=8", "model.layers=2"]])
def test_n_grams_log_the_held_out_bayes_optimal_cost_beside_the_model_s(tmp_path, model) -> None:
    tiny_not_copy = [o for o in TINY if not o.startswith("task.")]
    cfg = compose_config([*tiny_not_copy, "task=dynamic_ngrams", "task.length=20",
                          "train.eval_every=2", "train.max_sequences=16", *model])
    train(cfg, tmp_path)
    rows = metrics_rows(tmp_path)
    optimal = {float(row["eval_optimal_cost"]) for row in rows}
    assert len(rows) == 2 and len(optimal) == 1  # one held-out set, one optimal cost
    task = build_task(cfg)
    held_out = task.sample_batch(torch.Generator().manual_seed(cfg.train.eval_seed), 8)
    assert optimal.pop() == pytest.approx(float(task.optimal_cost(held_out).mean()), rel=1e-6)
    assert all(float(row["eval_cost"]) > 0 for row in rows)


@pytest.mark.parametrize("task_name", ["copy", "priority_sort"])
def test_the_held_out_set_does_not_depend_on_the_evaluation_batch_size(task_name) -> None:
    """``train.eval_batch_size`` only splits the set: the same 1000 sequences at 250, 300, 500
    and 1000 a batch (once it drew other sequences at each, so a speed setting moved the solve),
    at 500 exactly the two draws of 500 every run before used, and the same held-out figures."""
    cfg = compose_config([f"task={task_name}", "controller.size=8", "memory.N=16"])
    task, cpu = build_task(cfg), torch.device("cpu")
    sets = {}
    for batch_size in (250, 300, 500, 1000):
        cfg.train.eval_batch_size = batch_size
        sets[batch_size] = held_out_set(task, cfg, cpu)
    assert [len(sets[b]) for b in (250, 300, 500, 1000)] == [4, 4, 2, 1]
    whole = sets[1000][0]
    for batches in sets.values():
        joined = Batch.join(batches)
        assert all(torch.equal(getattr(joined, k), getattr(whole, k))
                   for k in ("inputs", "targets", "mask"))
    generator = torch.Generator().manual_seed(cfg.train.eval_seed)
    before = [task.sample_batch(generator, 500) for _ in range(2)]
    assert all(torch.equal(getattr(a, k), getattr(b, k))
               for a, b in zip(before, sets[500], strict=True)
               for k in ("inputs", "targets", "mask"))
    torch.manual_seed(0)
    model = build_model(cfg, task)
    figures = {b: evaluate_batches(model, sets[b]) for b in (250, 500)}
    assert figures[250]["sequences"] == figures[500]["sequences"] == 1000
    assert figures[250]["cost"] == pytest.approx(figures[500]["cost"], rel=1e-5)
    assert figures[250]["bit_errors"] == pytest.approx(figures[500]["bit_errors"], abs=1e-3)
