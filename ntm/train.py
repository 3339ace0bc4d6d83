"""The training app: ``python -m ntm.train [overrides]`` (or ``ntm-train``).

Hydra composes ``conf/`` with the overrides; the run itself is ``ntm.experiment.loop.train``.
"""

from __future__ import annotations

import logging
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ntm.experiment import checkpoint
from ntm.experiment.command_line import check_command_line
from ntm.experiment.config import ConfigError, register_configs, validate
from ntm.experiment.errors import exit_with
from ntm.experiment.lock import RunDirInUse
from ntm.experiment.loop import Interrupted, NonFiniteError, train
from ntm.experiment.metrics_log import MetricsFileError
from ntm.experiment.run_dir import remove_if_unused
from ntm.experiment.sweep_failures import clear_failure, record_failure
from ntm.experiment.threads import available_cpus, choose_threads
from ntm.experiment.writes import WriteError, raise_on_log_errors
from tasks import Task

__all__ = ["CONF_DIR", "draw_pictures", "interrupted_message", "main", "next_steps",
           "resume_command"]

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
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        validate(cfg)  # before the thread count is used (100000 threads crash OpenMP)
        # Runs that a launcher starts side by side share the CPUs (ntm/experiment/threads.py).
        threads, why = choose_threads(cfg.train.threads, hydra_cfg.launcher, sweep,
                                      available_cpus())
        if threads:
            torch.set_num_threads(threads)
        log.info("torch threads: %d (%s).", torch.get_num_threads(), why)
        result = train(cfg, run_dir, draw=draw_pictures)
    except ConfigError as e:
        remove_if_unused(run_dir)  # a bad setting leaves no run directory behind
        exit_with(e)
    except RunDirInUse as e:  # another process's run: nothing of this one to record there
        exit_with(e)
    except (checkpoint.CheckpointError, NonFiniteError, WriteError, MetricsFileError) as e:
        if not sweep:
            exit_with(e)
        record_failure(run_dir, e)  # the sweep goes on (ntm/experiment/sweep_failures.py)
        return math.nan
    except KeyboardInterrupt as e:
        print(interrupted_message(e, run_dir, hydra_cfg.overrides.task), file=sys.stderr)
        sys.exit(130)  # 128 + SIGINT, as a shell reports Ctrl-C
    clear_failure(run_dir)  # a failed run started again that has now ended well
    log.info(next_steps(run_dir))
    return result.eval_bit_errors


def resume_command(run_dir: Path, overrides: Sequence[str]) -> str:
    """The command that goes on with the run in ``run_dir`` with the same ``overrides``."""
    kept = [o for o in overrides if not o.startswith("hydra.run.dir=")]
    return shlex.join(["python", "-m", "ntm.train", f"hydra.run.dir={run_dir}", *kept])


def interrupted_message(error: KeyboardInterrupt, run_dir: Path,
                        overrides: Sequence[str]) -> str:
    """The one line that Ctrl-C ends a run with: where it stopped, what is kept, how to go on."""
    command = resume_command(run_dir, overrides)
    if not isinstance(error, Interrupted):  # while starting up or drawing the last pictures
        return f"interrupted outside the training loop; go on with: {command}"
    if error.checkpoint_step is None:
        return (f"interrupted at step {error.step}, before the first checkpoint; start again "
                f"with: {command}")
    return (f"interrupted at step {error.step}; the last checkpoint (step "
            f"{error.checkpoint_step}) is kept; resume with: {command}")


def next_steps(run_dir: Path) -> str:
    """What the end of a run says: where it is and the commands that look at it."""
    folder = shlex.quote(str(run_dir))
    return (f"Run directory: {run_dir}; next: python -m ntm.evaluate {folder} (longer "
            f"sequences), python -m ntm.plot {folder} (pictures), python -m ntm.report "
            f"{shlex.quote(str(run_dir.parent))} (all runs beside it).")


def main() -> None:
    """Console entry point ``ntm-train``."""
    register_configs()
    try:  # before Hydra makes the run directory, and in the project's own words
        check_command_line(sys.argv[1:], CONF_DIR)
    except ConfigError as e:
        exit_with(e)
    _hydra_main()


if __name__ == "__main__":
    main()
