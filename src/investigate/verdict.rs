//! Pure root-cause decisions over a gathered [`Investigation`]: how a task stopped,
//! whether tasks crash-loop, which downstream an error names, and the verdict from the
//! strongest evidence, never saying more than the evidence shows.

use super::model::{Cause, Investigation, StopKind, StoppedTask, Verdict};
use crate::aws::model::TaskFacts;
use regex::Regex;
use std::sync::OnceLock;

/// A task that stops within this many seconds of starting did not get going.
pub const CRASH_SECONDS: i64 = 60;

/// How a task stopped, and that in words.
pub fn classify_stop(t: &TaskFacts) -> (StopKind, String) {
    let reason = t.stopped_reason.as_deref().unwrap_or("");
    let container = t.container_reason.as_deref().unwrap_or("");
    let code = t.stop_code.as_deref().unwrap_or("");
    if t.exit_code == Some(137) || container.contains("OutOfMemory") {
        return (
            StopKind::OutOfMemory,
            "exit 137: the kernel killed the container for using more memory than its limit".into(),
        );
    }
    if container.contains("CannotPullContainerError") || reason.contains("CannotPullContainerError")
    {
        return (
            StopKind::ImagePull,
            format!(
                "the image could not be pulled: {}",
                first_nonempty(container, reason)
            ),
        );
    }
    if reason.contains("failed ELB health checks")
        || reason.contains("failed container health checks")
    {
        return (StopKind::HealthCheck, format!("stopped by ECS: {reason}"));
    }
    if code == "TaskFailedToStart" {
        return (
            StopKind::FailedToStart,
            format!(
                "the task failed to start: {}",
                first_nonempty(container, reason)
            ),
        );
    }
    match t.exit_code {
        Some(139) => (
            StopKind::Segfault,
            "exit 139: the process crashed (segmentation fault)".into(),
        ),
        Some(c)
            if c != 0
                && c != 143
                && code != "UserInitiated"
                && code != "ServiceSchedulerInitiated" =>
        {
            (
                StopKind::AppError,
                format!("exit {c}: the application exited with an error"),
            )
        }
        _ if code == "UserInitiated" => (
            StopKind::UserStop,
            format!("stopped by a user or API call: {reason}"),
        ),
        _ if code == "ServiceSchedulerInitiated" => {
            (StopKind::Scheduler, format!("stopped by ECS: {reason}"))
        }
        Some(c) if c != 0 => (
            StopKind::AppError,
            format!("exit {c}: the application exited with an error"),
        ),
        _ => (StopKind::Other, first_nonempty(reason, code).to_owned()),
    }
}

fn first_nonempty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

/// Crash loop: at least two tasks stopped by an application exit within a minute of starting.
pub fn crash_loop(stopped: &[StoppedTask]) -> bool {
    stopped
        .iter()
        .filter(|s| matches!(s.kind, StopKind::AppError | StopKind::Segfault))
        .filter(|s| s.ran_seconds.is_some_and(|r| r < CRASH_SECONDS))
        .count()
        >= 2
}

fn dependency_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|EAI_AGAIN|connection refused|connection timeout|connect timeout|timed out|timeout|no route to host|could not connect|unable to connect)")
            .expect("valid regex")
    })
}

fn host_port_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\b((?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+):(\d{2,5})\b").expect("valid regex")
    })
}

fn system_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(redis|postgres(?:ql)?|mysql|mongo(?:db)?|kafka|rabbitmq|dynamodb|elasticsearch|memcached|database)\b")
            .expect("valid regex")
    })
}

/// The downstream an error message names as unreachable: `host:port`, else a system
/// name (Redis, Postgres, …); None when the message is not a connectivity failure.
pub fn dependency_named(message: &str) -> Option<String> {
    if !dependency_re().is_match(message) {
        return None;
    }
    if let Some(c) = host_port_re().captures(message) {
        let host = &c[1];
        // "after 2000ms" and times like 10:01 are not addresses.
        if host.chars().any(|ch| ch.is_ascii_alphabetic()) || host.contains('.') {
            return Some(format!("{host}:{}", &c[2]));
        }
    }
    system_re().captures(message).map(|c| c[1].to_owned())
}

/// Fargate memory steps (MiB) a suggestion rounds up to.
const MEMORY_STEPS: &[u32] = &[
    512, 1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 16384, 30720,
];

/// The memory to suggest when tasks die at `limit` MiB: at least half again, rounded
/// up to a size Fargate offers.
pub fn suggested_memory(limit: u32) -> u32 {
    let want = limit + limit / 2;
    MEMORY_STEPS
        .iter()
        .copied()
        .find(|m| *m >= want)
        .unwrap_or(want.div_ceil(1024) * 1024)
}

/// HTTP codes in an ALB description "Health checks failed with these codes: [404]".
pub fn health_codes(description: &str) -> Option<String> {
    let start = description.find('[')?;
    let end = description[start..].find(']')? + start;
    Some(description[start..=end].to_owned())
}

/// The verdict from the strongest evidence, in this order: a deployment in progress,
/// memory exhaustion, a start-up crash loop, failing health checks, a failing
/// dependency, routes failing while health checks pass, an alarm without a visible
/// cause, nothing found.
pub fn decide(inv: &Investigation) -> Verdict {
    let checks: [fn(&Investigation) -> Option<Verdict>; 7] = [
        deployment,
        memory,
        startup,
        health_fails,
        dependency,
        routes_fail,
        unexplained,
    ];
    checks
        .iter()
        .find_map(|f| f(inv))
        .unwrap_or_else(|| nothing_found(inv))
}

fn deployment(inv: &Investigation) -> Option<Verdict> {
    let id = inv.triage.deployment_in_progress.as_ref()?;
    Some(Verdict {
        cause: Cause::DeploymentInProgress,
        summary: format!(
            "A deployment is in progress ({id}): what is wrong now is most likely its new release. Follow it with `shipwatch watch {id}`; if it rolls back, its rollback report explains why (`shipwatch report {id}`)."
        ),
        evidence: vec![format!("CodeDeploy deployment {id} is in progress")],
        hints: vec![format!(
            "stop and roll it back if it hurts users: `shipwatch stop {id}`"
        )],
    })
}

fn memory(inv: &Investigation) -> Option<Verdict> {
    let killed: Vec<&StoppedTask> = inv
        .evidence
        .stopped
        .iter()
        .filter(|s| s.kind == StopKind::OutOfMemory)
        .collect();
    if killed.is_empty() {
        return None;
    }
    let limit = killed.iter().find_map(|s| s.memory_limit_mib);
    let mut evidence = vec![format!(
        "{} task(s) exited 137 (OutOfMemoryError) in the window",
        killed.len()
    )];
    for s in killed.iter().take(5) {
        match (s.peak_memory_mib, s.memory_limit_mib) {
            (Some(p), Some(l)) => evidence.push(format!(
                "task {}: memory peaked at {:.0} % of {l} MiB ({p:.0} MiB) before the kill",
                s.task_id,
                p * 100.0 / f64::from(l)
            )),
            _ => evidence.push(format!("task {}: no per-task memory figures", s.task_id)),
        }
    }
    let climb = &inv.evidence.insights.service_memory_percent;
    if let (Some(first), Some(max)) = (climb.first(), climb.iter().map(|p| p.1).reduce(f64::max)) {
        evidence.push(format!(
            "service memory went from {:.0} % to a peak of {max:.0} % of the reserved memory",
            first.1
        ));
    }
    let hints = match limit {
        Some(l) => vec![
            format!(
                "raise the task memory from {l} MiB to {} MiB (task definition `memory`) and redeploy",
                suggested_memory(l)
            ),
            "memory climbing steadily until the kill points to a leak: more memory buys time, the fix is in the code (take a heap snapshot)".into(),
        ],
        None => vec!["raise the task memory in the task definition and redeploy".into()],
    };
    Some(Verdict {
        cause: Cause::MemoryExhaustion,
        summary: format!(
            "Memory exhaustion: {} task(s) were killed for exceeding their memory limit{}.",
            killed.len(),
            limit.map(|l| format!(" of {l} MiB")).unwrap_or_default()
        ),
        evidence,
        hints,
    })
}

/// The first stack or error line of the logs: what the crashing tasks printed.
fn first_error_line(inv: &Investigation) -> Option<String> {
    let logs = inv.evidence.logs.as_ref()?;
    let g = logs
        .groups
        .iter()
        .find(|g| !g.stack_head.is_empty())
        .or(logs.groups.first())?;
    Some(
        g.stack_head
            .first()
            .cloned()
            .unwrap_or_else(|| g.sample.clone()),
    )
}

fn startup(inv: &Investigation) -> Option<Verdict> {
    if !inv.evidence.crash_loop {
        return None;
    }
    let short: Vec<&StoppedTask> = inv
        .evidence
        .stopped
        .iter()
        .filter(|s| matches!(s.kind, StopKind::AppError | StopKind::Segfault))
        .filter(|s| s.ran_seconds.is_some_and(|r| r < CRASH_SECONDS))
        .collect();
    let mut evidence = vec![format!(
        "{} task(s) stopped within {CRASH_SECONDS} s of starting ({}); ECS keeps replacing them",
        short.len(),
        short
            .iter()
            .filter_map(|s| s.exit_code)
            .map(|c| format!("exit {c}"))
            .next()
            .unwrap_or_else(|| "application exit".into())
    )];
    let line = first_error_line(inv);
    if let Some(l) = &line {
        evidence.push(format!("first error line: {l}"));
    }
    Some(Verdict {
        cause: Cause::StartupError,
        summary: format!(
            "Start-up or configuration error: tasks crash seconds after they start (crash loop){}.",
            line.as_ref()
                .map(|l| format!("; they print `{l}`"))
                .unwrap_or_default()
        ),
        evidence,
        hints: vec![
            "read the first stack line above: a missing or malformed setting (environment, secret) is the usual cause; fix it in the task definition or the secret and redeploy".into(),
            "if a release started this, roll back to the previous task definition".into(),
        ],
    })
}

/// The downstream named by the most frequent error group that names one.
fn failing_dependency(inv: &Investigation) -> Option<(String, u64, String)> {
    let logs = inv.evidence.logs.as_ref()?;
    logs.groups
        .iter()
        .find_map(|g| dependency_named(&g.sample).map(|d| (d, g.count, g.sample.clone())))
}

fn health_fails(inv: &Investigation) -> Option<Verdict> {
    let unhealthy: Vec<_> = inv
        .evidence
        .targets
        .iter()
        .filter(|t| t.is_failing())
        .collect();
    let replaced = inv
        .evidence
        .stopped
        .iter()
        .filter(|s| s.kind == StopKind::HealthCheck)
        .count();
    if unhealthy.is_empty() && replaced == 0 {
        return None;
    }
    let mut evidence = Vec::new();
    for t in unhealthy.iter().take(5) {
        evidence.push(format!(
            "target {} (task {}) is unhealthy: {} {}",
            t.id,
            t.task_id.as_deref().unwrap_or("unknown"),
            t.reason.as_deref().unwrap_or("no reason"),
            t.description.as_deref().unwrap_or("")
        ));
    }
    if replaced > 0 {
        evidence.push(format!(
            "{replaced} task(s) stopped by ECS for failing ELB health checks"
        ));
    }
    let codes = unhealthy
        .iter()
        .find_map(|t| t.description.as_deref().and_then(health_codes));
    let dep = failing_dependency(inv);
    let (summary, hints) = match (&dep, codes.as_deref()) {
        (Some((d, n, sample)), _) => {
            evidence.push(format!("{n} error line(s) name {d}: {sample}"));
            (
                format!(
                    "Health checks fail because the health path depends on {d}, which is failing: targets are marked unhealthy and ECS replaces the tasks."
                ),
                vec![
                    format!("restore {d} (connectivity, security group, credentials)"),
                    "consider a health path that checks the process only, so one dependency does not take every task out of service".into(),
                ],
            )
        }
        (None, Some(c)) if c.starts_with("[4") => {
            let served = inv
                .evidence
                .logs
                .as_ref()
                .map(|l| (l.lines_read, l.error_lines))
                .unwrap_or((0, 0));
            evidence.push(format!(
                "the application logged {} line(s), {} of them errors: other routes answer",
                served.0, served.1
            ));
            (
                format!(
                    "Health-check mismatch: the health path answers {c} while the application's other routes succeed, so the load balancer takes healthy tasks out of service."
                ),
                vec![
                    "fix the health path: make the target group's health-check path (and matcher) match a route the application serves, e.g. `aws elbv2 modify-target-group --health-check-path …`".into(),
                ],
            )
        }
        _ => (
            format!(
                "Health checks fail{}: targets are marked unhealthy and ECS replaces the tasks.",
                codes.as_deref().map(|c| format!(" (codes {c})")).unwrap_or_default()
            ),
            vec!["check what the health path returns from inside a task and fix the path or the check's matcher, timeout and thresholds".into()],
        ),
    };
    Some(Verdict {
        cause: Cause::HealthCheckFails,
        summary,
        evidence,
        hints,
    })
}

/// The failing span of the first trace Jaeger had, in words.
fn failing_span(inv: &Investigation) -> Option<String> {
    let t = inv
        .evidence
        .traces
        .traces
        .iter()
        .find(|t| t.error_span.is_some())?;
    let s = t.error_span.as_ref()?;
    let target = s
        .downstream_url
        .clone()
        .or(s.db_statement.clone())
        .unwrap_or_default();
    Some(format!(
        "trace {}: the failing span is {} in {}{}{}",
        t.trace_id,
        s.operation,
        s.service,
        if target.is_empty() {
            String::new()
        } else {
            format!(" ({target})")
        },
        s.error_message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    ))
}

fn dependency(inv: &Investigation) -> Option<Verdict> {
    let (dep, n, sample) = failing_dependency(inv)?;
    let mut evidence = vec![format!("{n} error line(s) name {dep}: {sample}")];
    if let Some(span) = failing_span(inv) {
        evidence.push(span);
    }
    let healthy = inv
        .evidence
        .targets
        .iter()
        .filter(|t| t.state == "healthy")
        .count();
    if healthy > 0 {
        evidence.push(format!(
            "{healthy} target(s) pass health checks meanwhile: the health path does not exercise {dep}"
        ));
    }
    Some(Verdict {
        cause: Cause::DependencyFailure,
        summary: format!(
            "Dependency failure: requests fail because {dep} cannot be reached from the tasks."
        ),
        evidence,
        hints: vec![
            format!(
                "check {dep}: is it up, does its security group allow the tasks, did its address or credentials change?"
            ),
            "restarting the tasks will not help while the dependency is down".into(),
        ],
    })
}

fn server_errors(inv: &Investigation) -> u64 {
    inv.evidence
        .logs
        .as_ref()
        .map(|l| {
            l.groups
                .iter()
                .flat_map(|g| g.statuses.iter())
                .filter(|s| s.value.starts_with('5'))
                .map(|s| s.count)
                .sum()
        })
        .unwrap_or(0)
}

fn routes_fail(inv: &Investigation) -> Option<Verdict> {
    let errors = server_errors(inv);
    let healthy = inv
        .evidence
        .targets
        .iter()
        .filter(|t| t.state == "healthy")
        .count();
    if errors == 0 || healthy == 0 {
        return None;
    }
    let mut evidence = vec![
        format!("{errors} request(s) answered 5xx in the logs"),
        format!("{healthy} target(s) pass health checks"),
    ];
    let line = first_error_line(inv);
    if let Some(l) = &line {
        evidence.push(format!("top error: {l}"));
    }
    Some(Verdict {
        cause: Cause::HealthPassesRoutesFail,
        summary: format!(
            "Health-check mismatch (reverse): health checks pass while the application's routes fail with 5xx{}, so the load balancer keeps sending traffic to failing tasks.",
            line.as_ref().map(|l| format!(" (`{l}`)")).unwrap_or_default()
        ),
        evidence,
        hints: vec![
            "fix the error above (roll back if a release introduced it)".into(),
            "make the health path exercise what the routes need, so failing tasks are taken out of service".into(),
        ],
    })
}

fn unexplained(inv: &Investigation) -> Option<Verdict> {
    let first = inv.triage.alarms.first()?;
    Some(Verdict {
        cause: Cause::Unexplained,
        summary: format!(
            "The alarm {} is in ALARM, but the evidence read shows no cause: tasks did not stop, targets are healthy and the logs have no matching errors.",
            first.name
        ),
        evidence: inv
            .triage
            .alarms
            .iter()
            .map(|a| format!("{} in ALARM: {}", a.name, a.reason.as_deref().unwrap_or("")))
            .collect(),
        hints: vec!["look at the alarm's metric and what else feeds it (other services, the load balancer itself)".into()],
    })
}

fn nothing_found(inv: &Investigation) -> Verdict {
    // Traces are extra detail; anything else missing weakens "nothing wrong".
    let unread: Vec<&str> = inv
        .missing
        .iter()
        .map(|m| m.evidence.as_str())
        .filter(|e| *e != "traces")
        .collect();
    let caveat = if unread.is_empty() {
        String::new()
    } else {
        format!(
            " But not everything could be read ({}): see Missing evidence before trusting this.",
            unread.join(", ")
        )
    };
    Verdict {
        cause: Cause::NothingFound,
        summary: format!(
            "Nothing wrong found for {}: no alarm in ALARM, no task stopped abnormally, every target healthy and no error lines.{caveat}",
            inv.service
        ),
        evidence: inv.checked.clone(),
        hints: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
