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
    /// How often GetDeployment is read when the end is near: a rollback or a stop being
    /// followed, or the original task set's termination about to finish. This is what
    /// keeps the exit close to the terminal state without fast polling all along.
    pub final_poll: Duration,
    /// The group's wait before the original task set is terminated, when known: the end
    /// of a successful deployment is this long after traffic is fully on green.
    pub termination_wait: Option<Duration>,
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
            deployment_poll: Duration::from_secs(60),
            final_poll: Duration::from_secs(1),
            termination_wait: None,
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
    // Only a stop CodeDeploy accepted from us; one it had already made itself is not ours.
    let mut stopped_by_us = false;
    let mut terminal_at: Option<Duration> = None;
    let mut lifecycle_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut target_id: Option<String> = None;
    // When the end of the termination wait may come: from then on GetDeployment is
    // read every `final_poll`.
    let mut ending_from: Option<Duration> = None;
    let mut last_status = String::new();
    let mut last_green: Option<f64> = None;
    let mut max_green = 0.0f64;
    let mut last_emit = start;
    let (mut next_target, mut next_alarm, mut next_deployment) = (start, start, start);
    let mut last_deployment_read: Option<Duration> = None;

    loop {
        let now = clock.elapsed();
        if now.saturating_sub(start) >= opts.timeout {
            return Ok(finish(
                Outcome::TimedOut,
                deployment,
                rollback,
                fired,
                stopped_by_us,
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
            if !in_rollback
                && let Some(t) = p
                    .read(
                        "codedeploy:GetDeploymentTarget",
                        codedeploy::get_target(clients, &current, &mut target_id),
                    )
                    .await?
                && let Some(t) = t
            {
                target_changed = target
                    .as_ref()
                    .map(|o| o.status != t.status)
                    .unwrap_or(true);
                for e in &t.lifecycle {
                    if lifecycle_seen.get(&e.name) != Some(&e.status) && e.status != "Pending" {
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
                if ending_from.is_none() && t.traffic_done() {
                    // The wait began at most one poll ago.
                    let wait = opts.termination_wait.unwrap_or_default();
                    ending_from = Some((now + wait).saturating_sub(opts.poll));
                }
                target = Some(t);
            }
        }
        let target_busy = target
            .as_ref()
            .map(|t| t.status == "InProgress" || t.status == "Pending")
            .unwrap_or(false);
        let due = deployment_due(
            near_end(in_rollback, stop_requested, ending_from, now),
            next_deployment,
            last_deployment_read,
            opts.final_poll,
        );
        if (now >= due || target_changed || !target_busy)
            && let Some(d) = p
                .read(
                    "codedeploy:GetDeployment",
                    codedeploy::get_deployment(clients, &current),
                )
                .await?
        {
            next_deployment = now + opts.deployment_poll;
            last_deployment_read = Some(now);
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
                    stopped_by_us,
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
                        stopped_by_us = true;
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
                last_deployment_read = None;
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
        let mut wake = next_target.min(deployment_due(
            near_end(in_rollback, stop_requested, ending_from, now),
            next_deployment,
            last_deployment_read,
            opts.final_poll,
        ));
        if let Some(from) = ending_from
            && from > now
        {
            wake = wake.min(from);
        }
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

/// The end is near: a rollback or a stop is being followed, or the termination wait may
/// be over.
fn near_end(
    in_rollback: bool,
    stop_requested: bool,
    ending_from: Option<Duration>,
    now: Duration,
) -> bool {
    in_rollback || stop_requested || ending_from.is_some_and(|from| now >= from)
}

/// When GetDeployment is next due: every `final_poll` once the end is near, else at the
/// regular schedule.
fn deployment_due(
    ending: bool,
    next_deployment: Duration,
    last_read: Option<Duration>,
    final_poll: Duration,
) -> Duration {
    if ending {
        last_read.map_or(Duration::ZERO, |t| t + final_poll)
    } else {
        next_deployment
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::clock::FakeClock;
    use crate::deploy::events::Collect;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
    use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
    use aws_sdk_codedeploy::operation::get_deployment_target::GetDeploymentTargetOutput;
    use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput;
    use aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentOutput;
    use aws_sdk_codedeploy::types::{
        DeploymentInfo, DeploymentStatus as S, DeploymentTarget, EcsTarget, EcsTaskSet,
        RollbackInfo, TargetLabel, TargetStatus,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn info(id: &str, status: S, rollback: Option<&str>) -> GetDeploymentOutput {
        let mut d = DeploymentInfo::builder()
            .deployment_id(id)
            .status(status)
            .application_name("app")
            .deployment_group_name("dg");
        if let Some(r) = rollback {
            d = d.rollback_info(RollbackInfo::builder().rollback_deployment_id(r).build());
        }
        GetDeploymentOutput::builder()
            .deployment_info(d.build())
            .build()
    }

    fn target(green: f64) -> GetDeploymentTargetOutput {
        target_with(TargetStatus::InProgress, green, &[])
    }

    /// A target with `green` % of traffic on green and these lifecycle events succeeded.
    fn target_with(
        status: TargetStatus,
        green: f64,
        succeeded: &[&str],
    ) -> GetDeploymentTargetOutput {
        use aws_sdk_codedeploy::types::{LifecycleEvent, LifecycleEventStatus};
        let set = |label: TargetLabel, w: f64| {
            EcsTaskSet::builder()
                .identifer(format!("ecs-svc/{w}"))
                .task_set_label(label)
                .traffic_weight(w)
                .build()
        };
        let mut t = EcsTarget::builder()
            .status(status)
            .task_sets_info(set(TargetLabel::Blue, 100.0 - green))
            .task_sets_info(set(TargetLabel::Green, green));
        for name in succeeded {
            t = t.lifecycle_events(
                LifecycleEvent::builder()
                    .lifecycle_event_name(*name)
                    .status(LifecycleEventStatus::Succeeded)
                    .build(),
            );
        }
        GetDeploymentTargetOutput::builder()
            .deployment_target(DeploymentTarget::builder().ecs_target(t.build()).build())
            .build()
    }

    fn alarms(state: StateValue) -> DescribeAlarmsOutput {
        DescribeAlarmsOutput::builder()
            .metric_alarms(
                MetricAlarm::builder()
                    .alarm_name("web-5xx")
                    .state_value(state)
                    .state_reason("Threshold Crossed")
                    .build(),
            )
            .build()
    }

    /// Clients whose CodeDeploy and CloudWatch answer from the given rules; the other
    /// services have none, so any call to them fails the test.
    fn clients(
        codedeploy: &[&aws_smithy_mocks::Rule],
        cloudwatch: &[&aws_smithy_mocks::Rule],
    ) -> Clients {
        let empty: [&aws_smithy_mocks::Rule; 0] = [];
        Clients {
            ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &empty),
            ecr: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, &empty),
            codedeploy: mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, codedeploy),
            cloudwatch: mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, cloudwatch),
            logs: mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, &empty),
            region: "us-east-1".into(),
        }
    }

    /// An alarm during the shift: shipwatch stops the deployment once, then follows the
    /// rollback deployment to Succeeded, all on virtual time.
    #[tokio::test]
    async fn alarm_stops_once_and_rollback_is_followed() {
        let list = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
            ListDeploymentTargetsOutput::builder()
                .target_ids("c:s")
                .build()
        });
        let tgt = mock!(aws_sdk_codedeploy::Client::get_deployment_target)
            .sequence()
            .output(|| target(0.0))
            .output(|| target(10.0))
            .repeatedly()
            .build();
        let main = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-1"))
            .sequence()
            .output(|| info("d-1", S::InProgress, None))
            .times(2)
            .output(|| info("d-1", S::Stopped, Some("d-2")))
            .repeatedly()
            .build();
        let rb = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-2"))
            .sequence()
            .output(|| info("d-2", S::InProgress, None))
            .output(|| info("d-2", S::Succeeded, None))
            .repeatedly()
            .build();
        let stop = mock!(aws_sdk_codedeploy::Client::stop_deployment)
            .match_requests(|r| {
                r.deployment_id() == Some("d-1") && r.auto_rollback_enabled() == Some(true)
            })
            .then_output(|| StopDeploymentOutput::builder().build());
        let alarm = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .sequence()
            .output(|| alarms(StateValue::Ok))
            .output(|| alarms(StateValue::Alarm))
            .repeatedly()
            .build();
        let clients = clients(&[&list, &tgt, &main, &rb, &stop], &[&alarm]);
        let opts = WatchOptions {
            alarms: vec!["web-5xx".into()],
            timeout: Duration::from_secs(600),
            ..Default::default()
        };
        let clock = FakeClock::default();
        let mut sink = Collect::default();
        let w = watch(&clients, &clock, &mut sink, "d-1", &opts)
            .await
            .unwrap();
        assert_eq!(w.outcome, Outcome::RolledBack);
        assert!(w.stopped_by_us);
        assert_eq!(stop.num_calls(), 1, "StopDeployment is called exactly once");
        assert_eq!(w.rollback.as_ref().map(|r| r.id.as_str()), Some("d-2"));
        assert_eq!(
            w.fired,
            vec![("web-5xx".to_string(), Some("Threshold Crossed".to_string()))]
        );
        let kinds: Vec<&str> = sink
            .0
            .iter()
            .filter_map(|e| match e {
                Event::AlarmFired { .. } => Some("alarm"),
                Event::StopRequested { .. } => Some("stop"),
                Event::RollbackStarted { .. } => Some("rollback"),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, ["alarm", "stop", "rollback"]);
        // Virtual time: the alarm was seen on the second alarm poll, so well under a minute passed.
        assert!(
            clock.elapsed() < Duration::from_secs(60),
            "{:?}",
            clock.elapsed()
        );
    }

    /// After the shift, GetDeployment is read every second only from shortly before the
    /// termination wait can end: the exit follows the terminal state within a poll of
    /// `final_poll`, without a second-by-second poll through the whole deployment. The
    /// target id is listed once.
    #[tokio::test]
    async fn the_end_of_the_termination_wait_is_seen_within_a_second() {
        const END: Duration = Duration::from_secs(57);
        let clock = FakeClock::default();
        let done_target =
            |status: TargetStatus| target_with(status, 100.0, &["Install", "AllowTraffic"]);
        let list = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
            ListDeploymentTargetsOutput::builder()
                .target_ids("c:s")
                .build()
        });
        let c1 = clock.clone();
        let tgt = mock!(aws_sdk_codedeploy::Client::get_deployment_target).then_output(move || {
            done_target(if c1.elapsed() >= END {
                TargetStatus::Succeeded
            } else {
                TargetStatus::InProgress
            })
        });
        let c2 = clock.clone();
        let main = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || {
            info(
                "d-1",
                if c2.elapsed() >= END {
                    S::Succeeded
                } else {
                    S::InProgress
                },
                None,
            )
        });
        let clients = clients(&[&list, &tgt, &main], &[]);
        let opts = WatchOptions {
            termination_wait: Some(Duration::from_secs(60)),
            timeout: Duration::from_secs(600),
            ..Default::default()
        };
        let mut sink = Collect::default();
        let w = watch(&clients, &clock, &mut sink, "d-1", &opts)
            .await
            .unwrap();
        assert_eq!(w.outcome, Outcome::Succeeded);
        let late = clock.elapsed() - END;
        assert!(late <= opts.final_poll, "seen {late:?} after the end");
        assert_eq!(list.num_calls(), 1, "the target id is listed once");
        // The initial read, then one a second from 50 s (wait 60 s less one target poll).
        assert!(
            main.num_calls() <= 10,
            "{} GetDeployment calls",
            main.num_calls()
        );
    }

    /// A deployment that never ends is given up on at the timeout, with no stop.
    #[tokio::test]
    async fn timeout_leaves_the_deployment_running() {
        let list = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
            ListDeploymentTargetsOutput::builder()
                .target_ids("c:s")
                .build()
        });
        let tgt =
            mock!(aws_sdk_codedeploy::Client::get_deployment_target).then_output(|| target(50.0));
        let main = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .then_output(|| info("d-1", S::InProgress, None));
        let clients = clients(&[&list, &tgt, &main], &[]);
        let opts = WatchOptions {
            timeout: Duration::from_secs(300),
            ..Default::default()
        };
        let clock = FakeClock::default();
        let mut sink = Collect::default();
        let w = watch(&clients, &clock, &mut sink, "d-1", &opts)
            .await
            .unwrap();
        assert_eq!(w.outcome, Outcome::TimedOut);
        assert!(!w.stopped_by_us);
        assert!(clock.elapsed() >= Duration::from_secs(300));
        assert!(
            sink.0.iter().any(|e| matches!(e, Event::Tick { .. })),
            "heartbeat ticks were emitted"
        );
    }
}
