//! Pure statistical functions.

pub mod normal;
pub mod enrich;
pub mod wilcoxon;
