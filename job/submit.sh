#!/usr/bin/env bash
# Submits, per chromosome: prepare -> fit (a Slurm array, or one mpirun job) -> finalize,
# chained with --dependency=afterok, and prints the job ids. Every site value comes from
# config/cluster.env (or --env FILE). Run it from the directory the pipeline paths are
# relative to (or set BSBSLMM_WORKDIR).
#
# Usage: job/submit.sh [--env FILE] [--mode array|mpi] [--no-prepare] [--no-finalize] CHROM...
#
# The fit array is sized before prepare has run: `bsbslmm plan` counts the expression-file genes
# of the chromosome (every gene prepare considers), divided by the genes per task. Genes that
# prepare skips only shorten the last slices; tasks past the last gene exit 0 at once.
# Output, one line per chromosome:  <chrom> prepare=<id> fit=<id> finalize=<id>
# then (unless --no-finalize) the genome-wide job after every finalize (export, twas, report):
#   genome finalize=<id>
set -euo pipefail
JOB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENV_FILE=${BSBSLMM_CLUSTER_ENV:-$JOB_DIR/../config/cluster.env}
MODE=array
PREPARE=1
FINALIZE=1
CHROMS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --env) ENV_FILE=$2; shift 2 ;;
    --mode) MODE=$2; shift 2 ;;
    --no-prepare) PREPARE=0; shift ;;
    --no-finalize) FINALIZE=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "submit.sh: unknown option $1" >&2; exit 2 ;;
    *) CHROMS+=("$1"); shift ;;
  esac
done
[ ${#CHROMS[@]} -gt 0 ] || { echo "submit.sh: name at least one chromosome (e.g. job/submit.sh chr1 chr2)" >&2; exit 2; }
case "$MODE" in array|mpi) ;; *) echo "submit.sh: --mode must be array or mpi, got $MODE" >&2; exit 2 ;; esac
[ -f "$ENV_FILE" ] || { echo "submit.sh: $ENV_FILE: no such file" >&2; exit 2; }
ENV_FILE=$(cd "$(dirname "$ENV_FILE")" && pwd)/$(basename "$ENV_FILE")
# shellcheck source=../config/cluster.env
source "$ENV_FILE"
WORKDIR=${BSBSLMM_WORKDIR:-$PWD}
cd "$WORKDIR"
mkdir -p "$BSBSLMM_LOG_DIR"
export BSBSLMM_CLUSTER_ENV=$ENV_FILE BSBSLMM_JOB_DIR=$JOB_DIR

# shellcheck disable=SC2086  # BSBSLMM_SBATCH_EXTRA is a list of options
common=(--parsable --chdir "$WORKDIR" --partition "$BSBSLMM_PARTITION"
        --export "ALL,BSBSLMM_CLUSTER_ENV=$ENV_FILE,BSBSLMM_JOB_DIR=$JOB_DIR" $BSBSLMM_SBATCH_EXTRA)
[ -n "${BSBSLMM_ACCOUNT:-}" ] && common+=(--account "$BSBSLMM_ACCOUNT")
submit() { sbatch "${common[@]}" "$@" | cut -d';' -f1; }
gpt=()
[ -n "${BSBSLMM_GENES_PER_TASK:-}" ] && gpt=(--genes-per-task "$BSBSLMM_GENES_PER_TASK")

fins=()
for chrom in "${CHROMS[@]}"; do
  dep=()
  prep=-
  if [ "$PREPARE" = 1 ]; then
    prep=$(submit --job-name "bsbslmm_prepare_$chrom" -o "$BSBSLMM_LOG_DIR/%x_%j.out" \
      -c "$BSBSLMM_PREPARE_CPUS" --mem "$BSBSLMM_PREPARE_MEM" -t "$BSBSLMM_PREPARE_TIME" \
      "$JOB_DIR/bsbslmm_prepare_chr.sbatch" "$chrom")
    dep=(--dependency "afterok:$prep")
  fi
  if [ "$MODE" = array ]; then
    n=$("$BSBSLMM_BIN" -q plan "$BSBSLMM_PIPELINE" --chrom "$chrom" "${gpt[@]}")
    range="1-$n${BSBSLMM_ARRAY_MAX_RUNNING:+%$BSBSLMM_ARRAY_MAX_RUNNING}"
    fit=$(submit "${dep[@]}" --job-name "bsbslmm_fit_$chrom" --array "$range" \
      -o "$BSBSLMM_LOG_DIR/%x_%A_%a.out" \
      -c "$BSBSLMM_CPUS_PER_TASK" --mem "$BSBSLMM_MEM_PER_TASK" -t "$BSBSLMM_TIME_PER_TASK" \
      "$JOB_DIR/bsbslmm_array.sbatch" "$chrom")
  else
    fit=$(submit "${dep[@]}" --job-name "bsbslmm_fit_mpi_$chrom" -o "$BSBSLMM_LOG_DIR/%x_%j.out" \
      -n "$BSBSLMM_MPI_NTASKS" -c "$BSBSLMM_MPI_CPUS_PER_TASK" \
      --mem-per-cpu "$BSBSLMM_MPI_MEM_PER_CPU" -t "$BSBSLMM_MPI_TIME" \
      "$JOB_DIR/bsbslmm_mpi_chr.sbatch" "$chrom")
  fi
  fin=-
  if [ "$FINALIZE" = 1 ]; then
    fin=$(submit --dependency "afterok:$fit" --job-name "bsbslmm_finalize_$chrom" \
      -o "$BSBSLMM_LOG_DIR/%x_%j.out" \
      -c "$BSBSLMM_FINALIZE_CPUS" --mem "$BSBSLMM_FINALIZE_MEM" -t "$BSBSLMM_FINALIZE_TIME" \
      "$JOB_DIR/bsbslmm_finalize_chr.sbatch" "$chrom")
    fins+=("$fin")
  fi
  echo "$chrom prepare=$prep fit=$fit finalize=$fin"
done
if [ ${#fins[@]} -gt 0 ]; then
  after=$(IFS=:; echo "${fins[*]}")
  genome=$(submit --dependency "afterok:$after" --job-name "bsbslmm_genome" \
    -o "$BSBSLMM_LOG_DIR/%x_%j.out" \
    -c "$BSBSLMM_FINALIZE_CPUS" --mem "$BSBSLMM_FINALIZE_MEM" -t "$BSBSLMM_FINALIZE_TIME" \
    "$JOB_DIR/bsbslmm_genome.sbatch")
  echo "genome finalize=$genome"
fi
