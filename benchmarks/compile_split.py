"""A first process's compile with the backward graph compiled in a second child process, side by
side with the forward, against the compile as ``ntm.train`` makes it (measured, not adopted).

    python benchmarks/compile_split.py [--pairs 3] [-- overrides ...]

Inductor compiles a chunk's forward graph at its first call and its backward graph at the first
backward, one after the other on the training thread (copy's default: about 22 s and 20 s in a
first process on a slow day). Here, at the first compiled call, the training process saves the
model and the chunk's inputs and starts a child that traces the same chunk with inductor's
options, runs its forward graph uncompiled and compiles only the backward graph, which it leaves
in inductor's FX graph cache; the training process compiles the forward meanwhile, waits for the
child, and then finds its backward graph in that cache (``fxgraph_cache_hit``: the same graph
and options, so the same kernels). Each process runs the compile probe of
``benchmarks/train_speed.py`` (the seconds from the model's construction to the end of one training
step at batch 64) in fresh caches; ``--pairs`` times each way, alternating; prints each time,
the medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed as ts  # noqa: E402

from ntm.experiment.build import build_model  # noqa: E402
from ntm.models import fast as fast_path  # noqa: E402


def child(payload_path: str) -> None:
    """Compiles the backward graph of the chunk saved at ``payload_path`` (its forward graph runs
    uncompiled), leaving it in inductor's FX graph cache."""
    from torch._functorch import config as functorch_config
    from torch._inductor.compile_fx import compile_fx, compile_fx_inner

    payload = torch.load(payload_path, weights_only=False)
    torch.set_num_threads(payload["threads"])  # inductor's CPU kernels are keyed on it
    functorch_config.enable_autograd_cache = False  # no entry for an uncompiled forward

    def inner(gm, example_inputs, **kwargs):
        return compile_fx_inner(gm, example_inputs, **kwargs) if kwargs.get("is_backward") else gm

    real_compile = torch.compile

    def backward_only(unit, backend, dynamic, fullgraph, options):
        def compiler(gm, example_inputs):
            return compile_fx(gm, example_inputs, inner_compile=inner,
                              config_patches=options)
        return real_compile(unit, backend=compiler, dynamic=dynamic, fullgraph=fullgraph)

    torch.compile, fast_path.start_prebuild = backward_only, lambda options: None
    model = payload["model"]
    fast_path.accelerate(model, "true", torch.device("cpu"), steps_per_graph=payload["steps"],
                         wrapper=payload["wrapper"])
    outputs = model.steps.compiled(payload["xs"], payload["state"])
    flat = [t for t in torch.utils._pytree.tree_leaves(outputs)
            if isinstance(t, torch.Tensor) and t.requires_grad]
    sum(t.sum() for t in flat).backward()


def probe(split: bool, overrides: list[str]) -> None:
    """``train_speed``'s compile probe, with (``split``) the backward child started at the
    first compiled call; prints its seconds, then inductor's FX graph cache counts and the
    child's exit status, each as a JSON line."""
    from torch._dynamo.utils import counters

    child_status: list[int] = []
    models = ts._models

    def models_with_the_child(cfg, task, device):
        eager, fast = models(cfg, task, device)
        compiled = fast.steps.compiled

        def first_call(xs, state):
            fast.steps.compiled = compiled
            path = os.path.join(os.environ["TMPDIR"], "backward_child.pt")
            leaves = torch.utils._pytree.tree_map(
                lambda t: t.detach().requires_grad_(t.requires_grad), state)
            torch.save({"model": build_model(cfg, task), "xs": xs, "state": leaves,
                        "steps": cfg.train.compile_steps, "wrapper": cfg.train.compile_wrapper,
                        "threads": torch.get_num_threads()}, path)
            process = subprocess.Popen([sys.executable, __file__, "--child", path])
            outputs = compiled(xs, state)
            child_status.append(process.wait())
            return outputs

        fast.steps.compiled = first_call
        return eager, fast

    if split:
        ts._models = models_with_the_child
    ts.compile_probe(overrides)
    print(json.dumps({"hits": counters["inductor"]["fxgraph_cache_hit"],
                      "misses": counters["inductor"]["fxgraph_cache_miss"],
                      "child": child_status[0] if child_status else None}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--probe", choices=["split", "serial"], help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    if args.probe:
        return probe(args.probe == "split", args.overrides)

    def measure(way: str, env: dict[str, str]) -> float:
        out = subprocess.run([sys.executable, __file__, "--probe", way, "--", *args.overrides],
                             env=env, capture_output=True, text=True, check=True)
        timing, cache = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
        child = "" if cache["child"] is None else f"; the child's exit status {cache['child']}"
        print(f"{way:>6}: {timing['train']:.1f} s (FX graph cache: {cache['hits']} hits, "
              f"{cache['misses']} misses{child})", flush=True)
        return timing["train"]

    seconds = ts.alternate_in_fresh_caches(("split", "serial"), args.pairs, measure)
    split, serial = (statistics.median(seconds[w]) for w in ("split", "serial"))
    print(f"first process, median of {args.pairs}: backward in a child {split:.1f} s, "
          f"serial {serial:.1f} s: {split / serial:.2f}x")


if __name__ == "__main__":
    main()
