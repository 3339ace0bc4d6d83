"""The command-line modules end an error a user can fix in one line, with exit status 2."""

from __future__ import annotations

import pytest

from ntm.experiment.errors import exit_with


def test_exit_with_prints_one_line_and_exits_2(capsys) -> None:
    message = "memory.N is 0; it must be an integer from 1 to 16384."
    with pytest.raises(SystemExit) as info:
        exit_with(ValueError(message))
    assert info.value.code == 2
    assert capsys.readouterr().err == f"error: {message}\n"
