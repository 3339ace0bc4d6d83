"""Tests for mismatches between a config and a checkpoint: resuming with settings that change
what the checkpoint holds, and loading a run directory (``ntm.plot``, ``load_run``) whose
checkpoint belongs to another model or task or is not a checkpoint at all. Each fails before
any work with one sentence naming what differs."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import pytest
import torch
from conftest import TINY, assert_one_sentence, compose_config, tiny_run, torch_isolated
from omegaconf import DictConfig, OmegaConf

import ntm.experiment.loop
import ntm.results.plot
from ntm.experiment import checkpoint
from ntm.experiment.build import build_model, build_optimizer, build_task
from ntm.experiment.checkpoint import CheckpointError
from ntm.experiment.config import (
    CHECKPOINT_SETTINGS,
    HELD_OUT_SETTINGS,
    ConfigError,
    checkpoint_mismatch,
    validate,
)
from ntm.experiment.loop import train
from ntm.results.runs import load_ntm_run, load_run

pytestmark = pytest.mark.usefixtures("isolated_torch")

BATCH = 4  # train.batch_size in TINY


def tiny(steps: int, *overrides: str) -> DictConfig:
    if "task=associative_recall" in overrides:  # TINY's task.max_length is copy's
        base = [o for o in TINY if not o.startswith("task.")] + ["task.max_items=3"]
        return compose_config([*base, "train.eval_every=3",
                               f"train.max_sequences={steps * BATCH}", *overrides])
    return tiny_run(steps, 3, *overrides)


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("copy")
    with torch_isolated():
        train(tiny(3), path)
    return path


@pytest.fixture(scope="module")
def recall_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recall")
    with torch_isolated():
        train(tiny(3, "task=associative_recall"), path)
    return path


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}


# --- Resuming. ---


def what_a_checkpoint_holds(cfg: DictConfig) -> dict[str, tuple]:
    """The shape of every tensor of the model's state and of the optimizer's state after one
    step: what a checkpoint of ``cfg`` holds."""
    task = build_task(cfg)
    with torch.random.fork_rng(devices=[]):
        model = build_model(cfg, task)
        optimizer = build_optimizer(cfg, model.parameters())
        batch = task.sample_batch(torch.Generator().manual_seed(0), 2)
        model(batch.inputs).sum().backward()
        optimizer.step()
    held = {f"model {k}": tuple(v.shape) for k, v in model.state_dict().items()}
    for index, state in optimizer.state_dict()["state"].items():
        held |= {f"optimizer {index} {k}": tuple(torch.as_tensor(v).shape)
                 for k, v in state.items()}
    return held


def changed(value, key: str):
    """Another valid value of a setting."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.5
    if value is None:
        return 1
    return {"controller.kind": "feedforward", "memory.init": "learned", "optim.name": "rmsprop",
            "task.name": "associative_recall", "device": "cpu"}.get(key, value)


def leaves(cfg: DictConfig, prefix: str = "") -> list[str]:
    out = []
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        out += leaves(value, f"{name}.") if isinstance(value, DictConfig) else [name]
    return out


@pytest.mark.parametrize("base", [["optim=adam"], ["optim=rmsprop", "optim.momentum=0",
                                                   "optim.centered=false"]])
def test_every_setting_that_changes_what_a_checkpoint_holds_is_fixed_on_resume(base) -> None:
    """Each setting, changed alone: when the model's or the optimizer's tensors change shape
    or number, ``checkpoint_mismatch`` (the resume check) names exactly that setting."""
    cfg = compose_config([*TINY, *base])
    held = what_a_checkpoint_holds(cfg)
    trained = OmegaConf.to_container(cfg, resolve=True)
    shape_changing = []
    for key in leaves(cfg):
        if key == "task.name":  # another task: its settings differ too (next test)
            continue
        other = copy.deepcopy(cfg)
        OmegaConf.update(other, key, changed(OmegaConf.select(cfg, key), key))
        try:
            validate(other)
            other_held = what_a_checkpoint_holds(other)
        except ConfigError:
            continue
        if other_held != held:
            shape_changing.append(key)
            found = checkpoint_mismatch(trained, OmegaConf.to_container(other, resolve=True))
            assert found is not None and found[0] == key, (key, found)
    assert {"memory.N", "memory.M", "memory.init", "controller.kind", "controller.size",
            "model.read_heads", "task.width"} <= set(shape_changing)
    if "rmsprop" in base[0]:
        assert {"optim.momentum", "optim.centered"} <= set(shape_changing)
    else:
        assert "optim.amsgrad" in shape_changing  # AMSGrad keeps one more tensor per parameter


@pytest.mark.parametrize("override, setting", [
    ("task=associative_recall", "task.name"),
    ("controller=feedforward", "controller.kind"),
    ("memory.init=learned", "memory.init"),
    ("memory.M=5", "memory.M"),
    ("controller.layers=2", "controller.layers"),
    ("model.write_heads=2", "model.write_heads"),
    ("model.shift_radius=2", "model.shift_radius"),
    ("task.width=4", "task.width"),
    # the held-out set, which the run's best cost, plateau decay and rollback compare
    ("train.eval_size=7", "train.eval_size"),
    ("train.eval_seed=11", "train.eval_seed"),
])
def test_resume_with_a_fixed_setting_names_it_and_changes_nothing(
        copy_run, tmp_path, monkeypatch, override, setting) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name, data in snapshot(copy_run).items():
        (run_dir / name).write_bytes(data)
    before = snapshot(run_dir)
    drawn = []  # the held-out set (up to 100,000 sequences) is not drawn for a refused resume
    monkeypatch.setattr(ntm.experiment.loop, "held_out_set", lambda *a: drawn.append(a))
    with pytest.raises(ConfigError) as info:
        train(tiny(6, override), run_dir)
    assert_one_sentence(str(info.value), setting)
    assert f"{setting} is " in str(info.value)
    if setting in HELD_OUT_SETTINGS:
        assert f"{setting} is {override.split('=')[1]} but the run was evaluated with " in str(
            info.value)
    assert snapshot(run_dir) == before
    assert drawn == []


def test_checkpoint_mismatch_names_a_setting_of_another_held_out_set() -> None:
    trained = OmegaConf.to_container(tiny(3), resolve=True)
    assert checkpoint_mismatch(trained, copy.deepcopy(trained), HELD_OUT_SETTINGS) is None
    other = copy.deepcopy(trained)
    other["train"]["eval_seed"] += 1
    other["train"]["eval_every"] += 1  # not part of the set
    assert checkpoint_mismatch(trained, other, HELD_OUT_SETTINGS) == (
        "train.eval_seed", trained["train"]["eval_seed"], trained["train"]["eval_seed"] + 1)


LSTM = ("model=lstm", "model.size=8", "model.layers=1")


def test_the_lstm_baseline_resumes_with_memory_and_controller_settings_it_does_not_use(
        tmp_path) -> None:
    """The LSTM baseline reads neither the controller nor the memory group: a resume with
    another memory.N or controller is the same run (``ModelEntry.groups``)."""
    train(tiny(3, *LSTM), tmp_path)
    trained = OmegaConf.to_container(tiny(3, *LSTM), resolve=True)
    for override in ("memory.N=64", "controller=feedforward", "memory.init=learned"):
        other = OmegaConf.to_container(tiny(3, *LSTM, override), resolve=True)
        assert checkpoint_mismatch(trained, other) is None, override
    result = train(tiny(6, *LSTM, "memory.N=64"), tmp_path)
    assert result.step == 6
    # What the baseline does read is still compared: its size, and the model kind.
    for override, setting in (("model.size=9", "model.size"), ("model=ntm", "model.kind")):
        other = OmegaConf.to_container(tiny(3, *LSTM, override), resolve=True)
        assert checkpoint_mismatch(trained, other)[0] == setting


def test_a_baseline_ignores_the_ntm_s_own_settings_and_an_older_ntm_run_names_the_gate(
        ) -> None:
    """Copy's config sets the NTM's ``model.write_gate_bias``: a baseline does not read it (nor
    the NTM's heads, clipping or similarity), so a baseline's checkpoint written before the
    setting existed, or with another value, resumes; an NTM's older checkpoint (the layer's
    draw) is refused under copy's -3, naming the setting (``ModelEntry.ignores``)."""
    for model in (LSTM, ("model=transformer", "model.size=8", "model.layers=1",
                         "model.heads=2", "model.ffn_size=8")):
        trained = OmegaConf.to_container(tiny(3, *model), resolve=True)
        older = {**trained, "model": {k: v for k, v in trained["model"].items()
                                      if k != "write_gate_bias"}}
        assert trained["model"]["write_gate_bias"] == -3.0  # copy's, whatever the model
        for override in ("model.write_gate_bias=null", "model.clip=5", "model.similarity=dot",
                         "model.read_heads=2", "model.shift_radius=2"):
            other = OmegaConf.to_container(tiny(3, *model, override), resolve=True)
            assert checkpoint_mismatch(trained, other) is None, (model, override)
        assert checkpoint_mismatch(older, trained) is None, model
        other = OmegaConf.to_container(tiny(3, *model, "model.size=16"), resolve=True)
        assert checkpoint_mismatch(trained, other)[0] == "model.size"
    trained = OmegaConf.to_container(tiny(3), resolve=True)
    older = {**trained, "model": {k: v for k, v in trained["model"].items()
                                  if k != "write_gate_bias"}}
    assert checkpoint_mismatch(older, trained) == ("model.write_gate_bias", None, -3.0)
    other = OmegaConf.to_container(tiny(3, "model.write_gate_bias=null"), resolve=True)
    assert checkpoint_mismatch(older, other) is None


def resumable(copy_run: Path, tmp_path: Path, state: dict) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_bytes((copy_run / "config.yaml").read_bytes())
    checkpoint.save(run_dir / "checkpoint.pt", state)
    return run_dir


@pytest.mark.parametrize("drop", ["optimizer", "random", "config"])
def test_resume_from_a_checkpoint_not_written_by_training_is_refused(copy_run, tmp_path,
                                                                     drop) -> None:
    state = checkpoint.load(copy_run / "checkpoint.pt")
    del state[drop]
    run_dir = resumable(copy_run, tmp_path, state)
    with pytest.raises(CheckpointError) as info:
        train(tiny(6), run_dir)
    assert_one_sentence(str(info.value), repr(drop))
    assert not (run_dir / "metrics.csv").exists()


def test_resume_from_weights_that_do_not_fit_their_config_is_refused(copy_run, tmp_path) -> None:
    state = checkpoint.load(copy_run / "checkpoint.pt")
    other = tiny(3, "controller.size=9")
    state["model"] = build_model(other, build_task(other)).state_dict()  # config still says 8
    run_dir = resumable(copy_run, tmp_path, state)
    with pytest.raises(CheckpointError) as info:
        train(tiny(6), run_dir)
    assert_one_sentence(str(info.value), "checkpoint.pt")
    assert not (run_dir / "metrics.csv").exists()


# --- Loading a run: ntm.plot, and load_run that ntm.evaluate shares. ---


def mixed(tmp_path: Path, config_from: Path, checkpoint_from: Path) -> Path:
    run_dir = tmp_path / "mixed"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_bytes((config_from / "config.yaml").read_bytes())
    (run_dir / "checkpoint.pt").write_bytes((checkpoint_from / "checkpoint.pt").read_bytes())
    return run_dir


def test_load_run_names_the_setting_where_config_and_checkpoint_differ(
        copy_run, recall_run, tmp_path) -> None:
    run_dir = mixed(tmp_path, copy_run, recall_run)
    with pytest.raises(ConfigError) as info:
        load_run(run_dir)
    message = str(info.value)
    assert_one_sentence(message, "task.name")
    assert "'associative_recall'" in message and "'copy'" in message
    assert str(run_dir / "checkpoint.pt") in message and str(run_dir / "config.yaml") in message


def test_load_run_refuses_a_checkpoint_of_another_model(copy_run, tmp_path) -> None:
    other = tmp_path / "other"
    with torch_isolated():
        train(tiny(3, "controller=feedforward"), other)
    with pytest.raises(ConfigError) as info:
        load_run(mixed(tmp_path, copy_run, other))
    assert_one_sentence(str(info.value), "controller.kind")


def test_load_ntm_run_gives_the_run_of_its_task_and_refuses_others_in_one_sentence(
        copy_run, recall_run) -> None:
    """The diagnostics' loader: an NTM run of the named task loads as ``load_run`` loads it; a
    run of another task is one sentence naming what it trained (another model kind:
    test_studies' plateau test)."""
    cfg, task, model = load_ntm_run(copy_run, "copy")
    assert cfg.task.name == "copy" and task.name == "copy" and hasattr(model, "step")
    with pytest.raises(ConfigError) as info:
        load_ntm_run(recall_run, "copy")
    assert_one_sentence(str(info.value), "trained ntm on associative_recall")
    assert "an NTM trained on copy" in str(info.value)


def test_plot_command_refuses_a_mixed_run_in_one_line(copy_run, recall_run, tmp_path,
                                                      capsys) -> None:
    run_dir = mixed(tmp_path, recall_run, copy_run)
    with pytest.raises(SystemExit) as info:
        ntm.results.plot.main([str(run_dir)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert_one_sentence(err.strip().removeprefix("error: "), "task.name")
    assert not (run_dir / "plots").exists()  # no work done


@pytest.mark.parametrize("content, what", [
    (b"not a checkpoint", "cannot be read"),
    (b"", "cannot be read"),
])
def test_load_run_refuses_a_file_that_is_not_a_checkpoint(copy_run, tmp_path, content,
                                                          what) -> None:
    run_dir = mixed(tmp_path, copy_run, copy_run)
    (run_dir / "checkpoint.pt").write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_run(run_dir)
    assert_one_sentence(str(info.value), "checkpoint.pt")
    assert what in str(info.value)


def test_load_run_refuses_a_checkpoint_without_weights(copy_run, tmp_path) -> None:
    run_dir = mixed(tmp_path, copy_run, copy_run)
    checkpoint.save(run_dir / "checkpoint.pt", {"step": 3})
    with pytest.raises(CheckpointError) as info:
        load_run(run_dir)
    assert_one_sentence(str(info.value), "model weights")


def test_load_run_refuses_a_file_given_as_the_run_directory(copy_run) -> None:
    with pytest.raises(ConfigError) as info:
        load_run(copy_run / "checkpoint.pt")
    assert_one_sentence(str(info.value), "is a file, not a run directory")


@pytest.mark.parametrize("text", ["[1, 2]\n", "just words\n", "model: {kind: 3\n",
                                  "colour: red\n", "memory: {N: abc}\n"])
def test_load_run_refuses_a_config_that_is_not_a_run_config(copy_run, tmp_path, text) -> None:
    run_dir = mixed(tmp_path, copy_run, copy_run)
    (run_dir / "config.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_run(run_dir)
    assert_one_sentence(str(info.value), "config.yaml")


def test_load_run_reads_a_run_from_before_newer_settings(copy_run, tmp_path) -> None:
    """A config.yaml written before a setting existed (here train.max_bad_steps) still loads;
    the setting takes its default."""
    run_dir = mixed(tmp_path, copy_run, copy_run)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    del cfg.train["max_bad_steps"]
    OmegaConf.save(cfg, run_dir / "config.yaml")
    loaded, _, _ = load_run(run_dir)
    assert loaded.train.max_bad_steps == 10


def test_a_run_from_before_a_task_setting_resumes_and_takes_it_as_its_default(tmp_path) -> None:
    """A repeat-copy run whose config and checkpoint predate ``task.size_axis`` resumes under
    today's config (which has it) and can be evaluated along the new axis."""
    cfg = tiny(2, "task=repeat_copy", "task.max_repeats=2")
    train(cfg, tmp_path)
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del ckpt["config"]["task"]["size_axis"]
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    old = OmegaConf.load(tmp_path / "config.yaml")
    del old.task["size_axis"]
    OmegaConf.save(old, tmp_path / "config.yaml")
    assert checkpoint_mismatch(ckpt["config"], OmegaConf.to_container(cfg, resolve=True)) is None
    loaded, task, _ = load_run(tmp_path, ["task.size_axis=length"])
    assert loaded.task.size_axis == "length" and task.size_name == "length"
    assert train(tiny(4, "task=repeat_copy", "task.max_repeats=2"), tmp_path).sequences == 16


def test_the_fixed_settings_are_the_documented_ones() -> None:
    assert CHECKPOINT_SETTINGS == ("task", "model", "controller", "memory", "optim.name",
                                   "optim.momentum", "optim.centered", "optim.amsgrad",
                                   "seed")
    assert HELD_OUT_SETTINGS == ("train.eval_size", "train.eval_seed")


def test_metrics_rows_of_a_refused_resume_are_kept(copy_run, tmp_path) -> None:
    run_dir = mixed(tmp_path, copy_run, copy_run)
    (run_dir / "metrics.csv").write_bytes((copy_run / "metrics.csv").read_bytes())
    with pytest.raises(ConfigError):
        train(tiny(6, "memory.N=9"), run_dir)
    with open(run_dir / "metrics.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [3]
