"""The models, by the name configs give them (``model.kind``).

Adding a model is one module here (with a ``from_config(cfg, input_size, output_size)``),
one config file ``conf/model/<name>.yaml`` and one line in ``MODELS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ntm.models import lstm, transformer
from ntm.models import ntm as ntm_model

__all__ = ["ModelEntry", "MODELS", "MODEL_GROUPS"]


@dataclass(frozen=True)
class ModelEntry:
    """How a run's config becomes a model, and what of the config the model uses."""

    #: (run config, input width, output width) -> the model, initialised from torch's RNG.
    build: Callable[[Any, int, int], nn.Module]
    #: The config groups the model reads; a checkpoint is compared on these groups only.
    groups: tuple[str, ...]
    #: The constructor's rules on a run's config without building it (raises ValueError).
    check: Callable[[Any], None] | None = None
    #: The names ``check``'s errors use -> the settings they come from.
    settings: Mapping[str, str] = field(default_factory=dict)
    #: ``build`` also takes ``max_steps=``, the task's longest sequence (learned positions).
    takes_max_steps: bool = False
    #: Settings of its groups it does not read (another model's, which a task config may set:
    #: copy's ``model.write_gate_bias``); a checkpoint is not compared on them.
    ignores: tuple[str, ...] = ()


#: The NTM's own settings of the model group, which the baselines do not read.
_NTM_ONLY = tuple(key for key in ntm_model.SETTINGS.values() if key.startswith("model."))

MODELS: dict[str, ModelEntry] = {
    "ntm": ModelEntry(ntm_model.from_config, ("model", "controller", "memory"),
                      ntm_model.check_config, ntm_model.SETTINGS),
    "lstm": ModelEntry(lstm.from_config, ("model",), ignores=_NTM_ONLY),
    "transformer": ModelEntry(transformer.from_config, ("model",), transformer.check_config,
                              transformer.SETTINGS, takes_max_steps=True, ignores=_NTM_ONLY),
}

#: Every group some model reads: a model that does not read one ignores its settings.
MODEL_GROUPS = tuple(dict.fromkeys(group for entry in MODELS.values() for group in entry.groups))
