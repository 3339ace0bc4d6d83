"""Tests for the curriculum (``train.curriculum``): how its levels grow, and that a run with
one trains on small sequences first, evaluates on the full task and resumes exactly."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from conftest import metrics_rows, saved, tiny_run, without_timing

import ntm.experiment.loop
from ntm.experiment.build import build_task
from ntm.experiment.curriculum import Curriculum
from ntm.experiment.loop import _training_task, held_out_set, train
from ntm.experiment.metrics import evaluate_batches
from ntm.results.runs import load_run

pytestmark = pytest.mark.usefixtures("isolated_torch")


def test_levels_grow_by_the_step_up_to_their_targets() -> None:
    curriculum = Curriculum({"max_length": 2, "max_repeats": 1},
                            {"max_length": 5, "max_repeats": 2}, bit_errors=1.0, step=2)
    assert not curriculum.step(1.5)  # above the threshold: no growth
    assert curriculum.levels == {"max_length": 2, "max_repeats": 1}
    assert not curriculum.step(math.nan)  # a window of skipped steps only
    assert curriculum.step(1.0)
    assert curriculum.levels == {"max_length": 4, "max_repeats": 2}  # 1 + 2 capped at 2
    assert not curriculum.complete
    assert curriculum.describe() == "task.max_length = 4 of 5, task.max_repeats = 2 of 2"
    assert curriculum.column_text() == "max_length=4 max_repeats=2"  # metrics.csv's column
    assert curriculum.step(0.0)
    assert curriculum.levels == {"max_length": 5, "max_repeats": 2} and curriculum.complete
    assert not curriculum.step(0.0)  # complete: nothing left to grow


def test_state_round_trip_and_levels_capped_at_the_targets() -> None:
    grown = Curriculum({"max_length": 1}, {"max_length": 9}, 1.0)
    grown.step(0.0)
    fresh = Curriculum({"max_length": 1}, {"max_length": 9}, 1.0)
    fresh.load_state_dict(grown.state_dict())
    assert fresh.levels == {"max_length": 2}
    smaller = Curriculum({"max_length": 1}, {"max_length": 3}, 1.0)
    smaller.load_state_dict({"levels": {"max_length": 7}})
    assert smaller.levels == {"max_length": 3}
    with pytest.raises(ValueError, match="start names"):
        Curriculum({"max_length": 1}, {"max_items": 3}, 1.0)


def sampled_lengths(monkeypatch) -> list[int]:
    """Records T of every training batch ``ntm.experiment.loop.train`` draws."""
    lengths: list[int] = []
    step = ntm.experiment.loop.train_step

    def recording(model, optimizer, batch, *args, **kwargs):
        lengths.append(batch.inputs.shape[0])
        return step(model, optimizer, batch, *args, **kwargs)

    monkeypatch.setattr(ntm.experiment.loop, "train_step", recording)
    return lengths


# Copy of lengths 1..3 (TINY), whose batches have T = 2 L + 1 steps for their longest L; the
# threshold of 100 bit errors per sequence is always met, so the level grows at every
# evaluation.
GROWING = ("train.curriculum={max_length:1}", "train.curriculum_bit_errors=100")


def test_training_batches_grow_and_the_held_out_set_stays_full(tmp_path, monkeypatch) -> None:
    lengths = sampled_lengths(monkeypatch)
    train(tiny_run(5, 1, *GROWING), tmp_path / "grown")
    # max_length 1, 2, then 3 (the task's); this seed's batches of 4 each draw the longest.
    assert lengths == [3, 5, 7, 7, 7]
    lengths.clear()
    train(tiny_run(3, 1, "train.curriculum={max_length:1}", "train.curriculum_bit_errors=0"),
          tmp_path / "held")
    assert lengths == [3, 3, 3]  # the threshold of 0 wrong bits is never met
    assert saved(tmp_path / "held")["curriculum"] == {"levels": {"max_length": 1}}
    # The held-out figures are those of the full task (lengths 1..3), not of the level.
    cfg, task, model = load_run(tmp_path / "held")
    assert task.max_length == 3
    full = evaluate_batches(model, held_out_set(task, cfg, torch.device("cpu")))
    assert float(metrics_rows(tmp_path / "held")[-1]["eval_cost"]) == pytest.approx(full["cost"])


def test_metrics_name_the_levels_each_window_trained_at(tmp_path) -> None:
    """``metrics.csv``'s ``curriculum`` column: the levels the batches since the previous row
    came from (the level grows at each evaluation here, after the row is made)."""
    train(tiny_run(5, 1, *GROWING), tmp_path)
    assert [row["curriculum"] for row in metrics_rows(tmp_path)] == [
        "max_length=1", "max_length=2", "max_length=3", "max_length=3", "max_length=3"]


def test_the_training_bit_errors_decide_and_the_step_is_kept(tmp_path, monkeypatch) -> None:
    """With a threshold of 0 the level grows only because the training batches are counted as
    error-free here (the held-out bit errors of this barely trained model are not 0)."""
    lengths = sampled_lengths(monkeypatch)
    monkeypatch.setattr(ntm.experiment.loop, "bit_errors_per_sequence",
                        lambda logits, targets, mask: torch.zeros(logits.shape[1]))
    cfg = tiny_run(3, 1, "task.max_length=6", "train.curriculum={max_length:1}",
                   "train.curriculum_bit_errors=0", "train.curriculum_step=2")
    train(cfg, tmp_path)
    assert all(float(row["eval_bit_errors"]) > 0 for row in metrics_rows(tmp_path))
    assert saved(tmp_path)["curriculum"] == {"levels": {"max_length": 6}}  # 1, 3, 5, then 6
    assert lengths[:2] == [3, 7]  # T = 2 L + 1 at max_length 1, then 3


def test_repeat_copy_levels_encode_the_repeat_count_as_the_full_task() -> None:
    """The repeat channel is n normalised over the full training range of n, whatever the
    curriculum's level: the value that stands for n = 1 does not move as max_repeats grows."""
    cfg = tiny_run(1, 1, "task=repeat_copy", "train.curriculum={max_repeats:1}")
    task = build_task(cfg)
    state = SimpleNamespace(curriculum=Curriculum({"max_repeats": 1}, {"max_repeats": 10}, 1.0))
    for level in (1, 4, 10):
        state.curriculum.levels = {"max_repeats": level}
        level_task = _training_task(cfg, task, state)
        assert level_task.max_repeats == level
        # One vector, repeated once: the delimiter step (1) carries the repeat channel.
        batch = level_task.layout(torch.ones(1, 1, 8), torch.tensor([1]), torch.tensor([1]))
        assert batch.inputs[1, 0, -1].item() == pytest.approx(-4.5 / math.sqrt(99 / 12))


def test_a_run_with_a_curriculum_evaluates_on_other_sizes(tmp_path) -> None:
    train(tiny_run(2, 1, "train.curriculum={max_length:2}"), tmp_path)
    _, task, _ = load_run(tmp_path, ["task.min_length=3", "task.max_length=5"])
    assert (task.min_length, task.max_length) == (3, 5)


def test_a_killed_run_resumes_at_its_level(tmp_path, monkeypatch) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(tiny_run(6, 2, *GROWING), whole)
    assert saved(whole)["curriculum"] == {"levels": {"max_length": 3}}
    calls = 0
    step = ntm.experiment.loop.train_step

    def killed(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls > 3:  # after the evaluation at step 2 and one more step
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(ntm.experiment.loop, "train_step", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_run(6, 2, *GROWING), parts)
    monkeypatch.undo()
    assert saved(parts)["curriculum"] == {"levels": {"max_length": 2}}
    train(tiny_run(6, 2, *GROWING), parts)
    assert without_timing(metrics_rows(parts)) == without_timing(metrics_rows(whole))
    for a, b in zip(saved(whole)["model"].values(), saved(parts)["model"].values(), strict=True):
        assert (a == b).all()
