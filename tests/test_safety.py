"""Safe by construction: nothing in a run directory is executed. A checkpoint is unpickled with
``weights_only=True`` (a pickle that would run code is refused with a ``CheckpointError``
before it runs), a run's config is plain YAML, and configs choose components by registered
names, never by import paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from conftest import (
    TINY,
    assert_one_sentence,
    compose_config,
    trained_run,
)

from ntm.experiment import checkpoint
from ntm.experiment.checkpoint import CheckpointError
from ntm.experiment.config import ConfigError, validate
from ntm.experiment.loop import train
from ntm.results.runs import load_run

pytestmark = pytest.mark.usefixtures("isolated_torch")

REPO = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this runs ``exec``, which writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('executed')",)


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    """A file that looks like an ntm checkpoint, with the payload inside its dict."""
    torch.save({"format": checkpoint.FORMAT, "model": {}, "step": Payload(marker)}, path)
    return path


def test_the_payload_is_live(tmp_path) -> None:
    """Without weights_only, loading the file does run the code: the test below is real."""
    path = malicious_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "marker")
    torch.load(path, weights_only=False)
    assert (tmp_path / "marker").read_text() == "executed"


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path) -> None:
    path = malicious_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "marker")
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path)
    assert_one_sentence(str(info.value), str(path))
    assert not (tmp_path / "marker").exists()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory, "run")


def test_resuming_or_loading_a_run_with_such_a_checkpoint_runs_nothing(run_dir,
                                                                       tmp_path) -> None:
    marker = tmp_path / "marker"
    target = tmp_path / "run"
    target.mkdir()
    (target / "config.yaml").write_bytes((run_dir / "config.yaml").read_bytes())
    malicious_checkpoint(target / "checkpoint.pt", marker)
    with pytest.raises(CheckpointError):
        train(compose_config([*TINY, "train.max_sequences=8"]), target)
    with pytest.raises(CheckpointError):
        load_run(target)
    assert not marker.exists()


def test_a_config_that_would_run_code_is_refused(run_dir, tmp_path) -> None:
    """A run's config.yaml is read with a safe YAML loader: Python tags are an error."""
    marker = tmp_path / "marker"
    target = tmp_path / "run"
    target.mkdir()
    (target / "checkpoint.pt").write_bytes((run_dir / "checkpoint.pt").read_bytes())
    (target / "config.yaml").write_text(
        f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError) as info:
        load_run(target)
    assert_one_sentence(str(info.value), "config.yaml")
    assert not marker.exists()


@pytest.mark.parametrize("override", [
    "model.kind=torch.nn.LSTM", "controller.kind=torch.nn.GRU", "optim.name=torch.optim.SGD",
    "memory.init=os.system", "task.name=tasks.copy.CopyTask",
])
def test_components_are_chosen_by_registered_name_only(override) -> None:
    cfg = compose_config([override])
    with pytest.raises(ConfigError) as info:
        validate(cfg)
        from ntm.experiment.build import build_task

        build_task(cfg)
    assert_one_sentence(str(info.value), override.split("=")[0])


def test_nothing_in_the_code_loads_code_from_data() -> None:
    """No unsafe unpickling, YAML loading, dynamic import or eval in ntm/ and tasks/; the only
    ``_target_``s in conf/ are the project's two Hydra callbacks: the run-directory check and
    the sweep's failure report."""
    unsafe = re.compile(r"weights_only\s*=\s*False|pickle\.loads?\(|yaml\.(unsafe_)?load\(|"
                        r"import_module|__import__|(?<![.\w])(eval|exec)\(|instantiate\(")
    sources = [*REPO.glob("ntm/**/*.py"), *REPO.glob("tasks/*.py")]
    assert len(sources) > 10
    for source in sources:
        assert not unsafe.search(source.read_text()), source
    assert "weights_only=True" in (REPO / "ntm" / "experiment" / "checkpoint.py").read_text()
    targets = [line.strip() for path in REPO.glob("conf/**/*.yaml")
               for line in path.read_text().splitlines() if "_target_" in line]
    assert sorted(targets) == ["_target_: ntm.experiment.run_dir.RunDirCheck",
                               "_target_: ntm.experiment.sweep_failures.SweepFailures"]
