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
build; then the recorded calls run, each on a thread. Inductor writes a header under a file
lock and skips one already built, so the training process either finds a header built or waits
for the build in progress. The child's output is identical to what the training process would
build (the same compiler, flags and header), so nothing computed changes. A change in
inductor's internals makes this do less, never something else: any fault here ends the child,
and inductor then builds what is missing itself.
"""

from __future__ import annotations

import json
import sys
import threading

__all__ = ["prebuild"]


class _Stop(Exception):
    """Raised at the tiny compile's first C++ build: the recorded headers are all it is for."""


def prebuild(options: dict) -> list[str]:
    """Runs inductor's instruction-set probe, then builds the precompiled headers a compile with
    inductor ``options`` would build (see the module docstring); returns the headers' names."""
    import torch
    from torch._inductor import codecache, cpp_builder
    from torch._inductor.cpu_vec_isa import valid_vec_isa_list

    valid_vec_isa_list()  # the probe: small builds, one per instruction set the CPU reports
    calls: list[tuple] = []
    precompile, build = codecache._precompile_header, cpp_builder.CppBuilder.build

    def record(header: str, command_line: str, **command) -> str:
        calls.append((header, command_line, command))
        return ""

    def stop(self, *args, **kwargs):
        raise _Stop

    codecache._precompile_header, cpp_builder.CppBuilder.build = record, stop
    try:
        tiny = torch.compile(lambda x: x.sin() * 2, dynamic=False, fullgraph=True,
                             options={**options, "compile_threads": 1})
        with torch.no_grad():
            tiny(torch.randn(16))
    except Exception:  # _Stop, as dynamo wraps it
        pass
    finally:
        codecache._precompile_header, cpp_builder.CppBuilder.build = precompile, build
    threads = [threading.Thread(target=precompile, args=(header, line), kwargs=command)
               for header, line, command in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [header for header, _, _ in calls]


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)  # the training process has the other threads
    print(" ".join(prebuild(json.loads(sys.argv[1]))))
