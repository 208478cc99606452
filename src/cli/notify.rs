//! `shipwatch notify`: flags of the notification check.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// Send a sample message to every configured endpoint and report what each answered.
    #[arg(long, required = true)]
    pub test: bool,
}
