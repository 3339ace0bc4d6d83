"""A sweep goes on past a run that fails, and ends saying which runs failed.

A run can end on an error that no setting of the command line caused: ``train.max_bad_steps``
non-finite steps in a row, a checkpoint that cannot be read, a full disk. A single run stops
with that sentence and exit status 2. In a ``-m`` sweep the same exit used to end the whole
sweep, so one seed's failure cost every seed after it. Now such a job prints its sentence,
logs it to its ``train.log``, writes it to ``FAILED_NAME`` in its run directory and returns;
the sweep runs its other jobs, and ``SweepFailures`` (a Hydra callback named in
``conf/config.yaml``) ends the sweep with one line per failed run and exit status 2. A run that
is started again in the same directory (to resume it) removes its old ``FAILED_NAME`` first.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

__all__ = ["FAILED_NAME", "SweepFailures", "clear_failure", "failed_runs", "record_failure"]

log = logging.getLogger("ntm.train")

#: The file a failed run of a sweep leaves in its directory: its one-sentence error.
FAILED_NAME = "failed.txt"


def record_failure(run_dir: str | Path, error: BaseException) -> None:
    """What a sweep's job does instead of exiting: the sentence on stderr and in the run's
    log, and in ``FAILED_NAME`` (not written when the disk refuses, the error it reports)."""
    print(f"error: {error}", file=sys.stderr)
    log.error("%s", error)
    try:
        (Path(run_dir) / FAILED_NAME).write_text(f"{error}\n")
    except OSError:
        pass


def clear_failure(run_dir: str | Path) -> None:
    """Removes a failure recorded by an earlier start of the run in ``run_dir``."""
    (Path(run_dir) / FAILED_NAME).unlink(missing_ok=True)


def failed_runs(sweep_dir: str | Path) -> list[tuple[Path, str]]:
    """The runs under ``sweep_dir`` (one level down, as Hydra lays a sweep out) that recorded
    a failure, sorted, each with its sentence."""
    return [(path.parent, path.read_text().strip())
            for path in sorted(Path(sweep_dir).glob(f"*/{FAILED_NAME}"))]


class SweepFailures(Callback):
    """At the end of a sweep: one line per failed run and exit status 2, if any failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        failed = failed_runs(config.hydra.sweep.dir)
        if not failed:
            return
        for run_dir, sentence in failed:
            print(f"error: run {run_dir} failed: {sentence}", file=sys.stderr)
        print(f"error: {len(failed)} run(s) of the sweep in {config.hydra.sweep.dir} failed "
              "(above); the others ran to their end.", file=sys.stderr)
        sys.exit(2)
