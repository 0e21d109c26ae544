//! Every kind of bad input listed in PIPELINE.md ("Bad input: what you see") gets a clear
//! message naming the file and the record, and one bad gene or chromosome never stops the rest.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{copy_cohort, require, run_in, text, write_pipeline};

fn setup(chroms: &str, extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cohort = copy_cohort(dir.path());
    let pipeline = write_pipeline(dir.path(), "cohort", chroms, extra);
    (dir, cohort, pipeline)
}

fn prepare(dir: &Path, pipeline: &Path) -> Output {
    run_in(
        dir,
        &["run", pipeline.to_str().unwrap(), "--stage", "prepare"],
    )
}

fn gunzip(path: &Path) -> String {
    let o = Command::new("bgzip").arg("-dc").arg(path).output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

fn expression_path(cohort: &Path) -> PathBuf {
    cohort.join("expression/expression.bed.gz")
}

/// Rewrites the expression file (as plain text under the same name: readers sniff the bytes).
fn edit_expression(cohort: &Path, f: impl FnOnce(Vec<String>) -> Vec<String>) {
    let p = expression_path(cohort);
    let lines: Vec<String> = gunzip(&p).lines().map(String::from).collect();
    std::fs::write(&p, f(lines).join("\n") + "\n").unwrap();
}

fn failed_reason(dir: &Path, chrom: &str) -> String {
    let r = std::fs::read_to_string(dir.join(format!("results/cache/{chrom}.failed")))
        .unwrap_or_else(|_| panic!("{chrom}.failed must exist"));
    eprintln!("[user sees] {r}");
    r
}

#[test]
fn vcf_without_index_fails_that_chromosome_only() {
    require("bgzip");
    let (dir, cohort, pipeline) = setup("chr1, chr2", "");
    std::fs::remove_file(cohort.join("genotypes/chr1.vcf.gz.tbi")).unwrap();
    let out = prepare(dir.path(), &pipeline);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let reason = failed_reason(dir.path(), "chr1");
    assert!(reason.contains("chr1.vcf.gz"), "{reason}");
    assert!(reason.contains("tabix -p vcf"), "{reason}");
    assert!(
        dir.path().join("results/cache/chr2.h5").exists(),
        "chr2 must still be prepared"
    );
    let st = text(&run_in(dir.path(), &["status", pipeline.to_str().unwrap()]));
    assert!(st.contains("FAILED") && st.contains("tabix"), "{st}");
}

#[test]
fn unsorted_vcf_is_named_with_the_offending_record() {
    require("bgzip");
    let (dir, cohort, pipeline) = setup("chr1", "");
    let vcf = cohort.join("genotypes/chr1.vcf.gz");
    let body = gunzip(&vcf);
    let (header, records): (Vec<&str>, Vec<&str>) = body.lines().partition(|l| l.starts_with('#'));
    let mut records: Vec<&str> = records;
    records.swap(10, 40);
    let plain = cohort.join("genotypes/chr1.vcf");
    std::fs::write(
        &plain,
        header.join("\n") + "\n" + &records.join("\n") + "\n",
    )
    .unwrap();
    std::fs::remove_file(&vcf).unwrap();
    std::fs::remove_file(cohort.join("genotypes/chr1.vcf.gz.tbi")).unwrap();
    assert!(Command::new("bgzip")
        .arg(&plain)
        .status()
        .unwrap()
        .success());
    let out = prepare(dir.path(), &pipeline);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let reason = failed_reason(dir.path(), "chr1");
    assert!(reason.contains("sort"), "{reason}");
    assert!(reason.contains("chr1.vcf.gz"), "{reason}");
}

#[test]
fn truncated_bgzip_is_reported_as_truncated() {
    let (dir, cohort, pipeline) = setup("chr1", "");
    let vcf = cohort.join("genotypes/chr1.vcf.gz");
    let bytes = std::fs::read(&vcf).unwrap();
    std::fs::write(&vcf, &bytes[..bytes.len() / 2]).unwrap();
    let out = prepare(dir.path(), &pipeline);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let reason = failed_reason(dir.path(), "chr1");
    assert!(reason.to_lowercase().contains("truncated"), "{reason}");
    assert!(reason.contains("chr1.vcf.gz"), "{reason}");
}

#[test]
fn no_sample_overlap_reports_counts() {
    let (dir, cohort, pipeline) = setup("chr1", "");
    edit_expression(&cohort, |mut l| {
        let h: Vec<String> = l[0]
            .split('\t')
            .enumerate()
            .map(|(i, s)| {
                if i < 4 {
                    s.to_string()
                } else {
                    format!("X{s}")
                }
            })
            .collect();
        l[0] = h.join("\t");
        l
    });
    let out = prepare(dir.path(), &pipeline);
    assert_ne!(out.status.code(), Some(0));
    let reason = failed_reason(dir.path(), "chr1");
    assert!(reason.contains("no sample is shared"), "{reason}");
    assert!(reason.contains("has 120 samples"), "{reason}");
    assert!(reason.contains("expression.bed.gz"), "{reason}");
}

#[test]
fn partial_sample_overlap_is_logged_with_counts_and_goes_on() {
    let (dir, cohort, pipeline) = setup("chr1", "");
    let mut n_expr = 0;
    edit_expression(&cohort, |l| {
        l.into_iter()
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                n_expr = f.len() - 4 - 10;
                f[..f.len() - 10].join("\t")
            })
            .collect()
    });
    let out = prepare(dir.path(), &pipeline);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains(&format!("shared {n_expr}")), "{log}");
    assert!(log.contains("partial sample overlap"), "{log}");
}

#[test]
fn na_and_non_numeric_expression_name_line_gene_and_sample() {
    for (token, want) in [("NA", "expression_na"), ("abc", "abc")] {
        let (dir, cohort, pipeline) = setup("chr1", "");
        let mut gene = String::new();
        let mut sample = String::new();
        edit_expression(&cohort, |mut l| {
            let header: Vec<String> = l[0].split('\t').map(String::from).collect();
            let mut f: Vec<String> = l[2].split('\t').map(String::from).collect();
            gene = f[3].clone();
            sample = header[6].clone();
            f[6] = token.to_string();
            l[2] = f.join("\t");
            l
        });
        let out = prepare(dir.path(), &pipeline);
        let msg = text(&out);
        eprintln!("[user sees] {msg}");
        assert_eq!(out.status.code(), Some(1), "{msg}");
        assert!(msg.contains("expression.bed.gz:3"), "{msg}");
        assert!(msg.contains(&gene), "{msg}");
        assert!(msg.contains(&sample), "{msg}");
        assert!(msg.contains(want), "{msg}");
    }
}

#[test]
fn na_expression_can_be_dropped_per_gene() {
    let (dir, cohort, pipeline) = setup("chr1", "");
    std::fs::write(
        &pipeline,
        std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("qc:\n", "qc:\n  expression_na: drop\n"),
    )
    .unwrap();
    edit_expression(&cohort, |mut l| {
        let mut f: Vec<String> = l[1].split('\t').map(String::from).collect();
        f[5] = "NA".into();
        l[1] = f.join("\t");
        l
    });
    let out = prepare(dir.path(), &pipeline);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn duplicate_gene_ids_name_both_lines() {
    let (dir, cohort, pipeline) = setup("chr1", "");
    edit_expression(&cohort, |mut l| {
        let dup = l[1].clone();
        l.insert(3, dup);
        l
    });
    let out = prepare(dir.path(), &pipeline);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(1), "{msg}");
    assert!(msg.contains("expression.bed.gz"), "{msg}");
    assert!(msg.contains("appears on lines 2 and 4"), "{msg}");
}

#[test]
fn gene_on_a_contig_the_vcf_lacks_is_recorded_and_the_rest_go_on() {
    let (dir, cohort, pipeline) = setup("chr1", "");
    let gtf = cohort.join("annotation/genes.gtf");
    let body = std::fs::read_to_string(&gtf).unwrap();
    let expr = gunzip(&expression_path(&cohort));
    let first_gene = expr
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .nth(3)
        .unwrap()
        .to_string();
    let moved: Vec<String> = body
        .lines()
        .map(|l| {
            if l.contains(&format!("gene_id \"{first_gene}\"")) {
                l.replacen("chr1\t", "chrUn_test\t", 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&gtf, moved.join("\n") + "\n").unwrap();
    let out = prepare(dir.path(), &pipeline);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let st = text(&run_in(dir.path(), &["status", pipeline.to_str().unwrap()]));
    eprintln!("[user sees] {st}");
    assert!(st.contains(&first_gene), "{st}");
    assert!(st.contains("contig_missing"), "{st}");
    assert!(st.contains("chrUn_test"), "{st}");
    assert!(
        crate::common::has_row(&st, "prepare", "chr1", "failures"),
        "{st}"
    );
}

#[test]
fn config_errors_stop_before_any_work() {
    let (dir, _cohort, pipeline) = setup("chr1", "");
    let good = std::fs::read_to_string(&pipeline).unwrap();
    let cases = [
        (
            good.replace("window_bp: 50000", "window_bp: -5"),
            "cis.window_bp (line 12)",
        ),
        (
            good.replace("window_bp: 50000", "windowbp: 5"),
            "unknown field `windowbp`",
        ),
        (good.replace("seed: 5", "seed: [5"), "line"),
        (
            format!("{good}\nmethods:\n  - model: ridge\n    single_precision: true\n"),
            "methods.single_precision",
        ),
        (
            good.replace("cohort/annotation/genes.gtf", "cohort/nope.gtf")
                .replace("cohort/covariates/covariates.tsv", "cohort/nope.tsv"),
            "2 input file(s) not found",
        ),
    ];
    for (yaml, want) in cases {
        std::fs::write(&pipeline, &yaml).unwrap();
        let out = prepare(dir.path(), &pipeline);
        let msg = text(&out);
        eprintln!("[user sees] {msg}");
        assert_eq!(out.status.code(), Some(1), "{msg}");
        assert!(msg.contains(want), "want {want:?} in {msg}");
        assert!(msg.contains("pipeline.yaml"), "{msg}");
        assert!(
            !dir.path().join("results/cache").exists(),
            "no work may start: {msg}"
        );
    }
}

#[test]
fn genes_without_snps_or_samples_are_recorded_with_reasons() {
    let (dir, cohort, pipeline) = setup("chr1", "");
    // A 1 bp window leaves (almost) every gene without a SNP; one gene with NA expression in all
    // but 15 samples (under `expression_na: drop`) has too few samples.
    std::fs::write(
        &pipeline,
        std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("window_bp: 50000", "window_bp: 1")
            .replace("qc:\n", "qc:\n  expression_na: drop\n"),
    )
    .unwrap();
    let mut starved = String::new();
    edit_expression(&cohort, |mut l| {
        let mut f: Vec<String> = l[2].split('\t').map(String::from).collect();
        starved = f[3].clone();
        let nf = f.len();
        for v in f.iter_mut().take(nf - 15).skip(4) {
            *v = "NA".into();
        }
        l[2] = f.join("\t");
        l
    });
    let out = prepare(dir.path(), &pipeline);
    assert_eq!(
        out.status.code(),
        Some(0),
        "QC skips are not failures: {}",
        text(&out)
    );
    let st = text(&run_in(dir.path(), &["status", pipeline.to_str().unwrap()]));
    assert!(st.contains("no_snps: no SNP passes QC in chr1:"), "{st}");
    assert!(
        st.contains(&format!(
            "{starved}: too_few_samples: 15 samples with expression"
        )),
        "{st}"
    );
}
