//! The rollback report: collect evidence after a rollback and explain it.

pub mod analyse;
pub mod args;
pub mod logline;
pub mod model;
pub mod normalise;
pub mod redact;
pub mod traceid;

use crate::cli::Global;
use crate::error::{Error, Result};

pub async fn run(_global: &Global, _args: args::ReportArgs) -> Result<i32> {
    Err(Error::Usage("`shipwatch report` is not available in this build yet.".into()))
}

/// What `write_for_deployment` produced: the verdict and the files written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportSummary {
    pub verdict: String,
    /// report.md, report.html, report.json.
    pub paths: Vec<std::path::PathBuf>,
}

/// Builds the report for a rolled-back deployment (the failed one or its rollback)
/// and writes it to `out_dir`. Called by `shipwatch deploy` on exit 3 and by
/// `shipwatch report <deployment-id>`.
pub async fn write_for_deployment(
    _clients: &crate::aws::Clients,
    _cfg: &crate::config::Config,
    deployment_id: &str,
    _out_dir: &std::path::Path,
) -> Result<ReportSummary> {
    Err(Error::Failed(format!(
        "the rollback report for {deployment_id} cannot be built yet: collecting evidence from AWS is not implemented in this build"
    )))
}
