//! Pure statistical functions: normal and t distributions, the paired Wilcoxon signed-rank
//! test, and DNase-peak enrichment with a gene bootstrap. No I/O.

pub mod enrich;
pub mod normal;
pub mod tdist;
pub mod wilcoxon;
