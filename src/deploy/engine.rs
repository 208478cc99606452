//! The watch loop: polls the deployment, its ECS target and the watched alarms, stops
//! the deployment itself when an alarm fires, follows a rollback to its end. Emits
//! events and never prints; all timing goes through the `Clock` seam.

use super::clock::Clock;
use super::decide::{Decision, Main, Outcome, decide_main, decide_rollback};
use super::events::{Event, Sink};
use crate::aws::model::{Deployment, Target};
use crate::aws::{Clients, cloudwatch, codedeploy};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub alarms: Vec<String>,
    pub stop_on_alarm: bool,
    /// How often to poll the deployment target (traffic, lifecycle).
    pub poll: Duration,
    /// How often to poll the watched alarms.
    pub alarm_poll: Duration,
    /// GetDeployment is also read at least this often while the target shows progress.
    pub deployment_poll: Duration,
    /// Emit a `Tick` at least this often.
    pub tick: Duration,
    pub timeout: Duration,
    pub expect_rollback: bool,
    pub rollback_grace: Duration,
    /// Give up after this many consecutive failed polls.
    pub max_poll_failures: u32,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            alarms: Vec::new(),
            stop_on_alarm: true,
            poll: Duration::from_secs(10),
            alarm_poll: Duration::from_secs(4),
            deployment_poll: Duration::from_secs(30),
            tick: Duration::from_secs(30),
            timeout: Duration::from_secs(3600),
            expect_rollback: true,
            rollback_grace: Duration::from_secs(60),
            max_poll_failures: 10,
        }
    }
}

/// Everything the summary and the report need about how the watch ended.
#[derive(Debug, Clone)]
pub struct Watched {
    pub outcome: Outcome,
    pub deployment: Deployment,
    pub rollback: Option<Deployment>,
    /// Alarms seen in ALARM, with their StateReason, in the order they fired.
    pub fired: Vec<(String, Option<String>)>,
    pub stopped_by_us: bool,
    /// Highest traffic share green reached.
    pub max_green: f64,
    pub last_target: Option<Target>,
    pub elapsed: Duration,
}

struct Poller<'a, C: Clock> {
    clients: &'a Clients,
    clock: &'a C,
    sink: &'a mut dyn Sink,
    failures: u32,
    max_failures: u32,
}

impl<C: Clock> Poller<'_, C> {
    fn emit(&mut self, e: Event) {
        self.sink.emit(self.clock.elapsed(), &e);
    }

    /// Runs one AWS read; a failure is reported and retried at the next poll, until too many in a row.
    async fn read<T>(
        &mut self,
        op: &str,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<Option<T>> {
        match fut.await {
            Ok(v) => {
                self.failures = 0;
                Ok(Some(v))
            }
            Err(e @ Error::Aws { .. }) => {
                self.failures += 1;
                if self.failures >= self.max_failures {
                    return Err(e);
                }
                self.emit(Event::Retrying {
                    operation: op.to_owned(),
                    message: e.to_string(),
                });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Watches deployment `id` to a terminal outcome (or the timeout).
pub async fn watch<C: Clock>(
    clients: &Clients,
    clock: &C,
    sink: &mut dyn Sink,
    id: &str,
    opts: &WatchOptions,
) -> Result<Watched> {
    let mut p = Poller {
        clients,
        clock,
        sink,
        failures: 0,
        max_failures: opts.max_poll_failures.max(1),
    };
    let start = clock.elapsed();
    let mut current = id.to_owned();
    let mut in_rollback = false;
    let mut deployment: Option<Deployment> = None;
    let mut rollback: Option<Deployment> = None;
    let mut target: Option<Target> = None;
    let mut firing: Vec<String> = Vec::new();
    let mut fired: Vec<(String, Option<String>)> = Vec::new();
    let mut stop_requested = false;
    let mut terminal_at: Option<Duration> = None;
    let mut lifecycle_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut last_status = String::new();
    let mut last_green: Option<f64> = None;
    let mut max_green = 0.0f64;
    let mut last_emit = start;
    let (mut next_target, mut next_alarm, mut next_deployment) = (start, start, start);

    loop {
        let now = clock.elapsed();
        if now.saturating_sub(start) >= opts.timeout {
            return Ok(finish(
                Outcome::TimedOut,
                deployment,
                rollback,
                fired,
                stop_requested,
                max_green,
                target,
                now - start,
                id,
            ));
        }

        // Alarms: only while the original deployment runs and we have not stopped it yet.
        if !in_rollback && !stop_requested && !opts.alarms.is_empty() && now >= next_alarm {
            next_alarm = now + opts.alarm_poll;
            if let Some(alarms) = p
                .read(
                    "cloudwatch:DescribeAlarms",
                    cloudwatch::describe_alarms(clients, &opts.alarms),
                )
                .await?
            {
                firing.clear();
                for a in alarms.iter().filter(|a| a.state == "ALARM") {
                    firing.push(a.name.clone());
                    if !fired.iter().any(|(n, _)| n == &a.name) {
                        fired.push((a.name.clone(), a.reason.clone()));
                        p.emit(Event::AlarmFired {
                            alarm: a.name.clone(),
                            reason: a.reason.clone(),
                        });
                        last_emit = clock.elapsed();
                    }
                }
            }
        }

        // The target carries traffic and lifecycle; GetDeployment is read when the target
        // suggests a change, after a stop, and at least every `deployment_poll`.
        let mut target_changed = false;
        if now >= next_target {
            next_target = now + opts.poll;
            if !in_rollback {
                if let Some(t) = p
                    .read(
                        "codedeploy:GetDeploymentTarget",
                        codedeploy::get_target(clients, &current),
                    )
                    .await?
                {
                    if let Some(t) = t {
                        target_changed = target
                            .as_ref()
                            .map(|o| o.status != t.status)
                            .unwrap_or(true);
                        for e in &t.lifecycle {
                            if lifecycle_seen.get(&e.name) != Some(&e.status)
                                && e.status != "Pending"
                            {
                                lifecycle_seen.insert(e.name.clone(), e.status.clone());
                                p.emit(Event::Lifecycle {
                                    deployment_id: current.clone(),
                                    name: e.name.clone(),
                                    status: e.status.clone(),
                                });
                                last_emit = clock.elapsed();
                            }
                        }
                        if let Some(g) = t.green_weight() {
                            max_green = max_green.max(g);
                            if last_green != Some(g) {
                                last_green = Some(g);
                                p.emit(Event::Traffic {
                                    deployment_id: current.clone(),
                                    green_percent: g,
                                });
                                last_emit = clock.elapsed();
                            }
                        }
                        target = Some(t);
                    }
                }
            }
        }
        let target_busy = target
            .as_ref()
            .map(|t| t.status == "InProgress" || t.status == "Pending")
            .unwrap_or(false);
        if now >= next_deployment || target_changed || !target_busy || stop_requested || in_rollback
        {
            if let Some(d) = p
                .read(
                    "codedeploy:GetDeployment",
                    codedeploy::get_deployment(clients, &current),
                )
                .await?
            {
                next_deployment = now + opts.deployment_poll;
                let status = d.status.to_string();
                if status != last_status {
                    last_status = status.clone();
                    p.emit(Event::Status {
                        deployment_id: current.clone(),
                        status,
                    });
                    last_emit = clock.elapsed();
                }
                if in_rollback {
                    rollback = Some(d);
                } else {
                    if d.status.is_terminal() && terminal_at.is_none() {
                        terminal_at = Some(now);
                    }
                    deployment = Some(d);
                }
            }
        }

        let decision = match (in_rollback, &deployment, &rollback) {
            (true, _, Some(rb)) => decide_rollback(rb),
            (false, Some(d), _) => decide_main(&Main {
                deployment: d,
                firing: &firing,
                stop_on_alarm: opts.stop_on_alarm,
                stop_requested,
                expect_rollback: opts.expect_rollback || stop_requested,
                terminal_for: terminal_at
                    .map(|t| now.saturating_sub(t))
                    .unwrap_or_default(),
                rollback_grace: opts.rollback_grace,
            }),
            _ => Decision::Wait,
        };
        match decision {
            Decision::Finish(o) => {
                return Ok(finish(
                    o,
                    deployment,
                    rollback,
                    fired,
                    stop_requested,
                    max_green,
                    target,
                    clock.elapsed() - start,
                    id,
                ));
            }
            Decision::StopForAlarm(names) => {
                let why = format!("alarm {} in ALARM", names.join(", "));
                match codedeploy::stop(clients, &current, true).await? {
                    codedeploy::StopOutcome::Requested { .. } => {
                        stop_requested = true;
                        p.emit(Event::StopRequested {
                            deployment_id: current.clone(),
                            rollback: true,
                            why,
                        });
                    }
                    // It ended on its own in the meantime; the next poll shows how.
                    codedeploy::StopOutcome::AlreadyCompleted(_) => stop_requested = true,
                }
                last_emit = clock.elapsed();
                next_deployment = clock.elapsed();
                continue;
            }
            Decision::FollowRollback(rid) => {
                p.emit(Event::RollbackStarted {
                    deployment_id: current.clone(),
                    rollback_id: rid.clone(),
                });
                last_emit = clock.elapsed();
                current = rid;
                in_rollback = true;
                last_status.clear();
                continue;
            }
            Decision::Wait => {}
        }

        let now = clock.elapsed();
        if now.saturating_sub(last_emit) >= opts.tick {
            p.emit(Event::Tick {
                deployment_id: current.clone(),
                status: last_status.clone(),
                green_percent: last_green,
                lifecycle: target
                    .as_ref()
                    .and_then(|t| t.current_event())
                    .map(|e| format!("{} {}", e.name, e.status)),
                elapsed: now - start,
            });
            last_emit = now;
        }
        let mut wake = next_target.min(next_deployment);
        if !in_rollback && !stop_requested && !opts.alarms.is_empty() {
            wake = wake.min(next_alarm);
        }
        let nap = wake
            .saturating_sub(now)
            .max(Duration::from_millis(50))
            .min(opts.tick);
        clock.sleep(nap).await;
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    outcome: Outcome,
    deployment: Option<Deployment>,
    rollback: Option<Deployment>,
    fired: Vec<(String, Option<String>)>,
    stopped_by_us: bool,
    max_green: f64,
    last_target: Option<Target>,
    elapsed: Duration,
    id: &str,
) -> Watched {
    let deployment = deployment.unwrap_or_else(|| Deployment {
        id: id.to_owned(),
        status: crate::aws::model::DeploymentStatus::Unknown("unknown".into()),
        application: String::new(),
        group: String::new(),
        config_name: None,
        description: None,
        creator: None,
        error_code: None,
        error_message: None,
        rollback: Default::default(),
        create_time: None,
        start_time: None,
        complete_time: None,
    });
    Watched {
        outcome,
        deployment,
        rollback,
        fired,
        stopped_by_us,
        max_green,
        last_target,
        elapsed,
    }
}
