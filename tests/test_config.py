"""Tests for the Hydra configuration: every option of every group composes, validates, builds
and runs; task and experiment defaults; every bad value is one clear sentence, in process and
from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from conftest import CONF_DIR, assert_one_sentence, compose_config
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf

from ntm.experiment.build import build_model, build_optimizer, build_task
from ntm.experiment.command_line import check_command_line
from ntm.experiment.config import ConfigError, TrainConfig, check_overrides, validate
from ntm.experiment.metrics import training_loss
from ntm.experiment.step import train_step

pytestmark = pytest.mark.usefixtures("isolated_torch")

GROUPS = ("task", "controller", "memory", "optim", "model", "experiment")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def test_every_group_has_options() -> None:
    assert options("task") == [
        "associative_recall", "copy", "dynamic_ngrams", "priority_sort", "repeat_copy"
    ]
    assert options("controller") == ["feedforward", "lstm"]
    assert options("memory") == ["default"]
    assert options("optim") == ["adam", "rmsprop"]
    assert options("model") == ["lstm", "ntm", "transformer"]
    assert len(options("experiment")) >= 4


def build_and_run(cfg: DictConfig) -> None:
    """Validates ``cfg``, builds its task, model and optimizer, and takes one training step on
    two of the task's shortest sequences."""
    validate(cfg)
    task = build_task(cfg)
    model = build_model(cfg, task)
    optimizer = build_optimizer(cfg, model.parameters())
    smallest = 1 if task.name == "copy" else 2
    batch = task.sample_batch(torch.Generator().manual_seed(0), 2, smallest)
    logits = model(batch.inputs)
    assert logits.shape == batch.targets.shape
    assert torch.isfinite(logits).all()
    loss = training_loss(logits, batch.targets, batch.mask)
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize(
    "override", [f"{group}={option}" for group in GROUPS for option in options(group)]
)
def test_every_option_composes_builds_and_runs(override) -> None:
    cfg = compose_config([override])
    group, option = override.split("=")
    if group == "task":
        assert cfg.task.name == option
    elif group == "controller":
        assert cfg.controller.kind == option
    elif group == "optim":
        assert cfg.optim.name == option
    elif group == "model":
        assert cfg.model.kind == option
    build_and_run(cfg)


@pytest.mark.parametrize("controller", options("controller"))
def test_controller_layer_norm_builds_layer_norms_and_runs(controller) -> None:
    """``controller.layer_norm=true`` reaches the controller: one LayerNorm per layer."""
    cfg = compose_config([f"controller={controller}", "controller.layers=2",
                          "controller.layer_norm=true"])
    model = build_model(cfg, build_task(cfg))
    norms = [m for m in model.controller.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2
    build_and_run(cfg)


@pytest.mark.parametrize("task", options("task"))
@pytest.mark.parametrize("controller", options("controller"))
@pytest.mark.parametrize("optim", options("optim"))
def test_option_combinations_build_and_run(task, controller, optim) -> None:
    cfg = compose_config([f"task={task}", f"controller={controller}", f"optim={optim}",
                          "memory.N=24", "memory.M=4", "controller.size=8"])  # copy: N > 20
    assert (cfg.task.name, cfg.controller.kind, cfg.optim.name) == (task, controller, optim)
    build_and_run(cfg)


def test_defaults() -> None:
    cfg = compose_config()
    assert OmegaConf.to_container(cfg.task) == {
        "name": "copy", "width": 8, "min_length": 1, "max_length": 20
    }
    assert OmegaConf.to_container(cfg.model) == {
        "kind": "ntm", "read_heads": 1, "write_heads": 1, "shift_radius": 1, "clip": 20.0,
        "similarity": "cosine", "write_gate_bias": -3.0,
        "size": None, "layers": None,  # the baselines' (model=lstm, model=transformer)
        "heads": None, "ffn_size": None, "positions": None,  # the Transformer's
    }
    # copy's NTM (conf/task/copy.yaml): the feedforward controller in 21 locations
    assert OmegaConf.to_container(cfg.controller) == {"kind": "feedforward", "size": 100,
                                                      "layers": 1, "layer_norm": False}
    assert OmegaConf.to_container(cfg.memory) == {"N": 21, "M": 20, "init": "constant",
                                                  "initial_weighting": "onehot"}
    assert cfg.optim.name == "adam" and cfg.optim.lr == 4e-3
    assert (cfg.train.batch_size, cfg.train.clip_grad_norm) == (8, 1.0)  # conf/task/copy.yaml
    assert (cfg.train.rollback_factor, cfg.train.rollback_min_bit_errors,
            cfg.train.rollback_lr_factor) == (10, 10, 0.5)
    # the rate cut at the solve: only a run trained on past it (solved_bit_errors=null) sees it
    assert cfg.train.lr_drop_bit_errors == cfg.train.solved_bit_errors == 0.01
    assert cfg.seed == 0 and cfg.device == "auto"
    validate(cfg)


def test_yaml_train_defaults_match_the_schema() -> None:
    """conf/config.yaml's train settings are the schema's; a task's own (copy's recipe in
    conf/task/copy.yaml) differ only where its file sets them."""
    copy_sets = set(OmegaConf.load(CONF_DIR / "task" / "copy.yaml")["train"])
    assert copy_sets == {"batch_size", "eval_every", "rollback_factor",
                         "rollback_min_bit_errors", "rollback_lr_factor", "lr_drop_bit_errors",
                         "lr_drop_factor"}
    cfg = compose_config()
    for f in fields(TrainConfig):
        if f.name not in copy_sets:
            assert cfg.train[f.name] == f.default, f.name
    assert OmegaConf.load(CONF_DIR / "config.yaml")["train"] == {
        f.name: f.default for f in fields(TrainConfig)}


def test_copy_s_controller_and_memory_give_way_to_the_command_line() -> None:
    """copy.yaml overrides the controller group: controller=lstm still picks the LSTM, and
    the other tasks and the paper bundles keep theirs."""
    cfg = compose_config(["controller=lstm", "memory.N=128"])
    assert (cfg.controller.kind, cfg.memory.N) == ("lstm", 128)
    # The controller alone keeps copy's 21 locations: the old default needs both.
    assert compose_config(["controller=lstm"]).memory.N == 21
    for task in ("associative_recall", "repeat_copy", "dynamic_ngrams", "priority_sort"):
        other = compose_config([f"task={task}"])
        assert (other.controller.kind, other.memory.N) == ("lstm", 128), task
    for bundle, kind in (("paper_copy_lstm", "lstm"), ("paper_copy_ff", "feedforward")):
        paper = compose_config([f"experiment={bundle}"])
        assert (paper.controller.kind, paper.memory.N) == (kind, 128), bundle


def test_associative_recall_applies_its_defaults() -> None:
    cfg = compose_config(["task=associative_recall"])
    assert OmegaConf.to_container(cfg.task) == {
        "name": "associative_recall", "width": 6, "item_length": 3, "min_items": 2,
        "max_items": 6,
    }
    assert cfg.controller.kind == "lstm"  # solved 10 of 10 seeds (docs/training.md)
    assert cfg.train.solved_bit_errors == 0.05
    assert (cfg.train.batch_size, cfg.optim.lr) == (64, 3e-3)  # not copy's 8 and 4e-3
    assert cfg.optim.eps == 1e-4
    build_task(cfg)
    paper = compose_config(["task=associative_recall", "experiment=paper_associative_recall_ff"])
    assert (paper.train.batch_size, paper.optim.lr) == (1, 1e-4)  # the bundle stays exact
    assert paper.controller.kind == "feedforward" and paper.optim.name == "rmsprop"


def test_repeat_copy_applies_its_curriculum_over_the_repeats() -> None:
    cfg = compose_config(["task=repeat_copy"])
    assert OmegaConf.to_container(cfg.train.curriculum) == {"max_repeats": 1}  # docs/training.md
    assert (cfg.train.curriculum_bit_errors, cfg.train.batch_size, cfg.train.rollback_factor,
            cfg.train.solved_bit_errors) == (2, 8, 10, 0.1)
    validate(cfg)
    off = compose_config(["task=repeat_copy", "train.curriculum=null"])
    assert off.train.curriculum is None
    validate(off)


def test_dynamic_ngrams_never_counts_as_solved_by_bit_errors() -> None:
    cfg = compose_config(["task=dynamic_ngrams"])
    assert OmegaConf.to_container(cfg.task) == {"name": "dynamic_ngrams", "length": 200}
    assert cfg.train.solved_bit_errors is None
    assert build_task(cfg).max_steps == 199


def test_dynamic_ngrams_applies_its_own_recipe() -> None:
    """Batch 64, Adam 1e-3, a learned memory start, the rollback at 1.3x and a plateau
    patience of 40 evaluations down to 1e-4, compiled one step per graph, with a budget of
    3,000,000 sequences for a 3-hour run (docs/training.md, "Batch 64")."""
    cfg = compose_config(["task=dynamic_ngrams"])
    t = cfg.train
    assert (t.batch_size, cfg.optim.lr, cfg.memory.init, t.rollback_factor, t.lr_decay_patience,
            t.min_lr, str(t.compile).lower(), t.compile_steps, t.max_sequences) == (
        64, 1e-3, "learned", 1.3, 40, 1e-4, "true", 1, 3_000_000)
    validate(cfg)


@pytest.mark.parametrize("order", [0, 1])
def test_command_line_wins_over_task_defaults(order) -> None:
    overrides = ["task=associative_recall", "controller=lstm", "train.solved_bit_errors=0.2",
                 "optim.lr=0.01"]
    if order:
        overrides.reverse()
    cfg = compose_config([*overrides, "task.max_items=4", "controller.size=7"])
    assert cfg.task.name == "associative_recall"
    assert cfg.controller.kind == "lstm" and cfg.controller.size == 7
    assert cfg.train.solved_bit_errors == 0.2 and cfg.optim.lr == 0.01
    assert cfg.task.max_items == 4 and cfg.task.min_items == 2


# What the paper sets (docs/paper.md): heads, controller (NTM) or layer size (LSTM
# baseline), learning rate, the paper's parameter count (documentation: its layouts are
# unpublished; ntm.models.ntm.parameter_count and ntm.models.lstm explain ours); RMSProp with
# momentum 0.9, one sequence a step, element-wise clipping to 10, 128 x 20 memory everywhere.
PAPER_TASKS = ("copy", "repeat_copy", "associative_recall", "dynamic_ngrams", "priority_sort")
PAPER = {  # experiment: (task, heads, controller kind, size, layers, lr, paper parameters)
    "paper_copy_ff": ("copy", 1, "feedforward", 100, 1, 1e-4, 17_162),
    "paper_copy_lstm": ("copy", 1, "lstm", 100, 1, 1e-4, 67_561),
    "paper_copy_baseline": ("copy", 0, "lstm", 256, 3, 3e-5, 1_352_969),
    "paper_repeat_copy_ff": ("repeat_copy", 1, "feedforward", 100, 1, 1e-4, 16_712),
    "paper_repeat_copy_lstm": ("repeat_copy", 1, "lstm", 100, 1, 1e-4, 66_111),
    "paper_repeat_copy_baseline": ("repeat_copy", 0, "lstm", 512, 3, 3e-5, 5_312_007),
    "paper_associative_recall_ff": ("associative_recall", 4, "feedforward", 256, 1, 1e-4,
                                    146_845),
    "paper_associative_recall_lstm": ("associative_recall", 1, "lstm", 100, 1, 1e-4, 70_330),
    "paper_associative_recall_baseline": ("associative_recall", 0, "lstm", 256, 3, 1e-4,
                                          1_344_518),
    "paper_dynamic_ngrams_ff": ("dynamic_ngrams", 1, "feedforward", 100, 1, 3e-5, 14_656),
    "paper_dynamic_ngrams_lstm": ("dynamic_ngrams", 1, "lstm", 100, 1, 3e-5, 61_749),
    "paper_dynamic_ngrams_baseline": ("dynamic_ngrams", 0, "lstm", 128, 3, 1e-4, 331_905),
    "paper_priority_sort_ff": ("priority_sort", 8, "feedforward", 512, 1, 3e-5, 508_305),
    "paper_priority_sort_lstm": ("priority_sort", 5, "lstm", 100, 2, 3e-5, 269_038),
    "paper_priority_sort_baseline": ("priority_sort", 0, "lstm", 128, 3, 3e-5, 384_424),
}


def test_every_experiment_is_checked() -> None:
    assert sorted(PAPER) == options("experiment")
    # Every task of the paper, each with NTM-feedforward, NTM-LSTM and the LSTM baseline.
    assert sorted(PAPER) == sorted(f"paper_{task}_{model}" for task in PAPER_TASKS
                                   for model in ("ff", "lstm", "baseline"))


@pytest.mark.parametrize("experiment", sorted(PAPER))
def test_experiment_sets_the_paper_settings(experiment) -> None:
    task, heads, controller, size, layers, lr, _paper_parameters = PAPER[experiment]
    cfg = compose_config([f"experiment={experiment}"])
    assert cfg.task.name == task
    if heads:  # an NTM
        assert cfg.model.kind == "ntm" and cfg.model.size is None
        assert cfg.model.read_heads == heads and cfg.model.write_heads == heads
        assert cfg.controller.kind == controller
        assert cfg.controller.size == size and cfg.controller.layers == layers
        assert cfg.memory.N == 128 and cfg.memory.M == 20 and cfg.memory.init == "learned"
        assert cfg.model.write_gate_bias is None  # the layer's own draw, whatever the task sets
    else:
        assert cfg.model.kind == "lstm"
        assert cfg.model.size == size and cfg.model.layers == layers
    assert cfg.optim.name == "rmsprop" and cfg.optim.lr == pytest.approx(lr)
    assert cfg.optim.momentum == pytest.approx(0.9) and cfg.optim.alpha == pytest.approx(0.95)
    assert cfg.train.batch_size == 1
    assert cfg.train.max_sequences == 2_000_000  # whatever budget the task sets
    assert cfg.train.clip_grad_value == 10.0 and cfg.train.clip_grad_norm is None
    assert cfg.train.loss == "per_sequence"  # the scale of the clipping and RMSProp's damping
    # No schedule or guard of this project's, whatever the task's own defaults set.
    assert (cfg.train.lr_decay_patience, cfg.train.lr_drop_bit_errors,
            cfg.train.rollback_factor, cfg.train.warmup_sequences, cfg.train.curriculum,
            cfg.train.sequences_after_solved, cfg.train.lr_cooldown_start) == (
                None, None, None, 0, None, 0, None)
    validate(cfg)
    assert build_model(cfg, build_task(cfg)) is not None


def test_command_line_wins_over_experiment() -> None:
    cfg = compose_config(["experiment=paper_associative_recall_ff", "controller.size=32",
                          "optim.lr=0.002", "controller=lstm", "train.batch_size=8"])
    assert cfg.task.name == "associative_recall" and cfg.model.read_heads == 4
    assert cfg.controller.kind == "lstm" and cfg.controller.size == 32
    assert cfg.optim.lr == 0.002 and cfg.train.batch_size == 8


@pytest.mark.parametrize("override", [
    "memory.N=abc", "memory.M=1.5", "controller.size=big", "train.batch_size=abc",
    "optim.lr=fast", "train.progress=maybe", "seed=x",
])
def test_wrong_type_fails_while_composing(override) -> None:
    with pytest.raises(ConfigCompositionException) as info:
        compose_config([override])
    assert override in str(info.value)


@pytest.mark.parametrize("override", ["memory.size=3", "train.epochs=3", "colour=red"])
def test_unknown_key_fails_while_composing(override) -> None:
    with pytest.raises(ConfigCompositionException):
        compose_config([override])


def config_error(overrides: list[str]) -> str:
    """The message of the ``ConfigError`` that ``overrides`` cause, from ``validate`` or
    ``build_task`` (in that order, as ``ntm.experiment.loop.train`` checks)."""
    cfg = compose_config(overrides)
    with pytest.raises(ConfigError) as info:
        validate(cfg)
        build_task(cfg)
    return str(info.value)


# (overrides, the setting the message must name)
BAD_VALUES = [
    (["memory.N=0"], "memory.N"),
    (["memory.N=-3"], "memory.N"),
    (["memory.M=-1"], "memory.M"),
    (["memory.M=0"], "memory.M"),
    (["controller.size=0"], "controller.size"),
    (["controller.layers=0"], "controller.layers"),
    (["train.batch_size=0"], "train.batch_size"),
    (["train.max_sequences=0"], "train.max_sequences"),
    (["train.eval_every=0"], "train.eval_every"),
    (["train.eval_size=0"], "train.eval_size"),
    (["train.eval_batch_size=-5"], "train.eval_batch_size"),
    (["train.max_minutes=0"], "train.max_minutes"),
    (["train.clip_grad_norm=0"], "train.clip_grad_norm"),
    (["train.clip_grad_value=-1"], "train.clip_grad_value"),
    (["train.threads=0"], "train.threads"),
    (["train.solved_bit_errors=-1"], "train.solved_bit_errors"),
    (["optim.lr=0"], "optim.lr"),
    (["optim.lr=-0.001"], "optim.lr"),
    (["optim.eps=0"], "optim.eps"),
    (["optim.momentum=1"], "optim.momentum"),
    (["optim.momentum=-0.5"], "optim.momentum"),
    (["optim.alpha=0"], "optim.alpha"),
    (["optim.alpha=1"], "optim.alpha"),
    (["model.clip=0"], "model.clip"),
    (["model.read_heads=-1"], "model.read_heads"),
    (["model.write_heads=-1"], "model.write_heads"),
    (["model.read_heads=0", "model.write_heads=0"], "model.read_heads"),
    (["model.shift_radius=-1"], "model.shift_radius"),
    (["model.shift_radius=70"], "model.shift_radius"),
    (["memory.N=8", "model.shift_radius=4"], "model.shift_radius"),
    (["model.kind=gru"], "model.kind"),
    (["model.kind=lstm"], "model.size"),  # the baseline needs its size (model=lstm sets it)
    (["model=lstm", "model.size=0"], "model.size"),
    (["model=lstm", "model.layers=0"], "model.layers"),
    (["model.size=64"], "model.size"),  # the NTM is sized by controller.*
    (["model.layers=2"], "model.layers"),
    (["controller.kind=gru"], "controller.kind"),
    (["memory.init=zeros"], "memory.init"),
    (["memory.initial_weighting=uniform"], "memory.initial_weighting"),
    (["model.similarity=euclid"], "model.similarity"),
    (["model.kind=transformer"], "model.size"),  # model=transformer sets its sizes
    (["model=transformer", "model.heads=0"], "model.heads"),
    (["model=transformer", "model.ffn_size=0"], "model.ffn_size"),
    (["model=transformer", "model.positions=null"], "model.positions"),
    (["model=transformer", "model.positions=rope"], "model.positions"),
    (["model=transformer", "model.size=30"], "model.size"),  # not a multiple of model.heads
    (["model.heads=4"], "model.heads"),  # the NTM has no attention heads
    (["model=lstm", "model.positions=alibi"], "model.positions"),
    (["train.warmup_sequences=-1"], "train.warmup_sequences"),
    (["train.ema_decay=1"], "train.ema_decay"),
    (["train.ema_decay=0"], "train.ema_decay"),
    (["train.ema_start=-1"], "train.ema_start"),
    (["train.lr_cooldown_start=-1"], "train.lr_cooldown_start"),
    (["train.lr_cooldown_start=10", "train.lr_cooldown_sequences=-1"],
     "train.lr_cooldown_sequences"),
    (["train.lr_cooldown_factor=0"], "train.lr_cooldown_factor"),
    (["train.lr_cooldown_factor=1.5"], "train.lr_cooldown_factor"),
    (["train.sequences_after_solved=-8"], "train.sequences_after_solved"),
    (["train.lr_drop_bit_errors=-1"], "train.lr_drop_bit_errors"),
    (["train.loss=sum"], "train.loss"),
    (["train.rollback_factor=0.5"], "train.rollback_factor"),
    (["train.rollback_min_bit_errors=0"], "train.rollback_min_bit_errors"),
    (["train.rollback_lr_factor=0"], "train.rollback_lr_factor"),
    (["train.rollback_lr_factor=1.5"], "train.rollback_lr_factor"),
    (["train.lr_drop_factor=1.5"], "train.lr_drop_factor"),
    (["train.lr_drop_factor=0"], "train.lr_drop_factor"),
    (["train.max_sequences=100", "train.warmup_sequences=101"], "train.warmup_sequences"),
    (["optim.name=sgd"], "optim.name"),
    (["device=tpu"], "device"),
    (["task.name=nonexistent"], "task.name"),
    (["task.min_length=30"], "task.min_length"),
    (["task.min_length=0"], "task.min_length"),
    (["task.max_length=0"], "task.max_length"),
    (["task.max_length=abc"], "task.max_length"),
    (["task.width=0"], "task.width"),
    (["+task.items=3"], "task.items"),
    (["task=associative_recall", "task.min_items=1"], "task.min_items"),
    (["task=associative_recall", "task.min_items=5", "task.max_items=3"], "task.min_items"),
    (["task=associative_recall", "task.item_length=0"], "task.item_length"),
    (["task=associative_recall", "+task.max_length=3"], "task.max_length"),
    # Found by fuzzing (tests/test_fuzz.py): each was accepted, or a traceback, before.
    (["optim.lr=nan"], "optim.lr"),
    (["optim.lr=inf"], "optim.lr"),
    (["optim.lr=2"], "optim.lr"),
    (["optim.eps=inf"], "optim.eps"),
    (["train.min_lr=nan"], "train.min_lr"),
    (["train.max_minutes=nan"], "train.max_minutes"),
    (["train.clip_grad_norm=nan"], "train.clip_grad_norm"),
    (["train.clip_grad_value=1e300"], "train.clip_grad_value"),
    (["model.clip=nan"], "model.clip"),
    (["model.clip=1e300"], "model.clip"),
    (["model.write_gate_bias=nan"], "model.write_gate_bias"),
    (["model.write_gate_bias=-1e9"], "model.write_gate_bias"),
    (["model=lstm", "model.write_gate_bias=nan"], "model.write_gate_bias"),  # even unread
    (["train.solved_bit_errors=nan"], "train.solved_bit_errors"),
    (["memory.N=100000"], "memory.N"),
    (["memory.M=100000"], "memory.M"),
    (["controller.size=100000"], "controller.size"),
    (["controller.layers=1000"], "controller.layers"),
    (["model.read_heads=1000"], "model.read_heads"),
    (["train.batch_size=1000000000"], "train.batch_size"),
    (["train.eval_size=1000000000"], "train.eval_size"),
    (["train.eval_batch_size=1000000000"], "train.eval_batch_size"),
    (["train.threads=100000"], "train.threads"),  # OpenMP crashed the process
    (["+memory.size=3"], "memory.size"),
    (["+colour=red"], "colour"),
    (["~seed"], "seed"),
    (["~device"], "device"),
    (["memory.N=${oc.env:NTM_TEST_UNSET}"], "memory.N"),
    (["task.name=[copy]"], "task.name"),
    (["task.max_length=1000000000"], "task.max_length"),
    (["task.width=100000"], "task.width"),
    (["task=associative_recall", "task.max_items=1000000000"], "task.max_items"),
    (["train.curriculum=3"], "train.curriculum"),
    (["train.curriculum={}"], "train.curriculum"),
    (["train.curriculum={colour:2}"], "train.curriculum.colour"),
    (["train.curriculum={width:0}"], "train.curriculum.width"),
    (["train.curriculum={max_length:30}"], "train.curriculum.max_length"),
    (["train.curriculum={max_length:two}"], "train.curriculum.max_length"),
    (["train.curriculum={max_length:true}"], "train.curriculum.max_length"),
    (["task.min_length=3", "train.curriculum={max_length:2}"], "train.curriculum"),
    (["train.curriculum={max_length:2}", "train.curriculum_bit_errors=-1"],
     "train.curriculum_bit_errors"),
    (["train.curriculum={max_length:2}", "train.curriculum_step=0"], "train.curriculum_step"),
    (["train.curriculum={width:4}"], "train.curriculum"),  # the model's shape is fixed
]


@pytest.mark.parametrize(
    "overrides, setting", BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES]
)
def test_bad_value_is_one_sentence_naming_the_setting(overrides, setting) -> None:
    assert_one_sentence(config_error(overrides), setting)


@pytest.mark.parametrize("overrides, message", [
    (["model.shift_radius=70"],  # copy's memory of 21 locations
     "model.shift_radius is 70; it must be at most 10 = (memory.N - 1) / 2."),
    (["task.max_length=30"],  # copy's 21 locations cannot hold 30 vectors
     "memory.N is 21; copy needs more locations than task.max_length = 30 (one per vector), "
     "so set memory.N to at least 31."),
    (["model.read_heads=0", "model.write_heads=0"],
     "model.read_heads and model.write_heads are both 0; at least one of them must be 1 or "
     "more."),
    (["controller.kind=gru"], "controller.kind is 'gru'; allowed values are lstm, feedforward."),
    (["memory.init=zeros"],
     "memory.init is 'zeros'; allowed values are constant, learned, random."),
])
def test_the_models_own_rules_in_the_words_of_the_config(overrides, message) -> None:
    """``NTMConfig``, ``make_controller`` and ``initial_memory`` own these rules; ``validate``
    names the settings they come from."""
    with pytest.raises(ConfigError) as info:
        validate(compose_config(overrides))
    assert str(info.value) == message


def test_the_lstm_baseline_ignores_the_groups_it_does_not_read() -> None:
    """The NTM's rules do not apply to ``model=lstm`` (it has no shift or memory)."""
    validate(compose_config(["model=lstm", "memory.N=2", "model.shift_radius=5"]))


def test_cuda_without_a_gpu_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert_one_sentence(config_error(["device=cuda"]), "device")


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_seed_out_of_torch_range_is_a_config_error(seed) -> None:
    config_error([f"seed={seed}"])


@pytest.mark.parametrize("overrides", [
    ["memory.N=8", "model.shift_radius=3", "task.max_length=7"],  # 2 * 3 + 1 = 7 fit in 8
    ["model.read_heads=0"],
    ["model.write_heads=0"],
    ["model.shift_radius=0"],
    ["model.clip=null", "train.clip_grad_norm=null", "train.solved_bit_errors=null"],
    ["train.solved_bit_errors=0", "optim.momentum=0", "train.max_minutes=0.5"],
    ["task.min_length=20"],
    ["device=cpu"],
    ["memory.init=learned"],
    ["memory.init=random"],
    ["memory.initial_weighting=learned"],
    ["train.warmup_sequences=1000"],
    ["train.lr_cooldown_start=0", "train.lr_cooldown_factor=1"],
    ["memory.N=16384", "memory.M=1", "optim.lr=1", "train.threads=1024"],  # at the limits
    ["model.clip=1000000", "train.max_sequences=1000000000000000000000"],
])
def test_edge_values_are_accepted(overrides) -> None:
    build_and_run(compose_config([*overrides, "controller.size=8"]))


# --- From the command line: no traceback, a message that names the setting. ---

COMMAND_LINE_ERRORS = {
    "model.shift_radius=70": "model.shift_radius",
    "optim.lr=0": "optim.lr",
    "task=nonexistent": "task",  # reported by Hydra: no such option in the group
    "controller.kind=gru": "controller.kind",
    "task.min_length=30": "task.min_length",
    "memory.N=abc": "memory.N",  # reported by Hydra: wrong type
    "memory.N=100000000": "memory.N",
    "trian.batch_size=3": "trian.batch_size",  # a mistyped key: named with the closest one
    "train.batchsize=3": "train.batchsize",
    "train.curriculum.max_length=2": "train.curriculum.max_length",  # the mapping is one value
}

#: The mistyped keys above and the setting each message offers instead.
CLOSEST = {"trian.batch_size=3": "train.batch_size", "train.batchsize=3": "train.batch_size"}


@pytest.fixture(scope="module")
def command_line_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Runs ``python -m ntm.train`` once per bad override, all at the same time."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    started = {}
    for override in COMMAND_LINE_ERRORS:
        cwd = tmp_path_factory.mktemp("cli")
        command = [sys.executable, "-m", "ntm.train", override, f"hydra.run.dir={cwd / 'run'}",
                   "train.progress=false"]
        started[override] = (
            subprocess.Popen(command, cwd=cwd, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE),
            cwd,
        )
    runs = {}
    for override, (process, cwd) in started.items():
        stdout, stderr = process.communicate(timeout=120)
        runs[override] = (
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), cwd
        )
    return runs


@pytest.mark.parametrize("override", list(COMMAND_LINE_ERRORS))
def test_command_line_error_is_clear(command_line_runs, override) -> None:
    run, cwd = command_line_runs[override]
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "Traceback" not in output, output
    assert COMMAND_LINE_ERRORS[override] in run.stderr, output
    assert not (cwd / "run" / "checkpoint.pt").exists()
    assert not (cwd / "runs").exists()  # nothing written outside hydra.run.dir


@pytest.mark.parametrize("override", [o for o in COMMAND_LINE_ERRORS if "." in o.split("=")[0]
                                      and "abc" not in o])
def test_command_line_config_error_is_one_line(command_line_runs, override) -> None:
    run, _ = command_line_runs[override]
    assert run.returncode == 2
    message = run.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, run.stderr
    assert_one_sentence(message.removeprefix("error: "), COMMAND_LINE_ERRORS[override])


@pytest.mark.parametrize("override", list(CLOSEST))
def test_a_mistyped_key_is_named_with_the_closest_setting_first(command_line_runs,
                                                                override) -> None:
    run, _ = command_line_runs[override]
    assert run.returncode == 2, run.stderr
    assert f"the closest setting is {CLOSEST[override]}." in run.stderr, run.stderr
    assert "append" not in run.stderr, run.stderr  # not Hydra's "+key" hint


@pytest.mark.parametrize("override", [o for o, run in COMMAND_LINE_ERRORS.items()
                                      if "abc" not in o and "nonexistent" not in o])
def test_a_refused_setting_leaves_no_run_directory(command_line_runs, override) -> None:
    run, cwd = command_line_runs[override]
    assert run.returncode == 2, run.stderr
    assert not (cwd / "run").exists(), sorted(p.name for p in (cwd / "run").iterdir())


@pytest.mark.parametrize("overrides, key, closest", [
    (["memroy.N=3"], "memroy.N", "memory.N"),
    (["+train.batchsize=3"], "train.batchsize", "train.batch_size"),
    (["task=associative_recall", "task.max_item=4"], "task.max_item", "task.max_items"),
    (["trian.batch_size=3"], "trian.batch_size", "train.batch_size"),
])
def test_check_command_line_names_the_closest_setting(overrides, key, closest) -> None:
    with pytest.raises(ConfigError) as info:
        check_command_line(overrides, CONF_DIR)
    assert_one_sentence(str(info.value), key)
    assert str(info.value).endswith(f"the closest setting is {closest}.")


def test_a_key_with_no_close_setting_lists_its_section() -> None:
    """``memory.size`` is not close to ``memory.N`` for sharing ``memory.``."""
    with pytest.raises(ConfigError) as info:
        check_command_line(["memory.size=3"], CONF_DIR)
    assert_one_sentence(str(info.value), "memory.size")
    assert str(info.value).endswith("the settings of memory are N, M, init, initial_weighting.")


def test_check_command_line_checks_what_train_would() -> None:
    with pytest.raises(ConfigError) as info:
        check_command_line(["memory.N=100000000"], CONF_DIR)
    assert_one_sentence(str(info.value), "memory.N")
    check_command_line(["memory.N=64", "hydra.run.dir=/tmp/x"], CONF_DIR)  # accepted
    check_command_line(["-m", "seed=0,1", "trian.x=1"], CONF_DIR)  # sweeps are Hydra's


@pytest.mark.parametrize("override, setting", [
    ("controller=null", "controller"), ("task=0", "task"), ("experiment=true", "experiment"),
    ("optim.eps=1" + "0" * 400, "optim.eps"),
])
def test_overrides_hydra_would_answer_with_a_traceback_are_refused_first(override,
                                                                         setting) -> None:
    with pytest.raises(ConfigError) as info:
        check_overrides([override], CONF_DIR)
    assert_one_sentence(str(info.value), setting)


def test_other_overrides_are_left_to_hydra() -> None:
    check_overrides(["-m", "--cfg", "job", "seed=0,1,2", "task=copy", "~experiment",
                     "controller=lstm,feedforward", "memory.N=abc", "memory.N=[", "+a.b=1"],
                    CONF_DIR)


@pytest.mark.parametrize("optim", [["optim=adam"], ["optim=adam", "optim.amsgrad=true"],
                                   ["experiment=paper_copy_ff"]])
def test_the_optimizer_updates_all_parameters_at_once_bit_for_bit_as_one_by_one(optim) -> None:
    """``build_optimizer`` asks for torch's ``foreach`` implementation (fewer calls); over ten
    steps of copy's model it leaves the same parameters, bit for bit, as the loop over
    parameters, so no run's path depends on it (Adam, AMSGrad, Graves' RMSProp)."""
    cfg = compose_config([*optim, "train.compile=false"])
    task = build_task(cfg)
    torch.manual_seed(0)
    start = build_model(cfg, task).state_dict()
    finals = []
    for foreach in (True, False):
        model = build_model(cfg, task)
        model.load_state_dict(start)
        optimizer = build_optimizer(cfg, model.parameters())
        assert all(group["foreach"] for group in optimizer.param_groups)
        for group in optimizer.param_groups:
            group["foreach"] = foreach
        generator = torch.Generator().manual_seed(1)
        for _ in range(10):
            train_step(model, optimizer, task.sample_batch(generator, 4), clip_grad_norm=1.0)
        finals.append([p.detach().clone() for p in model.parameters()])
    for mine, theirs in zip(*finals, strict=True):
        assert torch.equal(mine, theirs)


def test_optim_amsgrad_builds_adam_that_divides_by_the_largest_second_moment() -> None:
    """``optim.amsgrad=true``: Adam keeps, per parameter, the largest squared-gradient average
    so far and divides by it, so a moderate gradient after a quiet spell takes a smaller step than
    plain Adam's (whose average has decayed: beta2 0.5, and beta1 0 so momentum hides nothing)."""
    last_steps = {}
    for amsgrad in (False, True):
        cfg = compose_config(["optim=adam", f"optim.amsgrad={amsgrad}", "optim.beta1=0",
                              "optim.beta2=0.5"])
        weight = torch.nn.Parameter(torch.zeros(2))
        optimizer = build_optimizer(cfg, [weight])
        assert optimizer.param_groups[0]["amsgrad"] is amsgrad
        for gradient in [1.0, 1.0, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 0.1]:  # loud, quiet, moderate
            before = weight.detach().clone()
            weight.grad = torch.full_like(weight, gradient)
            optimizer.step()
        last_steps[amsgrad] = float((before - weight.detach()).abs().max())
        assert ("max_exp_avg_sq" in optimizer.state[weight]) is amsgrad
    assert last_steps[True] < 0.5 * last_steps[False]
