#!/usr/bin/env bash
# The checks that need a GPU, in one go, each under a time limit so that one that hangs does
# not take the others with it:
#
#   bash benchmarks/gpu_check.sh [LOG]          # LOG default: runs/gpu_check.log
#
# 1. the tests marked gpu (CUDA against the CPU, the compiled step against eager);
# 2. benchmarks/train_speed.py on the GPU at batch 1, 64 and 1024: training sequences/s and
#    forward+backward milliseconds, eager against CUDA graphs (train.compile=cudagraphs);
# 3. the same against inductor's kernels without CUDA graphs (train.compile=true);
# 4. copy's default run, seed 0, from process start to the solve: eager against
#    train.compile=true (benchmarks/time_to_solve.py --against), each with a budget of
#    SOLVE_MINUTES;
# 5. benchmarks/step_check.py: copy's default with CUDA graphs, seed 0, for SOLVE_MINUTES, every
#    training step's gradients checked against eager's.
#
# Environment: REPEATS (train_speed's, default 5), SOLVE_MINUTES (default 2), SEEDS (time to
# solve, default 0), COMPILE_STEPS (train.compile_steps for steps 2-5, default 4; the GPU figures
# in the docs were measured with 1, before the setting), SKIP (a list of step numbers to leave
# out, e.g. "3 4"). On an H200 steps
# 1-4 took 8-9 minutes (SKIP="3": 7), and step 5, run on its own, its budget and about half a
# minute more, so the whole should take 11-12; each step's limit is its own, so a device lent
# for a few minutes may need SKIP. A failed step prints its exit code (rc=...) and the
# next one runs; the script exits non-zero if any step failed.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
log=${1:-runs/gpu_check.log}
mkdir -p "$(dirname "$log")"
export PYTHONUNBUFFERED=1
repeats=${REPEATS:-5}
minutes=${SOLVE_MINUTES:-2}
steps="train.compile_steps=${COMPILE_STEPS:-4}"
skip=" ${SKIP:-} "
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
failed=0
step() {  # the exit code of the command just run, printed and remembered
    local rc=$1
    echo "rc=$rc"
    [[ $rc == 0 || $rc == 5 ]] || failed=1  # pytest's 5: no gpu test (no CUDA)
}
{
    date -u
    python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
    if [[ $skip != *" 1 "* ]]; then
        echo "== 1. the gpu tests"
        # -n 0: in this process, one CUDA context, not one per pytest-xdist worker
        timeout 240 python -m pytest -m gpu -q -p no:cacheprovider -n 0; step $?
    fi
    if [[ $skip != *" 2 "* ]]; then
        echo "== 2. train_speed: eager against CUDA graphs"
        timeout 300 python benchmarks/train_speed.py --batch-sizes 1 64 1024 \
            --repeats "$repeats" --no-compile-times --fast-mode reduce-overhead -- "$steps"; step $?
    fi
    if [[ $skip != *" 3 "* ]]; then
        echo "== 3. train_speed: eager against inductor without CUDA graphs"
        timeout 300 python benchmarks/train_speed.py --batch-sizes 1 64 1024 \
            --repeats "$repeats" --no-compile-times --fast-mode default -- "$steps"; step $?
    fi
    if [[ $skip != *" 4 "* ]]; then
        echo "== 4. copy, time to solve: A eager, B compiled (train.compile=true)"
        timeout 600 python benchmarks/time_to_solve.py --seeds "${SEEDS:-0}" --keep "$runs" \
            train.compile=false train.pictures=false "train.max_minutes=$minutes" "$steps" \
            --against 'train.compile=true'; step $?
        for f in "$runs"/*/seed*/train.log; do
            echo "-- $f"; tail -n 6 "$f"
        done
    fi
    if [[ $skip != *" 5 "* ]]; then
        echo "== 5. step_check: every training step with CUDA graphs against eager"
        limit=$(awk -v m="$minutes" 'BEGIN { print int(m * 60 + 240) }')
        timeout "$limit" python benchmarks/step_check.py device=cuda train.compile=cudagraphs \
            seed=0 "train.max_minutes=$minutes" "$steps"; step $?
    fi
    date -u
    exit $failed
} 2>&1 | tee "$log"
