//! Integration tests: the binary end to end, and cross-checks against reference tools
//! (bcftools, tabix, h5dump, h5py).

mod bad_input;
mod common;
mod finalize;
mod fit;
mod prepare;
mod report;
mod simulate;
mod twas;
mod vcf_bcftools;
