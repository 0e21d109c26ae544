//! Export and twas end to end on a dedicated simulated cohort (2 chromosomes x 10 genes, short
//! schedules): the weights database read back with Python's sqlite3 has the PredictDB schema and
//! our allele convention (checked against the per-gene HDF5 fits), the covariance file matches
//! numpy on dosages parsed from the VCF, twas.tsv matches an independent numpy S-PrediXcan with
//! its own harmonization, and the planted trait genes rank at the top for bsbslmm.

use std::process::Command;

use crate::common::{py, require, run_in, text, write_pipeline};

const METHODS: &str = "cv:
  folds: 2
methods:
  - {model: bsbslmm, chains: 2, burnin: 100, samples: 200}
  - {model: enet, inner_folds: 3}
";

/// Schema, allele convention and weights of every exported gene against its HDF5 fit; the
/// covariance file against numpy on the VCF's GT dosages of all samples.
const CHECK_EXPORT: &str = r##"
import sqlite3, gzip, sys, os, h5py, numpy as np
res, cohort = sys.argv[1], sys.argv[2]
for method in ["bsbslmm", "enet"]:
    con = sqlite3.connect(os.path.join(res, "final/predictdb", method + ".db"))
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"weights", "extra", "sample_info", "construction"} <= tables, tables
    cols = lambda t: [(r[1], r[2]) for r in con.execute(f"pragma table_info({t})")]
    assert cols("weights")[:5] == [("rsid", "TEXT"), ("gene", "TEXT"), ("weight", "DOUBLE"),
        ("ref_allele", "CHARACTER"), ("eff_allele", "CHARACTER")], cols("weights")
    assert cols("extra") == [("gene", "TEXT"), ("genename", "TEXT"), ("n.snps.in.model", "INTEGER"),
        ("pred.perf.R2", "DOUBLE"), ("pred.perf.pval", "DOUBLE"), ("pred.perf.qval", "DOUBLE")], cols("extra")
    idx = {r[0] for r in con.execute("select name from sqlite_master where type='index'")}
    assert {"weights_rsid", "weights_gene", "weights_rsid_gene", "extra_gene"} <= idx, idx
    extra = {r[0]: r for r in con.execute("select * from extra")}
    assert len(extra) > 5, len(extra)
    # BH q-values over every fitted gene (model_summaries), recomputed here.
    ms = con.execute("select gene, cv_pval, cv_qval from model_summaries").fetchall()
    p = np.array([r[1] for r in ms]); o = np.argsort(p, kind="stable"); m = len(p)
    q = np.minimum.accumulate((p[o] * m / np.arange(1, m + 1))[::-1])[::-1]; qq = np.empty(m); qq[o] = np.minimum(q, 1)
    for (g, _, qv), want in zip(ms, qq):
        assert abs(qv - want) < 1e-12, (g, qv, want)
    cov = {}
    with gzip.open(os.path.join(res, "final/predictdb", method + ".txt.gz"), "rt") as f:
        assert f.readline().split() == ["GENE", "RSID1", "RSID2", "VALUE"]
        for line in f:
            g, a, b, v = line.split()
            cov[(g, a, b)] = float(v)
    n_w = 0
    vcf_rows = {}
    for chrom in ["chr1", "chr2"]:
        with gzip.open(os.path.join(cohort, "genotypes", chrom + ".vcf.gz"), "rt") as f:
            for line in f:
                if line.startswith("#"):
                    continue
                x = line.rstrip("\n").split("\t")
                vcf_rows[x[2]] = x
    for gene, name, nsnp, r2, pval, qval in extra.values():
        rows = con.execute("select rsid, weight, ref_allele, eff_allele, varID from weights where gene=?", (gene,)).fetchall()
        assert len(rows) == nsnp > 0, (gene, len(rows), nsnp)
        chrom = "chr1" if gene.startswith("ENSG901") else "chr2"
        h = h5py.File(os.path.join(res, "fit", method, chrom, gene + ".h5"), "r")
        ids = [s.decode() for s in h["snps/id"][:]]
        assert abs(h["cv"].attrs["pooled_r2"] - r2) < 1e-12 and abs(h["cv"].attrs["pooled_pval"] - pval) < 1e-300 + 1e-12 * pval
        wpa = h["posterior/weight_per_allele"][:]
        for rsid, w, ref, eff, var in rows:
            j = ids.index(rsid)
            assert w == wpa[j] and w != 0, (gene, rsid, w, wpa[j])
            assert eff == h["snps/alt"][j].decode() and ref == h["snps/ref"][j].decode(), (gene, rsid)
            v = vcf_rows[rsid]
            assert (ref, eff) == (v[3], v[4]), (rsid, v[3:5])   # eff_allele = VCF ALT
            assert var == f"{v[0]}_{v[1]}_{v[3]}_{v[4]}", var
            n_w += 1
        # Covariance: GT -> ALT count, missing -> SNP mean, numpy.cov over all VCF samples.
        d = []
        for rsid, *_ in rows:
            gt = [s.split(":")[0] for s in vcf_rows[rsid][9:]]
            x = np.array([np.nan if "." in g else float(g.replace("|", "/").split("/").count("1")) for g in gt])
            x[np.isnan(x)] = np.nanmean(x)
            d.append(x)
        c = np.atleast_2d(np.cov(np.array(d)))
        k = len(rows)
        for a in range(k):
            for b in range(a, k):
                got = cov[(gene, rows[a][0], rows[b][0])]
                assert abs(got - c[a, b]) < 1e-9, (gene, rows[a][0], rows[b][0], got, c[a, b])
        assert sum(1 for key in cov if key[0] == gene) == k * (k + 1) // 2
    print(method, "genes", len(extra), "weights", n_w)
"##;

/// An independent S-PrediXcan from the db, the covariance file and the GWAS, with harmonization
/// written separately; compared with twas.tsv; then the trait genes' ranks.
const CHECK_TWAS: &str = r##"
import sqlite3, gzip, sys, os, csv, math, numpy as np
res, cohort = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(os.path.join(res, "twas/twas.tsv")), delimiter="\t"))
with open(os.path.join(res, "twas/twas.tsv")) as f:
    assert f.readline().rstrip("\n").split("\t") == ["method", "gene_id", "gene_name", "chrom", "tss", "z", "p",
        "n_snps_model", "n_snps_used", "n_flipped", "n_ambiguous", "n_missing", "status"]
key = lambda r: (r["method"], r["chrom"], int(r["tss"]), r["gene_id"])
assert [key(r) for r in rows] == sorted(key(r) for r in rows)
gw = {}
with gzip.open(os.path.join(cohort, "gwas/trait.sumstats.tsv.gz"), "rt") as f:
    for r in csv.DictReader(f, delimiter="\t"):
        gw[r["SNP"]] = (r["A1"], r["A2"], float(r["Z"]))
comp = {"A": "T", "T": "A", "C": "G", "G": "C"}
checked = 0
for method in ["bsbslmm", "enet"]:
    con = sqlite3.connect(os.path.join(res, "final/predictdb", method + ".db"))
    cov = {}
    with gzip.open(os.path.join(res, "final/predictdb", method + ".txt.gz"), "rt") as f:
        f.readline()
        for line in f:
            g, a, b, v = line.split()
            cov[(g, a, b)] = cov[(g, b, a)] = float(v)
    for r in rows:
        if r["method"] != method:
            continue
        ws = con.execute("select rsid, weight, ref_allele, eff_allele from weights where gene=?", (r["gene_id"],)).fetchall()
        use, z, flipped, amb, miss = [], [], 0, 0, 0
        for rsid, w, ref, eff in ws:
            if comp.get(ref) == eff:
                amb += 1; continue
            if rsid not in gw:
                miss += 1; continue
            a1, a2, zz = gw[rsid]
            if (a1, a2) == (eff, ref): s = 1
            elif (a1, a2) == (ref, eff): s = -1; flipped += 1
            else: miss += 1; continue
            use.append((rsid, w)); z.append(s * zz)
        assert (int(r["n_snps_model"]), int(r["n_snps_used"]), int(r["n_flipped"]), int(r["n_ambiguous"]), int(r["n_missing"])) == (len(ws), len(use), flipped, amb, miss), (r, len(ws), len(use), flipped, amb, miss)
        if not use:
            assert r["status"] == "no_snps" and r["z"] == "NA", r
            continue
        S = np.array([[cov[(r["gene_id"], a, b)] for b, _ in use] for a, _ in use])
        w = np.array([x for _, x in use])
        zg = np.sum(w * np.sqrt(np.diag(S)) * np.array(z)) / math.sqrt(w @ S @ w)
        assert r["status"] == "ok" and abs(float(r["z"]) - zg) < 2e-6, (r, zg)
        p = math.erfc(abs(zg) / math.sqrt(2))
        assert abs(float(r["p"]) - p) <= 1e-6 * p, (r["p"], p)
        checked += 1
print("checked", checked)
trait = [t["gene_id"] for t in csv.DictReader(open(os.path.join(cohort, "truth/genes.tsv")), delimiter="\t") if t["trait_gene"] == "1"]
for method in ["bsbslmm", "enet"]:
    ok = sorted((r for r in rows if r["method"] == method and r["status"] == "ok"), key=lambda r: -abs(float(r["z"])))
    rank = {r["gene_id"]: i + 1 for i, r in enumerate(ok)}
    print("ranks", method, len(ok), " ".join(f"{g}:{rank.get(g, 'NA')}" for g in trait))
"##;

#[test]
fn export_schema_covariance_twas_and_trait_gene_ranks() {
    require("python3");
    require("sqlite3");
    let dir = tempfile::tempdir().unwrap();
    let sim = run_in(
        dir.path(),
        &[
            "simulate",
            "--out",
            "cohort",
            "--seed",
            "3",
            "--chroms",
            "2",
            "--genes-per-chrom",
            "10",
            "--samples",
            "300",
            "--gwas-samples",
            "4000",
        ],
    );
    assert!(sim.status.success(), "{}", text(&sim));
    let cohort = dir.path().join("cohort");
    let extra = format!("{METHODS}export:\n  genes: all\n",);
    let p = write_pipeline(dir.path(), "cohort", "chr1, chr2", &extra);
    let yaml = std::fs::read_to_string(&p).unwrap().replace(
        "  variant_annotations:",
        "  gwas: cohort/gwas/trait.sumstats.tsv.gz\n  variant_annotations:",
    );
    std::fs::write(&p, yaml).unwrap();
    let run = run_in(dir.path(), &["run", p.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    let res = dir.path().join("results");

    // sqlite3 CLI opens it and sees the PredictDB tables.
    let out = Command::new("sqlite3")
        .arg(res.join("final/predictdb/bsbslmm.db"))
        .arg(".tables")
        .output()
        .unwrap();
    let tables = String::from_utf8_lossy(&out.stdout);
    for t in ["weights", "extra", "sample_info", "construction"] {
        assert!(tables.contains(t), "{tables}");
    }

    let checked = py(CHECK_EXPORT, &[&res, &cohort]);
    assert!(
        checked.contains("bsbslmm genes") && checked.contains("enet genes"),
        "{checked}"
    );
    let twas = py(CHECK_TWAS, &[&res, &cohort]);
    eprintln!("{checked}{twas}");
    let ranks: Vec<&str> = twas
        .lines()
        .find(|l| l.starts_with("ranks bsbslmm"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .collect();
    assert_eq!(ranks.len(), 4, "{twas}");
    for r in &ranks {
        let rank: usize = r.rsplit(':').next().unwrap().parse().unwrap_or(usize::MAX);
        assert!(
            rank <= 4,
            "bsbslmm: a planted trait gene is not in the top 4 of 20: {twas}"
        );
    }

    // A second export with nothing changed is skipped; --force redoes it.
    let again = run_in(
        dir.path(),
        &["run", p.to_str().unwrap(), "--stage", "export"],
    );
    assert!(
        text(&again).contains("up to date, skipped"),
        "{}",
        text(&again)
    );
    let forced = run_in(
        dir.path(),
        &["run", p.to_str().unwrap(), "--stage", "export", "--force"],
    );
    assert!(
        text(&forced).contains("stage export: 2 done"),
        "{}",
        text(&forced)
    );
}
