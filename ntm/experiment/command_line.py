"""What ``python -m ntm.train`` checks before Hydra starts, so that a bad setting is one line
and leaves nothing behind: Hydra makes the run directory (and writes its log and record there)
before the training function runs, and answers a mistyped key with "append with +key", which
leads to the project's own message only on a second try.

``check_command_line`` composes the config from the same overrides as Hydra will, and checks
it as ``train`` would (``validate``, the task's own rules); a key that is not a setting is
named with the closest one that is.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import DictConfig, OmegaConf

from ntm.experiment.build import build_task
from ntm.experiment.config import ConfigError, check_overrides, register_configs, validate

__all__ = ["check_command_line", "closest_setting", "compose_config", "setting_names"]


def setting_names(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every setting of ``cfg`` as a dotted key (``train.batch_size``), sections included."""
    names = []
    for key, value in cfg.items_ex(resolve=False) if isinstance(cfg, DictConfig) else ():
        name = f"{prefix}{key}"
        names.append(name)
        if isinstance(value, DictConfig):
            names.extend(setting_names(value, f"{name}."))
    return names


def closest_setting(key: str, cfg: DictConfig) -> str | None:
    """The setting of ``cfg`` closest to ``key`` (difflib), or None when none is close: where
    ``key``'s section exists (``memory.size``), among that section's settings only, so that a
    shared prefix does not make ``memory.N`` look close; else among every dotted name."""
    section, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, section) if section else cfg
    if isinstance(node, DictConfig):
        found = difflib.get_close_matches(name, [str(k) for k in node], n=1, cutoff=0.6)
        return f"{section}.{found[0]}" if found and section else (found[0] if found else None)
    found = difflib.get_close_matches(key, setting_names(cfg), n=1, cutoff=0.6)
    return found[0] if found else None


def compose_config(overrides: Sequence[str], conf_dir: str | Path) -> DictConfig:
    """``conf_dir``'s ``config.yaml`` composed with ``overrides``, as ``python -m ntm.train``
    sees it (outside a Hydra app: for checks before it starts and for scripts)."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def _single_run(overrides: Sequence[str]) -> bool:
    """No flags (``-m``, ``--cfg``, ...) and no sweeps: what a single run would compose."""
    if any(item.startswith("-") for item in overrides):
        return False
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(list(overrides))
    except (HydraException, ValueError):
        return False  # Hydra reports its own syntax errors
    return not any(o.is_sweep_override() for o in parsed)


def check_command_line(overrides: Sequence[str], conf_dir: str | Path) -> None:
    """Checks the overrides of one run before Hydra starts; ``ConfigError`` in one sentence.

    A key that is not a setting (``trian.batch_size=3``) is named with the closest setting;
    the composed config is checked by ``validate`` and the task's constructor. Sweeps, flags
    and errors only Hydra can word (a wrong type, an unknown option) are left to Hydra.
    """
    conf_dir = Path(conf_dir).resolve()
    check_overrides(overrides, conf_dir)
    if not _single_run(overrides):
        return
    try:
        cfg = compose_config(overrides, conf_dir)
    except ConfigCompositionException as e:
        match = re.match(r"Could not override '([^']+)'", str(e))
        if match is None:
            return  # Hydra's to report (an unknown option, a wrong type)
        key = match[1]
        if key.startswith("train.curriculum."):
            name = key.removeprefix("train.curriculum.")
            raise ConfigError(f"{key} cannot be set alone; give the whole mapping, like "
                              f"'train.curriculum={{{name}:2}}'.") from None
        rest = [item for item in overrides if item.partition("=")[0].lstrip("+~") != key]
        try:
            base = compose_config(rest, conf_dir)
        except HydraException:
            return
        close = closest_setting(key, base)
        section = key.rpartition(".")[0]
        node = OmegaConf.select(base, section) if section else base
        if close:
            hint = f"the closest setting is {close}"
        elif section and isinstance(node, DictConfig):
            hint = f"the settings of {section} are {', '.join(str(k) for k in node)}"
        else:
            hint = f"the settings at the top level are {', '.join(base)}"
        raise ConfigError(f"{key} is not a setting; {hint}.") from None
    finally:
        GlobalHydra.instance().clear()
    validate(cfg)
    build_task(cfg)
