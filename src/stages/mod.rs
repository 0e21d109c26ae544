//! Pipeline stages: each plans its work items, runs one item, and merges. `run_stage` is the
//! one entry point the CLI uses; `status` reads what the stages left on disk.

pub mod fit;
pub mod prepare;
pub mod simulate;
pub mod status;

use thiserror::Error;

use crate::config::Config;
use crate::dist::{self, Exec, Tally};

/// Stages this build can run, in pipeline order.
pub const AVAILABLE: [&str; 3] = ["prepare", "fit", "finalize"];

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
        "prepare" => dist::root_only(exec, || {
            prepare::run(config, chroms, force).map(|o| o.tally())
        })
        .map(StageOutcome::from_tally)?,
        "fit" => fit::run(config, chroms, force, exec)?,
        "finalize" => StageOutcome::default(), // TEMP: replaced by the real finalize at merge
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
