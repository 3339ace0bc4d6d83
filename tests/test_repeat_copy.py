"""Tests for the repeat copy task: the worked example, the layout against a slow loop
reference, the repeat count's normalisation, ranges, sizes beyond training, validation."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_one_sentence, generator, stack_padded
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import Batch, RepeatCopyTask, make_task


def reference(
    vectors: list[list[list[float]]], repeats: list[int], width: int, repeat_input: list[float]
) -> Batch:
    """Step by step: vectors[b] is sequence b's list of L vectors, repeats[b] its n, and
    repeat_input[b] the value its delimiter step carries on the repeat channel."""
    inputs, targets, mask = [], [], []
    for seq, n, r in zip(vectors, repeats, repeat_input, strict=True):
        zero_in, zero_out = [0.0] * (width + 2), [0.0] * (width + 1)
        inp = [list(v) + [0.0, 0.0] for v in seq] + [[0.0] * width + [1.0, r]]
        tgt = [zero_out] * (len(seq) + 1)
        msk = [zero_out] * (len(seq) + 1)
        for _ in range(n):
            for v in seq:
                inp.append(zero_in)
                tgt.append(list(v) + [0.0])
                msk.append([1.0] * (width + 1))
        inp.append(zero_in)
        tgt.append([0.0] * width + [1.0])
        msk.append([1.0] * (width + 1))
        inputs.append(inp)
        targets.append(tgt)
        mask.append(msk)
    return Batch(stack_padded(inputs), stack_padded(targets), stack_padded(mask))


def parse(batch: Batch, task: RepeatCopyTask) -> tuple[list, list[int], list[float]]:
    """(vectors, repeats, repeat-channel values) of every sequence, read from the inputs."""
    w = task.width
    flags = batch.inputs[:, :, w]  # (T, B)
    assert torch.all(flags.sum(0) == 1), "one delimiter per sequence"
    lengths = flags.argmax(0).tolist()
    values = batch.inputs[:, :, w + 1].sum(0).tolist()
    std = task.repeat_std if task.repeat_std > 0 else 1.0
    repeats = [round(v * std + task.repeat_mean) for v in values]
    vectors = [batch.inputs[:n, b, :w].tolist() for b, n in enumerate(lengths)]
    return vectors, repeats, values


def assert_matches_reference(batch: Batch, task: RepeatCopyTask) -> None:
    vectors, repeats, values = parse(batch, task)
    expected = reference(vectors, repeats, task.width, values)
    assert torch.equal(batch.inputs, expected.inputs)
    assert torch.equal(batch.targets, expected.targets)
    assert torch.equal(batch.mask, expected.mask)


def test_docstring_worked_example():
    task = RepeatCopyTask(width=2)  # n trained on 1..10: mean 5.5, variance 8.25
    vectors = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])  # (L=2, B=1, W=2): 10, 11
    batch = task.layout(vectors, torch.tensor([2]), torch.tensor([2]))
    r = (2 - 5.5) / math.sqrt(8.25)
    assert r == pytest.approx(-1.2185, abs=1e-4)
    rows = [  # input, target, mask
        ([1, 0, 0, 0], [0, 0, 0], [0, 0, 0]),
        ([1, 1, 0, 0], [0, 0, 0], [0, 0, 0]),
        ([0, 0, 1, r], [0, 0, 0], [0, 0, 0]),
        ([0, 0, 0, 0], [1, 0, 0], [1, 1, 1]),
        ([0, 0, 0, 0], [1, 1, 0], [1, 1, 1]),
        ([0, 0, 0, 0], [1, 0, 0], [1, 1, 1]),
        ([0, 0, 0, 0], [1, 1, 0], [1, 1, 1]),
        ([0, 0, 0, 0], [0, 0, 1], [1, 1, 1]),
    ]
    assert batch.inputs.shape == (8, 1, 4) and batch.targets.shape == (8, 1, 3)
    for t, (x, y, m) in enumerate(rows):
        assert batch.inputs[t, 0].tolist() == pytest.approx(x, abs=1e-6), t
        assert batch.targets[t, 0].tolist() == y, t
        assert batch.mask[t, 0].tolist() == m, t


def test_widths_shapes_and_steps():
    task = RepeatCopyTask()
    assert (task.input_width, task.output_width) == (10, 9)
    assert task.max_steps == 11 * 10 + 2
    batch = task.sample_batch(generator(0), 64)
    vectors, repeats, _ = parse(batch, task)
    steps = max(task.num_steps(len(v), n) for v, n in zip(vectors, repeats, strict=True))
    assert batch.inputs.shape == (steps, 64, 10)
    assert batch.targets.shape == batch.mask.shape == (steps, 64, 9)
    for x in (batch.targets, batch.mask):
        assert x.dtype == torch.float32 and torch.all((x == 0) | (x == 1))
    assert torch.all((batch.inputs[:, :, :9] == 0) | (batch.inputs[:, :, :9] == 1))
    # One end marker per sequence; every answer step and the end-marker step scored.
    assert torch.all(batch.targets[:, :, 8].sum(0) == 1)
    for b, (v, n) in enumerate(zip(vectors, repeats, strict=True)):
        assert batch.mask[:, b].sum() == (n * len(v) + 1) * 9


@pytest.mark.parametrize(
    ("width", "lengths", "repeats", "seed"),
    [(2, (1, 3), (1, 3), 0), (3, (2, 2), (4, 4), 1), (8, (1, 10), (1, 10), 2)],
)
def test_layout_matches_loop_reference(width, lengths, repeats, seed):
    task = RepeatCopyTask(width, *lengths, *repeats)
    assert_matches_reference(task.sample_batch(generator(seed), 16), task)


@settings(max_examples=30, deadline=None)
@given(
    width=st.integers(1, 5),
    lengths=st.tuples(st.integers(1, 5), st.integers(0, 4)),
    repeats=st.tuples(st.integers(1, 5), st.integers(0, 4)),
    batch_size=st.integers(1, 7),
    size=st.one_of(st.none(), st.integers(1, 12)),
    seed=st.integers(0, 2**31),
)
def test_matches_reference_for_any_settings(width, lengths, repeats, batch_size, size, seed):
    task = RepeatCopyTask(width, lengths[0], sum(lengths), repeats[0], sum(repeats))
    batch = task.sample_batch(generator(seed), batch_size, size=size)
    vectors, found, _ = parse(batch, task)
    assert all(task.min_length <= len(v) <= task.max_length for v in vectors)
    if size is None:
        assert all(task.min_repeats <= n <= task.max_repeats for n in found)
    else:
        assert found == [size] * batch_size
    assert_matches_reference(batch, task)


def test_mixed_sizes_are_padded_with_zeros_at_the_end():
    task = RepeatCopyTask(width=3)
    vectors = torch.ones(4, 2, 3)
    batch = task.layout(vectors, torch.tensor([4, 1]), torch.tensor([2, 3]))
    assert batch.inputs.shape[0] == task.num_steps(4, 2) == 14
    short = task.num_steps(1, 3)  # 6 steps
    assert batch.mask[:short, 1].sum() == 4 * 4  # 3 answers and the end marker
    assert batch.targets[short - 1, 1].tolist() == [0, 0, 0, 1]
    for x in (batch.inputs, batch.targets, batch.mask):
        assert not x[short:, 1].any()
    assert batch.mask[:, 0].sum() == 9 * 4


def test_repeat_channel_is_standardised_over_the_training_range():
    task = RepeatCopyTask(min_repeats=1, max_repeats=10)
    values = task.normalised_repeats(torch.arange(1, 11))
    assert values.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert values.var(unbiased=False).item() == pytest.approx(1.0, abs=1e-6)
    assert task.repeat_mean == 5.5 and task.repeat_std**2 == pytest.approx(8.25)
    other = RepeatCopyTask(min_repeats=3, max_repeats=6)
    values = other.normalised_repeats(torch.arange(3, 7))
    assert values.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert values.var(unbiased=False).item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("size", [1, 10, 12, 20])
def test_size_fixes_repeats_beyond_training_range_with_training_normalisation(size):
    task = RepeatCopyTask()
    batch = task.sample_batch(generator(3), 8, size=size)
    vectors, repeats, values = parse(batch, task)
    assert repeats == [size] * 8
    assert values == pytest.approx([(size - 5.5) / math.sqrt(8.25)] * 8, abs=1e-6)
    assert all(1 <= len(v) <= 10 for v in vectors)
    assert batch.inputs.shape[0] == max(task.num_steps(len(v), size) for v in vectors)
    assert_matches_reference(batch, task)


@pytest.mark.parametrize("size", [1, 10, 15, 30])
def test_size_axis_length_fixes_the_length_and_draws_repeats_from_training(size):
    task = RepeatCopyTask(size_axis="length")
    assert (task.size_name, task.largest_training_size) == ("length", 10)
    assert RepeatCopyTask.size_name == "repeats"  # the class keeps the default axis
    batch = task.sample_batch(generator(3), 64, size=size)
    vectors, repeats, values = parse(batch, task)
    assert [len(v) for v in vectors] == [size] * 64
    assert set(repeats) <= set(range(1, 11)) and len(set(repeats)) > 5
    assert values == pytest.approx([(n - 5.5) / math.sqrt(8.25) for n in repeats], abs=1e-6)
    assert_matches_reference(batch, task)


def test_one_repeat_count_in_training_is_centred_not_divided_by_zero():
    task = RepeatCopyTask(min_repeats=4, max_repeats=4)
    assert parse(task.sample_batch(generator(4), 4), task)[2] == [0.0] * 4
    assert task.normalised_repeats(torch.tensor([6])).tolist() == [2.0]


def test_draws_both_bounds_of_length_and_repeats_and_nothing_outside():
    task = RepeatCopyTask(width=2, min_length=2, max_length=5, min_repeats=3, max_repeats=7)
    g = generator(5)
    lengths, repeats = set(), set()
    for _ in range(10):
        vectors, found, _ = parse(task.sample_batch(g, 64), task)
        lengths.update(len(v) for v in vectors)
        repeats.update(found)
    assert lengths == set(range(2, 6)) and repeats == set(range(3, 8))


def test_bits_are_fair_coins():
    task = RepeatCopyTask(min_length=10)
    batch = task.sample_batch(generator(6), 64)
    bits = batch.inputs[:10, :, :8]
    assert abs(bits.mean().item() - 0.5) < 0.03  # 5120 bits: sd 0.007


@pytest.mark.parametrize(
    ("params", "setting"),
    [
        ({"width": 0}, "task.width"),
        ({"min_length": 0}, "task.min_length"),
        ({"max_length": 2.0}, "task.max_length"),
        ({"min_length": 5, "max_length": 4}, "task.min_length (5)"),
        ({"min_repeats": 0}, "task.min_repeats"),
        ({"max_repeats": True}, "task.max_repeats"),
        ({"min_repeats": 11, "max_repeats": 10}, "task.min_repeats (11)"),
        ({"size_axis": "items"}, "task.size_axis"),
    ],
)
def test_bad_settings_raise_one_sentence(params, setting):
    with pytest.raises(ValueError) as info:
        make_task("repeat_copy", **params)
    assert_one_sentence(str(info.value), setting)


@pytest.mark.parametrize(("batch_size", "size"), [(0, None), (2, 0), (2, 1.0)])
def test_bad_batch_arguments(batch_size, size):
    with pytest.raises(ValueError) as info:
        RepeatCopyTask().sample_batch(generator(0), batch_size, size=size)
    assert_one_sentence(str(info.value), "batch_size" if batch_size == 0 else "size")
