//! Pipeline stages: each plans its work items, runs one item, and merges. `run_stage` is the
//! one entry point the CLI uses; `status` reads what the stages left on disk.

pub mod export;
pub mod finalize;
pub mod fit;
pub mod prepare;
pub mod report;
pub mod simulate;
pub mod status;
pub mod twas;

use thiserror::Error;

use crate::config::Config;
use crate::dist::{self, Exec, Tally};

/// Stages a plain `run` executes, in pipeline order (export runs inside finalize).
pub const AVAILABLE: [&str; 5] = ["prepare", "fit", "finalize", "twas", "report"];

/// What a stage did.
#[derive(Debug, Default, Clone)]
pub struct StageOutcome {
    /// Work items (chromosomes or genes) completed now.
    pub done: usize,
    /// Work items skipped because their output was already complete.
    pub skipped: usize,
    /// Work items (genes or chromosomes) that failed and were recorded.
    pub failures: usize,
}

/// Errors that stop a stage.
#[derive(Debug, Error)]
pub enum StageError {
    #[error(transparent)]
    Prepare(#[from] prepare::PrepareError),
    #[error(transparent)]
    Fit(#[from] fit::FitStageError),
    #[error(transparent)]
    Export(Box<export::ExportError>),
    #[error(transparent)]
    Twas(Box<twas::TwasError>),
    #[error(transparent)]
    Finalize(#[from] finalize::FinalizeError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    /// The stage exists in the pipeline but this build cannot run it yet.
    #[error("stage `{0}` is not available in this build of bsbslmm (available: {avail})", avail = AVAILABLE.join(", "))]
    NotAvailable(String),
}

impl StageOutcome {
    fn tally(&self) -> Tally {
        Tally {
            fitted: self.done as u64,
            skipped: self.skipped as u64,
            failed: self.failures as u64,
        }
    }

    fn from_tally(t: Tally) -> Self {
        StageOutcome {
            done: t.fitted as usize,
            skipped: t.skipped as usize,
            failures: t.failed as usize,
        }
    }
}

/// Runs a non-fit stage on rank 0 only (every rank gets its outcome back).
fn root(
    exec: &Exec<'_>,
    f: impl FnOnce() -> Result<StageOutcome, StageError> + Send,
) -> Result<StageOutcome, StageError> {
    dist::root_only(exec, || f().map(|o| o.tally())).map(StageOutcome::from_tally)
}

/// Runs one stage for the given chromosomes, as `exec` says: `fit` is shared out across array
/// tasks or MPI ranks; the other stages run on rank 0 alone (under MPI the other ranks wait).
pub fn run_stage(
    stage: &str,
    config: &Config,
    chroms: &[String],
    force: bool,
    exec: &Exec<'_>,
) -> Result<StageOutcome, StageError> {
    let t = std::time::Instant::now();
    let outcome = match stage {
        "prepare" => root(exec, || {
            prepare::run(config, chroms, force).map_err(StageError::from)
        })?,
        "fit" => fit::run(config, chroms, force, exec)?,
        "export" => root(exec, || {
            export::run(config, chroms, force).map_err(|e| StageError::Export(Box::new(e)))
        })?,
        "twas" => root(exec, || {
            twas::run(config, chroms, force).map_err(|e| StageError::Twas(Box::new(e)))
        })?,
        "finalize" => root(exec, || {
            let mut o = finalize::run(config, chroms, force)?;
            // The weights databases are genome-wide: a per-chromosome finalize (one Slurm job
            // per chromosome, running side by side) leaves them to the genome-wide run.
            if config.chromosomes.iter().all(|c| chroms.contains(c)) {
                let e = export::run(config, chroms, force)
                    .map_err(|e| StageError::Export(Box::new(e)))?;
                o.done += e.done;
                o.skipped += e.skipped;
                o.failures += e.failures;
            } else {
                tracing::info!(
                    "export: skipped for a subset of chromosomes; it runs when finalize covers \
                     all of them (job/submit.sh's genome-wide job), or alone with --stage export"
                );
            }
            Ok(o)
        })?,
        "report" => root(exec, || report::run(config).map_err(StageError::from))?,
        other => return Err(StageError::NotAvailable(other.to_string())),
    };
    if !exec.comm.is_root() {
        return Ok(outcome);
    }
    tracing::info!(
        "stage {stage}: {} done, {} skipped (already complete), {} failed, {:.1} s",
        outcome.done,
        outcome.skipped,
        outcome.failures,
        t.elapsed().as_secs_f64()
    );
    Ok(outcome)
}
