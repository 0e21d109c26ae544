//! Per-gene statistics. Never touches files, MPI or Slurm: slices in, values out.

pub mod baselines;
pub mod ld;
pub mod preprocess;
