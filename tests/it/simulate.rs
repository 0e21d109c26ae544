//! The `simulate` stage end to end: determinism, acceptance of its VCFs by bcftools/tabix, the
//! sample sets of the expression and covariate files, and recovery of the planted truth.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bsbslmm::stages::simulate::{simulate, NoiseModel, SimulateOptions, SimulateSummary};

fn small(out: &Path) -> SimulateOptions {
    SimulateOptions {
        out: out.to_path_buf(),
        seed: 11,
        chroms: 1,
        genes_per_chrom: 4,
        samples: 60,
        gwas_samples: 300,
        noise: NoiseModel::LowRank { rank: 3 },
        noise_fraction: 0.3,
    }
}

fn run(opts: &SimulateOptions) -> SimulateSummary {
    simulate(opts).expect("simulate runs")
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is installed: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn gunzip(path: &Path) -> String {
    let file = fs::File::open(path).expect("open gz");
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(file)
        .read_to_string(&mut s)
        .expect("gunzip");
    s
}

fn tsv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("header")
        .split('\t')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    (header, rows)
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).expect("prefix").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_options_give_byte_identical_files_in_the_contract_layout() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let sa = run(&small(a.path()));
    run(&small(b.path()));
    let files = all_files(a.path());
    let expected: Vec<PathBuf> = [
        "annotation/dnase_peaks.bed",
        "annotation/genes.gtf",
        "annotation/variant_annotations.tsv.gz",
        "covariates/covariates.tsv",
        "expression/expression.bed.gz",
        "genotypes/chr1.vcf.gz",
        "genotypes/chr1.vcf.gz.tbi",
        "gwas/trait.sumstats.tsv.gz",
        "truth/README.md",
        "truth/causal.tsv",
        "truth/genes.tsv",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(
        files, expected,
        "exactly the contract files, no temporaries"
    );
    assert_eq!(all_files(b.path()), expected);
    assert_eq!(sa.files.len(), expected.len());
    for f in &files {
        let x = fs::read(a.path().join(f)).expect("read a");
        let y = fs::read(b.path().join(f)).expect("read b");
        assert!(x == y, "{} differs between two identical runs", f.display());
    }

    let c = tempfile::tempdir().expect("tempdir");
    let mut other = small(c.path());
    other.seed = 12;
    other.noise = NoiseModel::Random;
    run(&other);
    let x = fs::read(a.path().join("genotypes/chr1.vcf.gz")).expect("read");
    let y = fs::read(c.path().join("genotypes/chr1.vcf.gz")).expect("read");
    assert_ne!(x, y, "another seed gives other genotypes");
}

#[test]
fn bcftools_and_tabix_accept_the_vcf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = run(&small(dir.path()));
    let vcf = dir.path().join("genotypes/chr1.vcf.gz");
    let vcf = vcf.to_str().expect("utf-8 path");
    let records = tool("bcftools", &["view", "-H", vcf]);
    assert_eq!(records.lines().count(), s.n_sites[0]);
    assert!(s.n_sites[0] > 2000, "~4 SNPs per kb over ~0.8 Mb");
    assert_eq!(tool("tabix", &["-l", vcf]).trim(), "chr1");

    let region = tool("tabix", &[vcf, "chr1:300000-400000"]);
    let in_region = records
        .lines()
        .filter(|l| {
            let pos: u64 = l.split('\t').nth(1).expect("pos").parse().expect("int");
            (300_000..=400_000).contains(&pos)
        })
        .count();
    assert_eq!(
        region.lines().count(),
        in_region,
        "index finds every record in a region"
    );

    let multi = tool("bcftools", &["view", "-H", "-m3", vcf])
        .lines()
        .count();
    let rate = multi as f64 / s.n_sites[0] as f64;
    assert!(multi > 0 && rate < 0.02, "multi-allelic rate {rate}");

    let gts = tool("bcftools", &["query", "-f", "[%GT\\n]", vcf]);
    let total = gts.lines().count();
    let missing = gts.lines().filter(|g| *g == "./.").count();
    let rate = missing as f64 / total as f64;
    assert!((0.001..0.003).contains(&rate), "missing-call rate {rate}");
}

#[test]
fn expression_and_covariates_hold_the_expected_sample_sets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = run(&small(dir.path()));
    let vcf = dir.path().join("genotypes/chr1.vcf.gz");
    let vcf_samples: Vec<String> = tool("bcftools", &["query", "-l", vcf.to_str().expect("path")])
        .lines()
        .map(String::from)
        .collect();
    let expected: Vec<String> = (1..=60).map(|i| format!("SIM{i:04}")).collect();
    assert_eq!(vcf_samples, expected);

    let (eh, erows) = tsv(&gunzip(&dir.path().join("expression/expression.bed.gz")));
    assert_eq!(eh[..4], ["#chr", "start", "end", "gene_id"]);
    let expr_samples = &eh[4..];
    assert_eq!(
        expr_samples.len(),
        58,
        "60 - round(3% of 60) samples have RNA"
    );
    assert_eq!(s.n_expression_samples, 58);
    let vcf_set: BTreeSet<&String> = vcf_samples.iter().collect();
    assert!(expr_samples.iter().all(|x| vcf_set.contains(x)));
    let mut sorted = expr_samples.to_vec();
    sorted.sort();
    assert_ne!(sorted, expr_samples, "expression columns are shuffled");
    assert_eq!(erows.len(), 4);
    assert!(erows.iter().all(|r| r.len() == eh.len()));

    let (ch, crows) =
        tsv(&fs::read_to_string(dir.path().join("covariates/covariates.tsv")).expect("read"));
    assert_eq!(ch[0], "ID");
    let cov_set: BTreeSet<&String> = ch[1..].iter().collect();
    let expr_set: BTreeSet<&String> = expr_samples.iter().collect();
    assert_eq!(cov_set, expr_set);
    assert_ne!(&ch[1..], expr_samples, "covariate columns in another order");
    let names: Vec<&str> = crows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["PC1", "PC2", "PC3", "sex", "PEER1", "PEER2"]);
    let sex = &crows[3][1..];
    assert!(sex.iter().all(|v| v == "0" || v == "1"));
}

#[test]
fn truth_matches_the_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = small(dir.path());
    opts.genes_per_chrom = 8;
    let s = run(&opts);
    let vcf = dir.path().join("genotypes/chr1.vcf.gz");
    let vcf = vcf.to_str().expect("path");

    let (gh, genes) = tsv(&fs::read_to_string(dir.path().join("truth/genes.tsv")).expect("read"));
    assert_eq!(genes.len(), 8);
    let col = |name: &str| gh.iter().position(|h| h == name).expect("column");
    assert_eq!(genes[0][col("gene_id")], "ENSG90100000001.1");
    assert_eq!(genes[0][col("gene_name")], "SIM1G001");

    let gtf = fs::read_to_string(dir.path().join("annotation/genes.gtf")).expect("read");
    let gene_lines: Vec<Vec<&str>> = gtf
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[2] == "gene")
        .collect();
    assert_eq!(gene_lines.len(), 8);
    for (g, f) in genes.iter().zip(&gene_lines) {
        let tss = if f[6] == "+" { f[3] } else { f[4] };
        assert_eq!(tss, g[col("tss")], "GTF TSS of {}", g[0]);
        assert!(f[8].contains(&format!("gene_id \"{}\"", g[0])));
    }

    let (ch, causal) = tsv(&fs::read_to_string(dir.path().join("truth/causal.tsv")).expect("read"));
    let n_causal: usize = genes
        .iter()
        .map(|g| g[col("n_causal")].parse::<usize>().expect("int"))
        .sum();
    assert_eq!(causal.len(), n_causal);
    assert_eq!(causal.len(), s.n_causal);
    assert!(!causal.is_empty(), "this seed plants causal SNPs");
    let c = |name: &str| ch.iter().position(|h| h == name).expect("column");
    for row in &causal {
        let pos = &row[c("pos")];
        let hit = tool(
            "bcftools",
            &["view", "-H", "-r", &format!("chr1:{pos}-{pos}"), vcf],
        );
        let fields: Vec<&str> = hit
            .lines()
            .next()
            .expect("causal SNP in the VCF")
            .split('\t')
            .collect();
        assert_eq!(fields[1], pos);
        assert_eq!(fields[2], row[c("variant_id")]);
        assert_eq!(fields[3], row[c("ref")]);
        assert_eq!(fields[4], row[c("alt")], "causal SNPs are biallelic");
        let maf: f64 = row[c("maf")].parse().expect("maf");
        assert!(maf >= 0.02);
    }

    let (sh, stats) = tsv(&gunzip(&dir.path().join("gwas/trait.sumstats.tsv.gz")));
    assert_eq!(
        sh,
        ["SNP", "CHR", "BP", "A1", "A2", "FRQ", "BETA", "SE", "Z", "P", "N"]
    );
    let ref_alt: HashMap<String, (String, String)> =
        tool("bcftools", &["query", "-f", "%ID\\t%REF\\t%ALT\\n", vcf])
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), (f[1].to_string(), f[2].to_string()))
            })
            .collect();
    let mut swapped = 0;
    for r in &stats {
        let (rf, alt) = ref_alt.get(&r[0]).expect("sumstats SNP in the VCF");
        let beta: f64 = r[6].parse().expect("beta");
        let se: f64 = r[7].parse().expect("se");
        let z: f64 = r[8].parse().expect("z");
        let p: f64 = r[9].parse().expect("p");
        assert!(se > 0.0 && (0.0..=1.0).contains(&p));
        assert!(
            (z - beta / se).abs() < 1e-3 * z.abs().max(1.0) + 1e-3,
            "Z = BETA/SE in {r:?}"
        );
        if r[3] == *rf {
            assert_eq!(r[4], *alt);
            swapped += 1;
        } else {
            assert_eq!((&r[3], &r[4]), (alt, rf));
        }
        assert_eq!(r[10], "300");
    }
    let frac = swapped as f64 / stats.len() as f64;
    assert!((0.07..0.13).contains(&frac), "swapped fraction {frac}");

    let bed = fs::read_to_string(dir.path().join("annotation/dnase_peaks.bed")).expect("read");
    let mut covered = 0u64;
    let mut last_end = 0u64;
    for l in bed.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 10, "narrowPeak has 10 columns");
        let (s0, e): (u64, u64) = (f[1].parse().expect("start"), f[2].parse().expect("end"));
        assert!(s0 >= last_end && e > s0, "sorted, non-overlapping");
        last_end = e;
        covered += e - s0;
    }
    let length = 400_000 + 7 * 120_000;
    let frac = covered as f64 / length as f64;
    assert!(
        (0.005..0.10).contains(&frac),
        "peaks cover {frac} of the chromosome"
    );

    let annot = gunzip(&dir.path().join("annotation/variant_annotations.tsv.gz"));
    assert_eq!(annot.lines().count() - 1, s.n_sites[0]);
}

/// Genotype dosages (ALT1 copies, NaN when missing) at one position, in VCF sample order.
fn dosages_at(vcf: &str, pos: &str) -> Vec<f64> {
    let line = tool(
        "bcftools",
        &[
            "query",
            "-r",
            &format!("chr1:{pos}-{pos}"),
            "-f",
            "[%GT\\t]\\n",
            vcf,
        ],
    );
    line.lines()
        .next()
        .expect("one record")
        .split('\t')
        .filter(|g| !g.is_empty())
        .map(|g| {
            if g.starts_with('.') {
                f64::NAN
            } else {
                g.split(['/', '|']).filter(|a| *a == "1").count() as f64
            }
        })
        .collect()
}

fn correlation(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let syy: f64 = y.iter().map(|b| (b - my) * (b - my)).sum();
    sxy / (sxx * syy).sqrt()
}

#[test]
fn planted_sparse_genetic_value_predicts_expression() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SimulateOptions {
        out: dir.path().to_path_buf(),
        seed: 5,
        chroms: 1,
        genes_per_chrom: 12,
        samples: 200,
        gwas_samples: 200,
        noise: NoiseModel::Identity,
        noise_fraction: 0.0,
    };
    run(&opts);
    let vcf = dir.path().join("genotypes/chr1.vcf.gz");
    let vcf = vcf.to_str().expect("path");
    let samples: Vec<String> = tool("bcftools", &["query", "-l", vcf])
        .lines()
        .map(String::from)
        .collect();
    let (eh, erows) = tsv(&gunzip(&dir.path().join("expression/expression.bed.gz")));
    let col_of: Vec<usize> = eh[4..]
        .iter()
        .map(|s| {
            samples
                .iter()
                .position(|x| x == s)
                .expect("expression sample genotyped")
        })
        .collect();
    let (gh, genes) = tsv(&fs::read_to_string(dir.path().join("truth/genes.tsv")).expect("read"));
    let h2_col = gh.iter().position(|h| h == "h2_sparse").expect("h2_sparse");
    let (_, causal) = tsv(&fs::read_to_string(dir.path().join("truth/causal.tsv")).expect("read"));

    let mut strong = 0;
    let mut moderate = Vec::new();
    for g in &genes {
        let h2: f64 = g[h2_col].parse().expect("h2");
        let expr: Vec<f64> = erows
            .iter()
            .find(|r| r[3] == g[0])
            .expect("gene in expression")[4..]
            .iter()
            .map(|v| v.parse().expect("float"))
            .collect();
        let mut gv = vec![0.0; samples.len()];
        let mut any = false;
        for c in causal.iter().filter(|c| c[0] == g[0]) {
            any = true;
            let beta: f64 = c[6].parse().expect("beta");
            let d = dosages_at(vcf, &c[2]);
            let called: Vec<f64> = d.iter().copied().filter(|v| !v.is_nan()).collect();
            let mean = called.iter().sum::<f64>() / called.len() as f64;
            for (v, x) in gv.iter_mut().zip(&d) {
                *v += beta * if x.is_nan() { mean } else { *x };
            }
        }
        if !any {
            continue;
        }
        let gv_cols: Vec<f64> = col_of.iter().map(|&j| gv[j]).collect();
        let r = correlation(&gv_cols, &expr);
        if h2 >= 0.2 {
            strong += 1;
            assert!(r > 0.3, "gene {} h2_sparse {h2}: corr {r}", g[0]);
            assert!(
                (r * r - h2).abs() < 0.2,
                "gene {} r^2 {} near h2 {h2}",
                g[0],
                r * r
            );
        }
        if (0.08..0.2).contains(&h2) {
            moderate.push((g[0].clone(), h2, r));
        }
    }
    assert!(
        strong >= 2,
        "this seed has at least two genes with h2_sparse >= 0.2, found {strong}"
    );
    for (id, h2, r) in moderate {
        assert!(
            r > 0.0,
            "gene {id} (h2 {h2}) has a positive correlation, got {r}"
        );
    }
}

/// Mean |correlation| across genes between pairs of expression samples.
fn mean_sample_pair_correlation(dir: &Path) -> f64 {
    let (_, rows) = tsv(&gunzip(&dir.join("expression/expression.bed.gz")));
    let m: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            let v: Vec<f64> = r[4..].iter().map(|v| v.parse().expect("float")).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| x - mean).collect()
        })
        .collect();
    let n = m[0].len();
    let col = |j: usize| m.iter().map(|r| r[j]).collect::<Vec<f64>>();
    let mut total = 0.0;
    let mut pairs = 0.0;
    for a in 0..n {
        for b in a + 1..n {
            total += correlation(&col(a), &col(b)).abs();
            pairs += 1.0;
        }
    }
    total / pairs
}

#[test]
fn low_rank_noise_correlates_samples_across_genes() {
    let base = |out: &Path, noise, f| SimulateOptions {
        out: out.to_path_buf(),
        seed: 3,
        chroms: 1,
        genes_per_chrom: 40,
        samples: 40,
        gwas_samples: 100,
        noise,
        noise_fraction: f,
    };
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    run(&base(a.path(), NoiseModel::Identity, 0.8));
    run(&base(b.path(), NoiseModel::LowRank { rank: 2 }, 0.8));
    let iid = mean_sample_pair_correlation(a.path());
    let structured = mean_sample_pair_correlation(b.path());
    println!("mean |sample-pair r|: identity {iid:.3}, rank-2 {structured:.3}");
    assert!(
        iid < 0.2,
        "independent noise: mean |r| {iid} near sqrt(2/(pi*40)) = 0.13"
    );
    assert!(
        structured > 1.5 * iid,
        "rank-2 noise: mean |r| {structured} vs {iid}"
    );
}

/// The default run (2 x 40 genes x 400 samples, 5000 GWAS individuals). Run with
/// `cargo test --release --test it -- --ignored --nocapture default_run` to see time and sizes.
#[test]
#[ignore]
fn default_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SimulateOptions {
        out: dir.path().to_path_buf(),
        ..SimulateOptions::default()
    };
    let t = Instant::now();
    let s = run(&opts);
    println!("default run: {:.2} s", t.elapsed().as_secs_f64());
    println!(
        "sites per chromosome: {:?}; genes {}; causal {}; expression samples {}; GWAS rows {}",
        s.n_sites, s.n_genes, s.n_causal, s.n_expression_samples, s.n_gwas_rows
    );
    for f in &s.files {
        let len = fs::metadata(f).expect("metadata").len();
        println!(
            "{:>12} {}",
            len,
            f.strip_prefix(dir.path()).expect("prefix").display()
        );
    }
    if let Ok(keep) = std::env::var("BSBSLMM_SIM_KEEP") {
        let _ = fs::remove_dir_all(&keep);
        let _ = Command::new("cp")
            .args(["-r", dir.path().to_str().expect("path"), &keep])
            .status();
    }
}
