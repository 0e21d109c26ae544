//! Who runs what, and how it is reported. A task (one process, one Slurm array task, or one MPI
//! rank) gets the positions it runs in the global order from [`partition`]; [`run_items`] runs
//! them on the task's thread pool and returns the tally over every task of the run (under MPI:
//! over all ranks). Progress bars or periodic log lines come from [`progress`], peak memory and
//! CPU time from [`usage`]. This module never reads or writes pipeline outputs.

#[cfg(feature = "mpi")]
pub mod mpi;
pub mod partition;
pub mod progress;
pub mod usage;

use std::marker::PhantomData;

use rayon::prelude::*;

use crate::dist::partition::ArraySlice;
use crate::dist::progress::Progress;

/// How the items of a stage are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// This process runs everything.
    Plain,
    /// This process is one Slurm array task (or `--task K/N`) and runs one slice.
    Array(ArraySlice),
    /// MPI ranks: rank 0 hands items out largest-first (`static_split = false`), or every rank
    /// takes a strided share (`static_split = true`).
    Mpi { static_split: bool },
}

/// The MPI world this process belongs to; a single process outside `mpirun`.
#[derive(Clone, Copy)]
pub struct Comm<'a> {
    #[cfg(feature = "mpi")]
    world: Option<&'a ::mpi::topology::SimpleCommunicator>,
    _life: PhantomData<&'a ()>,
}

impl Comm<'_> {
    /// A process on its own.
    pub fn single() -> Self {
        Comm {
            #[cfg(feature = "mpi")]
            world: None,
            _life: PhantomData,
        }
    }

    /// This process's MPI rank (0 outside MPI).
    pub fn rank(&self) -> usize {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.world {
            use ::mpi::topology::Communicator;
            return w.rank() as usize;
        }
        0
    }

    /// Number of MPI ranks (1 outside MPI).
    pub fn size(&self) -> usize {
        #[cfg(feature = "mpi")]
        if let Some(w) = self.world {
            use ::mpi::topology::Communicator;
            return w.size() as usize;
        }
        1
    }

    /// True when an MPI launcher started this process (an MPI build under mpirun/srun, even
    /// with one rank).
    pub fn is_mpi(&self) -> bool {
        #[cfg(feature = "mpi")]
        if self.world.is_some() {
            return true;
        }
        false
    }

    /// True on the rank that reports (rank 0).
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// Where and how a stage runs: thread pool, threads per task, mode, MPI world.
pub struct Exec<'a> {
    pub pool: &'a rayon::ThreadPool,
    pub threads: usize,
    pub mode: Mode,
    pub comm: Comm<'a>,
}

/// Items done by a task (or summed over tasks), with the resources it used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Outputs written now.
    pub fitted: u64,
    /// Outputs already complete, left alone.
    pub skipped: u64,
    /// Outputs that failed (each left a `.failed` file).
    pub failed: u64,
}

impl std::ops::Add for Tally {
    type Output = Tally;

    /// Sum of two tallies.
    fn add(self, o: Tally) -> Tally {
        Tally {
            fitted: self.fitted + o.fitted,
            skipped: self.skipped + o.skipped,
            failed: self.failed + o.failed,
        }
    }
}

/// Runs the items of a stage, given their `costs` in the global order, as `exec.mode` says:
/// calls `run(position)` for every position this task owns, on `exec.pool`. Returns the tally
/// of the whole run (under MPI the same totals on every rank) and the number of items this
/// task ran. `label` names the progress bar / log lines.
pub fn run_items<F>(exec: &Exec<'_>, label: &str, costs: &[f64], run: F) -> (Tally, usize)
where
    F: Fn(usize) -> Tally + Sync,
{
    let n = costs.len();
    let local = |positions: Vec<usize>| -> (Tally, usize) {
        let progress = Progress::new(label, positions.len(), 10);
        let tally = exec.pool.install(|| {
            positions
                .par_iter()
                .map(|&i| {
                    let t = run(i);
                    progress.inc(1);
                    t
                })
                .reduce(Tally::default, |a, b| a + b)
        });
        progress.finish();
        (tally, positions.len())
    };
    match exec.mode {
        Mode::Plain => local((0..n).collect()),
        Mode::Array(slice) => {
            let range = slice.range(n);
            tracing::info!(
                "{label}: array task runs items {}..{} of {n} ({slice:?})",
                range.start + 1,
                range.end
            );
            let missed = slice.uncovered(n);
            if !missed.is_empty() {
                tracing::warn!(
                    "{label}: items {}..{} of {n} are beyond the last task of this array and will not run; size the array with `bsbslmm plan` and submit the missing tasks",
                    missed.start + 1,
                    missed.end
                );
            }
            local(range.collect())
        }
        Mode::Mpi { static_split } => {
            #[cfg(feature = "mpi")]
            if let Some(world) = exec.comm.world {
                return if static_split {
                    mpi::run_static(world, exec, label, n, &run)
                } else {
                    mpi::run_dynamic(world, exec, label, costs, &run)
                };
            }
            let _ = static_split;
            local((0..n).collect())
        }
    }
}

/// Positions (of `n` in the global order) this task knows it owns before it starts: its slice
/// in a plain, array or static MPI run; all of them on rank 0 of the dynamic queue (which hands
/// nothing out before it is done with them) and none on the other ranks.
pub fn owned_upfront(exec: &Exec<'_>, n: usize) -> Vec<usize> {
    match exec.mode {
        Mode::Plain => (0..n).collect(),
        Mode::Array(slice) => slice.range(n).collect(),
        Mode::Mpi { static_split: true } => {
            partition::strided(n, exec.comm.rank(), exec.comm.size())
        }
        Mode::Mpi {
            static_split: false,
        } => {
            if exec.comm.is_root() {
                (0..n).collect()
            } else {
                Vec::new()
            }
        }
    }
}

/// Runs `f` on rank 0 only (other ranks wait), for stages that are not split across ranks.
/// Every rank returns rank 0's tally; an error on rank 0 is returned there (the binary then
/// aborts the MPI job, so waiting ranks never hang).
pub fn root_only<E: Send>(
    exec: &Exec<'_>,
    f: impl FnOnce() -> Result<Tally, E> + Send,
) -> Result<Tally, E> {
    #[cfg(feature = "mpi")]
    if let Some(world) = exec.comm.world {
        return mpi::root_only(world, exec, f);
    }
    exec.pool.install(f)
}

/// Resources used by the run: CPU seconds (summed over ranks) and peak resident memory (the
/// largest of any rank), as seen by rank 0.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub cpu_s: f64,
    pub peak_kib: u64,
    pub ranks: usize,
}

/// Collects [`Usage`] over every rank (a collective call under MPI: every rank must call it).
pub fn usage_over_ranks(comm: &Comm<'_>) -> Usage {
    let cpu = usage::cpu_seconds().unwrap_or(0.0);
    let peak = usage::peak_rss_kib().unwrap_or(0);
    #[cfg(feature = "mpi")]
    if let Some(world) = comm.world {
        let (cpu_s, peak_kib) = mpi::gather_usage(world, cpu, peak);
        return Usage {
            cpu_s,
            peak_kib,
            ranks: comm.size(),
        };
    }
    Usage {
        cpu_s: cpu,
        peak_kib: peak,
        ranks: comm.size(),
    }
}
