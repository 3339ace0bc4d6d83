"""One process per run directory (``ntm/experiment/lock.py``): a second process is refused in
one sentence naming the owner, before it writes anything; the lock dies with its owner, so a
run killed with SIGKILL resumes and ends as an uninterrupted run would; a sweep gives each job
its own directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import TINY, assert_one_sentence, compose_config, torch_isolated, without_timing

from ntm.experiment import checkpoint, lock
from ntm.experiment.lock import LOCK_NAME, RunDirInUse
from ntm.experiment.loop import train

fcntl = pytest.importorskip("fcntl")  # Windows: runs are not locked (the README says so)

REPO = Path(__file__).resolve().parents[1]
SETTINGS = [*TINY, "train.eval_every=3", "train.max_sequences=24"]  # 6 steps, 2 evaluations


@contextmanager
def held_elsewhere(run_dir: Path, pid: int) -> Iterator[None]:
    """The run directory's lock held by another open file (to flock, another owner), with
    ``pid`` written in it as its owner's process id."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.write(fd, f"{pid}\n".encode())
        yield
    finally:
        os.close(fd)


def files(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}


def test_a_second_owner_is_refused_naming_the_first_before_writing(tmp_path) -> None:
    with held_elsewhere(tmp_path, 4242), pytest.raises(RunDirInUse) as info:
        train(compose_config(SETTINGS), tmp_path)
    assert_one_sentence(str(info.value), "process 4242")
    assert str(tmp_path) in str(info.value)
    assert os.listdir(tmp_path) == [LOCK_NAME]  # no config.yaml, no metrics.csv


def test_the_lock_is_given_back_when_the_run_ends(tmp_path) -> None:
    with torch_isolated():
        train(compose_config(SETTINGS), tmp_path)
    assert lock._held == {}
    assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    with held_elsewhere(tmp_path, 1):  # takes it: nobody holds it any more
        pass


def test_one_process_may_hold_its_run_directory_twice(tmp_path) -> None:
    lock.acquire(tmp_path)
    lock.acquire(tmp_path / ".." / tmp_path.name)  # the same folder, spelt otherwise
    lock.release(tmp_path)
    with pytest.raises(BlockingIOError), held_elsewhere(tmp_path, 1):
        pass  # still held once
    lock.release(tmp_path)
    with held_elsewhere(tmp_path, 1):
        pass
    assert lock._held == {}


def test_a_killed_owner_leaves_a_lock_that_blocks_nothing(tmp_path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ntm.experiment.lock import acquire; "
         "acquire(sys.argv[1]); print('held', flush=True); time.sleep(120)", str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline() == "held\n"
        with pytest.raises(RunDirInUse, match=f"in use by process {owner.pid} "):
            lock.acquire(tmp_path)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
        owner.stdout.close()
    assert (tmp_path / LOCK_NAME).read_text() == f"{owner.pid}\n"  # stale, and harmless:
    with torch_isolated():
        result = train(compose_config(SETTINGS), tmp_path)
    assert result.step == 6


def test_without_fcntl_runs_are_not_locked(tmp_path, monkeypatch) -> None:
    """Windows has no ``fcntl``: runs train unlocked there (the README says so)."""
    monkeypatch.setattr(lock, "fcntl", None)
    with torch_isolated():
        assert train(compose_config(SETTINGS), tmp_path).step == 6
    assert LOCK_NAME not in os.listdir(tmp_path)


def test_command_line_refuses_a_held_run_directory_before_writing(tmp_path) -> None:
    """A second ``python -m ntm.train`` on a run directory another process trains in: exit
    status 2, one line naming that process, and not a byte written (Hydra's files included)."""
    run_dir = tmp_path / "run"
    with torch_isolated():
        train(compose_config(SETTINGS), run_dir)
    before = files(run_dir)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(REPO)
    with held_elsewhere(run_dir, 4242):
        second = subprocess.run(
            [sys.executable, "-m", "ntm.train", *SETTINGS, "train.max_sequences=48",
             f"hydra.run.dir={run_dir}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        after = files(run_dir)
    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stdout + second.stderr
    message = second.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, second.stderr
    assert_one_sentence(message.removeprefix("error: "), "in use by process 4242")
    assert after == {**before, LOCK_NAME: b"4242\n"}
    assert sorted(os.listdir(run_dir)) == [LOCK_NAME, "best.pt", "checkpoint.pt", "config.yaml",
                                           "metrics.csv"]  # no .hydra, no train.log


def test_each_job_of_a_sweep_has_its_own_directory(tmp_path) -> None:
    """The default ``hydra.sweep.subdir`` starts with the job number: a two-seed sweep (the
    basic launcher, one job after the other) trains in two directories, each locked by its
    job."""
    sweep_dir = tmp_path / "sweep"
    # The tiny settings left out of the job names, or they grow past 255 characters.
    tiny_keys = ",".join(sorted({o.split("=")[0] for o in SETTINGS}))
    done = subprocess.run(
        [sys.executable, "-m", "ntm.train", "-m", *SETTINGS, "train.max_sequences=12",
         "seed=0,1", f"hydra.sweep.dir={sweep_dir}",
         f"hydra.job.config.override_dirname.exclude_keys=[{tiny_keys},hydra.sweep.dir]"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    jobs = sorted(p.parent.name for p in sweep_dir.glob("*/metrics.csv"))
    assert jobs == ["0_seed=0", "1_seed=1"]
    for job in jobs:
        assert (sweep_dir / job / LOCK_NAME).read_text().strip().isdigit()  # its job's pid
        assert checkpoint.load(sweep_dir / job / checkpoint.CHECKPOINT_NAME)["config"][
            "seed"] == int(job[-1])


def rows(run_dir: Path) -> list[dict[str, str]]:
    from test_kill import rows as complete_rows

    return complete_rows(run_dir)


@pytest.mark.slow
def test_owner_killed_with_sigkill_then_a_resume_ends_as_if_never_killed(tmp_path) -> None:
    """While the owner trains, a second process is refused and changes nothing; then the
    owner is killed with SIGKILL, its lock file stays with its process id, and the same
    command resumes the run to the metrics and weights of an uninterrupted run."""
    from test_kill import SETTINGS as KILL_SETTINGS
    from test_kill import Attempt

    reference = tmp_path / "reference"
    with torch_isolated():
        train(compose_config(KILL_SETTINGS), reference)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "ntm.train", *KILL_SETTINGS, f"hydra.run.dir={run_dir}"]

    owner = Attempt(run_dir, pause=False)
    deadline = time.monotonic() + 120
    while len(rows(run_dir)) < 2:
        assert owner.process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    intruder = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
    assert intruder.returncode == 2, intruder.stderr
    assert f"in use by process {owner.process.pid} " in intruder.stderr, intruder.stderr
    assert owner.process.poll() is None  # the owner trained on, undisturbed
    owner.kill_when(lambda: True)
    assert (run_dir / LOCK_NAME).read_text() == f"{owner.process.pid}\n"

    resumed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming" in (run_dir / "train.log").read_text()
    assert without_timing(rows(run_dir)) == without_timing(rows(reference))
    ours, theirs = (checkpoint.load(d / checkpoint.CHECKPOINT_NAME) for d in (run_dir, reference))
    assert ours["step"] == theirs["step"]
    for name, tensor in theirs["model"].items():
        assert ours["model"][name].equal(tensor), name
