//! End-to-end tests of `run --stage prepare`, `status` and `inspect` on a small simulated cohort,
//! checked with external readers (h5dump, h5py) and against the simulator's truth.

use std::process::Command;

use crate::common::{copy_cohort, require, run_in, small_cohort, text, write_pipeline};

/// The datasets PIPELINE.md documents for each prepared gene.
const GENE_DATASETS: [&str; 17] = [
    "snps/id",
    "snps/pos",
    "snps/ref",
    "snps/alt",
    "snps/alt_freq",
    "snps/maf",
    "snps/missing_rate",
    "snps/in_peak",
    "snps/center",
    "snps/scale",
    "snps/block",
    "dosage",
    "expression",
    "annotation",
    "annotation_names",
    "blocks/start",
    "blocks/end",
];

#[test]
fn prepare_writes_a_cache_that_h5py_and_h5dump_read_as_documented() {
    require("h5dump");
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let cohort = small_cohort();
    let pipeline = write_pipeline(dir.path(), &cohort.to_string_lossy(), "chr1, chr2", "");
    let out = run_in(
        dir.path(),
        &["run", pipeline.to_str().unwrap(), "--stage", "prepare"],
    );
    let log = text(&out);
    assert!(out.status.success(), "prepare failed: {log}");
    assert!(
        log.contains("shared"),
        "sample counts must be logged: {log}"
    );
    let cache = dir.path().join("results/cache/chr1.h5");
    assert!(cache.exists());

    let h5dump = Command::new("h5dump")
        .arg("-H")
        .arg(&cache)
        .output()
        .unwrap();
    assert!(h5dump.status.success(), "h5dump -H failed");
    let header = String::from_utf8_lossy(&h5dump.stdout);
    for want in [
        "GROUP \"samples\"",
        "GROUP \"gene_table\"",
        "DATASET \"dosage\"",
        "ATTRIBUTE \"config\"",
    ] {
        assert!(header.contains(want), "h5dump -H lacks {want}");
    }

    let script = format!(
        r#"
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1], "r")
assert f.attrs["complete"] == "yes"
assert f.attrs["kind"] == "prepare_cache"
assert "window_bp: 50000" in f.attrs["config"] or "cis_window_bp: 50000" in f.attrs["config"]
ids = [s.decode() for s in f["samples/id"][:]]
folds = f["samples/fold"][:]
assert len(ids) == len(folds) and set(folds.tolist()) <= set(range(1, 6)), folds
n = len(ids)
t = f["gene_table"]
status = [s.decode() for s in t["status"][:]]
genes = [g.decode() for g in t["gene_id"][:]]
ok = [g for g, s in zip(genes, status) if s == "ok"]
assert len(ok) >= 1, status
for g in ok:
    grp = f["genes"][g]
    for d in {datasets:?}:
        assert d in grp, (g, d)
    p = grp["snps/pos"].shape[0]
    assert grp["dosage"].shape == (p, n), (grp["dosage"].shape, p, n)
    assert grp["expression"].shape == (n,)
    assert grp["annotation"].shape[0] == p
    pos = grp["snps/pos"][:]
    assert np.all(np.diff(pos.astype(np.int64)) >= 0), "SNPs must be in genomic order"
    tss = int(grp.attrs["tss"]); w = 50000
    assert pos.min() >= tss - w and pos.max() <= tss + w
    maf = grp["snps/maf"][:]
    assert maf.min() >= 0.01 - 1e-12
    st, en = grp["blocks/start"][:], grp["blocks/end"][:]
    assert st[0] == 0 and en[-1] == p and np.all(st[1:] == en[:-1]) and np.all(en - st <= 100)
    blk = grp["snps/block"][:]
    assert np.all(np.repeat(np.arange(len(st)), en - st) == blk)
    d = grp["dosage"][:]
    obs = d[~np.isnan(d)]
    assert obs.min() >= 0 and obs.max() <= 2
print("OK", len(ok), n)
"#,
        datasets = GENE_DATASETS
    );
    let py = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(&cache)
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "h5py check failed: {}{}",
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );

    let st = run_in(dir.path(), &["status", pipeline.to_str().unwrap()]);
    let st_text = text(&st);
    assert!(
        crate::common::has_row(&st_text, "prepare", "chr1", "done"),
        "{st_text}"
    );
    assert!(
        crate::common::has_row(&st_text, "prepare", "chr2", "done"),
        "{st_text}"
    );
    assert!(st_text.contains("fit"), "{st_text}");

    let insp = run_in(dir.path(), &["inspect", cache.to_str().unwrap()]);
    assert!(insp.status.success());
    assert!(text(&insp).contains("gene_table/"), "{}", text(&insp));

    let again = run_in(
        dir.path(),
        &["run", pipeline.to_str().unwrap(), "--stage", "prepare"],
    );
    assert!(again.status.success());
    assert!(
        text(&again).contains("skipped"),
        "a complete cache must be skipped: {}",
        text(&again)
    );
}

#[test]
fn prepare_recovers_planted_causal_snps_in_the_cache() {
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let cohort = small_cohort();
    let pipeline = write_pipeline(dir.path(), &cohort.to_string_lossy(), "chr1, chr2", "");
    let out = run_in(
        dir.path(),
        &["run", pipeline.to_str().unwrap(), "--stage", "prepare"],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Every planted causal SNP within the window with MAF >= 0.05 must survive QC and be in the
    // cache, and a SNP in a peak per the truth must carry in_peak = 1.
    let script = r#"
import h5py, csv, sys
causal = list(csv.DictReader(open(sys.argv[1] + "/truth/causal.tsv"), delimiter="\t"))
checked = 0
for chrom in ["chr1", "chr2"]:
    f = h5py.File(sys.argv[2] + f"/results/cache/{chrom}.h5", "r")
    for c in causal:
        if c["chrom"] != chrom or c["gene_id"] not in f["genes"]:
            continue
        g = f["genes"][c["gene_id"]]
        if abs(int(c["pos"]) - int(g.attrs["tss"])) > 50000 or float(c["maf"]) < 0.05:
            continue
        pos = list(g["snps/pos"][:])
        assert int(c["pos"]) in pos, ("causal SNP missing", c)
        j = pos.index(int(c["pos"]))
        assert int(g["snps/in_peak"][j]) == int(c["in_peak"]), ("peak flag", c)
        checked += 1
assert checked >= 3, checked
print("checked", checked)
"#;
    let py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(cohort)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}{}",
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );
}

#[test]
fn unavailable_stage_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cohort = copy_cohort(dir.path());
    let pipeline = write_pipeline(dir.path(), &cohort.to_string_lossy(), "chr1", "");
    let out = run_in(
        dir.path(),
        &["run", pipeline.to_str().unwrap(), "--stage", "twas"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("stage `twas` is not available"),
        "{}",
        text(&out)
    );
}
