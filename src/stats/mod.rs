//! Pure statistical functions.
