//! The rollback report: collect evidence after a rollback and explain it.
//!
//! Flow: evidence is collected into the [`model::Report`] (from AWS in `collect.rs`,
//! or from an exported log file), trace ids are looked up in Jaeger, the verdict is
//! derived from the model, and the three renderers write report.md, report.html and
//! report.json. Log and trace text is redacted when it enters the model.

pub mod analyse;
pub mod args;
pub mod chart;
pub mod collect;
pub mod html;
pub mod jaeger;
pub mod json;
pub mod links;
pub mod logline;
pub mod markdown;
pub mod model;
pub mod normalise;
pub mod redact;
pub mod traceid;
pub mod verdict;

use crate::cli::{Global, OutputFormat};
use crate::config::Config;
use crate::error::{Error, Result, write_atomic};
use model::{Report, Source, SourceKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `write_for_deployment` produced: the verdict and the files written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportSummary {
    pub verdict: String,
    /// report.md, report.html, report.json.
    pub paths: Vec<PathBuf>,
}

/// Settings after flags, environment and `[report]` are layered.
#[derive(Debug, Clone)]
pub struct Settings {
    pub out_dir: PathBuf,
    pub jaeger: Option<jaeger::JaegerConfig>,
    pub max_traces: usize,
    pub limits: analyse::Limits,
    pub trace_id_field: Option<String>,
    pub log_group: Option<String>,
    pub sha: Option<String>,
}

const DEFAULT_MAX_TRACES: usize = 5;
const JAEGER_TIMEOUT: Duration = Duration::from_secs(5);

impl Settings {
    pub fn resolve(cfg: &Config, args: &args::ReportArgs, out_dir: Option<&Path>) -> Result<Self> {
        let rs = cfg.layer.report.clone().unwrap_or_default();
        let out_dir = out_dir
            .map(Path::to_path_buf)
            .or(args.out_dir.clone())
            .or(rs.output_dir.clone().map(|p| cfg.resolve_path(&p)))
            .unwrap_or_else(|| PathBuf::from("shipwatch-out/report"));
        let url = args
            .jaeger_url
            .clone()
            .or(rs.jaeger_url.clone())
            .filter(|u| !u.trim().is_empty());
        let jaeger = url.map(|url| {
            let url = url.trim_end_matches('/').to_owned();
            let ui_url = args
                .jaeger_ui_url
                .clone()
                .or(rs.jaeger_ui_url.clone())
                .unwrap_or_else(|| url.clone());
            jaeger::JaegerConfig {
                url,
                ui_url: ui_url.trim_end_matches('/').to_owned(),
                timeout: JAEGER_TIMEOUT,
            }
        });
        let since_ms = args
            .since
            .as_deref()
            .map(|s| parse_time_flag("--since", s))
            .transpose()?;
        let until_ms = args
            .until
            .as_deref()
            .map(|s| parse_time_flag("--until", s))
            .transpose()?;
        let limits = analyse::Limits {
            max_events: args.max_events.or(rs.max_events),
            max_time: args.max_log_time.or(rs.max_log_time.map(|d| d.0)),
            since_ms,
            until_ms,
            ..analyse::Limits::default()
        };
        Ok(Settings {
            out_dir,
            jaeger,
            max_traces: args
                .max_traces
                .or(rs.max_traces)
                .unwrap_or(DEFAULT_MAX_TRACES),
            limits,
            trace_id_field: args.trace_id_field.clone().or(rs.trace_id_field.clone()),
            log_group: rs.log_group.clone(),
            sha: args.sha.clone(),
        })
    }
}

fn parse_time_flag(flag: &str, s: &str) -> Result<i64> {
    logline::parse_time(s).ok_or_else(|| {
        Error::Usage(format!(
            "{flag} `{s}` is not a time; write it like 2026-01-31T10:00:00Z"
        ))
    })
}

pub async fn run(global: &Global, args: args::ReportArgs) -> Result<i32> {
    let cfg = crate::config::load(
        &global.config,
        global.environment.as_deref(),
        global.config_explicit(),
    )?;
    let settings = Settings::resolve(&cfg, &args, None)?;
    let summary = if let Some(file) = &args.logs_file {
        let mut report = from_logs_file(&settings, file).await?;
        write_report(&mut report, &settings.out_dir)?
    } else if let Some(id) = &args.deployment_id {
        let region = cfg.layer.service.as_ref().and_then(|s| s.region.clone());
        let clients = crate::aws::Clients::connect(&global.aws, region.as_deref()).await;
        write_with(&clients, &cfg, &settings, id).await?
    } else {
        return Err(Error::Usage(
            "give a deployment id (`shipwatch report d-ABC123`) or --logs-file FILE".into(),
        ));
    };
    print_summary(global.output, &summary);
    Ok(crate::exit::OK)
}

fn print_summary(format: OutputFormat, s: &ReportSummary) {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string(s).unwrap_or_default()),
        OutputFormat::Text => {
            println!("{}", s.verdict);
            for p in &s.paths {
                println!("report: {}", p.display());
            }
        }
    }
}

/// The report of an exported log file (or stdin): logs and traces only.
pub async fn from_logs_file(settings: &Settings, file: &Path) -> Result<Report> {
    let name = file.display().to_string();
    let limits = settings.limits.clone();
    let field = settings.trace_id_field.clone();
    let path = file.to_path_buf();
    let logs = tokio::task::spawn_blocking(move || -> Result<model::LogEvidence> {
        let (a, label) = if path.as_os_str() == "-" {
            let mut a = analyse::Analyser::new(field.as_deref(), limits);
            a.read_all(std::io::stdin().lock())
                .map_err(|e| Error::Io(format!("cannot read stdin: {e}")))?;
            (a, "stdin".to_string())
        } else {
            let f = std::fs::File::open(&path)
                .map_err(|e| Error::Usage(format!("cannot open {}: {e}", path.display())))?;
            let a = analyse::analyse_file(&f, field.as_deref(), &limits)
                .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
            (a, format!("file {}", path.display()))
        };
        Ok(a.finish(label))
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("log analysis crashed: {e}")))??;
    let mut report = Report::new(
        Source {
            kind: SourceKind::LogsFile,
            input: name,
            region: None,
            release: None,
        },
        chrono::Utc::now(),
    );
    report.source.release = settings.sha.clone();
    report.traces =
        jaeger::lookup(settings.jaeger.as_ref(), &logs.traces, settings.max_traces).await;
    let trace_links: Vec<model::Link> = report
        .traces
        .traces
        .iter()
        .filter_map(|t| {
            t.ui_url.clone().map(|url| model::Link {
                label: format!("Jaeger: trace {}", t.trace_id),
                url,
            })
        })
        .collect();
    report.links.extend(trace_links);
    report.logs = Some(logs);
    note_missing_traces(&mut report);
    report.add_missing(
        "trigger",
        "built from a log file: no deployment, alarm, metrics or ECS evidence",
    );
    Ok(report)
}

/// Records why traces are missing, when they are.
pub fn note_missing_traces(report: &mut Report) {
    use model::TraceStatus::*;
    match report.traces.status {
        NotConfigured | Unavailable | Partial => {
            let why = report
                .traces
                .reason
                .clone()
                .unwrap_or_else(|| "traces could not be read".into());
            report.add_missing("traces", why);
        }
        NoTraceIds | Ok => {}
    }
}

/// Derives the verdict and writes the three files; returns what was written.
pub fn write_report(report: &mut Report, out_dir: &Path) -> Result<ReportSummary> {
    report.verdict = verdict::verdict(report);
    let md = markdown::render(report);
    let html = html::render(report)?;
    let json = serde_json::to_vec_pretty(report).map_err(|e| Error::Internal(e.into()))?;
    let paths = vec![
        out_dir.join("report.md"),
        out_dir.join("report.html"),
        out_dir.join("report.json"),
    ];
    write_atomic(&paths[0], md.as_bytes())?;
    write_atomic(&paths[1], html.as_bytes())?;
    write_atomic(&paths[2], &json)?;
    Ok(ReportSummary {
        verdict: report.verdict.text.clone(),
        paths,
    })
}

/// Builds the report for a rolled-back deployment (the failed one or its rollback)
/// and writes it to `out_dir`. Called by `shipwatch deploy` on exit 3 and by
/// `shipwatch report <deployment-id>`.
pub async fn write_for_deployment(
    clients: &crate::aws::Clients,
    cfg: &Config,
    deployment_id: &str,
    out_dir: &Path,
) -> Result<ReportSummary> {
    let settings = Settings::resolve(cfg, &args::ReportArgs::default(), Some(out_dir))?;
    write_with(clients, cfg, &settings, deployment_id).await
}

async fn write_with(
    clients: &crate::aws::Clients,
    cfg: &Config,
    settings: &Settings,
    deployment_id: &str,
) -> Result<ReportSummary> {
    let mut report = collect::collect(clients, cfg, settings, deployment_id).await?;
    write_report(&mut report, &settings.out_dir)
}

#[cfg(test)]
mod tests;
