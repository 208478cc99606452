//! Command-line arguments of `shipwatch remediate`.

#[derive(Debug, Clone, clap::Args)]
pub struct RemediateArgs {
    #[command(flatten)]
    pub service: super::ServiceArgs,
    /// A deployment of this CodeDeploy group refuses remediation (default: [codedeploy]).
    #[command(flatten)]
    pub codedeploy: super::CodeDeployArgs,
    /// The alarm this remediation answers: its current state change (read from
    /// CloudWatch) keys the at-most-one-stop guard. Without it only the cool-down applies.
    #[arg(long, value_name = "NAME")]
    pub alarm: Option<String>,
    /// Show the task that would be stopped and every guard; stop nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Healthy running tasks that must remain after the stop (default: [remediate] min_healthy, else 1).
    #[arg(long, env = "SHIPWATCH_REMEDIATE_MIN_HEALTHY", value_name = "N")]
    pub min_healthy: Option<u32>,
    /// At most one stop per this window (default: [remediate] cool_down, else 10m).
    #[arg(long, env = "SHIPWATCH_REMEDIATE_COOL_DOWN", value_name = "DURATION", value_parser = crate::duration::parse_duration)]
    pub cool_down: Option<std::time::Duration>,
    /// How long to wait for the replacement to be running and healthy (default: [remediate] replacement_wait, else 3m).
    #[arg(long, env = "SHIPWATCH_REMEDIATE_REPLACEMENT_WAIT", value_name = "DURATION", value_parser = crate::duration::parse_duration)]
    pub replacement_wait: Option<std::time::Duration>,
}
