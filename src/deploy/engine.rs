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
use std::path::PathBuf;
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
    /// How long reads may keep failing (AWS unreachable, hung, throttled past the
    /// retries) before the watch gives up; each failure is reported and retried.
    pub outage_budget: Duration,
    /// The state file, named in the message when AWS is lost.
    pub state_file: Option<PathBuf>,
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
            outage_budget: Duration::from_secs(180),
            state_file: None,
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
    /// When the current run of failed reads began; `None` after a successful read.
    failing_since: Option<Duration>,
    budget: Duration,
    /// Reads give up waiting at the deployment timeout.
    deadline: Duration,
    tick: Duration,
    last_emit: Duration,
}

impl<C: Clock> Poller<'_, C> {
    fn emit(&mut self, e: Event) {
        let now = self.clock.elapsed();
        self.sink.emit(now, &e);
        self.last_emit = now;
    }

    /// Runs one AWS read. It never outlives the deadline (then `None`: the loop ends the
    /// watch as timed out), and while it hangs a line says so every `tick`. A transient
    /// failure is reported and retried at the next poll until reads have failed for the
    /// outage budget; then, and for any other error, the error is returned.
    async fn read<T>(
        &mut self,
        op: &str,
        fut: impl std::future::Future<Output = Result<T>> + Send,
    ) -> Result<Option<T>> {
        let mut fut = std::pin::pin!(fut);
        let started = self.clock.elapsed();
        let result = loop {
            let now = self.clock.elapsed();
            if now >= self.deadline {
                return Ok(None);
            }
            let wake = (self.last_emit + self.tick)
                .max(now + Duration::from_millis(50))
                .min(self.deadline);
            match self.clock.within(wake - now, fut.as_mut()).await {
                Some(r) => break r,
                None if self.clock.elapsed() >= self.deadline => return Ok(None),
                None => self.emit(Event::Waiting {
                    operation: op.to_owned(),
                    waited: self.clock.elapsed().saturating_sub(started),
                }),
            }
        };
        match result {
            Ok(v) => {
                self.failing_since = None;
                Ok(Some(v))
            }
            Err(e) if e.is_transient() => {
                let now = self.clock.elapsed();
                let since = *self.failing_since.get_or_insert(started);
                if now.saturating_sub(since) >= self.budget {
                    return Err(e);
                }
                let message = match &e {
                    Error::Aws { cause, .. } => cause.clone(),
                    other => other.to_string(),
                };
                self.emit(Event::Retrying {
                    operation: op.to_owned(),
                    message,
                    failing_for: now.saturating_sub(since),
                    budget: self.budget,
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
    let mut w = Watch::new(clients, clock, sink, id, opts);
    let r = run(&mut w).await;
    match r {
        Ok(o) => Ok(w.into_outcome(o, clock.elapsed())),
        Err(e) if e.is_transient() => Err(w.lost(e)),
        Err(e) => Err(e),
    }
}

/// The loop itself; returns how the watch ended.
async fn run<C: Clock>(w: &mut Watch<'_, C>) -> Result<Outcome> {
    let clock = w.p.clock;
    let opts = w.opts;
    loop {
        let now = clock.elapsed();
        if now.saturating_sub(w.start) >= opts.timeout {
            return Ok(Outcome::TimedOut);
        }
        w.poll_alarms(now).await?;
        let target_changed = w.poll_target(now).await?;
        w.poll_deployment(now, target_changed).await?;
        match w.decide(now) {
            Decision::Finish(o) => return Ok(o),
            Decision::StopForAlarm(names) => {
                w.stop_for_alarm(&names).await?;
                continue;
            }
            Decision::FollowRollback(rid) => {
                w.follow_rollback(rid);
                continue;
            }
            Decision::Wait => {}
        }
        let now = clock.elapsed();
        w.tick(now);
        clock.sleep(w.nap(now)).await;
    }
}

/// What the watch loop knows between polls: the deployment being followed, what was
/// last seen of it and when each read is next due.
struct Watch<'a, C: Clock> {
    p: Poller<'a, C>,
    clients: &'a Clients,
    opts: &'a WatchOptions,
    /// The deployment the watch was asked for.
    id: &'a str,
    start: Duration,
    /// The deployment being polled: `id`, or its rollback once that is followed.
    current: String,
    in_rollback: bool,
    deployment: Option<Deployment>,
    rollback: Option<Deployment>,
    target: Option<Target>,
    target_id: Option<String>,
    /// Watched alarms in ALARM at the last alarm poll.
    firing: Vec<String>,
    fired: Vec<(String, Option<String>)>,
    stop_requested: bool,
    // Only a stop CodeDeploy accepted from us; one it had already made itself is not ours.
    stopped_by_us: bool,
    /// When the original deployment was first seen terminal.
    terminal_at: Option<Duration>,
    lifecycle_seen: BTreeMap<String, String>,
    // When the end of the termination wait may come: from then on GetDeployment is
    // read every `final_poll`.
    ending_from: Option<Duration>,
    last_status: String,
    last_green: Option<f64>,
    max_green: f64,
    next_target: Duration,
    next_alarm: Duration,
    next_deployment: Duration,
    last_deployment_read: Option<Duration>,
}

impl<'a, C: Clock> Watch<'a, C> {
    /// A watch of `id` starting now, with every read due at once.
    fn new(
        clients: &'a Clients,
        clock: &'a C,
        sink: &'a mut dyn Sink,
        id: &'a str,
        opts: &'a WatchOptions,
    ) -> Self {
        let start = clock.elapsed();
        Watch {
            p: Poller {
                clock,
                sink,
                failing_since: None,
                budget: opts.outage_budget,
                deadline: start + opts.timeout,
                tick: opts.tick,
                last_emit: start,
            },
            clients,
            opts,
            id,
            start,
            current: id.to_owned(),
            in_rollback: false,
            deployment: None,
            rollback: None,
            target: None,
            target_id: None,
            firing: Vec::new(),
            fired: Vec::new(),
            stop_requested: false,
            stopped_by_us: false,
            terminal_at: None,
            lifecycle_seen: BTreeMap::new(),
            ending_from: None,
            last_status: String::new(),
            last_green: None,
            max_green: 0.0,
            next_target: start,
            next_alarm: start,
            next_deployment: start,
            last_deployment_read: None,
        }
    }

    /// Emits `e` and notes the time, which postpones the next `Tick`.
    fn emit(&mut self, e: Event) {
        self.p.emit(e);
    }

    /// Whether the alarms are polled: only while the original deployment runs and we
    /// have not stopped it yet.
    fn watching_alarms(&self) -> bool {
        !self.in_rollback && !self.stop_requested && !self.opts.alarms.is_empty()
    }

    /// Reads the watched alarms when due; records and reports those newly in ALARM.
    async fn poll_alarms(&mut self, now: Duration) -> Result<()> {
        if !self.watching_alarms() || now < self.next_alarm {
            return Ok(());
        }
        self.next_alarm = now + self.opts.alarm_poll;
        let Some(alarms) = self
            .p
            .read(
                "cloudwatch:DescribeAlarms",
                cloudwatch::describe_alarms(self.clients, &self.opts.alarms),
            )
            .await?
        else {
            return Ok(());
        };
        self.firing.clear();
        for a in alarms.iter().filter(|a| a.state == "ALARM") {
            self.firing.push(a.name.clone());
            if !self.fired.iter().any(|(n, _)| n == &a.name) {
                self.fired.push((a.name.clone(), a.reason.clone()));
                self.emit(Event::AlarmFired {
                    alarm: a.name.clone(),
                    reason: a.reason.clone(),
                });
            }
        }
        Ok(())
    }

    /// Reads the ECS target when due (not during a rollback); reports lifecycle and
    /// traffic changes. Returns whether the target's status changed.
    async fn poll_target(&mut self, now: Duration) -> Result<bool> {
        if now < self.next_target {
            return Ok(false);
        }
        self.next_target = now + self.opts.poll;
        if self.in_rollback {
            return Ok(false);
        }
        let mut target_id = self.target_id.clone();
        let read = self
            .p
            .read(
                "codedeploy:GetDeploymentTarget",
                codedeploy::get_target(self.clients, &self.current, &mut target_id),
            )
            .await?;
        self.target_id = target_id;
        let Some(Some(t)) = read else {
            return Ok(false);
        };
        let changed = self
            .target
            .as_ref()
            .map(|o| o.status != t.status)
            .unwrap_or(true);
        for e in &t.lifecycle {
            if self.lifecycle_seen.get(&e.name) != Some(&e.status) && e.status != "Pending" {
                self.lifecycle_seen.insert(e.name.clone(), e.status.clone());
                self.emit(Event::Lifecycle {
                    deployment_id: self.current.clone(),
                    name: e.name.clone(),
                    status: e.status.clone(),
                });
            }
        }
        if let Some(g) = t.green_weight() {
            self.max_green = self.max_green.max(g);
            if self.last_green != Some(g) {
                self.last_green = Some(g);
                self.emit(Event::Traffic {
                    deployment_id: self.current.clone(),
                    green_percent: g,
                });
            }
        }
        if self.ending_from.is_none() && t.traffic_done() {
            // The wait began at most one poll ago.
            let wait = self.opts.termination_wait.unwrap_or_default();
            self.ending_from = Some((now + wait).saturating_sub(self.opts.poll));
        }
        self.target = Some(t);
        Ok(changed)
    }

    /// Reads the followed deployment when due, when the target changed or is no longer
    /// busy; reports status changes.
    async fn poll_deployment(&mut self, now: Duration, target_changed: bool) -> Result<()> {
        let target_busy = self
            .target
            .as_ref()
            .map(|t| t.status == "InProgress" || t.status == "Pending")
            .unwrap_or(false);
        // The target carries traffic and lifecycle; GetDeployment is read when the target
        // suggests a change, after a stop, and at least every `deployment_poll`.
        if now < self.deployment_due(now) && !target_changed && target_busy {
            return Ok(());
        }
        let Some(d) = self
            .p
            .read(
                "codedeploy:GetDeployment",
                codedeploy::get_deployment(self.clients, &self.current),
            )
            .await?
        else {
            return Ok(());
        };
        self.next_deployment = now + self.opts.deployment_poll;
        self.last_deployment_read = Some(now);
        let status = d.status.to_string();
        if status != self.last_status {
            self.last_status = status.clone();
            self.emit(Event::Status {
                deployment_id: self.current.clone(),
                status,
            });
        }
        if self.in_rollback {
            self.rollback = Some(d);
        } else {
            if d.status.is_terminal() && self.terminal_at.is_none() {
                self.terminal_at = Some(now);
            }
            self.deployment = Some(d);
        }
        Ok(())
    }

    /// What to do next, from what has been seen so far (see `decide`).
    fn decide(&self, now: Duration) -> Decision {
        match (self.in_rollback, &self.deployment, &self.rollback) {
            (true, _, Some(rb)) => decide_rollback(rb),
            (false, Some(d), _) => decide_main(&Main {
                deployment: d,
                firing: &self.firing,
                stop_on_alarm: self.opts.stop_on_alarm,
                stop_requested: self.stop_requested,
                expect_rollback: self.opts.expect_rollback || self.stop_requested,
                terminal_for: self
                    .terminal_at
                    .map(|t| now.saturating_sub(t))
                    .unwrap_or_default(),
                rollback_grace: self.opts.rollback_grace,
            }),
            _ => Decision::Wait,
        }
    }

    /// Stops the deployment with rollback because the alarms `names` fire; GetDeployment
    /// is read again at once.
    async fn stop_for_alarm(&mut self, names: &[String]) -> Result<()> {
        let why = format!("alarm {} in ALARM", names.join(", "));
        // A stop that failed transiently is asked again at the next turn of the loop:
        // the alarm still fires, so `decide` says to stop again.
        let Some(outcome) = self
            .p
            .read(
                "codedeploy:StopDeployment",
                codedeploy::stop(self.clients, &self.current, true),
            )
            .await?
        else {
            return Ok(());
        };
        match outcome {
            codedeploy::StopOutcome::Requested { .. } => {
                self.stop_requested = true;
                self.stopped_by_us = true;
                self.p.emit(Event::StopRequested {
                    deployment_id: self.current.clone(),
                    rollback: true,
                    why,
                });
            }
            // It ended on its own in the meantime; the next poll shows how.
            codedeploy::StopOutcome::AlreadyCompleted(_) => self.stop_requested = true,
        }
        self.p.last_emit = self.p.clock.elapsed();
        self.next_deployment = self.p.clock.elapsed();
        Ok(())
    }

    /// Follows rollback deployment `rid` from now on instead of the original one.
    fn follow_rollback(&mut self, rid: String) {
        self.emit(Event::RollbackStarted {
            deployment_id: self.current.clone(),
            rollback_id: rid.clone(),
        });
        self.current = rid;
        self.in_rollback = true;
        self.last_status.clear();
        self.last_deployment_read = None;
    }

    /// Emits a `Tick` heartbeat when nothing was emitted for `tick`.
    fn tick(&mut self, now: Duration) {
        if now.saturating_sub(self.p.last_emit) < self.opts.tick {
            return;
        }
        self.p.emit(Event::Tick {
            deployment_id: self.current.clone(),
            status: self.last_status.clone(),
            green_percent: self.last_green,
            lifecycle: self
                .target
                .as_ref()
                .and_then(|t| t.current_event())
                .map(|e| format!("{} {}", e.name, e.status)),
            elapsed: now - self.start,
        });
    }

    /// How long to sleep: until the next read is due, at least 50 ms, at most a tick.
    fn nap(&self, now: Duration) -> Duration {
        let mut wake = self.next_target.min(self.deployment_due(now));
        if let Some(from) = self.ending_from
            && from > now
        {
            wake = wake.min(from);
        }
        if self.watching_alarms() {
            wake = wake.min(self.next_alarm);
        }
        wake = wake.min(self.p.deadline);
        wake.saturating_sub(now)
            .max(Duration::from_millis(50))
            .min(self.opts.tick)
    }

    /// The error when AWS stayed unreachable for the outage budget: the last failure,
    /// and that the deployment is still running as far as shipwatch knows, with the
    /// commands to follow or stop it.
    fn lost(&self, e: Error) -> Error {
        let Error::Aws {
            operation,
            cause,
            message,
            transient,
        } = e
        else {
            return e;
        };
        let id = self.id;
        let status = self
            .deployment
            .as_ref()
            .map(|d| d.status.to_string())
            .unwrap_or_else(|| "not read yet".into());
        let rollback = if self.in_rollback {
            format!(" and its rollback {} is in progress", self.current)
        } else {
            String::new()
        };
        let state = self
            .opts
            .state_file
            .as_ref()
            .map(|p| format!(" The state file is {}.", p.display()))
            .unwrap_or_default();
        let message = format!(
            "AWS reads kept failing for {} (the outage budget), so shipwatch stopped watching. Last failure: {message} Deployment {id} is still running in CodeDeploy as far as shipwatch knows (last seen: {status}){rollback}; shipwatch did not stop it.{state} Follow it with `shipwatch watch {id}` or stop it with `shipwatch stop {id}` once AWS answers again.",
            super::progress::fmt_elapsed(self.opts.outage_budget),
        );
        Error::Aws {
            operation,
            cause,
            message,
            transient,
        }
    }

    /// The end is near: a rollback or a stop is being followed, or the termination wait
    /// may be over.
    fn near_end(&self, now: Duration) -> bool {
        self.in_rollback || self.stop_requested || self.ending_from.is_some_and(|from| now >= from)
    }

    /// When GetDeployment is next due: every `final_poll` once the end is near, else at
    /// the regular schedule.
    fn deployment_due(&self, now: Duration) -> Duration {
        if self.near_end(now) {
            self.last_deployment_read
                .map_or(Duration::ZERO, |t| t + self.opts.final_poll)
        } else {
            self.next_deployment
        }
    }

    /// How the watch ended with `outcome` at `now`, for the summary and the report.
    fn into_outcome(self, outcome: Outcome, now: Duration) -> Watched {
        let id = self.id;
        let deployment = self.deployment.unwrap_or_else(|| Deployment {
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
            rollback: self.rollback,
            fired: self.fired,
            stopped_by_us: self.stopped_by_us,
            max_green: self.max_green,
            last_target: self.target,
            elapsed: now - self.start,
        }
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

    /// Clients whose CodeDeploy answers from `rules` with no SDK retries, so each
    /// failure reaches the watch loop at once.
    fn failing_clients(rules: &[&aws_smithy_mocks::Rule]) -> Clients {
        use aws_sdk_codedeploy::config::retry::RetryConfig;
        let c = clients(&[], &[]);
        Clients {
            codedeploy: mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, rules, |b| b
                .retry_config(RetryConfig::disabled())),
            ..c
        }
    }

    fn unavailable() -> aws_sdk_codedeploy::operation::get_deployment::GetDeploymentError {
        aws_sdk_codedeploy::operation::get_deployment::GetDeploymentError::generic(
            aws_sdk_codedeploy::error::ErrorMetadata::builder()
                .code("ServiceUnavailable")
                .message("Service is unavailable, try again later.")
                .build(),
        )
    }

    /// AWS lost mid-watch: every failed poll is reported with how long reads have been
    /// failing, and after the outage budget the watch ends with exit 9's error naming
    /// the deployment, that it still runs, the state file and both commands.
    #[tokio::test]
    async fn losing_aws_ends_after_the_outage_budget_with_the_way_back() {
        use aws_sdk_codedeploy::operation::get_deployment_target::GetDeploymentTargetError;
        let list = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
            ListDeploymentTargetsOutput::builder()
                .target_ids("c:s")
                .build()
        });
        let tgt = mock!(aws_sdk_codedeploy::Client::get_deployment_target).then_error(|| {
            GetDeploymentTargetError::generic(
                aws_sdk_codedeploy::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .build(),
            )
        });
        let main = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .sequence()
            .output(|| info("d-1", S::InProgress, None))
            .error(unavailable)
            .repeatedly()
            .build();
        let clients = failing_clients(&[&list, &tgt, &main]);
        let opts = WatchOptions {
            timeout: Duration::from_secs(3600),
            outage_budget: Duration::from_secs(120),
            state_file: Some("out/deploy-state.json".into()),
            ..Default::default()
        };
        let clock = FakeClock::default();
        let mut sink = Collect::default();
        let err = watch(&clients, &clock, &mut sink, "d-1", &opts)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::AWS_ERROR);
        let msg = err.to_string();
        for needle in [
            "d-1 is still running in CodeDeploy",
            "out/deploy-state.json",
            "`shipwatch watch d-1`",
            "`shipwatch stop d-1`",
            "InProgress",
        ] {
            assert!(msg.contains(needle), "{needle:?} missing: {msg}");
        }
        assert!(
            !msg.contains("Error {") && !msg.contains("DispatchFailure"),
            "{msg}"
        );
        let t = clock.elapsed();
        assert!(
            t >= Duration::from_secs(120) && t < Duration::from_secs(135),
            "gave up after {t:?}"
        );
        let retries: Vec<Duration> = sink
            .0
            .iter()
            .filter_map(|e| match e {
                Event::Retrying { failing_for, .. } => Some(*failing_for),
                _ => None,
            })
            .collect();
        assert!(retries.len() >= 3, "{retries:?}");
        assert!(retries.windows(2).all(|w| w[0] <= w[1]), "{retries:?}");
    }

    /// Failed reads in between do not change the outcome: the poll after them sees the
    /// deployment succeed.
    #[tokio::test]
    async fn a_short_outage_is_ridden_out() {
        let list = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
            ListDeploymentTargetsOutput::builder()
                .target_ids("c:s")
                .build()
        });
        let tgt = mock!(aws_sdk_codedeploy::Client::get_deployment_target).then_output(|| {
            target_with(TargetStatus::Succeeded, 100.0, &["Install", "AllowTraffic"])
        });
        let main = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .sequence()
            .error(unavailable)
            .times(4)
            .output(|| info("d-1", S::Succeeded, None))
            .repeatedly()
            .build();
        let clients = failing_clients(&[&list, &tgt, &main]);
        let opts = WatchOptions {
            timeout: Duration::from_secs(600),
            ..Default::default()
        };
        let clock = FakeClock::default();
        let mut sink = Collect::default();
        let w = watch(&clients, &clock, &mut sink, "d-1", &opts)
            .await
            .unwrap();
        assert_eq!(w.outcome, Outcome::Succeeded);
        assert_eq!(
            sink.0
                .iter()
                .filter(|e| matches!(e, Event::Retrying { .. }))
                .count(),
            4
        );
    }
}
