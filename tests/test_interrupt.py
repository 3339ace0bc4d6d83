"""Ctrl-C during ``python -m ntm.train``: one line that says where the run stopped, what is
kept and the command that resumes it, and exit status 130, not a traceback. The end of a
finished run names its directory and the commands that look at it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY

from ntm.experiment.checkpoint import CHECKPOINT_NAME
from ntm.experiment.loop import Interrupted
from ntm.train import interrupted_message, next_steps, resume_command

REPO = Path(__file__).resolve().parents[1]


def test_resume_command_repeats_the_overrides_with_the_run_directory() -> None:
    command = resume_command(Path("runs/a b"), ["seed=3", "hydra.run.dir=elsewhere",
                                                "task=copy"])
    assert command == "python -m ntm.train 'hydra.run.dir=runs/a b' seed=3 task=copy"


def test_interrupted_message_is_one_line_naming_the_steps() -> None:
    run = Path("runs/x")
    line = interrupted_message(Interrupted(57, 50), run, ["seed=1"])
    assert line == ("interrupted at step 57; the last checkpoint (step 50) is kept; resume "
                    "with: python -m ntm.train hydra.run.dir=runs/x seed=1")
    assert "before the first checkpoint" in interrupted_message(Interrupted(3, None), run, [])
    assert interrupted_message(KeyboardInterrupt(), run, []) == (
        "interrupted outside the training loop; go on with: python -m ntm.train "
        "hydra.run.dir=runs/x")


def test_next_steps_name_the_run_directory_and_the_commands() -> None:
    line = next_steps(Path("runs/copy/r1"))
    for part in ("runs/copy/r1", "python -m ntm.evaluate runs/copy/r1",
                 "python -m ntm.plot runs/copy/r1"):
        assert part in line, line


def _sigint_by_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_ends_with_one_line_and_status_130(tmp_path) -> None:
    """A run sent SIGINT once its first checkpoint is written."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "ntm.train", *TINY, "train.eval_every=2",
               "train.max_sequences=10000000", f"hydra.run.dir={run_dir}"]
    # faulthandler: a run that does not end after the signal is sent SIGABRT, and the
    # failure shows where each of its threads was. The run starts with SIGINT's default
    # action: a test run started in the background of a shell without job control (`cmd &`
    # in a script) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt,
    # as a user's own background run should not (seen: the run trained on after the signal).
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=_sigint_by_default)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / CHECKPOINT_NAME).exists() and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint in 240 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            stdout, stderr = process.communicate(timeout=60)
            pytest.fail(f"no end 120 s after SIGINT; its last output: {stdout[-2000:]}; "
                        f"its threads at SIGABRT: {stderr[-6000:]}")
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stdout + stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted at step "), stderr
    assert "is kept; resume with: python -m ntm.train hydra.run.dir=" in last, last
    assert "train.eval_every=2" in last, last
    assert (run_dir / CHECKPOINT_NAME).exists()
