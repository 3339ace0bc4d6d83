"""How a command-line module ends on an error a user can fix: one line, exit status 2."""

from __future__ import annotations

import sys
from typing import NoReturn

__all__ = ["exit_with"]


def exit_with(error: BaseException | str) -> NoReturn:
    """Prints ``error: <message>`` to stderr and exits with status 2 (a usage error)."""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
