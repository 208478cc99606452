//! The deploy path: register → blue/green deploy → watch → outcome, plus `watch` and
//! `stop`. This file is glue: preflight, creation, signals and the final summary; the
//! loop lives in `engine`, decisions in `decide`, output in `progress`. What happens
//! after the outcome (the rollback report) is the command layer's business.

pub mod appspec;
pub mod clock;
pub mod decide;
pub mod engine;
pub mod events;
pub mod judge;
pub mod judge_metrics;
pub mod judging;
pub mod progress;
pub mod release;
pub mod render;
pub mod state;
pub mod stop;

use crate::aws::codedeploy::{description, sha_of};
use crate::aws::colour_logs::LogSource;
use crate::aws::model::{Deployment, DeploymentGroup, Service, TaskDefinition};
use crate::aws::{Clients, cloudwatch, codedeploy, ecs};
use crate::error::{Error, Result};
use crate::exit;
use decide::Outcome;
use engine::{WatchOptions, Watched};
use events::{Event, Sink};
use release::ServiceTarget;
use state::State;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `deploy` deploys: the release of a git sha, or a task definition given by ARN.
#[derive(Debug, Clone)]
pub enum Deployable {
    /// The sha as given (checked by [`release::resolve_sha`]) and how to render it.
    Release(release::ReleaseSettings),
    TaskDefinition(String),
}

/// Who deploys a hotfix by hand, and why: recorded in the deployment description.
#[derive(Debug, Clone)]
pub struct Hotfix {
    pub user: String,
    pub reason: String,
}

/// Everything `deploy` needs, already resolved by the settings layer.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    pub target: ServiceTarget,
    pub application: String,
    pub group: String,
    pub deployment_config: String,
    pub deployable: Deployable,
    pub hotfix: Option<Hotfix>,
    /// Fargate platform version for the AppSpec (else the service's).
    pub platform_version: Option<String>,
    /// AppSpec hooks: lifecycle event name → Lambda function name.
    pub hooks: BTreeMap<String, String>,
    pub build_url: Option<String>,
    pub watch: WatchSettings,
    pub state_file: PathBuf,
    /// How long a signal lets an in-flight mutating call finish.
    pub signal_grace: Duration,
}

/// How a deployment is watched, already resolved; what is `None` comes from the
/// deployment group (alarms) or its configuration (timeout).
#[derive(Debug, Clone)]
pub struct WatchSettings {
    pub alarms: Option<Vec<String>>,
    pub stop_on_alarm: bool,
    pub poll: Duration,
    pub alarm_poll: Duration,
    pub heartbeat: Duration,
    pub timeout: Option<Duration>,
    /// The timeout when neither settings nor the deployment configuration give one.
    pub fallback_timeout: Duration,
    /// How long AWS reads may keep failing before giving up (exit 9).
    pub outage_budget: Duration,
    /// One JSON object per event on stdout instead of a bar or plain lines.
    pub json: bool,
    /// The green-vs-blue judge, when on.
    pub judge: Option<judge::JudgeConfig>,
}

impl WatchSettings {
    /// The engine's options for a deployment of `group`.
    fn options(&self, group: &DeploymentGroup) -> WatchOptions {
        let d = WatchOptions::default();
        WatchOptions {
            alarms: self.alarms.clone().unwrap_or_else(|| group.alarms.clone()),
            stop_on_alarm: self.stop_on_alarm,
            poll: self.poll,
            alarm_poll: self.alarm_poll,
            deployment_poll: d.deployment_poll.max(self.poll),
            termination_wait: group
                .termination_wait_minutes
                .map(|m| Duration::from_secs(m.max(0) as u64 * 60)),
            tick: self.heartbeat,
            timeout: self.timeout.unwrap_or(self.fallback_timeout),
            expect_rollback: group.auto_rollback_enabled,
            outage_budget: self.outage_budget,
            judge: self.judge.clone(),
            ..d
        }
    }
}

/// How a watch ended, with what the summary needs besides the engine's result.
pub struct Finished {
    pub watched: Watched,
    /// The revision traffic was on before this deployment, when known.
    pub previous_task_definition: Option<String>,
}

/// What this run has changed in AWS so far, shared with the signal handler so an
/// interrupted run says exactly what exists.
#[derive(Default)]
pub struct InFlight {
    /// The deployment and its state file, once the deployment exists.
    pub state: Option<(State, PathBuf)>,
    /// The mutating call under way, if any.
    pub mutating: Option<Mutating>,
    /// Set by the signal handler: no new mutating call may start.
    pub interrupted: bool,
    /// A task-definition revision this run registered (not one it reused).
    pub registered: Option<String>,
    /// CodeDeploy accepted shipwatch's StopDeployment (with rollback) for the deployment.
    pub stopped: bool,
    /// The deployment as the watch last read it, once its end is in sight (shipwatch
    /// is stopping it, or CodeDeploy rolls it back): its report can be gathered while
    /// the stop and the rollback run.
    pub ending: Option<Deployment>,
    /// The deployment as the watch read it when green first appeared: the report's
    /// context can be read from then on.
    pub shifting: Option<Deployment>,
    /// CodeDeploy had already ended the deployment when shipwatch's StopDeployment
    /// reached it (its own alarm check, a failure): shipwatch did not stop it.
    pub ended_before_stop: bool,
}

/// The deployment as read when green first appeared, once the watch says so.
pub fn shifting(shared: &Shared) -> Option<Deployment> {
    lock(shared).shifting.clone()
}

/// The deployment whose end is in sight, as last read, once the watch says so.
pub fn ending(shared: &Shared) -> Option<Deployment> {
    lock(shared).ending.clone()
}

/// Lets the watch tell the signal handler about its StopDeployment, like
/// `begin`/`end` do for the calls made here.
struct SharedMutations(Shared);

impl engine::Mutations for SharedMutations {
    fn begin(&self, operation: &'static str) -> bool {
        begin(&self.0, operation, None).is_ok()
    }
    fn end(&self) {
        end(&self.0)
    }
    fn ending(&self, deployment: &Deployment) {
        lock(&self.0).ending = Some(deployment.clone());
    }
    fn shifting(&self, deployment: &Deployment) {
        lock(&self.0).shifting = Some(deployment.clone());
    }
}

/// The hook that reports the watch's mutating calls into `shared`.
pub fn mutation_hook(shared: &Shared) -> engine::MutationHook {
    engine::MutationHook(Some(Arc::new(SharedMutations(shared.clone()))))
}

/// A mutating call under way, and how to find out what it did if it is dropped.
pub struct Mutating {
    pub operation: &'static str,
    /// For CreateDeployment: the state file to write for the deployment, found by the
    /// text its description carries.
    pub recover: Option<Recover>,
}

pub struct Recover {
    /// The state to save, with the deployment id still empty.
    pub state: State,
    pub path: PathBuf,
    /// Text the deployment's description carries (`sha=…`, or the revision).
    pub needle: String,
}

pub type Shared = Arc<Mutex<InFlight>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, InFlight> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Marks the start of a mutating call; refused once a signal arrived, so nothing new is
/// changed in AWS after an abort.
fn begin(shared: &Shared, operation: &'static str, recover: Option<Recover>) -> Result<()> {
    let mut g = lock(shared);
    if g.interrupted {
        return Err(Error::Interrupted {
            signal: 15,
            message: format!("interrupted before {operation}"),
        });
    }
    g.mutating = Some(Mutating { operation, recover });
    Ok(())
}

fn end(shared: &Shared) {
    lock(shared).mutating = None;
}

/// Keeps the state file in step with what the engine reports.
struct StateKeeper {
    shared: Shared,
}

impl Sink for StateKeeper {
    fn emit(&mut self, _elapsed: Duration, e: &Event) {
        let mut guard = lock(&self.shared);
        match e {
            Event::StopRequested { .. } => guard.stopped = true,
            Event::AlreadyEnded { .. } => guard.ended_before_stop = true,
            _ => {}
        }
        if let Some((s, path)) = guard.state.as_mut() {
            let changed = match e {
                Event::Status {
                    deployment_id,
                    status,
                } if *deployment_id == s.deployment_id => {
                    s.status = status.clone();
                    true
                }
                Event::RollbackStarted { rollback_id, .. } => {
                    s.rollback_deployment_id = Some(rollback_id.clone());
                    true
                }
                Event::StopRequested { why, .. } => {
                    s.stop_reason = Some(why.clone());
                    true
                }
                _ => false,
            };
            if changed && let Err(err) = s.save(path) {
                tracing::warn!("cannot update the state file: {err}");
            }
        }
    }
}

/// Preflight checks on the group and service; nothing is changed.
fn check_group(group: &DeploymentGroup, target: &ServiceTarget, controller: &str) -> Result<()> {
    if group.compute_platform.as_deref() != Some("ECS") || !group.blue_green {
        return Err(Error::Precondition(format!(
            "deployment group `{}` is not an ECS blue/green group (platform {}, blue/green {}); shipwatch deploys ECS services through CodeDeploy blue/green.",
            group.name,
            group.compute_platform.as_deref().unwrap_or("unknown"),
            group.blue_green
        )));
    }
    if !group
        .services
        .iter()
        .any(|(c, s)| c == &target.cluster && s == &target.service)
    {
        return Err(Error::Precondition(format!(
            "deployment group `{}` deploys {} but the configured service is {}/{}; fix [service] or [codedeploy] so they match.",
            group.name,
            group
                .services
                .iter()
                .map(|(c, s)| format!("{c}/{s}"))
                .collect::<Vec<_>>()
                .join(", "),
            target.cluster,
            target.service
        )));
    }
    if controller != "CODE_DEPLOY" {
        return Err(Error::Precondition(format!(
            "service {}/{} uses the {controller} deployment controller; blue/green through CodeDeploy needs CODE_DEPLOY (set when the service is created).",
            target.cluster, target.service
        )));
    }
    Ok(())
}

/// What to do about deployments already active in the group.
enum Active {
    None,
    /// Same sha: watch it instead of creating another.
    Attach(Box<Deployment>),
}

async fn check_active(c: &Clients, app: &str, group: &str, sha: Option<&str>) -> Result<Active> {
    for id in codedeploy::list_active(c, app, group).await? {
        let d = codedeploy::get_deployment(c, &id).await?;
        if !d.status.is_active() {
            continue;
        }
        let theirs = sha_of(d.description.as_deref());
        if sha.is_some() && theirs.as_deref() == sha {
            return Ok(Active::Attach(Box::new(d)));
        }
        return Err(Error::Precondition(format!(
            "deployment {id} ({}) is already {} in group {group}{}. CodeDeploy runs one deployment per group: wait for it (`shipwatch watch {id}`) or stop it (`shipwatch stop {id}`), then retry.",
            theirs
                .map(|s| format!("sha {s}"))
                .unwrap_or_else(|| "not started by shipwatch".into()),
            d.status,
            d.description
                .as_deref()
                .map(|x| format!(": \"{x}\""))
                .unwrap_or_default()
        )));
    }
    Ok(Active::None)
}

async fn check_alarms(c: &Clients, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let alarms = cloudwatch::describe_alarms(c, names).await?;
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !alarms.iter().any(|a| &a.name == *n))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Precondition(format!(
            "watched alarm(s) {} do not exist in region {}; fix [watch] alarms or the deployment group's alarm configuration.",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            c.region
        )));
    }
    if let Some(a) = alarms.iter().find(|a| a.state == "ALARM") {
        return Err(Error::Precondition(format!(
            "alarm {} is already in ALARM ({}); a deployment now would be stopped at once. Find out why it fires, or wait until it is OK.",
            a.name,
            a.reason.as_deref().unwrap_or("no reason given")
        )));
    }
    Ok(())
}

/// Races `fut` against SIGINT/SIGTERM. On a signal, a mutating call under way gets
/// `grace` to finish (so its result is known and saved); one that does not is dropped
/// and, for CreateDeployment, the group's deployments are searched for the one it
/// created. Then the state file is flushed and the message says exactly what exists
/// and how to stop it. A read under way is simply dropped.
pub async fn with_signals<T>(
    c: &Clients,
    shared: &Shared,
    grace: Duration,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::Internal(e.into()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::Internal(e.into()))?;
    let mut fut = std::pin::pin!(fut);
    let signo = tokio::select! {
        r = fut.as_mut() => return r,
        _ = term.recv() => 15,
        _ = int.recv() => 2,
    };
    lock(shared).interrupted = true;
    crate::signals::let_finish(fut.as_mut(), grace, || lock(shared).mutating.is_some()).await;
    let dropped = lock(shared).mutating.take();
    let mut note = String::new();
    if let Some(m) = dropped {
        note = match (m.operation, m.recover) {
            ("codedeploy:CreateDeployment", Some(r)) => recover_created(c, shared, r, grace).await,
            (op, _) => format!(
                " {op} was under way and did not answer within {}; its effect is unknown.",
                progress::fmt_elapsed(grace)
            ),
        };
    }
    let mut guard = lock(shared);
    let registered = guard.registered.clone();
    let stopped = guard.stopped;
    let ended_before = guard.ended_before_stop;
    let message = match guard.state.as_mut() {
        Some((s, path)) if ended_before => {
            s.status = "interrupted".into();
            let saved = match s.save(path) {
                Ok(()) => format!("state saved to {}", path.display()),
                Err(e) => format!("the state file could not be written ({e})"),
            };
            format!(
                "interrupted by signal {signo} after shipwatch's stop found deployment {} already ended: it had ended before shipwatch's stop reached it (stopped by CodeDeploy's own alarm check or by someone else, failed, or succeeded), so shipwatch did not stop it; if it was stopped with automatic rollback, CodeDeploy is moving traffic back to the original task set ({saved}).{note} See how it ended and follow any rollback: shipwatch watch {}.",
                s.deployment_id, s.deployment_id
            )
        }
        Some((s, path)) if stopped => {
            s.status = "interrupted".into();
            let saved = match s.save(path) {
                Ok(()) => format!("state saved to {}", path.display()),
                Err(e) => format!("the state file could not be written ({e})"),
            };
            format!(
                "interrupted by signal {signo} after shipwatch stopped deployment {} with rollback; CodeDeploy is moving traffic back to the original task set ({saved}).{note} Follow the rollback to its end: shipwatch watch {}.",
                s.deployment_id, s.deployment_id
            )
        }
        Some((s, path)) => {
            s.status = "interrupted".into();
            let saved = match s.save(path) {
                Ok(()) => format!("state saved to {}", path.display()),
                Err(e) => format!("the state file could not be written ({e})"),
            };
            format!(
                "interrupted by signal {signo} while watching deployment {}; it is still running in CodeDeploy ({saved}).{note} To stop it and roll back: shipwatch stop {} (or: shipwatch stop --state-file {}).",
                s.deployment_id,
                s.deployment_id,
                path.display()
            )
        }
        None => {
            let reg = registered
                .map(|arn| {
                    format!(
                        " This run registered task definition {arn}; nothing is deployed with it."
                    )
                })
                .unwrap_or_default();
            if note.is_empty() {
                format!(
                    "interrupted by signal {signo} before a deployment was created; no deployment was started by this run.{reg}"
                )
            } else {
                format!(
                    "interrupted by signal {signo} before shipwatch saw a deployment created.{note}{reg}"
                )
            }
        }
    };
    Err(Error::Interrupted {
        signal: signo,
        message,
    })
}

/// After CreateDeployment was dropped: looks for the deployment it may have created
/// (the group's deployments since the run started whose description carries our
/// release) and saves the state file for it. Returns a sentence for the message.
async fn recover_created(c: &Clients, shared: &Shared, r: Recover, grace: Duration) -> String {
    let since = r.state.started_at - chrono::Duration::seconds(60);
    let search = codedeploy::find_created(
        c,
        &r.state.application,
        &r.state.deployment_group,
        since,
        &r.needle,
    );
    let group = &r.state.deployment_group;
    match tokio::time::timeout(Duration::from_secs(10), search).await {
        Ok(Ok(Some(d))) => {
            let st = State {
                deployment_id: d.id.clone(),
                status: d.status.to_string(),
                ..r.state
            };
            match st.save(&r.path) {
                Ok(()) => {
                    lock(shared).state = Some((st, r.path.clone()));
                    format!(
                        " CreateDeployment had not answered within {}; shipwatch found the deployment it created, {} ({}).",
                        progress::fmt_elapsed(grace),
                        d.id,
                        d.status
                    )
                }
                Err(e) => format!(
                    " CreateDeployment created deployment {} ({}), but the state file could not be written ({e}). To stop it: shipwatch stop {}.",
                    d.id, d.status, d.id
                ),
            }
        }
        Ok(Ok(None)) => format!(
            " CreateDeployment was under way and did not answer within {}; no deployment of this release ({}) is in group {group} yet, but CodeDeploy may still create it. Check with `aws deploy list-deployments --application-name {} --deployment-group-name {group}` and stop it with `shipwatch stop <id>`.",
            progress::fmt_elapsed(grace),
            r.needle,
            r.state.application
        ),
        Ok(Err(e)) => format!(
            " CreateDeployment was under way and did not answer within {}; looking for the deployment it may have created failed ({e}). Check group {group} and stop any deployment of {} with `shipwatch stop <id>`.",
            progress::fmt_elapsed(grace),
            r.needle
        ),
        Err(_) => format!(
            " CreateDeployment was under way and did not answer within {}; looking for the deployment it may have created timed out. Check group {group} and stop any deployment of {} with `shipwatch stop <id>`.",
            progress::fmt_elapsed(grace),
            r.needle
        ),
    }
}

/// Runs a read-only call, riding out transient failures (network, timeouts,
/// throttling and 5xx past the SDK's retries) for up to `budget`, with a line per
/// retry. Other errors, and the last one after the budget, are returned.
async fn ride_out<T, Fut>(
    budget: Duration,
    sink: &mut dyn Sink,
    mut call: impl FnMut() -> Fut,
) -> Result<T>
where
    Fut: std::future::Future<Output = Result<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        match call().await {
            Err(Error::Aws {
                operation,
                cause,
                transient: true,
                ..
            }) if start.elapsed() < budget => {
                sink.emit(
                    start.elapsed(),
                    &Event::Retrying {
                        operation,
                        message: cause,
                        failing_for: start.elapsed(),
                        budget,
                    },
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            r => return r,
        }
    }
}

/// Preflight, registration, creation and the watch of one deployment; the first
/// mutating call comes after every check. Returns how the watch ended.
pub async fn deploy(c: &Clients, s: &DeploySettings, shared: &Shared) -> Result<Finished> {
    let mut sink = progress::reporter(s.watch.json, s.watch.heartbeat);
    let pf = preflight(c, s, sink.as_mut()).await?;
    let (id, td_arn) = create_or_attach(c, s, &pf, sink.as_mut(), shared).await?;
    // Attached to a running deployment: nothing has written the state file yet.
    let created = lock(shared).state.is_some();
    if !created {
        let st = pf.state(c, s, &id, &td_arn, "InProgress");
        save_state(shared, st, &s.state_file)?;
    }

    let mut keeper = StateKeeper {
        shared: shared.clone(),
    };
    let clock = clock::RealClock::new();
    let opts = WatchOptions {
        state_file: Some(s.state_file.clone()),
        mutations: mutation_hook(shared),
        // Only a deployment this run created is known to run the revision read above.
        judge_logs: created.then(|| pf.revision.log_source()).flatten(),
        ..pf.opts.clone()
    };
    let watched = {
        let mut fan = progress::Fan(vec![sink.as_mut(), &mut keeper]);
        let w = engine::watch(c, &clock, &mut fan, &id, &opts).await?;
        fan.finish();
        w
    };
    Ok(Finished {
        watched,
        previous_task_definition: Some(pf.service.task_definition.clone()),
    })
}

/// What preflight established before anything is changed.
struct Preflight {
    /// The release's sha; `None` for a task definition given by ARN.
    sha: Option<String>,
    service: Service,
    opts: WatchOptions,
    revision: Revision,
}

/// What is deployed: a release still to be registered, or an existing task definition.
enum Revision {
    Release(Box<release::Release>),
    Given(TaskDefinition),
}

impl Revision {
    /// Where the revision's containers log (awslogs), for the judge.
    fn log_source(&self) -> Option<LogSource> {
        let json = match self {
            Revision::Release(r) => &r.json,
            Revision::Given(td) => &td.json,
        };
        LogSource::of_task_definition(json)
    }
}

impl Preflight {
    /// The state file's content for deployment `id` of `task_definition`.
    fn state(
        &self,
        c: &Clients,
        s: &DeploySettings,
        id: &str,
        task_definition: &str,
        status: &str,
    ) -> State {
        State {
            deployment_id: id.to_owned(),
            rollback_deployment_id: None,
            sha: self.sha.clone(),
            application: s.application.clone(),
            deployment_group: s.group.clone(),
            cluster: s.target.cluster.clone(),
            service: s.target.service.clone(),
            region: c.region.clone(),
            task_definition: task_definition.to_owned(),
            previous_task_definition: None,
            started_at: chrono::Utc::now(),
            status: status.to_owned(),
            stop_reason: None,
        }
    }
}

/// Preflight: reads only. Checks the group and the service, resolves the watch options
/// and finds the release's image or the given task definition.
async fn preflight(c: &Clients, s: &DeploySettings, sink: &mut dyn Sink) -> Result<Preflight> {
    let target = &s.target;
    let budget = s.watch.outage_budget;
    let sha = match &s.deployable {
        Deployable::TaskDefinition(_) => None,
        Deployable::Release(r) => Some(release::resolve_sha(r.sha.clone())?),
    };
    let group = ride_out(budget, sink, || {
        codedeploy::get_group(c, &s.application, &s.group)
    })
    .await?;
    let service = ride_out(budget, sink, || {
        ecs::describe_service(c, &target.cluster, &target.service)
    })
    .await?;
    check_group(&group, target, &service.controller)?;
    let routing = ride_out(budget, sink, || {
        codedeploy::get_config(c, &s.deployment_config)
    })
    .await?;
    let mut opts = s.watch.options(&group);
    if s.watch.timeout.is_none() {
        opts.timeout = decide::default_timeout(
            routing.shifting_minutes(),
            group.ready_wait_minutes,
            group.termination_wait_minutes,
        );
    }
    let revision = match (&s.deployable, &sha) {
        (Deployable::Release(r), Some(sha)) => {
            let input = r.input(sha.clone(), target.clone(), c.region.clone());
            Revision::Release(Box::new(
                ride_out(budget, sink, || release::prepare(c, &input)).await?,
            ))
        }
        (Deployable::TaskDefinition(arn), _) => Revision::Given(
            ride_out(budget, sink, || ecs::describe_task_definition(c, arn))
                .await?
                .ok_or_else(|| {
                    Error::Precondition(format!(
                        "task definition {arn} does not exist (or is inactive) in region {}",
                        c.region
                    ))
                })?,
        ),
        (Deployable::Release(_), None) => unreachable!("a release always has a sha"),
    };
    Ok(Preflight {
        sha,
        service,
        opts,
        revision,
    })
}

/// Attaches to the group's running deployment of the same sha, or creates one. Returns
/// the deployment id and the task definition ARN (empty when attached at once).
async fn create_or_attach(
    c: &Clients,
    s: &DeploySettings,
    pf: &Preflight,
    sink: &mut dyn Sink,
    shared: &Shared,
) -> Result<(String, String)> {
    let budget = s.watch.outage_budget;
    // The alarms first, so the concurrency check is the last read before registration:
    // a deploy that loses to one already running registers nothing.
    ride_out(budget, sink, || check_alarms(c, &pf.opts.alarms)).await?;
    let active = ride_out(budget, sink, || {
        check_active(c, &s.application, &s.group, pf.sha.as_deref())
    })
    .await?;
    match active {
        Active::Attach(d) => Ok((attached(sink, *d), String::new())),
        Active::None => create(c, s, pf, sink, shared).await,
    }
}

/// Registers the revision, checks again that the group is free, and creates the
/// deployment; the state file is written as soon as the deployment exists.
async fn create(
    c: &Clients,
    s: &DeploySettings,
    pf: &Preflight,
    sink: &mut dyn Sink,
    shared: &Shared,
) -> Result<(String, String)> {
    let budget = s.watch.outage_budget;
    // First mutating call from here on.
    begin(shared, "ecs:RegisterTaskDefinition", None)?;
    let registered = register(c, &pf.revision, sink, shared).await;
    end(shared);
    let td_arn = registered?;
    // Another deploy may have started while this one registered: checked again so the
    // loser does not create a deployment only to be refused, and says what it registered.
    let active = ride_out(budget, sink, || {
        check_active(c, &s.application, &s.group, pf.sha.as_deref())
    })
    .await;
    match active {
        Ok(Active::None) => {}
        Ok(Active::Attach(d)) => return Ok((attached(sink, *d), td_arn)),
        Err(Error::Precondition(m)) => {
            let note = withdraw_registration(c, shared).await;
            return Err(Error::Precondition(format!("{m}{note}")));
        }
        Err(e) => return Err(e),
    }
    let platform = s
        .platform_version
        .clone()
        .or(pf.service.platform_version.clone());
    let spec = appspec::build(&appspec::AppSpecInput {
        task_definition_arn: &td_arn,
        container: &s.target.container,
        port: s.target.port,
        platform_version: platform.as_deref(),
        network: pf.service.network.as_ref(),
        hooks: &s.hooks,
    });
    let desc = description(
        pf.sha.as_deref(),
        &td_arn,
        s.build_url.as_deref(),
        s.hotfix
            .as_ref()
            .map(|h| (h.user.as_str(), h.reason.as_str())),
    );
    let needle = match &pf.sha {
        Some(sha) => format!("sha={sha}"),
        None => td_arn.rsplit('/').next().unwrap_or(&td_arn).to_owned(),
    };
    let recover = Recover {
        state: State {
            previous_task_definition: Some(pf.service.task_definition.clone()),
            ..pf.state(c, s, "", &td_arn, "Created")
        },
        path: s.state_file.clone(),
        needle,
    };
    begin(shared, "codedeploy:CreateDeployment", Some(recover))?;
    let created = codedeploy::create_deployment(
        c,
        &codedeploy::NewDeployment {
            application: &s.application,
            group: &s.group,
            config: Some(&s.deployment_config),
            description: &desc,
            appspec: &spec.to_string(),
        },
    )
    .await;
    // The state file is written before the call is marked done, so a signal in
    // between still finds the deployment recorded.
    if let Ok(codedeploy::CreateOutcome::Created(id)) = &created {
        let st = State {
            previous_task_definition: Some(pf.service.task_definition.clone()),
            ..pf.state(c, s, id, &td_arn, "Created")
        };
        let saved = save_state(shared, st, &s.state_file);
        end(shared);
        saved?;
    } else {
        end(shared);
    }
    let created = created?;
    match created {
        codedeploy::CreateOutcome::Created(id) => {
            sink.emit(
                Duration::ZERO,
                &Event::Created {
                    deployment_id: id.clone(),
                    config: s.deployment_config.clone(),
                    task_definition: td_arn.clone(),
                },
            );
            Ok((id, td_arn))
        }
        // Another pipeline won the race between our check and our create.
        codedeploy::CreateOutcome::LimitExceeded(msg) => {
            let active = ride_out(budget, sink, || {
                check_active(c, &s.application, &s.group, pf.sha.as_deref())
            })
            .await;
            let note = match active {
                Ok(Active::Attach(_)) => String::new(),
                _ => withdraw_registration(c, shared).await,
            };
            match active {
                Ok(Active::Attach(d)) => Ok((attached(sink, *d), td_arn)),
                Ok(Active::None) => Err(Error::Precondition(format!(
                    "CodeDeploy refused a second deployment in group {}: {msg}{note}",
                    s.group
                ))),
                Err(Error::Precondition(m)) => Err(Error::Precondition(format!("{m}{note}"))),
                Err(e) => Err(e),
            }
        }
    }
}

/// Takes back the revision this run registered when it lost the race for the group
/// (deregistered: nothing was deployed with it) and says so as a sentence; empty when
/// it reused an existing revision or deploys a given one.
async fn withdraw_registration(c: &Clients, shared: &Shared) -> String {
    let Some(arn) = lock(shared).registered.clone() else {
        return String::new();
    };
    if begin(shared, "ecs:DeregisterTaskDefinition", None).is_err() {
        return format!(
            " This run registered task definition {arn} before losing the race; nothing was deployed with it."
        );
    }
    let done = ecs::deregister_task_definition(c, &arn).await;
    end(shared);
    match done {
        Ok(()) => {
            lock(shared).registered = None;
            format!(
                " This run had registered task definition {arn} before losing the race and deregistered it again, so nothing it registered stays active."
            )
        }
        Err(e) => format!(
            " This run registered task definition {arn} before losing the race and could not deregister it ({e}); nothing was deployed with it, and `aws ecs deregister-task-definition --task-definition {arn}` removes it."
        ),
    }
}

/// Registers a release's task definition (or reuses an identical one) and reports it;
/// a given task definition is used as is. Returns its ARN.
async fn register(
    c: &Clients,
    revision: &Revision,
    sink: &mut dyn Sink,
    shared: &Shared,
) -> Result<String> {
    match revision {
        Revision::Release(r) => {
            let (td, reused) = release::register_release(c, r).await?;
            if !reused {
                lock(shared).registered = Some(td.arn.clone());
            }
            sink.emit(
                Duration::ZERO,
                &Event::TaskDefinition {
                    arn: td.arn.clone(),
                    reused,
                },
            );
            Ok(td.arn)
        }
        Revision::Given(td) => Ok(td.arn.clone()),
    }
}

/// Reports that the watch follows `d`, which was already running; returns its id.
fn attached(sink: &mut dyn Sink, d: Deployment) -> String {
    sink.emit(
        Duration::ZERO,
        &Event::Attached {
            deployment_id: d.id.clone(),
        },
    );
    d.id
}

/// Writes the state file and hands it to the signal handler and the `StateKeeper`.
fn save_state(shared: &Shared, st: State, path: &Path) -> Result<()> {
    st.save(path)?;
    lock(shared).state = Some((st, path.to_path_buf()));
    Ok(())
}

/// The closing lines: what happened, why, and what to do next.
pub fn summary_text(w: &Watched, previous_td: Option<&str>) -> String {
    let d = &w.deployment;
    let elapsed = progress::fmt_elapsed(w.elapsed);
    let mut lines = Vec::new();
    match w.outcome {
        Outcome::Succeeded => {
            lines.push(format!("deployment {} succeeded in {elapsed}: 100% of traffic on the new task set.", d.id));
            if let Some(p) = previous_td {
                lines.push(format!("previous revision: {p}"));
            }
        }
        Outcome::RolledBack => lines.push(format!(
            "deployment {} was ROLLED BACK after {elapsed}; traffic is back on the original task set (exit {}).",
            d.id,
            exit::ROLLED_BACK
        )),
        Outcome::RollbackFailed => lines.push(format!(
            "deployment {} stopped and its ROLLBACK FAILED after {elapsed}; traffic may be split between task sets. Check the service now (exit {}).",
            d.id,
            exit::FAILED
        )),
        Outcome::Failed => lines.push(format!("deployment {} ended {} without a rollback after {elapsed} (exit {}).", d.id, d.status, exit::FAILED)),
        Outcome::TimedOut => lines.push(format!(
            "gave up waiting after {elapsed}: deployment {} is still {} (exit {}). Follow it with `shipwatch watch {}` or stop it with `shipwatch stop {}`.",
            d.id,
            d.status,
            exit::TIMED_OUT,
            d.id,
            d.id
        )),
    }
    if let Some(line) = judge_line(w) {
        lines.push(line);
    }
    if w.outcome != Outcome::Succeeded {
        for (i, (alarm, reason)) in w.fired.iter().enumerate() {
            // The weight when the alarm was seen, as the report gives it: traffic may
            // have shifted another step before the stop took effect.
            let at = match (i, w.green_at_alarm) {
                (0, Some(g)) => format!(" at {g:.0}% green traffic"),
                _ => String::new(),
            };
            lines.push(format!(
                "trigger: alarm {alarm} entered ALARM{at}{}{}",
                if w.stopped_by_us && i == 0 {
                    "; shipwatch stopped the deployment"
                } else {
                    ""
                },
                reason
                    .as_deref()
                    .map(|r| format!(". Reason: {}", r.trim_end_matches('.')))
                    .unwrap_or_default(),
            ));
        }
        if let (Some(code), msg) = (&d.error_code, &d.error_message) {
            lines.push(format!(
                "CodeDeploy: {code}{}",
                msg.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ));
        }
        if let Some(ev) = w.last_target.as_ref().and_then(|t| t.failed_event()) {
            lines.push(format!(
                "failed lifecycle event: {}{}",
                ev.name,
                ev.diagnostics
                    .as_deref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default()
            ));
        }
        if let Some(m) = &d.rollback.message {
            lines.push(format!("rollback: {m}"));
        }
        if let Some(rb) = &w.rollback {
            lines.push(format!("rollback deployment {}: {}", rb.id, rb.status));
        }
    }
    lines.join("\n")
}

/// The judge's line of the summary: the trigger when it stopped the deployment, else
/// what it concluded or why it could not.
fn judge_line(w: &Watched) -> Option<String> {
    let j = w.judge.as_ref()?;
    if let Some(why) = &j.stopped {
        return Some(format!("trigger: {why}"));
    }
    if let Some(note) = &j.note {
        return Some(format!("judge: {note}"));
    }
    let metrics = j.metrics.as_ref().and_then(|m| match m.verdict {
        Some(judge::Verdict::NotWorse { odds, needed }) => Some(format!(
            "target-group metrics ({} min): {} (evidence {}, {} needed)",
            m.minutes,
            judge_metrics::counts_text(m.green, m.blue),
            judge::odds_text(odds),
            judge::odds_text(needed)
        )),
        _ => None,
    });
    let logs = match j.verdict {
        Some(judge::Verdict::NotWorse { odds, needed }) => Some(format!(
            "green was not shown worse than blue: {} (evidence {} that it was, {} needed)",
            judge::counts_text(j.green, j.blue),
            judge::odds_text(odds),
            judge::odds_text(needed)
        )),
        _ => None,
    };
    match (logs, metrics) {
        (Some(l), Some(m)) => Some(format!("judge: {l}; {m}")),
        (Some(l), None) => Some(format!("judge: {l}")),
        (None, Some(m)) => Some(format!("judge: green was not shown worse than blue: {m}")),
        (None, None) => None,
    }
}

/// Attaches to a running deployment and watches it like `deploy` does.
pub async fn watch(
    c: &Clients,
    id: &str,
    settings: &WatchSettings,
    shared: &Shared,
    state_file: &std::path::Path,
) -> Result<Finished> {
    let budget = settings.outage_budget;
    let mut sink = progress::reporter(settings.json, settings.heartbeat);
    // The opening reads ride out an outage like preflight does.
    let d = ride_out(budget, sink.as_mut(), || codedeploy::get_deployment(c, id)).await?;
    let group = ride_out(budget, sink.as_mut(), || {
        codedeploy::get_group(c, &d.application, &d.group)
    })
    .await?;
    attach_state(c, shared, &d, &group, state_file)?;
    let opts = WatchOptions {
        mutations: mutation_hook(shared),
        ..settings.options(&group)
    };
    sink.emit(
        Duration::ZERO,
        &Event::Attached {
            deployment_id: d.id.clone(),
        },
    );
    let clock = clock::RealClock::new();
    let watched = engine::watch(c, &clock, sink.as_mut(), &d.id, &opts).await?;
    sink.finish();
    Ok(Finished {
        watched,
        previous_task_definition: None,
    })
}

/// The state file of an attached watch: a signal then names the deployment being
/// watched (never "no deployment was started"), and `stop --state-file` finds it.
fn attach_state(
    c: &Clients,
    shared: &Shared,
    d: &Deployment,
    group: &crate::aws::model::DeploymentGroup,
    path: &std::path::Path,
) -> Result<()> {
    let (cluster, service) = group.services.first().cloned().unwrap_or_default();
    let state = State {
        deployment_id: d.id.clone(),
        rollback_deployment_id: d.rollback.rollback_deployment_id.clone(),
        sha: sha_of(d.description.as_deref()),
        application: d.application.clone(),
        deployment_group: d.group.clone(),
        cluster,
        service,
        region: c.region.clone(),
        started_at: d.create_time.unwrap_or_else(chrono::Utc::now),
        status: d.status.to_string(),
        ..Default::default()
    };
    state.save(path)?;
    lock(shared).state = Some((state, path.to_owned()));
    Ok(())
}

/// What `stop` was asked to do.
#[derive(Debug, Clone)]
pub struct StopSettings {
    pub deployment_id: String,
    pub rollback: bool,
    pub timeout: Duration,
    pub heartbeat: Duration,
    pub poll: Duration,
    pub outage_budget: Duration,
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::DeploymentStatus;

    fn watched(green_at_alarm: Option<f64>, max_green: f64) -> Watched {
        Watched {
            outcome: Outcome::RolledBack,
            deployment: Deployment {
                status: DeploymentStatus::Stopped,
                application: "app".into(),
                group: "grp".into(),
                ..Deployment::unknown("d-1")
            },
            rollback: None,
            fired: vec![(
                "web-5xx".into(),
                Some("Threshold Crossed: 1 datapoint.".into()),
            )],
            stopped_by_us: true,
            max_green,
            replacement_seen: true,
            green_at_alarm,
            last_target: None,
            elapsed: Duration::from_secs(90),
            judge: None,
            stop_reason: None,
        }
    }

    #[test]
    fn the_trigger_line_gives_the_weight_when_the_alarm_was_seen() {
        let text = summary_text(&watched(Some(10.0), 20.0), None);
        assert!(
            text.contains("trigger: alarm web-5xx entered ALARM at 10% green traffic; shipwatch stopped the deployment. Reason: Threshold Crossed: 1 datapoint"),
            "{text}"
        );
        assert!(!text.contains("20%"), "{text}");
        let text = summary_text(&watched(None, 0.0), None);
        assert!(text.contains("entered ALARM; shipwatch stopped"), "{text}");
    }
}
