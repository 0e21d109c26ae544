#!/usr/bin/env python3
"""bsBSLMM vs BSLMM by cis-window width on the demo cohort.

Simulates the demo cohort (`bsbslmm simulate`, default options), then for each window runs
`prepare`, `fit` (bslmm and bsbslmm only, the demo schedule of pipeline.yaml: 2 chains x (250 +
500) sweeps, 3-fold CV) and `finalize`, and writes one table: per window, the SNPs per gene, the
mean pooled test r of each method, mean delta r = bsbslmm - bslmm, the genes where bsBSLMM is
better, the paired one-sided Wilcoxon p-value of the finalize stage (`compare.tsv`, scope `all`),
and the mean delta r by the true number of causal SNPs (truth/genes.tsv).

Usage (repo root): bench/window_compare.py [--bin target/release/bsbslmm]
    [--windows 50000 500000 1000000] [--work bench/work/windows] [--out bench/results/window_compare.md]
Reruns skip what is complete (the stages resume). Deterministic: the same binary gives the same table.
"""
import argparse
import csv
import datetime
import os
import re
import statistics
import subprocess
import sys


def num(x):
    """A number from a TSV cell written by bsbslmm (NaN is written as NA)."""
    return float("nan") if x in ("NA", "") else float(x)


def run(cmd):
    print("$", " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    rc = subprocess.call([str(c) for c in cmd])
    if rc not in (0, 3):
        sys.exit(f"failed ({rc}): {' '.join(map(str, cmd))}")


def pipeline(repo_yaml, sim, out, window):
    s = open(repo_yaml).read()
    s = re.sub(r"(?m)^output_dir:.*$", f"output_dir: {out}", s)
    s = s.replace(" data/demo/", f" {sim}/")
    s = re.sub(r"(?m)^(\s*window_bp:)\s*\d+", rf"\g<1> {window}", s)
    i, j = s.index("\nmethods:"), s.index("\ncompare:")
    methods = "\nmethods:\n" + "".join(
        f"  - model: {m}\n    chains: 2\n    burnin: 250\n    samples: 500\n" for m in ("bslmm", "bsbslmm"))
    s = s[:i] + methods + s[j:]
    s = re.sub(r"(?ms)^  pairs:.*?\n(  \S)", "  pairs:\n    - [bsbslmm, bslmm]\n\\1", s)
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(repo, "target", "release", "bsbslmm"))
    ap.add_argument("--windows", type=int, nargs="+", default=[50000, 500000, 1000000])
    ap.add_argument("--work", default=os.path.join(here, "work", "windows"))
    ap.add_argument("--out", default=os.path.join(here, "results", "window_compare.md"))
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    sim = os.path.join(work, "sim")
    os.makedirs(work, exist_ok=True)
    if not os.path.exists(os.path.join(sim, "truth", "genes.tsv")):
        run([a.bin, "simulate", "--out", sim])
    truth = {r["gene_id"]: int(r["n_causal"])
             for r in csv.DictReader(open(os.path.join(sim, "truth", "genes.tsv")), delimiter="\t")}
    rows = []
    for w in a.windows:
        out = os.path.join(work, f"w{w}")
        yml = os.path.join(work, f"pipeline_w{w}.yaml")
        with open(yml, "w") as fh:
            fh.write(pipeline(os.path.join(repo, "pipeline.yaml"), sim, out, w))
        thr = ["--threads", a.threads] if a.threads else []
        for stage in ("prepare", "fit", "finalize"):
            run([a.bin, "run", yml, "--stage", stage] + thr)
        fin = os.path.join(out, "final")
        cmp_rows = [r for r in csv.DictReader(open(os.path.join(fin, "compare.tsv")), delimiter="\t")
                    if r["scope"] == "all" and r["method_a"] == "bsbslmm" and r["method_b"] == "bslmm"]
        if not cmp_rows:
            sys.exit(f"{fin}/compare.tsv: no row scope=all, bsbslmm vs bslmm")
        cmp_all = cmp_rows[0]
        genes = {}
        for r in csv.DictReader(open(os.path.join(fin, "genes.tsv")), delimiter="\t"):
            if r["status"] == "ok":
                genes.setdefault(r["gene_id"], {})[r["method"]] = r
        both = {g: d for g, d in genes.items() if "bslmm" in d and "bsbslmm" in d
                and num(d["bslmm"]["test_r"]) == num(d["bslmm"]["test_r"])
                and num(d["bsbslmm"]["test_r"]) == num(d["bsbslmm"]["test_r"])}
        r_a = [num(d["bslmm"]["test_r"]) for d in both.values()]
        r_b = [num(d["bsbslmm"]["test_r"]) for d in both.values()]
        p = [int(d["bslmm"]["p"]) for d in both.values()]
        by_k = {}
        for g, d in both.items():
            by_k.setdefault(truth.get(g, -1), []).append(
                num(d["bsbslmm"]["test_r"]) - num(d["bslmm"]["test_r"]))
        rows.append((w, int(cmp_all["n"]), statistics.median(p), statistics.mean(r_a),
                     statistics.mean(r_b), num(cmp_all["mean_dr"]), int(cmp_all["n_a_better"]),
                     num(cmp_all["p"]), cmp_all["test"], by_k))
    ks = sorted({k for r in rows for k in r[9]})
    L = ["# bsBSLMM vs BSLMM by cis-window width (demo cohort)", "",
         f"Generated by `bench/window_compare.py` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. "
         "Cohort: `bsbslmm simulate` defaults (2 chromosomes x 40 genes, 400 samples; causal SNPs within "
         "±100 kb of the TSS, weight exp(-|d|/20 kb), x5 in a peak). Demo schedule (2 chains x (250 + 500) "
         "sweeps), 3-fold CV, annotation columns as in pipeline.yaml (log TSS distance, peak overlap, "
         "conservation, motif score). r = pooled test r per gene; delta r = bsBSLMM - BSLMM; "
         "p = paired one-sided Wilcoxon (bsBSLMM better), from the finalize stage.", "",
         "| window | genes | median SNPs per gene | mean r BSLMM | mean r bsBSLMM | mean delta r | bsBSLMM better | p (one-sided) | "
         + " | ".join(f"mean delta r, {k} causal" for k in ks) + " |",
         "|---" * (8 + len(ks)) + "|"]
    for (w, n, pm, ra, rb, dr, nb, pv, test, by_k) in rows:
        cells = [f"±{w // 1000} kb", str(n), f"{pm:.0f}", f"{ra:.4f}", f"{rb:.4f}", f"**{dr:+.4f}**",
                 f"{nb}/{n}", f"**{pv:.3f}** ({test})"]
        cells += [f"{statistics.mean(by_k[k]):+.4f} (n={len(by_k[k])})" if k in by_k else "" for k in ks]
        L.append("| " + " | ".join(cells) + " |")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(L) + "\n")
    os.replace(tmp, a.out)
    print("\n".join(L))


if __name__ == "__main__":
    main()
