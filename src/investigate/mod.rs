//! `shipwatch investigate`: the on-call checklist for a service in trouble outside (or
//! during) a deployment, run in seconds with read-only calls: triage (alarms in
//! ALARM, counts, deployments, service events), evidence (stopped tasks and why,
//! crash loops, target health mapped to tasks, Container Insights memory and CPU, the
//! error lines of the tasks' log streams), a verdict from the strongest evidence with
//! remediation hints (printed, never executed), written as investigation.md/.html/.json.

pub mod gather;
pub mod model;
pub mod render;
pub mod verdict;

use crate::aws::{Clients, Connection};
use crate::error::{Error, Result, write_atomic};
use crate::logscan::redact::redact_owned;
use model::Investigation;
use std::path::PathBuf;
use std::time::Duration;

/// What `investigate` reads, after flags, environment and the configuration file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub aws: Connection,
    pub cluster: String,
    pub service: String,
    pub container: Option<String>,
    pub application: Option<String>,
    pub group: Option<String>,
    /// The configured watched alarms.
    pub alarms: Vec<String>,
    /// The alarm that fired, from `--alarm`.
    pub alarm: Option<String>,
    /// How far back to look.
    pub since: Duration,
    pub out_dir: PathBuf,
    pub log_group: Option<String>,
    pub limits: crate::logscan::analyse::Limits,
    pub trace_id_field: Option<String>,
    pub jaeger: Option<crate::logscan::jaeger::JaegerConfig>,
    /// How many of the top trace ids to look up.
    pub max_traces: usize,
}

/// What was written, for the summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub cause: model::Cause,
    pub verdict: String,
    pub paths: Vec<PathBuf>,
}

/// Gathers, decides and writes the investigation.
pub async fn investigate(c: &Clients, s: &Settings) -> Result<(Investigation, Outcome)> {
    let mut inv = gather::gather(c, s, chrono::Utc::now()).await?;
    traces(s, &mut inv).await;
    redact(&mut inv);
    inv.verdict = verdict::decide(&inv);
    let paths = write(&inv, s)?;
    let outcome = Outcome {
        cause: inv.verdict.cause,
        verdict: inv.verdict.summary.clone(),
        paths,
    };
    Ok((inv, outcome))
}

/// The error lines' top traces from Jaeger; why they are missing, when they are.
async fn traces(s: &Settings, inv: &mut Investigation) {
    use crate::logscan::model::TraceStatus;
    let Some(logs) = &inv.evidence.logs else {
        return;
    };
    let ev = crate::logscan::jaeger::lookup(s.jaeger.as_ref(), &logs.traces, s.max_traces).await;
    match ev.status {
        TraceStatus::NotConfigured | TraceStatus::Unavailable | TraceStatus::Partial => {
            inv.missing.push(model::Missing {
                evidence: "traces".into(),
                reason: ev
                    .reason
                    .clone()
                    .unwrap_or_else(|| "traces could not be read".into()),
            });
        }
        TraceStatus::NoTraceIds | TraceStatus::Ok => {}
    }
    inv.checked.push(format!(
        "traces: {} of the error lines' trace ids looked up in Jaeger, {} found",
        ev.traces.len(),
        ev.traces.iter().filter(|t| t.found).count()
    ));
    inv.evidence.traces = ev;
}

/// Free text from AWS (events, reasons, descriptions) can carry what a developer put
/// there; logs were redacted by the analysis already.
fn redact(inv: &mut Investigation) {
    for a in &mut inv.triage.alarms {
        a.reason = a.reason.as_deref().map(redact_owned);
    }
    if let Some(s) = &mut inv.triage.service {
        for e in &mut s.events {
            e.message = redact_owned(&e.message);
        }
    }
    for d in &mut inv.triage.deployments {
        d.error = d.error.as_deref().map(redact_owned);
    }
    for t in &mut inv.evidence.stopped {
        t.reason = t.reason.as_deref().map(redact_owned);
        t.meaning = redact_owned(&t.meaning);
    }
    for t in &mut inv.evidence.targets {
        t.description = t.description.as_deref().map(redact_owned);
    }
}

fn write(inv: &Investigation, s: &Settings) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(&s.out_dir).map_err(|e| {
        Error::Io(format!(
            "cannot create the output folder {}: {e}; choose another with --out-dir",
            s.out_dir.display()
        ))
    })?;
    let json = serde_json::to_vec_pretty(inv).map_err(|e| Error::Internal(e.into()))?;
    let paths = vec![
        s.out_dir.join("investigation.md"),
        s.out_dir.join("investigation.html"),
        s.out_dir.join("investigation.json"),
    ];
    write_atomic(&paths[0], render::markdown(inv).as_bytes())?;
    write_atomic(&paths[1], render::html(inv).as_bytes())?;
    write_atomic(&paths[2], &json)?;
    Ok(paths)
}
