//! The fit stage end to end on the small simulated cohort: the documented per-gene HDF5 layout
//! (read with h5py), identical results with 1 and 2 threads, resume and --force, and sanity
//! against the planted truth.

use std::path::Path;

use crate::common::{has_row, py, require, run_in, small_cohort, text, write_pipeline};

const METHODS: &str = "methods:
  - {model: bslmm, chains: 2, burnin: 60, samples: 120}
  - {model: bsbslmm, chains: 2, burnin: 60, samples: 120}
  - {model: bayesc_annot, chains: 2, burnin: 60, samples: 120}
  - {model: ridge}
  - {model: enet, inner_folds: 3}
";

fn pipeline_in(dir: &Path, out: &str) -> std::path::PathBuf {
    let cohort = small_cohort();
    let p = write_pipeline(dir, &cohort.to_string_lossy(), "chr1, chr2", METHODS);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("output_dir: results", &format!("output_dir: {out}"));
    let path = dir.join(format!("{out}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Compares every dataset and attribute of two trees of per-gene outputs, except wall time and
/// the stored config (whose output_dir differs).
const COMPARE: &str = r#"
import h5py, numpy as np, sys, os, glob
a, b = sys.argv[1], sys.argv[2]
fa = sorted(os.path.relpath(f, a) for f in glob.glob(a + "/fit/*/*/*.h5"))
fb = sorted(os.path.relpath(f, b) for f in glob.glob(b + "/fit/*/*/*.h5"))
assert fa == fb and len(fa) > 0, (len(fa), len(fb))
n = 0
for rel in fa:
    x, y = h5py.File(os.path.join(a, rel)), h5py.File(os.path.join(b, rel))
    def walk(g, h, path):
        global n
        assert sorted(g.keys()) == sorted(h.keys()), (rel, path)
        for k in g.attrs:
            if k in ("wall_time_s", "config"):
                continue
            u, v = np.asarray(g.attrs[k]), np.asarray(h.attrs[k])
            assert u.tobytes() == v.tobytes() if u.dtype.kind == "f" else np.array_equal(u, v), (rel, path, k)
        for k in g:
            if isinstance(g[k], h5py.Group):
                walk(g[k], h[k], path + "/" + k)
            else:
                u, v = g[k][()], h[k][()]
                if u.dtype.kind == "f":
                    assert u.tobytes() == v.tobytes(), (rel, path, k)
                else:
                    assert np.array_equal(u, v), (rel, path, k)
                n += 1
    walk(x, y, "")
print("compared", len(fa), "files", n, "datasets")
"#;

#[test]
fn fit_layout_determinism_resume_and_truth() {
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let p1 = pipeline_in(dir.path(), "out1");
    let p2 = pipeline_in(dir.path(), "out2");
    let r1 = run_in(dir.path(), &["run", p1.to_str().unwrap(), "--threads", "1"]);
    assert!(r1.status.success(), "{}", text(&r1));
    let r2 = run_in(dir.path(), &["run", p2.to_str().unwrap(), "--threads", "2"]);
    assert!(r2.status.success(), "{}", text(&r2));

    // 1 thread and 2 threads: every dataset identical to the bit.
    let cmp = py(
        COMPARE,
        &[&dir.path().join("out1"), &dir.path().join("out2")],
    );
    assert!(cmp.contains("compared 60 files"), "{cmp}");

    // The documented layout.
    let layout = r#"
import h5py, numpy as np, sys, glob
for f in glob.glob(sys.argv[1] + "/fit/*/*/*.h5"):
    h = h5py.File(f)
    assert h.attrs["complete"] == "yes" and h.attrs["kind"] == "gene_fit"
    p = h["snps/pos"].shape[0]
    for d in ["snps/id", "snps/ref", "snps/alt", "snps/maf", "snps/cache_index", "posterior/pip",
              "posterior/beta_mean", "posterior/active", "posterior/weight_std", "posterior/weight_per_allele",
              "blocks/start", "blocks/end", "cv/fold", "cv/n_train", "cv/n_test", "cv/test_r", "cv/test_r2",
              "cv/r2_oos", "cv/pval", "cv/predictions/sample", "cv/predictions/fold",
              "cv/predictions/observed", "cv/predictions/predicted"]:
        assert d in h, (f, d)
    assert h["posterior/pip"].shape == (p,)
    assert list(h["cv/fold"][:]) == [1, 2, 3, 4, 5]
    assert h["cv/predictions/sample"].shape[0] == h["cv"].attrs["pooled_n"] == h.attrs["n_samples"]
    if h.attrs["model"] in ("bslmm", "bsbslmm", "bayesc_annot"):
        for d in ["posterior/pip_rb", "posterior/beta_sd", "posterior/ci_lo", "posterior/ci_hi",
                  "posterior/p_positive", "blocks/bip", "blocks/p_gate_on", "hyper/sigma_e2", "hyper/pve",
                  "diagnostics/rhat", "diagnostics/ess_bulk", "diagnostics/ess_tail", "diagnostics/ess_delta"]:
            assert d in h, (f, d)
        assert h["hyper/sigma_e2"].shape == (2, 120)
        pip = h["posterior/pip"][:]
        assert np.all((pip >= 0) & (pip <= 1))
        lo, hi, act = h["posterior/ci_lo"][:], h["posterior/ci_hi"][:], h["posterior/active"][:]
        assert np.array_equal(act.astype(bool), (lo > 0) | (hi < 0))
        assert np.all(pip[act.astype(bool)] >= 0.975)
        ed = h["diagnostics/ess_delta"][:]
        assert np.array_equal(np.isfinite(ed), pip > 0.1) or not np.any(pip > 0.1) and np.all(np.isnan(ed))
print("ok")
"#;
    py(layout, &[&dir.path().join("out1")]);

    // Planted truth: genes with a strong sparse signal predict well, null genes do not.
    let truth = r#"
import h5py, csv, sys, numpy as np
genes = {g["gene_id"]: g for g in csv.DictReader(open(sys.argv[2] + "/truth/genes.tsv"), delimiter="\t")}
strong, null = [], []
for gid, g in genes.items():
    f = f"{sys.argv[1]}/fit/bslmm/{g['chrom']}/{gid}.h5"
    r = h5py.File(f)["cv"].attrs["pooled_r"]
    if float(g["h2_sparse"]) >= 0.2:
        strong.append(r)
    if int(g["n_causal"]) == 0:
        null.append(r)
assert len(strong) >= 2, strong
assert np.mean(strong) > 0.3, strong
if null:
    assert np.mean(null) < np.mean(strong) - 0.15, (null, strong)
print("strong", np.round(strong, 3), "null", np.round(null, 3))
"#;
    py(truth, &[&dir.path().join("out1"), small_cohort()]);

    // Resume: nothing is refitted; --force refits one chromosome.
    let again = run_in(dir.path(), &["run", p1.to_str().unwrap(), "--stage", "fit"]);
    assert!(again.status.success());
    assert!(
        text(&again).contains("0 done, 60 skipped"),
        "{}",
        text(&again)
    );
    let forced = run_in(
        dir.path(),
        &[
            "run",
            p1.to_str().unwrap(),
            "--stage",
            "fit",
            "--chrom",
            "chr2",
            "--force",
        ],
    );
    assert!(
        text(&forced).contains("30 done, 0 skipped"),
        "{}",
        text(&forced)
    );
    let st = text(&run_in(dir.path(), &["status", p1.to_str().unwrap()]));
    assert!(has_row(&st, "fit:bsbslmm", "chr1", "done"), "{st}");
    assert!(has_row(&st, "fit:enet", "chr2", "done"), "{st}");
}

/// A `--force` refit that fails removes the earlier output: the gene is reported failed (with the
/// reason) instead of done with a stale fit.
#[test]
fn failed_force_refit_replaces_the_earlier_output_with_the_failure() {
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let cohort = small_cohort();
    let p = write_pipeline(
        dir.path(),
        &cohort.to_string_lossy(),
        "chr1",
        "methods:\n  - {model: ridge}\n",
    );
    let ps = p.to_str().unwrap();
    let first = run_in(
        dir.path(),
        &["run", ps, "--stage", "prepare", "--stage", "fit"],
    );
    assert!(first.status.success(), "{}", text(&first));
    // Damage one gene in the cache: constant expression makes every fold fail.
    let gene = py(
        r#"
import h5py, sys
h = h5py.File(sys.argv[1], "r+")
g = sorted(h["genes"].keys())[0]
h["genes"][g]["expression"][...] = 0.0
print(g)
"#,
        &[&dir.path().join("results/cache/chr1.h5")],
    )
    .trim()
    .to_string();
    let fit_dir = dir.path().join("results/fit/ridge/chr1");
    assert!(fit_dir.join(format!("{gene}.h5")).exists());
    let forced = run_in(dir.path(), &["run", ps, "--stage", "fit", "--force"]);
    assert_eq!(forced.status.code(), Some(3), "{}", text(&forced));
    assert!(
        !fit_dir.join(format!("{gene}.h5")).exists(),
        "the earlier fit of {gene} is still there"
    );
    let reason = std::fs::read_to_string(fit_dir.join(format!("{gene}.failed"))).unwrap();
    assert!(reason.contains(&gene), "{reason}");
    let others = std::fs::read_dir(&fit_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "h5")
        })
        .count();
    assert_eq!(others, 5, "the other genes are refitted");
    let st = run_in(dir.path(), &["status", ps]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    assert!(text(&st).contains("1 failed"), "{}", text(&st));
}
