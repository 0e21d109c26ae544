//! `compare`: paired one-sided Wilcoxon signed-rank tests of per-gene pooled test r between the
//! configured method pairs, per chromosome and over all chromosomes, on the genes both methods
//! fitted; and per method the genes that pass the `compare.min_r` / `compare.max_p` filter, with
//! their overlap between methods. The arithmetic is [`crate::stats::wilcoxon`]'s.

use std::collections::{BTreeSet, HashMap};

use tracing::info;

use crate::config::{Compare, ZeroMethodKind};
use crate::io::tsv::fmt_f64;
use crate::stages::finalize::aggregate::SummaryRow;
use crate::stats::wilcoxon::{
    wilcoxon, Alternative, Method as WMethod, WilcoxonOptions, ZeroMethod,
};

/// Columns of `compare.tsv`.
pub const COMPARE_COLUMNS: [&str; 15] = [
    "scope",
    "method_a",
    "method_b",
    "n",
    "n_zero",
    "n_a_better",
    "mean_dr",
    "median_dr",
    "t_plus",
    "t_minus",
    "z",
    "p",
    "test",
    "zero_method",
    "note",
];

/// One test: method a against method b on one scope (a chromosome or `all`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    pub scope: String,
    pub method_a: String,
    pub method_b: String,
    /// Genes both methods fitted with a finite test r (zero differences included).
    pub n: usize,
    pub n_zero: usize,
    /// Genes where r_a > r_b.
    pub n_a_better: usize,
    /// Mean and median of Δr = r_a − r_b.
    pub mean_dr: f64,
    pub median_dr: f64,
    pub t_plus: f64,
    pub t_minus: f64,
    /// z of the normal approximation (NaN when the exact distribution was used).
    pub z: f64,
    /// One-sided p-value, alternative "r_a tends to exceed r_b".
    pub p: f64,
    /// `exact` or `normal`.
    pub test: String,
    pub note: String,
}

impl CompareRow {
    /// The row as TSV cells in [`COMPARE_COLUMNS`] order.
    pub fn cells(&self, zero_method: ZeroMethodKind) -> Vec<String> {
        vec![
            self.scope.clone(),
            self.method_a.clone(),
            self.method_b.clone(),
            self.n.to_string(),
            self.n_zero.to_string(),
            self.n_a_better.to_string(),
            fmt_f64(self.mean_dr),
            fmt_f64(self.median_dr),
            fmt_f64(self.t_plus),
            fmt_f64(self.t_minus),
            fmt_f64(self.z),
            fmt_f64(self.p),
            self.test.clone(),
            zero_method_name(zero_method).to_string(),
            self.note.clone(),
        ]
    }
}

fn zero_method_name(z: ZeroMethodKind) -> &'static str {
    match z {
        ZeroMethodKind::Wilcox => "wilcox",
        ZeroMethodKind::Pratt => "pratt",
        ZeroMethodKind::Zsplit => "zsplit",
    }
}

/// The test options for `n` pairs: exact null distribution up to `exact_max_n` pairs.
pub fn options(cfg: &Compare, n: usize) -> WilcoxonOptions {
    WilcoxonOptions {
        alternative: Alternative::Greater,
        zero_method: match cfg.zero_method {
            ZeroMethodKind::Wilcox => ZeroMethod::Wilcox,
            ZeroMethodKind::Pratt => ZeroMethod::Pratt,
            ZeroMethodKind::Zsplit => ZeroMethod::Zsplit,
        },
        correction: cfg.correction,
        method: if n <= cfg.exact_max_n {
            WMethod::Exact
        } else {
            WMethod::Normal
        },
    }
}

/// Tests one pair on the given (r_a, r_b) values.
pub fn test_pair(
    cfg: &Compare,
    scope: &str,
    a: &str,
    b: &str,
    ra: &[f64],
    rb: &[f64],
) -> CompareRow {
    let mut row = CompareRow {
        scope: scope.to_string(),
        method_a: a.to_string(),
        method_b: b.to_string(),
        n: ra.len(),
        n_zero: 0,
        n_a_better: ra.iter().zip(rb).filter(|(x, y)| x > y).count(),
        mean_dr: f64::NAN,
        median_dr: f64::NAN,
        t_plus: f64::NAN,
        t_minus: f64::NAN,
        z: f64::NAN,
        p: f64::NAN,
        test: "-".into(),
        note: String::new(),
    };
    match wilcoxon(ra, rb, &options(cfg, ra.len())) {
        Ok(w) => {
            row.n_zero = w.n_zero;
            row.mean_dr = w.mean_diff;
            row.median_dr = w.median_diff;
            row.t_plus = w.t_plus;
            row.t_minus = w.t_minus;
            row.z = w.z.unwrap_or(f64::NAN);
            row.p = w.p_value;
            row.test = match w.method_used {
                WMethod::Normal => "normal",
                _ => "exact",
            }
            .into();
            if w.n_zero == w.n {
                row.note = "all differences are zero".into();
            }
        }
        Err(e) => row.note = e.to_string(),
    }
    row
}

/// The configured pairs whose two methods are both configured; the others are logged.
pub fn active_pairs(cfg: &Compare, methods: &[String]) -> Vec<(String, String)> {
    cfg.pairs
        .iter()
        .filter(|(a, b)| {
            let ok = methods.contains(a) && methods.contains(b);
            if !ok {
                info!(
                    "compare: pair {a} vs {b} skipped: {} not among the configured methods ({})",
                    if methods.contains(a) { b } else { a },
                    methods.join(", ")
                );
            }
            ok
        })
        .cloned()
        .collect()
}

/// Pooled test r of every `ok` (chromosome, gene, method) row with a finite r.
pub fn test_r_index(rows: &[SummaryRow]) -> HashMap<(&str, &str, &str), f64> {
    rows.iter()
        .filter(|r| r.status == "ok" && r.test_r.is_finite())
        .map(|r| {
            (
                (r.chrom.as_str(), r.gene_id.as_str(), r.method.as_str()),
                r.test_r,
            )
        })
        .collect()
}

/// Every active pair on every chromosome of `chroms` (in that order) and then on `all`.
pub fn compare(
    cfg: &Compare,
    rows: &[SummaryRow],
    methods: &[String],
    chroms: &[String],
) -> Vec<CompareRow> {
    let r_of = test_r_index(rows);
    let mut out = Vec::new();
    for (a, b) in active_pairs(cfg, methods) {
        let mut all = (Vec::new(), Vec::new());
        for chrom in chroms {
            let (mut ra, mut rb) = (Vec::new(), Vec::new());
            for r in rows.iter().filter(|r| &r.chrom == chrom && r.method == a) {
                let key_a = (r.chrom.as_str(), r.gene_id.as_str(), a.as_str());
                let key_b = (r.chrom.as_str(), r.gene_id.as_str(), b.as_str());
                if let (Some(&x), Some(&y)) = (r_of.get(&key_a), r_of.get(&key_b)) {
                    ra.push(x);
                    rb.push(y);
                }
            }
            all.0.extend_from_slice(&ra);
            all.1.extend_from_slice(&rb);
            out.push(test_pair(cfg, chrom, &a, &b, &ra, &rb));
        }
        out.push(test_pair(cfg, "all", &a, &b, &all.0, &all.1));
    }
    out
}

/// Columns of `passing.tsv`.
pub const PASSING_COLUMNS: [&str; 5] = ["scope", "method", "n_fitted", "n_passing", "fraction"];

/// Per method and scope: genes fitted (status ok) and genes passing the filter.
pub fn passing(rows: &[SummaryRow], methods: &[String], chroms: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let scopes: Vec<Option<&String>> = chroms.iter().map(Some).chain([None]).collect();
    for scope in scopes {
        for m in methods {
            let sel = rows
                .iter()
                .filter(|r| &r.method == m && r.status == "ok")
                .filter(|r| scope.is_none_or(|c| &r.chrom == c));
            let (fitted, pass) = sel.fold((0usize, 0usize), |(f, p), r| {
                (f + 1, p + usize::from(r.passes != 0))
            });
            let frac = if fitted > 0 {
                pass as f64 / fitted as f64
            } else {
                f64::NAN
            };
            out.push(vec![
                scope.map_or("all".to_string(), |c| c.clone()),
                m.clone(),
                fitted.to_string(),
                pass.to_string(),
                fmt_f64(frac),
            ]);
        }
    }
    out
}

/// Columns of `overlap.tsv`.
pub const OVERLAP_COLUMNS: [&str; 7] = [
    "method_a", "method_b", "n_a", "n_b", "n_both", "n_either", "jaccard",
];

/// For every pair of methods (a before b in configuration order, and a = b on the diagonal),
/// over all chromosomes: genes passing in a, in b, in both, in either, and the Jaccard index.
pub fn overlap(rows: &[SummaryRow], methods: &[String]) -> Vec<Vec<String>> {
    let passing_set = |m: &String| -> BTreeSet<(&str, &str)> {
        rows.iter()
            .filter(|r| &r.method == m && r.status == "ok" && r.passes != 0)
            .map(|r| (r.chrom.as_str(), r.gene_id.as_str()))
            .collect()
    };
    let sets: Vec<_> = methods.iter().map(passing_set).collect();
    let mut out = Vec::new();
    for i in 0..methods.len() {
        for j in i..methods.len() {
            let both = sets[i].intersection(&sets[j]).count();
            let either = sets[i].union(&sets[j]).count();
            let jac = if either > 0 {
                both as f64 / either as f64
            } else {
                f64::NAN
            };
            out.push(vec![
                methods[i].clone(),
                methods[j].clone(),
                sets[i].len().to_string(),
                sets[j].len().to_string(),
                both.to_string(),
                either.to_string(),
                fmt_f64(jac),
            ]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Compare {
        Compare {
            pairs: vec![("a".into(), "b".into()), ("a".into(), "zz".into())],
            exact_max_n: 50,
            zero_method: ZeroMethodKind::Wilcox,
            correction: false,
            min_r: 0.1,
            max_p: 0.05,
        }
    }

    fn row(chrom: &str, gene: &str, method: &str, r: f64, status: &str) -> SummaryRow {
        let line = format!(
            "{gene}\tN\t{chrom}\t1\t{method}\t{status}\t\t10\t5\t{r}\t0\t0.01\t0\tNA\tNA\t0\t0\t5\t1\tNA\tNA\t0\t0\t0\t{}\tNA\tNA\tNA",
            u8::from(r > 0.1)
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.tsv");
        std::fs::write(
            &p,
            format!(
                "{}\n{line}\n",
                crate::stages::finalize::SUMMARY_COLUMNS.join("\t")
            ),
        )
        .unwrap();
        let t = crate::io::tsv::Table::read(&p, &[]).unwrap();
        let r = SummaryRow::from_tsv(&t.rows().next().unwrap()).unwrap();
        r
    }

    /// The recipes' reference: d = [0.952, -0.147, ...] gives T+ = 43, exact p = 0.0654296875
    /// (scipy 1.17.1, `wilcoxon(d, alternative='greater')`).
    #[test]
    fn pairs_genes_by_chromosome_and_gene_and_skips_unfitted() {
        let d = [
            0.952, -0.147, 1.022, 0.43, 0.62, 0.59, 0.49, -0.08, 0.01, -0.61,
        ];
        let mut rows = Vec::new();
        for (i, di) in d.iter().enumerate() {
            let chrom = if i < 5 { "c1" } else { "c2" };
            let g = format!("G{i}");
            rows.push(row(chrom, &g, "a", 0.5 + di, "ok"));
            rows.push(row(chrom, &g, "b", 0.5, "ok"));
        }
        rows.push(row("c1", "G99", "a", 0.9, "ok"));
        rows.push(row("c1", "G99", "b", f64::NAN, "failed"));
        let methods = vec!["a".to_string(), "b".to_string()];
        let chroms = vec!["c1".to_string(), "c2".to_string()];
        let out = compare(&cfg(), &rows, &methods, &chroms);
        assert_eq!(out.len(), 3, "one active pair x (2 chromosomes + all)");
        let all = &out[2];
        assert_eq!((all.scope.as_str(), all.n), ("all", 10));
        assert_eq!((all.t_plus, all.t_minus), (43.0, 12.0));
        assert!((all.p - 0.0654296875).abs() < 1e-9, "{}", all.p);
        assert_eq!(all.test, "exact");
        assert_eq!(all.n_a_better, 7);
        assert_eq!((out[0].n, out[1].n), (5, 5));
        let pass = passing(&rows, &methods, &chroms);
        let a_all = pass.iter().find(|r| r[0] == "all" && r[1] == "a").unwrap();
        assert_eq!(a_all[2], "11");
        let ov = overlap(&rows, &methods);
        assert_eq!(ov.len(), 3);
    }

    /// scipy 1.17.1 on planted per-gene r (tests/data/compare_scipy.py): T+, z and p of the
    /// `all` row equal scipy's one-sided Wilcoxon for every zero method, exact and normal.
    #[test]
    fn matches_scipy_on_planted_gene_r() {
        let fixture = include_str!("../../../tests/data/compare_scipy.tsv");
        let mut n_cases = 0;
        for line in fixture.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            let nums = |s: &str| -> Vec<f64> { s.split(',').map(|v| v.parse().unwrap()).collect() };
            let (ra, rb) = (nums(f[6]), nums(f[7]));
            let mut c = cfg();
            c.zero_method = match f[1] {
                "wilcox" => ZeroMethodKind::Wilcox,
                "pratt" => ZeroMethodKind::Pratt,
                _ => ZeroMethodKind::Zsplit,
            };
            let mut rows = Vec::new();
            for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
                let chrom = if i % 2 == 0 { "c1" } else { "c2" };
                rows.push(row(chrom, &format!("G{i}"), "a", *x, "ok"));
                rows.push(row(chrom, &format!("G{i}"), "b", *y, "ok"));
            }
            let methods = vec!["a".to_string(), "b".to_string()];
            let out = compare(&c, &rows, &methods, &["c1".into(), "c2".into()]);
            let all = out.iter().find(|r| r.scope == "all").unwrap();
            let id = format!("{} {}", f[0], f[1]);
            assert_eq!(all.n, ra.len(), "{id}");
            assert_eq!(all.test, f[2], "{id}");
            assert_eq!(all.t_plus, f[3].parse::<f64>().unwrap(), "{id}");
            let p: f64 = f[5].parse().unwrap();
            assert!(
                ((all.p - p) / p).abs() < 1e-10,
                "{id}: p {} vs scipy {p}",
                all.p
            );
            if f[4] != "NA" {
                let z: f64 = f[4].parse().unwrap();
                assert!(
                    ((all.z - z) / z).abs() < 1e-12,
                    "{id}: z {} vs scipy {z}",
                    all.z
                );
            } else {
                assert!(all.z.is_nan(), "{id}");
            }
            n_cases += 1;
        }
        assert_eq!(n_cases, 4);
    }
}
