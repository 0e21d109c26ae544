//! Per-gene statistics. Never touches files, MPI or Slurm: slices in, values out.

pub mod ld;
pub mod preprocess;
pub mod reduce;
pub mod sampler;

#[cfg(test)]
mod sampler_tests;
