"""How many torch threads a run uses, so that runs started side by side by a Hydra launcher
do not oversubscribe the CPUs.

``train.threads`` wins when set. When it is null, a run of a sweep launched by

- the joblib launcher (``hydra/launcher=joblib``, up to ``n_jobs`` runs at once on this
  machine) gets ``max(1, cpus // parallel runs)``;
- a submitit launcher (``hydra/launcher=slurm``, ``submitit_slurm``, ``submitit_local``: one
  job per run) gets the job's ``cpus_per_task``, or, when that is unset, the CPUs the job may
  run on;

and any other run keeps torch's default (a single run, or the basic launcher, which runs the
jobs of a sweep one after another).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["available_cpus", "joblib_parallel_runs", "choose_threads"]


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, which SLURM and taskset narrow."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def joblib_parallel_runs(n_jobs: int | None, cpus: int) -> int:
    """How many runs joblib starts at once for ``n_jobs`` (joblib's meaning: None is 1, -1 is
    every CPU, -2 every CPU but one, and so on)."""
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return max(1, n_jobs)


def choose_threads(requested: int | None, launcher: Mapping[str, Any] | None, multirun: bool,
                   cpus: int) -> tuple[int | None, str]:
    """The torch thread count for a run, and why, in words for the log; None keeps torch's
    default.

    ``requested``: ``train.threads``; ``launcher``: Hydra's ``hydra.launcher`` config (its
    ``_target_`` names the launcher class); ``multirun``: whether the run is a job of a sweep
    (``-m``); ``cpus``: the CPUs of this machine or job (``available_cpus()``).
    """
    if requested:
        return requested, "set by train.threads"
    target = str((launcher or {}).get("_target_", "")).lower()
    if not multirun or not target:
        return None, "torch's default"
    if "joblib" in target:
        n_jobs = launcher.get("n_jobs", -1)
        runs = joblib_parallel_runs(n_jobs, cpus)
        return max(1, cpus // runs), (f"train.threads is null: {cpus} CPUs shared by {runs} "
                                      f"parallel runs, hydra.launcher.n_jobs={n_jobs}")
    if "submitit" in target:
        per_task = launcher.get("cpus_per_task")
        if per_task:
            return int(per_task), "train.threads is null: hydra.launcher.cpus_per_task"
        return cpus, f"train.threads is null: the {cpus} CPUs this job may run on"
    return None, "torch's default"
