//! Pure statistical functions: normal and t distributions, the paired Wilcoxon signed-rank
//! test, DNase-peak enrichment with a gene bootstrap, Benjamini–Hochberg q-values, SNP covariance
//! and pruning of exported models, and S-PrediXcan gene z-scores. No I/O.

pub mod enrich;
pub mod multitest;
pub mod normal;
pub mod tdist;
pub mod twas;
pub mod weights;
pub mod wilcoxon;
