"""Tests for the copy task: the layout against a slow loop reference, a worked example,
the lengths drawn, sizes beyond training."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_binary, generator, stack_padded
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import (
    Batch,
    CopyTask,
)

# --- A slow, obvious reference: build a batch step by step from the drawn content. ---


def reference_copy(vectors: list[list[list[float]]], width: int) -> Batch:
    """vectors[b] is sequence b's list of L bit vectors."""
    inputs, targets, mask = [], [], []
    for seq in vectors:
        length = len(seq)
        inp, tgt, msk = [], [], []
        for t in range(2 * length + 1):
            if t < length:
                inp.append(list(seq[t]) + [0.0])
            elif t == length:
                inp.append([0.0] * width + [1.0])
            else:
                inp.append([0.0] * (width + 1))
            answering = length < t <= 2 * length
            tgt.append(list(seq[t - length - 1]) if answering else [0.0] * width)
            msk.append([1.0 if answering else 0.0] * width)
        inputs.append(inp)
        targets.append(tgt)
        mask.append(msk)
    return Batch(stack_padded(inputs), stack_padded(targets), stack_padded(mask))


# --- Parsers: read a sequence's content back from its inputs. ---


def copy_lengths(batch: Batch, width: int) -> list[int]:
    """L of every sequence: the step of its one delimiter flag."""
    flags = batch.inputs[:, :, width]  # (T, B)
    assert torch.all(flags.sum(0) == 1)
    return flags.argmax(0).tolist()


def copy_vectors(batch: Batch, width: int) -> list[list[list[float]]]:
    return [
        batch.inputs[:length, b, :width].tolist()
        for b, length in enumerate(copy_lengths(batch, width))
    ]


# --- Copy ---


def test_copy_widths_shapes_and_steps():
    task = CopyTask(width=8, min_length=1, max_length=20)
    assert (task.input_width, task.output_width, task.max_steps) == (9, 8, 41)
    batch = task.sample_batch(generator(0), 64)
    lengths = copy_lengths(batch, 8)
    steps = batch.inputs.shape[0]
    assert steps == 2 * max(lengths) + 1 <= task.max_steps
    assert batch.inputs.shape == (steps, 64, 9)
    assert batch.targets.shape == batch.mask.shape == (steps, 64, 8)
    for x in (batch.inputs, batch.targets, batch.mask):
        assert_binary(x)
        assert x.device == torch.device("cpu")


@pytest.mark.parametrize(
    ("width", "min_length", "max_length", "seed"), [(2, 1, 3, 0), (2, 2, 2, 1), (5, 1, 7, 2)]
)
def test_copy_layout_matches_loop_reference(width, min_length, max_length, seed):
    task = CopyTask(width=width, min_length=min_length, max_length=max_length)
    batch = task.sample_batch(generator(seed), 16)
    expected = reference_copy(copy_vectors(batch, width), width)
    assert torch.equal(batch.inputs, expected.inputs)
    assert torch.equal(batch.targets, expected.targets)
    assert torch.equal(batch.mask, expected.mask)


def test_copy_fixed_small_example_step_by_step():
    """Width 2, lengths 1..2: every step of every sequence checked by hand."""
    task = CopyTask(width=2, min_length=1, max_length=2)
    batch = task.sample_batch(generator(3), 32)
    lengths = copy_lengths(batch, 2)
    assert set(lengths) == {1, 2}
    assert batch.inputs.shape[0] == 5
    for b, length in enumerate(lengths):
        x, y, m = batch.inputs[:, b], batch.targets[:, b], batch.mask[:, b]
        for t in range(length):  # presented vectors: no delimiter, nothing scored
            assert x[t, 2] == 0 and not y[t].any() and not m[t].any()
        assert x[length].tolist() == [0, 0, 1] and not m[length].any()
        for t in range(length + 1, 2 * length + 1):  # answers: zero input, all scored
            assert not x[t].any()
            assert torch.equal(y[t], x[t - length - 1, :2])
            assert m[t].tolist() == [1, 1]
        for t in range(2 * length + 1, 5):  # padding
            assert not x[t].any() and not y[t].any() and not m[t].any()


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 6),
    lengths=st.tuples(st.integers(1, 8), st.integers(0, 8)),
    batch_size=st.integers(1, 9),
    seed=st.integers(0, 2**31),
)
def test_copy_matches_reference_for_any_settings(width, lengths, batch_size, seed):
    task = CopyTask(width=width, min_length=lengths[0], max_length=lengths[0] + lengths[1])
    batch = task.sample_batch(generator(seed), batch_size)
    found = copy_lengths(batch, width)
    assert all(task.min_length <= n <= task.max_length for n in found)
    expected = reference_copy(copy_vectors(batch, width), width)
    assert torch.equal(batch.inputs, expected.inputs)
    assert torch.equal(batch.targets, expected.targets)
    assert torch.equal(batch.mask, expected.mask)


def test_copy_draws_both_bounds_and_nothing_outside():
    task = CopyTask(width=3, min_length=4, max_length=9)
    g = generator(4)
    seen = set()
    for _ in range(20):
        seen.update(copy_lengths(task.sample_batch(g, 64), 3))
    assert seen == set(range(4, 10))


def test_copy_bits_are_fair_coins():
    batch = CopyTask().sample_batch(generator(5), 64, size=20)
    bits = batch.inputs[:20, :, :8]
    assert abs(bits.mean().item() - 0.5) < 0.03  # 10240 bits: sd 0.005


@pytest.mark.parametrize("size", [1, 10, 50, 120])
def test_copy_size_fixes_every_length_beyond_training_range(size):
    task = CopyTask(width=8, min_length=1, max_length=20)
    batch = task.sample_batch(generator(6), 4, size=size)
    assert batch.inputs.shape == (2 * size + 1, 4, 9)
    assert copy_lengths(batch, 8) == [size] * 4
    assert torch.all(batch.mask.sum((0, 2)) == size * 8)
    expected = reference_copy(copy_vectors(batch, 8), 8)
    assert torch.equal(batch.targets, expected.targets)
