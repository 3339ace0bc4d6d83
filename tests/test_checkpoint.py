"""Tests for checkpoints: round trip, atomic replacement, clear errors, random states."""

from __future__ import annotations

import errno
import os
import random

import numpy as np
import pytest
import torch
from conftest import assert_one_sentence

from ntm.experiment import checkpoint
from ntm.experiment.checkpoint import CheckpointError
from ntm.experiment.writes import WriteError

pytestmark = pytest.mark.usefixtures("isolated_torch")


def sample_state() -> dict:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    random.seed(5)
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": 7,
        "wall_seconds": 1.25,
        "last_eval": {"cost": 3.5, "bit_errors": float("nan")},
        "nested": {"a": {"b": [1, 2.5, "x", None, True], "t": torch.arange(4)}},
        "python_random": random.getstate(),
        "random": checkpoint.random_states(torch.Generator().manual_seed(3)),
    }


def assert_equal(a, b) -> None:
    """Deep equality of nested dicts, lists and tuples of tensors and plain values (NaN == NaN)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor)
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_equal(x, y)
    elif isinstance(a, float) and a != a:
        assert isinstance(b, float) and b != b
    else:
        assert type(a) is type(b) and a == b


def test_round_trip(tmp_path) -> None:
    state = sample_state()
    path = tmp_path / checkpoint.CHECKPOINT_NAME
    checkpoint.save(path, state)
    loaded = checkpoint.load(path)
    assert loaded.pop("format") == checkpoint.FORMAT
    assert_equal(state, loaded)
    random.setstate(loaded["python_random"])
    after_load = random.random()
    random.setstate(state["python_random"])
    assert random.random() == after_load


def test_round_trip_restores_a_model(tmp_path) -> None:
    model = torch.nn.LSTM(3, 4)
    checkpoint.save(tmp_path / "c.pt", {"model": model.state_dict()})
    other = torch.nn.LSTM(3, 4)
    other.load_state_dict(checkpoint.load(tmp_path / "c.pt")["model"])
    x = torch.randn(5, 2, 3)
    assert torch.equal(model(x)[0], other(x)[0])


def test_save_is_atomic_and_replaces(tmp_path) -> None:
    path = tmp_path / checkpoint.CHECKPOINT_NAME
    checkpoint.save(path, {"step": 1})
    checkpoint.save(path, {"step": 2})
    assert checkpoint.load(path)["step"] == 2
    assert os.listdir(tmp_path) == [checkpoint.CHECKPOINT_NAME]


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch) -> None:
    path = tmp_path / checkpoint.CHECKPOINT_NAME
    checkpoint.save(path, {"step": 1})

    def killed(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, {"step": 2})
    monkeypatch.undo()
    assert checkpoint.load(path)["step"] == 1


def load_error(path) -> str:
    """The message of the ``CheckpointError`` that loading ``path`` raises; it names the path
    on one line."""
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    return message


def test_load_missing_file(tmp_path) -> None:
    path = tmp_path / "nope" / checkpoint.CHECKPOINT_NAME
    assert_one_sentence(load_error(path), str(path))


def test_load_a_directory(tmp_path) -> None:
    assert_one_sentence(load_error(tmp_path), str(tmp_path))


@pytest.mark.parametrize("payload", [{"step": 3}, {"format": "other-1"}, [1, 2], torch.ones(2)])
def test_load_plain_torch_save(tmp_path, payload) -> None:
    path = tmp_path / checkpoint.CHECKPOINT_NAME
    torch.save(payload, path)
    assert_one_sentence(load_error(path), str(path))


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


# Each writes a damaged file over a real checkpoint at ``path``.
CORRUPTIONS = {
    "empty": lambda path, data: path.write_bytes(b""),
    "random bytes": lambda path, data: path.write_bytes(np.random.default_rng(0).bytes(4096)),
    "truncated to 10%": lambda path, data: path.write_bytes(data[: len(data) // 10]),
    "truncated to 50%": lambda path, data: path.write_bytes(data[: len(data) // 2]),
    "truncated to 90%": lambda path, data: path.write_bytes(data[: len(data) * 9 // 10]),
    # A flipped bit in the zip header's name length, and one in a pickled string (the key
    # "format" becomes invalid UTF-8): a disk error or a bad copy.
    "header byte flipped": lambda path, data: path.write_bytes(flip(data, 26)),
    "pickled string flipped": lambda path, data: path.write_bytes(
        flip(data, data.index(b"format"))
    ),
    # weights_only=True refuses an arbitrary object instead of unpickling it.
    "pickled object": lambda path, data: torch.save(
        {"format": checkpoint.FORMAT, "thing": pytest.approx(1.0)}, path
    ),
}


def write_corrupt(tmp_path, kind: str):
    path = tmp_path / checkpoint.CHECKPOINT_NAME
    checkpoint.save(path, sample_state())
    CORRUPTIONS[kind](path, path.read_bytes())
    return path


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_load_corrupt_file_raises_checkpoint_error(tmp_path, kind) -> None:
    load_error(write_corrupt(tmp_path, kind))


@pytest.mark.parametrize("kind", [
    k for k in CORRUPTIONS if not k.endswith("flipped")
])
def test_load_corrupt_file_message_is_one_sentence(tmp_path, kind) -> None:
    path = write_corrupt(tmp_path, kind)
    assert_one_sentence(load_error(path), str(path))


def draws(generator: torch.Generator) -> tuple:
    return (
        random.random(),
        random.getrandbits(64),
        np.random.rand(3).tolist(),
        np.random.normal(),  # the Gaussian's cached second value is part of the state
        torch.rand(3).tolist(),
        torch.randint(0, 2**30, (2,), generator=generator).tolist(),
    )


def test_random_states_restore_every_source(tmp_path) -> None:
    random.seed(11)
    np.random.seed(12)
    torch.manual_seed(13)
    generator = torch.Generator().manual_seed(14)
    np.random.normal()  # leave a cached Gaussian in NumPy's state
    states = checkpoint.random_states(generator)
    first = draws(generator)
    draws(generator)
    checkpoint.restore_random_states(states, generator)
    assert draws(generator) == first


def test_random_states_survive_a_checkpoint(tmp_path) -> None:
    generator = torch.Generator().manual_seed(1)
    torch.rand(5, generator=generator)
    checkpoint.save(tmp_path / "c.pt", {"random": checkpoint.random_states(generator)})
    first = draws(generator)
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    fresh = torch.Generator()  # restoring works on a new generator, as after a restart
    checkpoint.restore_random_states(checkpoint.load(tmp_path / "c.pt")["random"], fresh)
    assert draws(fresh) == first


@pytest.mark.parametrize("saved_gpus, visible", [(2, 1), (1, 2), (2, 2)])
def test_cuda_random_states_restore_on_the_gpus_both_runs_see(monkeypatch, saved_gpus,
                                                               visible) -> None:
    """A run saved with ``saved_gpus`` GPUs visible and resumed with ``visible`` (CUDA faked)
    restores the state of each GPU both saw, instead of failing on a missing one."""
    generator = torch.Generator().manual_seed(0)
    states = {**checkpoint.random_states(generator),
              "cuda": [torch.tensor([10 + i], dtype=torch.uint8) for i in range(saved_gpus)]}
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda state, device: restored.append((int(state[0]), device)))
    checkpoint.restore_random_states(states, generator)
    assert restored == [(10 + i, i) for i in range(min(saved_gpus, visible))]


def test_a_checkpoint_of_another_version_of_ntm_is_refused_by_name(tmp_path) -> None:
    path = tmp_path / checkpoint.CHECKPOINT_NAME
    torch.save({"format": "ntm-checkpoint-2", "step": 1}, path)
    message = load_error(path)
    assert_one_sentence(message, "written by another version of ntm")
    assert "ntm-checkpoint-2" in message and checkpoint.FORMAT in message


def test_a_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / checkpoint.CHECKPOINT_NAME
    checkpoint.save(path, {"step": 1})

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the data reach the disk at fsync, or fail there
    with pytest.raises(WriteError, match="No space left on device"):
        checkpoint.save(path, {"step": 2})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [checkpoint.CHECKPOINT_NAME]
    assert checkpoint.load(path)["step"] == 1
