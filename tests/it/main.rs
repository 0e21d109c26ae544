//! Integration tests: the binary end to end, and cross-checks against reference tools
//! (bcftools, tabix, h5dump, h5py), the distributed driver (array slices, MPI, kill and rerun) and a
//! real local Slurm cluster.

mod bad_input;
mod common;
mod dist;
mod finalize;
mod fit;
mod prepare;
mod report;
mod simulate;
mod slurm;
mod twas;
mod vcf_bcftools;
