"""Shared fixtures and helpers: composing the Hydra config, tiny settings for runs that train,
an isolated torch (one thread, global random states put back afterwards), and the small
helpers several test files use (generators, asserts, reading a run's metrics and checkpoint)."""

from __future__ import annotations

import csv
import os
import random
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ntm.experiment import checkpoint
from ntm.experiment.config import register_configs
from ntm.experiment.metrics import training_loss

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

#: Sizes small enough that a run of a dozen steps takes well under a second on one thread.
TINY = [
    "controller=lstm",  # the LSTM's state (h and c) tests more than copy's feedforward default
    "memory.N=8",
    "memory.M=4",
    "controller.size=8",
    "task.max_length=3",
    "train.batch_size=4",
    "train.eval_size=8",
    "train.eval_batch_size=8",
    "train.threads=1",
    "train.pictures=false",
    "train.progress=false",
    "train.solved_bit_errors=null",
    "device=cpu",
    "train.compile=false",  # every task compiles by default on a CPU with a C++ compiler
]


def trained_run(tmp_path_factory: pytest.TempPathFactory, name: str,
                *overrides: str) -> Path:
    """A tiny copy run trained in a fresh folder: 4 steps, evaluated twice, lengths 1..3,
    N = 8 (``overrides`` change it); for module-scoped fixtures of tests that read runs."""
    from ntm.experiment.loop import train  # the app is imported by the tests that need a run only

    path = tmp_path_factory.mktemp(name)
    with torch_isolated():
        train(compose_config([*TINY, "train.eval_every=2", "train.max_sequences=16",
                              *overrides]), path)
    return path


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """``conf/config.yaml`` composed with ``overrides``, as ``python -m ntm.train`` sees it."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=False)


@contextmanager
def torch_isolated() -> Iterator[None]:
    """One torch thread (the machine is shared) and the global random states restored, since
    ``ntm.experiment.loop.train`` seeds Python, NumPy and torch and sets the thread count."""
    threads = torch.get_num_threads()
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """Every test's tensors are tiny: intra-op threads only add overhead, and on a busy
    2-core machine they stall each other (tiny operations ~80x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def isolated_torch() -> Iterator[None]:
    with torch_isolated():
        yield


def assert_one_sentence(message: str, setting: str) -> None:
    """``message`` names ``setting`` and is one sentence: one line, one full stop at its end."""
    assert setting in message, message
    assert message.endswith("."), message
    assert ". " not in message and "\n" not in message, message


#: The most pytest-xdist workers ``-n auto`` starts: a test file runs on one worker
#: (``--dist loadfile``), and the longest file takes about a sixth of the serial run.
MAX_WORKERS = 6

#: The stash key under which the number of deselected ``gpu`` tests is kept for the summary.
GPU_DESELECTED = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` are deselected, not skipped, where CUDA is not available; how many
    is said in the summary (``pytest_terminal_summary``)."""
    if torch.cuda.is_available():
        return
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        config.stash[GPU_DESELECTED] = len(gpu)
        config.hook.pytest_deselected(items=gpu)
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]


def gpu_summary(deselected: int) -> str | None:
    """The summary line for ``deselected`` gpu tests, or None when there are none."""
    if not deselected:
        return None
    return f"{deselected} gpu test{'s' if deselected != 1 else ''} deselected: no CUDA device"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker, hands the number of deselected gpu tests to the controller,
    which collects no tests itself (``pytest_testnodedown``)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["gpu_deselected"] = session.config.stash.get(GPU_DESELECTED, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """In pytest-xdist's controller: every worker collects every test, so each reports the
    same count; the largest is kept for the summary."""
    reported = getattr(node, "workeroutput", {}).get("gpu_deselected", 0)
    node.config.stash[GPU_DESELECTED] = max(node.config.stash.get(GPU_DESELECTED, 0), reported)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the default in ``pyproject.toml``): one worker per core this process may
    use, at most ``MAX_WORKERS``; each worker imports torch and runs its tests on one thread.
    On one core, none: the tests run in this process."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_WORKERS) if cores > 1 else 0


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Says that gpu tests were deselected, and why, so a green run on a CPU does not pass for
    one that tested the GPU path."""
    line = gpu_summary(config.stash.get(GPU_DESELECTED, 0))
    if line:
        terminalreporter.write_line(line, yellow=True)


def assert_finite_values_and_grads(out, inputs: dict, case: str) -> None:
    """``out`` is finite, and so is the gradient of a weighted sum of it reaching every tensor
    in ``inputs`` (name -> tensor with requires_grad)."""
    assert torch.isfinite(out).all(), f"non-finite value in {case}"
    coeffs = torch.linspace(-1.0, 2.0, out.numel()).reshape(out.shape)
    (out * coeffs).sum().backward()
    for name, x in inputs.items():
        assert x.grad is not None, f"no gradient reaches {name} in {case}"
        assert torch.isfinite(x.grad).all(), f"non-finite gradient of {name} in {case}"


# --- Small helpers that several test files share. ---


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``: what tasks draw their sequences from."""
    return torch.Generator().manual_seed(seed)


def stack_padded(sequences: list[list[list[float]]]) -> torch.Tensor:
    """Per-sequence lists of step rows -> [T, B, width], zero-padded at the end."""
    steps = max(len(seq) for seq in sequences)
    out = torch.zeros(steps, len(sequences), len(sequences[0][0]))
    for b, seq in enumerate(sequences):
        for t, row in enumerate(seq):
            out[t, b] = torch.tensor(row)
    return out


def assert_binary(x: torch.Tensor) -> None:
    """float32 holding only 0s and 1s."""
    assert x.dtype == torch.float32
    assert torch.all((x == 0) | (x == 1))


def assert_distribution(w: torch.Tensor, atol_float64: float = 1e-9) -> None:
    """Each row of ``w`` (the last dimension) is a distribution: finite, non-negative, summing
    to 1 (within ``atol_float64`` in float64, 1e-5 in float32)."""
    assert torch.isfinite(w).all()
    assert (w >= 0).all()
    atol = atol_float64 if w.dtype == torch.float64 else 1e-5
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)), rtol=0, atol=atol)


def tiny_run(steps: int, eval_every: int, *overrides: str) -> DictConfig:
    """``TINY`` trained for ``steps`` steps (of ``train.batch_size`` 4), evaluated every
    ``eval_every`` steps."""
    return compose_config([*TINY, f"train.eval_every={eval_every}",
                           f"train.max_sequences={steps * 4}", *overrides])


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    """The rows of a run's ``metrics.csv`` as written (strings)."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def without_timing(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """``rows`` without the columns that measure time (they differ between equal runs)."""
    return [{k: v for k, v in row.items() if k not in ("wall_seconds", "sequences_per_second")}
            for row in rows]


def saved(run_dir: Path) -> dict:
    """The checkpoint of a run directory."""
    return checkpoint.load(run_dir / checkpoint.CHECKPOINT_NAME)


def copy_with_other_best_weights(run_dir: Path, to: Path) -> Path:
    """A copy of ``run_dir`` at ``to`` whose ``best.pt`` weights differ from the last
    checkpoint's (every float shifted by 0.3), so that a test can tell which was loaded."""
    shutil.copytree(run_dir, to)
    kept = checkpoint.load(to / checkpoint.BEST_NAME)
    kept["model"] = {k: v + 0.3 if v.is_floating_point() else v for k, v in kept["model"].items()}
    checkpoint.save(to / checkpoint.BEST_NAME, {k: v for k, v in kept.items() if k != "format"})
    return to


def losses_fitting_one_batch(model: torch.nn.Module, task, steps: int = 60,
                             lr: float = 1e-2) -> list[float]:
    """The training loss of ``model`` at each of ``steps`` Adam steps on one fixed batch of
    ``task`` (16 sequences from seed 0): a model that can learn drives it well below chance."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batch = task.sample_batch(torch.Generator().manual_seed(0), 16)
    losses = []
    for _ in range(steps):
        loss = training_loss(model(batch.inputs), batch.targets, batch.mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
