"""Tests for the task generators: layout against slow loop references, ranges, seeding,
validation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import (
    TASKS,
    AssociativeRecallTask,
    Batch,
    CopyTask,
    DynamicNGramsTask,
    PrioritySortTask,
    RepeatCopyTask,
    Task,
    make_task,
)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_one_sentence(message: str, setting: str) -> None:
    assert setting in message
    assert message.endswith(".")
    assert ". " not in message and "\n" not in message


def stack_padded(sequences: list[list[list[float]]]) -> torch.Tensor:
    """Per-sequence lists of step rows -> [T, B, width], zero-padded at the end."""
    steps = max(len(seq) for seq in sequences)
    width = len(sequences[0][0])
    out = torch.zeros(steps, len(sequences), width)
    for b, seq in enumerate(sequences):
        for t, row in enumerate(seq):
            out[t, b] = torch.tensor(row)
    return out


# --- Slow, obvious references: build a batch step by step from the drawn content. ---


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


def assert_binary(x: torch.Tensor) -> None:
    assert x.dtype == torch.float32
    assert torch.all((x == 0) | (x == 1))


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


# --- Shared behaviour ---


TASK_FACTORIES = [
    pytest.param(lambda: CopyTask(), id="copy"),
    pytest.param(lambda: AssociativeRecallTask(), id="associative_recall"),
    pytest.param(lambda: RepeatCopyTask(), id="repeat_copy"),
    pytest.param(lambda: DynamicNGramsTask(), id="dynamic_ngrams"),
    pytest.param(lambda: PrioritySortTask(), id="priority_sort"),
]


@pytest.mark.parametrize("factory", TASK_FACTORIES)
def test_same_seed_same_batch_different_seed_different(factory):
    task = factory()
    a, b = task.sample_batch(generator(11), 64), task.sample_batch(generator(11), 64)
    c = task.sample_batch(generator(12), 64)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert torch.equal(a.mask, b.mask)
    assert a.inputs.shape != c.inputs.shape or not torch.equal(a.inputs, c.inputs)


@pytest.mark.parametrize("factory", TASK_FACTORIES)
def test_global_random_state_is_untouched(factory):
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    factory().sample_batch(generator(13), 8)
    assert torch.equal(torch.rand(4), expected)


@pytest.mark.parametrize("factory", TASK_FACTORIES)
def test_max_steps_is_the_longest_training_sequence(factory):
    task = factory()
    g = generator(14)
    longest = max(task.sample_batch(g, 64).inputs.shape[0] for _ in range(10))
    assert longest == task.max_steps


@pytest.mark.parametrize("factory", TASK_FACTORIES)
def test_size_name_and_generalisation_sizes(factory):
    task = factory()
    assert isinstance(task.size_name, str) and task.size_name
    sizes = task.generalisation_sizes
    assert isinstance(sizes, tuple) and sizes == tuple(sorted(set(sizes)))
    assert all(isinstance(s, int) and s >= 1 for s in sizes)
    g = generator(17)
    for size in sizes:  # every default size can be laid out
        batch = task.sample_batch(g, 2, size=size)
        assert batch.mask.sum() > 0


@pytest.mark.parametrize("factory", TASK_FACTORIES)
def test_optimal_cost_is_none_or_one_finite_cost_per_sequence(factory):
    task = factory()
    batch = task.sample_batch(generator(18), 5)
    cost = task.optimal_cost(batch)
    if cost is None:
        return
    assert cost.shape == (5,) and cost.dtype == torch.float32
    assert torch.isfinite(cost).all() and (cost >= 0).all()


@pytest.mark.parametrize(
    "task", [CopyTask(), AssociativeRecallTask(), RepeatCopyTask(), PrioritySortTask()]
)
def test_targets_determined_by_inputs_have_no_optimal_cost(task):
    assert task.optimal_cost(task.sample_batch(generator(19), 3)) is None


@pytest.mark.gpu
@pytest.mark.parametrize("factory", TASK_FACTORIES)
def test_batches_are_made_on_the_generators_device(factory):
    task = factory()
    batch = task.sample_batch(torch.Generator(device="cuda").manual_seed(20), 4)
    for x in (batch.inputs, batch.targets, batch.mask):
        assert x.device.type == "cuda"
    cost = task.optimal_cost(batch)
    assert cost is None or cost.device.type == "cuda"


def test_batch_to_moves_all_tensors_and_is_frozen():
    batch = CopyTask(width=3).sample_batch(generator(15), 2)
    moved = batch.to("meta")
    for before, after in zip(dataclasses.astuple(batch), dataclasses.astuple(moved), strict=True):
        assert after.device == torch.device("meta")
        assert after.shape == before.shape and after.dtype == before.dtype
    again = batch.to(torch.device("cpu"))
    assert torch.equal(again.inputs, batch.inputs) and torch.equal(again.mask, batch.mask)
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.inputs = batch.targets  # type: ignore[misc]


def test_batch_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="Batch shapes"):
        Batch(torch.zeros(3, 2, 4), torch.zeros(3, 2, 2), torch.zeros(4, 2, 2))


# --- Registry and validation ---


def test_registry_names_and_make_task():
    assert TASKS == {
        "copy": CopyTask,
        "repeat_copy": RepeatCopyTask,
        "associative_recall": AssociativeRecallTask,
        "dynamic_ngrams": DynamicNGramsTask,
        "priority_sort": PrioritySortTask,
    }
    assert all(cls.name == name and issubclass(cls, Task) for name, cls in TASKS.items())
    task = make_task("copy", width=4, max_length=5)
    assert isinstance(task, CopyTask)
    assert (task.input_width, task.output_width, task.max_steps) == (5, 4, 11)
    recall = make_task("associative_recall", max_items=20)
    assert isinstance(recall, AssociativeRecallTask) and recall.max_items == 20
    repeat = make_task("repeat_copy", max_repeats=20)
    assert isinstance(repeat, RepeatCopyTask) and repeat.max_repeats == 20
    assert (repeat.input_width, repeat.output_width, repeat.max_steps) == (10, 9, 21 * 10 + 2)
    ngrams = make_task("dynamic_ngrams", length=50)
    assert isinstance(ngrams, DynamicNGramsTask) and ngrams.max_steps == 49
    sort = make_task("priority_sort", num_inputs=30)
    assert isinstance(sort, PrioritySortTask) and sort.max_steps == 30 + 16 + 1


def test_make_task_unknown_name():
    with pytest.raises(ValueError) as info:
        make_task("priority_sorted")
    message = str(info.value)
    assert_one_sentence(message, "task.name")
    assert "priority_sorted" in message and "copy" in message and "associative_recall" in message


def test_make_task_unknown_setting():
    with pytest.raises(ValueError) as info:
        make_task("copy", lenght=3)
    assert_one_sentence(str(info.value), "task.lenght")
    assert "max_length" in str(info.value)


@pytest.mark.parametrize(
    ("name", "params", "setting"),
    [
        ("copy", {"width": 0}, "task.width"),
        ("copy", {"width": 2.0}, "task.width"),
        ("copy", {"width": True}, "task.width"),
        ("copy", {"min_length": 0}, "task.min_length"),
        ("copy", {"min_length": "3"}, "task.min_length"),
        ("copy", {"max_length": -1}, "task.max_length"),
        ("copy", {"min_length": 25, "max_length": 20}, "task.min_length (25)"),
        ("associative_recall", {"width": 0}, "task.width"),
        ("associative_recall", {"item_length": 0}, "task.item_length"),
        ("associative_recall", {"item_length": 1.5}, "task.item_length"),
        ("associative_recall", {"min_items": 1}, "task.min_items"),
        ("associative_recall", {"max_items": False}, "task.max_items"),
        ("associative_recall", {"min_items": 7, "max_items": 6}, "task.min_items (7)"),
    ],
)
def test_bad_parameters_raise_one_sentence(name, params, setting):
    with pytest.raises(ValueError) as info:
        make_task(name, **params)
    assert_one_sentence(str(info.value), setting)


def test_order_message_names_both_settings():
    with pytest.raises(ValueError) as info:
        CopyTask(min_length=25, max_length=20)
    assert str(info.value) == (
        "task.min_length (25) is above task.max_length (20); it must be at most task.max_length."
    )
    with pytest.raises(ValueError) as info:
        CopyTask(min_length=0)
    assert str(info.value) == "task.min_length is 0; it must be an integer >= 1."


@pytest.mark.parametrize(
    ("task", "batch_size", "size", "setting"),
    [
        (CopyTask(), 0, None, "batch_size"),
        (CopyTask(), 2.0, None, "batch_size"),
        (CopyTask(), 4, 0, "size"),
        (CopyTask(), 4, 3.0, "size"),
        (AssociativeRecallTask(), 4, 1, "size"),
    ],
)
def test_bad_batch_arguments(task, batch_size, size, setting):
    with pytest.raises(ValueError) as info:
        task.sample_batch(generator(0), batch_size, size=size)
    assert_one_sentence(str(info.value), setting)


def test_largest_training_size_of_every_task():
    expected = {"copy": 20, "associative_recall": 6, "repeat_copy": 10, "dynamic_ngrams": 200,
                "priority_sort": 20}
    assert sorted(expected) == sorted(TASKS)
    for name, size in expected.items():
        assert make_task(name).largest_training_size == size, name
