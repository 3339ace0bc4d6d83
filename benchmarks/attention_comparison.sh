#!/usr/bin/env bash
# The attention family side by side (README, "The attention family"): NTM-LSTM, NTM-feedforward,
# the LSTM baseline and the Transformer with each positional encoding, three seeds each, trained
# on the task's own range with one budget in sequences, then evaluated at 1x to 6x the training
# size and reported by `python -m ntm.report`.
#
#   bash benchmarks/attention_comparison.sh copy                  # about 45 minutes on 2 cores
#   bash benchmarks/attention_comparison.sh associative_recall    # about 50 minutes on 2 cores
#
# Runs go to runs/attention/<task>/<model>/<seed>; a model whose three runs already hold a
# generalisation.csv is skipped, so the script can be re-run after an interruption (a half-done
# sweep is started again from scratch). JOBS=1 runs one run at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:?usage: attention_comparison.sh copy|associative_recall}
out=runs/attention/$task
seeds="seed=0,1,2"
case $task in
    copy)  # lengths 1..20; 1x-6x is 20..120 (the memory has 128 rows)
        budget="train.max_sequences=20000 train.max_minutes=6"
        ntm="train.batch_size=16 optim.lr=4e-3 optim.eps=1e-8"
        # Copy's defaults when it ran, before copy.yaml's recipe (d41b663, 5cccd60, 6496b8c): every
        # model evaluated every 50 steps (800 sequences at batch 16), no rollback, no rate cut,
        # the NTM in 128 locations (before copy's 21), and the write gate's bias of the linear
        # layer's own draw (before copy's model.write_gate_bias=-3).
        era="train.eval_every=50 train.rollback_factor=null train.rollback_min_bit_errors=1
             train.rollback_lr_factor=1 train.lr_drop_bit_errors=null train.lr_drop_factor=0.25
             memory.N=128 model.write_gate_bias=null"
        sizes=20,40,60,80,100,120
        evalcfg="" ;;
    associative_recall)  # 2..6 items; 1x-6x is 6..36 items, up to 151 steps: 256 rows
        budget="train.max_sequences=60000 train.max_minutes=10"
        ntm="train.batch_size=64 optim.lr=2e-3 optim.eps=1e-4"
        era=""  # the recall defaults these runs left unnamed are still those they ran with
        sizes=6,12,18,24,30,36
        evalcfg="memory.N=256" ;;
    *) echo "attention_comparison.sh: the task must be copy or associative_recall, not $task" >&2
       exit 2 ;;
esac
# Every model's optimiser is named here, so the table does not move with the defaults: the NTM
# at its task's recipe (copy: batch 16, Adam 4e-3, eps 1e-8; associative recall: 64, 2e-3,
# eps 1e-4), the LSTM and the Transformer at batch 16 with Adam 1e-3, eps 1e-8 (4e-3 is too
# high for them); $era sets back the task's defaults that have changed since the table was made.
common="task=$task $budget optim=adam hydra/launcher=joblib hydra.launcher.n_jobs=${JOBS:-2} train.threads=1
        train.pictures=false train.progress=false train.compile=false $era"
# (train.compile=false: the table's NTM runs ran the eager step, the default until the step
# began to compile on the CPU.)

model() {  # model NAME OVERRIDES...
    local name=$1
    shift
    local dir=$out/$name
    if [[ $(ls "$dir"/*/generalisation.csv 2>/dev/null | wc -l) -eq 3 ]]; then
        echo "== $task $name: done already"
        return 0
    fi
    echo "== $task $name"
    rm -rf "$dir"
    python -m ntm.train -m $common "$seeds" "hydra.sweep.dir=$dir" 'hydra.sweep.subdir=${hydra.job.num}' "$@"
    local run s=$sizes
    # Learned positions have no vector past the training task's longest sequence, so such a
    # Transformer is evaluated on the training size only (ntm.evaluate refuses longer ones).
    [[ "$*" == *positions=learned* ]] && s=${sizes%%,*}
    for run in "$dir"/[0-9]*; do
        python -m ntm.evaluate "$run" --sizes "$s" --sequences 200 --no-pictures $evalcfg
    done
}

model ntm_lstm controller=lstm $ntm
model ntm_ff controller=feedforward $ntm
other="train.batch_size=16 optim.lr=1e-3 optim.eps=1e-8"
model lstm model=lstm $other
for p in sinusoidal alibi none learned; do
    model "transformer_$p" model=transformer model.positions=$p $other
done
mkdir -p "$out"
python -m ntm.report "$out" | tee "$out/report.md"
