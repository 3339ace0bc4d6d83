"""Writing into the run directory when the filesystem says no: a full disk, a quota, an I/O
error, a network filesystem that went away. Each becomes a ``WriteError`` in one sentence
that names the file and the reason; the run stops (``ntm.train`` exits with status 2) with its
last checkpoint intact, and the same command resumes it once the cause is fixed.

``write_atomically`` writes whole files (the checkpoint, ``config.yaml``, a rewritten
``metrics.csv``) through a temporary file in the same folder and a rename, and removes the
temporary file when the write fails; ``raise_on_log_errors`` makes a log file that cannot be
written stop the run the same way (``logging`` would print a traceback per record and go on).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["WriteError", "raise_on_log_errors", "temporary_path", "write_atomically",
           "write_error"]


class WriteError(RuntimeError):
    """A file of the run directory could not be written; the message says which and why."""


def write_error(path: str | Path, error: OSError) -> WriteError:
    """The ``WriteError`` for ``error``, met while writing ``path``, in one sentence."""
    path = Path(path)
    if not path.parent.is_dir():  # removed, or its network filesystem unmounted
        return WriteError(
            f"run directory {path.parent} disappeared while {path.name} was being written "
            f"({error.strerror or error}), so the run stops; bring the folder back (or its "
            "filesystem) and run the same command to resume from its last checkpoint.")
    advice = "free some space" if error.errno in (errno.ENOSPC, errno.EDQUOT) else \
        "fix the filesystem"
    return WriteError(f"could not write {path} ({error.strerror or error}), so the run stops "
                      f"with its last checkpoint intact; {advice} and run the same command to "
                      "resume.")


def temporary_path(path: str | Path) -> Path:
    """Where ``write_atomically`` writes ``path`` before renaming it: ``.<name>.tmp`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


def write_atomically(path: str | Path, write: Callable[[IO[Any]], None], binary: bool = False,
                     ) -> None:
    """Calls ``write`` on a temporary file beside ``path``, flushes it to the disk and renames
    it over ``path``: a reader (or a resume after a kill) sees the old file or the new one,
    never half of one. A failure removes the temporary file; an ``OSError`` becomes a
    ``WriteError``."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        text = {} if binary else {"newline": "", "encoding": "utf-8"}
        with open(tmp, "wb" if binary else "w", **text) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # an interrupt too leaves no temporary file
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # the folder itself is gone: nothing left to clean
            pass
        if isinstance(e, OSError):
            raise write_error(path, e) from None
        raise


def raise_on_log_errors(logger: logging.Logger | None = None) -> None:
    """Makes every file handler of ``logger`` (the root logger by default) raise a
    ``WriteError`` from the logging call whose record it could not write, once: the handler is
    then removed, so that the messages that follow still reach the console."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handleError = _raiser(logger, handler)  # type: ignore[method-assign]


def _raiser(logger: logging.Logger, handler: logging.FileHandler,
            ) -> Callable[[logging.LogRecord], None]:
    default = handler.handleError

    def handle_error(record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):  # a formatting bug, not the disk: logging's own way
            default(record)
            return
        logger.removeHandler(handler)
        try:
            handler.close()
        except OSError:
            pass
        raise write_error(handler.baseFilename, error) from None

    return handle_error

