//! Shared helpers for the integration tests: running the binary, a small simulated cohort,
//! pipeline files pointing at it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `bsbslmm` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bsbslmm")
}

/// Runs the binary with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .output()
        .expect("cannot start bsbslmm")
}

/// stdout + stderr as one string.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Requires an external tool, failing loudly (tests must not silently skip).
pub fn require(tool: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "{tool} is required by this test (run .ci/setup)");
}

/// A small simulated cohort (2 chromosomes x 6 genes x 120 samples), generated once per test run.
pub fn small_cohort() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("bsbslmm-it-cohort-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = run_in(
            &dir,
            &[
                "simulate",
                "--out",
                "cohort",
                "--seed",
                "11",
                "--chroms",
                "2",
                "--genes-per-chrom",
                "6",
                "--samples",
                "120",
                "--gwas-samples",
                "400",
            ],
        );
        assert!(out.status.success(), "simulate failed: {}", text(&out));
        dir.join("cohort")
    })
}

/// Copies the small cohort into `dst` (so a test may damage its copy).
pub fn copy_cohort(dst: &Path) -> PathBuf {
    let src = small_cohort();
    let target = dst.join("cohort");
    copy_dir(src, &target);
    target
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// A pipeline file in `dir` for a cohort at `cohort` (relative to `dir`), with extra YAML appended.
pub fn write_pipeline(dir: &Path, cohort: &str, chroms: &str, extra: &str) -> PathBuf {
    let text = format!(
        "output_dir: results\nseed: 5\nchromosomes: [{chroms}]\ninputs:\n  vcf: {cohort}/genotypes/{{chrom}}.vcf.gz\n  expression: {cohort}/expression/expression.bed.gz\n  genes: {cohort}/annotation/genes.gtf\n  covariates: {cohort}/covariates/covariates.tsv\n  peaks: {cohort}/annotation/dnase_peaks.bed\n  variant_annotations: {cohort}/annotation/variant_annotations.tsv.gz\ncis:\n  window_bp: 50000\nqc:\n  min_samples: 20\n{extra}"
    );
    let p = dir.join("pipeline.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// True when `status` output has a row for (stage, chrom) in the given state.
pub fn has_row(status: &str, stage: &str, chrom: &str, state: &str) -> bool {
    status.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 3 && f[0] == stage && f[1] == chrom && f[2] == state
    })
}

/// Runs a Python script with `args`, failing the test with its output if it fails.
pub fn py(script: &str, args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
