//! Command-line arguments of `shipwatch report`.

use std::path::PathBuf;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReportArgs {
    /// The failed deployment or its rollback deployment.
    #[arg(value_name = "DEPLOYMENT_ID", value_parser = super::parse_deployment_id)]
    pub deployment_id: Option<String>,
    /// Analyse exported log lines (JSON lines or plain text) instead of CloudWatch Logs; `-` reads stdin.
    #[arg(long, value_name = "FILE", conflicts_with = "deployment_id")]
    pub logs_file: Option<PathBuf>,
    /// Where to write report.md, report.html and report.json (default: [report] output_dir, else shipwatch-out/report).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Jaeger query API base URL, e.g. http://jaeger:16686 (default: [report] jaeger_url).
    #[arg(long, env = "SHIPWATCH_JAEGER_URL", value_name = "URL")]
    pub jaeger_url: Option<String>,
    /// Jaeger UI base URL for links (default: [report] jaeger_ui_url, else the query URL).
    #[arg(long, value_name = "URL")]
    pub jaeger_ui_url: Option<String>,
    /// How many of the top trace ids to look up in Jaeger (default: [report] max_traces, else 5).
    #[arg(long, value_name = "N")]
    pub max_traces: Option<usize>,
    /// Stop reading logs after this many lines/events; the report says so (default: [report] max_events).
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
    /// Stop reading logs after this long, e.g. "2m"; the report says so (default: [report] max_log_time).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse_positive_duration)]
    pub max_log_time: Option<std::time::Duration>,
    /// With --logs-file: only error lines at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", requires = "logs_file")]
    pub since: Option<String>,
    /// With --logs-file: only error lines before this time (RFC 3339).
    #[arg(long, value_name = "TIME", requires = "logs_file")]
    pub until: Option<String>,
    /// A log field holding the trace id (JSON path like `ctx.traceId`, or a `key=` in plain text), tried first.
    #[arg(long, value_name = "FIELD")]
    pub trace_id_field: Option<String>,
    /// With --logs-file: the release's git sha or image tag, named in the verdict.
    #[arg(long, value_name = "SHA")]
    pub sha: Option<String>,
}
