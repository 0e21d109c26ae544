//! Pure statistical functions.

pub mod enrich;
pub mod normal;
pub mod wilcoxon;
