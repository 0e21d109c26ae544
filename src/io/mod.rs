//! File formats only: readers and writers, each with its own error type. No statistics here.

pub mod annotations;
pub mod covariates;
pub mod expression;
pub mod genes;
pub mod intervals;
pub mod predictdb;
pub mod store;
pub mod sumstats;
pub mod text;
pub mod truth;
pub mod tsv;
pub mod vcf;
pub mod vcf_write;
