//! The verdict: a short paragraph naming the cause from the strongest evidence.
//!
//! A pure function of the report. Each sentence is built only from evidence that is
//! present, so it never claims more than the report shows; missing evidence is named
//! at the end.

use crate::report::compare::ColourStatus;
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

    let mut cause;
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
    // With blue's logs to compare, the group named is the first one new in green.
    let new_in_green = r.comparison.as_ref().and_then(|c| {
        c.groups
            .iter()
            .find(|g| g.status == ColourStatus::NewInGreen)
    });
    let mut lead_sentence = None;
    if let Some(l) = r.logs.as_ref().filter(|l| l.error_lines > 0)
        && let Some(g) = new_in_green
            .and_then(|n| l.groups.iter().find(|g| g.message == n.message))
            .or(l.groups.first())
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
        match (&r.comparison, new_in_green) {
            (Some(_), Some(_)) => {
                lead_sentence = Some(s.len());
                s.push(format!(
                    "New in green (not in blue's logs over the same window): {sentence}"
                ));
            }
            (Some(_), None) => s.push(format!(
                "No error group is new in green: every one was also in blue's logs. {}",
                capitalise(&sentence)
            )),
            (None, _) => s.push(capitalise(&sentence)),
        }
    }
    if let Some(c) = &r.comparison {
        let old: Vec<String> = c
            .groups
            .iter()
            .filter(|g| g.status == ColourStatus::AlsoInBlue)
            .take(2)
            .map(|g| format!("{} ({})", quote(&g.sample), g.label))
            .collect();
        if !old.is_empty() {
            s.push(format!(
                "Also in blue, so older than this release: {}.",
                old.join("; ")
            ));
        }
    }
    // What is new in green leads when errors under traffic are the cause.
    if cause == Cause::ErrorsUnderTraffic
        && let Some(i) = lead_sentence
    {
        let first = s.remove(i);
        s.insert(0, first);
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
    if let Some(l) = r.logs.as_ref().filter(|l| l.error_lines == 0)
        && let Some(cap) = l.caps_hit.first()
    {
        // Read in part: "no error line" would claim more than was read.
        s.push(format!(
            "The logs were read only in part ({cap}); the {} line(s) read show no error line.",
            l.lines_read
        ));
    } else if let Some(l) = r.logs.as_ref().filter(|l| l.error_lines == 0)
        && let Some(p) = &l.filter_pattern
    {
        // Fetched through a filter: what was read is only what the pattern matched.
        s.push(format!(
            "The logs show no error line: the filter pattern {} matched {} line(s) of the green streams in the window.",
            quote(p),
            l.lines_read
        ));
    } else if let Some(l) = r
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
    // A latency alarm with slow green requests is the cause unless something worse is:
    // a failure of the tasks, or a 5xx or error new in green.
    if let Some(sentence) = slow_sentence(r, &subject) {
        let errors_new = green_5xx(r) > 0.0
            || new_in_green.is_some()
            || (r.comparison.is_none() && r.logs.as_ref().is_some_and(|l| l.error_lines > 0));
        if cause == Cause::Undetermined || (cause == Cause::ErrorsUnderTraffic && !errors_new) {
            cause = Cause::SlowResponses;
            s.insert(0, sentence);
        } else {
            s.push(sentence);
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

/// "Green was slow: N requests on `route` took ≥ T ms …; the time went to span …".
fn slow_sentence(r: &Report, subject: &str) -> Option<String> {
    let l = r.latency.as_ref()?;
    let route = l.slow_routes.first().filter(|s| s.green_slow > 0)?;
    let mut sentence = format!(
        "{subject} was slow: {} request(s) on {} took {} ms or more (median {} ms, up to {} ms) while blue had {}",
        route.green_slow,
        quote(&route.route),
        num(l.slow_ms),
        num(route.green_median_ms.round()),
        num(route.green_max_ms.round()),
        route.blue_slow
    );
    if let Some(sp) = l
        .slow_spans
        .iter()
        .find(|sp| sp.route.as_deref() == Some(route.route.as_str()))
        .or(l.slow_spans.first())
    {
        let url = sp
            .downstream_url
            .as_deref()
            .map(|u| format!(" calling {}", quote(u)))
            .unwrap_or_default();
        let of = sp
            .trace_ms
            .map(|t| format!(" of {} ms", num(t.round())))
            .unwrap_or_default();
        sentence.push_str(&format!(
            "; the time went to span {} of {}{url} ({} ms{of})",
            quote(&sp.operation),
            sp.service,
            num(sp.self_ms.round())
        ));
    }
    sentence.push('.');
    Some(sentence)
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

    #[test]
    fn no_error_lines_through_a_filter_names_the_pattern() {
        let mut r = base();
        r.logs = Some(LogEvidence {
            lines_read: 0,
            filter_pattern: Some("{ $.level >= 50 }".into()),
            ..Default::default()
        });
        let v = verdict(&r).text;
        assert!(
            v.contains("the filter pattern `{ $.level >= 50 }` matched 0 line(s)"),
            "{v}"
        );
    }

    #[test]
    fn logs_read_in_part_claim_no_more_than_was_read() {
        let mut r = base();
        r.logs = Some(LogEvidence {
            lines_read: 0,
            filter_pattern: Some("{ $.level >= 50 }".into()),
            caps_hit: vec![
                "the green tasks' logs were not read within 5 s after the rollback ended".into(),
            ],
            ..Default::default()
        });
        let v = verdict(&r).text;
        assert!(
            v.contains(
                "The logs were read only in part (the green tasks' logs were not read within 5 s"
            ),
            "{v}"
        );
        assert!(!v.contains("matched 0 line(s) of the green streams"), "{v}");
    }

    fn group(msg: &str, count: u64, route: &str) -> ErrorGroup {
        ErrorGroup {
            message: msg.into(),
            sample: msg.into(),
            count,
            share: 0.5,
            routes: vec![Count {
                value: route.into(),
                count,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_group_new_in_green_leads_even_when_an_old_one_is_bigger() {
        let mut r = base();
        r.metrics = Some(Metrics {
            totals: MetricTotals {
                green_5xx: 30.0,
                green_requests: 100.0,
                blue_5xx: 40.0,
                blue_requests: 1000.0,
                green_minutes_with_5xx: 2,
            },
            ..Default::default()
        });
        let green = LogEvidence {
            error_lines: 30,
            lines_read: 100,
            groups: vec![
                group("Pricing request failed", 20, "GET /api/products"),
                group("Query read timeout", 10, "GET /api/orders"),
            ],
            ..Default::default()
        };
        let blue = LogEvidence {
            error_lines: 40,
            lines_read: 1000,
            groups: vec![group("Pricing request failed", 40, "GET /api/products")],
            ..Default::default()
        };
        r.comparison = Some(crate::report::compare::compare(
            &green,
            &blue,
            r.metrics.as_ref(),
        ));
        r.logs = Some(green);
        r.blue_logs = Some(blue);
        let v = verdict(&r);
        assert_eq!(v.cause, Cause::ErrorsUnderTraffic);
        assert!(
            v.text
                .starts_with("New in green (not in blue's logs over the same window):"),
            "{}",
            v.text
        );
        let first = v.text.split(". ").next().unwrap();
        assert!(
            first.contains("`Query read timeout` on `GET /api/orders`"),
            "{}",
            v.text
        );
        assert!(
            v.text.contains("Also in blue, so older than this release: `Pricing request failed` (also in blue (5.0× the rate))"),
            "{}",
            v.text
        );
    }

    #[test]
    fn a_slow_release_without_new_errors_is_slow_responses_naming_route_and_span() {
        use crate::report::latency::{Latency, SlowRoute, SlowSpan};
        let mut r = base();
        r.latency = Some(Latency {
            alarm: "web-response-time".into(),
            slow_ms: 6000.0,
            slow_routes: vec![SlowRoute {
                route: "GET /api/orders".into(),
                green_slow: 41,
                blue_slow: 0,
                green_median_ms: 7700.0,
                green_max_ms: 8400.0,
                blue_median_ms: None,
            }],
            slow_spans: vec![SlowSpan {
                trace_id: "abc".into(),
                service: "web".into(),
                operation: "GET".into(),
                self_ms: 7600.0,
                duration_ms: 7600.0,
                trace_ms: Some(7710.0),
                downstream_url: Some("http://inventory.internal:8080/v1/stock".into()),
                route: Some("GET /api/orders".into()),
            }],
            ..Default::default()
        });
        let v = verdict(&r);
        assert_eq!(v.cause, Cause::SlowResponses);
        assert!(
            v.text.starts_with("Green (web:42, sha 1a2b3c4) was slow: 41 request(s) on `GET /api/orders` took 6000 ms or more (median 7700 ms, up to 8400 ms) while blue had 0; the time went to span `GET` of web calling `http://inventory.internal:8080/v1/stock` (7600 ms of 7710 ms)."),
            "{}",
            v.text
        );
        // With a 5xx new in green, errors stay the cause and the slowness is added.
        r.metrics = Some(Metrics {
            totals: MetricTotals {
                green_5xx: 3.0,
                green_requests: 100.0,
                ..Default::default()
            },
            ..Default::default()
        });
        let v = verdict(&r);
        assert_eq!(v.cause, Cause::ErrorsUnderTraffic);
        assert!(v.text.contains("was slow: 41 request(s)"), "{}", v.text);
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
