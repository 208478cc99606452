//! The watch loop: polls the deployment, its ECS target and the watched alarms, stops
//! the deployment itself when an alarm fires, follows a rollback to its end. Emits
//! events and never prints; all timing goes through the `Clock` seam.

use super::clock::Clock;
use super::decide::{Decision, Main, Outcome, decide_main, decide_rollback};
use super::events::{Event, Sink};
use super::judge::JudgeConfig;
use super::judge_metrics::MetricJudging;
use super::judging::{JudgeReport, Judging};
use crate::aws::colour_logs::{ColourLogs, Line, LogSource};
use crate::aws::model::{Alarm, Deployment, Target};
use crate::aws::tg_metrics::{TgCounts, TgMetrics};
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
    /// Told about StopDeployment, so a signal lets it finish.
    pub mutations: MutationHook,
    /// The green-vs-blue judge on the task logs; `None` leaves the alarms alone to guard.
    pub judge: Option<JudgeConfig>,
    /// Where the deployed task definition logs, when known before the watch: the judge
    /// need not look it up once green exists.
    pub judge_logs: Option<LogSource>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            alarms: Vec::new(),
            stop_on_alarm: true,
            poll: Duration::from_secs(10),
            alarm_poll: Duration::from_secs(4),
            deployment_poll: Duration::from_secs(60),
            final_poll: Duration::from_millis(500),
            termination_wait: None,
            tick: Duration::from_secs(30),
            timeout: Duration::from_secs(3600),
            expect_rollback: true,
            rollback_grace: Duration::from_secs(60),
            outage_budget: Duration::from_secs(180),
            state_file: None,
            mutations: MutationHook::default(),
            judge: None,
            judge_logs: None,
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
    /// Green's traffic share when the first watched alarm was seen in ALARM: what the
    /// trigger line reports, since traffic may shift further before the stop lands.
    pub green_at_alarm: Option<f64>,
    /// Whether the replacement task set ever existed (or the target was never read).
    pub replacement_seen: bool,
    pub last_target: Option<Target>,
    pub elapsed: Duration,
    /// What the judge concluded, when it ran.
    pub judge: Option<JudgeReport>,
    /// Why shipwatch stopped the deployment, when it did.
    pub stop_reason: Option<String>,
}

/// The AWS service a read goes to: an outage is counted per service, so alarm reads
/// that keep succeeding do not hide a CodeDeploy outage, nor the other way round.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Service {
    CodeDeploy,
    CloudWatch,
}

/// Most alarm reads in flight at once. Reads are started every `alarm_poll` even while
/// an earlier one is still out (slow or being retried), so the alarm cadence does not
/// stretch to the latency of a throttled call; the cap bounds the extra load.
const MAX_ALARM_READS: usize = 8;

/// Most GetDeployment reads in flight at once while the end is near (a stop or a
/// rollback being followed): a new one starts every `final_poll` even while an earlier
/// one is still out, so a slow or retried read does not delay seeing the end by its
/// whole latency. Otherwise one at a time.
const MAX_FINAL_READS: usize = 4;
/// GetDeploymentTarget reads in flight at most: a read retried for seconds (throttled,
/// failing) does not stop the next poll's read from starting, so traffic, lifecycle and
/// the end are not seen late by the whole retry.
const MAX_TARGET_READS: usize = 2;

/// The pause before a failed read is tried again, so a failing endpoint is not hammered.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// An AWS call under way, owned by the loop rather than awaited in place, so the other
/// reads go on while it is slow.
type Call<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>>;

/// A read under way and when it was started.
struct Pending<'a, T> {
    call: Call<'a, T>,
    since: Duration,
}

/// A target read's result with the target id it learned (listed once, then reused).
type TargetRead = (Option<Target>, Option<String>);

/// A judge read hands its reader back with the lines it read.
type JudgeRead = (ColourLogs, Result<Vec<Line>>);

/// A target-group metrics read hands its reader back with what it read.
type MetricsRead = (TgMetrics, Result<TgCounts>);

/// A read that finished, with when it was started.
enum Done {
    Alarms(Duration, Result<Vec<Alarm>>),
    Target(Duration, Result<TargetRead>),
    Deployment(Duration, Box<Result<Deployment>>),
    Judge(Box<JudgeRead>),
    Metrics(Box<MetricsRead>),
}

/// Polls the reads under way once each; the first that is ready is taken out.
fn poll_first(
    cx: &mut std::task::Context<'_>,
    alarms: &mut Vec<Pending<'_, Vec<Alarm>>>,
    targets: &mut Vec<Pending<'_, TargetRead>>,
    deployment: &mut Vec<Pending<'_, Deployment>>,
    judge: &mut Option<Pending<'_, JudgeRead>>,
    metrics: &mut Option<Pending<'_, MetricsRead>>,
) -> std::task::Poll<Done> {
    use std::task::Poll;
    for i in 0..alarms.len() {
        if let Poll::Ready(r) = alarms[i].call.as_mut().poll(cx) {
            let p = alarms.swap_remove(i);
            return Poll::Ready(Done::Alarms(p.since, r));
        }
    }
    for i in 0..targets.len() {
        if let Poll::Ready(r) = targets[i].call.as_mut().poll(cx) {
            let p = targets.swap_remove(i);
            return Poll::Ready(Done::Target(p.since, r));
        }
    }
    for i in 0..deployment.len() {
        if let Poll::Ready(r) = deployment[i].call.as_mut().poll(cx) {
            let p = deployment.swap_remove(i);
            return Poll::Ready(Done::Deployment(p.since, Box::new(r)));
        }
    }
    if let Some(p) = judge
        && let Poll::Ready(r) = p.call.as_mut().poll(cx)
    {
        *judge = None;
        // The judge's read never fails as a whole: the failure travels with the reader.
        if let Ok(read) = r {
            return Poll::Ready(Done::Judge(Box::new(read)));
        }
    }
    if let Some(p) = metrics
        && let Poll::Ready(r) = p.call.as_mut().poll(cx)
    {
        *metrics = None;
        if let Ok(read) = r {
            return Poll::Ready(Done::Metrics(Box::new(read)));
        }
    }
    Poll::Pending
}

struct Poller<'a, C: Clock> {
    clock: &'a C,
    sink: &'a mut dyn Sink,
    /// Per service, when the current run of failed reads began; `None` after a
    /// successful read.
    failing_since: [Option<Duration>; 2],
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

    /// Runs one AWS call in place (used for StopDeployment, which nothing may overlap).
    /// It never outlives the deadline (then `None`: the loop ends the watch as timed
    /// out), and while it hangs a line says so every `tick`.
    async fn read<T>(
        &mut self,
        service: Service,
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
        self.settle(service, op, started, result)
    }

    /// Takes a finished call's result. A transient failure is reported and becomes
    /// `None` (the read is tried again later) until reads of that service have failed
    /// for the outage budget; then, and for any other error, the error is returned.
    fn settle<T>(
        &mut self,
        service: Service,
        op: &str,
        started: Duration,
        result: Result<T>,
    ) -> Result<Option<T>> {
        let slot = service as usize;
        match result {
            Ok(v) => {
                self.failing_since[slot] = None;
                Ok(Some(v))
            }
            Err(e) if e.is_transient() => {
                let now = self.clock.elapsed();
                let since = *self.failing_since[slot].get_or_insert(started);
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

/// Told when the watch starts and ends a mutating call (StopDeployment), so a signal
/// handler lets it finish within its grace instead of dropping it half-way.
pub trait Mutations: Send + Sync {
    /// `false` when no mutating call may start any more (a signal arrived).
    fn begin(&self, operation: &'static str) -> bool;
    fn end(&self);
    /// The deployment as last read, once its end is in sight: the watch is about to stop
    /// it, or saw CodeDeploy roll it back. Its report can be gathered from then on.
    fn ending(&self, _deployment: &Deployment) {}
    /// The deployment as read once its green task set appeared: what the report needs
    /// to know about it no longer changes from then on.
    fn shifting(&self, _deployment: &Deployment) {}
}

/// The optional `Mutations` observer, cloneable and printable with the options.
#[derive(Clone, Default)]
pub struct MutationHook(pub Option<std::sync::Arc<dyn Mutations>>);

impl std::fmt::Debug for MutationHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "hooked" } else { "none" })
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

/// The loop itself; returns how the watch ended. The three reads run side by side:
/// each is started when due and handled when it answers, so a slow or throttled
/// CodeDeploy read never delays the alarm poll (and the stop that follows an alarm).
async fn run<C: Clock>(w: &mut Watch<'_, C>) -> Result<Outcome> {
    let clock = w.p.clock;
    let opts = w.opts;
    loop {
        let now = clock.elapsed();
        if now.saturating_sub(w.start) >= opts.timeout {
            return Ok(Outcome::TimedOut);
        }
        w.start_due(now);
        let nap = w.nap(now);
        let done = {
            let (a, t, d, j, m) = (
                &mut w.alarm_reads,
                &mut w.target_reads,
                &mut w.deployment_reads,
                &mut w.judge_read,
                &mut w.metrics_read,
            );
            clock
                .within(
                    nap,
                    std::future::poll_fn(|cx| poll_first(cx, a, t, d, j, m)),
                )
                .await
        };
        match done {
            Some(Done::Alarms(since, r)) => w.alarms_read(since, r)?,
            Some(Done::Target(since, r)) => w.target_read_done(since, r)?,
            Some(Done::Deployment(since, r)) => w.deployment_read_done(since, *r)?,
            Some(Done::Judge(read)) => w.judge_read_done(*read),
            Some(Done::Metrics(read)) => w.metrics_read_done(*read),
            None => {}
        }
        match w.decide(clock.elapsed()) {
            Decision::Finish(o) => return Ok(o),
            Decision::StopForAlarm(names) => {
                w.stop_for_alarm(&names).await?;
                continue;
            }
            Decision::StopForJudge(why) => {
                w.stop_with_rollback(why).await?;
                continue;
            }
            Decision::FollowRollback(rid) => {
                w.follow_rollback(rid);
                continue;
            }
            Decision::Wait => {}
        }
        w.tick(clock.elapsed());
    }
}

/// What the watch loop knows between polls: the deployment being followed, what was
/// last seen of it, the reads under way and when each read is next due.
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
    /// Green's share of traffic when the first watched alarm was seen in ALARM.
    green_at_alarm: Option<f64>,
    max_green: f64,
    /// A green task set appeared in the target at some point.
    green_seen: bool,
    /// The mutation hook was told green appeared (`Mutations::shifting`).
    shift_told: bool,
    next_target: Duration,
    next_alarm: Duration,
    next_deployment: Duration,
    last_deployment_read: Option<Duration>,
    /// The target changed or is no longer busy: GetDeployment is read next.
    deployment_wanted: bool,
    /// After a failed GetDeployment, not before this.
    deployment_retry_at: Duration,
    alarm_reads: Vec<Pending<'a, Vec<Alarm>>>,
    /// When the alarm read whose answer is in `firing` was started: an older read that
    /// answers later is ignored.
    alarms_as_of: Option<Duration>,
    target_reads: Vec<Pending<'a, TargetRead>>,
    /// When the newest target read that succeeded started.
    target_as_of: Option<Duration>,
    /// GetDeployment reads under way: one, or up to `MAX_FINAL_READS` near the end.
    deployment_reads: Vec<Pending<'a, Deployment>>,
    /// When the newest GetDeployment read was started.
    last_deployment_start: Option<Duration>,
    /// The judge, when on, and its read under way.
    judging: Option<Judging>,
    judge_read: Option<Pending<'a, JudgeRead>>,
    /// The judge's second source, the target groups' metrics, and its read under way.
    metric_judging: Option<MetricJudging>,
    metrics_read: Option<Pending<'a, MetricsRead>>,
    stop_reason: Option<String>,
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
                failing_since: [None; 2],
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
            green_at_alarm: None,
            max_green: 0.0,
            green_seen: false,
            shift_told: false,
            next_target: start,
            next_alarm: start,
            next_deployment: start,
            last_deployment_read: None,
            deployment_wanted: false,
            deployment_retry_at: start,
            alarm_reads: Vec::new(),
            alarms_as_of: None,
            target_reads: Vec::new(),
            target_as_of: None,
            deployment_reads: Vec::new(),
            last_deployment_start: None,
            judging: opts.judge.clone().map(|cfg| {
                let mut j = Judging::new(cfg);
                j.metrics = true;
                j.source = opts.judge_logs.clone();
                j
            }),
            judge_read: None,
            metric_judging: opts.judge.clone().map(MetricJudging::new),
            metrics_read: None,
            stop_reason: None,
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

    /// Starts the reads that are due and not already under way.
    fn start_due(&mut self, now: Duration) {
        let clients = self.clients;
        if self.watching_alarms()
            && now >= self.next_alarm
            && self.alarm_reads.len() < MAX_ALARM_READS
        {
            self.next_alarm = now + self.opts.alarm_poll;
            let names = &self.opts.alarms;
            self.alarm_reads.push(Pending {
                call: Box::pin(cloudwatch::describe_alarms(clients, names)),
                since: now,
            });
        }
        if !self.in_rollback
            && self.target_reads.len() < MAX_TARGET_READS
            && now >= self.next_target
        {
            self.next_target = now + self.opts.poll;
            let id = self.current.clone();
            let mut known = self.target_id.clone();
            self.target_reads.push(Pending {
                call: Box::pin(async move {
                    let t = codedeploy::get_target(clients, &id, &mut known).await?;
                    Ok((t, known))
                }),
                since: now,
            });
        }
        self.start_judge_read(now);
        self.start_metrics_read(now);
        if self.deployment_reads.len() < self.deployment_reads_allowed(now)
            && now >= self.deployment_retry_at
            && (self.deployment_wanted || now >= self.deployment_due(now))
        {
            self.deployment_wanted = false;
            self.last_deployment_start = Some(now);
            let id = self.current.clone();
            self.deployment_reads.push(Pending {
                call: Box::pin(async move { codedeploy::get_deployment(clients, &id).await }),
                since: now,
            });
        }
    }

    /// Records and reports the alarms newly in ALARM from a finished alarm read.
    fn alarms_read(&mut self, since: Duration, r: Result<Vec<Alarm>>) -> Result<()> {
        let Some(alarms) =
            self.p
                .settle(Service::CloudWatch, "cloudwatch:DescribeAlarms", since, r)?
        else {
            return Ok(());
        };
        if !self.watching_alarms() || self.alarms_as_of.is_some_and(|t| t > since) {
            return Ok(());
        }
        self.alarms_as_of = Some(since);
        self.firing.clear();
        for a in alarms.iter().filter(|a| a.state == "ALARM") {
            self.firing.push(a.name.clone());
            if !self.fired.iter().any(|(n, _)| n == &a.name) {
                if self.fired.is_empty() {
                    self.green_at_alarm = self.last_green;
                }
                self.fired.push((a.name.clone(), a.reason.clone()));
                self.emit(Event::AlarmFired {
                    alarm: a.name.clone(),
                    reason: a.reason.clone(),
                });
            }
        }
        Ok(())
    }

    /// Takes a finished target read: reports lifecycle and traffic changes, and asks
    /// for GetDeployment when the target's status changed or it is no longer busy.
    fn target_read_done(&mut self, since: Duration, r: Result<TargetRead>) -> Result<()> {
        let Some((t, known)) = self.p.settle(
            Service::CodeDeploy,
            "codedeploy:GetDeploymentTarget",
            since,
            r,
        )?
        else {
            return Ok(());
        };
        // Two reads may overlap: one started before the target already taken is older.
        if self.target_as_of.is_some_and(|t| t > since) {
            return Ok(());
        }
        self.target_id = known;
        self.target_as_of = Some(since);
        let Some(t) = t else {
            return Ok(());
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
            self.green_seen = true;
            self.max_green = self.max_green.max(g);
            if self.last_green != Some(g) {
                self.last_green = Some(g);
                self.emit(Event::Traffic {
                    deployment_id: self.current.clone(),
                    green_percent: g,
                });
            }
        }
        if t.traffic_done() {
            if let Some(m) = self.metric_judging.as_mut() {
                m.shift_over();
            }
            if let Some(e) = self.judging.as_mut().and_then(|j| j.shift_over()) {
                self.emit(e);
            }
        }
        if self.ending_from.is_none() && t.traffic_done() {
            // The wait began at most one poll ago.
            let wait = self.opts.termination_wait.unwrap_or_default();
            self.ending_from = Some((since + wait).saturating_sub(self.opts.poll));
        }
        let busy = t.status == "InProgress" || t.status == "Pending";
        // The target carries traffic and lifecycle; GetDeployment is read when the
        // target suggests a change, after a stop, and at least every `deployment_poll`.
        if changed || !busy {
            self.deployment_wanted = true;
        }
        self.target = Some(t);
        self.tell_shifting();
        Ok(())
    }

    /// Takes a finished GetDeployment of the followed deployment; reports status changes.
    fn deployment_read_done(&mut self, since: Duration, r: Result<Deployment>) -> Result<()> {
        let Some(d) = self
            .p
            .settle(Service::CodeDeploy, "codedeploy:GetDeployment", since, r)?
        else {
            self.deployment_retry_at = self.p.clock.elapsed() + RETRY_PAUSE;
            return Ok(());
        };
        // An answer about a deployment no longer followed (the rollback began meanwhile),
        // or older than one already taken (reads overlap near the end).
        if d.id != self.current || self.last_deployment_read.is_some_and(|t| t > since) {
            return Ok(());
        }
        self.next_deployment = since + self.opts.deployment_poll;
        self.last_deployment_read = Some(since);
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
                self.terminal_at = Some(since);
            }
            self.deployment = Some(d);
            self.tell_shifting();
        }
        Ok(())
    }
    /// Tells the mutation hook, once, that green appeared (with the deployment as read).
    fn tell_shifting(&mut self) {
        if self.shift_told || !self.green_seen || self.in_rollback {
            return;
        }
        if let (Some(h), Some(d)) = (&self.opts.mutations.0, &self.deployment) {
            h.shifting(d);
            self.shift_told = true;
        }
    }

    /// Whether a green task set has been seen in the target; true when the target was
    /// never read, so an unreadable target never cuts the rollback wait short.
    fn replacement_seen(&self) -> bool {
        self.green_seen || self.target.is_none()
    }

    /// Starts a read of the task logs for the judge when one is due: the judge is on
    /// and active, the original deployment is followed and green has traffic.
    fn start_judge_read(&mut self, now: Duration) {
        if self.in_rollback || self.stop_requested || self.judge_read.is_some() {
            return;
        }
        // The judge waits for green's traffic as the target shows it; when the target
        // has not been read for two polls (throttled, retried, hung) it reads anyway:
        // under such faults the weights lagged green's first requests by 17 s.
        let stale = self
            .target_as_of
            .is_some_and(|t| now.saturating_sub(t) > 2 * self.opts.poll);
        let Some(j) = self.judging.as_mut() else {
            return;
        };
        j.set_weights_stale(stale);
        let start_ms = self
            .deployment
            .as_ref()
            .and_then(|d| d.create_time)
            .map(|t| t.timestamp_millis());
        let Some(mut reader) = j.start_read(
            now,
            self.target_id.as_deref(),
            self.target.as_ref(),
            start_ms,
        ) else {
            return;
        };
        let clients = self.clients;
        self.judge_read = Some(Pending {
            call: Box::pin(async move {
                let r = reader.read(clients).await;
                Ok((reader, r))
            }),
            since: now,
        });
    }

    /// Takes a finished judge read and reports what changed.
    fn judge_read_done(&mut self, (reader, r): JudgeRead) {
        // A stop decided before the target showed any traffic on green (its reads
        // lagging) names no traffic share rather than a false 0 %.
        let green = self.last_green.filter(|g| *g > 0.0);
        let fired: Vec<String> = self.fired.iter().map(|(n, _)| n.clone()).collect();
        let Some(j) = self.judging.as_mut() else {
            return;
        };
        for e in j.read_done(reader, r, green, &fired) {
            self.p.emit(e);
        }
    }

    /// Starts a read of the target groups' metrics when one is due (as the log read).
    fn start_metrics_read(&mut self, now: Duration) {
        if self.in_rollback || self.stop_requested || self.metrics_read.is_some() {
            return;
        }
        let Some(m) = self.metric_judging.as_mut() else {
            return;
        };
        let start = self.deployment.as_ref().and_then(|d| d.create_time);
        let Some(mut reader) = m.start_read(now, self.target.as_ref(), start) else {
            return;
        };
        let clients = self.clients;
        self.metrics_read = Some(Pending {
            call: Box::pin(async move {
                let r = reader.read(clients).await;
                Ok((reader, r))
            }),
            since: now,
        });
    }

    /// Takes a finished metrics read and reports what changed.
    fn metrics_read_done(&mut self, (reader, r): MetricsRead) {
        let green = self.last_green;
        let fired: Vec<String> = self.fired.iter().map(|(n, _)| n.clone()).collect();
        let logs_unreadable = self.judging.as_ref().is_some_and(|j| j.unreadable());
        let Some(m) = self.metric_judging.as_mut() else {
            return;
        };
        for e in m.read_done(reader, r, logs_unreadable, green, &fired) {
            self.p.emit(e);
        }
    }

    /// The judge's reason to stop, while the deployment runs and is not being stopped:
    /// the task logs' or else the target groups' metrics'.
    fn judge_stop(&self) -> Option<String> {
        let d = self.deployment.as_ref()?;
        if self.in_rollback || self.stop_requested || d.status.is_terminal() {
            return None;
        }
        let logs = self.judging.as_ref().and_then(|j| j.stop_why.clone());
        logs.or_else(|| self.metric_judging.as_ref()?.stop_why.clone())
    }

    /// What to do next, from what has been seen so far (see `decide`).
    fn decide(&self, now: Duration) -> Decision {
        if let Some(why) = self.judge_stop() {
            return Decision::StopForJudge(why);
        }
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
                replacement_seen: self.replacement_seen(),
            }),
            _ => Decision::Wait,
        }
    }

    /// Stops the deployment with rollback because the alarms `names` fire; GetDeployment
    /// is read again at once.
    async fn stop_for_alarm(&mut self, names: &[String]) -> Result<()> {
        self.stop_with_rollback(format!("alarm {} in ALARM", names.join(", ")))
            .await
    }

    /// Stops the deployment with rollback for the reason `why`; GetDeployment is read
    /// again at once.
    async fn stop_with_rollback(&mut self, why: String) -> Result<()> {
        let hook = self.opts.mutations.0.clone();
        // After a signal no new stop is started: the signal handler reports what exists.
        if let Some(h) = &hook {
            if !h.begin("codedeploy:StopDeployment") {
                return Ok(());
            }
            if let Some(d) = &self.deployment {
                h.ending(d);
            }
        }
        // A stop that failed transiently is asked again at the next turn of the loop:
        // the alarm still fires, so `decide` says to stop again.
        let read = self
            .p
            .read(
                Service::CodeDeploy,
                "codedeploy:StopDeployment",
                codedeploy::stop(self.clients, &self.current, true),
            )
            .await;
        // The outcome is recorded (and emitted, which updates the state file) before the
        // call is marked done, so a signal handler waiting on it reports it.
        let outcome = match read {
            Ok(Some(o)) => o,
            Ok(None) => {
                if let Some(h) = &hook {
                    h.end();
                }
                return Ok(());
            }
            Err(e) => {
                if let Some(h) = &hook {
                    h.end();
                }
                return Err(e);
            }
        };
        match outcome {
            codedeploy::StopOutcome::Requested { .. } => {
                self.stop_requested = true;
                self.stopped_by_us = true;
                self.stop_reason = Some(why.clone());
                // Stopped for another reason before the judge could decide: it says why
                // (unless the metric test decided: the log test has nothing to add).
                let metrics_stopped = self
                    .metric_judging
                    .as_ref()
                    .is_some_and(|m| m.stop_why.is_some());
                if let Some(e) = self.judging.as_mut().and_then(|j| j.shift_over())
                    && !metrics_stopped
                {
                    self.p.emit(e);
                }
                self.p.emit(Event::StopRequested {
                    deployment_id: self.current.clone(),
                    rollback: true,
                    why,
                });
            }
            // It ended on its own in the meantime; the next poll shows how.
            codedeploy::StopOutcome::AlreadyCompleted(message) => {
                self.stop_requested = true;
                self.p.emit(Event::AlreadyEnded {
                    deployment_id: self.current.clone(),
                    message,
                });
            }
        }
        if let Some(h) = &hook {
            h.end();
        }
        // Alarm and judge reads still out are of no use any more.
        self.alarm_reads.clear();
        self.judge_read = None;
        self.metrics_read = None;
        if let Some(m) = self.metric_judging.as_mut() {
            m.shift_over();
        }
        self.p.last_emit = self.p.clock.elapsed();
        self.next_deployment = self.p.clock.elapsed();
        Ok(())
    }

    /// Follows rollback deployment `rid` from now on instead of the original one.
    fn follow_rollback(&mut self, rid: String) {
        if let (Some(h), Some(d)) = (&self.opts.mutations.0, &self.deployment) {
            h.ending(d);
        }
        self.emit(Event::RollbackStarted {
            deployment_id: self.current.clone(),
            rollback_id: rid.clone(),
        });
        self.current = rid;
        self.in_rollback = true;
        // Reads under way are about the original deployment.
        self.alarm_reads.clear();
        self.target_reads.clear();
        self.judge_read = None;
        self.metrics_read = None;
        self.deployment_reads.clear();
        self.deployment_retry_at = self.p.clock.elapsed();
        self.last_status.clear();
        self.last_deployment_read = None;
        self.last_deployment_start = None;
    }

    /// Emits a `Tick` heartbeat when nothing was emitted for `tick`.
    fn tick(&mut self, now: Duration) {
        if now.saturating_sub(self.p.last_emit) < self.opts.tick {
            return;
        }
        // A read hanging for a tick or more is named instead of a plain heartbeat.
        let oldest = [
            self.target_reads
                .iter()
                .map(|p| p.since)
                .min()
                .map(|t| ("codedeploy:GetDeploymentTarget", t)),
            self.deployment_reads
                .iter()
                .map(|p| p.since)
                .min()
                .map(|t| ("codedeploy:GetDeployment", t)),
            self.alarm_reads
                .iter()
                .map(|p| p.since)
                .min()
                .map(|t| ("cloudwatch:DescribeAlarms", t)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(_, t)| *t);
        if let Some((op, since)) = oldest
            && now.saturating_sub(since) >= self.opts.tick
        {
            self.p.emit(Event::Waiting {
                operation: op.to_owned(),
                waited: now - since,
            });
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

    /// How long to wait for an answer: until the next read is due, at least 50 ms, at
    /// most a tick. A read already under way is not due again.
    fn nap(&self, now: Duration) -> Duration {
        let mut wake = self.p.deadline;
        if self.target_reads.len() < MAX_TARGET_READS && !self.in_rollback {
            wake = wake.min(self.next_target);
        }
        if self.deployment_reads.len() < self.deployment_reads_allowed(now) {
            let due = if self.deployment_wanted {
                now
            } else {
                self.deployment_due(now)
            };
            wake = wake.min(due.max(self.deployment_retry_at));
        }
        if let Some(from) = self.ending_from
            && from > now
        {
            wake = wake.min(from);
        }
        if self.watching_alarms() && self.alarm_reads.len() < MAX_ALARM_READS {
            wake = wake.min(self.next_alarm);
        }
        if let Some(due) = self.judging.as_ref().and_then(|j| j.next_due())
            && self.judge_read.is_none()
            && !self.in_rollback
            && !self.stop_requested
            && self.last_green.is_some_and(|g| g > 0.0)
        {
            wake = wake.min(due);
        }
        if let Some(due) = self.metric_judging.as_ref().and_then(|m| m.next_due())
            && self.metrics_read.is_none()
            && !self.in_rollback
            && !self.stop_requested
            && self.last_green.is_some_and(|g| g > 0.0)
        {
            wake = wake.min(due);
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
            ..
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
            unreachable: true,
        }
    }

    /// The end is near: a rollback or a stop is being followed, the termination wait
    /// may be over, or the target says the deployment ended (the termination wait, in
    /// the group's settings, can be shorter than configured or unknown).
    fn near_end(&self, now: Duration) -> bool {
        self.in_rollback
            || self.stop_requested
            || self.ending_from.is_some_and(|from| now >= from)
            || self
                .target
                .as_ref()
                .is_some_and(|t| matches!(t.status.as_str(), "Succeeded" | "Failed"))
    }

    /// How many GetDeployment reads may be in flight: several once the end is near; and
    /// a read the target asked for (it changed) starts beside one still out, so a read
    /// being retried for seconds does not hold back seeing the change.
    fn deployment_reads_allowed(&self, now: Duration) -> usize {
        if self.near_end(now) {
            MAX_FINAL_READS
        } else if self.deployment_wanted {
            2
        } else {
            1
        }
    }

    /// When GetDeployment is next due: every `final_poll` after the last one started once
    /// the end is near, else at the regular schedule.
    fn deployment_due(&self, now: Duration) -> Duration {
        if self.near_end(now) {
            self.last_deployment_start
                .map_or(Duration::ZERO, |t| t + self.opts.final_poll)
        } else {
            self.next_deployment
        }
    }

    /// How the watch ended with `outcome` at `now`, for the summary and the report.
    fn into_outcome(mut self, outcome: Outcome, now: Duration) -> Watched {
        if let Some(j) = self.judging.as_mut() {
            j.shift_over();
        }
        let metrics = self.metric_judging.as_ref();
        let judge = self.judging.as_ref().map(|j| j.report_with(metrics));
        let stop_reason = self.stop_reason.take();
        let replacement_seen = self.replacement_seen();
        let green_at_alarm = self.green_at_alarm;
        let id = self.id;
        let deployment = self.deployment.unwrap_or_else(|| Deployment::unknown(id));
        Watched {
            outcome,
            deployment,
            rollback: self.rollback,
            fired: self.fired,
            stopped_by_us: self.stopped_by_us,
            max_green: self.max_green,
            replacement_seen,
            green_at_alarm,
            last_target: self.target,
            elapsed: now - self.start,
            judge,
            stop_reason,
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
            elb: mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::MatchAny, &empty),
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

    /// The stop answers "already completed" (CodeDeploy's own alarm check ended the
    /// deployment first): the watch says so, does not count the stop as its own, and
    /// follows the rollback all the same.
    #[tokio::test]
    async fn a_stop_that_finds_the_deployment_ended_says_so_and_is_not_ours() {
        use aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentError;
        use aws_sdk_codedeploy::types::error::DeploymentAlreadyCompletedException;
        let list = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
            ListDeploymentTargetsOutput::builder()
                .target_ids("c:s")
                .build()
        });
        let tgt =
            mock!(aws_sdk_codedeploy::Client::get_deployment_target).then_output(|| target(10.0));
        let main = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-1"))
            .sequence()
            .output(|| info("d-1", S::InProgress, None))
            .output(|| info("d-1", S::Stopped, Some("d-2")))
            .repeatedly()
            .build();
        let rb = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-2"))
            .then_output(|| info("d-2", S::Succeeded, None));
        let stop = mock!(aws_sdk_codedeploy::Client::stop_deployment).then_error(|| {
            StopDeploymentError::DeploymentAlreadyCompletedException(
                DeploymentAlreadyCompletedException::builder()
                    .message("The deployment d-1 has already completed.")
                    .meta(
                        aws_sdk_codedeploy::error::ErrorMetadata::builder()
                            .code("DeploymentAlreadyCompletedException")
                            .message("The deployment d-1 has already completed.")
                            .build(),
                    )
                    .build(),
            )
        });
        let alarm = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .then_output(|| alarms(StateValue::Alarm));
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
        assert!(!w.stopped_by_us);
        assert_eq!(stop.num_calls(), 1);
        let ended: Vec<&str> = sink
            .0
            .iter()
            .filter_map(|e| match e {
                Event::AlreadyEnded { message, .. } => Some(message.as_str()),
                Event::StopRequested { .. } => Some("stop requested"),
                _ => None,
            })
            .collect();
        assert_eq!(ended, ["The deployment d-1 has already completed."]);
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
        // The initial read, then one every `final_poll` from 50 s (wait 60 s less one
        // target poll), and no more.
        let polls = (END - Duration::from_secs(50)).as_millis() / opts.final_poll.as_millis();
        assert!(
            main.num_calls() as u128 <= polls + 3,
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
