//! Pure statistical functions.

pub mod normal;
pub mod tdist;
