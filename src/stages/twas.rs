//! The `twas` stage: S-PrediXcan-style gene association of the exported models with the GWAS
//! summary statistics (`inputs.gwas`). It reads exactly what the export wrote — the weights
//! database and the covariance file of each method (`final/predictdb/<method>.{db,txt.gz}`) — so
//! the test uses the exported weights and doubles as a check of the export. GWAS rows are
//! matched to model SNPs by variant ID, else by chromosome and position, and harmonized
//! ([`crate::stats::twas::harmonize_gene`]); z_g comes from [`crate::stats::twas::gene_z`].
//! Output: `twas/twas.tsv` (columns in PIPELINE.md), rewritten on every run (it takes seconds).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use thiserror::Error;
use tracing::{info, warn};

use crate::config::Config;
use crate::io::predictdb::{self, DbGene, GeneCov, PredictDbError};
use crate::io::store::write_text_atomic;
use crate::io::sumstats::{self, chrom_key, GwasRow, SumstatsError};
use crate::stages::export::{covariance_path, db_path};
use crate::stages::StageOutcome;
use crate::stats::twas::{gene_z, harmonize_gene, GwasAlleles};

/// Errors that stop the twas stage.
#[derive(Debug, Error)]
pub enum TwasError {
    #[error("{config}: the twas stage needs GWAS summary statistics: set `inputs.gwas`")]
    NoGwas { config: PathBuf },
    #[error(transparent)]
    Sumstats(#[from] SumstatsError),
    #[error(transparent)]
    PredictDb(#[from] PredictDbError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The columns of `twas/twas.tsv`, in order.
pub const COLUMNS: [&str; 13] = [
    "method",
    "gene_id",
    "gene_name",
    "chrom",
    "tss",
    "z",
    "p",
    "n_snps_model",
    "n_snps_used",
    "n_flipped",
    "n_ambiguous",
    "n_missing",
    "status",
];

/// The output table.
pub fn output_path(config: &Config) -> PathBuf {
    config.output_dir.join("twas").join("twas.tsv")
}

/// One row of the output.
#[derive(Debug, Clone)]
struct Row {
    method: String,
    gene: String,
    name: String,
    chrom: String,
    tss: u64,
    z: f64,
    p: f64,
    n_model: usize,
    n_used: usize,
    n_flipped: usize,
    n_ambiguous: usize,
    n_missing: usize,
    status: &'static str,
}

/// (chromosome key, position) of a `varID` written by the export (`chrom_pos_ref_alt`).
fn var_position(var_id: &str) -> Option<(String, u64)> {
    let mut it = var_id.rsplitn(4, '_');
    let (_alt, _ref, pos, chrom) = (it.next()?, it.next()?, it.next()?, it.next()?);
    Some((chrom_key(chrom), pos.parse().ok()?))
}

fn fmt_num(x: f64, f: impl Fn(f64) -> String) -> String {
    if x.is_finite() {
        f(x)
    } else {
        "NA".into()
    }
}

/// Runs the twas stage for the given chromosomes and the methods of `twas.methods`.
pub fn run(config: &Config, chroms: &[String], _force: bool) -> Result<StageOutcome, TwasError> {
    let mut outcome = StageOutcome::default();
    let Some(gwas_path) = config.inputs.gwas.clone() else {
        warn!(
            "twas: skipped: {}",
            TwasError::NoGwas {
                config: config.source.clone()
            }
        );
        return Ok(outcome);
    };
    let wanted: HashSet<&str> = chroms.iter().map(String::as_str).collect();
    let mut models: Vec<(String, Vec<DbGene>, HashMap<String, GeneCov>)> = Vec::new();
    for method in &config.twas.methods {
        let db = db_path(config, method);
        let cov = covariance_path(config, method);
        if !db.exists() || !cov.exists() {
            warn!(
                "twas {method}: {} or {} is missing; run `bsbslmm run PIPELINE --stage export` first",
                db.display(),
                cov.display()
            );
            outcome.failures += 1;
            continue;
        }
        let mut genes = predictdb::read_db(&db)?;
        genes.retain(|g| wanted.contains(g.chrom.as_str()));
        let want: HashMap<String, Vec<String>> = genes
            .iter()
            .map(|g| {
                (
                    g.gene.clone(),
                    g.weights.iter().map(|w| w.rsid.clone()).collect(),
                )
            })
            .collect();
        let cov = predictdb::read_covariance(&cov, &want)?;
        models.push((method.clone(), genes, cov));
    }
    let mut ids: HashSet<String> = HashSet::new();
    let mut positions: HashSet<(String, u64)> = HashSet::new();
    for (_, genes, _) in &models {
        for g in genes {
            for w in &g.weights {
                ids.insert(w.rsid.clone());
                if let Some(k) = var_position(&w.var_id) {
                    positions.insert(k);
                }
            }
        }
    }
    let (rows, st) = sumstats::read(&gwas_path, |snp, chrom, pos| {
        ids.contains(snp) || positions.contains(&(chrom.to_string(), pos))
    })?;
    info!(
        "twas: {} of {} GWAS rows are at model SNPs ({})",
        st.kept,
        st.rows,
        gwas_path.display()
    );
    let mut by_id: HashMap<&str, Vec<&GwasRow>> = HashMap::new();
    let mut by_pos: HashMap<(String, u64), Vec<&GwasRow>> = HashMap::new();
    for r in &rows {
        by_id.entry(r.snp.as_str()).or_default().push(r);
        if r.pos > 0 {
            by_pos
                .entry((chrom_key(&r.chrom), r.pos))
                .or_default()
                .push(r);
        }
    }
    let mut out: Vec<Row> = Vec::new();
    for (method, genes, cov) in &models {
        let (mut n_ok, mut mismatch, mut complement) = (0usize, 0usize, 0usize);
        for g in genes {
            let model: Vec<(&str, &str)> = g
                .weights
                .iter()
                .map(|w| (w.ref_allele.as_str(), w.eff_allele.as_str()))
                .collect();
            let cand: Vec<Vec<GwasAlleles>> =
                g.weights
                    .iter()
                    .map(|w| {
                        let hits = by_id.get(w.rsid.as_str()).cloned().or_else(|| {
                            var_position(&w.var_id).and_then(|k| by_pos.get(&k).cloned())
                        });
                        hits.unwrap_or_default()
                            .into_iter()
                            .map(|r| GwasAlleles {
                                a1: &r.a1,
                                a2: &r.a2,
                                z: r.z,
                            })
                            .collect()
                    })
                    .collect();
            let h = harmonize_gene(&model, &cand);
            mismatch += h.n_mismatch;
            complement += h.n_complement;
            let gc = &cov[&g.gene];
            let (gz, status) = match gc.missing_pair().map_or(Ok(&gc.cov), Err) {
                Ok(c) => {
                    let w: Vec<f64> = g.weights.iter().map(|w| w.weight).collect();
                    let gz = gene_z(&w, c, &h.z);
                    let status = if gz.z.is_finite() {
                        "ok"
                    } else if gz.n_used == 0 {
                        "no_snps"
                    } else {
                        "zero_variance"
                    };
                    (gz, status)
                }
                Err((a, b)) => {
                    warn!(
                        "twas {method} {}: the covariance file {} has no entry for ({a}, {b})",
                        g.gene,
                        covariance_path(config, method).display()
                    );
                    outcome.failures += 1;
                    (
                        crate::stats::twas::GeneZ {
                            z: f64::NAN,
                            p: f64::NAN,
                            n_used: 0,
                        },
                        "no_covariance",
                    )
                }
            };
            n_ok += usize::from(status == "ok");
            out.push(Row {
                method: method.clone(),
                gene: g.gene.clone(),
                name: g.genename.clone(),
                chrom: g.chrom.clone(),
                tss: g.tss,
                z: gz.z,
                p: gz.p,
                n_model: g.weights.len(),
                n_used: gz.n_used,
                n_flipped: h.n_flipped,
                n_ambiguous: h.n_ambiguous,
                n_missing: h.n_absent + h.n_mismatch,
                status,
            });
        }
        info!(
            "twas {method}: {n_ok} of {} genes tested; {complement} SNPs matched on the other strand, {mismatch} with alleles matching on neither strand (counted in n_missing)",
            genes.len()
        );
        outcome.done += 1;
    }
    let chrom_rank: HashMap<&str, usize> = config
        .chromosomes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    out.sort_by(|a, b| {
        a.method
            .cmp(&b.method)
            .then(
                chrom_rank
                    .get(a.chrom.as_str())
                    .cmp(&chrom_rank.get(b.chrom.as_str())),
            )
            .then(a.tss.cmp(&b.tss))
            .then(a.gene.cmp(&b.gene))
    });
    let mut text = COLUMNS.join("\t");
    text.push('\n');
    for r in &out {
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.method,
            r.gene,
            r.name,
            r.chrom,
            r.tss,
            fmt_num(r.z, |x| format!("{x:.6}")),
            fmt_num(r.p, |x| format!("{x:.6e}")),
            r.n_model,
            r.n_used,
            r.n_flipped,
            r.n_ambiguous,
            r.n_missing,
            r.status
        );
    }
    let path = output_path(config);
    write_text_atomic(&path, &text).map_err(|source| TwasError::Write {
        path: path.clone(),
        source,
    })?;
    info!("twas: {} rows -> {}", out.len(), path.display());
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_position_parses_from_the_right() {
        assert_eq!(var_position("chr1_243_T_A"), Some(("1".into(), 243)));
        assert_eq!(
            var_position("chrUn_gl1_17_A_AT"),
            Some(("UN_GL1".into(), 17))
        );
        assert_eq!(var_position("rs12"), None);
    }
}
