"""A run directory belongs to one process at a time.

``hold`` takes an exclusive ``fcntl.flock`` on ``.lock`` in the run directory and writes the
process id into it (for the message a second process gets). The operating system drops the
lock when its process ends, however it ends, so a run killed with SIGKILL leaves a ``.lock``
file that never blocks a resume. A second process that finds the lock taken refuses in one
sentence naming the owner (``RunDirInUse``) before it writes anything.

From the command line the lock is taken by ``RunDirCheck`` (``ntm/experiment/run_dir.py``),
before Hydra writes its own files into the run directory, and held until the process ends;
``train`` takes it too (a sweep's jobs, library callers), which, within one process, only
counts one more holder. Where ``fcntl`` does not exist (Windows) runs are not locked: two
processes on one run directory are then the user's to avoid.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs go unlocked
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunDirInUse", "acquire", "hold", "release"]

LOCK_NAME = ".lock"

#: The run directories this process holds: resolved path -> (file descriptor, holders).
_held: dict[Path, tuple[int, int]] = {}


class RunDirInUse(RuntimeError):
    """Another process holds the run directory; the message names it, in one sentence."""


def acquire(run_dir: str | Path) -> None:
    """Takes the run directory's lock for this process (once more, when it holds it already);
    ``RunDirInUse`` when another process holds it."""
    if fcntl is None:
        return
    key = Path(run_dir).resolve()
    if key in _held:
        fd, holders = _held[key]
        _held[key] = (fd, holders + 1)
        return
    fd = os.open(key / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _owner(fd)
        os.close(fd)
        who = f"process {owner}" if owner else "another process"
        raise RunDirInUse(f"run directory {run_dir} is in use by {who} (another ntm.train on "
                          "it); wait for that process to end, or choose another "
                          "hydra.run.dir.") from None
    except BaseException:
        os.close(fd)
        raise
    try:  # only for the message of a second process: a full disk must not stop the run here
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass
    _held[key] = (fd, 1)


def release(run_dir: str | Path) -> None:
    """Gives back one hold of ``acquire``; the last one unlocks the run directory."""
    if fcntl is None:
        return
    key = Path(run_dir).resolve()
    fd, holders = _held.pop(key)
    if holders > 1:
        _held[key] = (fd, holders - 1)
    else:
        os.close(fd)  # closing the only descriptor drops the flock


@contextmanager
def hold(run_dir: str | Path) -> Iterator[None]:
    """The run directory's lock for the ``with`` block (``acquire``, then ``release``)."""
    acquire(run_dir)
    try:
        yield
    finally:
        release(run_dir)


def _owner(fd: int) -> int | None:
    """The process id the owner wrote into the lock file; None while it has not yet."""
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None
