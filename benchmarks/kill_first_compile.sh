#!/usr/bin/env bash
# A first compiled run killed with `kill -9` of its whole process tree, then run again on the
# same caches (docs/training.md, "The compiled step"): for each delay, empty caches (a fresh
# TMPDIR, so inductor's cache and its precompiled headers both start empty; a
# TORCHINDUCTOR_CACHE_DIR of the caller's is unset), copy's default with a budget of 400
# sequences killed that many seconds after its start, then the same run again. Prints the
# sizes of the header files the kill left (`*.gch`, and `*.gch.partial` where the prebuild
# child was writing), whether the second run compiled or fell back to eager, and the header
# files after it.
#
#   bash benchmarks/kill_first_compile.sh 6 12 20 28 36     # delays in seconds
set -uo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || { echo "usage: $0 SECONDS..." >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run="env -u TORCHINDUCTOR_CACHE_DIR python -m ntm.train train.max_sequences=400 train.progress=false train.pictures=false"
headers() {  # the sizes of the header files under one delay's temporary directory
    find "$1" -path '*precompiled_headers*' -name '*.gch*' -printf '%f %s\n' 2>/dev/null \
        | sed -E 's/^[a-z0-9]{8}[a-z0-9]*//' | sort | tr '\n' ';'
}
for delay in "$@"; do
    tmp="$work/$delay"
    mkdir -p "$tmp"
    TMPDIR=$tmp setsid $run hydra.run.dir="$tmp/first" > "$tmp/first.log" 2>&1 &
    pid=$!
    sleep "$delay"
    if ! kill -9 -- "-$pid" 2>/dev/null; then
        echo "killed at ${delay} s: the first run had already ended, so it was not killed"
    fi
    wait "$pid" 2>/dev/null
    left=$(headers "$tmp")
    start=$(date +%s)
    TMPDIR=$tmp timeout 600 $run hydra.run.dir="$tmp/second" > "$tmp/second.log" 2>&1
    status=$?
    eager=$(grep "compiling the step failed" "$tmp/second.log" | cut -c1-300)
    echo "killed at ${delay} s: left [${left}] second run: exit ${status}, $(( $(date +%s) - start )) s," \
         "fell back to eager: $([[ -n $eager ]] && echo yes || echo no); after it [$(headers "$tmp")]"
    [[ -z $eager ]] || echo "$eager"
done
