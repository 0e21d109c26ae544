//! bsbslmm: per-gene Bayesian expression-prediction models (BSLMM, block-only, bsBSLMM,
//! Annotated BayesC, ridge, elastic net) from cis genotypes, at cluster scale.
//!
//! Layers (arrows point down only): `cli` -> `stages` -> `dist` -> `model`/`stats`/`io`/`config` -> `rng`.

pub mod config;
pub mod dist;
pub mod io;
pub mod model;
pub mod rng;
pub mod stages;
pub mod stats;
