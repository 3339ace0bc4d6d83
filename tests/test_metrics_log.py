"""metrics.csv: its one definition of columns, the writer on resume, and the one reader that
pictures, sweeps and reports share (how it treats a bad row)."""

from __future__ import annotations

import csv
import logging
import math
import sys
import types

import numpy as np
import pytest
from conftest import assert_one_sentence, tiny_run

from ntm.experiment.loop import train
from ntm.experiment.metrics_log import (
    EARLIER_HEADERS,
    METRICS_FIELDS,
    METRICS_NAME,
    MetricsFileError,
    MetricsLog,
    read_columns,
)
from ntm.results.plot import CURVE_FIELDS, read_metrics
from ntm.results.sweep import METRICS_COLUMNS, read_run

HEADER = ",".join(METRICS_FIELDS)


def row(step: int, cost: str = "1.5", fields: tuple[str, ...] = METRICS_FIELDS) -> str:
    values = {"step": step, "sequences": 4 * step, "wall_seconds": step, "train_cost": cost,
              "eval_cost": cost, "eval_bit_errors": "0.5", "eval_optimal_cost": "",
              "sequences_per_second": 10, "learning_rate": 0.001, "skipped_steps": 0,
              "trained_bit_errors": "", "curriculum": ""}
    return ",".join(str(values[name]) for name in fields)


def test_every_reader_reads_columns_the_writer_writes() -> None:
    assert set(CURVE_FIELDS) <= set(METRICS_FIELDS)
    assert set(METRICS_COLUMNS) <= set(METRICS_FIELDS)


def test_a_run_writes_the_columns(tmp_path) -> None:
    train(tiny_run(6, 3), tmp_path)
    header = (tmp_path / METRICS_NAME).read_text().splitlines()[0]
    assert header == HEADER


def test_bad_rows_and_a_cut_short_last_line_are_left_out_and_said(tmp_path) -> None:
    """The one reader is forgiving but honest: a row that does not parse and a last line
    without its line end (a run killed while writing it) are left out, and each is named."""
    path = tmp_path / METRICS_NAME
    path.write_text("\n".join([HEADER, row(3), row(6, cost="oops"), row(9), row(12)[:12]]))
    columns, problems = read_columns(path, ("step", "eval_cost"))
    assert columns["step"].tolist() == [3, 9]
    assert len(problems) == 2
    assert "cut short" in problems[0] and "1 row(s)" in problems[1]


def test_optional_columns_are_nan_where_empty_or_absent(tmp_path) -> None:
    path = tmp_path / METRICS_NAME
    path.write_text("step,eval_cost\n3,1.0\n6,2.0\n")
    columns, problems = read_columns(path, ("step",), optional=("eval_optimal_cost",))
    assert problems == [] and np.isnan(columns["eval_optimal_cost"]).all()


def test_pictures_and_reports_read_the_same_rows(tmp_path) -> None:
    (tmp_path / METRICS_NAME).write_text(
        "\n".join([HEADER, row(3), row(6, cost="nan?"), row(9)]) + "\n")
    curves = read_metrics(tmp_path / METRICS_NAME)
    report = read_run(tmp_path).metrics
    assert curves["sequences"].tolist() == report["sequences"].tolist() == [12, 36]
    assert "eval_optimal_cost" not in curves
    assert not any(math.isnan(v) for v in report["eval_cost"])


def test_resume_drops_rows_after_the_checkpoint_and_a_cut_short_last_line(tmp_path,
                                                                          caplog) -> None:
    path = tmp_path / METRICS_NAME
    path.write_text("\n".join([HEADER, row(3), row(6), row(9)[:7]]))  # 9: the disk filled up
    with caplog.at_level(logging.INFO, logger="ntm.train"):
        MetricsLog(tmp_path, resume_step=3, resume_sequences=12).close()
    assert path.read_bytes() == f"{HEADER}\r\n{row(3)}\r\n".encode()  # as csv writes it
    assert "cut short" in caplog.text and "1 row(s)" in caplog.text


@pytest.mark.parametrize("fields", EARLIER_HEADERS)
def test_resume_continues_a_file_written_before_the_later_columns(tmp_path, fields) -> None:
    """A run written before ``trained_bit_errors`` or before ``curriculum`` resumes: its rows
    are kept, the later columns empty, under the header of now."""
    path = tmp_path / METRICS_NAME
    path.write_text("\n".join([",".join(fields), row(3, fields=fields),
                               row(6, fields=fields)]) + "\n")
    MetricsLog(tmp_path, resume_step=3, resume_sequences=12).close()
    # row(3) has the two later columns empty
    assert path.read_bytes() == f"{HEADER}\r\n{row(3)}\r\n".encode()


@pytest.mark.parametrize("edit, where", [
    (lambda lines: [lines[0].replace("eval_cost", "cost"), *lines[1:]], "header"),
    (lambda lines: [lines[0], lines[1], "3,12,oops", lines[2]], "line 3"),
    (lambda lines: [lines[0], lines[1], lines[2].replace("6,", "six,", 1)], "line 3"),
])
def test_resume_refuses_a_metrics_file_edited_by_hand_before_writing(tmp_path, edit,
                                                                     where) -> None:
    path = tmp_path / METRICS_NAME
    path.write_text("\n".join(edit([HEADER, row(3), row(6)])) + "\n")
    before = path.read_bytes()
    with pytest.raises(MetricsFileError) as info:
        MetricsLog(tmp_path, resume_step=6, resume_sequences=24)
    assert_one_sentence(str(info.value), str(path))
    assert where in str(info.value)
    assert path.read_bytes() == before


def test_a_run_resumed_on_an_edited_metrics_file_writes_nothing(tmp_path) -> None:
    train(tiny_run(6, 3), tmp_path)
    path = tmp_path / METRICS_NAME
    path.write_text(path.read_text().replace("step,", "Step,"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(MetricsFileError, match="header"):
        train(tiny_run(9, 3), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_tensorboard_gets_every_number_as_a_scalar_and_the_curriculum_as_text(
        tmp_path, monkeypatch) -> None:
    """Where TensorBoard is installed (an optional extra, stood in for here), each row's
    numbers go to it as scalars at its sequences, empty cells not at all, and the curriculum's
    levels as text."""
    calls = []

    class Writer:
        def __init__(self, log_dir, purge_step=None) -> None:
            calls.append(("open", log_dir, purge_step))

        def add_scalar(self, key, value, global_step) -> None:
            calls.append(("scalar", key, value, global_step))

        def add_text(self, key, value, global_step) -> None:
            calls.append(("text", key, value, global_step))

        def flush(self) -> None:
            pass

        def close(self) -> None:
            calls.append(("close",))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard",
                        types.SimpleNamespace(SummaryWriter=Writer))
    metrics = MetricsLog(tmp_path, resume_step=None, resume_sequences=0)
    values = dict(zip(METRICS_FIELDS, next(csv.reader([row(3)])), strict=True))
    metrics.write({**values, "curriculum": "max_length=2"})
    metrics.close()
    assert calls[0] == ("open", str(tmp_path / "tensorboard"), None)
    assert calls[-1] == ("close",)
    written = [(call[0], call[1]) for call in calls[1:-1]]
    assert written == [("scalar", "wall_seconds"), ("scalar", "train_cost"),
                       ("scalar", "eval_cost"), ("scalar", "eval_bit_errors"),
                       ("scalar", "sequences_per_second"), ("scalar", "learning_rate"),
                       ("scalar", "skipped_steps"),
                       ("text", "curriculum")]  # no eval_optimal_cost, trained_bit_errors: empty
    assert all(call[3] == 12 for call in calls[1:-1])  # at the row's sequences
