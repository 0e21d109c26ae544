//! The `finalize` stage: per chromosome, [`aggregate`] the per-gene fit outputs into
//! `final/<chrom>.h5` + `final/<chrom>.genes.tsv`; then over every chromosome whose aggregate is
//! complete, write `final/genes.tsv`, [`compare`] the methods (`compare.tsv`, `passing.tsv`,
//! `overlap.tsv`) and [`enrich`] (`enrich.tsv`). Layouts and columns are in PIPELINE.md.

pub mod aggregate;
pub mod compare;
pub mod enrich;

use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing::{info, info_span, warn};

use crate::config::Config;
use crate::io::store::{self, StoreError};
use crate::io::tsv::{self, Table, TsvError};
use crate::stages::StageOutcome;

use aggregate::SummaryRow;

/// Columns of the summary table (`/summary` in `final/<chrom>.h5`, and the `genes.tsv` files).
pub const SUMMARY_COLUMNS: [&str; 28] = [
    "gene_id",
    "gene_name",
    "chrom",
    "tss",
    "method",
    "status",
    "reason",
    "n",
    "p",
    "test_r",
    "r2",
    "pval",
    "r2_oos",
    "pve",
    "pge",
    "n_active",
    "n_active_in_peak",
    "n_tested",
    "n_tested_in_peak",
    "max_rhat",
    "min_ess_bulk",
    "flag_rhat",
    "flag_ess",
    "flag_pip",
    "passes",
    "n_causal",
    "n_causal_tested",
    "n_causal_in_peak",
];

/// Errors of the finalize stage.
#[derive(Debug, Error)]
pub enum FinalizeError {
    /// Reading an HDF5 input (prepare cache, per-gene fit output, aggregate) failed.
    #[error("{path}: cannot read `{object}`: {source}")]
    Read {
        path: PathBuf,
        object: String,
        source: hdf5::Error,
    },
    /// An input does not have the documented layout.
    #[error("{path}: {message}")]
    Layout { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tsv(#[from] TsvError),
    /// Writing a text output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The per-chromosome summary TSV.
pub fn chrom_tsv(config: &Config, chrom: &str) -> PathBuf {
    config.final_dir().join(format!("{chrom}.genes.tsv"))
}

/// Reads a `genes.tsv` written by the aggregate step.
pub fn read_summary(path: &Path) -> Result<Vec<SummaryRow>, FinalizeError> {
    let t = Table::read(path, &SUMMARY_COLUMNS)?;
    t.rows()
        .map(|r| SummaryRow::from_tsv(&r).map_err(FinalizeError::from))
        .collect()
}

fn write(path: &Path, text: &str) -> Result<(), FinalizeError> {
    store::write_text_atomic(path, text).map_err(|source| FinalizeError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// True when the chromosome's aggregate is complete.
pub fn chrom_done(config: &Config, chrom: &str) -> bool {
    store::is_complete(&config.final_path(chrom)) && chrom_tsv(config, chrom).exists()
}

/// Runs finalize: aggregates `chroms`, then the genome-wide steps over every configured
/// chromosome whose aggregate is complete.
pub fn run(config: &Config, chroms: &[String], force: bool) -> Result<StageOutcome, FinalizeError> {
    let mut outcome = StageOutcome::default();
    let truth = match &config.enrich.truth {
        Some(p) => Some(crate::io::truth::read_causal(p)?),
        None => None,
    };
    for chrom in chroms {
        let _span = info_span!("finalize", chrom = %chrom).entered();
        let cache = config.cache_path(chrom);
        if !store::is_complete(&cache) {
            warn!(
                "finalize {chrom}: {}: the prepare cache is missing or incomplete; run the prepare and fit stages first",
                cache.display()
            );
            outcome.failures += 1;
            continue;
        }
        let genes = aggregate::read_cache_genes(&cache)?;
        let digest = aggregate::inputs_digest(config, chrom, &genes);
        let final_path = config.final_path(chrom);
        if !force && chrom_done(config, chrom) {
            let old = hdf5::File::open(&final_path)
                .ok()
                .and_then(|f| store::read_attr_str(&f, "inputs_digest"));
            if old.as_deref() == Some(digest.as_str()) {
                info!("finalize {chrom}: aggregate up to date, skipped");
                outcome.skipped += 1;
                continue;
            }
        }
        let counts = truth.as_ref().map(|t| aggregate::truth_counts(&genes, t));
        let agg = aggregate::aggregate_chrom(config, chrom, &genes, counts.as_ref(), &digest)?;
        let by = |s: &str| agg.rows.iter().filter(|r| r.status == s).count();
        info!(
            "finalize {chrom}: {} genes x {} methods -> {}: {} ok, {} failed, {} missing, {} not prepared",
            genes.len(),
            config.methods.len(),
            final_path.display(),
            by("ok"),
            by("failed"),
            by("missing"),
            agg.rows.len() - by("ok") - by("failed") - by("missing")
        );
        outcome.done += 1;
    }
    genome_wide(config)?;
    Ok(outcome)
}

/// `final/genes.tsv`, `compare.tsv`, `passing.tsv`, `overlap.tsv` and `enrich.tsv` over every
/// configured chromosome whose aggregate is complete.
pub fn genome_wide(config: &Config) -> Result<(), FinalizeError> {
    let mut rows = Vec::new();
    let mut chroms = Vec::new();
    for chrom in &config.chromosomes {
        if chrom_done(config, chrom) {
            rows.extend(read_summary(&chrom_tsv(config, chrom))?);
            chroms.push(chrom.clone());
        } else {
            info!(
                "finalize: {chrom} has no complete aggregate; left out of the genome-wide tables"
            );
        }
    }
    let dir = config.final_dir();
    write(&dir.join("genes.tsv"), &aggregate::render_rows(&rows))?;
    let methods: Vec<String> = config.methods.iter().map(|m| m.name.clone()).collect();

    let cmp = compare::compare(&config.compare, &rows, &methods, &chroms);
    let cells: Vec<Vec<String>> = cmp
        .iter()
        .map(|r| r.cells(config.compare.zero_method))
        .collect();
    write(
        &dir.join("compare.tsv"),
        &tsv::render(&compare::COMPARE_COLUMNS, &cells),
    )?;
    for r in cmp.iter().filter(|r| r.scope == "all") {
        info!(
            "compare {} vs {} (all): n = {}, mean dr = {:.4}, median dr = {:.4}, T+ = {}, p = {:.3e} ({})",
            r.method_a, r.method_b, r.n, r.mean_dr, r.median_dr, r.t_plus, r.p, r.test
        );
    }
    write(
        &dir.join("passing.tsv"),
        &tsv::render(
            &compare::PASSING_COLUMNS,
            &compare::passing(&rows, &methods, &chroms),
        ),
    )?;
    write(
        &dir.join("overlap.tsv"),
        &tsv::render(
            &compare::OVERLAP_COLUMNS,
            &compare::overlap(&rows, &methods),
        ),
    )?;

    let enr = enrich::enrich(&config.enrich, &rows, &methods);
    let cells: Vec<Vec<String>> = enr.iter().map(enrich::EnrichRow::cells).collect();
    write(
        &dir.join("enrich.tsv"),
        &tsv::render(&enrich::ENRICH_COLUMNS, &cells),
    )?;
    for r in &enr {
        info!(
            "enrich {} {}{}: {:.3} [{:.3}, {:.3}]{}",
            r.row,
            r.method,
            if r.versus == "-" {
                String::new()
            } else {
                format!(" - {}", r.versus)
            },
            r.estimate,
            r.ci_lo,
            r.ci_hi,
            if r.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.note)
            }
        );
    }
    Ok(())
}
