"""A sweep goes on past a run that fails, and ends saying which runs failed.

A run can end on an error that no setting of the command line caused: ``train.max_bad_steps``
non-finite steps in a row, a checkpoint that cannot be read, a full disk. A single run stops
with that sentence and exit status 2. In a ``-m`` sweep the same exit used to end the whole
sweep, so one seed's failure cost every seed after it. Now such a job logs its sentence (to the
console and its ``train.log``), writes it to ``FAILED_NAME`` in its run directory and returns;
the sweep runs its other jobs, and ``SweepFailures`` (a Hydra callback named in
``conf/config.yaml``) ends the sweep, once every job has returned, with one line per run that
failed during it and exit status 2. If ``FAILED_NAME`` cannot be written, the job raises its
error instead, so that Hydra marks it failed and the sweep still ends with a non-zero status.
A run started again in the same directory that then ends well removes its ``FAILED_NAME``.
A bad setting, another process on the run directory and Ctrl-C still stop the sweep at once.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ntm.experiment.writes import WriteError

__all__ = ["FAILED_NAME", "SweepFailures", "clear_failure", "failed_runs", "read_failure",
           "record_failure"]

log = logging.getLogger("ntm.train")

#: The file a failed run of a sweep leaves in its directory: its one-sentence error.
FAILED_NAME = "failed.txt"


def record_failure(run_dir: str | Path, error: Exception) -> None:
    """What a sweep's job does instead of exiting: the sentence in the run's log (and on the
    console) and in ``FAILED_NAME``; raises ``error`` when that file cannot be written."""
    try:
        log.error("%s", error)
    except (WriteError, OSError):  # train.log on a full disk: FAILED_NAME may still work
        pass
    try:
        (Path(run_dir) / FAILED_NAME).write_text(f"{error}\n")
    except OSError:
        raise error from None


def clear_failure(run_dir: str | Path) -> None:
    """Removes a failure recorded by an earlier start of the run in ``run_dir``."""
    (Path(run_dir) / FAILED_NAME).unlink(missing_ok=True)


def read_failure(run_dir: str | Path) -> str | None:
    """The sentence the run in ``run_dir`` failed with, or None when it recorded no failure."""
    path = Path(run_dir) / FAILED_NAME
    if not path.is_file():
        return None
    try:
        return path.read_text().strip()
    except OSError:
        return "(its error cannot be read)"


def failed_runs(sweep_dir: str | Path, since: float = 0.0) -> list[tuple[Path, str]]:
    """The runs under ``sweep_dir`` (at any depth) that recorded a failure at or after the
    time ``since`` (seconds since the epoch), sorted, each with its sentence."""
    failed = []
    for path in sorted(Path(sweep_dir).glob(f"**/{FAILED_NAME}")):
        try:
            recent = path.stat().st_mtime >= since
        except OSError:
            recent = True
        sentence = read_failure(path.parent) if recent else None
        if sentence is not None:
            failed.append((path.parent, sentence))
    return failed


class SweepFailures(Callback):
    """At the end of a sweep: one line per run that failed during it and exit status 2, if
    any did (failures left by an earlier sweep into the same folder are not counted)."""

    def __init__(self) -> None:
        self.started = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time() - 1  # file times may be rounded to the second

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        failed = failed_runs(config.hydra.sweep.dir, self.started)
        if not failed:
            return
        for run_dir, sentence in failed:
            print(f"error: run {run_dir} failed: {sentence}", file=sys.stderr)
        print(f"error: {len(failed)} run(s) of the sweep in {config.hydra.sweep.dir} failed "
              "(above); the others ran to their end.", file=sys.stderr)
        sys.exit(2)
