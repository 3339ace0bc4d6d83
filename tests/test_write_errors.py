"""A file of the run directory that cannot be written (``ntm/experiment/writes.py``): a full
disk (ENOSPC, simulated) while writing the checkpoint, a ``metrics.csv`` row, ``config.yaml``
or ``train.log``, an I/O error, a run directory that disappears. Each stops the run with one
sentence naming the file and the reason, leaves the last checkpoint intact and no temporary
file, and the same run resumes to the metrics and weights of an uninterrupted run. A picture
that cannot be written is logged and training goes on."""

from __future__ import annotations

import builtins
import errno
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import (
    TINY,
    assert_one_sentence,
    compose_config,
    metrics_rows,
    saved,
    torch_isolated,
    without_timing,
)

import ntm.experiment.metrics_log
import ntm.experiment.writes
from ntm.experiment import checkpoint
from ntm.experiment.checkpoint import BEST_NAME, CHECKPOINT_NAME
from ntm.experiment.loop import RunResult, train
from ntm.experiment.metrics_log import MetricsLog
from ntm.experiment.writes import WriteError, raise_on_log_errors, write_atomically

REPO = Path(__file__).resolve().parents[1]
SETTINGS = [*TINY, "train.eval_every=3", "train.max_sequences=48"]  # 12 steps, 4 evaluations
FULL = "No space left on device"

pytestmark = pytest.mark.usefixtures("isolated_torch")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, RunResult]:
    run_dir = tmp_path_factory.mktemp("reference")
    with torch_isolated():
        return run_dir, train(compose_config(SETTINGS), run_dir)


def disk_fills_up(monkeypatch, module, name: str, nth: int = 1, error: int = errno.ENOSPC,
                  ) -> None:
    """The ``nth`` time ``module`` opens a file called ``name`` for writing, the file takes
    half of the first text written to it, then raises ``OSError(error)`` (a disk that fills up
    mid-write), as it does for every later write to it."""
    opened = 0

    def fake_open(file, mode="r", *args, **kwargs):
        nonlocal opened
        f = builtins.open(file, mode, *args, **kwargs)
        if Path(file).name == name and mode[0] in "wa":
            opened += 1
            if opened == nth:
                real_write, written = f.write, []

                def write(data):
                    if not written:
                        written.append(real_write(data[:len(data) // 2]))
                        f.flush()
                    raise OSError(error, os.strerror(error))

                f.write = write
        return f

    monkeypatch.setattr(module, "open", fake_open, raising=False)


def assert_resumes_as_if_never_stopped(run_dir: Path, reference: tuple[Path, RunResult]) -> None:
    reference_dir, reference_result = reference
    result = train(compose_config(SETTINGS), run_dir)
    assert (result.step, result.eval_cost) == (reference_result.step, reference_result.eval_cost)
    assert without_timing(metrics_rows(run_dir)) == without_timing(metrics_rows(reference_dir))
    ours, theirs = saved(run_dir), saved(reference_dir)
    for name, tensor in theirs["model"].items():
        assert torch.equal(ours["model"][name], tensor), name
    ours, theirs = (checkpoint.load(d / BEST_NAME) for d in (run_dir, reference_dir))
    assert (ours["step"], ours["evaluation"]) == (theirs["step"], theirs["evaluation"])
    for name, tensor in theirs["model"].items():
        assert torch.equal(ours["model"][name], tensor), name
    assert not [name for name in os.listdir(run_dir) if name.endswith(".tmp")]


def test_a_full_disk_while_writing_a_checkpoint(reference, tmp_path, monkeypatch) -> None:
    disk_fills_up(monkeypatch, ntm.experiment.writes, f".{CHECKPOINT_NAME}.tmp", nth=2)
    with pytest.raises(WriteError) as info:
        train(compose_config(SETTINGS), tmp_path)
    assert_one_sentence(str(info.value), f"could not write {tmp_path / CHECKPOINT_NAME} ({FULL})")
    assert "free some space" in str(info.value)
    assert saved(tmp_path)["step"] == 3  # the first checkpoint, whole
    assert [int(r["step"]) for r in metrics_rows(tmp_path)] == [3, 6]  # 6 is dropped on resume
    assert not (tmp_path / f".{CHECKPOINT_NAME}.tmp").exists()
    monkeypatch.undo()
    assert_resumes_as_if_never_stopped(tmp_path, reference)


def test_a_full_disk_while_writing_the_best_weights(reference, tmp_path, monkeypatch) -> None:
    """``best.pt`` is written before the evaluation's row and checkpoint: a failure there leaves
    the earlier ``best.pt`` whole and the row and checkpoint of the evaluation before."""
    disk_fills_up(monkeypatch, ntm.experiment.writes, f".{BEST_NAME}.tmp", nth=2)
    with pytest.raises(WriteError) as info:
        train(compose_config(SETTINGS), tmp_path)
    assert_one_sentence(str(info.value), f"could not write {tmp_path / BEST_NAME} ({FULL})")
    # The evaluation before: its row and its checkpoint, whole (the failed one wrote neither).
    assert saved(tmp_path)["step"] == int(metrics_rows(tmp_path)[-1]["step"])
    assert checkpoint.load(tmp_path / BEST_NAME)["step"] == 3  # the first best, whole
    assert not (tmp_path / f".{BEST_NAME}.tmp").exists()
    monkeypatch.undo()
    assert_resumes_as_if_never_stopped(tmp_path, reference)


def test_a_full_disk_while_appending_a_metrics_row(reference, tmp_path, monkeypatch,
                                                   caplog) -> None:
    disk_fills_up(monkeypatch, ntm.experiment.metrics_log, "metrics.csv", nth=2)  # step 6's row
    with pytest.raises(WriteError) as info:
        train(compose_config(SETTINGS), tmp_path)
    assert_one_sentence(str(info.value), f"could not write {tmp_path / 'metrics.csv'} ({FULL})")
    assert saved(tmp_path)["step"] == 3
    text = (tmp_path / "metrics.csv").read_text()
    assert not text.endswith("\n") and text.count("\n") == 2  # header, step 3, half of step 6
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING, logger="ntm.train"):
        assert_resumes_as_if_never_stopped(tmp_path, reference)
    assert "was cut short when the run stopped; it is dropped" in caplog.text


@pytest.mark.parametrize("name", ["metrics.csv", "config.yaml"])
def test_a_full_disk_while_rewriting_a_file_on_resume(reference, tmp_path, monkeypatch,
                                                      name) -> None:
    """``config.yaml`` and the ``metrics.csv`` cut back to the checkpoint are rewritten at each
    start: a failure leaves the old file whole."""
    train(compose_config([*SETTINGS, "train.max_sequences=24"]), tmp_path)
    before = (tmp_path / name).read_bytes()
    disk_fills_up(monkeypatch, ntm.experiment.writes, f".{name}.tmp")
    with pytest.raises(WriteError) as info:
        train(compose_config(SETTINGS), tmp_path)
    assert_one_sentence(str(info.value), f"could not write {tmp_path / name} ({FULL})")
    assert (tmp_path / name).read_bytes() == before
    assert not (tmp_path / f".{name}.tmp").exists()
    monkeypatch.undo()
    assert_resumes_as_if_never_stopped(tmp_path, reference)


def test_an_io_error_names_its_reason_and_no_space_advice(tmp_path, monkeypatch) -> None:
    disk_fills_up(monkeypatch, ntm.experiment.writes, ".checkpoint.pt.tmp", error=errno.EIO)
    with pytest.raises(WriteError) as info:
        train(compose_config(SETTINGS), tmp_path)
    assert_one_sentence(str(info.value), f"({os.strerror(errno.EIO)})")
    assert "fix the filesystem" in str(info.value) and "space" not in str(info.value)


def test_a_run_directory_that_disappears_mid_run(tmp_path, monkeypatch) -> None:
    """Removed, or its network filesystem unmounted, between two evaluations."""
    run_dir = tmp_path / "run"
    real_write, calls = MetricsLog.write, []

    def write(self, row):
        calls.append(row)
        if len(calls) == 2:
            shutil.rmtree(run_dir)
        real_write(self, row)

    monkeypatch.setattr(MetricsLog, "write", write)
    with pytest.raises(WriteError) as info:
        train(compose_config(SETTINGS), run_dir)
    assert_one_sentence(str(info.value), f"run directory {run_dir} disappeared while "
                                         "metrics.csv was being written")


def test_write_atomically_keeps_the_old_file_when_the_write_raises(tmp_path) -> None:
    (tmp_path / "f.txt").write_text("old")

    def half_then_full(f) -> None:
        f.write("ne")
        raise OSError(errno.ENOSPC, FULL)

    with pytest.raises(WriteError, match="could not write"):
        write_atomically(tmp_path / "f.txt", half_then_full)
    assert os.listdir(tmp_path) == ["f.txt"] and (tmp_path / "f.txt").read_text() == "old"


def test_a_full_disk_under_the_log_file_stops_the_run(reference, tmp_path, monkeypatch) -> None:
    """A ``logging.FileHandler`` (Hydra's ``train.log``) whose disk fills up: the logging call
    raises a ``WriteError`` once, the handler is removed, the console still gets the rest."""
    root = logging.getLogger()
    handler = logging.FileHandler(tmp_path / "train.log")
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)  # setLevel, not an assignment: loggers cache their levels
    real_emit = handler.emit

    def emit(record: logging.LogRecord) -> None:
        if record.getMessage().startswith("step 6,"):  # logged after step 6's checkpoint
            handler.stream.write("step 6, 24 seq")
            try:
                raise OSError(errno.ENOSPC, FULL)
            except OSError:
                handler.handleError(record)  # what logging.StreamHandler.emit does
        else:
            real_emit(record)

    monkeypatch.setattr(handler, "emit", emit)
    try:
        raise_on_log_errors()
        with pytest.raises(WriteError) as info:
            train(compose_config(SETTINGS), tmp_path)
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)
    assert_one_sentence(str(info.value), f"could not write {tmp_path / 'train.log'} ({FULL})")
    assert handler not in root.handlers
    assert saved(tmp_path)["step"] == 6
    monkeypatch.undo()
    assert_resumes_as_if_never_stopped(tmp_path, reference)


def test_a_log_record_that_does_not_format_is_not_a_write_error(tmp_path) -> None:
    """A bug in a log call, not the disk: logging's own handling (its stderr report)."""
    logger = logging.getLogger("test_write_errors.format")
    handler = logging.FileHandler(tmp_path / "x.log")
    reported = []
    handler.handleError = reported.append  # logging's own way, recorded
    logger.addHandler(handler)
    logger.propagate = False  # pytest's own handlers raise on a bad record
    try:
        raise_on_log_errors(logger)
        logger.error("%d", "not a number")
    finally:
        logger.propagate = True
        logger.removeHandler(handler)
        handler.close()
    assert [record.msg for record in reported] == ["%d"]


# ``python -m ntm.train`` whose train.log fills the disk when step 6 is logged.
FULL_LOG_TRAIN = """
import errno, logging, runpy
real_emit = logging.FileHandler.emit
def emit(self, record):
    if record.getMessage().startswith("step 6,"):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            self.handleError(record)
    else:
        real_emit(self, record)
logging.FileHandler.emit = emit
runpy.run_module("ntm.train", run_name="__main__", alter_sys=True)
"""


def test_command_line_on_a_full_log_disk_exits_with_one_line(tmp_path) -> None:
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", FULL_LOG_TRAIN, *SETTINGS,
                           f"hydra.run.dir={run_dir}"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "Logging error" not in done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: "), done.stderr
    assert_one_sentence(message.removeprefix("error: "),
                        f"could not write {run_dir / 'train.log'} ({FULL})")
    assert saved(run_dir)["step"] == 6


def test_a_picture_that_cannot_be_written_does_not_stop_training(tmp_path, monkeypatch,
                                                                 caplog) -> None:
    from matplotlib.figure import Figure

    from ntm.train import draw_pictures

    def savefig(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, FULL)

    monkeypatch.setattr(Figure, "savefig", savefig)
    with caplog.at_level(logging.WARNING, logger="ntm.train"):
        result = train(compose_config([*SETTINGS, "train.pictures=true", "train.plot_every=1"]),
                       tmp_path, draw=draw_pictures)
    assert result.step == 12 and saved(tmp_path)["step"] == 12
    warnings = [r.getMessage() for r in caplog.records if "Could not draw" in r.getMessage()]
    assert len(warnings) == 4 and all(FULL in w for w in warnings), warnings  # 3 + the end
