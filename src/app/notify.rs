//! Notifications in the command layer: the events built from the deploy outcome, the
//! rollback report and the gates' results; `shipwatch notify --test`; and the log
//! lines saying what was sent. A notification never changes a command's exit code.

use crate::cli::notify::NotifyArgs;
use crate::deploy::Finished;
use crate::deploy::decide::Outcome;
use crate::error::{Error, Result};
use crate::gates::model::Severity;
use crate::gates::policy::Verdict;
use crate::gates::report::{GateReport, Status};
use crate::notify::model::*;
use crate::notify::{self, send::Delivery};
use crate::remediate::Remediation;
use crate::report::ReportSummary;
use crate::settings::Sources;
use crate::{exit, term};
use std::path::Path;

/// Sends `event` if it is enabled, then says on stderr what happened: one line per
/// endpoint, and a warning per setting that could not be used. A SIGTERM or SIGINT
/// abandons the sending at once; its number is returned, for the caller's 128 + signal.
pub async fn send(settings: &notify::Settings, event: &Event) -> Option<i32> {
    if !settings.wants(event) {
        return None;
    }
    for p in &settings.problems {
        eprintln!("warning: {p}");
    }
    if !settings.any() {
        return None;
    }
    let work = notify::deliver(settings, event);
    let deliveries = match crate::signals::Abort::listen() {
        Ok(abort) => tokio::select! {
            d = work => d,
            signo = abort.wait() => {
                eprintln!(
                    "warning: {} arrived while the notification was being sent; it was abandoned",
                    crate::signals::name(signo)
                );
                return Some(signo);
            }
        },
        Err(_) => work.await,
    };
    for d in deliveries {
        match d.result {
            Ok(_) => eprintln!("{}", notify::describe(&d)),
            Err(_) => eprintln!("warning: {}", notify::describe(&d)),
        }
    }
    None
}

/// The event for a concluded deploy or watch, with the report's verdict, numbers and
/// error groups when a report was written.
pub fn deployment(
    settings: &notify::Settings,
    f: &Finished,
    report: Option<&ReportSummary>,
    region: &str,
) -> Event {
    let w = &f.watched;
    let d = &w.deployment;
    let model = report.map(|r| &*r.report);
    let html = report.and_then(|r| {
        r.paths
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "html"))
    });
    let cwd = std::env::current_dir().ok();
    let mut links = settings.links(html.map(|p| p.as_path()), cwd.as_deref());
    links.console = Some(crate::report::links::deployment(region, &d.id));
    let green_vs_blue = model.and_then(|m| m.metrics.as_ref()).map(|m| GreenBlue {
        green_5xx: m.totals.green_5xx,
        green_requests: m.totals.green_requests,
        blue_5xx: m.totals.blue_5xx,
        blue_requests: m.totals.blue_requests,
    });
    let error_groups = model
        .and_then(|m| m.logs.as_ref())
        .map(|l| {
            l.groups
                .iter()
                .map(|g| ErrorGroupLine {
                    count: g.count,
                    message: g.message.clone(),
                    route: g.routes.first().map(|r| r.value.clone()),
                })
                .collect()
        })
        .unwrap_or_default();
    Event::Deployment(DeploymentEvent {
        outcome: match w.outcome {
            Outcome::Succeeded => DeployOutcome::Succeeded,
            Outcome::RolledBack => DeployOutcome::RolledBack,
            Outcome::RollbackFailed => DeployOutcome::RollbackFailed,
            Outcome::Failed => DeployOutcome::Failed,
            Outcome::TimedOut => DeployOutcome::TimedOut,
        },
        deployment_id: d.id.clone(),
        application: d.application.clone(),
        deployment_group: d.group.clone(),
        subject: settings.subject.clone(),
        release: model
            .and_then(|m| m.deployment.as_ref())
            .and_then(|x| x.sha.clone()),
        verdict: report.map(|r| r.verdict.clone()),
        alarms: w
            .fired
            .iter()
            .map(|(alarm, reason)| AlarmTrigger {
                alarm: alarm.clone(),
                reason: reason.clone(),
            })
            .collect(),
        green_percent_at_alarm: w.green_at_alarm,
        max_green_percent: w.max_green,
        stopped_by_shipwatch: w.stopped_by_us,
        codedeploy_error: d.error_code.as_ref().map(|c| match &d.error_message {
            Some(m) => format!("{c}: {m}"),
            None => c.clone(),
        }),
        green_vs_blue,
        error_groups,
        elapsed_seconds: w.elapsed.as_secs_f64(),
        exit_code: w.outcome.exit_code(),
        links,
    })
}

/// The event for a remediation that stopped a task, was held back by a guard or
/// failed; `None` for a dry run, an ignored event or nothing unhealthy, which change
/// nothing anyone must hear about.
pub fn remediation(settings: &notify::Settings, r: &Remediation) -> Option<Event> {
    use crate::remediate::Outcome as R;
    if r.dry_run
        || !matches!(
            r.outcome,
            R::Remediated | R::Skipped | R::Refused | R::Failed
        )
    {
        return None;
    }
    let stopped = matches!(r.outcome, R::Remediated | R::Failed) && r.guard.is_none();
    Some(Event::Remediation(RemediationEvent {
        subject: Subject {
            cluster: Some(r.cluster.clone()),
            service: Some(r.service.clone()),
            ..settings.subject.clone()
        },
        alarm: r.trigger.alarm.clone(),
        stopped_task: r.task.as_ref().filter(|_| stopped).map(|t| t.arn.clone()),
        why: r.why_text.clone().unwrap_or_else(|| r.summary.clone()),
        guard: r
            .guard
            .as_ref()
            .map(|g| format!("{}: {}", g.guard.replace('_', " "), g.detail)),
        replacement_task: r.replacement.as_ref().map(|x| x.task.clone()),
        exit_code: r.exit_code,
        links: settings.links(None, None),
    }))
}

/// The event for gates that failed, or `None` when none did.
pub fn gates(
    settings: &notify::Settings,
    reports: &[GateReport],
    out_dir: &Path,
    exit_code: i32,
) -> Option<Event> {
    let failed: Vec<&GateReport> = reports
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if failed.is_empty() {
        return None;
    }
    let mut findings: Vec<(Severity, FindingLine)> = failed
        .iter()
        .flat_map(|r| {
            r.findings
                .iter()
                .filter(|f| f.verdict == Verdict::Fail)
                .map(|f| {
                    let x = &f.finding;
                    // Title, rule and place only: a finding holds no secret value, and
                    // nothing else of it is rendered.
                    (
                        x.severity,
                        FindingLine {
                            gate: r.gate.name().to_owned(),
                            severity: x.severity.as_str().to_owned(),
                            rule_id: x.rule_id.clone(),
                            title: x.title.clone(),
                            location: x.location.to_string(),
                        },
                    )
                })
        })
        .collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.0));
    Some(Event::GateFailed(GateEvent {
        subject: settings.subject.clone(),
        gates: failed
            .iter()
            .map(|r| FailedGate {
                gate: r.gate.name().to_owned(),
                tool: r.tool.name().to_owned(),
                target: r.target.clone(),
                summary: r.summary.clone(),
                counts: SeverityCounts {
                    critical: r.counts.critical,
                    high: r.counts.high,
                    medium: r.counts.medium,
                    low: r.counts.low,
                    info: r.counts.info,
                    unknown: r.counts.unknown,
                },
                failing: r.failing,
            })
            .collect(),
        findings: findings.into_iter().map(|(_, f)| f).collect(),
        report_dir: Some(out_dir.display().to_string()),
        exit_code,
        links: settings.links(None, None),
    }))
}

/// `shipwatch notify --test`: a sample to every endpoint; 0 when all accepted it, 6
/// when one did not, 2 when none is configured.
pub async fn test(sources: &Sources, _args: NotifyArgs) -> Result<i32> {
    let json = sources.common().json;
    let settings = sources.notify()?;
    for p in &settings.problems {
        eprintln!("warning: {p}");
    }
    if !settings.any() {
        return Err(Error::Usage(format!(
            "no notification endpoint is configured; looked at: {}. Put the Slack incoming-webhook URL in SHIPWATCH_SLACK_WEBHOOK_URL (or in the variable `[notify] slack_webhook_env` names), or set `[notify] webhook_url_env`.",
            settings.looked_at.join(", ")
        )));
    }
    let event = Event::Test(TestEvent {
        subject: settings.subject.clone(),
        enabled: settings.events.clone(),
        links: settings.links(None, None),
    });
    let deliveries = notify::deliver(&settings, &event).await;
    let ok = deliveries.iter().all(|d| d.result.is_ok());
    let code = if ok { exit::OK } else { exit::PRECONDITION };
    if json {
        let list: Vec<serde_json::Value> = deliveries.iter().map(delivery_json).collect();
        println!(
            "{}",
            serde_json::json!({"notifications": list, "exit_code": code})
        );
    } else {
        for d in &deliveries {
            println!("{}", test_line(d, &settings));
        }
    }
    Ok(code)
}

fn origin<'a>(d: &Delivery, s: &'a notify::Settings) -> &'a str {
    [&s.slack, &s.webhook]
        .into_iter()
        .flatten()
        .find(|e| e.name == d.target)
        .map(|e| e.origin.as_str())
        .unwrap_or("")
}

fn test_line(d: &Delivery, s: &notify::Settings) -> String {
    let waited = match d.rate_limited {
        0 => String::new(),
        n => format!(", after {n} HTTP 429 answer(s) waited out"),
    };
    match &d.result {
        Ok(status) => format!(
            "{} {}: test message sent (HTTP {status}{waited}; URL from {})",
            term::paint(term::green_bold(), "✔"),
            d.target,
            origin(d, s)
        ),
        Err(why) => format!(
            "{} {}: not sent after {} attempt(s): {why}{waited} (URL from {})",
            term::paint(term::red_bold(), "✘"),
            d.target,
            d.attempts,
            origin(d, s)
        ),
    }
}

fn delivery_json(d: &Delivery) -> serde_json::Value {
    serde_json::json!({
        "target": d.target,
        "sent": d.result.is_ok(),
        "status": d.result.as_ref().ok(),
        "error": d.result.as_ref().err(),
        "attempts": d.attempts,
        "rate_limited": d.rate_limited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::model::{Category, Finding, GateKind, Location, Tool};
    use crate::gates::policy::{Evaluated, Evaluation};

    fn finding(rule: &str, severity: Severity, verdict: Verdict) -> Evaluated {
        Evaluated {
            finding: Finding {
                tool: Tool::Trivy,
                category: Category::Vulnerability,
                rule_id: rule.into(),
                severity,
                title: format!("{rule} title"),
                location: Location {
                    package: Some("lodash".into()),
                    version: Some("4.17.15".into()),
                    ..Default::default()
                },
                fingerprint: rule.into(),
                fix_available: true,
                fixed_version: None,
                url: None,
                unrecognised_severity: None,
            },
            verdict,
            allowlisted_by: None,
            expired_entry: None,
        }
    }

    #[test]
    fn a_gate_event_lists_failing_findings_most_severe_first_and_nothing_when_all_passed() {
        let ev = Evaluation {
            findings: vec![
                finding("CVE-LOW", Severity::Low, Verdict::Report),
                finding("CVE-HIGH", Severity::High, Verdict::Fail),
                finding("CVE-CRIT", Severity::Critical, Verdict::Fail),
                finding("CVE-ALLOWED", Severity::Critical, Verdict::Allowlisted),
            ],
            expired: vec![],
            stale: vec![],
        };
        let mut r = GateReport::from_evaluation(
            GateKind::Image,
            Tool::Trivy,
            "web:1".into(),
            "policy".into(),
            ev,
            vec![],
        );
        r.status = Status::Failed;
        let settings = notify::Settings::default();
        let Some(Event::GateFailed(g)) = gates(&settings, &[r.clone()], Path::new("out"), 7) else {
            panic!("a failed gate is an event");
        };
        let rules: Vec<&str> = g.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(rules, ["CVE-CRIT", "CVE-HIGH"]);
        assert_eq!(g.findings[0].location, "lodash@4.17.15");
        assert_eq!(g.gates[0].counts.critical, 2);
        assert_eq!(g.gates[0].failing, 2);
        r.status = Status::Passed;
        assert!(gates(&settings, &[r], Path::new("out"), 0).is_none());
    }
}
