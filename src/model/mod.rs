//! Per-gene statistics. Never touches files, MPI or Slurm: slices in, values out.

pub mod baselines;
pub mod diagnostics;
pub mod fit;
pub mod ld;
pub mod preprocess;
pub mod reduce;
pub mod sampler;
pub mod summary;
pub mod vmath;

#[cfg(test)]
mod sampler_tests;
