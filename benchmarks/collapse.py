"""Looks inside a training run around a collapse: replays a run step by step, exactly as
``python -m ntm.train`` trains it (same seed, same data, same updates: check with
``--compare``), and records at every step what the project's study of collapses looks at
(docs/training.md):

- the loss and the gradient norm before clipping, and the size of the optimizer's update;
- the head parameters the controller emits (key strength beta, interpolation gate g,
  sharpening gamma, the largest shift probability), averaged over the batch and steps;
- every ``--probe-every`` steps, on a fixed probe batch of length-20 copies: the held-out
  cost and bit errors, how focused the weightings are (largest weight per step, averaged),
  and how far the write head moves per step (mass on a +1 shift of its previous weighting).

Writes ``<out>/steps.csv``, ``<out>/probes.csv`` and ``<out>/collapse.png``.

    python benchmarks/collapse.py --out runs/collapse/seed1 seed=1 train.batch_size=64 \\
        train.threads=1 --steps 1500 --compare runs/<the run>/metrics.csv
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import torch

from ntm.experiment.build import build_model, build_optimizer, build_task
from ntm.experiment.command_line import compose_config
from ntm.experiment.config import validate
from ntm.experiment.loop import held_out_set, seed_everything
from ntm.experiment.metrics import evaluate_batches, training_loss
from ntm.experiment.schedule import warmup_factor
from ntm.train import CONF_DIR

STEP_FIELDS = ("step", "sequences", "loss", "grad_norm", "update_norm", "key_strength",
               "gate", "sharpening", "shift_max", "update_controller", "update_heads",
               "update_output", "update_initial")
PROBE_FIELDS = ("step", "sequences", "eval_cost", "eval_bit_errors", "read_focus",
                "write_focus", "write_moved_one", "adam_v_min", "adam_v_median")
#: The model's parts whose update sizes are logged separately (update_<part> columns).
PARTS = ("controller", "heads", "output", "initial")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="key=value settings, as for ntm.train")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--probe-every", type=int, default=10)
    parser.add_argument("--compare", type=Path, help="the run's metrics.csv: check the replay")
    args = parser.parse_args()
    cfg = compose_config(args.overrides, CONF_DIR)
    validate(cfg)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    t = cfg.train
    task = build_task(cfg)
    data_generator = seed_everything(cfg.seed)
    model = build_model(cfg, task)
    optimizer = build_optimizer(cfg, model.parameters())
    eval_batches = held_out_set(task, cfg, torch.device("cpu"))
    probe = task.sample_batch(torch.Generator().manual_seed(5), 64, size=20)
    emitted: list = []
    model.heads.register_forward_hook(lambda module, inputs, output: emitted.append(output))
    args.out.mkdir(parents=True, exist_ok=True)
    steps_file = open(args.out / "steps.csv", "w", newline="")
    probes_file = open(args.out / "probes.csv", "w", newline="")
    steps_csv = csv.DictWriter(steps_file, STEP_FIELDS)
    probes_csv = csv.DictWriter(probes_file, PROBE_FIELDS)
    steps_csv.writeheader()
    probes_csv.writeheader()
    sequences = 0
    evals = {}
    for step in range(1, args.steps + 1):
        base_lr = cfg.optim.lr
        for group in optimizer.param_groups:
            group["lr"] = base_lr * warmup_factor(sequences, t.warmup_sequences)
        batch = task.sample_batch(data_generator, t.batch_size)
        model.train()
        emitted.clear()
        logits = model(batch.inputs)
        loss = training_loss(logits, batch.targets, batch.mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        before = [p.detach().clone() for p in model.parameters()]
        if t.clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), t.clip_grad_value)
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        grad_norm = float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads])))
        if t.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip_grad_norm)
        optimizer.step()
        squares = {part: 0.0 for part in PARTS}
        for (name, p), b in zip(model.named_parameters(), before, strict=True):
            part = name.split(".")[0]
            squares[part if part in PARTS else "initial"] += float((p.detach() - b).pow(2).sum())
        update = math.sqrt(sum(squares.values()))
        sequences += t.batch_size
        heads = [torch.stack([getattr(p, name) for p in emitted]) for name in
                 ("key_strength", "gate", "sharpening")]
        shift = torch.stack([p.shift_weighting for p in emitted])
        steps_csv.writerow({
            "step": step, "sequences": sequences, "loss": loss.item(), "grad_norm": grad_norm,
            "update_norm": update, "key_strength": float(heads[0].mean()),
            "gate": float(heads[1].mean()), "sharpening": float(heads[2].mean()),
            "shift_max": float(shift.max(-1).values.mean()),
            **{f"update_{part}": math.sqrt(value) for part, value in squares.items()},
        })
        if step % args.probe_every == 0 or step % t.eval_every == 0:
            model.eval()
            with torch.no_grad():
                held_out = evaluate_batches(model, eval_batches)
                _, trace = model(probe.inputs, trace=True)
            w = trace.write_weights[:, :, 0]  # (T, B, N)
            moved = sum((torch.roll(w[:-1], shift, dims=-1) * w[1:]).sum(-1).mean()
                        for shift in (1, -1))  # mass one location away from the last focus
            v = torch.cat([s["exp_avg_sq"].flatten() for s in optimizer.state.values()
                           if "exp_avg_sq" in s]) if cfg.optim.name == "adam" else None
            probes_csv.writerow({
                "step": step, "sequences": sequences, "eval_cost": held_out["cost"],
                "eval_bit_errors": held_out["bit_errors"],
                "read_focus": float(trace.read_weights.max(-1).values.mean()),
                "write_focus": float(trace.write_weights.max(-1).values.mean()),
                "write_moved_one": float(moved),
                "adam_v_min": "" if v is None else float(v.min()),
                "adam_v_median": "" if v is None else float(v.median()),
            })
            probes_file.flush()
            steps_file.flush()
            evals[step] = held_out["bit_errors"]
            print(f"step {step}: bit errors {held_out['bit_errors']:.3f}, grad norm "
                  f"{grad_norm:.3g}", flush=True)
    steps_file.close()
    probes_file.close()
    if args.compare:
        with open(args.compare, newline="") as f:
            logged = {int(r["step"]): float(r["eval_bit_errors"]) for r in csv.DictReader(f)}
        common = sorted(set(logged) & set(evals))
        worst = max((abs(logged[s] - evals[s]) for s in common), default=math.nan)
        print(f"replay against {args.compare}: {len(common)} evaluations compared, largest "
              f"difference in bit errors {worst:.3g}")
    draw(args.out)


def draw(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def read(name):
        with open(out / name, newline="") as f:
            rows = list(csv.DictReader(f))
        return {k: [float(r[k]) if r[k] != "" else math.nan for r in rows] for k in rows[0]}

    s, p = read("steps.csv"), read("probes.csv")
    fig, axes = plt.subplots(5, 1, figsize=(9, 12), sharex=True)
    axes[0].plot(p["sequences"], p["eval_bit_errors"], color="k")
    axes[0].set_yscale("symlog", linthresh=0.1)
    axes[0].set_ylabel("held-out bit errors\nper sequence")
    axes[1].plot(s["sequences"], s["grad_norm"], lw=0.5, label="gradient norm (before clipping)")
    axes[1].plot(s["sequences"], s["update_norm"], lw=0.5, label="update norm")
    axes[1].set_yscale("log")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].plot(s["sequences"], s["key_strength"], lw=0.5, label="key strength (mean)")
    axes[2].plot(s["sequences"], s["sharpening"], lw=0.5, label="sharpening (mean)")
    axes[2].set_yscale("log")
    axes[2].legend(loc="upper right", fontsize=8)
    axes[3].plot(s["sequences"], s["gate"], lw=0.5, label="interpolation gate (mean)")
    axes[3].plot(s["sequences"], s["shift_max"], lw=0.5, label="largest shift probability")
    axes[3].plot(p["sequences"], p["write_moved_one"], label="write head moved one location")
    axes[3].legend(loc="lower right", fontsize=8)
    axes[4].plot(p["sequences"], p["write_focus"], label="write focus (largest weight)")
    axes[4].plot(p["sequences"], p["read_focus"], label="read focus (largest weight)")
    axes[4].legend(loc="lower right", fontsize=8)
    axes[4].set_xlabel("training sequences")
    fig.tight_layout()
    fig.savefig(out / "collapse.png", dpi=110)


if __name__ == "__main__":
    main()
