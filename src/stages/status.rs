//! `bsbslmm status`: reads the outputs on disk and reports, per stage and chromosome, what is
//! done, what failed (with reasons) and what is pending. It never modifies anything.

use std::fmt::Write as _;

use crate::config::{Config, STAGES};
use crate::io::store;

/// State of one (stage, chromosome) pair.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Output complete; `genes_ok` of `genes` genes usable, with per-gene problems listed.
    Done {
        genes: usize,
        genes_ok: usize,
        problems: Vec<(String, String, String)>,
    },
    /// The chromosome failed as a whole.
    Failed(String),
    /// Not run yet (or interrupted).
    Pending,
    /// The stage is not available in this build.
    Unavailable,
}

/// The whole report.
pub struct Report {
    /// (stage, chromosome, state).
    pub rows: Vec<(String, String, State)>,
}

/// Reads the state of every stage and chromosome of `config`.
pub fn collect(config: &Config) -> Report {
    let mut rows = Vec::new();
    for stage in STAGES {
        for chrom in &config.chromosomes {
            if stage == "fit" {
                for m in &config.methods {
                    rows.push((
                        format!("fit:{}", m.name),
                        chrom.clone(),
                        fit_state(config, &m.name, chrom),
                    ));
                }
                continue;
            }
            if stage == "report" {
                continue;
            }
            let state = if stage == "export" {
                export_state(config)
            } else if stage == "twas" {
                twas_state(config, chrom)
            } else if stage == "finalize" {
                finalize_state(config, chrom)
            } else if stage == "prepare" {
                prepare_state(config, chrom)
            } else {
                State::Unavailable
            };
            rows.push((stage.to_string(), chrom.clone(), state));
        }
    }
    let report = if config.report_path().exists() {
        State::Done {
            genes: 0,
            genes_ok: 0,
            problems: Vec::new(),
        }
    } else {
        State::Pending
    };
    rows.push(("report".to_string(), "all".to_string(), report));
    Report { rows }
}

/// A chromosome's aggregate: done with its gene x method rows ok / total, or pending.
fn finalize_state(config: &Config, chrom: &str) -> State {
    if !crate::stages::finalize::chrom_done(config, chrom) {
        return State::Pending;
    }
    let read = |name: &str| {
        hdf5::File::open(config.final_path(chrom))
            .ok()
            .and_then(|f| store::read_attr::<u64>(&f, name))
            .unwrap_or(0) as usize
    };
    State::Done {
        genes: read("n_rows"),
        genes_ok: read("n_rows_ok"),
        problems: Vec::new(),
    }
}

fn prepare_state(config: &Config, chrom: &str) -> State {
    let path = config.cache_path(chrom);
    if store::is_complete(&path) {
        return read_gene_table(&path)
            .unwrap_or_else(|e| State::Failed(format!("{}: {e}", path.display())));
    }
    let failed = config.cache_dir().join(format!("{chrom}.failed"));
    match std::fs::read_to_string(&failed) {
        Ok(reason) => State::Failed(reason.trim().to_string()),
        Err(_) => State::Pending,
    }
}

/// Done when every method has a weights database (the export is genome-wide).
fn export_state(config: &Config) -> State {
    let n = config.methods.len();
    let done = config
        .methods
        .iter()
        .filter(|m| crate::stages::export::db_path(config, &m.name).exists())
        .count();
    if done == 0 {
        return State::Pending;
    }
    let problems = config
        .methods
        .iter()
        .filter(|m| !crate::stages::export::db_path(config, &m.name).exists())
        .map(|m| (m.name.clone(), "pending".to_string(), String::new()))
        .collect();
    State::Done {
        genes: n,
        genes_ok: done,
        problems,
    }
}

/// The rows of `twas/twas.tsv` on this chromosome: gene models tested (status `ok`) of all.
fn twas_state(config: &Config, chrom: &str) -> State {
    let Ok(text) = std::fs::read_to_string(crate::stages::twas::output_path(config)) else {
        return State::Pending;
    };
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f.len() == 13 && f[3] == chrom)
        .collect();
    State::Done {
        genes: rows.len(),
        genes_ok: rows.iter().filter(|f| f[12] == "ok").count(),
        problems: Vec::new(),
    }
}

/// Per-gene fit outputs of one method and chromosome against the genes the cache prepared.
fn fit_state(config: &Config, method: &str, chrom: &str) -> State {
    let cache = config.cache_path(chrom);
    if !store::is_complete(&cache) {
        return State::Pending;
    }
    let genes: Vec<String> = match cache_rows(&cache) {
        Ok(rows) => rows
            .into_iter()
            .filter(|r| r.status == "ok")
            .map(|r| r.gene_id)
            .collect(),
        Err(_) => return State::Pending,
    };
    let mut problems = Vec::new();
    let mut done = 0usize;
    for g in &genes {
        let path = crate::stages::fit::gene_path(config, method, chrom, g);
        if store::is_complete(&path) {
            done += 1;
        } else if let Ok(reason) = std::fs::read_to_string(path.with_extension("failed")) {
            problems.push((g.clone(), "failed".to_string(), reason.trim().to_string()));
        } else {
            problems.push((g.clone(), "pending".to_string(), String::new()));
        }
    }
    State::Done {
        genes: genes.len(),
        genes_ok: done,
        problems,
    }
}

/// The prepare cache's genes, or `None` when it cannot be read.
fn cache_rows(path: &std::path::Path) -> hdf5::Result<Vec<crate::stages::prepare::GeneRow>> {
    crate::stages::prepare::read_gene_table(&hdf5::File::open(path)?)
}

fn read_gene_table(path: &std::path::Path) -> hdf5::Result<State> {
    let rows = cache_rows(path)?;
    let problems: Vec<(String, String, String)> = rows
        .iter()
        .filter(|r| r.status != "ok")
        .map(|r| (r.gene_id.clone(), r.status.clone(), r.reason.clone()))
        .collect();
    Ok(State::Done {
        genes: rows.len(),
        genes_ok: rows.len() - problems.len(),
        problems,
    })
}

/// A gene status that is a failure (not a QC skip such as `no_snps`, nor `pending`).
fn is_failure(status: &str) -> bool {
    status == "failed" || status == "contig_missing"
}

impl Report {
    /// True when any chromosome failed or any gene failed (not merely skipped by QC).
    pub fn any_failed(&self) -> bool {
        self.rows.iter().any(|(_, _, s)| match s {
            State::Failed(_) => true,
            State::Done { problems, .. } => problems.iter().any(|(_, st, _)| is_failure(st)),
            _ => false,
        })
    }

    /// A plain-text table followed by the list of failures with reasons.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<18} {:<12} {:<10} details",
            "stage", "chrom", "state"
        );
        let mut details = String::new();
        for (stage, chrom, state) in &self.rows {
            let (word, info) = match state {
                State::Done {
                    genes,
                    genes_ok,
                    problems,
                } => {
                    let failed = problems.iter().filter(|p| is_failure(&p.1)).count();
                    let pending = problems.iter().filter(|p| p.1 == "pending").count();
                    let word = if pending > 0 && pending == *genes {
                        "pending"
                    } else if pending > 0 {
                        "partial"
                    } else if failed > 0 {
                        // Complete, but some genes failed: not a clean "done".
                        "failures"
                    } else {
                        "done"
                    };
                    let info = if stage == "export" {
                        format!("{genes_ok}/{genes} methods exported")
                    } else if stage == "twas" {
                        format!("{genes_ok}/{genes} gene models tested")
                    } else if stage == "report" {
                        "report.html written".to_string()
                    } else if stage == "finalize" {
                        format!("{genes_ok}/{genes} gene x method rows ok")
                    } else if stage.starts_with("fit") {
                        format!(
                            "{genes_ok}/{genes} genes fitted, {failed} failed, {pending} pending"
                        )
                    } else {
                        format!(
                            "{genes_ok}/{genes} genes ok, {} not prepared",
                            problems.len()
                        )
                    };
                    (word, info)
                }
                State::Failed(r) => ("FAILED", r.lines().next().unwrap_or("").to_string()),
                State::Pending => ("pending", String::new()),
                State::Unavailable => ("-", "stage not in this build".to_string()),
            };
            let _ = writeln!(out, "{stage:<18} {chrom:<12} {word:<10} {info}");
            if let State::Done { problems, .. } = state {
                for (g, s, r) in problems.iter().filter(|p| p.1 != "pending") {
                    let _ = writeln!(details, "  {stage} {chrom} {g}: {s}: {r}");
                }
            }
            if let State::Failed(r) = state {
                let _ = writeln!(details, "  {stage} {chrom}: {r}");
            }
        }
        if !details.is_empty() {
            let _ = writeln!(
                out,
                "\nGenes and chromosomes not done, with reasons:\n{details}"
            );
        }
        out
    }
}
