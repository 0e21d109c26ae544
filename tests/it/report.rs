//! The report stage: built from finalize tables (written by the library's own genome-wide step
//! from planted per-gene rows) and a twas table fixture (`tests/data/twas_fixture.tsv`, the
//! twas stage's documented format), opened in headless Chromium, whose parsed DOM must hold
//! every section heading and one SVG with plotted marks per plot; without the twas table the
//! TWAS plots give way to a note.

use std::path::Path;
use std::process::Command;

use bsbslmm::config::Config;
use bsbslmm::io::store::{self, H5Writer};
use bsbslmm::stages::finalize::{self, aggregate::SummaryRow};

use crate::common::{require, run_in, small_cohort, text, write_pipeline};

const EXTRA: &str = "methods:
  - {model: bsbslmm}
  - {model: bslmm}
  - {model: enet}
enrich:
  bootstrap: 100
";

/// Planted per-gene rows: 2 chromosomes x 8 genes x 3 methods, one failed gene, some flags,
/// active SNPs and causal SNPs in peaks so every plot has content.
fn planted_rows() -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for c in 1..=2u64 {
        for g in 1..=8u64 {
            for (k, m) in ["bsbslmm", "bslmm", "enet"].iter().enumerate() {
                let base = 0.05 * g as f64 + 0.02 * c as f64;
                let r = base + [0.01, 0.0, -0.02][k] + 0.003 * ((g * 7 + k as u64) % 5) as f64;
                let failed = c == 2 && g == 8 && *m == "enet";
                rows.push(SummaryRow {
                    gene_id: format!("ENSG90{c}0000000{g}.1"),
                    gene_name: format!("SIM{c}G00{g}"),
                    chrom: format!("chr{c}"),
                    tss: g * 120_000,
                    method: m.to_string(),
                    status: if failed { "failed" } else { "ok" }.into(),
                    reason: if failed { "planted" } else { "" }.into(),
                    n: 300,
                    p: 400,
                    test_r: if failed { f64::NAN } else { r },
                    r2: r * r,
                    pval: if r > 0.15 { 1e-4 } else { 0.2 },
                    r2_oos: r * r,
                    pve: 0.3,
                    pge: 0.5,
                    n_active: 2 + g % 3,
                    n_active_in_peak: 1 + (g + k as u64) % 2,
                    n_tested: 400,
                    n_tested_in_peak: 20,
                    max_rhat: 1.0 + 0.01 * g as f64,
                    min_ess_bulk: 100.0 * g as f64,
                    flag_rhat: u8::from(g > 1),
                    flag_ess: u8::from(g < 4),
                    flag_pip: 0,
                    passes: u8::from(r > 0.15),
                    n_causal: Some(2),
                    n_causal_tested: Some(2),
                    n_causal_in_peak: Some(1),
                });
            }
        }
    }
    rows
}

/// Writes the per-chromosome tables (and complete placeholder aggregates) and runs the
/// library's genome-wide step, which writes genes/compare/passing/overlap/enrich TSVs.
fn write_finalize_tables(pipeline: &Path) {
    let config = Config::load(pipeline).unwrap();
    let rows = planted_rows();
    for chrom in ["chr1", "chr2"] {
        let sub: Vec<SummaryRow> = rows.iter().filter(|r| r.chrom == chrom).cloned().collect();
        let text = finalize::aggregate::render_rows(&sub);
        store::write_text_atomic(&finalize::chrom_tsv(&config, chrom), &text).unwrap();
        H5Writer::create(&config.final_path(chrom))
            .unwrap()
            .finish()
            .unwrap();
    }
    finalize::genome_wide(&config).unwrap();
}

fn dump_dom(html: &Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &format!("file://{}", html.display()),
        ])
        .output()
        .expect("cannot start chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `<svg>...</svg>` elements of a DOM.
fn svgs(dom: &str) -> Vec<&str> {
    dom.split("<svg")
        .skip(1)
        .map(|s| s.split("</svg>").next().unwrap())
        .collect()
}

#[test]
fn report_renders_in_headless_chromium() {
    require("chromium");
    let dir = tempfile::tempdir().unwrap();
    let cohort = small_cohort();
    let p = write_pipeline(dir.path(), &cohort.to_string_lossy(), "chr1, chr2", EXTRA);
    write_finalize_tables(&p);
    let twas = dir.path().join("results/twas/twas.tsv");
    std::fs::create_dir_all(twas.parent().unwrap()).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/twas_fixture.tsv"),
        &twas,
    )
    .unwrap();

    let ps = p.to_str().unwrap();
    let out = run_in(dir.path(), &["run", ps, "--stage", "report"]);
    assert!(out.status.success(), "{}", text(&out));
    let html = dir.path().join("results/report.html");
    let raw = std::fs::read_to_string(&html).unwrap();
    assert!(
        !raw.contains("src=\"http") && !raw.contains("href=\"http"),
        "the report must be self-contained"
    );
    let dom = dump_dom(&html);
    for heading in [
        "Prediction accuracy: paired comparisons",
        "bsBSLMM vs BSLMM test r",
        "Enrichment of active SNPs in DNase peaks",
        "Genes passing per method",
        "TWAS",
        "Convergence warnings (R-hat / ESS)",
        "Genes not fitted",
    ] {
        assert!(dom.contains(&format!("{heading}</h2>")), "{heading}");
    }
    let plots = svgs(&dom);
    // Δr by chromosome, scatter, enrichment forest, difference forest, passing, Manhattan, QQ.
    assert_eq!(plots.len(), 7, "{} svg elements", plots.len());
    for (i, s) in plots.iter().enumerate() {
        let marks = s.matches("<circle").count() + s.matches("<rect").count();
        assert!(marks >= 3, "plot {i} has {marks} marks");
    }
    // Scatter: one point per gene both methods fitted (16); Manhattan: 15 tested genes.
    assert_eq!(plots[1].matches("<circle").count(), 16);
    assert!(plots[5].contains("15 genes"), "{}", plots[5]);
    assert!(dom.contains("SIM1G003"), "top TWAS gene listed");
    assert!(dom.contains("truth"));

    // Without the twas table: a note instead of the TWAS plots.
    std::fs::remove_file(&twas).unwrap();
    let out = run_in(dir.path(), &["run", ps, "--stage", "report"]);
    assert!(out.status.success(), "{}", text(&out));
    let dom = dump_dom(&html);
    assert_eq!(svgs(&dom).len(), 5);
    assert!(dom.contains("The twas stage has not run"), "note missing");
}
