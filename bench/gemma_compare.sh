#!/usr/bin/env bash
# End-to-end GEMMA 0.98.5 vs bsbslmm benchmark. Usage (from the repo root):
#   bench/gemma_compare.sh [--bin target/release/bsbslmm] [--force] [other gemma_compare.py options]
# Needs: gemma (apt-get install -y gemma), python3 with h5py numpy scipy.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v gemma >/dev/null || { echo "gemma not found: apt-get install -y gemma" >&2; exit 1; }
python3 -c 'import h5py, numpy, scipy' 2>/dev/null || { echo "need: pip install h5py numpy scipy" >&2; exit 1; }
exec python3 "$here/gemma_compare.py" "$@"
