"""Bad-input fuzzing: overrides for every numeric, boolean and choice setting of every config
group (zero, negative, huge, NaN and infinities, wrong types, unknown names and keys,
interpolations that do not resolve), alone and in pairs. Each must either train a tiny run
correctly or be refused before any work: by ``validate`` or the task with one sentence naming
the setting (``error: ...`` and exit status 2 on the command line), or by Hydra while
composing with its own short message and no traceback (exit status 1).

Most of it runs in process (Hydra's compose API, then ``ntm.experiment.loop.train``); a
handful of inputs go through the real command line. The longer runs are marked ``slow``.
"""

from __future__ import annotations

import inspect
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from conftest import CONF_DIR, TINY, assert_one_sentence, compose_config, torch_isolated
from hydra.errors import CompactHydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntm.experiment import checkpoint
from ntm.experiment.config import Config, ConfigError, check_overrides, validate
from ntm.experiment.loop import train
from tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
BASE = [*TINY, "train.eval_every=1", "train.max_sequences=8"]  # two steps, two evaluations
RECALL_BASE = [item.replace("task.max_length", "task.max_items") for item in BASE]

#: Every leaf setting of the schema but the task's, by kind.
SECTIONS = [group for group in fields(Config) if group.name != "task" and is_dataclass(
    group.default_factory)]
SCHEMA = {f"{group.name}.{f.name}": f.type for group in SECTIONS
          for f in fields(group.default_factory)} | {"seed": "int", "device": "str"}
CHOICES = [key for key, kind in SCHEMA.items() if kind == "str"]
BOOLEANS = [key for key, kind in SCHEMA.items() if kind == "bool"]
NUMBERS = [key for key in SCHEMA if key not in CHOICES and key not in BOOLEANS]
#: Every task's settings, each with the task it belongs to.
TASK_SETTINGS = [(name, param) for name, cls in sorted(TASKS.items())
                 for param in list(inspect.signature(cls).parameters)]
GROUPS = {group: sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
          for group in ("task", "model", "controller", "memory", "optim", "experiment")}

NUMBER_VALUES = ["0", "-1", "1", "2", "3", "1.5", "-0.5", "1e-300", "1e300", "nan", "inf",
                 "-inf", "2147483648", "9223372036854775808", "-9223372036854775809",
                 "1" + "0" * 30, "1" + "0" * 400, "abc", "''", "null", "true", "[1,2]",
                 "{a: 1}", "${seed}", "${nope}", "${oc.env:NTM_FUZZ_UNSET}"]
NAME_VALUES = ["''", "null", "0", "true", "gru", "NTM", "torch.nn.LSTM", "os.system", "../config",
               "${nope}", "[lstm]"]
BOOLEAN_VALUES = ["true", "false", "2", "maybe", "''", "null", "nan", "[true]"]
UNKNOWN_KEYS = ["memory.size", "train.epochs", "model.hidden", "colour", "optim.momentum2",
                "task.items"]

override = st.one_of(
    st.tuples(st.sampled_from(NUMBERS), st.sampled_from(NUMBER_VALUES))
    .map(lambda kv: [f"{kv[0]}={kv[1]}"]),
    st.tuples(st.sampled_from(TASK_SETTINGS), st.sampled_from(NUMBER_VALUES))
    .map(lambda tv: [f"task={tv[0][0]}", f"task.{tv[0][1]}={tv[1]}"]),
    st.tuples(st.sampled_from([*CHOICES, "task.name"]),
              st.sampled_from(NAME_VALUES + ["copy", "lstm", "feedforward", "learned", "rmsprop",
                                             "cpu", "auto", "cuda"]))
    .map(lambda kv: [f"{kv[0]}={kv[1]}"]),
    st.tuples(st.sampled_from(BOOLEANS), st.sampled_from(BOOLEAN_VALUES))
    .map(lambda kv: [f"{kv[0]}={kv[1]}"]),
    st.tuples(st.sampled_from(sorted(GROUPS)), st.sampled_from(NAME_VALUES + ["nonexistent"]))
    .map(lambda kv: [f"{kv[0]}={kv[1]}"]),
    st.tuples(st.sampled_from(sorted(GROUPS)), st.integers(0, 9))
    .map(lambda kv: [f"{kv[0]}={GROUPS[kv[0]][kv[1] % len(GROUPS[kv[0]])]}"]),
    st.tuples(st.sampled_from(["", "+", "++", "~"]), st.sampled_from(UNKNOWN_KEYS + NUMBERS[:6]),
              st.sampled_from(["3", "abc", "null"]))
    .map(lambda pkv: [f"{pkv[0]}{pkv[1]}" + ("" if pkv[0] == "~" else f"={pkv[2]}")]),
)
EXAMPLES = st.lists(override, min_size=1, max_size=2).map(lambda parts: sum(parts, []))
PAIRS = st.lists(override, min_size=2, max_size=2).map(lambda parts: sum(parts, []))

#: Every setting with every value of its kind, one at a time (the slow, exhaustive sweep).
SINGLES = (
    [[f"{key}={value}"] for key in NUMBERS for value in NUMBER_VALUES]
    + [[f"task={task}", f"task.{param}={value}"] for task, param in TASK_SETTINGS
       for value in NUMBER_VALUES]
    + [[f"{key}={value}"] for key in [*CHOICES, "task.name"]
       for value in [*NAME_VALUES, "copy", "lstm", "learned", "rmsprop", "cpu", "cuda"]]
    + [[f"{key}={value}"] for key in BOOLEANS for value in BOOLEAN_VALUES]
    + [[f"{group}={value}"] for group, names in GROUPS.items()
       for value in [*NAME_VALUES, "nonexistent", *names]]
    + [[f"{prefix}{key}" + ("" if prefix == "~" else "=3")] for prefix in ("", "+", "++", "~")
       for key in [*UNKNOWN_KEYS, *NUMBERS]]
)


def setting_of(item: str) -> str:
    return item.split("=")[0].lstrip("+~")


def names_a_setting(message: str, overrides: list[str]) -> bool:
    """The message names one of the settings overridden; for a choice of task or group
    (``task=...``, ``task.name=...``) any of that section's settings will do."""
    for item in overrides:
        key = setting_of(item)
        if key in message or (key.split(".")[0] in GROUPS and f"{key.split('.')[0]}." in message):
            return True
    return False


def assert_refused_well(error: ConfigError, overrides: list[str]) -> str:
    assert_one_sentence(str(error), "")
    assert names_a_setting(str(error), overrides), (overrides, str(error))
    return "refused"


def check(overrides: list[str]) -> str:
    """Runs one example as ``ntm.train.main`` would; returns how it ended: "hydra" (refused
    while composing), "refused" (a ConfigError in one sentence naming a setting) or "trained"
    (a correct tiny run). Anything else fails the test: it would be a traceback."""
    try:
        check_overrides(overrides, CONF_DIR)
    except ConfigError as e:
        return assert_refused_well(e, overrides)
    recall = any(item.startswith(("task=", "experiment=")) and "associative_recall" in item
                 for item in overrides)  # TINY's task.max_length is not a setting of recall
    try:
        cfg = compose_config([*(RECALL_BASE if recall else BASE), *overrides])
    except CompactHydraException:  # printed by Hydra as its message alone, no traceback
        return "hydra"
    with tempfile.TemporaryDirectory() as tmp, torch_isolated():
        try:
            validate(cfg)
            # A valid budget may still be long, and pictures are slow: keep the run tiny.
            cfg.train.max_sequences = min(cfg.train.max_sequences, 2 * cfg.train.batch_size)
            cfg.train.pictures = False
            cfg.train.compile = "false"  # compiling takes tens of seconds; see test_fast.py
            result = train(cfg, Path(tmp) / "run")
        except ConfigError as e:
            return assert_refused_well(e, overrides)
        assert 1 <= result.step <= 2 and math.isfinite(result.eval_cost), (overrides, result)
        state = checkpoint.load(Path(tmp) / "run" / checkpoint.CHECKPOINT_NAME)
        assert state["step"] == result.step
    return "trained"


def fuzz(examples, max_examples: int) -> dict[tuple[str, ...], str]:
    """Runs ``max_examples`` examples (deterministically); returns each distinct input and
    how it ended."""
    seen: dict[tuple[str, ...], str] = {}

    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(examples)
    def run(overrides: list[str]) -> None:
        seen[tuple(overrides)] = check(overrides)

    run()
    print(f"\n{len(seen)} distinct inputs: {dict(Counter(seen.values()))}")
    return seen


def test_every_setting_is_fuzzed() -> None:
    assert {"memory.N", "optim.lr", "train.threads", "train.max_bad_steps", "seed"} <= set(NUMBERS)
    assert set(CHOICES) == {"model.kind", "controller.kind", "memory.init",
                            "memory.initial_weighting", "optim.name", "device", "train.compile",
                            "model.similarity", "train.loss", "train.compile_wrapper"}
    assert {"model.size", "model.heads", "model.positions"} <= set(NUMBERS)  # may be null
    assert set(BOOLEANS) == {"optim.centered", "optim.amsgrad", "train.pictures",
                             "train.progress", "controller.layer_norm"}
    assert ("copy", "max_length") in TASK_SETTINGS
    assert ("associative_recall", "item_length") in TASK_SETTINGS


def test_bad_inputs_train_correctly_or_are_refused_in_one_sentence() -> None:
    outcomes = Counter(fuzz(EXAMPLES, max_examples=80).values())
    assert outcomes["hydra"] and outcomes["refused"] and outcomes["trained"], outcomes


@pytest.mark.slow
def test_every_setting_with_every_bad_value() -> None:
    """The exhaustive sweep: all failures are collected, so one run shows every gap."""
    outcomes, failures = Counter(), []
    for overrides in SINGLES:
        try:
            outcomes[check(overrides)] += 1
        except Exception as e:  # reported below, with its input
            failures.append(f"{overrides}: {type(e).__name__}: {str(e)[:200]}")
    print(f"\n{len(SINGLES)} inputs: {dict(outcomes)}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_pairs_of_bad_inputs() -> None:
    outcomes = Counter(fuzz(PAIRS, max_examples=300).values())
    assert outcomes["hydra"] and outcomes["refused"] and outcomes["trained"], outcomes


# --- Through the real command line. ---

#: override -> (exit status, what stderr must name). Status 2: our one-line ``error:``;
#: status 1: Hydra's own message (a few lines, no traceback) for a wrong type. An unknown key
#: is ours (``ntm.experiment.command_line``), with or without Hydra's ``+``.
COMMAND_LINE = {
    "optim.lr=nan": (2, "optim.lr"),
    "+memory.size=3": (2, "memory.size"),
    "memory.size=3": (2, "memory.size"),
}
SLOW_COMMAND_LINE = {
    "train.threads=100000": (2, "train.threads"),  # crashed torch (OpenMP) before
    "task.max_length=1000000000": (2, "task.max_length"),
    "memory.N=${oc.env:NTM_FUZZ_UNSET}": (2, "memory.N"),
    "optim.lr=1e400": (2, "optim.lr"),
    "+colour=red": (2, "colour"),
    "memory.N=1e3": (1, "memory.N"),
    "train.pictures=maybe": (1, "train.pictures"),
    "memory.N=[": (1, "input '['"),  # a parse error: Hydra names the token, not the key
    "task=../config": (1, "task"),
    "~train.batch_size": (1, "train.batch_size"),
}


def run_command_lines(cases: dict[str, tuple[int, str]], tmp_path: Path) -> None:
    """Starts ``python -m ntm.train`` once per case, all at once, and checks each."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(REPO)  # this checkout's ntm, wherever pytest runs
    started = {}
    for i, item in enumerate(cases):
        run_dir = tmp_path / f"run{i}"
        started[item] = subprocess.Popen(
            [sys.executable, "-m", "ntm.train", *BASE, f"hydra.run.dir={run_dir}", item],
            cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for i, (item, process) in enumerate(started.items()):
        stdout, stderr = process.communicate(timeout=120)
        status, setting = cases[item]
        assert process.returncode == status, (item, stderr)
        assert "Traceback" not in stdout + stderr, (item, stderr)
        assert setting in stderr, (item, stderr)
        lines = stderr.strip().splitlines()
        if status == 2:
            assert len(lines) == 1 and lines[0].startswith("error: "), (item, stderr)
            assert_one_sentence(lines[0].removeprefix("error: "), setting)
        else:  # Hydra's message, the search path when a config is missing, and its hint
            assert len(lines) <= 10, (item, stderr)
            assert lines[-1].startswith("Set the environment variable HYDRA_FULL_ERROR=1")
        assert not (tmp_path / f"run{i}" / "checkpoint.pt").exists()


def test_command_line_bad_inputs(tmp_path) -> None:
    run_command_lines(COMMAND_LINE, tmp_path)


@pytest.mark.slow
def test_more_command_line_bad_inputs(tmp_path) -> None:
    run_command_lines(SLOW_COMMAND_LINE, tmp_path)
