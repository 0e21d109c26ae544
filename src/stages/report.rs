//! placeholder
use thiserror::Error;
use crate::config::Config;
use crate::stages::StageOutcome;
#[derive(Debug, Error)]
pub enum ReportError {}
pub fn run(_config: &Config) -> Result<StageOutcome, ReportError> { todo!() }
