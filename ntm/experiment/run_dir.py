"""The run directory is checked at start-up, before any work: one that cannot be written (a
read-only folder, a file where it should be, a folder where a run writes a file) fails in one
sentence then, not at the first checkpoint an hour later.

``train`` checks its directory itself; from the command line, ``RunDirCheck`` (a Hydra
callback named in ``conf/config.yaml``) checks it earlier still, before Hydra writes its own
files there, which would otherwise fail with Hydra's traceback.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ntm.experiment.checkpoint import BEST_NAME, CHECKPOINT_NAME
from ntm.experiment.config import ConfigError
from ntm.experiment.errors import exit_with
from ntm.experiment.lock import LOCK_NAME, RunDirInUse, acquire
from ntm.experiment.sweep_failures import FAILED_NAME
from ntm.experiment.writes import temporary_path

__all__ = ["FILES", "FOLDERS", "HYDRA_ONLY", "check_writable", "remove_if_unused", "RunDirCheck"]

#: What a run writes into its directory (ntm.train, its checkpoints, Hydra's log and record).
FILES = ("config.yaml", "metrics.csv", CHECKPOINT_NAME, BEST_NAME, "train.log", LOCK_NAME,
         FAILED_NAME, *(temporary_path(name).name
                        for name in ("config.yaml", "metrics.csv", CHECKPOINT_NAME, BEST_NAME)))
FOLDERS = (".hydra", "plots", "tensorboard")


def check_writable(run_dir: str | Path) -> None:
    """Makes ``run_dir`` if needed and checks that files can be made in it and that nothing is
    in the way of what a run writes there; ``ConfigError`` in one sentence otherwise."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} is a file; choose another hydra.run.dir.")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ConfigError(f"run directory {run_dir} cannot be written ({e.strerror or e}); "
                          "choose another hydra.run.dir.") from None
    for name in FILES:
        if (run_dir / name).is_dir():
            raise ConfigError(f"{run_dir / name} is a folder where the run writes a file; "
                              "move it away or choose another hydra.run.dir.")
    for name in FOLDERS:
        if (run_dir / name).exists() and not (run_dir / name).is_dir():
            raise ConfigError(f"{run_dir / name} is a file where the run writes a folder; "
                              "move it away or choose another hydra.run.dir.")


#: What Hydra writes into a run directory before the training function runs.
HYDRA_ONLY = frozenset({".hydra", "train.log"})


def remove_if_unused(run_dir: str | Path) -> bool:
    """Removes ``run_dir`` when it holds nothing but what Hydra writes before a run starts
    (``HYDRA_ONLY``): a run refused for a bad setting leaves no directory that reports would
    list as unreadable. A directory with anything else in it is kept. Returns whether it was
    removed."""
    run_dir = Path(run_dir)
    try:
        if not run_dir.is_dir() or not {p.name for p in run_dir.iterdir()} <= HYDRA_ONLY:
            return False
        _close_log_files_in(run_dir)  # Hydra's file handler holds train.log open
        shutil.rmtree(run_dir)
    except OSError:
        return False
    return True


def _close_log_files_in(folder: Path) -> None:
    """Closes and detaches the root logger's file handlers that write into ``folder``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and \
                Path(handler.baseFilename).parent == folder.resolve():
            root.removeHandler(handler)
            handler.close()


class RunDirCheck(Callback):
    """Checks ``hydra.run.dir`` (or a sweep's ``hydra.sweep.dir``) before Hydra writes into
    it, and takes a run's lock (``ntm/experiment/lock.py``) for the rest of the process; a
    failure, another process on the run directory included, is one line on stderr and exit
    status 2, like every other bad setting."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        path = self._check(config, "hydra.run.dir")
        if path is not None:
            try:
                acquire(path)  # released when the process ends
            except RunDirInUse as e:
                exit_with(e)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")

    @staticmethod
    def _check(config: DictConfig, key: str) -> str | None:
        """The checked directory; None when only Hydra can resolve it (it checks it then)."""
        try:
            path = config.hydra.run.dir if key == "hydra.run.dir" else config.hydra.sweep.dir
        except Exception:  # an interpolation only Hydra can resolve later; it checks then
            return None
        try:
            check_writable(path)
        except ConfigError as e:
            exit_with(e)
        return path
