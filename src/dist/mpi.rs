//! MPI (cargo feature `mpi`): the session that owns the MPI environment, the dynamic queue
//! (rank 0 hands items out largest-first; every rank, rank 0 included, keeps `--threads` items
//! in flight and asks for more as they finish), the static strided split, and the reductions
//! that give every rank the run's totals. All MPI calls happen on the thread that called
//! [`super::run_items`] (never on a pool thread), so `MPI_THREAD_SERIALIZED` suffices. Ranks that
//! wait poll with short sleeps instead of spinning in a blocking call, so an idle rank does not
//! take a core from a busy one.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use ::mpi::environment::Universe;
use ::mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use ::mpi::topology::{Communicator, SimpleCommunicator};
use ::mpi::Threading;
use thiserror::Error;

use super::partition::{largest_first, strided};
use super::progress::Progress;
use super::{usage, Comm, Exec, Tally};

const TAG_REQUEST: i32 = 101;
const TAG_ASSIGN: i32 = 102;
const TAG_TALLY: i32 = 103;
const TAG_TOTALS: i32 = 104;
const TAG_USAGE: i32 = 105;

/// Environment variables set by MPI launchers (OpenMPI's mpirun, PMIx / PMI2 under srun, MPICH).
const LAUNCHER_VARS: [&str; 5] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMIX_RANK",
    "PMI_RANK",
    "PMI_SIZE",
    "MPI_LOCALNRANKS",
];

/// Errors starting MPI.
#[derive(Debug, Error)]
pub enum MpiError {
    #[error("an MPI launcher was detected ({var} is set) but MPI_Init_thread failed or MPI was already initialized")]
    Init { var: String },
    #[error("the MPI library provides thread level {got:?}; bsbslmm needs Serialized or Multiple (rebuild OpenMPI with thread support, or run without mpirun)")]
    Threading { got: Threading },
}

/// The MPI environment of this process. Keep it alive for the whole of `main`: dropping it
/// finalizes MPI.
pub struct Session {
    world: Option<SimpleCommunicator>,
    _universe: Option<Universe>,
}

impl Session {
    /// Initializes MPI when a launcher started this process; otherwise a session of one process
    /// that never touches MPI (the MPI build then runs like the plain build).
    pub fn init() -> Result<Session, MpiError> {
        let Some(var) = LAUNCHER_VARS.iter().find(|v| std::env::var_os(v).is_some()) else {
            return Ok(Session {
                world: None,
                _universe: None,
            });
        };
        let (universe, got) =
            ::mpi::initialize_with_threading(Threading::Serialized).ok_or(MpiError::Init {
                var: var.to_string(),
            })?;
        if !matches!(got, Threading::Serialized | Threading::Multiple) {
            return Err(MpiError::Threading { got });
        }
        Ok(Session {
            world: Some(universe.world()),
            _universe: Some(universe),
        })
    }

    /// The world communicator (a single process when not under a launcher).
    pub fn comm(&self) -> Comm<'_> {
        Comm {
            world: self.world.as_ref(),
            _life: PhantomData,
        }
    }

    /// Aborts every rank with `code` (after a fatal error on one rank, so others never hang).
    pub fn abort_if_parallel(&self, code: i32) {
        if let Some(w) = self.world.as_ref().filter(|w| w.size() > 1) {
            w.abort(code);
        }
    }
}

/// Receives a vector of u64 from `src` with `tag`, sleeping between probes.
fn recv_poll(world: &SimpleCommunicator, src: i32, tag: i32) -> Vec<u64> {
    let p = world.process_at_rank(src);
    loop {
        if let Some(probed) = p.immediate_matched_probe_with_tag(tag) {
            return probed.matched_receive_vec::<u64>().0;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Dynamic queue: rank 0 serves requests and runs items itself; workers ask for items.
pub(super) fn run_dynamic<F>(
    world: &SimpleCommunicator,
    exec: &Exec<'_>,
    label: &str,
    costs: &[f64],
    run: &F,
) -> (Tally, usize)
where
    F: Fn(usize) -> Tally + Sync,
{
    let size = world.size();
    let rank = world.rank();
    let slots = exec.threads.max(1);
    let t0 = Instant::now();
    let cpu0 = usage::cpu_seconds().unwrap_or(0.0);
    let (tx, rx) = std::sync::mpsc::channel::<Tally>();
    let mut mine = Tally::default();
    let mut ran = 0usize;
    let mut reported = vec![0u64; size as usize];
    let progress = (rank == 0).then(|| Progress::new(label, costs.len(), 10));
    exec.pool.in_place_scope(|s| {
        let spawn = |i: usize| {
            let tx = tx.clone();
            s.spawn(move |_| {
                let _ = tx.send(run(i));
            });
        };
        let mut in_flight = 0usize;
        if rank == 0 {
            let mut queue: VecDeque<usize> = largest_first(costs).into();
            let mut stopped = 0;
            loop {
                let mut served = false;
                while let Some((msg, status)) = world
                    .any_process()
                    .immediate_matched_probe_with_tag(TAG_REQUEST)
                {
                    let (done_since, _) = msg.matched_receive::<u64>();
                    let src = status.source_rank();
                    reported[src as usize] += done_since;
                    if let Some(p) = &progress {
                        p.inc(done_since as usize);
                    }
                    let reply: i64 = match queue.pop_front() {
                        Some(i) => i as i64,
                        None => {
                            stopped += 1;
                            -1
                        }
                    };
                    world.process_at_rank(src).send_with_tag(&reply, TAG_ASSIGN);
                    served = true;
                }
                while in_flight < slots {
                    let Some(i) = queue.pop_front() else { break };
                    spawn(i);
                    in_flight += 1;
                }
                if queue.is_empty() && in_flight == 0 && stopped == size - 1 {
                    break;
                }
                let wait = Duration::from_millis(if served { 0 } else { 1 });
                if let Ok(t) = rx.recv_timeout(wait) {
                    in_flight -= 1;
                    mine = mine + t;
                    ran += 1;
                    if let Some(p) = &progress {
                        p.inc(1);
                    }
                }
            }
        } else {
            let root = world.process_at_rank(0);
            let mut stopped = false;
            let mut done_since = 0u64;
            loop {
                while !stopped && in_flight < slots {
                    root.send_with_tag(&done_since, TAG_REQUEST);
                    done_since = 0;
                    let (item, _) = root.receive_with_tag::<i64>(TAG_ASSIGN);
                    if item < 0 {
                        stopped = true;
                    } else {
                        spawn(item as usize);
                        in_flight += 1;
                    }
                }
                if in_flight == 0 {
                    break;
                }
                let Ok(t) = rx.recv() else { break };
                in_flight -= 1;
                mine = mine + t;
                ran += 1;
                done_since += 1;
            }
        }
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu = usage::cpu_seconds().unwrap_or(0.0) - cpu0;
    let total = reduce(world, label, mine, ran, wall, cpu, "dynamic", |r, ran_r| {
        if let Some(p) = &progress {
            p.inc((ran_r as u64).saturating_sub(reported[r]) as usize);
        }
    });
    if let Some(p) = &progress {
        p.finish();
    }
    (total, ran)
}

/// Static split: rank r runs positions r, r + size, r + 2·size, ... of the global order.
pub(super) fn run_static<F>(
    world: &SimpleCommunicator,
    exec: &Exec<'_>,
    label: &str,
    n: usize,
    run: &F,
) -> (Tally, usize)
where
    F: Fn(usize) -> Tally + Sync,
{
    use rayon::prelude::*;
    let positions = strided(n, world.rank() as usize, world.size() as usize);
    let t0 = Instant::now();
    let cpu0 = usage::cpu_seconds().unwrap_or(0.0);
    let mine = exec.pool.install(|| {
        positions
            .par_iter()
            .map(|&i| run(i))
            .reduce(Tally::default, |a, b| a + b)
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu = usage::cpu_seconds().unwrap_or(0.0) - cpu0;
    let total = reduce(
        world,
        label,
        mine,
        positions.len(),
        wall,
        cpu,
        "static",
        |_, _| {},
    );
    (total, positions.len())
}

/// Sums the tallies on rank 0, logs the per-rank balance there, and gives every rank the totals.
#[allow(clippy::too_many_arguments)]
fn reduce(
    world: &SimpleCommunicator,
    label: &str,
    mine: Tally,
    ran: usize,
    wall: f64,
    cpu: f64,
    how: &str,
    mut on_rank: impl FnMut(usize, usize),
) -> Tally {
    let pack = |t: Tally, ran: usize, wall: f64, cpu: f64| {
        vec![
            t.fitted,
            t.skipped,
            t.failed,
            ran as u64,
            (wall * 1e6) as u64,
            (cpu * 1e6) as u64,
        ]
    };
    let size = world.size();
    if world.rank() != 0 {
        world
            .process_at_rank(0)
            .send_with_tag(&pack(mine, ran, wall, cpu)[..], TAG_TALLY);
        let v = recv_poll(world, 0, TAG_TOTALS);
        return Tally {
            fitted: v[0],
            skipped: v[1],
            failed: v[2],
        };
    }
    let mut rows = vec![pack(mine, ran, wall, cpu)];
    for r in 1..size {
        let v = recv_poll(world, r, TAG_TALLY);
        on_rank(r as usize, v[3] as usize);
        rows.push(v);
    }
    let mut total = Tally::default();
    let (mut cpu_sum, mut wall_max) = (0.0f64, 0.0f64);
    for (r, v) in rows.iter().enumerate() {
        total = total
            + Tally {
                fitted: v[0],
                skipped: v[1],
                failed: v[2],
            };
        let (w, c) = (v[4] as f64 / 1e6, v[5] as f64 / 1e6);
        cpu_sum += c;
        wall_max = wall_max.max(w);
        tracing::info!(
            "{label}: rank {r}: {} items, wall {w:.2} s, cpu {c:.2} s",
            v[3]
        );
    }
    let ideal = cpu_sum / size as f64;
    tracing::info!(
        "{label}: balance ({how}, {size} ranks): wall {wall_max:.2} s, cpu {cpu_sum:.2} s, ideal {ideal:.2} s, wall/ideal {:.3}",
        wall_max / ideal.max(1e-9)
    );
    let out = [total.fitted, total.skipped, total.failed];
    for r in 1..size {
        world.process_at_rank(r).send_with_tag(&out[..], TAG_TOTALS);
    }
    total
}

/// Runs `f` on rank 0 only; the other ranks wait (polling) and get rank 0's tally.
pub(super) fn root_only<E: Send>(
    world: &SimpleCommunicator,
    exec: &Exec<'_>,
    f: impl FnOnce() -> Result<Tally, E> + Send,
) -> Result<Tally, E> {
    if world.rank() != 0 {
        let v = recv_poll(world, 0, TAG_TOTALS);
        return Ok(Tally {
            fitted: v[0],
            skipped: v[1],
            failed: v[2],
        });
    }
    let t = exec.pool.install(f)?;
    let out = [t.fitted, t.skipped, t.failed];
    for r in 1..world.size() {
        world.process_at_rank(r).send_with_tag(&out[..], TAG_TOTALS);
    }
    Ok(t)
}

/// CPU seconds summed over ranks and the largest peak RSS (KiB), on rank 0; this rank's own
/// figures elsewhere.
pub(super) fn gather_usage(world: &SimpleCommunicator, cpu: f64, peak_kib: u64) -> (f64, u64) {
    if world.rank() != 0 {
        world
            .process_at_rank(0)
            .send_with_tag(&[(cpu * 1e6) as u64, peak_kib][..], TAG_USAGE);
        return (cpu, peak_kib);
    }
    let (mut c, mut p) = (cpu, peak_kib);
    for r in 1..world.size() {
        let v = recv_poll(world, r, TAG_USAGE);
        c += v[0] as f64 / 1e6;
        p = p.max(v[1]);
    }
    (c, p)
}
