//! Pipeline stages: each plans its work items, runs one item, and merges.

pub mod prepare;
pub mod simulate;
