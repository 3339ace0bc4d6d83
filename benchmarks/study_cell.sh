# Sourced by the study scripts: `cell NAME OVERRIDES...` runs one cell, a joblib sweep into
# $out/NAME with the settings in $common, then `python -m ntm.report` on it; only the cells
# whose name starts with $only run (all when it is empty).
cell() {
    local name=$1
    shift
    [[ -n "$only" && "$name" != "$only"* ]] && return 0
    echo "== $name"
    python -m ntm.train -m $common "hydra.sweep.dir=$out/$name" 'hydra.sweep.subdir=${hydra.job.num}' "$@"
    python -m ntm.report "$out/$name"
}
