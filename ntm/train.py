"""The training app: ``python -m ntm.train [overrides]`` (or ``ntm-train``).

Hydra composes ``conf/`` with the overrides; the run itself is ``ntm.experiment.loop.train``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ntm.experiment import checkpoint
from ntm.experiment.config import ConfigError, check_overrides, register_configs, validate
from ntm.experiment.errors import exit_with
from ntm.experiment.lock import RunDirInUse
from ntm.experiment.loop import NonFiniteError, train
from ntm.experiment.metrics_log import MetricsFileError
from ntm.experiment.threads import available_cpus, choose_threads
from ntm.experiment.writes import WriteError, raise_on_log_errors
from tasks import Task

__all__ = ["CONF_DIR", "draw_pictures", "main"]

log = logging.getLogger("ntm.train")

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def draw_pictures(run_dir: Path, cfg: DictConfig, model: torch.nn.Module, task: Task) -> None:
    """The run's pictures (learning curves, memory use); a failure is logged, never fatal."""
    # matplotlib is slow to import: only when pictures are drawn.
    from ntm.results.plot import write_run_pictures

    try:
        paths = write_run_pictures(run_dir, cfg, model, task)
    except WriteError:  # train.log itself cannot be written: that stops the run
        raise
    except Exception as e:  # a picture must never cost a training run
        log.warning("Could not draw the pictures of %s: %s", run_dir, e)
    else:
        log.info("Pictures: %s", ", ".join(str(p) for p in paths))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    raise_on_log_errors()  # train.log on a full disk: one sentence, not a traceback per line
    try:
        validate(cfg)  # before the thread count is used (100000 threads crash OpenMP)
        # Runs that a launcher starts side by side share the CPUs (ntm/experiment/threads.py).
        threads, why = choose_threads(cfg.train.threads, hydra_cfg.launcher,
                                      hydra_cfg.mode == RunMode.MULTIRUN, available_cpus())
        if threads:
            torch.set_num_threads(threads)
        log.info("torch threads: %d (%s).", torch.get_num_threads(), why)
        result = train(cfg, run_dir, draw=draw_pictures)
    except (ConfigError, checkpoint.CheckpointError, NonFiniteError, RunDirInUse, WriteError,
            MetricsFileError) as e:
        exit_with(e)
    return result.eval_bit_errors


def main() -> None:
    """Console entry point ``ntm-train``."""
    register_configs()
    try:  # the few overrides Hydra itself would answer with a traceback
        check_overrides(sys.argv[1:], CONF_DIR)
    except ConfigError as e:
        exit_with(e)
    _hydra_main()


if __name__ == "__main__":
    main()
