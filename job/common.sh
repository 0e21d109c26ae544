# Sourced by every job script: loads config/cluster.env (path in BSBSLMM_CLUSTER_ENV, set by
# submit.sh), runs the site set-up commands, and defines `run_bsbslmm`, which logs start/end
# timestamps and keeps bsbslmm's exit code (0 ok, 1 fatal, 3 some genes failed).
: "${BSBSLMM_CLUSTER_ENV:?submit with job/submit.sh, or export BSBSLMM_CLUSTER_ENV=/abs/path/to/cluster.env}"
# shellcheck source=../config/cluster.env
source "$BSBSLMM_CLUSTER_ENV"
export HDF5_USE_FILE_LOCKING
set +u   # module/conda set-up scripts often read unset variables
eval "$BSBSLMM_SETUP"
set -u
run_bsbslmm() {
  echo "[bsbslmm-job] start $(date +%s.%N) job ${SLURM_JOB_ID:-?} array task ${SLURM_ARRAY_TASK_ID:--} on $(hostname): $*"
  set +e
  "$@"
  local rc=$?
  set -e
  echo "[bsbslmm-job] end $(date +%s.%N) exit $rc"
  return $rc
}
