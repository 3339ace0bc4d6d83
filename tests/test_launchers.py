"""Tests for sweeps through Hydra's launcher plugins: the SLURM config composes (no cluster
needed), and, marked ``slow``, the joblib launcher runs two tiny runs side by side and a
submitit job that is preempted is requeued and resumes from its checkpoint."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CONF_DIR, TINY
from hydra import compose, initialize_config_dir

from ntm.experiment.config import register_configs
from ntm.experiment.threads import available_cpus, choose_threads

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
pytest.importorskip("hydra_plugins.hydra_joblib_launcher")

REPO = CONF_DIR.parent  # sweeps run from the checkout, so that they train with its code
#: TINY with the thread count left to the launcher (``train.threads=null``).
TINY_SWEEP = [o for o in TINY if not o.startswith("train.threads=")] + ["train.threads=null"]


def compose_with_hydra(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_slurm_launcher_config_composes() -> None:
    cfg = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                              "hydra.launcher.gpus_per_node=1", "hydra.launcher.timeout_min=30"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 1, 30)
    assert launcher.cpus_per_task == 2
    assert launcher.max_num_timeout >= 1  # timed-out jobs are requeued, not only preempted ones
    assert choose_threads(cfg.train.threads, launcher, True, 64)[0] == launcher.cpus_per_task


def test_joblib_launcher_config_composes() -> None:
    cfg = compose_with_hydra(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    assert cfg.hydra.launcher._target_.endswith("joblib_launcher.JoblibLauncher")
    assert choose_threads(cfg.train.threads, cfg.hydra.launcher, True, 8)[0] == 4


def sweep(sweep_dir: Path | str, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "ntm.train", "-m", *TINY_SWEEP, "train.eval_every=3",
            f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=${hydra.job.num}", *overrides]


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.glob("**/.hydra"))


def steps(run_dir: Path) -> list[int]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_joblib_sweep_runs_two_tiny_runs_side_by_side(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    done = subprocess.run(
        sweep(sweep_dir, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1",
              "train.max_sequences=24"),
        cwd=REPO, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "is launching 2 jobs" in log and "n_jobs=2" in log, log
    runs = job_dirs(sweep_dir)
    assert [p.name for p in runs] == ["0", "1"]  # one job directory per seed
    threads = max(1, available_cpus() // 2)
    for run_dir in runs:
        assert steps(run_dir) == [3, 6]
        run_log = (run_dir / "train.log").read_text()
        assert f"torch threads: {threads} (" in run_log, run_log
        assert "2 parallel runs, hydra.launcher.n_jobs=2" in run_log, run_log

    report = subprocess.run([sys.executable, "-m", "ntm.report", str(sweep_dir)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    text = (sweep_dir / "report.md").read_text()
    assert "2 runs in 1 group." in text and "| A | all runs | 0 of 2 |" in text, text


def task_processes(marker: str) -> list[int]:
    """Ids of the submitit job processes whose command line holds ``marker`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if "submitit.core._submit" in command and marker in command:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the job in /proc")
def test_preempted_submitit_job_is_requeued_and_resumes_in_its_own_directory(tmp_path) -> None:
    """submitit_local runs the job the way SLURM does, signals included: the signal that SLURM
    sends before preempting (or timing out) a job makes submitit call the Hydra launcher's
    checkpoint method and requeue the job with the same overrides, so it re-enters the same
    job directory (the default sweep directory holds the time of the launch: it is not taken
    again) and ``ntm.train`` resumes from ``checkpoint.pt``."""
    sweep_dir = tmp_path / "sweep"
    eval_every, budget = 5, 2000  # 500 steps, about ten seconds on one thread
    launched = subprocess.Popen(
        sweep(f"{sweep_dir}/${{now:%H-%M-%S}}", "hydra/launcher=submitit_local",
              "hydra.launcher.cpus_per_task=1",
              "seed=0", f"train.eval_every={eval_every}", f"train.max_sequences={budget}"),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = job_dirs(sweep_dir) if sweep_dir.is_dir() else []
            if runs and (runs[0] / "metrics.csv").is_file() and len(steps(runs[0])) >= 3:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the job wrote no metrics within two minutes")
        (job,) = task_processes(str(sweep_dir))
        os.kill(job, signal.SIGUSR2)  # submitit's preemption and timeout signal
        output, _ = launched.communicate(timeout=240)
    finally:
        if launched.poll() is None:
            launched.kill()
    assert launched.returncode == 0, output
    (run_dir,) = job_dirs(sweep_dir)
    run_log = (run_dir / "train.log").read_text()
    assert "Resuming" in run_log and "from step" in run_log, run_log
    assert steps(run_dir) == list(range(eval_every, budget // 4 + 1, eval_every))  # no gap
    assert "this job is preempted" in run_log and "Requeued job" in run_log, run_log
