//! The finalize stage end to end on the small simulated cohort: summary values equal the
//! per-gene file attributes (read independently with h5py), failed and missing genes are listed
//! with reasons, an aggregate made while genes were missing and redone after they finished equals
//! a fresh aggregate, an unchanged rerun is skipped, and the truth row of the enrichment counts
//! the causal SNPs found among the tested SNPs of the prepare cache.

use std::path::Path;

use crate::common::{has_row, py, require, run_in, small_cohort, text, write_pipeline};

const EXTRA: &str = "cv:
  folds: 3
methods:
  - {model: bslmm, chains: 2, burnin: 40, samples: 80}
  - {model: bsbslmm, chains: 2, burnin: 40, samples: 80}
  - {model: enet, inner_folds: 3}
compare:
  pairs: [[bsbslmm, bslmm], [bsbslmm, enet], [bsbslmm, block_only]]
enrich:
  bootstrap: 200
";

/// Every summary row against the per-gene file it came from, and `/summary` against the TSV.
const CHECK_SUMMARY: &str = r#"
import h5py, csv, sys, numpy as np
out = sys.argv[1]
rows = list(csv.DictReader(open(out + "/final/genes.tsv"), delimiter="\t"))
assert len(rows) == 12 * 3, len(rows)
checked = 0
for r in rows:
    if r["status"] != "ok":
        continue
    f = h5py.File(f"{out}/fit/{r['method']}/{r['chrom']}/{r['gene_id']}.h5")
    cv = f["cv"].attrs
    for col, val in [("test_r", cv["pooled_r"]), ("r2", cv["pooled_r2"]), ("pval", cv["pooled_pval"])]:
        assert float(r[col]) == float(val), (r["gene_id"], col, r[col], val)
    assert int(r["n"]) == f.attrs["n_samples"] and int(r["p"]) == f.attrs["n_snps"]
    assert int(r["n_active"]) == int(f["posterior/active"][:].sum())
    cache = h5py.File(f"{out}/cache/{r['chrom']}.h5")
    in_peak = cache[f"genes/{r['gene_id']}/snps/in_peak"][:]
    idx = f["snps/cache_index"][:]
    act = f["posterior/active"][:].astype(bool)
    assert int(r["n_active_in_peak"]) == int(in_peak[idx][act].sum())
    assert int(r["n_tested"]) == len(in_peak) and int(r["n_tested_in_peak"]) == int(in_peak.sum())
    if "hyper" in f:
        assert abs(float(r["pve"]) - f["hyper/pve"][:].mean()) < 1e-12
        assert abs(float(r["pge"]) - f["hyper/pge"][:].mean()) < 1e-12
        assert int(r["flag_rhat"]) == f["diagnostics"].attrs["flag_rhat"]
    else:
        assert r["pve"] == "NA"
    passes = float(r["test_r"]) > 0.1 and float(r["pval"]) < 0.05
    assert int(r["passes"]) == int(passes)
    checked += 1
# the HDF5 summary table holds the same values as the TSV, and the documented per-gene layout
for chrom in ["chr1", "chr2"]:
    h = h5py.File(f"{out}/final/{chrom}.h5")
    assert h.attrs["complete"] == "yes" and h.attrs["kind"] == "final_chrom"
    s = h["summary"]
    sub = [r for r in rows if r["chrom"] == chrom]
    assert [x.decode() for x in s["gene_id"][:]] == [r["gene_id"] for r in sub]
    assert [x.decode() for x in s["status"][:]] == [r["status"] for r in sub]
    tr = s["test_r"][:]
    for x, r in zip(tr, sub):
        assert (np.isnan(x) and r["test_r"] == "NA") or x == float(r["test_r"])
    for r in sub:
        if r["status"] == "ok":
            g = h[f"genes/{r['gene_id']}/{r['method']}"]
            for d in ["snps/id", "snps/in_peak", "posterior/active", "posterior/weight_per_allele", "cv/test_r", "cv/predictions/predicted"]:
                assert d in g, (r["gene_id"], d)
            assert g["cv"].attrs["pooled_r"] == float(r["test_r"])
            assert "hyper" not in g
            if r["method"] != "enet":
                assert "hyper_summary/mean" in g
print("checked", checked)
"#;

/// Compares two aggregate directories: the TSVs byte for byte, the HDF5 trees dataset by
/// dataset and attribute by attribute.
const SAME_AGGREGATE: &str = r#"
import h5py, numpy as np, sys, os
a, b = sys.argv[1], sys.argv[2]
# predictdb/ is the export step of finalize, checked by the twas tests
names = sorted(x for x in os.listdir(a) if x != "predictdb")
assert names == sorted(x for x in os.listdir(b) if x != "predictdb"), (names, os.listdir(b))
n = 0
for name in names:
    pa, pb = os.path.join(a, name), os.path.join(b, name)
    if name.endswith(".tsv"):
        assert open(pa, "rb").read() == open(pb, "rb").read(), name
        continue
    x, y = h5py.File(pa), h5py.File(pb)
    def walk(g, h, path):
        global n
        assert sorted(g.keys()) == sorted(h.keys()), (name, path)
        assert sorted(g.attrs.keys()) == sorted(h.attrs.keys()), (name, path)
        for k in g.attrs:
            u, v = np.asarray(g.attrs[k]), np.asarray(h.attrs[k])
            assert u.tobytes() == v.tobytes() if u.dtype.kind == "f" else np.array_equal(u, v), (name, path, k)
        for k in g:
            if isinstance(g[k], h5py.Group):
                walk(g[k], h[k], path + "/" + k)
            else:
                u, v = g[k][()], h[k][()]
                assert u.shape == v.shape and (u.tobytes() == v.tobytes() if u.dtype.kind == "f" else np.array_equal(u, v)), (name, path, k)
                n += 1
    walk(x, y, "")
print("identical", len(names), "files", n, "datasets")
"#;

/// The truth row: causal SNPs matched to the cache's tested SNPs by variant ID.
const CHECK_TRUTH: &str = r#"
import h5py, csv, sys
out, cohort = sys.argv[1], sys.argv[2]
causal = list(csv.DictReader(open(cohort + "/truth/causal.tsv"), delimiter="\t"))
tested = in_peak = 0
for c in causal:
    cache = h5py.File(f"{out}/cache/{c['chrom']}.h5")
    g = f"genes/{c['gene_id']}/snps"
    if g not in cache:
        continue
    ids = [x.decode() for x in cache[g + "/id"][:]]
    if c["variant_id"] in ids:
        j = ids.index(c["variant_id"])
        tested += 1
        in_peak += int(cache[g + "/in_peak"][j])
        assert int(cache[g + "/in_peak"][j]) == int(c["in_peak"]), c
rows = {(r["row"], r["method"], r["versus"]): r for r in csv.DictReader(open(out + "/final/enrich.tsv"), delimiter="\t")}
t = rows[("fold", "truth", "-")]
assert int(t["n_active"]) == tested and int(t["n_active_in_peak"]) == in_peak, (t, tested, in_peak)
assert tested > 0
lo, est, hi = float(t["ci_lo"]), float(t["estimate"]), float(t["ci_hi"])
assert lo <= est <= hi, t
assert ("difference", "bsbslmm", "truth") in rows and ("difference", "bsbslmm", "enet") in rows
print("truth", tested, in_peak, est)
"#;

fn hide(out: &Path, rel: &str, stash: &Path) {
    std::fs::create_dir_all(stash).unwrap();
    let from = out.join(rel);
    std::fs::rename(&from, stash.join(rel.replace('/', "__"))).unwrap();
}

fn unhide(out: &Path, rel: &str, stash: &Path) {
    std::fs::rename(stash.join(rel.replace('/', "__")), out.join(rel)).unwrap();
}

#[test]
fn finalize_aggregates_compares_enriches_and_reruns_incrementally() {
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let cohort = small_cohort();
    let extra = format!(
        "{EXTRA}  truth: {}/truth/causal.tsv\n",
        cohort.to_string_lossy()
    );
    let p = write_pipeline(dir.path(), &cohort.to_string_lossy(), "chr1, chr2", &extra);
    let ps = p.to_str().unwrap();
    let fit = run_in(
        dir.path(),
        &["run", ps, "--stage", "prepare", "--stage", "fit"],
    );
    assert!(fit.status.success(), "{}", text(&fit));
    let out = dir.path().join("results");
    let list = |chrom: &str| {
        let mut g: Vec<String> = std::fs::read_dir(out.join("fit/bsbslmm").join(chrom))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".h5"))
            .collect();
        g.sort();
        g
    };
    let (genes, genes2) = (list("chr1"), list("chr2"));
    assert_eq!((genes.len(), genes2.len()), (6, 6), "{genes:?} {genes2:?}");

    // Two genes not finished yet, one failed (with a reason), then finalize.
    let stash = dir.path().join("stash");
    let missing = [
        format!("fit/bsbslmm/chr1/{}", genes[0]),
        format!("fit/bslmm/chr2/{}", genes2[1]),
    ];
    let failed_gene = format!("fit/enet/chr1/{}", genes[2]);
    for rel in &missing {
        hide(&out, rel, &stash);
    }
    hide(&out, &failed_gene, &stash);
    let failed_marker = out.join(failed_gene.replace(".h5", ".failed"));
    std::fs::write(&failed_marker, "planted failure: glmnet did not converge\n").unwrap();

    let first = run_in(dir.path(), &["run", ps, "--stage", "finalize"]);
    assert!(first.status.success(), "{}", text(&first));
    let log = text(&first);
    assert!(
        log.contains("compare: pair bsbslmm vs block_only skipped"),
        "{log}"
    );
    let tsv = std::fs::read_to_string(out.join("final/genes.tsv")).unwrap();
    let g2 = genes[2].trim_end_matches(".h5");
    assert!(
        tsv.lines().any(|l| l.starts_with(g2)
            && l.contains("\tenet\tfailed\tplanted failure: glmnet did not converge\t")),
        "{tsv}"
    );
    let n_missing = tsv.lines().filter(|l| l.contains("\tmissing\t")).count();
    assert_eq!(n_missing, 2, "{tsv}");
    let st = text(&run_in(dir.path(), &["status", ps]));
    assert!(has_row(&st, "finalize", "chr1", "done"), "{st}");
    assert!(st.contains("33/36") || st.contains("16/18"), "{st}");

    // The genes finish: restore them and aggregate again.
    for rel in &missing {
        unhide(&out, rel, &stash);
    }
    unhide(&out, &failed_gene, &stash);
    std::fs::remove_file(&failed_marker).unwrap();
    let again = run_in(dir.path(), &["run", ps, "--stage", "finalize"]);
    assert!(again.status.success(), "{}", text(&again));
    let checked = py(CHECK_SUMMARY, &[&out]);
    assert!(checked.contains("checked 36"), "{checked}");
    let truth = py(CHECK_TRUTH, &[&out, cohort]);
    assert!(truth.starts_with("truth "), "{truth}");

    // Unchanged inputs: the aggregate (2 chromosomes) and the export (3 methods) are skipped.
    let skip = run_in(dir.path(), &["run", ps, "--stage", "finalize"]);
    assert!(text(&skip).contains("0 done, 5 skipped"), "{}", text(&skip));

    // Incremental == fresh, file by file.
    std::fs::rename(out.join("final"), dir.path().join("final_incremental")).unwrap();
    let fresh = run_in(dir.path(), &["run", ps, "--stage", "finalize"]);
    assert!(fresh.status.success(), "{}", text(&fresh));
    let same = py(
        SAME_AGGREGATE,
        &[&dir.path().join("final_incremental"), &out.join("final")],
    );
    assert!(same.contains("identical 9 files"), "{same}");

    // compare.tsv: one row per active pair and scope, n = genes both fitted.
    let cmp = std::fs::read_to_string(out.join("final/compare.tsv")).unwrap();
    let all: Vec<&str> = cmp
        .lines()
        .filter(|l| l.starts_with("all\tbsbslmm\tbslmm\t"))
        .collect();
    assert_eq!(all.len(), 1, "{cmp}");
    assert!(all[0].starts_with("all\tbsbslmm\tbslmm\t12\t"), "{cmp}");
    assert_eq!(cmp.lines().count(), 1 + 2 * 3, "{cmp}");
}
