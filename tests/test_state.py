"""TrainState: the one definition of what a checkpoint holds."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config, saved, tiny_run
from omegaconf import OmegaConf

from ntm.experiment.build import build_model, build_optimizer, build_task
from ntm.experiment.checkpoint import CheckpointError
from ntm.experiment.loop import train
from ntm.experiment.state import REQUIRED_KEYS, TrainState

pytestmark = pytest.mark.usefixtures("isolated_torch")


def fresh(cfg) -> TrainState:
    task = build_task(cfg)
    model = build_model(cfg, task)
    return TrainState(model, build_optimizer(cfg, model.parameters()),
                      torch.Generator().manual_seed(0), OmegaConf.to_container(cfg, resolve=True))


def test_a_checkpoint_is_the_state_dict(tmp_path) -> None:
    cfg = tiny_run(6, 3)
    train(cfg, tmp_path)
    held = saved(tmp_path)
    assert set(held) - {"format"} == set(fresh(cfg).state_dict())
    assert set(REQUIRED_KEYS) <= set(held)


def test_load_state_dict_puts_back_what_state_dict_took(tmp_path) -> None:
    cfg = tiny_run(6, 3)
    train(cfg, tmp_path)
    state = fresh(cfg)
    state.load_state_dict(saved(tmp_path))
    again = state.state_dict()
    assert (again["step"], again["sequences"], again["last_eval"]) == (
        6, 24, saved(tmp_path)["last_eval"])
    for name, tensor in saved(tmp_path)["model"].items():
        assert torch.equal(again["model"][name], tensor), name


def test_a_state_without_a_required_key_is_refused() -> None:
    cfg = compose_config()
    state = fresh(cfg).state_dict()
    del state["random"]
    with pytest.raises(CheckpointError, match="'random'"):
        fresh(cfg).load_state_dict(state)
