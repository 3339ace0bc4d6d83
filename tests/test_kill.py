"""Kill anywhere, lose nothing: a tiny ``python -m ntm.train`` run is killed with SIGKILL at
several moments (starting up, between evaluations, right after a metrics row, and while a
checkpoint is being written), restarted with the same command each time, and must end with
the metrics, the weights and the best weights (``best.pt``) of an uninterrupted run of the
same seed; after every kill the run directory holds a loadable checkpoint (once the first was
written).

The moment inside a checkpoint's write is hit by starting the run through ``PAUSED_TRAIN``,
which patches ``os.replace`` in the child process so that ``checkpoint.save`` waits between
writing the temporary file and renaming it over the checkpoint; the test kills the run once
this attempt's temporary file has been written. Production code has no hook for this.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import TINY, compose_config, torch_isolated, without_timing

from ntm.experiment import checkpoint
from ntm.experiment.checkpoint import CHECKPOINT_NAME
from ntm.experiment.loop import train

REPO = Path(__file__).resolve().parents[1]
STEPS, EVAL_EVERY, BATCH = 300, 5, 4  # 60 evaluations, about 3 s of training
SETTINGS = [*TINY, f"train.eval_every={EVAL_EVERY}", f"train.max_sequences={STEPS * BATCH}"]
TIMING = ("wall_seconds", "sequences_per_second")
# ``python -m ntm.train`` whose checkpoint writes pause for a minute once the temporary file is
# written, before ``checkpoint.save`` renames it over the checkpoint (run as ``python -c``).
PAUSED_TRAIN = """
import os, runpy, time
real_replace = os.replace
def paused_replace(source, target, *args, **kwargs):
    if str(source).endswith(".checkpoint.pt.tmp"):
        time.sleep(60)
    real_replace(source, target, *args, **kwargs)
os.replace = paused_replace
runpy.run_module("ntm.train", run_name="__main__", alter_sys=True)
"""


def rows(run_dir: Path) -> list[dict[str, str]]:
    if not (run_dir / "metrics.csv").exists():
        return []
    with open(run_dir / "metrics.csv", newline="") as f:
        return [row for row in csv.DictReader(f) if row.get(TIMING[1])]  # complete rows


class Attempt:
    """One start of the run: ``python -m ntm.train`` in the background."""

    def __init__(self, run_dir: Path, pause: bool) -> None:
        self.run_dir, self.tmp = run_dir, run_dir / f".{CHECKPOINT_NAME}.tmp"
        env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's ntm, wherever pytest runs
        command = ["-c", PAUSED_TRAIN] if pause else ["-m", "ntm.train"]
        self.started = time.time_ns()
        self.rows_at_start = len(rows(run_dir))
        self.log_path = run_dir.parent / "attempts.log"
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in kill_when
        self.log_start = self.log.tell()
        self.process = subprocess.Popen(
            [sys.executable, *command, *SETTINGS, f"hydra.run.dir={run_dir}"],
            cwd=run_dir.parent, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def seconds(self, seconds: float) -> Callable[[], bool]:
        return lambda: time.time_ns() - self.started > seconds * 1e9

    def logged(self, text: str) -> Callable[[], bool]:
        def condition() -> bool:
            with open(self.log_path) as f:
                f.seek(self.log_start)
                return text in f.read()

        return condition

    def rows_beyond_start(self, more: int) -> Callable[[], bool]:
        return lambda: len(rows(self.run_dir)) >= self.rows_at_start + more

    def writing_checkpoint(self) -> bool:
        """This attempt wrote the temporary checkpoint file and has not touched it for 0.2 s:
        it waits in ``save`` before renaming it (the write itself takes milliseconds)."""
        try:
            written = self.tmp.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        return written > self.started and time.time_ns() - written > 0.2e9

    def kill_when(self, condition: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the moment to kill never came"
            time.sleep(0.002)
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL
        self.log.close()


@pytest.mark.slow
def test_killed_anywhere_and_restarted_the_run_ends_as_if_never_killed(tmp_path) -> None:
    started = time.monotonic()
    reference = tmp_path / "reference"
    with torch_isolated():
        train(compose_config(SETTINGS), reference)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    # (what is happening when the kill comes, pause in save?, when to kill)
    kills = [
        ("starting up", False, lambda a: a.seconds(0.3)),
        ("writing the first checkpoint", True, lambda a: a.writing_checkpoint),
        ("between evaluations", False, lambda a: a.rows_beyond_start(4)),
        ("writing a checkpoint", True, lambda a: a.writing_checkpoint),
        ("right after resuming", False, lambda a: a.logged("Resuming")),
        ("right after a metrics row", False, lambda a: a.rows_beyond_start(1)),
        ("training, half a second after a restart", False, lambda a: a.seconds(0.5)),
        ("writing a checkpoint", True, lambda a: a.writing_checkpoint),
        ("between evaluations", False, lambda a: a.rows_beyond_start(7)),
        ("right after resuming", False, lambda a: a.logged("Resuming")),
        ("right after a metrics row", False, lambda a: a.rows_beyond_start(1)),
        ("writing a checkpoint", True, lambda a: a.writing_checkpoint),
        ("between evaluations", False, lambda a: a.rows_beyond_start(3)),
        ("right after a metrics row", False, lambda a: a.rows_beyond_start(2)),
    ]
    last_step = 0
    for moment, pause, when in kills:
        attempt = Attempt(run_dir, pause)
        attempt.kill_when(when(attempt))
        ckpt = run_dir / CHECKPOINT_NAME
        if pause:  # killed in save: the new checkpoint is written but not in place
            written = checkpoint.load(attempt.tmp)["step"]
            assert written == int(rows(run_dir)[-1]["step"])  # its row came first
            assert not ckpt.exists() or checkpoint.load(ckpt)["step"] < written, moment
        if last_step or ckpt.exists():
            state = checkpoint.load(ckpt)  # always there, always whole, once written
            assert last_step <= state["step"] <= int(rows(run_dir)[-1]["step"]), moment
            last_step = state["step"]

    final = subprocess.run(
        [sys.executable, "-m", "ntm.train", *SETTINGS, f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert without_timing(rows(run_dir)) == without_timing(rows(reference))
    assert [int(r["step"]) for r in rows(run_dir)] == list(range(EVAL_EVERY, STEPS + 1,
                                                               EVAL_EVERY))
    ours, theirs = (checkpoint.load(d / CHECKPOINT_NAME) for d in (run_dir, reference))
    for name, tensor in theirs["model"].items():
        assert torch.equal(ours["model"][name], tensor), name
    for index, state in theirs["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(ours["optimizer"]["state"][index][key], value), key
    ours, theirs = (checkpoint.load(d / checkpoint.BEST_NAME) for d in (run_dir, reference))
    assert (ours["step"], ours["evaluation"]) == (theirs["step"], theirs["evaluation"])
    for name, tensor in theirs["model"].items():
        assert torch.equal(ours["model"][name], tensor), name
    assert not (run_dir / f".{CHECKPOINT_NAME}.tmp").exists()
    assert not (run_dir / f".{checkpoint.BEST_NAME}.tmp").exists()
    print(f"\n{len(kills)} kills survived in {time.monotonic() - started:.0f} s")
