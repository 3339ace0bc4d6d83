"""Tests for the associative recall task: the layout against a slow loop reference, a worked
example, the query drawn, the item counts, sizes beyond training."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import assert_binary, generator, stack_padded

from tasks import (
    AssociativeRecallTask,
    Batch,
)

# --- A slow, obvious reference: build a batch step by step from the drawn content. ---


def reference_recall(items: list[list[list[list[float]]]], queries: list[int], width: int) -> Batch:
    """items[b][i] is item i of sequence b (a list of vectors); queries[b] its query index."""
    inputs, targets, mask = [], [], []
    zero_in, zero_out = [0.0] * (width + 2), [0.0] * width
    for seq, query in zip(items, queries, strict=True):
        inp, tgt, msk = [], [], []

        def step(row_in, row_out=zero_out, scored=False, inp=inp, tgt=tgt, msk=msk):
            inp.append(row_in)
            tgt.append(row_out)
            msk.append([1.0 if scored else 0.0] * width)

        for item in seq:
            step([0.0] * width + [1.0, 0.0])
            for vector in item:
                step(list(vector) + [0.0, 0.0])
        step([0.0] * width + [0.0, 1.0])
        for vector in seq[query]:
            step(list(vector) + [0.0, 0.0])
        step([0.0] * width + [0.0, 1.0])
        for vector in seq[query + 1]:
            step(zero_in, list(vector), scored=True)
        inputs.append(inp)
        targets.append(tgt)
        mask.append(msk)
    return Batch(stack_padded(inputs), stack_padded(targets), stack_padded(mask))


# --- Parsers: read a sequence's content back from its inputs. ---


def recall_items(batch: Batch, task: AssociativeRecallTask) -> tuple[list, list]:
    """(items[b][i], query vectors[b]) read from the inputs."""
    k, w = task.item_length, task.width
    counts = batch.inputs[:, :, w].sum(0).long().tolist()  # item delimiter flags
    items, queries = [], []
    for b, n in enumerate(counts):
        seq = batch.inputs[:, b, :w]
        items.append([seq[i * (k + 1) + 1 : (i + 1) * (k + 1)].tolist() for i in range(n)])
        start = n * (k + 1) + 1
        queries.append(seq[start : start + k].tolist())
    return items, queries


def query_positions(items: list, query: list) -> list[int]:
    return [i for i, item in enumerate(items) if item == query]


# --- Associative recall ---


def test_recall_widths_shapes_and_steps():
    task = AssociativeRecallTask(width=6, item_length=3, min_items=2, max_items=6)
    assert (task.input_width, task.output_width) == (8, 6)
    assert task.max_steps == 6 * 4 + 2 * 3 + 2
    batch = task.sample_batch(generator(0), 64)
    counts = batch.inputs[:, :, 6].sum(0)
    steps = batch.inputs.shape[0]
    assert steps == task.num_steps(int(counts.max())) <= task.max_steps
    assert batch.inputs.shape == (steps, 64, 8)
    assert batch.targets.shape == batch.mask.shape == (steps, 64, 6)
    assert torch.all(batch.inputs[:, :, 7].sum(0) == 2)  # two query delimiters each
    assert torch.all(batch.mask.sum((0, 2)) == 3 * 6)
    for x in (batch.inputs, batch.targets, batch.mask):
        assert_binary(x)


@pytest.mark.parametrize(
    ("width", "item_length", "min_items", "max_items", "seed"),
    [(2, 1, 2, 3, 0), (6, 3, 2, 6, 1), (3, 2, 4, 4, 2)],
)
def test_recall_layout_matches_loop_reference(width, item_length, min_items, max_items, seed):
    task = AssociativeRecallTask(width, item_length, min_items, max_items)
    batch = task.sample_batch(generator(seed), 24)
    items, queries = recall_items(batch, task)
    per_sequence = []
    for b, (seq, query) in enumerate(zip(items, queries, strict=True)):
        # Items may repeat (narrow widths here): some earlier copy of the query must explain
        # this sequence exactly.
        candidates = [i for i in query_positions(seq, query) if i < len(seq) - 1]
        assert candidates, "the query is not one of the items 0..n-2"
        one = {k: v[:, b : b + 1] for k, v in dataclasses.asdict(batch).items()}
        steps = task.num_steps(len(seq))
        assert not any(v[steps:].any() for v in one.values()), "padding must be zero"
        matches = []
        for i in candidates:
            ref = reference_recall([seq], [i], width)
            matches.append(all(torch.equal(one[k][:steps], getattr(ref, k)) for k in one))
        per_sequence.append(any(matches))
    assert all(per_sequence)


def test_recall_fixed_small_example_step_by_step():
    """Width 2, item_length 1, 3 items each: every step checked by hand."""
    task = AssociativeRecallTask(width=2, item_length=1, min_items=3, max_items=3)
    batch = task.sample_batch(generator(7), 16)
    assert batch.inputs.shape == (10, 16, 4)
    item_delimiter, query_delimiter = [0, 0, 1, 0], [0, 0, 0, 1]
    for b in range(16):
        x, y, m = batch.inputs[:, b], batch.targets[:, b], batch.mask[:, b]
        for t in (0, 2, 4):
            assert x[t].tolist() == item_delimiter
        for t in (1, 3, 5, 7):
            assert x[t, 2:].tolist() == [0, 0]
        assert x[6].tolist() == query_delimiter and x[8].tolist() == query_delimiter
        assert not x[9].any()
        assert not y[:9].any() and not m[:9].any() and m[9].tolist() == [1, 1]
        items = [x[1, :2], x[3, :2], x[5, :2]]
        assert any(
            torch.equal(x[7, :2], items[i]) and torch.equal(y[9], items[i + 1]) for i in (0, 1)
        )


def test_recall_query_is_uniform_never_last_and_target_is_its_successor():
    # 40 bits per item: repeated items are practically impossible, so positions are unique.
    task = AssociativeRecallTask(width=20, item_length=2, min_items=2, max_items=6)
    g = generator(8)
    seen = {n: set() for n in range(2, 7)}
    for _ in range(30):
        batch = task.sample_batch(g, 64)
        items, queries = recall_items(batch, task)
        for b, (seq, query) in enumerate(zip(items, queries, strict=True)):
            (position,) = query_positions(seq, query)
            seen[len(seq)].add(position)
            n = len(seq)
            answer = batch.targets[task.num_steps(n) - 2 : task.num_steps(n), b]
            assert answer.tolist() == seq[position + 1]
    assert seen == {n: set(range(n - 1)) for n in range(2, 7)}


def test_recall_query_position_is_uniform():
    task = AssociativeRecallTask(width=20, item_length=2)
    g = generator(16)
    counts = [0] * 5
    for _ in range(40):
        batch = task.sample_batch(g, 64, size=6)
        items, queries = recall_items(batch, task)
        for seq, query in zip(items, queries, strict=True):
            (position,) = query_positions(seq, query)
            counts[position] += 1
    # 2560 draws over 5 positions: 512 expected each, standard deviation about 20.
    assert all(abs(c - 512) < 100 for c in counts), counts


def test_recall_draws_both_bounds_and_nothing_outside():
    task = AssociativeRecallTask(width=4, item_length=2, min_items=3, max_items=7)
    g = generator(9)
    seen = set()
    for _ in range(20):
        seen.update(task.sample_batch(g, 64).inputs[:, :, 4].sum(0).long().tolist())
    assert seen == set(range(3, 8))


@pytest.mark.parametrize("size", [2, 6, 10, 20])
def test_recall_size_fixes_item_count_beyond_training_range(size):
    task = AssociativeRecallTask()
    batch = task.sample_batch(generator(10), 8, size=size)
    assert batch.inputs.shape == (task.num_steps(size), 8, 8)
    assert torch.all(batch.inputs[:, :, 6].sum(0) == size)
    items, queries = recall_items(batch, task)
    for b, (seq, query) in enumerate(zip(items, queries, strict=True)):
        positions = [i for i in query_positions(seq, query) if i < size - 1]
        assert any(batch.targets[-3:, b].tolist() == seq[i + 1] for i in positions)
