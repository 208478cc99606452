//! The verdict: a short paragraph naming the cause from the strongest evidence.
//!
//! A pure function of the report. Each sentence is built only from evidence that is
//! present, so it never claims more than the report shows; missing evidence is named
//! at the end.

use crate::report::model::*;
use chrono::{DateTime, Utc};

/// Share of a group's lines a route needs before the verdict names it.
const ROUTE_SHARE: f64 = 0.5;

pub fn verdict(r: &Report) -> Verdict {
    let mut s: Vec<String> = Vec::new();
    let subject = subject(r);
    let ecs = r.ecs.as_ref();
    let finding = |k: StopKind| ecs.and_then(|e| e.findings.iter().find(|f| f.kind == k));
    let hook = r
        .trigger
        .as_ref()
        .filter(|t| t.kind == TriggerKind::LifecycleEvent)
        .and_then(|t| t.lifecycle_event.as_ref());
    let tasks_seen = ecs.map(|e| e.tasks_seen).unwrap_or(0);

    let cause;
    if let Some(f) = finding(StopKind::ImagePullFailed) {
        cause = Cause::ImagePullFailed;
        s.push(format!(
            "{subject} never ran: {} task(s) could not pull the image{}.",
            f.count,
            reason_suffix(f)
        ));
    } else if let Some(f) = finding(StopKind::FailedToStart) {
        cause = Cause::FailedToStart;
        s.push(format!(
            "{subject} never started: {} task(s) failed to start{}.",
            f.count,
            reason_suffix(f)
        ));
    } else if let Some(f) = finding(StopKind::OutOfMemory) {
        cause = Cause::OutOfMemory;
        s.push(format!(
            "{subject}: {} of {tasks_seen} green task(s) were killed for exceeding their memory limit (exit 137{}).",
            f.count,
            f.reason.as_deref().map(|r| format!(", {r}")).unwrap_or_default()
        ));
    } else if let Some(c) = ecs.and_then(|e| e.crash_loop.as_ref()) {
        cause = Cause::CrashLoop;
        let code = c
            .exit_code
            .map(|c| format!(", exit code {c}{}", exit_meaning(c)))
            .unwrap_or_default();
        s.push(format!(
            "{subject} crash-looped: {} task start(s) and {} stop(s) within {} s, each task lived about {} s{code}.",
            c.starts, c.stops, c.window_seconds, c.median_lifetime_seconds
        ));
    } else if let Some(f) = finding(StopKind::HealthCheckFailed) {
        cause = Cause::HealthCheckFailed;
        s.push(format!(
            "{subject}: {} green task(s) failed the load balancer's health checks and were replaced{}.",
            f.count,
            f.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        ));
    } else if let Some(h) = hook {
        cause = Cause::HookFailed;
        let what = h
            .message
            .as_deref()
            .or(h.diagnostics_code.as_deref())
            .unwrap_or("no diagnostics");
        let script = h
            .script_name
            .as_deref()
            .map(|n| format!(" (hook {n})"))
            .unwrap_or_default();
        s.push(format!(
            "Lifecycle event {}{script} failed: {}.",
            h.name,
            quote(what)
        ));
    } else if green_5xx(r) > 0.0 || r.logs.as_ref().is_some_and(|l| l.error_lines > 0) {
        cause = Cause::ErrorsUnderTraffic;
    } else if r
        .trigger
        .as_ref()
        .is_some_and(|t| t.kind == TriggerKind::ManualStop)
    {
        cause = Cause::ManualStop;
        s.push("The deployment was stopped by hand (MANUAL_STOP); no failure of the release was found in the evidence.".into());
    } else {
        cause = Cause::Undetermined;
    }

    // Traffic and logs, when they add to the cause.
    if let Some(m) = &r.metrics {
        let t = &m.totals;
        if t.green_5xx > 0.0 {
            let who = if cause == Cause::ErrorsUnderTraffic {
                subject.clone()
            } else {
                "Green".into()
            };
            s.push(format!(
                "{who} answered {} request(s) with 5xx in {} min while blue answered {}.",
                num(t.green_5xx),
                t.green_minutes_with_5xx.max(1),
                num(t.blue_5xx)
            ));
        }
    }
    if let Some(l) = r.logs.as_ref().filter(|l| l.error_lines > 0)
        && let Some(g) = l.groups.first()
    {
        let route = g
            .routes
            .first()
            .filter(|rt| {
                rt.count as f64 >= ROUTE_SHARE * g.count as f64 && rt.value != "(other routes)"
            })
            // A route comes from the log text: a code span, so Markdown in it never acts.
            .map(|rt| format!(" on {}", quote(&rt.value)))
            .unwrap_or_default();
        let lead = if cause == Cause::ErrorsUnderTraffic
            && r.metrics.as_ref().is_none_or(|m| m.totals.green_5xx == 0.0)
        {
            format!("{subject} logged {} error line(s); ", l.error_lines)
        } else {
            String::new()
        };
        let mut sentence = format!(
            "{lead}{} % of its error lines are {}{route}",
            pct(g.share),
            quote(&g.sample)
        );
        if matches!(
            cause,
            Cause::CrashLoop | Cause::OutOfMemory | Cause::ErrorsUnderTraffic
        ) && let Some(first) = g
            .stack_head
            .first()
            .filter(|f| !g.sample.contains(f.as_str()))
        {
            sentence.push_str(&format!(" (stack trace starts {})", quote(first)));
        }
        sentence.push('.');
        s.push(capitalise(&sentence));
    }
    if let Some(t) = r.traces.traces.iter().find(|t| t.error_span.is_some()) {
        let e = t.error_span.as_ref().expect("filtered");
        let root = t
            .root
            .as_ref()
            .map(|r| format!(" ({})", r.operation))
            .unwrap_or_default();
        let msg = e
            .error_message
            .as_deref()
            .map(|m| format!(": {}", quote(m)))
            .unwrap_or_default();
        s.push(format!(
            "Trace {}…{root} fails in span {} of {}{msg}.",
            short(&t.trace_id),
            quote(&e.operation),
            e.service
        ));
    }

    // The trigger and how fast traffic came back.
    if let Some(tr) = &r.trigger {
        match tr.kind {
            TriggerKind::Alarm => {
                let names: Vec<&str> = tr.alarms.iter().map(|a| a.name.as_str()).collect();
                let flip = tr.alarms.iter().filter_map(|a| a.flipped_at).min();
                let mut sentence = if names.is_empty() {
                    "An alarm stopped the deployment".to_string()
                } else {
                    format!("Alarm {} fired", names.join(", "))
                };
                if let Some(p) = flip.and_then(|at| weight_at(&r.traffic, at)) {
                    sentence.push_str(&format!(" at {} % traffic", num(p)));
                }
                if let (Some(f), Some(b)) = (flip, back_on_blue(r))
                    && b >= f
                {
                    sentence.push_str(&format!(
                        "; traffic was back on blue {} s later",
                        (b - f).num_seconds()
                    ));
                }
                sentence.push('.');
                s.push(sentence);
            }
            TriggerKind::LifecycleEvent if cause != Cause::HookFailed => {
                if let Some(h) = &tr.lifecycle_event {
                    s.push(format!(
                        "CodeDeploy stopped it when lifecycle event {} failed.",
                        h.name
                    ));
                }
            }
            TriggerKind::DeploymentFailure => {
                let code = tr.error_code.as_deref().unwrap_or("deployment failure");
                s.push(format!("CodeDeploy stopped it ({code})."));
            }
            TriggerKind::ManualStop if cause != Cause::ManualStop => {
                s.push("It was stopped by hand (MANUAL_STOP).".into())
            }
            TriggerKind::Judge => s.push(tr.summary.clone()),
            _ => {}
        }
    }
    if let Some(l) = r
        .logs
        .as_ref()
        .filter(|l| l.error_lines == 0 && l.lines_read > 0)
    {
        // "No errors" means something only next to what was read.
        if l.input.nothing_recognised() {
            s.push(format!(
                "The logs could not be used: {} line(s) were read but none had a shape shipwatch recognises (JSON, a leading time or level, an access log, AWS CLI or OpenTelemetry exports); {}",
                l.lines_read,
                l.input.describe()
            ));
        } else {
            s.push(format!(
                "The logs show no error line in {} line(s) read. {}",
                l.lines_read,
                l.input.describe()
            ));
        }
    }
    if cause == Cause::Undetermined && s.is_empty() {
        s.push("The evidence does not show why the release was rolled back.".into());
    }
    if !r.missing.is_empty() {
        let what: Vec<String> = r
            .missing
            .iter()
            .map(|m| m.evidence.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        s.push(format!(
            "Missing evidence: {} (see below).",
            what.join(", ")
        ));
    }
    Verdict {
        cause,
        text: s.join(" "),
    }
}

fn subject(r: &Report) -> String {
    let d = r.deployment.as_ref();
    let td = d.and_then(|d| d.green_task_definition.as_deref());
    let sha = d
        .and_then(|d| d.sha.as_deref())
        .or(r.source.release.as_deref());
    match (td, sha) {
        (Some(t), Some(s)) => format!("Green ({t}, sha {s})"),
        (Some(t), None) => format!("Green ({t})"),
        (None, Some(s)) => format!("Green (sha {s})"),
        (None, None) => "Green".into(),
    }
}

fn green_5xx(r: &Report) -> f64 {
    r.metrics
        .as_ref()
        .map(|m| m.totals.green_5xx)
        .unwrap_or(0.0)
}

fn reason_suffix(f: &StopFinding) -> String {
    f.reason
        .as_deref()
        .map(|r| format!(": {}", quote(r)))
        .unwrap_or_default()
}

pub fn exit_meaning(code: i32) -> &'static str {
    match code {
        137 => " (killed, usually for memory)",
        139 => " (segmentation fault)",
        143 => " (terminated)",
        1 => " (application error)",
        _ => "",
    }
}

/// The green weight in force at `at`.
pub fn weight_at(steps: &[TrafficStep], at: DateTime<Utc>) -> Option<f64> {
    steps.iter().rfind(|s| s.at <= at).map(|s| s.green_percent)
}

fn back_on_blue(r: &Report) -> Option<DateTime<Utc>> {
    r.timeline
        .iter()
        .find(|e| e.kind == "back_on_blue")
        .map(|e| e.at)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// Inline code for log text, with a backtick fence longer than any it contains.
fn quote(s: &str) -> String {
    let s = s.trim();
    let cut: String = if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_owned()
    };
    let longest = cut.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if cut.starts_with('`') || cut.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{cut}{pad}{fence}")
}

fn pct(share: f64) -> String {
    format!("{}", (share * 100.0).round() as i64)
}

pub fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logscan::model::{Count, ErrorGroup};
    use chrono::TimeZone;

    fn t(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(s as i64)
    }

    fn base() -> Report {
        let mut r = Report::new(
            Source {
                kind: SourceKind::Aws,
                input: "d-1".into(),
                region: None,
                release: None,
            },
            t(0),
        );
        r.deployment = Some(DeploymentFacts {
            deployment_id: "d-1".into(),
            green_task_definition: Some("web:42".into()),
            sha: Some("1a2b3c4".into()),
            ..Default::default()
        });
        r
    }

    #[test]
    fn errors_under_traffic_names_everything() {
        let mut r = base();
        r.traffic = vec![
            TrafficStep {
                at: t(0),
                green_percent: 0.0,
            },
            TrafficStep {
                at: t(60),
                green_percent: 10.0,
            },
        ];
        r.metrics = Some(Metrics {
            totals: MetricTotals {
                green_5xx: 212.0,
                green_requests: 500.0,
                green_minutes_with_5xx: 3,
                ..Default::default()
            },
            ..Default::default()
        });
        r.logs = Some(LogEvidence {
            error_lines: 100,
            groups: vec![ErrorGroup {
                message: "Database connection refused".into(),
                sample: "Database connection refused".into(),
                count: 87,
                share: 0.87,
                routes: vec![Count {
                    value: "GET /api/orders".into(),
                    count: 80,
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        r.traces.traces = vec![TraceSummary {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            found: true,
            root: Some(SpanSummary {
                operation: "GET /api/orders".into(),
                ..Default::default()
            }),
            error_span: Some(SpanSummary {
                operation: "pg.connect".into(),
                service: "orders-api".into(),
                ..Default::default()
            }),
            ..Default::default()
        }];
        r.trigger = Some(Trigger {
            kind: TriggerKind::Alarm,
            summary: String::new(),
            alarms: vec![AlarmEvidence {
                name: "web-5xx".into(),
                flipped_at: Some(t(100)),
                ..Default::default()
            }],
            lifecycle_event: None,
            error_code: Some("ALARM_ACTIVE".into()),
            error_message: None,
        });
        r.timeline.push(TimelineEntry {
            at: t(141),
            kind: "back_on_blue".into(),
            text: String::new(),
        });
        let v = verdict(&r);
        assert_eq!(v.cause, Cause::ErrorsUnderTraffic);
        assert_eq!(
            v.text,
            "Green (web:42, sha 1a2b3c4) answered 212 request(s) with 5xx in 3 min while blue answered 0. \
             87 % of its error lines are `Database connection refused` on `GET /api/orders`. \
             Trace 4bf92f35… (GET /api/orders) fails in span `pg.connect` of orders-api. \
             Alarm web-5xx fired at 10 % traffic; traffic was back on blue 41 s later."
        );
    }

    #[test]
    fn oom_wins_over_errors_and_missing_is_named() {
        let mut r = base();
        r.ecs = Some(EcsEvidence {
            tasks_seen: 3,
            findings: vec![StopFinding {
                kind: StopKind::OutOfMemory,
                count: 3,
                explanation: String::new(),
                exit_code: Some(137),
                stop_code: None,
                reason: Some("OutOfMemoryError: Container killed due to memory usage".into()),
                task_ids: vec![],
            }],
            ..Default::default()
        });
        r.add_missing("traces", "Jaeger unreachable");
        let v = verdict(&r);
        assert_eq!(v.cause, Cause::OutOfMemory);
        assert!(
            v.text.contains(
                "3 of 3 green task(s) were killed for exceeding their memory limit (exit 137"
            ),
            "{}",
            v.text
        );
        assert!(
            v.text.ends_with("Missing evidence: traces (see below)."),
            "{}",
            v.text
        );
    }

    #[test]
    fn nothing_known_says_so() {
        let v = verdict(&base());
        assert_eq!(v.cause, Cause::Undetermined);
        assert_eq!(
            v.text,
            "The evidence does not show why the release was rolled back."
        );
    }

    #[test]
    fn backticks_in_log_text_stay_quoted() {
        assert_eq!(quote("a `b` c"), "``a `b` c``");
        assert_eq!(quote("`x`"), "`` `x` ``");
    }
}
