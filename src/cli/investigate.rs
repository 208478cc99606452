//! Command-line arguments of `shipwatch investigate`.

use super::{CodeDeployArgs, ServiceArgs};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub codedeploy: CodeDeployArgs,
    /// How far back to look, e.g. "30m", "2h".
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::duration::parse_positive_duration)]
    pub since: std::time::Duration,
    /// The alarm that fired (read besides the watched ones and named in the triage).
    #[arg(long, value_name = "NAME")]
    pub alarm: Option<String>,
    /// Where to write investigation.md, .html and .json (default: shipwatch-out/investigation).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}
