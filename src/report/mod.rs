//! The rollback report: collect evidence after a rollback and explain it.
//!
//! Flow: evidence is collected into the [`model::Report`] (from AWS in `collect.rs`,
//! or from an exported log file), trace ids are looked up in Jaeger, the verdict is
//! derived from the model, and the three renderers write report.md, report.html and
//! report.json. Log and trace text is redacted when it enters the model.

pub mod ahead;
pub mod chart;
pub mod collect;
pub mod compare;
pub mod html;
pub use crate::logscan::jaeger;
pub mod latency;
pub mod links;
pub mod markdown;
pub mod model;
pub mod verdict;

use crate::error::{Error, Result, write_atomic};
use crate::logscan::{analyse, input};
use model::{Report, Source, SourceKind};
use std::path::{Path, PathBuf};

/// What `write_for_deployment` produced: the verdict and the files written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportSummary {
    pub verdict: String,
    /// report.md, report.html, report.json.
    pub paths: Vec<PathBuf>,
    /// The report itself, for what the command layer builds from it (notifications).
    #[serde(skip)]
    pub report: Box<Report>,
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
    /// The release named in the verdict of a report built from a log file.
    pub sha: Option<String>,
    /// The configured service, used when the deployment group does not name one.
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub container: Option<String>,
    /// The configured alarms, read besides the deployment group's.
    pub alarms: Vec<String>,
    /// Why the caller stopped the deployment, when it did for a reason CodeDeploy does
    /// not record (shipwatch's judge): the trigger names it.
    pub stopped_by: Option<String>,
    /// After a deploy's rollback ends, how long the report's reads still running may
    /// take; what is not read by then is reported as not read in time.
    pub after_rollback: std::time::Duration,
}

/// The report of an exported log file (or stdin): logs and traces only.
pub async fn from_logs_file(settings: &Settings, file: &Path) -> Result<Report> {
    let name = file.display().to_string();
    let limits = settings.limits.clone();
    let field = settings.trace_id_field.clone();
    let path = file.to_path_buf();
    let logs = tokio::task::spawn_blocking(move || -> Result<model::LogEvidence> {
        let (a, label) =
            input::analyse_path(&path, field.as_deref(), &limits).map_err(|e| match e {
                input::InputError::Usage(m) => Error::Usage(m),
                input::InputError::Io(m) => Error::Io(m),
            })?;
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
        report: Box::new(report.clone()),
    })
}

/// Builds the report for a rolled-back deployment (the failed one or its rollback)
/// and writes it to the settings' folder. Called after `shipwatch deploy` ends in a
/// rollback and by `shipwatch report <deployment-id>`.
pub async fn write_for_deployment(
    clients: &crate::aws::Clients,
    settings: &Settings,
    deployment_id: &str,
) -> Result<ReportSummary> {
    let mut report = collect::collect(clients, settings, deployment_id).await?;
    write_report(&mut report, &settings.out_dir)
}

/// Reads the context of the report of deployment `failed` (as the watch last read it)
/// ahead of its end; `collect::Prepared::finish`, given the settings' budget after the
/// end, gathers the rest while it is stopped and rolled back, and `write_collected`
/// writes it (see `collect::collect_ahead`).
pub async fn prepare_ahead<'a>(
    clients: &'a crate::aws::Clients,
    settings: &'a Settings,
    failed: crate::aws::model::Deployment,
) -> collect::Prepared<'a> {
    let id = failed.id.clone();
    collect::Prepared::load(clients, settings, &id, failed, None, true).await
}

/// Writes a report gathered ahead, naming the caller's reason for the stop when the
/// caller (shipwatch's judge) stopped the deployment.
pub fn write_collected(mut report: Report, settings: &Settings) -> Result<ReportSummary> {
    if let Some(t) = report.trigger.as_mut() {
        collect::name_the_stop(t, settings.stopped_by.as_deref());
    }
    write_report(&mut report, &settings.out_dir)
}

/// Builds and writes the report of a deployment whose final state, and its rollback's,
/// the caller has just read (a `deploy` or `watch` that saw it end), so the report
/// starts from them instead of reading them again.
pub async fn write_for_watched(
    clients: &crate::aws::Clients,
    settings: &Settings,
    deployment: crate::aws::model::Deployment,
    rollback: Option<crate::aws::model::Deployment>,
) -> Result<ReportSummary> {
    let id = deployment.id.clone();
    let mut report = collect::collect_pair(clients, settings, &id, deployment, rollback).await;
    write_report(&mut report, &settings.out_dir)
}

#[cfg(test)]
mod tests;
