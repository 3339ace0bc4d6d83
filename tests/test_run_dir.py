"""Tests for the run-directory check: a directory that cannot be written, or something in the
way of a file or folder a run writes, fails at start-up in one sentence, before any work,
both from ``train`` and from the command line (where Hydra would write first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, assert_one_sentence, compose_config

from ntm.experiment.config import ConfigError
from ntm.experiment.loop import train
from ntm.experiment.run_dir import FILES, FOLDERS, check_writable, remove_if_unused

pytestmark = pytest.mark.usefixtures("isolated_torch")

REPO = Path(__file__).resolve().parents[1]


def refused(run_dir: Path, setting: str) -> str:
    """Starting a tiny run in ``run_dir`` fails with one sentence naming ``setting``."""
    with pytest.raises(ConfigError) as info:
        train(compose_config([*TINY, "train.max_sequences=8"]), run_dir)
    assert_one_sentence(str(info.value), setting)
    return str(info.value)


def test_a_file_where_the_run_directory_should_be(tmp_path) -> None:
    (tmp_path / "run").write_text("mine")
    assert "is a file" in refused(tmp_path / "run", str(tmp_path / "run"))
    assert (tmp_path / "run").read_text() == "mine"


def test_a_file_where_a_parent_folder_should_be(tmp_path) -> None:
    (tmp_path / "runs").write_text("mine")
    message = refused(tmp_path / "runs" / "copy" / "run", "hydra.run.dir")
    assert "cannot be written" in message


@pytest.mark.parametrize("name", FILES)
def test_a_folder_where_the_run_writes_a_file(tmp_path, name) -> None:
    (tmp_path / name).mkdir()
    refused(tmp_path, str(tmp_path / name))
    assert sorted(os.listdir(tmp_path)) == [name]  # nothing written: no config, no metrics


@pytest.mark.parametrize("name", FOLDERS)
def test_a_file_where_the_run_writes_a_folder(tmp_path, name) -> None:
    (tmp_path / name).write_text("mine")
    refused(tmp_path, str(tmp_path / name))
    assert sorted(os.listdir(tmp_path)) == [name]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_directory_that_cannot_be_made() -> None:
    """/proc takes no new folders, not even from root."""
    assert "cannot be written" in refused(Path("/proc/ntm-test-run"), "/proc/ntm-test-run")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_directory(tmp_path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o555)
    try:
        assert "Permission denied" in refused(run_dir, str(run_dir))
    finally:
        run_dir.chmod(0o755)


def test_the_check_leaves_nothing_behind(tmp_path) -> None:
    check_writable(tmp_path / "new" / "run")
    assert os.listdir(tmp_path / "new" / "run") == []


def test_command_line_refuses_before_hydra_writes(tmp_path) -> None:
    """hydra.run.dir (a run) or hydra.sweep.dir (``-m``, a sweep) is a file: one line, exit
    status 2, and neither Hydra's traceback nor any file written."""
    (tmp_path / "taken").write_text("mine")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(REPO)  # this checkout's ntm, wherever pytest runs
    command = [sys.executable, "-m", "ntm.train"]
    settings = [*TINY, "train.max_sequences=8"]
    runs = [subprocess.Popen(args, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
            for args in ([*command, *settings, f"hydra.run.dir={tmp_path / 'taken'}"],
                         [*command, "-m", *settings, "seed=0,1",
                          f"hydra.sweep.dir={tmp_path / 'taken'}"])]
    for run in runs:
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 2, stderr
        assert "Traceback" not in stdout + stderr
        message = stderr.strip()
        assert message.startswith("error: ") and "\n" not in message, stderr
        assert_one_sentence(message.removeprefix("error: "), str(tmp_path / "taken"))
    assert sorted(os.listdir(tmp_path)) == ["taken"]


def test_a_folder_with_only_hydra_s_files_is_removed_and_any_other_kept(tmp_path) -> None:
    """What ``ntm.train`` does with its run directory when a setting is refused."""
    unused = tmp_path / "unused"
    (unused / ".hydra").mkdir(parents=True)
    (unused / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (unused / "train.log").write_text("")
    assert remove_if_unused(unused) and not unused.exists()
    used = tmp_path / "used"
    (used / ".hydra").mkdir(parents=True)
    (used / "metrics.csv").write_text("step\n")
    assert not remove_if_unused(used) and (used / "metrics.csv").exists()
    assert not remove_if_unused(tmp_path / "nowhere")
