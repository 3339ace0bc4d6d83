# Sourced by the study scripts (after they cd to the repository root): `cell NAME OVERRIDES...`
# runs one cell, a joblib sweep into $out/NAME with the settings in $common, then
# `python -m ntm.report` on it. Which cells run is set by $only, the script's argument: empty,
# every cell; the exact name of a cell, that cell alone; anything else is a prefix (a trailing
# * is dropped), and every cell whose name starts with it runs.
cell_key=$only
cell_match=exact
if [[ -z "$only" ]]; then
    cell_match=all
elif [[ "$only" == *'*' ]]; then
    cell_match=prefix
    cell_key=${only%'*'}
elif ! awk -v n="$only" '$1 == "cell" && $2 == n { found = 1 } END { exit !found }' \
        "benchmarks/$(basename "$0")"; then
    cell_match=prefix
fi
cell() {
    local name=$1
    shift
    case $cell_match in
        exact) [[ "$name" == "$cell_key" ]] || return 0 ;;
        prefix) [[ "$name" == "$cell_key"* ]] || return 0 ;;
    esac
    echo "== $name"
    # A sweep with a failed run exits 2 after its other runs: report the cell, then stop.
    local status=0
    python -m ntm.train -m $common "hydra.sweep.dir=$out/$name" 'hydra.sweep.subdir=${hydra.job.num}' "$@" || status=$?
    python -m ntm.report "$out/$name"
    return $status
}
