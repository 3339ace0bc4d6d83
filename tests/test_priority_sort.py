"""Tests for the priority sort task: the worked example, whole vectors sorted by priority
against a per-row sort reference (never each bit column on its own), sizes, validation."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_one_sentence, generator
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import Batch, PrioritySortTask, make_task


def reference(vectors: list[list[float]], priorities: list[float], num_outputs: int) -> Batch:
    """One sequence, step by step: Python's sort of the rows by priority (stable)."""
    width, n = len(vectors[0]), len(vectors)
    ranked = sorted(range(n), key=lambda i: -priorities[i])[: min(num_outputs, n)]
    inputs = [v + [p, 0.0] for v, p in zip(vectors, priorities, strict=True)]
    inputs += [[0.0] * width + [0.0, 1.0]] + [[0.0] * (width + 2)] * len(ranked)
    targets = [[0.0] * width] * (n + 1) + [vectors[i] for i in ranked]
    mask = [[0.0] * width] * (n + 1) + [[1.0] * width] * len(ranked)
    return Batch(*(torch.tensor(x).unsqueeze(1) for x in (inputs, targets, mask)))


def column_wise_bug(vectors: torch.Tensor, priorities: torch.Tensor, k: int) -> torch.Tensor:
    """The known bug: every column of [vectors | priority] sorted on its own, by value.

    Args: vectors [n, W], priorities [n]. Returns the top k rows [k, W] it would ask for.
    """
    table = torch.cat([vectors, priorities.unsqueeze(-1)], dim=-1)  # (n, W + 1)
    return torch.sort(table, dim=0, descending=True).values[:k, :-1]


def assert_matches_reference(batch: Batch, task: PrioritySortTask) -> None:
    w = task.width
    n = int(batch.inputs[:, 0, w + 1].argmax())  # the delimiter step
    for b in range(batch.inputs.shape[1]):
        vectors = batch.inputs[:n, b, :w].tolist()
        priorities = batch.inputs[:n, b, w].tolist()
        expected = reference(vectors, priorities, task.num_outputs)
        assert torch.equal(batch.inputs[:, b : b + 1], expected.inputs)
        assert torch.equal(batch.targets[:, b : b + 1], expected.targets)
        assert torch.equal(batch.mask[:, b : b + 1], expected.mask)


def test_docstring_worked_example():
    task = PrioritySortTask(width=2, num_inputs=3, num_outputs=2)
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).unsqueeze(1)  # a, b, c
    priorities = torch.tensor([0.5, -0.3, 0.9]).unsqueeze(1)
    batch = task.layout(vectors, priorities)
    rows = [  # input, target, mask
        ([1, 0, 0.5, 0], [0, 0], [0, 0]),
        ([0, 1, -0.3, 0], [0, 0], [0, 0]),
        ([1, 1, 0.9, 0], [0, 0], [0, 0]),
        ([0, 0, 0, 1], [0, 0], [0, 0]),
        ([0, 0, 0, 0], [1, 1], [1, 1]),  # c
        ([0, 0, 0, 0], [1, 0], [1, 1]),  # a
    ]
    assert batch.inputs.shape == (6, 1, 4) and batch.targets.shape == (6, 1, 2)
    for t, (x, y, m) in enumerate(rows):
        assert batch.inputs[t, 0].tolist() == pytest.approx(x), t
        assert batch.targets[t, 0].tolist() == y, t
        assert batch.mask[t, 0].tolist() == m, t
    # Sorting each column on its own would ask for 11, 11: a vector pair never shown.
    bug = column_wise_bug(vectors[:, 0], priorities[:, 0], 2)
    assert bug.tolist() == [[1, 1], [1, 1]] != batch.targets[4:, 0].tolist()


def test_widths_shapes_and_mask():
    task = PrioritySortTask()
    assert (task.input_width, task.output_width, task.max_steps) == (10, 8, 37)
    batch = task.sample_batch(generator(0), 32)
    assert batch.inputs.shape == (37, 32, 10)
    assert batch.targets.shape == batch.mask.shape == (37, 32, 8)
    for x in (batch.targets, batch.mask):
        assert x.dtype == torch.float32 and torch.all((x == 0) | (x == 1))
    assert torch.all(batch.inputs[:20, :, 9] == 0) and torch.all(batch.inputs[20, :, :9] == 0)
    assert torch.all(batch.inputs[20, :, 9] == 1) and not batch.inputs[21:].any()
    assert not batch.mask[:21].any() and torch.all(batch.mask[21:] == 1)


@pytest.mark.parametrize(
    ("width", "num_inputs", "num_outputs", "size", "seed"),
    [
        (8, 20, 16, None, 1),
        (3, 5, 5, None, 2),
        (2, 6, 1, None, 3),
        (8, 20, 16, 40, 4),
        (8, 20, 16, 7, 5),
    ],
)
def test_layout_matches_per_row_sort_reference(width, num_inputs, num_outputs, size, seed):
    task = PrioritySortTask(width, num_inputs, num_outputs)
    assert_matches_reference(task.sample_batch(generator(seed), 8, size=size), task)


@settings(max_examples=30, deadline=None)
@given(
    width=st.integers(1, 6),
    counts=st.tuples(st.integers(1, 8), st.integers(0, 8)),
    batch_size=st.integers(1, 5),
    size=st.one_of(st.none(), st.integers(1, 20)),
    seed=st.integers(0, 2**31),
)
def test_matches_reference_for_any_settings(width, counts, batch_size, size, seed):
    task = PrioritySortTask(width, num_inputs=counts[0] + counts[1], num_outputs=counts[0])
    batch = task.sample_batch(generator(seed), batch_size, size=size)
    assert batch.inputs.shape[0] == task.num_steps(task.num_inputs if size is None else size)
    assert_matches_reference(batch, task)


def test_answers_are_whole_input_rows_in_priority_order_not_sorted_columns():
    task = PrioritySortTask()
    batch = task.sample_batch(generator(6), 64)
    differs_from_bug = 0
    for b in range(64):
        vectors, priorities = batch.inputs[:20, b, :8], batch.inputs[:20, b, 8]
        answers = batch.targets[21:, b]  # (16, 8)
        ranked = priorities.argsort(descending=True)
        # Every answer is the input row of the j-th highest priority, whole.
        assert torch.equal(answers, vectors[ranked[:16]])
        differs_from_bug += not torch.equal(answers, column_wise_bug(vectors, priorities, 16))
    assert differs_from_bug == 64


def test_ties_keep_input_order():
    task = PrioritySortTask(width=3, num_inputs=4, num_outputs=3)
    vectors = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]).unsqueeze(1)
    batch = task.layout(vectors, torch.tensor([0.2, 0.7, 0.2, 0.2]).unsqueeze(1))
    assert batch.targets[5:, 0].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1]]


def test_priorities_are_uniform_on_minus_one_to_one_and_bits_fair():
    batch = PrioritySortTask().sample_batch(generator(7), 500)  # 10000 priorities
    priorities = batch.inputs[:20, :, 8]
    assert priorities.min() >= -1 and priorities.max() <= 1
    assert priorities.min() < -0.999 and priorities.max() > 0.999
    assert priorities.mean().item() == pytest.approx(0.0, abs=0.03)  # sd 0.006
    assert priorities.var().item() == pytest.approx(1 / 3, abs=0.02)  # sd 0.003
    assert (priorities < 0).float().mean().item() == pytest.approx(0.5, abs=0.03)
    assert batch.inputs[:20, :, :8].mean().item() == pytest.approx(0.5, abs=0.01)  # sd 0.0018


@pytest.mark.parametrize(("size", "answers"), [(1, 1), (10, 10), (16, 16), (30, 16), (60, 16)])
def test_size_is_the_number_of_inputs_answered_with_the_best(size, answers):
    task = PrioritySortTask()
    batch = task.sample_batch(generator(8), 4, size=size)
    assert batch.inputs.shape == (size + answers + 1, 4, 10)
    assert torch.all(batch.inputs[:, :, 9].sum(0) == 1)
    assert torch.all(batch.mask.sum((0, 2)) == answers * 8)
    assert_matches_reference(batch, task)


@pytest.mark.parametrize(
    ("params", "setting"),
    [
        ({"width": 0}, "task.width"),
        ({"num_inputs": 0}, "task.num_inputs"),
        ({"num_inputs": 20.0}, "task.num_inputs"),
        ({"num_outputs": 0}, "task.num_outputs"),
        ({"num_outputs": False}, "task.num_outputs"),
        ({"num_outputs": 21}, "task.num_outputs (21)"),
        ({"num_inputs": 10}, "task.num_outputs (16)"),
    ],
)
def test_bad_settings_raise_one_sentence(params, setting):
    with pytest.raises(ValueError) as info:
        make_task("priority_sort", **params)
    assert_one_sentence(str(info.value), setting)


@pytest.mark.parametrize(("batch_size", "size"), [(0, None), (2, 0), (2, 20.0)])
def test_bad_batch_arguments(batch_size, size):
    with pytest.raises(ValueError) as info:
        PrioritySortTask().sample_batch(generator(0), batch_size, size=size)
    assert_one_sentence(str(info.value), "batch_size" if batch_size == 0 else "size")
