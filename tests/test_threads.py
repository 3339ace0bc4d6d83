"""Tests for the torch thread count of runs that launchers start side by side."""

from __future__ import annotations

import pytest

from ntm.experiment.threads import available_cpus, choose_threads, joblib_parallel_runs

JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


@pytest.mark.parametrize("n_jobs, cpus, runs", [
    (None, 8, 1), (1, 8, 1), (3, 8, 3), (16, 8, 16), (-1, 8, 8), (-2, 8, 7), (-9, 8, 1),
])
def test_joblib_parallel_runs_follows_joblib(n_jobs, cpus, runs) -> None:
    assert joblib_parallel_runs(n_jobs, cpus) == runs


@pytest.mark.parametrize("n_jobs, cpus, threads", [
    (2, 8, 4), (3, 8, 2), (-1, 8, 1), (-1, 2, 1), (4, 2, 1), (1, 16, 16), (-3, 16, 1),
])
def test_joblib_runs_share_the_cpus(n_jobs, cpus, threads) -> None:
    chosen, why = choose_threads(None, {"_target_": JOBLIB, "n_jobs": n_jobs}, True, cpus)
    assert chosen == threads
    assert f"n_jobs={n_jobs}" in why


def test_submitit_runs_use_their_cpus_per_task() -> None:
    assert choose_threads(None, {"_target_": SLURM, "cpus_per_task": 6}, True, 64)[0] == 6
    assert choose_threads(None, {"_target_": SLURM, "cpus_per_task": None}, True, 3)[0] == 3


def test_train_threads_wins_over_every_launcher() -> None:
    for launcher in ({"_target_": JOBLIB, "n_jobs": 2}, {"_target_": SLURM, "cpus_per_task": 6},
                     {"_target_": BASIC}, None):
        assert choose_threads(5, launcher, True, 8) == (5, "set by train.threads")


def test_single_runs_and_the_basic_launcher_keep_torchs_default() -> None:
    assert choose_threads(None, {"_target_": BASIC}, True, 8)[0] is None  # one run at a time
    assert choose_threads(None, {"_target_": JOBLIB, "n_jobs": 2}, False, 8)[0] is None  # no -m
    assert choose_threads(None, None, False, 8)[0] is None


def test_available_cpus_is_positive() -> None:
    assert available_cpus() >= 1
