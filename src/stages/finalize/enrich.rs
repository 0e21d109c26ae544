//! `enrich`: per method, the fold enrichment of active SNPs (95% posterior interval excludes 0;
//! baselines: non-zero weight) inside peaks against all tested cis SNPs of the genes it fitted,
//! with a gene bootstrap interval and one-sided Fisher and binomial p-values; the truth's causal
//! SNPs as one more row when configured; and the difference between the reference method and
//! each other (paired bootstrap over the genes both have). The arithmetic is
//! [`crate::stats::enrich`]'s.

use std::collections::HashMap;

use crate::config::Enrich;
use crate::io::tsv::fmt_f64;
use crate::stages::finalize::aggregate::SummaryRow;
use crate::stats::enrich::{enrichment, enrichment_difference, GeneCounts};

/// The name of the truth row.
pub const TRUTH: &str = "truth";

/// Columns of `enrich.tsv`.
pub const ENRICH_COLUMNS: [&str; 15] = [
    "row",
    "method",
    "versus",
    "n_genes",
    "n_active",
    "n_active_in_peak",
    "n_tested",
    "n_tested_in_peak",
    "estimate",
    "ci_lo",
    "ci_hi",
    "p_fisher",
    "p_binomial",
    "n_boot_used",
    "note",
];

/// One row of `enrich.tsv`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichRow {
    /// `fold` (a method's enrichment) or `difference` (method minus versus).
    pub row: &'static str,
    pub method: String,
    pub versus: String,
    pub n_genes: usize,
    pub counts: GeneCounts,
    pub estimate: f64,
    pub ci_lo: f64,
    pub ci_hi: f64,
    pub p_fisher: f64,
    pub p_binomial: f64,
    pub n_boot_used: usize,
    pub note: String,
}

impl EnrichRow {
    /// A row with its counts and no estimate yet (NaN, 0 replicates, no note).
    fn unestimated(row: &'static str, method: &str, versus: &str, counts: &[GeneCounts]) -> Self {
        EnrichRow {
            row,
            method: method.to_string(),
            versus: versus.to_string(),
            n_genes: counts.len(),
            counts: total(counts),
            estimate: f64::NAN,
            ci_lo: f64::NAN,
            ci_hi: f64::NAN,
            p_fisher: f64::NAN,
            p_binomial: f64::NAN,
            n_boot_used: 0,
            note: String::new(),
        }
    }

    /// The row as TSV cells in [`ENRICH_COLUMNS`] order.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.row.to_string(),
            self.method.clone(),
            self.versus.clone(),
            self.n_genes.to_string(),
            self.counts.active.to_string(),
            self.counts.active_in.to_string(),
            self.counts.tested.to_string(),
            self.counts.tested_in.to_string(),
            fmt_f64(self.estimate),
            fmt_f64(self.ci_lo),
            fmt_f64(self.ci_hi),
            fmt_f64(self.p_fisher),
            fmt_f64(self.p_binomial),
            self.n_boot_used.to_string(),
            self.note.clone(),
        ]
    }
}

type GeneKey<'a> = (&'a str, &'a str);

/// Per-gene counts of one method (or the truth), keyed by (chromosome, gene), in row order.
fn counts_of<'a>(rows: &'a [SummaryRow], method: &str) -> Vec<(GeneKey<'a>, GeneCounts)> {
    if method == TRUTH {
        let mut seen = std::collections::HashSet::new();
        return rows
            .iter()
            .filter_map(|r| {
                let tested = r.n_causal_tested?;
                let key = (r.chrom.as_str(), r.gene_id.as_str());
                seen.insert(key).then_some((
                    key,
                    GeneCounts {
                        active_in: r.n_causal_in_peak.unwrap_or(0),
                        active: tested,
                        tested_in: r.n_tested_in_peak,
                        tested: r.n_tested,
                    },
                ))
            })
            .collect();
    }
    rows.iter()
        .filter(|r| r.method == method && r.status == "ok")
        .map(|r| {
            (
                (r.chrom.as_str(), r.gene_id.as_str()),
                GeneCounts {
                    active_in: r.n_active_in_peak,
                    active: r.n_active,
                    tested_in: r.n_tested_in_peak,
                    tested: r.n_tested,
                },
            )
        })
        .collect()
}

fn total(c: &[GeneCounts]) -> GeneCounts {
    c.iter().fold(GeneCounts::default(), |mut t, g| {
        t.active_in += g.active_in;
        t.active += g.active;
        t.tested_in += g.tested_in;
        t.tested += g.tested;
        t
    })
}

fn fold_row(cfg: &Enrich, method: &str, counts: &[GeneCounts]) -> EnrichRow {
    let mut row = EnrichRow::unestimated("fold", method, "-", counts);
    match enrichment(counts, cfg.bootstrap, cfg.seed) {
        Ok(e) => {
            row.estimate = e.fold;
            row.ci_lo = e.ci_lo;
            row.ci_hi = e.ci_hi;
            row.p_fisher = e.p_fisher;
            row.p_binomial = e.p_binomial;
            row.n_boot_used = e.n_boot_used;
        }
        Err(e) => row.note = e.to_string(),
    }
    row
}

/// The enrichment table: one `fold` row per method (then the truth, when present), then one
/// `difference` row for the reference method against every other method and the truth.
pub fn enrich(cfg: &Enrich, rows: &[SummaryRow], methods: &[String]) -> Vec<EnrichRow> {
    let mut names: Vec<String> = methods.to_vec();
    let has_truth = rows.iter().any(|r| r.n_causal_tested.is_some());
    if has_truth {
        names.push(TRUTH.to_string());
    }
    let per: HashMap<&str, Vec<(GeneKey, GeneCounts)>> = names
        .iter()
        .map(|m| (m.as_str(), counts_of(rows, m)))
        .collect();
    let mut out: Vec<EnrichRow> = names
        .iter()
        .map(|m| {
            let c: Vec<GeneCounts> = per[m.as_str()].iter().map(|x| x.1).collect();
            fold_row(cfg, m, &c)
        })
        .collect();
    let Some(reference) = per.get(cfg.reference.as_str()) else {
        tracing::info!(
            "enrich: reference method {} is not configured; no differences reported",
            cfg.reference
        );
        return out;
    };
    for other in names.iter().filter(|m| **m != cfg.reference) {
        let theirs: HashMap<GeneKey, GeneCounts> = per[other.as_str()].iter().copied().collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (k, c) in reference {
            if let Some(o) = theirs.get(k) {
                a.push(*c);
                b.push(*o);
            }
        }
        let mut row = EnrichRow::unestimated("difference", &cfg.reference, other, &a);
        match enrichment_difference(&a, &b, cfg.bootstrap, cfg.seed) {
            Ok(d) => {
                row.estimate = d.diff;
                row.ci_lo = d.ci_lo;
                row.ci_hi = d.ci_hi;
                row.n_boot_used = d.n_boot_used;
            }
            Err(e) => row.note = e.to_string(),
        }
        out.push(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        gene: &str,
        method: &str,
        status: &str,
        c: [u64; 4],
        truth: Option<[u64; 2]>,
    ) -> SummaryRow {
        SummaryRow {
            gene_id: gene.into(),
            gene_name: gene.into(),
            chrom: "c1".into(),
            tss: 1,
            method: method.into(),
            status: status.into(),
            reason: String::new(),
            n: 100,
            p: c[2],
            test_r: 0.3,
            r2: 0.09,
            pval: 0.01,
            r2_oos: 0.09,
            pve: f64::NAN,
            pge: f64::NAN,
            n_active: c[0],
            n_active_in_peak: c[1],
            n_tested: c[2],
            n_tested_in_peak: c[3],
            max_rhat: f64::NAN,
            min_ess_bulk: f64::NAN,
            flag_rhat: 0,
            flag_ess: 0,
            flag_pip: 0,
            passes: 1,
            n_causal: truth.map(|t| t[0]),
            n_causal_tested: truth.map(|t| t[0]),
            n_causal_in_peak: truth.map(|t| t[1]),
        }
    }

    fn cfg(seed: u64) -> Enrich {
        Enrich {
            bootstrap: 400,
            seed,
            reference: "a".into(),
            truth: None,
        }
    }

    /// Hand-built counts [active, active_in_peak, tested, tested_in_peak] per gene.
    fn rows() -> Vec<SummaryRow> {
        vec![
            row("G1", "a", "ok", [4, 2, 100, 10], Some([2, 1])),
            row("G1", "b", "ok", [5, 1, 100, 10], Some([2, 1])),
            row("G2", "a", "ok", [2, 1, 50, 5], Some([1, 1])),
            row("G2", "b", "failed", [0, 0, 50, 5], Some([1, 1])),
            row("G3", "a", "ok", [3, 1, 80, 4], Some([0, 0])),
            row("G3", "b", "ok", [2, 0, 80, 4], Some([0, 0])),
        ]
    }

    #[test]
    fn counts_folds_truth_and_differences_on_a_hand_built_case() {
        let methods = vec!["a".to_string(), "b".to_string()];
        let out = enrich(&cfg(3), &rows(), &methods);
        let names: Vec<(&str, &str, &str)> = out
            .iter()
            .map(|r| (r.row, r.method.as_str(), r.versus.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("fold", "a", "-"),
                ("fold", "b", "-"),
                ("fold", "truth", "-"),
                ("difference", "a", "b"),
                ("difference", "a", "truth"),
            ]
        );
        // a: active 9, in peak 4; tested 230, in peak 19.
        let a = &out[0];
        assert_eq!((a.n_genes, a.counts.active, a.counts.active_in), (3, 9, 4));
        assert_eq!((a.counts.tested, a.counts.tested_in), (230, 19));
        assert!((a.estimate - (4.0 / 9.0) / (19.0 / 230.0)).abs() < 1e-12);
        // b: only G1 and G3 are fitted.
        assert_eq!((out[1].n_genes, out[1].counts.active), (2, 7));
        assert!((out[1].estimate - (1.0 / 7.0) / (14.0 / 180.0)).abs() < 1e-12);
        // truth: 3 causal SNPs, 2 in peaks, on all three genes.
        let t = &out[2];
        assert_eq!((t.n_genes, t.counts.active, t.counts.active_in), (3, 3, 2));
        assert!((t.estimate - (2.0 / 3.0) / (19.0 / 230.0)).abs() < 1e-12);
        // a - b on the shared genes G1 and G3 only.
        let d = &out[3];
        assert_eq!(d.n_genes, 2);
        let fa = (3.0 / 7.0) / (14.0 / 180.0);
        let fb = (1.0 / 7.0) / (14.0 / 180.0);
        assert!((d.estimate - (fa - fb)).abs() < 1e-12);
        for r in &out {
            assert!(
                r.ci_lo <= r.estimate && r.estimate <= r.ci_hi,
                "{}: {} not in [{}, {}]",
                r.method,
                r.estimate,
                r.ci_lo,
                r.ci_hi
            );
        }
    }

    #[test]
    fn bootstrap_is_deterministic_for_a_seed() {
        let methods = vec!["a".to_string(), "b".to_string()];
        let one = enrich(&cfg(11), &rows(), &methods);
        let two = enrich(&cfg(11), &rows(), &methods);
        let text = |v: &[EnrichRow]| v.iter().map(EnrichRow::cells).collect::<Vec<_>>();
        assert_eq!(text(&one), text(&two));
        // With 40 genes of varied counts another seed draws other replicates.
        let many: Vec<SummaryRow> = (0..40u64)
            .map(|g| {
                let a = 1 + g % 5;
                row(
                    &format!("G{g}"),
                    "a",
                    "ok",
                    [a, (g * 7) % (a + 1), 60 + g, 3 + g % 9],
                    None,
                )
            })
            .collect();
        let x = enrich(&cfg(11), &many, &methods[..1]);
        let y = enrich(&cfg(12), &many, &methods[..1]);
        assert_eq!(x[0].estimate, y[0].estimate);
        assert_ne!((x[0].ci_lo, x[0].ci_hi), (y[0].ci_lo, y[0].ci_hi));
        assert_eq!(text(&x), text(&enrich(&cfg(11), &many, &methods[..1])));
    }

    #[test]
    fn undefined_enrichment_is_a_row_with_a_note() {
        let rows = vec![row("G1", "a", "ok", [0, 0, 10, 2], None)];
        let out = enrich(&cfg(1), &rows, &["a".to_string()]);
        assert_eq!(out.len(), 1);
        assert!(out[0].estimate.is_nan());
        assert!(out[0].note.contains("no active SNPs"), "{}", out[0].note);
    }
}
