//! The words both renderers share: a message's title, its one-paragraph summary (the
//! verdict first) and the small number formats. Plain text; each renderer escapes it
//! for its own format.

use super::model::*;

/// "web (production)", else the CodeDeploy application, else "shipwatch".
pub fn who(s: &Subject, fallback: Option<&str>) -> String {
    let name = s
        .service
        .as_deref()
        .or(fallback)
        .filter(|n| !n.is_empty())
        .unwrap_or("shipwatch");
    match &s.environment {
        Some(env) if !env.is_empty() => format!("{name} ({env})"),
        _ => name.to_owned(),
    }
}

/// The outcome in a few words, for titles.
pub fn outcome_words(o: DeployOutcome) -> &'static str {
    match o {
        DeployOutcome::Succeeded => "deployment succeeded",
        DeployOutcome::RolledBack => "deployment ROLLED BACK",
        DeployOutcome::RollbackFailed => "ROLLBACK FAILED",
        DeployOutcome::Failed => "deployment FAILED",
        DeployOutcome::TimedOut => "deployment still running (gave up waiting)",
    }
}

/// The message's title (Slack's header block, the webhook's `title`).
pub fn title(e: &Event) -> String {
    match e {
        Event::Deployment(d) => format!(
            "{}: {} ({})",
            who(&d.subject, Some(&d.application)),
            outcome_words(d.outcome),
            d.deployment_id
        ),
        Event::Remediation(r) => match &r.stopped_task {
            Some(_) => format!("{}: remediation stopped one task", who(&r.subject, None)),
            None => format!("{}: remediation skipped", who(&r.subject, None)),
        },
        Event::GateFailed(g) => {
            let names: Vec<&str> = g.gates.iter().map(|g| g.gate.as_str()).collect();
            format!(
                "{}: security gate failed ({})",
                who(&g.subject, None),
                names.join(", ")
            )
        }
        Event::Test(t) => format!("{}: shipwatch test notification", who(&t.subject, None)),
    }
}

/// The verdict, or what stands in for it: the first thing a reader sees.
pub fn verdict(d: &DeploymentEvent) -> String {
    if let Some(v) = d.verdict.as_deref().filter(|v| !v.trim().is_empty()) {
        return v.trim().to_owned();
    }
    match d.outcome {
        DeployOutcome::Succeeded => format!(
            "Deployment {} succeeded in {}: all traffic is on the new task set.",
            d.deployment_id,
            elapsed(d.elapsed_seconds)
        ),
        DeployOutcome::TimedOut => format!(
            "shipwatch gave up waiting after {}; deployment {} is still running. Follow it with `shipwatch watch {}` or stop it with `shipwatch stop {}`.",
            elapsed(d.elapsed_seconds),
            d.deployment_id,
            d.deployment_id,
            d.deployment_id
        ),
        _ => format!(
            "No verdict: the rollback report could not be written for deployment {}; run `shipwatch report {}`.",
            d.deployment_id, d.deployment_id
        ),
    }
}

/// One paragraph for a chat preview or a webhook's `summary`: the verdict first.
pub fn summary(e: &Event) -> String {
    match e {
        Event::Deployment(d) => {
            let mut s = verdict(d);
            if let Some(first) = d.alarms.first() {
                s.push_str(&format!(" Trigger: alarm {} entered ALARM", first.alarm));
                if let Some(g) = d.green_percent_at_alarm {
                    s.push_str(&format!(" at {}% green traffic", pct(g)));
                }
                s.push('.');
            }
            s
        }
        Event::Remediation(r) => match &r.stopped_task {
            Some(t) => format!("Stopped task {t}: {}", r.why),
            None => format!(
                "Nothing stopped: {}{}",
                r.why,
                r.guard
                    .as_deref()
                    .map(|g| format!(" Guard: {g}."))
                    .unwrap_or_default()
            ),
        },
        Event::GateFailed(g) => {
            let parts: Vec<String> = g
                .gates
                .iter()
                .map(|x| format!("{}: {} failing ({})", x.gate, x.failing, counts(&x.counts)))
                .collect();
            format!("Security gates failed the build. {}.", parts.join("; "))
        }
        Event::Test(t) => format!(
            "Test message from `shipwatch notify --test`: this channel receives {}.",
            enabled(&t.enabled)
        ),
    }
}

/// "rolled back, failed and gate failed".
pub fn enabled(kinds: &[EventKind]) -> String {
    if kinds.is_empty() {
        return "no events (`[notify] events` is empty)".into();
    }
    let names: Vec<String> = kinds.iter().map(|k| k.name().replace('_', " ")).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// "2 CRITICAL, 5 HIGH", or "no findings".
pub fn counts(c: &SeverityCounts) -> String {
    let parts: Vec<String> = c
        .nonzero()
        .into_iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    if parts.is_empty() {
        "no findings".into()
    } else {
        parts.join(", ")
    }
}

/// "12 of 340 requests answered 5xx (3.5%)".
pub fn rate(errors: f64, requests: f64) -> String {
    if requests <= 0.0 {
        return format!("{} 5xx, no requests counted", errors.round() as u64);
    }
    format!(
        "{} of {} requests answered 5xx ({:.1}%)",
        errors.round() as u64,
        requests.round() as u64,
        100.0 * errors / requests
    )
}

/// A traffic share without a needless ".0".
pub fn pct(p: f64) -> String {
    if (p - p.round()).abs() < 0.05 {
        format!("{}", p.round() as i64)
    } else {
        format!("{p:.1}")
    }
}

/// "4m 10s".
pub fn elapsed(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s / 60) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(rate(12.0, 340.0), "12 of 340 requests answered 5xx (3.5%)");
        assert_eq!(rate(0.0, 0.0), "0 5xx, no requests counted");
        assert_eq!(pct(30.0), "30");
        assert_eq!(pct(12.5), "12.5");
        assert_eq!(elapsed(250.0), "4m 10s");
        assert_eq!(elapsed(3725.0), "1h 02m");
        assert_eq!(
            enabled(&[
                EventKind::RolledBack,
                EventKind::Failed,
                EventKind::GateFailed
            ]),
            "rolled back, failed and gate failed"
        );
        assert_eq!(enabled(&[EventKind::Failed]), "failed");
    }
}
