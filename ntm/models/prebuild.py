"""What the child process started by ``ntm.models.fast.accelerate`` on a CPU builds while the
first chunk is traced: inductor's probe of the CPU's instruction sets, then inductor's
precompiled C++ headers, so that the training process finds both in inductor's on-disk cache.

    python ntm/models/prebuild.py '{"cpp_wrapper": true, ...}'

(the inductor options of the compile, as JSON; run as a script, so that the child imports torch
and not ``ntm``). In a first process with empty caches inductor builds each precompiled header
(the C++ wrapper's and the kernels', about 6-7 s of the compiler each on this 2-core machine) on
the training process's thread, one after the other, when its first graph is built. Here the
headers are built side by side, ahead of that. Which headers, and with which command lines, is
inductor's own answer: a tiny function is compiled with the same options, inductor's calls to
its header precompiler are recorded (not run) and the compile is stopped at its first C++
build; then the recorded calls run, each on a thread, under the same options. Inductor builds a
header under a file lock and skips one whose file exists, so the training process either finds
a header built or waits for the build in progress. The child's output is identical to what the
training process would build (the same compiler, flags and header), so nothing computed
changes. A change in inductor's internals makes this do less, never something else: a fault
here stops the child's work (its messages go to its stderr, which ``accelerate`` discards), and
inductor then builds what is missing itself.

Once every header has been built, the child leaves a marker (``done_marker``) beside inductor's
precompiled headers, named for torch's version, inductor's cache folder and the options; a
later process that finds it starts no child, since everything the child would build is built
(with a warm cache the child only cost a second core a few seconds, which slowed the start of
training). Inductor skips a header whose file exists, so a file cut short by ``kill -9`` of
the whole process tree (Ctrl-C lets the builds finish) would stay: killed while the compiler
wrote it, at the end of its build, it is refused ("cannot read PCH file") and every C++ build
that includes it fails (under ``train.compile=auto`` the step then runs eagerly, with a warning
naming the error); killed earlier, it is a stub the compiler ignores, parsing the header itself
(slower, the same result). The child therefore writes each header under a temporary name and
renames it once whole (``build_then_rename``). A header that the training process builds
itself (where no child ran, or where its first C++ build took the header's lock before the
child did) is written in place, as before; deleting inductor's cache folder (the temporary
directory's ``torchinductor_$USER``) clears one cut short.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_then_rename", "done_marker", "prebuild"]


class _Stop(Exception):
    """Raised at the tiny compile's first C++ build: the recorded headers are all it is for."""


def done_marker(options: dict) -> Path:
    """The file a finished prebuild for inductor ``options`` leaves: beside inductor's
    precompiled headers, named for torch's version, inductor's cache folder, the C++ compiler
    asked for (``CXX``) and the options."""
    import torch
    from torch._inductor import codecache
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    key = json.dumps([torch.__version__, cache_dir(), os.environ.get("CXX"),
                      sorted(options.items())])
    name = hashlib.sha256(key.encode()).hexdigest()[:24]
    return Path(codecache._HEADER_DIR) / "ntm_prebuild" / f"{name}.done"


def prebuild(options: dict) -> list[str]:
    """Runs inductor's instruction-set probe, then builds the precompiled headers a compile with
    inductor ``options`` would build (see the module docstring); returns the headers' names.
    Raises the first fault of a header's build, after the others have finished."""
    import torch
    from torch._inductor import codecache, config, cpp_builder
    from torch._inductor.cpu_vec_isa import valid_vec_isa_list

    # Before anything is patched: the probe's own builds go through CppBuilder.build, and a
    # _Stop there would count every instruction set as unsupported for the whole process.
    valid_vec_isa_list()
    calls: list[tuple] = []
    precompile, build = codecache._precompile_header, cpp_builder.CppBuilder.build
    caches = [cls.cache for cls in (codecache.CppCodeCache, codecache.CppPythonBindingsCodeCache,
                                    codecache.CppWrapperCodeCache)]
    cached = [set(cache) for cache in caches]

    def record(header: str, command_line: str, **command) -> str:
        calls.append((header, command_line, command))
        return ""

    def stop(self, *args, **kwargs):
        raise _Stop

    settings = {**options, "compile_threads": 1}
    codecache._precompile_header, cpp_builder.CppBuilder.build = record, stop
    try:
        tiny = torch.compile(lambda x: x.sin() * 2, dynamic=False, fullgraph=True,
                             options=settings)
        with torch.no_grad():
            tiny(torch.randn(16))
    except Exception as error:  # _Stop, as dynamo wraps it
        if not _stopped(error):
            traceback.print_exc()
    finally:
        codecache._precompile_header, cpp_builder.CppBuilder.build = precompile, build
        for cache, before in zip(caches, cached, strict=True):  # entries never built
            for key in set(cache) - before:
                del cache[key]
    faults: list[BaseException] = []

    def run(header: str, command_line: str, command: dict) -> None:
        try:
            precompile(header, command_line, **command)
        except BaseException as error:  # reported by the caller, after the other builds
            faults.append(error)

    threads = [threading.Thread(target=run, args=call) for call in calls]
    worker = codecache._worker_compile_cpp
    codecache._worker_compile_cpp = build_then_rename
    try:
        with config.patch(settings):  # once, around every thread: a patch is process-wide
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        codecache._worker_compile_cpp = worker
    if faults:
        raise faults[0]
    return [header for header, _, _ in calls]


def build_then_rename(lock_path: str, cpp_builders: Sequence) -> None:
    """What inductor's ``codecache._worker_compile_cpp`` does for a header (under its file lock,
    build each of ``cpp_builders``' files that does not exist), except that each file is
    written under a temporary name (``<file>.partial``) and renamed once whole: a child killed
    during a build leaves no cut-short header where inductor would find it (the module
    docstring). A partial file that a failed or killed build left is removed, and a builder
    whose output argument does not end in its file (inductor's internals moved) is built as
    inductor builds it."""
    from torch._inductor.codecache import LOCK_TIMEOUT
    from torch.utils._filelock import FileLock

    with FileLock(lock_path, timeout=LOCK_TIMEOUT):
        for builder in cpp_builders:
            target = builder.get_target_file_path()
            partial = f"{target}.partial"
            if os.path.exists(target):
                Path(partial).unlink(missing_ok=True)  # a killed child's; inductor built it
                continue
            output = getattr(builder, "_output", "")
            if not output.endswith(f" {target}"):
                builder.build()
                continue
            builder._output = output[:-len(target)] + partial
            try:
                builder.build()
            except BaseException:
                Path(partial).unlink(missing_ok=True)
                raise
            finally:
                builder._output = output
            os.replace(partial, target)


def _stopped(error: BaseException | None) -> bool:
    """Whether ``error`` is, or was raised from, ``_Stop``."""
    while error is not None:
        if isinstance(error, _Stop):
            return True
        error = error.__cause__ or error.__context__
    return False


if __name__ == "__main__":
    sys.path.pop(0)  # this file's folder: ntm's model modules are not top-level names here
    import torch

    torch.set_num_threads(1)  # the training process has the other threads
    settings = json.loads(sys.argv[1])
    headers = prebuild(settings)
    if headers:
        marker = done_marker(settings)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("\n".join(headers) + "\n")
    print(" ".join(headers))
