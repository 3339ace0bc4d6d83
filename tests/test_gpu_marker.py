"""Tests marked ``gpu`` are deselected where CUDA is missing, and the summary says so."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import gpu_summary

ROOT = Path(__file__).resolve().parents[1]


def test_the_summary_line_counts_the_deselected_tests() -> None:
    assert gpu_summary(0) is None
    assert gpu_summary(1) == "1 gpu test deselected: no CUDA device"
    assert gpu_summary(3) == "3 gpu tests deselected: no CUDA device"


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_run_without_cuda_says_that_gpu_tests_were_deselected(workers: str) -> None:
    """pytest on one file holding a gpu test: without CUDA it is deselected, and said so, in
    one process (``-n 0``) and with pytest-xdist's workers, whose controller collects nothing
    itself (the default run, ``-n auto``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not torch.cuda.is_available():
        env["CUDA_VISIBLE_DEVICES"] = ""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_tasks_common.py", "-q",
         "-p", "no:cacheprovider", "-k", "generators_device", "-n", workers],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if torch.cuda.is_available():
        assert done.returncode == 0, done.stdout + done.stderr
        assert "gpu test" not in done.stdout, done.stdout
    else:
        assert done.returncode == 5, done.stdout + done.stderr  # pytest's "no tests ran"
        assert re.search(r"\b[1-9]\d* gpu tests? deselected: no CUDA device", done.stdout), \
            done.stdout
