//! `remediate`: stop the one task that makes a service unhealthy and let ECS replace it,
//! guarded so that repeated, concurrent or badly timed invocations do no harm.
//!
//! The engine gathers evidence (tasks, target health, log errors), asks the pure
//! guards and the pure choice (`guard`, `choose`), stops at most one task with
//! `ecs:StopTask` (never UpdateService: on a CODE_DEPLOY service that fails, and it
//! would replace every task), then waits a bounded time for the replacement. It emits
//! steps and never prints; `render` turns the result into lines.

pub mod choose;
pub mod event;
pub mod guard;
pub mod render;

use crate::aws::Clients;
use crate::aws::elb::TargetHealth as TargetState;
use crate::aws::tasks::{self, ServiceTask};
use crate::error::{Error, Result};
use crate::signals::Abort;
use choose::{Choice, Why};
use chrono::{DateTime, Utc};
use guard::{Held, Trigger};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Everything `remediate` needs, built by the settings layer.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cluster: String,
    pub service: String,
    /// The container whose log stream is read (default: the first with awslogs).
    pub container: Option<String>,
    /// CodeDeploy application and group, to see a deployment before ECS shows it.
    pub application: Option<String>,
    pub deployment_group: Option<String>,
    /// Healthy running tasks that must remain after the stop.
    pub min_healthy: u32,
    /// At most one stop per this window, whatever the alarm.
    pub cool_down: Duration,
    /// How far back error lines are counted.
    pub log_window: Duration,
    /// Log group override (default: the task definition's awslogs group).
    pub log_group: Option<String>,
    /// How long to wait for the replacement to be running and healthy.
    pub replacement_wait: Duration,
    pub poll: Duration,
    /// How long a signal lets an in-flight StopTask finish.
    pub signal_grace: Duration,
    pub dry_run: bool,
}

/// How it ended; each has its exit code (src/exit.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// One task stopped and its replacement is running and healthy.
    Remediated,
    /// `--dry-run`: the task that would be stopped.
    WouldStop,
    /// A guard held it back (state change already handled, cool-down, minimum healthy).
    Skipped,
    /// No unhealthy target and no errors in the logs.
    NothingUnhealthy,
    /// A deployment owns the service.
    Refused,
    /// The stop failed, or no healthy replacement within the wait.
    Failed,
    /// An alarm event that is not a transition into ALARM (Lambda): nothing to do.
    Ignored,
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        use crate::exit;
        match self {
            Outcome::Remediated => exit::REMEDIATED,
            Outcome::Skipped => exit::REMEDIATE_SKIPPED,
            Outcome::NothingUnhealthy => exit::NOTHING_UNHEALTHY,
            Outcome::Refused => exit::REMEDIATE_REFUSED,
            Outcome::Failed => exit::REMEDIATE_FAILED,
            Outcome::WouldStop | Outcome::Ignored => exit::OK,
        }
    }
}

/// One line of what was looked at and decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// `evidence`, `guard`, `choice`, `stop`, `replacement`.
    pub kind: &'static str,
    /// Passed (a guard let it through, a call worked) or not.
    pub ok: bool,
    pub text: String,
}

/// The task ECS started in place of the stopped one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replacement {
    pub task: String,
    pub ip: Option<String>,
    pub last_status: String,
    pub healthy: bool,
    pub after_seconds: f64,
}

/// The result: what a reporter, a notification or the Lambda response needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remediation {
    pub outcome: Outcome,
    pub exit_code: i32,
    pub cluster: String,
    pub service: String,
    pub trigger: Trigger,
    pub dry_run: bool,
    /// The chosen task (stopped unless a guard held it back or this is a dry run).
    pub task: Option<ServiceTask>,
    pub why: Option<Why>,
    /// `why` in words.
    pub why_text: Option<String>,
    /// The guard that held it back, if one did.
    pub guard: Option<Held>,
    pub stop_reason: Option<String>,
    pub replacement: Option<Replacement>,
    pub running_tasks: usize,
    pub healthy_tasks: usize,
    pub unhealthy_targets: usize,
    /// Task id → error lines in the window, when the logs were read.
    pub errors: BTreeMap<String, u64>,
    pub steps: Vec<Step>,
    /// One sentence: what happened.
    pub summary: String,
}

impl Remediation {
    fn new(s: &Settings, trigger: &Trigger) -> Self {
        Remediation {
            outcome: Outcome::NothingUnhealthy,
            exit_code: 0,
            cluster: s.cluster.clone(),
            service: s.service.clone(),
            trigger: trigger.clone(),
            dry_run: s.dry_run,
            task: None,
            why: None,
            why_text: None,
            guard: None,
            stop_reason: None,
            replacement: None,
            running_tasks: 0,
            healthy_tasks: 0,
            unhealthy_targets: 0,
            errors: BTreeMap::new(),
            steps: Vec::new(),
            summary: String::new(),
        }
    }

    fn finish(mut self, outcome: Outcome, summary: String) -> Self {
        self.outcome = outcome;
        self.exit_code = outcome.exit_code();
        self.summary = summary;
        self
    }

    /// A result for an event that asks for nothing (not a transition into ALARM).
    pub fn ignored(s: &Settings, trigger: &Trigger, why: String) -> Self {
        Remediation::new(s, trigger).finish(Outcome::Ignored, why)
    }
}

/// How far past "now" log events are read (PutLogEvents' own limit for future events).
const LOG_AHEAD_MS: i64 = 2 * 3600 * 1000;

/// The AWS clients remediation uses.
pub struct Aws<'a> {
    pub clients: &'a Clients,
}

/// The health of every target of the service's target groups.
async fn target_health(c: &Clients, target_groups: &[String]) -> Result<Vec<TargetState>> {
    let mut all = Vec::new();
    for tg in target_groups {
        all.extend(crate::aws::elb::target_health(c, tg).await?);
    }
    Ok(all)
}

/// Maps each target to the task with its address (`tasks` oldest first, so an address
/// that passed from a stopped task to its replacement goes to the newer).
fn map_targets(targets: &mut [TargetState], tasks: &[ServiceTask]) {
    let mut by_age: Vec<&ServiceTask> = tasks.iter().collect();
    by_age.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.arn.cmp(&b.arn)));
    let pairs: Vec<(String, String)> = by_age
        .iter()
        .filter(|t| t.desired_status == "RUNNING")
        .filter_map(|t| t.ip.clone().map(|ip| (ip, t.id.clone())))
        .collect();
    crate::aws::elb::map_to_tasks(targets, &pairs);
}

/// Reads target health, then the tasks, in that order: a task another invocation stops
/// between the reads shows as stopped (with that invocation's key) in the second, so a
/// stop can never be missed by both.
async fn evidence(
    c: &Clients,
    s: &Settings,
    target_groups: &[String],
) -> Result<(Vec<ServiceTask>, Vec<TargetState>)> {
    let mut targets = target_health(c, target_groups).await?;
    let all = tasks::service_tasks(&c.ecs, &s.cluster, &s.service).await?;
    map_targets(&mut targets, &all);
    Ok((all, targets))
}

/// A run id: tells this invocation's stop from a concurrent one's with the same key.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!("{:08x}", (mixed ^ (mixed >> 29)) as u32)
}

/// Runs remediation once. `on_step` sees each step as it happens.
pub async fn run(
    aws: &Aws<'_>,
    s: &Settings,
    trigger: &Trigger,
    abort: &Abort,
    on_step: &mut (dyn FnMut(&Step) + Send),
) -> Result<Remediation> {
    let mut r = Remediation::new(s, trigger);
    let mut step = |r: &mut Remediation, kind: &'static str, ok: bool, text: String| {
        let st = Step { kind, ok, text };
        on_step(&st);
        r.steps.push(st);
    };
    // Deployments first: while one runs, tasks come and go by design.
    let rollout = until_abort(
        abort,
        s,
        tasks::rollout(&aws.clients.ecs, &s.cluster, &s.service),
    )
    .await?;
    let mut active: Vec<String> = rollout.extra_task_sets.clone();
    active.extend(rollout.ecs_rollouts.iter().cloned());
    if let (Some(app), Some(group)) = (&s.application, &s.deployment_group) {
        let ids = until_abort(
            abort,
            s,
            crate::aws::codedeploy::list_active(aws.clients, app, group),
        )
        .await?;
        active.extend(ids.into_iter().map(|id| format!("CodeDeploy {id}")));
    }
    if let Some(held) = guard::deployment(&active) {
        step(&mut r, "guard", false, held.detail.clone());
        let summary = format!("refused: {}", held.detail);
        r.guard = Some(held);
        return Ok(r.finish(Outcome::Refused, summary));
    }
    step(
        &mut r,
        "guard",
        true,
        format!(
            "no deployment in flight ({} controller)",
            rollout.controller
        ),
    );

    let (all, targets) =
        until_abort(abort, s, evidence(aws.clients, s, &rollout.target_groups)).await?;
    let now = aws_now(Utc::now(), &all);
    evidence_step(&mut r, &all, &targets, &rollout.target_groups, &mut step);

    if let Some(held) =
        guard::state_change(trigger, &all, now).or_else(|| guard::cool_down(&all, now, s.cool_down))
    {
        step(&mut r, "guard", false, held.detail.clone());
        let summary = format!("skipped: {}", held.detail);
        r.guard = Some(held);
        return Ok(r.finish(Outcome::Skipped, summary));
    }
    step(&mut r, "guard", true, guard_text(trigger, s.cool_down));

    let mut choice = choose::choose(&all, &targets, &BTreeMap::new(), s.log_window.as_secs());
    if choice.is_none() {
        let (counts, note) = until_abort(abort, s, error_counts(aws.clients, s, &all, now)).await?;
        step(&mut r, "evidence", true, note);
        r.errors = counts;
        choice = choose::choose(&all, &targets, &r.errors, s.log_window.as_secs());
    }
    let Some(Choice { task, why }) = choice else {
        let summary = format!(
            "nothing unhealthy: no target of {} is unhealthy and no task logged an error in the last {}; nothing was stopped",
            s.service,
            humantime::format_duration(s.log_window)
        );
        step(&mut r, "choice", true, summary.clone());
        return Ok(r.finish(Outcome::NothingUnhealthy, summary));
    };
    let why_text = why.text();
    step(
        &mut r,
        "choice",
        true,
        format!(
            "chose task {} ({}): {why_text}",
            task.id,
            task.ip.as_deref().unwrap_or("no address")
        ),
    );
    r.task = Some(task.clone());
    r.why = Some(why);
    r.why_text = Some(why_text.clone());

    let healthy = choose::healthy(&all, &targets);
    let chosen_healthy = healthy.iter().any(|t| t.arn == task.arn);
    if let Some(held) = guard::min_healthy(healthy.len(), chosen_healthy, s.min_healthy) {
        step(&mut r, "guard", false, held.detail.clone());
        let summary = format!("skipped: task {} not stopped: {}", task.id, held.detail);
        r.guard = Some(held);
        return Ok(r.finish(Outcome::Skipped, summary));
    }
    step(
        &mut r,
        "guard",
        true,
        format!(
            "{} healthy running task(s) remain after the stop (minimum {})",
            healthy.len() - usize::from(chosen_healthy),
            s.min_healthy
        ),
    );

    let reason = guard::stop_reason(trigger, &run_id(), &why_text);
    r.stop_reason = Some(reason.clone());
    if s.dry_run {
        let summary = format!(
            "dry run: would stop task {} ({why_text}); nothing was changed",
            task.id
        );
        step(&mut r, "stop", true, summary.clone());
        return Ok(r.finish(Outcome::WouldStop, summary));
    }
    if let Some(sig) = abort.signal() {
        return Err(interrupted(sig, s, None));
    }
    let stopped = stop_with_grace(aws, s, &task.arn, &reason, abort).await;
    let returned = match stopped {
        Ok(t) => t,
        Err(e @ Error::Interrupted { .. }) => return Err(e),
        Err(e) => {
            let summary = format!("failed: StopTask of task {} failed: {e}", task.id);
            step(&mut r, "stop", false, summary.clone());
            return Ok(r.finish(Outcome::Failed, summary));
        }
    };
    if let Some(held) = guard::after_stop(&reason, &returned) {
        step(&mut r, "guard", false, held.detail.clone());
        let summary = format!("skipped: {}", held.detail);
        r.guard = Some(held);
        return Ok(r.finish(Outcome::Skipped, summary));
    }
    step(
        &mut r,
        "stop",
        true,
        format!("stopped task {} (reason: {reason})", task.id),
    );

    let before: Vec<String> = all.iter().map(|t| t.arn.clone()).collect();
    let waited = wait_replacement(aws, s, &rollout.target_groups, &before, &task.id, abort).await?;
    finish_wait(r, s, &task, waited, step)
}

/// "Now" for the cool-down: stop times are AWS's clock, so a local clock that is
/// behind must not make a recent stop look older; the newest time ECS reported for any
/// task of the service is a lower bound of AWS's now.
pub fn aws_now(local: DateTime<Utc>, tasks: &[ServiceTask]) -> DateTime<Utc> {
    tasks
        .iter()
        .flat_map(|t| [t.created_at, t.started_at, t.stopping_at, t.stopped_at])
        .flatten()
        .fold(local, DateTime::max)
}

fn evidence_step(
    r: &mut Remediation,
    all: &[ServiceTask],
    targets: &[TargetState],
    target_groups: &[String],
    step: &mut impl FnMut(&mut Remediation, &'static str, bool, String),
) {
    let running = all.iter().filter(|t| choose::is_running(t)).count();
    let healthy = choose::healthy(all, targets).len();
    let unhealthy: Vec<String> = all
        .iter()
        .filter(|t| choose::is_running(t))
        .filter_map(|t| {
            choose::target_of(t, targets)
                .filter(|s| s.state == "unhealthy")
                .map(|s| format!("{} ({})", t.id, s.reason.as_deref().unwrap_or("unhealthy")))
        })
        .collect();
    r.running_tasks = running;
    r.healthy_tasks = healthy;
    r.unhealthy_targets = unhealthy.len();
    let targets_text = if target_groups.is_empty() {
        "the service has no target group; running tasks count as healthy".to_owned()
    } else {
        format!(
            "{} target(s) in {} target group(s), {} unhealthy{}",
            targets.len(),
            target_groups.len(),
            unhealthy.len(),
            if unhealthy.is_empty() {
                String::new()
            } else {
                format!(": {}", unhealthy.join(", "))
            }
        )
    };
    step(
        r,
        "evidence",
        true,
        format!(
            "{running} running task(s), {healthy} healthy; {} stopped task(s) visible; {targets_text}",
            all.len() - running
        ),
    );
}

fn guard_text(trigger: &Trigger, cool_down: Duration) -> String {
    let cd = humantime::format_duration(cool_down);
    match (&trigger.alarm, trigger.key()) {
        (Some(a), Some(k)) => format!(
            "state change of alarm {a} not acted on yet (key {k}); no shipwatch stop within the cool-down of {cd}"
        ),
        _ => format!("no shipwatch stop within the cool-down of {cd}"),
    }
}

/// Error lines per running task in the window, from each task's awslogs stream.
async fn error_counts(
    c: &Clients,
    s: &Settings,
    all: &[ServiceTask],
    now: DateTime<Utc>,
) -> Result<(BTreeMap<String, u64>, String)> {
    let running: Vec<&ServiceTask> = all.iter().filter(|t| choose::is_running(t)).collect();
    let mut defs: BTreeMap<String, Option<crate::aws::evidence::AwsLogs>> = BTreeMap::new();
    for t in &running {
        let Some(arn) = &t.task_definition_arn else {
            continue;
        };
        if defs.contains_key(arn) {
            continue;
        }
        let logs = crate::aws::evidence::task_definition_logs(c, arn)
            .await?
            .and_then(|td| {
                td.logs
                    .into_iter()
                    .find(|l| s.container.as_deref().is_none_or(|n| n == l.container))
            });
        defs.insert(arn.clone(), logs);
    }
    let mut by_group: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut unread = 0;
    for t in &running {
        let logs = t
            .task_definition_arn
            .as_ref()
            .and_then(|a| defs.get(a))
            .cloned()
            .flatten();
        match logs {
            Some(l) if l.stream_prefix.is_some() => {
                let group = s.log_group.clone().unwrap_or(l.group);
                let stream = format!(
                    "{}/{}/{}",
                    l.stream_prefix.unwrap_or_default(),
                    l.container,
                    t.id
                );
                by_group
                    .entry(group)
                    .or_default()
                    .push((stream, t.id.clone()));
            }
            _ => unread += 1,
        }
    }
    let reader = crate::logscan::logline::LineReader::new(None);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines = 0u64;
    let start_ms =
        (now - chrono::Duration::from_std(s.log_window).unwrap_or_default()).timestamp_millis();
    for (group, streams) in &by_group {
        let q = crate::aws::logs::LogQuery {
            log_group: group.clone(),
            streams: streams.iter().map(|(st, _)| st.clone()).collect(),
            start_ms,
            // Up to AWS's now, whatever the local clock says: PutLogEvents accepts events
            // stamped up to two hours ahead, and a local clock behind AWS's would cut
            // the newest lines, the ones that matter.
            end_ms: now.timestamp_millis() + LOG_AHEAD_MS,
            filter_pattern: None,
        };
        crate::aws::logs::read_events(c, &q, None, |ev| {
            lines += 1;
            if let crate::logscan::logline::Line::Error(_) =
                reader.read(&ev.message, Some(ev.timestamp_ms))
                && let Some((_, id)) = streams.iter().find(|(st, _)| *st == ev.stream)
            {
                *counts.entry(id.clone()).or_default() += 1;
            }
            true
        })
        .await?;
    }
    let errors: u64 = counts.values().sum();
    let groups: Vec<&str> = by_group.keys().map(String::as_str).collect();
    let mut note = format!(
        "no unhealthy target; read {lines} log line(s) of the last {} from {} task stream(s) in {}: {errors} error line(s)",
        humantime::format_duration(s.log_window),
        by_group.values().map(Vec::len).sum::<usize>(),
        if groups.is_empty() {
            "no log group".to_owned()
        } else {
            groups.join(", ")
        }
    );
    if unread > 0 {
        note.push_str(&format!(
            "; {unread} task(s) have no awslogs stream to read (no awslogs-stream-prefix or no awslogs container)"
        ));
    }
    Ok((counts, note))
}

/// StopTask, which a signal does not cut short for up to `signal_grace`: shipwatch must
/// know whether the task was stopped before it says what exists.
/// A read before the stop, dropped when a signal comes: nothing was changed yet, so
/// remediate exits at once instead of finishing its reads (each up to the operation
/// timeout) first.
async fn until_abort<T>(
    abort: &Abort,
    s: &Settings,
    read: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = read => r,
        sig = abort.wait() => Err(interrupted(sig, s, None)),
    }
}

async fn stop_with_grace(
    aws: &Aws<'_>,
    s: &Settings,
    arn: &str,
    reason: &str,
    abort: &Abort,
) -> Result<ServiceTask> {
    let call = tasks::stop_task(&aws.clients.ecs, &s.cluster, arn, reason);
    tokio::pin!(call);
    tokio::select! {
        r = &mut call => r,
        sig = abort.wait() => {
            match tokio::time::timeout(s.signal_grace, &mut call).await {
                Ok(Ok(t)) => Err(interrupted(sig, s, Some(&t.id))),
                _ => Err(interrupted(sig, s, Some("(unknown: StopTask did not answer in time)"))),
            }
        }
    }
}

fn interrupted(signal: i32, s: &Settings, stopped: Option<&str>) -> Error {
    let what = match stopped {
        None => "Nothing was stopped.".to_owned(),
        Some(id) => format!(
            "Task {id} was stopped; ECS starts its replacement on its own. Follow it with `aws ecs list-tasks --cluster {} --service-name {}`.",
            s.cluster, s.service
        ),
    };
    Error::Interrupted {
        signal,
        message: format!(
            "remediate was interrupted by {}. {what}",
            crate::signals::name(signal)
        ),
    }
}

/// What waiting for the replacement saw: the best candidate and how long it took.
struct Waited {
    candidate: Option<Replacement>,
    waited: Duration,
}

/// Polls until a task that was not there before is RUNNING and (with target groups)
/// healthy, or until `replacement_wait` has passed.
async fn wait_replacement(
    aws: &Aws<'_>,
    s: &Settings,
    target_groups: &[String],
    before: &[String],
    stopped_id: &str,
    abort: &Abort,
) -> Result<Waited> {
    let t0 = Instant::now();
    let mut best: Option<Replacement> = None;
    loop {
        let (all, targets) = evidence(aws.clients, s, target_groups).await?;
        let mut fresh: Vec<&ServiceTask> = all
            .iter()
            .filter(|t| !before.contains(&t.arn) && t.desired_status == "RUNNING")
            .collect();
        fresh.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.arn.cmp(&b.arn)));
        for t in fresh {
            let healthy = choose::is_running(t)
                && (targets.is_empty()
                    || choose::target_of(t, &targets).is_some_and(|x| x.state == "healthy"));
            let cand = Replacement {
                task: t.id.clone(),
                ip: t.ip.clone(),
                last_status: t.last_status.clone(),
                healthy,
                after_seconds: (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            };
            if healthy {
                return Ok(Waited {
                    candidate: Some(cand),
                    waited: t0.elapsed(),
                });
            }
            if best.is_none() {
                best = Some(cand);
            }
        }
        if t0.elapsed() >= s.replacement_wait {
            return Ok(Waited {
                candidate: best,
                waited: t0.elapsed(),
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(s.poll) => {}
            sig = abort.wait() => {
                return Err(interrupted(sig, s, Some(stopped_id)));
            }
        }
    }
}

fn finish_wait(
    mut r: Remediation,
    s: &Settings,
    task: &ServiceTask,
    w: Waited,
    mut step: impl FnMut(&mut Remediation, &'static str, bool, String),
) -> Result<Remediation> {
    match w.candidate {
        Some(c) if c.healthy => {
            let text = format!(
                "replacement task {} is RUNNING and healthy after {:.0}s",
                c.task, c.after_seconds
            );
            step(&mut r, "replacement", true, text);
            let summary = format!(
                "remediated: stopped task {} ({}); replacement {} is running and healthy",
                task.id,
                r.why_text.clone().unwrap_or_default(),
                c.task
            );
            r.replacement = Some(c);
            Ok(r.finish(Outcome::Remediated, summary))
        }
        other => {
            let seen = match &other {
                Some(c) => format!(
                    "replacement task {} is {} but not yet healthy",
                    c.task, c.last_status
                ),
                None => "no replacement task has started".to_owned(),
            };
            let text = format!(
                "{seen} after {}; ECS keeps trying. Follow it with `aws ecs list-tasks --cluster {} --service-name {}`",
                humantime::format_duration(Duration::from_secs(w.waited.as_secs())),
                s.cluster,
                s.service
            );
            step(&mut r, "replacement", false, text.clone());
            r.replacement = other;
            let summary = format!("failed: stopped task {} but {text}", task.id);
            Ok(r.finish(Outcome::Failed, summary))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_sdk_ecs::operation::stop_task::StopTaskOutput;
    use aws_sdk_ecs::types::{Attachment, KeyValuePair, LoadBalancer, Task, TaskSet};
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
    use aws_sdk_elasticloadbalancingv2::types::{
        TargetDescription, TargetHealth as SdkHealth, TargetHealthDescription,
        TargetHealthReasonEnum, TargetHealthStateEnum,
    };
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use chrono::TimeZone;

    const TG: &str = "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web-blue/abc";

    #[tokio::test]
    async fn a_signal_during_the_reads_ends_remediate_at_once_with_nothing_stopped() {
        let (tx, abort) = Abort::manual();
        tx.send(Some(crate::signals::SIGTERM)).unwrap();
        let never = std::future::pending::<Result<()>>();
        let e = until_abort(&abort, &settings(), never).await.unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::TERMINATED);
        assert!(e.to_string().contains("Nothing was stopped"), "{e}");
    }

    fn settings() -> Settings {
        Settings {
            cluster: "c".into(),
            service: "web".into(),
            container: None,
            application: None,
            deployment_group: None,
            min_healthy: 1,
            cool_down: Duration::from_secs(600),
            log_window: Duration::from_secs(300),
            log_group: None,
            replacement_wait: Duration::from_secs(5),
            poll: Duration::from_millis(10),
            signal_grace: Duration::from_secs(1),
            dry_run: false,
        }
    }

    fn trigger() -> Trigger {
        Trigger {
            alarm: Some("web-5xx".into()),
            state_changed_at: Some(Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap()),
            alarm_reason: None,
            source: "command".into(),
        }
    }

    fn service(extra_task_set: bool) -> Rule {
        mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
            let primary = TaskSet::builder()
                .id("ecs-svc/1")
                .status("PRIMARY")
                .load_balancers(LoadBalancer::builder().target_group_arn(TG).build())
                .build();
            let mut svc = aws_sdk_ecs::types::Service::builder()
                .service_name("web")
                .status("ACTIVE")
                .task_sets(primary);
            if extra_task_set {
                svc = svc.task_sets(TaskSet::builder().id("ecs-svc/2").status("ACTIVE").build());
            }
            DescribeServicesOutput::builder()
                .services(svc.build())
                .build()
        })
    }

    fn task(id: &str, ip: &str, minute: u32) -> Task {
        Task::builder()
            .task_arn(format!("arn:aws:ecs:eu-west-1:1:task/c/{id}"))
            .last_status("RUNNING")
            .desired_status("RUNNING")
            .started_at(aws_smithy_types::DateTime::from_secs(
                Utc.with_ymd_and_hms(2026, 1, 1, 9, minute, 0)
                    .unwrap()
                    .timestamp(),
            ))
            .attachments(
                Attachment::builder()
                    .r#type("ElasticNetworkInterface")
                    .details(
                        KeyValuePair::builder()
                            .name("privateIPv4Address")
                            .value(ip)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn health(ip: &str, bad: bool) -> TargetHealthDescription {
        let h = if bad {
            SdkHealth::builder()
                .state(TargetHealthStateEnum::Unhealthy)
                .reason(TargetHealthReasonEnum::ResponseCodeMismatch)
                .build()
        } else {
            SdkHealth::builder()
                .state(TargetHealthStateEnum::Healthy)
                .build()
        };
        TargetHealthDescription::builder()
            .target(TargetDescription::builder().id(ip).port(8080).build())
            .target_health(h)
            .build()
    }

    fn clients(ecs: &[&Rule], elb: &[&Rule]) -> Clients {
        Clients {
            ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs),
            ecr: mock_client!(aws_sdk_ecr, []),
            codedeploy: mock_client!(aws_sdk_codedeploy, []),
            cloudwatch: mock_client!(aws_sdk_cloudwatch, []),
            logs: mock_client!(aws_sdk_cloudwatchlogs, []),
            elb: mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::MatchAny, elb),
            region: "eu-west-1".into(),
        }
    }

    async fn go(c: &Clients) -> Remediation {
        let aws = Aws { clients: c };
        let mut steps = |_: &Step| {};
        run(&aws, &settings(), &trigger(), &Abort::never(), &mut steps)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_second_task_set_refuses_before_any_task_is_read() {
        let svc = service(true);
        let list = mock!(aws_sdk_ecs::Client::list_tasks)
            .then_output(|| ListTasksOutput::builder().build());
        let stop =
            mock!(aws_sdk_ecs::Client::stop_task).then_output(|| StopTaskOutput::builder().build());
        let c = clients(&[&svc, &list, &stop], &[]);
        let r = go(&c).await;
        assert_eq!(r.outcome, Outcome::Refused);
        assert_eq!(r.exit_code, crate::exit::REMEDIATE_REFUSED);
        assert!(r.guard.unwrap().detail.contains("ecs-svc/2"));
        assert_eq!(list.num_calls(), 0);
        assert_eq!(stop.num_calls(), 0);
    }

    #[tokio::test]
    async fn stops_the_unhealthy_task_and_reports_a_concurrent_stop_as_the_guard() {
        let svc = service(false);
        let targets = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
            .then_output(|| {
                DescribeTargetHealthOutput::builder()
                    .target_health_descriptions(health("10.0.0.1", false))
                    .target_health_descriptions(health("10.0.0.2", true))
                    .build()
            });
        let running = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.desired_status().map(|s| s.as_str()) == Some("RUNNING"))
            .then_output(|| {
                ListTasksOutput::builder()
                    .task_arns("arn:aws:ecs:eu-west-1:1:task/c/a")
                    .task_arns("arn:aws:ecs:eu-west-1:1:task/c/b")
                    .build()
            });
        let stopped = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.desired_status().map(|s| s.as_str()) == Some("STOPPED"))
            .then_output(|| ListTasksOutput::builder().build());
        let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(|| {
            DescribeTasksOutput::builder()
                .tasks(task("a", "10.0.0.1", 1))
                .tasks(task("b", "10.0.0.2", 2))
                .build()
        });
        // ECS answers with the reason of a stop another invocation made first.
        let theirs = guard::stop_reason(&trigger(), "other123", "x");
        let stop = mock!(aws_sdk_ecs::Client::stop_task)
            .match_requests(|r| {
                r.task() == Some("arn:aws:ecs:eu-west-1:1:task/c/b")
                    && r.reason().is_some_and(|x| x.starts_with(guard::MARKER))
            })
            .then_output(move || {
                let mut t = task("b", "10.0.0.2", 2);
                t.desired_status = Some("STOPPED".into());
                t.stopped_reason = Some(theirs.clone());
                StopTaskOutput::builder().task(t).build()
            });
        let c = clients(&[&svc, &running, &stopped, &describe, &stop], &[&targets]);
        let r = go(&c).await;
        assert_eq!(stop.num_calls(), 1, "the chosen task is stopped once");
        assert_eq!(r.task.as_ref().unwrap().id, "b");
        assert_eq!(r.outcome, Outcome::Skipped, "{r:?}");
        let g = r.guard.unwrap();
        assert_eq!(g.guard, "alarm_state_change");
        assert!(g.detail.contains("other123"), "{}", g.detail);
        // Target health was read before the tasks.
        assert_eq!(targets.num_calls(), 1);
    }

    #[test]
    fn aws_now_is_never_behind_what_ecs_reported() {
        let local = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        let later = Utc.with_ymd_and_hms(2026, 1, 1, 10, 7, 0).unwrap();
        let t = ServiceTask {
            stopping_at: Some(later),
            ..ServiceTask::default()
        };
        assert_eq!(aws_now(local, std::slice::from_ref(&t)), later);
        assert_eq!(
            aws_now(later + chrono::Duration::seconds(1), &[t]),
            later + chrono::Duration::seconds(1)
        );
        assert_eq!(aws_now(local, &[]), local);
    }
}
