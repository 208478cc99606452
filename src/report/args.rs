//! Command-line arguments of `shipwatch report`.

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The failed deployment or its rollback deployment.
    #[arg(value_name = "DEPLOYMENT_ID")]
    pub deployment_id: Option<String>,
    /// Analyse exported log lines (JSON lines or plain text) instead of CloudWatch Logs; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub logs_file: Option<std::path::PathBuf>,
    /// Where to write report.md, report.html and report.json.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
}
