//! Per-gene statistics. Never touches files, MPI or Slurm: slices in, values out.

pub mod diagnostics;
pub mod ld;
pub mod preprocess;
pub mod summary;
