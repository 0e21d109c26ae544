#!/usr/bin/env bash
# Load balance of the fit under mpirun: dynamic queue (largest-first) vs static strided split.
# Builds a cohort whose genes differ a lot in size (SNPs inside some genes' cis windows thinned
# to 1/16 or 1/4, in a pattern that the strided split handles badly), fits it with R ranks x 1
# thread, and writes bench/results/load_balance.md: wall time (rank 0's view of the fit),
# total CPU over ranks, ideal = CPU / ranks, and wall / ideal (target <= 1.2 for dynamic).
# Needs the MPI build: cargo build --release --features mpi.
# Usage: bench/load_balance.sh [RANKS...]   (default: 2 3; more ranks than cores oversubscribe)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BSBSLMM_BIN:-target/release/bsbslmm}
RANKS=("${@:-2}")
[ $# -gt 0 ] || RANKS=(2 3)
W=$(mktemp -d /tmp/bsbslmm-lb.XXXX)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$B" -q simulate --out "$W/cohort" --seed 3 --chroms 1 --genes-per-chrom 24 --samples 400 --gwas-samples 400
# Thin SNPs per gene: gene k (TSS order) keeps 1, 1/16, 1/4, 1/16 of its window's SNPs (k mod 4).
python3 - "$W/cohort" <<'PY'
import gzip, random, sys
d = sys.argv[1]
tss = sorted(int(l.split("\t")[3]) if l.split("\t")[6] == "+" else int(l.split("\t")[4])
             for l in open(d + "/annotation/genes.gtf") if not l.startswith("#") and l.split("\t")[2] == "gene")
keep = [1.0, 1 / 16, 1 / 4, 1 / 16]
rng = random.Random(1)
out = []
for l in gzip.open(d + "/genotypes/chr1.vcf.gz", "rt"):
    if l.startswith("#"):
        out.append(l); continue
    pos = int(l.split("\t", 2)[1])
    k = min(range(len(tss)), key=lambda i: abs(tss[i] - pos))
    if abs(tss[k] - pos) > 50000 or rng.random() < keep[k % 4]:
        out.append(l)
open(d + "/genotypes/chr1.vcf", "w").writelines(out)
PY
bgzip -f "$W/cohort/genotypes/chr1.vcf" && tabix -f -p vcf "$W/cohort/genotypes/chr1.vcf.gz"
cat > "$W/pipeline.yaml" <<YAML
output_dir: results
seed: 7
chromosomes: [chr1]
inputs:
  vcf: cohort/genotypes/{chrom}.vcf.gz
  expression: cohort/expression/expression.bed.gz
  genes: cohort/annotation/genes.gtf
  covariates: cohort/covariates/covariates.tsv
  peaks: cohort/annotation/dnase_peaks.bed
cis:
  window_bp: 50000
cv:
  folds: 3
methods:
  - {model: bsbslmm, chains: 2, burnin: 500, samples: 1000}
YAML
"$B" -q run "$W/pipeline.yaml" --stage prepare
P=$(python3 -c "import h5py,sys; print(' '.join(map(str, h5py.File(sys.argv[1])['gene_table/n_snps'][:])))" "$W/results/cache/chr1.h5")
OUT=bench/results/load_balance.md
{
  echo "| ranks | split | wall (s) | CPU total (s) | ideal = CPU / ranks (s) | wall / ideal | max / mean rank CPU | genes per rank |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$OUT.rows"
for r in "${RANKS[@]}"; do
  for how in dynamic static; do
    flag=(); [ $how = static ] && flag=(--mpi-static)
    log=$(mpirun --oversubscribe -np "$r" "$B" run "$W/pipeline.yaml" --stage fit --force --threads 1 "${flag[@]}" 2>&1)
    line=$(grep "balance ($how" <<<"$log")
    python3 - "$r" "$how" "$log" >> "$OUT.rows" <<'PY'
import re, sys
r, how, log = sys.argv[1:4]
m = re.search(r"balance \(\w+, \d+ ranks\): wall ([\d.]+) s, cpu ([\d.]+) s, ideal ([\d.]+) s, wall/ideal ([\d.]+)", log)
w, c, i, q = m.groups()
ranks = re.findall(r"fit: rank \d+: (\d+) items, wall ([\d.]+) s, cpu ([\d.]+) s", log)
per = "/".join(x[0] for x in ranks)
cpus = [float(x[2]) for x in ranks]
imb = max(cpus) / (sum(cpus) / len(cpus))
print(f"| {r} | {how} | {w} | {c} | {i} | **{q}** | {imb:.3f} | {per} |")
PY
    echo "$r ranks, $how: $line" >&2
  done
done
{
  echo "# Load balance of the fit under mpirun ($(date -u +%Y-%m-%d), nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo
  echo "24 genes, 400 samples, bsbslmm 2 chains x (500 + 1000) sweeps, 3 folds + all-samples fit; 1 thread per rank."
  echo "SNPs per gene (TSS order): $P"
  echo
  cat "$OUT.rows"
  echo
  echo "wall: the longest rank's fit loop; CPU: user+system of every rank during its fit loop; max / mean rank CPU: the work"
  echo "imbalance alone (1 = perfect), unaffected by other load on the machine. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} > "$OUT"
rm -f "$OUT.rows"
cat "$OUT"
