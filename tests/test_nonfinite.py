"""Tests for the non-finite guard of training: a step whose loss or gradient is not finite is
skipped without touching the parameters or the optimizer, logged with the step and the
parameter, counted in metrics.csv, and ``train.max_bad_steps`` of them in a row stop the run
with the last checkpoint left as it was (and exit status 2 from the command line)."""

from __future__ import annotations

import copy
import itertools
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
    without_timing,
)

import ntm.experiment.loop
import ntm.experiment.step
from ntm.experiment.build import build_model, build_optimizer, build_task
from ntm.experiment.loop import NonFiniteError, train
from ntm.experiment.step import first_nonfinite, train_step

pytestmark = pytest.mark.usefixtures("isolated_torch")

REPO = Path(__file__).resolve().parents[1]
POISONED = "heads.linear.weight"  # the parameter whose gradient the tests make non-finite
BATCH = 4  # train.batch_size in TINY


def tiny(steps: int, *overrides: str):
    return tiny_run(steps, 3, *overrides)


def poison_hook(calls: set[int], value: float = math.nan, names=(POISONED,)):
    """Installs, on a model, gradient hooks that put ``value`` into one element of the
    gradient of each parameter in ``names`` on the given backward passes (1-based)."""

    def install(model: torch.nn.Module) -> None:
        for name, parameter in model.named_parameters():
            if name in names:
                count = itertools.count(1)

                def hook(grad, count=count):
                    if next(count) in calls:
                        grad = grad.clone()
                        grad.view(-1)[0] = value
                    return grad

                parameter.register_hook(hook)

    return install


def poison_training(monkeypatch, calls: set[int], value: float = math.nan) -> None:
    """Every model ``ntm.train`` builds gets a non-finite gradient of POISONED on the given
    training steps of this process (1-based)."""
    original = ntm.experiment.loop.build_model

    def build(cfg, task):
        model = original(cfg, task)
        poison_hook(calls, value)(model)
        return model

    monkeypatch.setattr(ntm.experiment.loop, "build_model", build)


def model_and_optimizer(optim: str):
    """A tiny model and its optimizer after two real steps (so the optimizer has state)."""
    cfg = compose_config([*TINY, f"optim={optim}"])
    task = build_task(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, task)
    optimizer = build_optimizer(cfg, model.parameters())
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        assert train_step(model, optimizer, task.sample_batch(generator, 4)).nonfinite is None
    return model, optimizer, task.sample_batch(generator, 4)


def assert_unchanged(model, optimizer, before: tuple[dict, dict]) -> None:
    model_state, optimizer_state = before
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, model_state[name]), name
    after = optimizer.state_dict()
    assert after["param_groups"] == optimizer_state["param_groups"]
    assert after["state"].keys() == optimizer_state["state"].keys()
    for index, state in after["state"].items():
        for key, value in state.items():  # Adam: step, exp_avg, exp_avg_sq; RMSProp: more
            assert torch.equal(torch.as_tensor(value),
                               torch.as_tensor(optimizer_state["state"][index][key])), key


@pytest.mark.parametrize("optim", ["adam", "rmsprop"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_gradient_changes_nothing(optim, value) -> None:
    model, optimizer, batch = model_and_optimizer(optim)
    before = copy.deepcopy((model.state_dict(), optimizer.state_dict()))
    poison_hook({1}, value)(model)
    # Value clipping would turn an inf into 10; the check comes first.
    result = train_step(model, optimizer, batch, clip_grad_value=10.0, clip_grad_norm=1.0)
    assert result.nonfinite == f"the gradient of {POISONED}"
    assert_unchanged(model, optimizer, before)
    assert all(p.grad is None for p in model.parameters())  # nothing non-finite left behind
    assert train_step(model, optimizer, batch).nonfinite is None  # the next step trains
    assert not torch.equal(model.state_dict()[POISONED], before[0][POISONED])


def test_a_non_finite_loss_changes_nothing(monkeypatch) -> None:
    model, optimizer, batch = model_and_optimizer("adam")
    before = copy.deepcopy((model.state_dict(), optimizer.state_dict()))
    real = ntm.experiment.step.training_loss
    monkeypatch.setattr(ntm.experiment.step, "training_loss",
                        lambda *a, **k: real(*a, **k) * math.inf)
    assert train_step(model, optimizer, batch).nonfinite == "the loss"
    assert_unchanged(model, optimizer, before)


def test_the_first_non_finite_parameter_in_model_order_is_named() -> None:
    model, optimizer, batch = model_and_optimizer("adam")
    names = [name for name, _ in model.named_parameters()]
    poison_hook({1}, names=(names[-1], names[3]))(model)
    assert train_step(model, optimizer, batch).nonfinite == f"the gradient of {names[3]}"


def test_a_gradient_whose_norm_overflows_counts_as_non_finite_without_clipping() -> None:
    """Unclipped, its square would overflow Adam's second moment: skipped."""
    model, optimizer, batch = model_and_optimizer("adam")
    before = copy.deepcopy((model.state_dict(), optimizer.state_dict()))
    poison_hook({1}, 3e38)(model)  # finite, but its square is not
    assert train_step(model, optimizer, batch).nonfinite == f"the gradient of {POISONED}"
    assert_unchanged(model, optimizer, before)


def test_only_the_total_norm_overflowing_is_named_as_the_gradient_norm() -> None:
    model, optimizer, batch = model_and_optimizer("adam")
    names = [name for name, _ in model.named_parameters()]
    poison_hook({1}, 1.5e19, names=(names[0], names[3]))(model)  # each norm finite, the total not
    assert train_step(model, optimizer, batch).nonfinite == "the gradient norm"


@pytest.mark.parametrize("clipping", [{"clip_grad_norm": 1.0}, {"clip_grad_value": 10.0},
                                      {"clip_grad_value": 10.0, "clip_grad_norm": 1.0}])
@pytest.mark.parametrize("value", [3e38, 1.5e19])  # a parameter's norm overflows; the total
def test_a_clipped_step_takes_a_gradient_whose_norm_overflows(clipping, value) -> None:
    """Finite elements whose norm overflows float32 (an NTM's exploding gradient, not a
    fault): a clipping step scales them down and trains, where torch's clip_grad_norm_ alone
    would multiply them by max_norm / inf = 0 and the check used to skip the step."""
    model, optimizer, batch = model_and_optimizer("adam")
    names = [name for name, _ in model.named_parameters()]
    before = copy.deepcopy(model.state_dict())
    moment = optimizer.state_dict()["state"][0]["exp_avg"].view(-1)[0].item()
    poison_hook({1}, value, names=(names[0], names[3]))(model)
    result = train_step(model, optimizer, batch, **clipping)
    assert result.nonfinite is None and result.scaled
    # The poisoned element dominates the clipped gradient (1 / sqrt(2) of the norm, or the
    # clip value), so Adam's first moment moves by a tenth of it, not by nothing.
    step = optimizer.state_dict()["state"][0]["exp_avg"].view(-1)[0].item() - 0.9 * moment
    # (Both: the two clipped to 10, then the norm to 1 beside the other, small, elements.)
    norm_clipped = "clip_grad_norm" in clipping
    assert step == pytest.approx(0.1 * (2 ** -0.5 if norm_clipped else 10.0),
                                 rel=0.02 if len(clipping) == 2 else 1e-3)
    after = model.state_dict()
    assert all(torch.isfinite(t).all() for t in after.values())
    assert not torch.equal(after[names[0]], before[names[0]])
    following = train_step(model, optimizer, batch, **clipping)
    assert following.nonfinite is None and not following.scaled  # it goes on


@pytest.mark.parametrize("clipping", [{"clip_grad_norm": 0.5}, {"clip_grad_norm": 1e6},
                                      {"clip_grad_value": 0.01, "clip_grad_norm": 0.5}])
def test_a_finite_step_clips_exactly_as_torchs_clip_grad_norm(clipping) -> None:
    """The step reuses the total norm of its check; the parameters after three steps are
    bit for bit those of torch's own clip_grad_norm_ (and clip_grad_value_) and step."""
    model, optimizer, batch = model_and_optimizer("adam")
    twin = copy.deepcopy(model)
    twin_optimizer = torch.optim.Adam(twin.parameters())
    twin_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # not shared
    for _ in range(3):
        assert train_step(model, optimizer, batch, **clipping).nonfinite is None
        twin_optimizer.zero_grad()
        ntm.experiment.step.training_loss(twin(batch.inputs), batch.targets,
                                          batch.mask).backward()
        if "clip_grad_value" in clipping:
            torch.nn.utils.clip_grad_value_(twin.parameters(), clipping["clip_grad_value"])
        torch.nn.utils.clip_grad_norm_(twin.parameters(), clipping["clip_grad_norm"])
        twin_optimizer.step()
    for (name, a), b in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_scale_to_norm_gives_the_exact_clip_of_an_overflowing_gradient() -> None:
    torch.manual_seed(0)
    grads = [torch.randn(5, 3) * 1e37, torch.randn(7) * 1e30, torch.zeros(2)]
    grads[0][1, 2] = 3e38
    exact = [g.double() for g in grads]
    norm = torch.sqrt(sum((g / 1e38).pow(2).sum() for g in exact)) * 1e38  # in float64
    assert math.isinf(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])))
    ntm.experiment.step.scale_to_norm_(grads, 2.0)
    for got, want in zip(grads, exact, strict=True):
        torch.testing.assert_close(got.double(), want * (2.0 / norm), rtol=1e-5, atol=1e-30)
    assert torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])) == pytest.approx(2.0)


def test_finite_steps_pass(monkeypatch) -> None:
    model, optimizer, batch = model_and_optimizer("adam")
    loss = ntm.experiment.step.training_loss(model(batch.inputs), batch.targets, batch.mask)
    loss.backward()
    assert first_nonfinite(model, loss) is None


@pytest.mark.parametrize("average", [(), ("train.ema_decay=0.5",)])
def test_skipped_steps_are_counted_logged_and_change_nothing(tmp_path, monkeypatch,
                                                             caplog, average) -> None:
    """Steps 2, 5, 6 and 12 of 12 are poisoned: the metrics count them per row, the log names
    each, and the last one leaves the model and optimizer (and the weight average) exactly as
    after step 11."""
    poison_training(monkeypatch, {2, 5, 6, 12})
    with caplog.at_level(logging.WARNING, logger="ntm.train"):
        train(tiny(12, *average), tmp_path / "poisoned")
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == [f"Step {step} skipped: the gradient of {POISONED} is not finite "
                       f"({in_a_row} in a row)."
                       for step, in_a_row in ((2, 1), (5, 1), (6, 2), (12, 1))]
    metrics = metrics_rows(tmp_path / "poisoned")
    assert [int(r["step"]) for r in metrics] == [3, 6, 9, 12]
    assert [int(r["skipped_steps"]) for r in metrics] == [1, 2, 0, 1]
    for row in metrics:  # every interval had a good step, so every cost is finite
        assert math.isfinite(float(row["train_cost"])) and math.isfinite(float(row["eval_cost"]))
    poisoned = saved(tmp_path / "poisoned")
    assert poisoned["bad_steps_in_a_row"] == 1
    assert all(torch.isfinite(t).all() for t in poisoned["model"].values())

    # Step 12 was skipped: the same run stopped after 11 steps holds the same state.
    monkeypatch.undo()
    poison_training(monkeypatch, {2, 5, 6})
    train(tiny(11, "train.eval_every=11", *average), tmp_path / "eleven")
    eleven = saved(tmp_path / "eleven")
    for name, tensor in eleven["model"].items():
        assert torch.equal(tensor, poisoned["model"][name]), name
    if average:
        for name, tensor in eleven["average"]["averaged"].items():
            assert torch.equal(tensor, poisoned["average"]["averaged"][name]), name
    for index, state in eleven["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, poisoned["optimizer"]["state"][index][key]), key


def test_steps_with_an_overflowing_norm_are_taken_and_counted_in_the_log(
        tmp_path, monkeypatch, caplog) -> None:
    """Steps 2, 5 and 6 have one gradient element of 3e38 (finite; its square is not): the
    default norm clipping takes them, nothing is skipped, and each evaluation's log counts
    those of its interval."""
    poison_training(monkeypatch, {2, 5, 6}, 3e38)
    with caplog.at_level(logging.WARNING, logger="ntm.train"):
        train(tiny(9), tmp_path / "scaled")
    counted = [r.getMessage() for r in caplog.records if "overflowed float32" in r.getMessage()]
    assert [message.split(" of the steps")[0] for message in counted] == ["1", "2"]
    assert not [r for r in caplog.records if "skipped" in r.getMessage()]
    assert [int(r["skipped_steps"]) for r in metrics_rows(tmp_path / "scaled")] == [0, 0, 0]
    assert all(torch.isfinite(t).all() for t in saved(tmp_path / "scaled")["model"].values())


def test_too_many_bad_steps_in_a_row_stop_the_run_and_keep_the_checkpoint(tmp_path,
                                                                          monkeypatch) -> None:
    """From step 7 on every step is poisoned: the third in a row (step 9) stops the run before
    its evaluation; the checkpoint of step 6 stays, and a resume without the poison ends
    exactly like a run that never met it."""
    train(tiny(12), tmp_path / "clean")
    poison_training(monkeypatch, set(range(7, 100)))
    with pytest.raises(NonFiniteError) as info:
        train(tiny(12, "train.max_bad_steps=3"), tmp_path / "stopped")
    message = str(info.value)
    assert_one_sentence(message, "train.max_bad_steps")
    assert "step 9" in message and POISONED in message
    assert [int(r["step"]) for r in metrics_rows(tmp_path / "stopped")] == [3, 6]
    stopped = saved(tmp_path / "stopped")
    assert stopped["step"] == 6
    assert sorted(os.listdir(tmp_path / "stopped")) == [".lock", "best.pt", "checkpoint.pt",
                                                        "config.yaml", "metrics.csv"]

    monkeypatch.undo()
    train(tiny(12, "train.max_bad_steps=3"), tmp_path / "stopped")
    assert (without_timing(metrics_rows(tmp_path / "stopped"))
            == without_timing(metrics_rows(tmp_path / "clean")))
    for name, tensor in saved(tmp_path / "clean")["model"].items():
        assert torch.equal(tensor, saved(tmp_path / "stopped")["model"][name]), name


def test_bad_steps_in_a_row_are_counted_across_a_resume(tmp_path, monkeypatch) -> None:
    """The count travels in the checkpoint: step 6 (bad, then a checkpoint) and step 7 (bad,
    after a restart) are two in a row, as in a run that was never interrupted."""
    poison_training(monkeypatch, {6, 7})
    with pytest.raises(NonFiniteError, match="at step 7"):
        train(tiny(12, "train.max_bad_steps=2"), tmp_path / "whole")

    poison_training(monkeypatch, {6})
    train(tiny(6, "train.max_bad_steps=2"), tmp_path / "parts")  # stops after step 6
    assert saved(tmp_path / "parts")["bad_steps_in_a_row"] == 1
    monkeypatch.undo()
    poison_training(monkeypatch, {1})  # the first step of the resumed run is step 7
    with pytest.raises(NonFiniteError, match="at step 7"):
        train(tiny(12, "train.max_bad_steps=2"), tmp_path / "parts")


def test_max_bad_steps_must_be_positive() -> None:
    from ntm.experiment.config import ConfigError, validate

    for value in (0, -1):
        with pytest.raises(ConfigError) as info:
            validate(compose_config([f"train.max_bad_steps={value}"]))
        assert_one_sentence(str(info.value), "train.max_bad_steps")


def test_command_line_stops_with_one_line_and_exit_status_2(tmp_path) -> None:
    """``python -m ntm.train`` with a loss made NaN (``ntm.experiment.metrics.training_loss``
    patched before the module runs)."""
    script = tmp_path / "nan_train.py"
    script.write_text("import math, runpy\nimport ntm.experiment.metrics\n"
                      "real = ntm.experiment.metrics.training_loss\n"
                      "ntm.experiment.metrics.training_loss = "
                      "lambda *a, **k: real(*a, **k) * math.nan\n"
                      "runpy.run_module('ntm.train', run_name='__main__', alter_sys=True)\n")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(REPO)  # this checkout's ntm, wherever pytest runs
    run = subprocess.run([sys.executable, str(script), *TINY, "train.max_bad_steps=2",
                          f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    message = run.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, run.stderr
    assert_one_sentence(message.removeprefix("error: "), "train.max_bad_steps")
    assert "the loss" in message and "step 2" in message
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
