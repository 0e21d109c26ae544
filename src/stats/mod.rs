//! Pure statistical functions.

pub mod normal;
