"""Tests of what every task shares: seeding, the global random state, sizes, optimal costs,
devices, the Batch type, the registry and the validation of settings."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import assert_one_sentence, generator

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


def test_batch_join_pads_the_shorter_batches_and_part_cuts_after_the_last_scored_step():
    task = CopyTask(min_length=1, max_length=6)
    short = task.sample_batch(generator(1), 3, size=2)  # 2 inputs, the delimiter, 2 outputs
    long = task.sample_batch(generator(2), 2, size=5)
    joined = Batch.join([short, long])
    assert joined.mask.shape == (11, 5, 8) and joined.inputs.shape == (11, 5, 9)
    assert torch.equal(joined.inputs[:5, :3], short.inputs)
    assert torch.equal(joined.targets[:, 3:], long.targets)
    assert not joined.inputs[5:, :3].any() and not joined.mask[5:, :3].any()  # zero padding
    back = joined.part(slice(0, 3))  # cut after the short batch's last scored step
    assert all(torch.equal(getattr(back, k), getattr(short, k))
               for k in ("inputs", "targets", "mask"))
    assert joined.part(slice(2, 4)).mask.shape == (11, 2, 8)  # one long sequence among them


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


def test_task_defaults_are_the_constructor_s() -> None:
    from tasks import task_defaults

    assert task_defaults("repeat_copy") == {"width": 8, "min_length": 1, "max_length": 10,
                                            "min_repeats": 1, "max_repeats": 10,
                                            "size_axis": "repeats"}
    assert task_defaults("dynamic_ngrams") == {"length": 200}
    assert task_defaults("no such task") == {}
