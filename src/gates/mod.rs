//! Security gates: run Gitleaks, Trivy, Syft, Checkov and `npm audit` behind one policy.

pub mod args;
pub mod config;

use crate::cli::Global;
use crate::error::{Error, Result};

pub async fn run(_global: &Global, _args: args::GateArgs) -> Result<i32> {
    Err(Error::Usage("`shipwatch gate` is not available in this build yet.".into()))
}
