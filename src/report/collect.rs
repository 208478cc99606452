//! Evidence from AWS for one rolled-back deployment, gathered into the report model.
//!
//! Only `get_deployment` is required; every other source that fails becomes a
//! `missing` entry saying why, and the report still completes. The decisions (what a
//! stop code means, whether tasks crash-looped, which step traffic was at, what
//! triggered the rollback) are pure functions below, tested without AWS.
//!
//! `collect` runs one phase per part of the report (ECS, metrics, trigger, timeline,
//! logs, traces) over a shared [`Context`]; each phase returns its piece and the
//! evidence it could not get, in the order the report lists them.

use crate::aws::evidence::{
    self, AlarmChange, LifecycleDetail, Series, TargetDetail, TaskDefinitionLogs, TaskSetInfo,
};
use crate::aws::model::{Deployment, DeploymentGroup, DeploymentStatus, TrafficRouting};
use crate::aws::{Clients, codedeploy, logs};
use crate::error::{Error, Result};
use crate::logscan::analyse::Analyser;
use crate::logscan::filter::{self, FilterChoice};
use crate::logscan::model::TraceCount;
use crate::logscan::timing::Timing;
use crate::logscan::{normalise, redact};
use crate::report::ahead::{self, Budget};
use crate::report::latency::LatencyPoint;
use crate::report::model::*;
use crate::report::{Settings, jaeger, links};
use chrono::{DateTime, Duration, Utc};

/// Margin around the deployment for metrics, alarm history and logs.
const MARGIN: Duration = Duration::minutes(2);
/// How far past now the window of reads made ahead of the end reaches: far enough for
/// any clock skew, so they take everything that exists.
const OPEN_AHEAD: Duration = Duration::days(1);
const PERIOD: i32 = 60;
/// Lifetimes below this make repeated failing stops a crash loop.
const CRASH_LOOP_LIFETIME_S: i64 = 120;
const MAX_TASKS_LISTED: usize = 50;
/// Events of the first, unfiltered page that the filter pattern is chosen from.
const FIRST_PAGE_EVENTS: i32 = 200;

/// Builds the report of deployment `id` (the failed deployment or its rollback).
pub async fn collect(c: &Clients, s: &Settings, id: &str) -> Result<Report> {
    let first = codedeploy::get_deployment(c, id).await?;
    let (failed, rollback) = resolve_pair(c, first).await;
    nothing_to_explain(&failed, rollback.is_some())?;
    Ok(collect_pair(c, s, id, failed, rollback).await)
}

/// A report explains a deployment that failed or was rolled back: one that succeeded,
/// or is still running, gets a plain answer instead of a "rollback report" whose
/// verdict would be "undetermined" (and which would replace the last real one).
fn nothing_to_explain(d: &Deployment, rolled_back: bool) -> Result<()> {
    if rolled_back {
        return Ok(());
    }
    let id = &d.id;
    match d.status {
        DeploymentStatus::Succeeded => Err(Error::Usage(format!(
            "deployment {id} succeeded and was not rolled back, so there is no rollback to explain; give the id of the deployment that failed (or of its rollback), as the Jenkins log or the state file names it."
        ))),
        ref st if st.is_active() => Err(Error::Precondition(format!(
            "deployment {id} is still running ({st}); follow it with `shipwatch watch {id}`, which writes the report if it is rolled back, or run `shipwatch report {id}` once it has ended."
        ))),
        _ => Ok(()),
    }
}

/// Builds the report of a deployment whose final state (and its rollback's) the caller
/// already read, as `shipwatch report` has once it resolved the pair.
pub async fn collect_pair(
    c: &Clients,
    s: &Settings,
    input: &str,
    failed: Deployment,
    rollback: Option<Deployment>,
) -> Report {
    let known_end = rollback.as_ref().and_then(|rb| rb.complete_time);
    let ended = Ended {
        failed: failed.clone(),
        rollback,
    };
    collect_ahead(
        c,
        s,
        input,
        failed,
        known_end,
        None,
        std::future::ready(Some(ended)),
    )
    .await
}

/// The final states once the rollback ended, as the watch read them.
#[derive(Debug, Clone)]
pub struct Ended {
    pub failed: Deployment,
    pub rollback: Option<Deployment>,
}

/// What is known once the rollback ended: the final states and the evidence window.
struct Final {
    failed: Deployment,
    rollback: Option<Deployment>,
    window: Window,
}

/// Waits for the end, as every read that needs it does.
type EndWatch = tokio::sync::watch::Receiver<Option<std::sync::Arc<Final>>>;

async fn the_end(rx: &EndWatch) -> Option<std::sync::Arc<Final>> {
    let mut rx = rx.clone();
    let got = rx.wait_for(|f| f.is_some()).await.ok()?;
    got.clone()
}

/// Builds the report of `failed` (as last read; it may still be running when `deploy`
/// has just decided to stop it) while its rollback may still run. What no longer
/// changes (the group, the targets' task sets, the service, both colours' tasks and
/// task definitions, the alarms' history, the metric dimensions) and the logs up to
/// what exists are read at once; what needs the end (the rollback's target, the
/// metrics to the end of the window, the logs' tail, the failed target's final
/// lifecycle) waits for `rollback_end`, so when the rollback ends the report is one
/// round of reads away. Reads that do not depend on each other run side by side.
///
/// `late`: how long the reads still running after the end may take (`deploy`); what
/// is not read by then is reported as not read in time. `None` when the deployment
/// ended before (`shipwatch report`): everything is read in full. `known_end`: when
/// the rollback ended, if known.
pub async fn collect_ahead(
    c: &Clients,
    s: &Settings,
    input: &str,
    failed: Deployment,
    known_end: Option<DateTime<Utc>>,
    late: Option<std::time::Duration>,
    rollback_end: impl std::future::Future<Output = Option<Ended>>,
) -> Report {
    Prepared::load(c, s, input, failed, known_end, late.is_some())
        .await
        .finish(late, rollback_end)
        .await
}

/// A report whose context is read (the deployment group, the deployment's target with
/// both task sets, the traffic routing): what no longer changes once green exists.
/// `deploy` reads it as soon as green takes traffic, so that when it stops the
/// deployment the report's reads start a round of calls further on.
pub struct Prepared<'a> {
    r: Report,
    ctx: Context<'a>,
}

impl<'a> Prepared<'a> {
    /// Reads the context of `failed` (see `collect_ahead` for `known_end`; `ahead`: the
    /// deployment may still run, so the window stays open until it ends).
    pub async fn load(
        c: &'a Clients,
        s: &'a Settings,
        input: &str,
        failed: Deployment,
        known_end: Option<DateTime<Utc>>,
        ahead: bool,
    ) -> Prepared<'a> {
        let mut r = Report::new(
            Source {
                kind: SourceKind::Aws,
                input: input.to_owned(),
                region: Some(c.region.clone()),
                release: None,
            },
            Utc::now(),
        );
        let ctx = take(&mut r, Context::load(c, s, failed, known_end, ahead).await);
        Prepared { r, ctx }
    }

    /// Gathers the rest of the report, as `collect_ahead` describes.
    pub async fn finish(
        self,
        late: Option<std::time::Duration>,
        rollback_end: impl std::future::Future<Output = Option<Ended>>,
    ) -> Report {
        let Prepared { r, ctx } = self;
        gather(r, ctx, late, rollback_end).await
    }
}

/// Everything after the context: see `collect_ahead`.
async fn gather(
    mut r: Report,
    mut ctx: Context<'_>,
    late: Option<std::time::Duration>,
    rollback_end: impl std::future::Future<Output = Option<Ended>>,
) -> Report {
    let (budget, clock) = Budget::new(late);
    let (end_tx, end_rx) = tokio::sync::watch::channel(None);
    let end = async {
        let ended = rollback_end.await;
        clock.start();
        let fin = ctx.finish(ended);
        let _ = end_tx.send(Some(std::sync::Arc::new(fin)));
    };
    // Each part on the heap: side by side, their states would otherwise sum up on the
    // stack of the task that polls them.
    let (_, (ecs, logs, latency_alarm), trigger, metrics, rollback_target, final_target) = tokio::join!(
        end,
        Box::pin(collect_ecs_and_logs(&ctx, &budget, &end_rx)),
        Box::pin(collect_trigger(&ctx, &budget, &end_rx)),
        Box::pin(collect_metrics(&ctx, &budget, &end_rx)),
        Box::pin(read_rollback_target(&ctx, &budget, &end_rx)),
        Box::pin(reread_target(&ctx, &budget, &end_rx)),
    );
    if let Some(fin) = the_end(&end_rx).await {
        ctx.ended(&fin);
    }
    if let Some(t) = final_target {
        ctx.target = Some(t);
    }
    let mut ecs = take(&mut r, ecs);
    if let Some(e) = ecs.evidence.as_mut() {
        // Read ahead, the service's events run past the window's end.
        e.service_events.retain(|ev| ev.at <= ctx.window.end);
    }
    r.window = Some(ctx.window.clone());
    ctx.back = back_on_blue(ctx.rollback.as_ref(), rollback_target.as_ref(), ctx.stop_at);
    r.deployment = Some(deployment_facts(&ctx, &ecs));
    r.ecs = ecs.evidence.clone();
    r.metrics = take(&mut r, metrics);
    r.trigger = Some(take(&mut r, decide_the_trigger(&ctx, trigger)));
    (r.traffic, r.timeline) = collect_timeline(&ctx, r.trigger.as_ref(), &ecs.tasks);
    let (green, blue) = logs;
    r.logs = take(&mut r, green);
    r.blue_logs = take(&mut r, blue);
    r.comparison = compare_colours(&r);
    let latency = match budget
        .bounded(Box::pin(collect_latency(&ctx, &r, latency_alarm)))
        .await
    {
        Some(l) => l,
        None => Phase {
            value: None,
            missing: vec![missing(
                "latency",
                budget.not_in_time("the latency evidence was", &ctx.failed.id),
            )],
        },
    };
    r.latency = take(&mut r, latency);
    r.traces = match budget
        .bounded(Box::pin(collect_traces(&ctx, r.logs.as_ref())))
        .await
    {
        Some(t) => t,
        None => TraceEvidence {
            status: TraceStatus::Unavailable,
            reason: Some(budget.not_in_time("the traces were", &ctx.failed.id)),
            ..Default::default()
        },
    };
    crate::report::note_missing_traces(&mut r);
    let report_links = links_for(&ctx, &r);
    r.links.extend(report_links);
    r
}

/// A phase's piece of the report and the evidence it could not get.
struct Phase<T> {
    value: T,
    missing: Vec<Missing>,
}

/// Records the phase's missing evidence in the report and returns its piece.
fn take<T>(r: &mut Report, p: Phase<T>) -> T {
    for m in p.missing {
        r.add_missing(&m.evidence, m.reason);
    }
    p.value
}

/// A missing-evidence entry: which evidence, and why.
fn missing(evidence: &str, reason: impl Into<String>) -> Missing {
    Missing {
        evidence: evidence.into(),
        reason: reason.into(),
    }
}

/// What several phases need: the deployment pair, where it ran and the evidence window.
struct Context<'a> {
    c: &'a Clients,
    s: &'a Settings,
    failed: Deployment,
    rollback: Option<Deployment>,
    group: Option<DeploymentGroup>,
    cluster: Option<String>,
    service: Option<String>,
    /// The failed deployment's CodeDeploy target: lifecycle events and task sets.
    target: Option<TargetDetail>,
    routing: Option<TrafficRouting>,
    green: Option<TaskSetInfo>,
    blue: Option<TaskSetInfo>,
    stop_at: Option<DateTime<Utc>>,
    back: Option<DateTime<Utc>>,
    window: Window,
    /// The blue and green target groups' metric dimensions, once looked up: the metrics
    /// and the latency sections both need them.
    tg_dims: tokio::sync::OnceCell<Vec<Option<evidence::TargetGroupDims>>>,
}

impl<'a> Context<'a> {
    /// Reads the deployment group, both CodeDeploy targets and the traffic routing.
    /// The rollback and the end of the window are not known yet: `rollback_ended`
    /// completes them. Until then the window ends `known_end` (or the deployment's
    /// end) plus the margin.
    async fn load(
        c: &'a Clients,
        s: &'a Settings,
        failed: Deployment,
        known_end: Option<DateTime<Utc>>,
        ahead: bool,
    ) -> Phase<Context<'a>> {
        let mut miss = Vec::new();
        let routing = async {
            match failed.config_name.as_deref() {
                Some(n) => match codedeploy::predefined_routing(n) {
                    Some(rt) => Some(rt),
                    None => codedeploy::get_config(c, n).await.ok(),
                },
                None => None,
            }
        };
        let (group, target, routing) = tokio::join!(
            codedeploy::get_group(c, &failed.application, &failed.group),
            evidence::deployment_target_of(c, &failed.id, target_guess(s)),
            routing
        );
        let group = match group {
            Ok(g) => Some(g),
            Err(e) => {
                miss.push(missing("deployment group", e.to_string()));
                None
            }
        };
        let (cluster, service) = group
            .as_ref()
            .and_then(|g| g.services.first().cloned())
            .or_else(|| Some((s.cluster.clone()?, s.service.clone()?)))
            .unzip();
        let target = target.unwrap_or_else(|e| {
            miss.push(missing(
                "timeline",
                format!("the deployment target could not be read: {e}"),
            ));
            None
        });
        let start = failed
            .start_time
            .or(failed.create_time)
            .unwrap_or_else(Utc::now);
        let stop_at = failed.complete_time;
        // Read ahead of the end, the window is open: the reads then take what exists,
        // whatever the clocks say, and the tails read after the end complete them.
        let window = if ahead {
            window(start, Some(Utc::now().max(start) + OPEN_AHEAD))
        } else {
            window(start, known_end.or(stop_at))
        };
        // Task sets: green is the replacement CodeDeploy created.
        let task_set = |label: &str| {
            target
                .as_ref()
                .and_then(|t| t.task_sets.iter().find(|s| s.label == label))
                .cloned()
        };
        let (green, blue) = (task_set("Green"), task_set("Blue"));
        Phase {
            value: Context {
                c,
                s,
                failed,
                rollback: None,
                group,
                cluster,
                service,
                target,
                routing,
                green,
                blue,
                stop_at,
                back: None,
                window,
                tg_dims: tokio::sync::OnceCell::new(),
            },
            missing: miss,
        }
    }

    /// The final states and window once the rollback ended (`ended` as the watch read
    /// them; without it, the states as read so far): the window runs to the rollback's
    /// end (traffic is back on blue by then), else the deployment's, plus the margin.
    fn finish(&self, ended: Option<Ended>) -> Final {
        let (failed, rollback) = match ended {
            Some(e) => (e.failed, e.rollback),
            None => (self.failed.clone(), self.rollback.clone()),
        };
        let end = rollback
            .as_ref()
            .and_then(|rb| rb.complete_time)
            .or(failed.complete_time);
        let window = window(self.window.start + MARGIN, end);
        Final {
            failed,
            rollback,
            window,
        }
    }

    /// Takes the final states and window.
    fn ended(&mut self, fin: &Final) {
        self.failed = fin.failed.clone();
        self.stop_at = fin.failed.complete_time;
        self.rollback = fin.rollback.clone();
        self.window = fin.window.clone();
    }

    /// The metric dimensions of target groups `blue` and `green` (looked up once; a
    /// failed lookup is tried again by the next caller).
    async fn tg_dims(
        &self,
        blue: &str,
        green: &str,
    ) -> crate::error::Result<(
        Option<evidence::TargetGroupDims>,
        Option<evidence::TargetGroupDims>,
    )> {
        let names = [blue, green];
        let dims = self
            .tg_dims
            .get_or_try_init(|| evidence::target_group_dims(self.c, &names))
            .await?;
        Ok((dims[0].clone(), dims[1].clone()))
    }

    /// The failed deployment's lifecycle events; none when its target is unknown.
    fn lifecycle(&self) -> &[LifecycleDetail] {
        self.target
            .as_ref()
            .map(|t| t.lifecycle.as_slice())
            .unwrap_or_default()
    }
}

/// The CodeDeploy target id of the configured service (`cluster:service`), if configured.
fn target_guess(s: &Settings) -> Option<String> {
    Some(format!(
        "{}:{}",
        s.cluster.as_deref()?,
        s.service.as_deref()?
    ))
}

/// The evidence window: from the deployment's start to `end` (now when unknown), with
/// the margin on both sides.
fn window(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Window {
    let end = end.unwrap_or_else(Utc::now).max(start);
    Window {
        start: start - MARGIN,
        end: end + MARGIN,
    }
}

/// What the ECS phase found: the evidence, and the green tasks and task
/// definitions the deployment facts and the logs phase build on.
#[derive(Default)]
struct Ecs {
    evidence: Option<EcsEvidence>,
    /// Facts of every green task seen, not only the listed ones.
    tasks: Vec<TaskFacts>,
    green_td_arn: Option<String>,
    /// The green task definition's name, images and log settings.
    td: Option<TaskDefinitionLogs>,
    /// Why the green task definition could not be read, when it could not: a failed
    /// read is not a missing log configuration.
    td_error: Option<String>,
    blue_td: Option<String>,
    /// The blue task set's task definition's log settings, when read.
    blue_td_logs: Option<TaskDefinitionLogs>,
}

/// What the ECS phase hands the logs phase before it ends: the green tasks' ids once
/// listed and green's task definition once read, so the log filter is chosen while
/// the tasks are still being described.
#[derive(Default)]
struct EarlyTx {
    ids: Option<tokio::sync::oneshot::Sender<Vec<String>>>,
    td: Option<tokio::sync::oneshot::Sender<Option<TaskDefinitionLogs>>>,
}

/// The service, its green tasks and the task definitions of both task sets.
async fn collect_ecs(ctx: &Context<'_>, early: EarlyTx) -> Phase<Ecs> {
    let EarlyTx {
        ids: ids_tx,
        td: td_tx,
    } = early;
    let c = ctx.c;
    let mut miss = Vec::new();
    let container = ctx.s.container.as_deref();
    // The green task set is usually known from CodeDeploy's target, so its tasks are
    // listed while the service is described; only without it do the tasks wait for
    // the service's task sets.
    let known_green = ctx.green.as_ref().map(|g| g.id.clone());
    let early_tasks = async {
        match (&ctx.cluster, &known_green) {
            (Some(cl), Some(gid)) => Some(
                async {
                    let arns = evidence::task_set_task_arns(c, cl, gid).await?;
                    if let Some(tx) = ids_tx {
                        let ids = arns
                            .iter()
                            .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
                            .collect();
                        let _ = tx.send(ids);
                    }
                    evidence::describe_tasks(c, cl, &arns, container).await
                }
                .await,
            ),
            _ => None,
        }
    };
    let snapshot = async {
        match (&ctx.cluster, &ctx.service) {
            (Some(cl), Some(sv)) => Some(evidence::service_snapshot(c, cl, sv).await),
            _ => None,
        }
    };
    // The task definitions are named by the service's task sets: read while the green
    // tasks are still being listed.
    let snapshot_and_tds = async {
        let snapshot = snapshot.await;
        let arn_of = |id: Option<&String>| {
            let snap = snapshot.as_ref()?.as_ref().ok()?.as_ref()?;
            let id = id?;
            snap.task_sets
                .iter()
                .find(|t| &t.id == id)
                .map(|t| t.task_definition.clone())
        };
        let green_arn = arn_of(known_green.as_ref());
        let blue_arn = arn_of(ctx.blue.as_ref().map(|b| &b.id));
        let read = |arn: Option<String>| async move {
            match arn {
                Some(arn) => Some((evidence::task_definition_logs(c, &arn).await, arn)),
                None => None,
            }
        };
        let (green_td, blue_td) = tokio::join!(read(green_arn), read(blue_arn));
        if let (Some(tx), Some((Ok(td), _))) = (td_tx, &green_td) {
            let _ = tx.send(td.clone());
        }
        (snapshot, green_td, blue_td)
    };
    let ((snapshot, early_td, blue_td_read), early_tasks) =
        tokio::join!(snapshot_and_tds, early_tasks);
    let blue_td_logs = blue_td_read.and_then(|(r, _)| r.ok().flatten());
    let snapshot = match snapshot {
        Some(Ok(snap)) => snap,
        Some(Err(e)) => {
            miss.push(missing(
                "ecs",
                format!("the service could not be described: {e}"),
            ));
            None
        }
        None => None,
    };
    let green_id = ctx.green.as_ref().map(|g| g.id.clone()).or_else(|| {
        snapshot
            .as_ref()?
            .task_sets
            .iter()
            .find(|t| t.external_id.as_deref() == Some(ctx.failed.id.as_str()))
            .map(|t| t.id.clone())
    });
    let listed = match (early_tasks, &ctx.cluster, &green_id) {
        (Some(listed), _, _) => Some(listed),
        (None, Some(cl), Some(gid)) => Some(evidence::task_set_tasks(c, cl, gid, container).await),
        _ => None,
    };
    let tasks = match listed {
        Some(listed) => listed.unwrap_or_else(|e| {
            miss.push(missing(
                "ecs",
                format!("the green tasks could not be listed: {e}"),
            ));
            Vec::new()
        }),
        _ => {
            miss.push(missing(
                "ecs",
                "the green task set is not known (no CodeDeploy target and no matching task set)",
            ));
            Vec::new()
        }
    };
    let green_td_arn = green_id
        .as_ref()
        .and_then(|gid| {
            snapshot
                .as_ref()?
                .task_sets
                .iter()
                .find(|t| &t.id == gid)
                .map(|t| t.task_definition.clone())
        })
        .or_else(|| tasks.iter().find_map(|t| t.task_definition_arn.clone()));
    let td_read = match (early_td, &green_td_arn) {
        (Some((r, read_arn)), Some(arn)) if &read_arn == arn => Some(r),
        (_, Some(arn)) => Some(evidence::task_definition_logs(c, arn).await),
        (_, None) => None,
    };
    let (td, td_error) = match (td_read, &green_td_arn) {
        (Some(r), Some(arn)) => match r {
            Ok(td) => (td, None),
            Err(e) => (
                None,
                Some(format!("could not read the task definition {arn}: {e}")),
            ),
        },
        _ => (
            None,
            Some(
                "the green task definition is not known (no green task set or task was read)"
                    .to_owned(),
            ),
        ),
    };
    let blue_td = ctx.blue.as_ref().and_then(|b| {
        snapshot
            .as_ref()?
            .task_sets
            .iter()
            .find(|t| t.id == b.id)
            .map(|t| short_td(&t.task_definition))
    });

    let facts: Vec<TaskFacts> = tasks.iter().map(|t| t.facts.clone()).collect();
    let events: Vec<ServiceEvent> = snapshot
        .as_ref()
        .map(|s| {
            let mut ev: Vec<ServiceEvent> = s
                .events
                .iter()
                .filter(|e| e.at >= ctx.window.start && e.at <= ctx.window.end)
                .cloned()
                .collect();
            ev.sort_by_key(|e| e.at);
            ev
        })
        .unwrap_or_default();
    let ecs =
        (green_id.is_some() || !events.is_empty()).then(|| ecs_evidence(green_id, &facts, events));
    Phase {
        value: Ecs {
            evidence: ecs,
            tasks: facts,
            green_td_arn,
            td,
            td_error,
            blue_td,
            blue_td_logs,
        },
        missing: miss,
    }
}

/// The deployment's facts, with the task definitions and release the ECS phase found.
fn deployment_facts(ctx: &Context<'_>, ecs: &Ecs) -> DeploymentFacts {
    let (failed, rollback, s) = (&ctx.failed, ctx.rollback.as_ref(), ctx.s);
    let td = ecs.td.as_ref();
    DeploymentFacts {
        deployment_id: failed.id.clone(),
        rollback_deployment_id: rollback
            .map(|d| d.id.clone())
            .or(failed.rollback.rollback_deployment_id.clone()),
        application: failed.application.clone(),
        deployment_group: failed.group.clone(),
        status: failed.status.to_string(),
        rollback_status: rollback.map(|d| d.status.to_string()),
        creator: failed.creator.clone(),
        deployment_config: failed.config_name.clone(),
        created_at: failed.create_time,
        completed_at: failed.complete_time,
        rollback_completed_at: rollback.and_then(|d| d.complete_time),
        error_code: failed.error_code.clone(),
        error_message: failed.error_message.clone(),
        rollback_message: failed.rollback.message.clone(),
        green_task_definition: td
            .map(|t| t.name.clone())
            .or(ecs.green_td_arn.as_deref().map(short_td)),
        blue_task_definition: ecs.blue_td.clone(),
        sha: s
            .sha
            .clone()
            .or_else(|| crate::aws::codedeploy::sha_of(failed.description.as_deref()))
            .or_else(|| {
                let img = td?
                    .images
                    .iter()
                    .find(|(n, _)| Some(n) == s.container.as_ref())
                    .or(td?.images.first())?;
                image_tag(&img.1)
            }),
        cluster: ctx.cluster.clone(),
        service: ctx.service.clone(),
    }
}

/// ALB requests and 5xx of the blue and green target groups over the window: the
/// target groups' metric dimensions are looked up at once, the counts once the window
/// is final.
async fn collect_metrics(
    ctx: &Context<'_>,
    budget: &Budget,
    end: &EndWatch,
) -> Phase<Option<Metrics>> {
    let mut miss = Vec::new();
    let mut value = None;
    match (
        ctx.blue.as_ref().and_then(|b| b.target_group.clone()),
        ctx.green.as_ref().and_then(|g| g.target_group.clone()),
    ) {
        (Some(btg), Some(gtg)) => {
            let read = async {
                let (Some(b), Some(g)) = ctx.tg_dims(&btg, &gtg).await? else {
                    return Ok(None);
                };
                let w = match the_end(end).await {
                    Some(fin) => fin.window.clone(),
                    None => ctx.window.clone(),
                };
                let series =
                    evidence::target_group_counts(ctx.c, &[b, g], w.start, w.end, PERIOD).await?;
                Ok::<_, crate::error::Error>(Some(build_metrics(
                    &btg,
                    &gtg,
                    &series[0],
                    &series[1],
                    w.start,
                    w.end,
                    PERIOD as u32,
                )))
            };
            match budget.bounded(read).await {
                Some(Ok(Some(m))) => value = Some(m),
                Some(Ok(None)) => miss.push(missing(
                    "metrics",
                    format!("no ALB metrics found for target groups {btg} and {gtg}"),
                )),
                Some(Err(e)) => miss.push(missing("metrics", e.to_string())),
                None => miss.push(missing(
                    "metrics",
                    budget.not_in_time("the ALB metrics were", &ctx.failed.id),
                )),
            }
        }
        _ => miss.push(missing(
            "metrics",
            "the blue and green target groups are not known",
        )),
    }
    Phase {
        value,
        missing: miss,
    }
}

/// The alarms whose history the trigger is read from: those CodeDeploy's message
/// names, the group's and the configured ones.
fn alarm_names(ctx: &Context<'_>, failed: &Deployment) -> Vec<String> {
    let mut names = activated_alarms(failed.error_message.as_deref().unwrap_or(""));
    for n in ctx
        .group
        .iter()
        .flat_map(|g| g.alarms.iter())
        .chain(ctx.s.alarms.iter())
    {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// Each alarm's history, or why it is not known.
type Histories = Vec<(String, std::result::Result<Vec<AlarmChange>, String>)>;

async fn read_histories(ctx: &Context<'_>, budget: &Budget, names: &[String]) -> Histories {
    let reads = names.iter().map(|name| async move {
        let h = match budget
            .bounded(evidence::alarm_history(
                ctx.c,
                name,
                ctx.window.start,
                ctx.window.end,
            ))
            .await
        {
            Some(Ok(h)) => Ok(h),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(budget.not_in_time("the history was", &ctx.failed.id)),
        };
        (name.clone(), h)
    });
    futures::future::join_all(reads).await
}

/// The alarms' history, read at once for the alarms known now; once the deployment's
/// final state is known, also for an alarm only CodeDeploy's message names.
async fn collect_trigger(ctx: &Context<'_>, budget: &Budget, end: &EndWatch) -> Histories {
    let first = alarm_names(ctx, &ctx.failed);
    let mut histories = read_histories(ctx, budget, &first).await;
    if let Some(fin) = the_end(end).await {
        let more: Vec<String> = alarm_names(ctx, &fin.failed)
            .into_iter()
            .filter(|n| !first.contains(n))
            .collect();
        if !more.is_empty() {
            histories.extend(read_histories(ctx, budget, &more).await);
        }
    }
    histories
}

/// What made CodeDeploy roll back, from the final states and the alarms' history.
fn decide_the_trigger(ctx: &Context<'_>, histories: Histories) -> Phase<Trigger> {
    let mut miss = Vec::new();
    let alarms = fired_alarms(&histories, &ctx.c.region, &mut miss);
    let mut value = decide_trigger(&ctx.failed, ctx.lifecycle(), alarms);
    name_the_stop(&mut value, ctx.s.stopped_by.as_deref());
    Phase {
        value,
        missing: miss,
    }
}

/// The alarms that went to ALARM, from their histories; unread histories are missing.
fn fired_alarms(
    histories: &Histories,
    region: &str,
    miss: &mut Vec<Missing>,
) -> Vec<AlarmEvidence> {
    let mut alarms = Vec::new();
    for (name, history) in histories {
        match history {
            Ok(h) => {
                if let Some(a) = alarm_evidence(name, h, region) {
                    alarms.push(a);
                }
            }
            Err(e) => miss.push(missing("trigger", format!("history of alarm {name}: {e}"))),
        }
    }
    alarms
}

/// The rollback's CodeDeploy target, once it ended: when traffic was back on blue.
async fn read_rollback_target(
    ctx: &Context<'_>,
    budget: &Budget,
    end: &EndWatch,
) -> Option<TargetDetail> {
    let fin = the_end(end).await?;
    let rb = fin.rollback.as_ref()?;
    budget
        .bounded(evidence::deployment_target_of(
            ctx.c,
            &rb.id,
            target_guess(ctx.s),
        ))
        .await?
        .ok()
        .flatten()
}

/// The failed deployment's target again once it ended, when it was first read while
/// the deployment still ran: its lifecycle events then show where it stopped.
async fn reread_target(ctx: &Context<'_>, budget: &Budget, end: &EndWatch) -> Option<TargetDetail> {
    if ctx.failed.status.is_terminal() {
        return None;
    }
    the_end(end).await?;
    budget
        .bounded(evidence::deployment_target_of(
            ctx.c,
            &ctx.failed.id,
            target_guess(ctx.s),
        ))
        .await?
        .ok()
        .flatten()
}

/// A stop by shipwatch's judge reaches CodeDeploy as MANUAL_STOP; the caller, who knows
/// why it stopped the deployment, names the reason here.
pub fn name_the_stop(trigger: &mut Trigger, stopped_by: Option<&str>) {
    if let Some(why) = stopped_by
        && trigger.error_code.as_deref() == Some("MANUAL_STOP")
    {
        trigger.kind = TriggerKind::Judge;
        trigger.summary = format!("{}.", why.trim_end_matches('.'));
    }
}

/// Green traffic steps and the timeline; built from what earlier phases read, so
/// nothing can be missing here.
fn collect_timeline(
    ctx: &Context<'_>,
    trigger: Option<&Trigger>,
    tasks: &[TaskFacts],
) -> (Vec<TrafficStep>, Vec<TimelineEntry>) {
    let lifecycle = ctx.lifecycle();
    let traffic = traffic_steps(ctx.routing.as_ref(), lifecycle, ctx.stop_at, ctx.back);
    let entries = timeline(
        &ctx.failed,
        ctx.rollback.as_ref(),
        lifecycle,
        trigger,
        &traffic,
        tasks,
        ctx.back,
    );
    (traffic, entries)
}

/// Both colours' logs, or why each is missing.
type LogsPhase = (Phase<Option<LogEvidence>>, Phase<Option<LogEvidence>>);

/// The ECS evidence, both colours' logs and the fired alarms' metrics. The blue tasks
/// are listed while the green ones are; the filter pattern is chosen from green's first
/// page; then green's and blue's logs are read side by side up to what exists, and
/// after the end only their tails.
async fn collect_ecs_and_logs(
    ctx: &Context<'_>,
    budget: &Budget,
    end: &EndWatch,
) -> (Phase<Ecs>, LogsPhase, LatencyAlarm) {
    let id = &ctx.failed.id;
    let (ids_tx, ids_rx) = tokio::sync::oneshot::channel();
    let (td_tx, td_rx) = tokio::sync::oneshot::channel();
    let early = EarlyTx {
        ids: Some(ids_tx),
        td: Some(td_tx),
    };
    let (ecs, blue_tasks, early_filter) = tokio::join!(
        budget.bounded(Box::pin(collect_ecs(ctx, early))),
        budget.bounded(Box::pin(blue_tasks(ctx))),
        budget.bounded(Box::pin(early_filter(ctx, ids_rx, td_rx)))
    );
    let ecs = ecs.unwrap_or_else(|| Phase {
        // Not read is not missing: the logs phase says why it has no streams.
        value: Ecs {
            td_error: Some(budget.not_in_time("the green task definition was", id)),
            ..Ecs::default()
        },
        missing: vec![missing(
            "ecs",
            budget.not_in_time("the service and its tasks were", id),
        )],
    });
    let mut blue_tasks =
        blue_tasks.unwrap_or_else(|| Err(budget.not_in_time("the blue tasks were", id)));
    if budget
        .bounded(blue_td(ctx, &ecs.value, &mut blue_tasks))
        .await
        .is_none()
    {
        blue_tasks = Err(budget.not_in_time("the blue task definition was", id));
    }
    let (logs, latency_alarm) = tokio::join!(
        Box::pin(collect_logs(
            ctx,
            budget,
            end,
            &ecs.value,
            blue_tasks,
            early_filter.flatten()
        )),
        Box::pin(describe_fired(ctx, budget))
    );
    (ecs, logs, latency_alarm)
}

/// The filter chosen from green's first page as soon as the green tasks are listed and
/// green's task definition is read, with the streams it was chosen for; `None` when
/// either is not known before the ECS phase ends.
async fn early_filter(
    ctx: &Context<'_>,
    ids: tokio::sync::oneshot::Receiver<Vec<String>>,
    td: tokio::sync::oneshot::Receiver<Option<TaskDefinitionLogs>>,
) -> Option<EarlyFilter> {
    let (ids, td) = tokio::join!(ids, td);
    let (ids, td) = (ids.ok()?, td.ok()?);
    let (group, streams) = green_source_of(ctx, td.as_ref(), &ids, None).ok()?;
    let q = logs::LogQuery {
        log_group: group.clone(),
        streams: streams.clone(),
        start_ms: ctx.window.start.timestamp_millis(),
        end_ms: ctx.window.end.timestamp_millis(),
        filter_pattern: None,
    };
    let filter = choose_filter(ctx.c, &q).await;
    Some((group, streams, filter))
}

/// A filter chosen early: the log group, the streams and the choice.
type EarlyFilter = (String, Vec<String>, Result<FilterChoice>);

/// Where green's logs are: the group and the green tasks' streams, or why not known.
fn green_source(
    ctx: &Context<'_>,
    ecs: &Ecs,
) -> std::result::Result<(String, Vec<String>), String> {
    let ids: Vec<String> = ecs.tasks.iter().map(|t| t.task_id.clone()).collect();
    green_source_of(ctx, ecs.td.as_ref(), &ids, ecs.td_error.clone())
}

/// Where green's logs are, from green's task definition and task ids.
fn green_source_of(
    ctx: &Context<'_>,
    td: Option<&TaskDefinitionLogs>,
    task_ids: &[String],
    td_error: Option<String>,
) -> std::result::Result<(String, Vec<String>), String> {
    let s = ctx.s;
    let container = s.container.as_ref();
    // Logs of the green tasks only.
    let awslogs = td.and_then(|t| {
        t.logs
            .iter()
            .find(|l| Some(&l.container) == container)
            .or(t.logs.first())
            .cloned()
    });
    match awslogs {
        Some(al) if al.stream_prefix.is_some() && !task_ids.is_empty() => {
            let group_name = s.log_group.clone().unwrap_or(al.group.clone());
            let prefix = al.stream_prefix.clone().unwrap_or_default();
            let streams: Vec<String> = task_ids
                .iter()
                .map(|id| format!("{prefix}/{}/{id}", al.container))
                .collect();
            Ok((group_name, streams))
        }
        Some(_) if task_ids.is_empty() => {
            Err("no green tasks were found, so there are no log streams to read".into())
        }
        Some(_) => Err(
            "the container has no awslogs-stream-prefix, so task log streams cannot be derived"
                .into(),
        ),
        None => Err(td_error.unwrap_or_else(|| {
            "the green task definition has no awslogs log configuration".to_owned()
        })),
    }
}

/// Green's and blue's CloudWatch Logs over the window, analysed. Blue's are only read
/// when green's are: without them there is nothing to compare.
async fn collect_logs(
    ctx: &Context<'_>,
    budget: &Budget,
    end: &EndWatch,
    ecs: &Ecs,
    blue_tasks: std::result::Result<BlueTasks, String>,
    early: Option<EarlyFilter>,
) -> LogsPhase {
    let none = || Phase {
        value: None,
        missing: Vec::new(),
    };
    let gone = |evidence: &str, why: String| Phase {
        value: None,
        missing: vec![missing(evidence, why)],
    };
    let id = &ctx.failed.id;
    let (group, streams) = match green_source(ctx, ecs) {
        Ok(g) => g,
        Err(why) => return (gone("logs", why), none()),
    };
    let q = logs::LogQuery {
        log_group: group.clone(),
        streams: streams.clone(),
        start_ms: ctx.window.start.timestamp_millis(),
        end_ms: ctx.window.end.timestamp_millis(),
        filter_pattern: None,
    };
    // The filter chosen early holds when it was chosen for these very streams.
    let early = early.filter(|(g, st, _)| {
        let same =
            |a: &[String], b: &[String]| a.len() == b.len() && a.iter().all(|x| b.contains(x));
        g == &group && same(st, &streams)
    });
    let chosen = match early {
        Some((_, _, f)) => Some(f),
        None => budget.bounded(choose_filter(ctx.c, &q)).await,
    };
    let filter = match chosen {
        Some(Ok(f)) => f,
        Some(Err(e)) => return (gone("logs", e.to_string()), none()),
        None => {
            return (
                gone("logs", budget.not_in_time("the green tasks' logs were", id)),
                none(),
            );
        }
    };
    let blue = match ctx
        .blue
        .as_ref()
        .map(|b| (b, blue_source(ctx, ecs, blue_tasks)))
    {
        None => Err(
            "the blue task set is not known, so new errors cannot be told from old ones".to_owned(),
        ),
        Some((_, Ok((bg, bs)))) if !bs.is_empty() => Ok((bg, bs)),
        Some((b, Ok(_))) => Err(format!(
            "no blue task of task set {} ran in the window",
            b.id
        )),
        Some((_, Err(why))) => Err(why),
    };
    let limiter = std::sync::Arc::new(logs::RateLimiter::new(logs::CALLS_PER_SECOND));
    let ahead = budget.limit().is_some();
    let mut green = LogRead::new(ctx, group, streams, "green", filter.clone(), ahead);
    let mut blue = blue.map(|(bg, bs)| LogRead::new(ctx, bg, bs, "blue", filter, ahead));
    let blue_read = async {
        match blue.as_mut() {
            Ok(b) => Some(b.first(ctx, budget, &limiter).await),
            Err(_) => None,
        }
    };
    let (green_first, blue_first) = tokio::join!(
        Box::pin(green.first(ctx, budget, &limiter)),
        Box::pin(blue_read)
    );
    if let Err(e) = green_first {
        return (gone("logs", e), none());
    }
    let blue = match (blue, blue_first) {
        (Ok(b), Some(Ok(()))) => Ok(b),
        (Ok(_), Some(Err(e))) => Err(e),
        (Ok(_), None) => unreachable!("a blue source is read"),
        (Err(why), _) => Err(why),
    };
    let (green, blue) = if ahead {
        let fin = the_end(end).await;
        let window = fin.as_ref().map_or(&ctx.window, |f| &f.window);
        let mut blue = blue;
        let mut green = green;
        let blue_tail = async {
            if let Ok(b) = blue.as_mut() {
                b.tail(ctx, budget, &limiter, window).await;
            }
        };
        tokio::join!(
            Box::pin(green.tail(ctx, budget, &limiter, window)),
            Box::pin(blue_tail)
        );
        (green, blue)
    } else {
        (green, blue)
    };
    let blue = match blue {
        Ok(b) => Phase {
            value: Some(b.finish()),
            missing: Vec::new(),
        },
        Err(why) => gone("blue logs", why),
    };
    (
        Phase {
            value: Some(green.finish()),
            missing: Vec::new(),
        },
        blue,
    )
}

/// One colour's log read: first up to what exists (ahead of the end, or the whole
/// window once it ended), then, when read ahead, the tail since then.
struct LogRead {
    group: String,
    streams: Vec<String>,
    colour: &'static str,
    filter: FilterChoice,
    analyser: Analyser,
    /// Where the first read left off, when it ran ahead of the end.
    resume: Option<ahead::Resume>,
    /// No more lines are wanted: a cap, max_log_time or an error ended the reading.
    done: bool,
    deadline: Option<std::time::Instant>,
}

impl LogRead {
    fn new(
        ctx: &Context<'_>,
        group: String,
        streams: Vec<String>,
        colour: &'static str,
        filter: FilterChoice,
        ahead: bool,
    ) -> Self {
        let mut limits = ctx.s.limits.clone();
        limits.since_ms = None;
        limits.until_ms = None;
        let deadline = limits.max_time.map(|d| std::time::Instant::now() + d);
        LogRead {
            analyser: Analyser::new(ctx.s.trace_id_field.as_deref(), limits),
            group,
            streams,
            colour,
            filter,
            resume: ahead.then(ahead::Resume::default),
            done: false,
            deadline,
        }
    }

    /// The first read, over the window as known now; an error before any line is the
    /// colour's logs missing.
    async fn first(
        &mut self,
        ctx: &Context<'_>,
        budget: &Budget,
        limiter: &std::sync::Arc<logs::RateLimiter>,
    ) -> std::result::Result<(), String> {
        let (start, end) = (
            ctx.window.start.timestamp_millis(),
            ctx.window.end.timestamp_millis(),
        );
        match budget
            .bounded(Box::pin(self.read(ctx.c, start, end, limiter, false)))
            .await
        {
            Some(r) => r.map_err(|e| e.to_string()),
            None => {
                let what = format!("the rest of the {} tasks' logs was", self.colour);
                self.stop(budget.not_in_time(&what, &ctx.failed.id));
                Ok(())
            }
        }
    }

    /// After the end: the lines since shortly before the newest one the first read saw,
    /// up to the window's end, skipping those already fed.
    async fn tail(
        &mut self,
        ctx: &Context<'_>,
        budget: &Budget,
        limiter: &std::sync::Arc<logs::RateLimiter>,
        window: &Window,
    ) {
        let Some(resume) = self.resume.as_ref() else {
            return;
        };
        let start = resume.tail_start(window.start.timestamp_millis());
        let since = resume
            .newest()
            .map(|t| {
                format!(
                    "the {} tasks' lines after {}",
                    self.colour,
                    t.format("%H:%M:%S")
                )
            })
            .unwrap_or_else(|| format!("the {} tasks' logs", self.colour));
        let end = window.end.timestamp_millis();
        match budget
            .bounded(Box::pin(self.read(ctx.c, start, end, limiter, true)))
            .await
        {
            Some(Ok(())) => {}
            Some(Err(e)) => self.stop(format!("read ended early: {since} could not be read: {e}")),
            None => {
                let what = format!("{since} were");
                self.stop(budget.not_in_time(&what, &ctx.failed.id));
            }
        }
    }

    /// Reads `[start_ms, end_ms]` through the filter into the analysis; in the tail,
    /// only the events the first read did not feed.
    async fn read(
        &mut self,
        c: &Clients,
        start_ms: i64,
        end_ms: i64,
        limiter: &std::sync::Arc<logs::RateLimiter>,
        tail: bool,
    ) -> Result<()> {
        let passes = [
            (self.filter.pattern.clone(), false),
            (self.filter.companion.clone(), true),
        ];
        // The companion pass of a JSON pattern feeds only the lines that are not JSON,
        // which the JSON pass never matched.
        for (pattern, text_only) in passes {
            if self.done {
                break;
            }
            if text_only && pattern.is_none() {
                continue;
            }
            let q = logs::LogQuery {
                log_group: self.group.clone(),
                streams: self.streams.clone(),
                start_ms,
                end_ms,
                filter_pattern: pattern,
            };
            let (a, resume) = (&mut self.analyser, &mut self.resume);
            let stats = logs::read_events_limited(c, &q, self.deadline, limiter.clone(), |e| {
                if text_only && e.message.trim_start().starts_with('{') {
                    return true;
                }
                if let Some(r) = resume.as_mut() {
                    let key = ahead::event_key(
                        e.event_id.as_deref(),
                        &e.stream,
                        e.timestamp_ms,
                        &e.message,
                    );
                    if tail {
                        if !r.is_new(&key) {
                            return true;
                        }
                    } else {
                        r.saw(key, e.timestamp_ms);
                    }
                }
                a.feed_event(&e.stream, e.timestamp_ms, &e.message);
                !a.stopped()
            })
            .await?;
            match stats.stopped_early.as_deref() {
                Some("deadline") => self.stop("time: stopped reading after max_log_time".into()),
                Some(why) if why.starts_with("error") => {
                    self.stop(format!("read ended early: {why}"))
                }
                Some(_) => self.done = true,
                None => {}
            }
        }
        Ok(())
    }

    /// Ends the reading, saying why in the evidence.
    fn stop(&mut self, why: String) {
        self.analyser.note_cap(why);
        self.done = true;
    }

    fn finish(self) -> LogEvidence {
        let mut ev = self.analyser.finish(format!(
            "CloudWatch Logs {}, {} {} task stream(s)",
            self.group,
            self.streams.len(),
            self.colour
        ));
        ev.log_group = Some(self.group);
        ev.streams = self.streams;
        ev.filter_pattern = self.filter.pattern;
        ev.filter_reason = Some(self.filter.reason);
        ev
    }
}

/// The filter pattern for the streams of `q`, from their first page (one call).
async fn choose_filter(c: &Clients, q: &logs::LogQuery) -> Result<FilterChoice> {
    let page = logs::first_page(c, q, FIRST_PAGE_EVENTS).await?;
    let lines: Vec<&str> = page.iter().map(String::as_str).collect();
    Ok(filter::choose(&lines, &[]))
}

/// The blue task set's tasks and their task definition's log settings.
struct BlueTasks {
    tasks: Vec<evidence::GreenTask>,
    td: Option<TaskDefinitionLogs>,
}

/// Lists the blue tasks while green's are read.
async fn blue_tasks(ctx: &Context<'_>) -> std::result::Result<BlueTasks, String> {
    let (Some(cluster), Some(blue)) = (&ctx.cluster, &ctx.blue) else {
        return Err(
            "the blue task set is not known, so new errors cannot be told from old ones".into(),
        );
    };
    let container = ctx.s.container.as_deref();
    let tasks = evidence::task_set_tasks(ctx.c, cluster, &blue.id, container)
        .await
        .map_err(|e| format!("the blue tasks could not be listed: {e}"))?;
    Ok(BlueTasks { tasks, td: None })
}

/// The blue task definition's log settings: as the ECS phase read them from the blue
/// task set, else read from the blue tasks' task definition.
async fn blue_td(ctx: &Context<'_>, ecs: &Ecs, blue: &mut std::result::Result<BlueTasks, String>) {
    let Ok(b) = blue.as_mut() else {
        return;
    };
    b.td = match (
        &ecs.blue_td_logs,
        b.tasks.iter().find_map(|t| t.task_definition_arn.clone()),
    ) {
        (Some(td), _) => Some(td.clone()),
        (None, Some(arn)) => evidence::task_definition_logs(ctx.c, &arn)
            .await
            .ok()
            .flatten(),
        (None, None) => None,
    };
}

/// The log group and streams of the blue tasks that ran in the window (their own task
/// definition's awslogs settings, else green's).
fn blue_source(
    ctx: &Context<'_>,
    ecs: &Ecs,
    blue: std::result::Result<BlueTasks, String>,
) -> std::result::Result<(String, Vec<String>), String> {
    let BlueTasks { tasks, td } = blue?;
    let container = ctx.s.container.as_deref();
    let pick = |t: &TaskDefinitionLogs| {
        t.logs
            .iter()
            .find(|l| Some(l.container.as_str()) == container)
            .or(t.logs.first())
            .cloned()
    };
    let al = td
        .as_ref()
        .and_then(pick)
        .or_else(|| ecs.td.as_ref().and_then(pick))
        .ok_or("the blue task definition has no awslogs log configuration")?;
    let prefix = al
        .stream_prefix
        .clone()
        .ok_or("the blue container has no awslogs-stream-prefix")?;
    let w = &ctx.window;
    let streams = tasks
        .iter()
        .filter(|t| {
            t.facts.started_at.is_none_or(|at| at <= w.end)
                && t.facts.stopped_at.is_none_or(|at| at >= w.start)
        })
        .map(|t| format!("{prefix}/{}/{}", al.container, t.facts.task_id))
        .collect();
    Ok((ctx.s.log_group.clone().unwrap_or(al.group), streams))
}

/// Green's error groups against blue's, when both colours' logs were read.
fn compare_colours(r: &Report) -> Option<Comparison> {
    Some(crate::report::compare::compare(
        r.logs.as_ref()?,
        r.blue_logs.as_ref()?,
        r.metrics.as_ref(),
    ))
}

/// The watched alarms' metrics, described ahead for the latency evidence; `None` when
/// not read in time.
type LatencyAlarm = Option<std::result::Result<Vec<crate::aws::latency::AlarmMetric>, String>>;

/// Describes the alarms whose history is read, so the latency evidence knows at the
/// end which fired alarm watches latency.
async fn describe_fired(ctx: &Context<'_>, budget: &Budget) -> LatencyAlarm {
    let names = alarm_names(ctx, &ctx.failed);
    if names.is_empty() {
        return Some(Ok(Vec::new()));
    }
    budget
        .bounded(crate::aws::latency::alarm_metrics(ctx.c, &names))
        .await
        .map(|r| r.map_err(|e| e.to_string()))
}

/// When a fired alarm watches latency: its statistic per minute for blue and green,
/// the slow requests by route from both colours' log lines, and the spans that took
/// the time in the slowest green requests' traces.
async fn collect_latency(
    ctx: &Context<'_>,
    r: &Report,
    described: LatencyAlarm,
) -> Phase<Option<Latency>> {
    let mut miss = Vec::new();
    let fired: Vec<String> = r
        .trigger
        .iter()
        .flat_map(|t| t.alarms.iter())
        .filter(|a| a.flipped_at.is_some())
        .map(|a| a.name.clone())
        .collect();
    if fired.is_empty() {
        return Phase {
            value: None,
            missing: miss,
        };
    }
    // The alarms were described ahead; an alarm only the final state named is not.
    let described = match described {
        Some(Ok(all)) if fired.iter().all(|n| all.iter().any(|a| &a.name == n)) => Ok(all
            .into_iter()
            .filter(|a| fired.contains(&a.name))
            .collect()),
        _ => crate::aws::latency::alarm_metrics(ctx.c, &fired)
            .await
            .map_err(|e| e.to_string()),
    };
    let alarm = match described {
        Ok(all) => all
            .into_iter()
            .find(|a: &crate::aws::latency::AlarmMetric| {
                crate::report::latency::is_latency_metric(&a.metric)
            }),
        Err(e) => {
            miss.push(missing(
                "latency",
                format!("the fired alarms could not be described: {e}"),
            ));
            None
        }
    };
    let Some(alarm) = alarm else {
        return Phase {
            value: None,
            missing: miss,
        };
    };
    // ALB's TargetResponseTime is in seconds; other latency metrics are taken as ms.
    let seconds = alarm.metric == "TargetResponseTime";
    let slow_ms = alarm
        .threshold
        .map(|t| if seconds { t * 1000.0 } else { t })
        .unwrap_or(1000.0);
    let mut l = Latency {
        alarm: alarm.name.clone(),
        metric: alarm.metric.clone(),
        statistic: alarm.statistic.clone(),
        threshold_seconds: alarm
            .threshold
            .map(|t| if seconds { t } else { t / 1000.0 }),
        period_seconds: PERIOD as u32,
        slow_ms,
        ..Default::default()
    };
    if alarm.namespace == "AWS/ApplicationELB" {
        match latency_points(ctx, &alarm.metric, &alarm.statistic).await {
            Ok(p) => l.points = p,
            Err(why) => l.notes.push(why),
        }
    }
    let green = slow_requests(ctx, r.logs.as_ref(), slow_ms, "green").await;
    let blue = slow_requests(ctx, r.blue_logs.as_ref(), slow_ms, "blue").await;
    let (mut gt, bt) = match (green, blue) {
        (Ok(g), b) => (g, b.map_err(|why| l.notes.push(why)).ok()),
        (Err(why), _) => {
            l.notes.push(why);
            (Timing::new(slow_ms), None)
        }
    };
    l.slow_routes = crate::report::latency::slow_routes(&gt, bt.as_ref());
    let slowest = gt.slowest(ctx.s.max_traces.clamp(1, 5));
    let ids: Vec<TraceCount> = slowest
        .iter()
        .filter_map(|s| {
            Some(TraceCount {
                trace_id: s.trace_id.clone()?,
                error_lines: 0,
                group: None,
                first_seen: None,
            })
        })
        .collect();
    let traces = jaeger::lookup(ctx.s.jaeger.as_ref(), &ids, ids.len()).await;
    l.slow_spans = crate::report::latency::slow_spans(&traces, &slowest);
    if l.slow_spans.is_empty() && !ids.is_empty() {
        l.notes.push(format!(
            "the traces of the slowest requests could not be read: {}",
            traces.reason.unwrap_or_else(|| "no spans".into())
        ));
    }
    Phase {
        value: Some(l),
        missing: miss,
    }
}

/// The latency statistic per minute of the blue and green target groups.
async fn latency_points(
    ctx: &Context<'_>,
    metric: &str,
    statistic: &str,
) -> std::result::Result<Vec<LatencyPoint>, String> {
    let (Some(btg), Some(gtg)) = (
        ctx.blue.as_ref().and_then(|b| b.target_group.clone()),
        ctx.green.as_ref().and_then(|g| g.target_group.clone()),
    ) else {
        return Err("the blue and green target groups are not known".into());
    };
    let (Some(b), Some(g)) = ctx
        .tg_dims(&btg, &gtg)
        .await
        .map_err(|e| format!("latency per target group: {e}"))?
    else {
        return Err(format!(
            "no ALB metrics found for target groups {btg} and {gtg}"
        ));
    };
    let w = &ctx.window;
    let series = crate::aws::latency::target_group_stat(
        ctx.c,
        &[b, g],
        metric,
        statistic,
        w.start,
        w.end,
        PERIOD,
    )
    .await
    .map_err(|e| format!("latency per target group: {e}"))?;
    Ok(crate::report::latency::points(&series[0], &series[1]))
}

/// The slow requests in one colour's streams: fetched with a filter pattern on the
/// response-time field the streams' first page shows.
async fn slow_requests(
    ctx: &Context<'_>,
    logs: Option<&LogEvidence>,
    slow_ms: f64,
    colour: &str,
) -> std::result::Result<Timing, String> {
    let Some((group, l)) = logs.and_then(|l| Some((l.log_group.clone()?, l))) else {
        return Err(format!(
            "the {colour} tasks' logs were not read, so no slow routes"
        ));
    };
    let mut q = logs::LogQuery {
        log_group: group,
        streams: l.streams.clone(),
        start_ms: ctx.window.start.timestamp_millis(),
        end_ms: ctx.window.end.timestamp_millis(),
        filter_pattern: None,
    };
    let page = logs::first_page(ctx.c, &q, FIRST_PAGE_EVENTS)
        .await
        .map_err(|e| format!("{colour} response times: {e}"))?;
    let lines: Vec<&str> = page.iter().map(String::as_str).collect();
    let clause = crate::logscan::timing::slow_clause(&lines, slow_ms).ok_or_else(|| {
        format!("the {colour} log lines carry no numeric response-time field (responseTime, duration_ms, request_time, …)")
    })?;
    q.filter_pattern = Some(format!("{{ {clause} }}"));
    let mut t = Timing::new(slow_ms);
    let max = ctx.s.limits.max_events.unwrap_or(u64::MAX);
    let deadline = ctx.s.limits.max_time.map(|d| std::time::Instant::now() + d);
    let mut n = 0u64;
    logs::read_events(ctx.c, &q, deadline, |e| {
        t.feed(&e.message);
        n += 1;
        n < max
    })
    .await
    .map_err(|e| format!("{colour} response times: {e}"))?;
    Ok(t)
}

/// The traces of the logs' top trace ids, from Jaeger; why they are missing is
/// recorded by `note_missing_traces`, shared with reports built from log files.
async fn collect_traces(ctx: &Context<'_>, logs: Option<&LogEvidence>) -> TraceEvidence {
    let ids = logs.map(|l| l.traces.clone()).unwrap_or_default();
    jaeger::lookup(ctx.s.jaeger.as_ref(), &ids, ctx.s.max_traces).await
}

/// Console, Logs Insights and Jaeger links to the evidence in the report.
fn links_for(ctx: &Context<'_>, r: &Report) -> Vec<Link> {
    let (region, window) = (&ctx.c.region, &ctx.window);
    let mut out = vec![Link {
        label: format!("CodeDeploy deployment {}", ctx.failed.id),
        url: links::deployment(region, &ctx.failed.id),
    }];
    if let Some(rb) = &ctx.rollback {
        out.push(Link {
            label: format!("CodeDeploy rollback deployment {}", rb.id),
            url: links::deployment(region, &rb.id),
        });
    }
    if let Some(t) = &r.trigger {
        for a in &t.alarms {
            if let Some(u) = &a.url {
                out.push(Link {
                    label: format!("Alarm {}", a.name),
                    url: u.clone(),
                });
            }
        }
    }
    if let Some(l) = &r.logs {
        let ids: Vec<String> = l
            .traces
            .iter()
            .take(ctx.s.max_traces.max(1))
            .map(|t| t.trace_id.clone())
            .collect();
        if let (Some(g), false) = (&l.log_group, ids.is_empty()) {
            let q = links::insights_query(&ids);
            out.push(Link {
                label: "Logs Insights: error lines of the top traces".into(),
                url: links::insights(region, g, window.start, window.end, &q),
            });
        }
    }
    for t in &r.traces.traces {
        if let Some(u) = &t.ui_url {
            out.push(Link {
                label: format!("Jaeger: trace {}", t.trace_id),
                url: u.clone(),
            });
        }
    }
    out
}

/// (the deployment that failed, its rollback) from either id.
async fn resolve_pair(c: &Clients, d: Deployment) -> (Deployment, Option<Deployment>) {
    if d.is_rollback() {
        if let Some(orig) = d.rollback.rollback_triggering_deployment_id.clone()
            && let Ok(f) = codedeploy::get_deployment(c, &orig).await
        {
            return (f, Some(d));
        }
        return (d, None);
    }
    let rb = match d.rollback.rollback_deployment_id.clone() {
        Some(rid) => codedeploy::get_deployment(c, &rid).await.ok(),
        None => None,
    };
    (d, rb)
}

/// Per-period rows from the four series; periods without data are zero (ALB
/// publishes nothing while idle).
pub fn build_metrics(
    blue_tg: &str,
    green_tg: &str,
    blue: &(Series, Series),
    green: &(Series, Series),
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: u32,
) -> Metrics {
    use std::collections::BTreeMap;
    let mut rows: BTreeMap<i64, MetricPoint> = BTreeMap::new();
    let p = period.max(1) as i64;
    let slot = |t: DateTime<Utc>| t.timestamp().div_euclid(p) * p;
    let mut t = slot(start);
    while t < end.timestamp() {
        rows.insert(
            t,
            MetricPoint {
                at: DateTime::from_timestamp(t, 0).unwrap_or_default(),
                ..Default::default()
            },
        );
        t += p;
    }
    let mut add = |series: &Series, f: fn(&mut MetricPoint) -> &mut f64| {
        for (at, v) in series {
            let k = slot(*at);
            let row = rows.entry(k).or_insert_with(|| MetricPoint {
                at: DateTime::from_timestamp(k, 0).unwrap_or_default(),
                ..Default::default()
            });
            *f(row) += v;
        }
    };
    add(&blue.0, |r| &mut r.blue_5xx);
    add(&blue.1, |r| &mut r.blue_requests);
    add(&green.0, |r| &mut r.green_5xx);
    add(&green.1, |r| &mut r.green_requests);
    let points: Vec<MetricPoint> = rows.into_values().collect();
    let mut totals = MetricTotals::default();
    for pt in &points {
        totals.blue_5xx += pt.blue_5xx;
        totals.blue_requests += pt.blue_requests;
        totals.green_5xx += pt.green_5xx;
        totals.green_requests += pt.green_requests;
        if pt.green_5xx > 0.0 {
            totals.green_minutes_with_5xx += 1;
        }
    }
    Metrics {
        period_seconds: period,
        blue_target_group: blue_tg.into(),
        green_target_group: green_tg.into(),
        points,
        totals,
    }
}

/// What a stopped task's codes mean, and a sentence saying so.
pub fn classify_stop(t: &TaskFacts) -> (StopKind, String) {
    let reason = t.stopped_reason.as_deref().unwrap_or("");
    let creason = t.container_reason.as_deref().unwrap_or("");
    let code = t.stop_code.as_deref().unwrap_or("");
    let has = |s: &str, needle: &str| {
        s.to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    };
    if has(reason, "CannotPullContainerError")
        || has(creason, "CannotPullContainerError")
        || has(creason, "pull image")
    {
        return (
            StopKind::ImagePullFailed,
            "the image could not be pulled (CannotPullContainerError)".into(),
        );
    }
    if code == "TaskFailedToStart" {
        return (StopKind::FailedToStart, "the task failed to start".into());
    }
    if has(creason, "OutOfMemory") || has(reason, "OutOfMemory") {
        return (
            StopKind::OutOfMemory,
            "killed for exceeding its memory limit (exit 137)".into(),
        );
    }
    if has(reason, "health check") {
        return (
            StopKind::HealthCheckFailed,
            "failed the load balancer's health checks".into(),
        );
    }
    let expected = matches!(
        code,
        "UserInitiated" | "ServiceSchedulerInitiated" | "SpotInterruption" | "TerminationNotice"
    );
    match (code, t.exit_code) {
        ("EssentialContainerExited", Some(137)) => (
            StopKind::OutOfMemory,
            "killed (exit 137, usually for memory)".into(),
        ),
        ("EssentialContainerExited", Some(139)) => {
            (StopKind::Segfault, "segmentation fault (exit 139)".into())
        }
        ("EssentialContainerExited", Some(0)) => (
            StopKind::Other,
            "the essential container exited normally (exit 0)".into(),
        ),
        ("EssentialContainerExited", Some(c)) => (
            StopKind::ApplicationError,
            format!("application error (exit {c})"),
        ),
        _ if expected => (
            StopKind::Expected,
            "stopped by the scheduler, a deployment or a user".into(),
        ),
        _ => (StopKind::Other, "stopped for another reason".into()),
    }
}

/// Stopped tasks grouped by what their stop means.
pub fn findings(tasks: &[TaskFacts]) -> Vec<StopFinding> {
    let mut out: Vec<StopFinding> = Vec::new();
    for t in tasks
        .iter()
        .filter(|t| t.stopped_at.is_some() || t.last_status == "STOPPED")
    {
        let (kind, explanation) = classify_stop(t);
        let reason = t
            .container_reason
            .clone()
            .or(t.stopped_reason.clone())
            .map(|r| redact::redact_owned(&r));
        let key_reason = reason.as_deref().map(normalise::message);
        if let Some(f) = out.iter_mut().find(|f| {
            f.kind == kind
                && f.exit_code == t.exit_code
                && f.stop_code == t.stop_code
                && f.reason.as_deref().map(normalise::message) == key_reason
        }) {
            f.count += 1;
            if f.task_ids.len() < 5 {
                f.task_ids.push(t.task_id.clone());
            }
        } else {
            out.push(StopFinding {
                kind,
                count: 1,
                explanation,
                exit_code: t.exit_code,
                stop_code: t.stop_code.clone(),
                reason,
                task_ids: vec![t.task_id.clone()],
            });
        }
    }
    out.sort_by(|a, b| a.kind.cmp(&b.kind).then(b.count.cmp(&a.count)));
    out
}

/// Tasks that start and die within seconds, again and again.
pub fn crash_loop(tasks: &[TaskFacts]) -> Option<CrashLoop> {
    let failing: Vec<&TaskFacts> = tasks
        .iter()
        .filter(|t| {
            t.stopped_at.is_some()
                && matches!(
                    classify_stop(t).0,
                    StopKind::ApplicationError
                        | StopKind::Segfault
                        | StopKind::OutOfMemory
                        | StopKind::Other
                )
        })
        .collect();
    if failing.len() < 3 {
        return None;
    }
    let mut lifetimes: Vec<i64> = failing
        .iter()
        .filter_map(|t| Some((t.stopped_at? - t.started_at.or(t.created_at)?).num_seconds()))
        .collect();
    if lifetimes.len() < 3 {
        return None;
    }
    lifetimes.sort();
    let median = lifetimes[lifetimes.len() / 2];
    if median > CRASH_LOOP_LIFETIME_S {
        return None;
    }
    let first = tasks
        .iter()
        .filter_map(|t| t.started_at.or(t.created_at))
        .min()?;
    let last = failing.iter().filter_map(|t| t.stopped_at).max()?;
    let mut codes: Vec<i32> = failing.iter().filter_map(|t| t.exit_code).collect();
    codes.sort();
    let exit_code = codes.get(codes.len() / 2).copied();
    Some(CrashLoop {
        starts: tasks
            .iter()
            .filter(|t| t.started_at.is_some() || t.created_at.is_some())
            .count() as u32,
        stops: failing.len() as u32,
        window_seconds: (last - first).num_seconds(),
        median_lifetime_seconds: median,
        exit_code,
    })
}

/// The ECS evidence of the green task set: findings, crash loop and redacted tasks.
fn ecs_evidence(
    task_set_id: Option<String>,
    tasks: &[TaskFacts],
    service_events: Vec<ServiceEvent>,
) -> EcsEvidence {
    let mut listed: Vec<TaskFacts> = tasks.to_vec();
    listed.sort_by_key(|t| t.created_at.or(t.started_at));
    listed.truncate(MAX_TASKS_LISTED);
    for t in &mut listed {
        t.stopped_reason = t.stopped_reason.as_deref().map(redact::redact_owned);
        t.container_reason = t.container_reason.as_deref().map(redact::redact_owned);
    }
    EcsEvidence {
        task_set_id,
        tasks_seen: tasks.len() as u32,
        tasks_stopped: tasks
            .iter()
            .filter(|t| t.stopped_at.is_some() || t.last_status == "STOPPED")
            .count() as u32,
        findings: findings(tasks),
        crash_loop: crash_loop(tasks),
        tasks: listed,
        service_events,
    }
}

/// Alarm names from CodeDeploy's ALARM_ACTIVE message (`… Activated alarms: a b`).
pub fn activated_alarms(message: &str) -> Vec<String> {
    match message.split_once("Activated alarms:") {
        Some((_, rest)) => rest
            .split_whitespace()
            .map(|s| s.trim_matches(|c| c == ',' || c == '.').to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        None => Vec::new(),
    }
}

/// The first move to ALARM in the history, as evidence; `None` if it never fired.
pub fn alarm_evidence(name: &str, history: &[AlarmChange], region: &str) -> Option<AlarmEvidence> {
    let c = history
        .iter()
        .find(|h| h.new_state.as_deref() == Some("ALARM"))?;
    Some(AlarmEvidence {
        name: name.to_owned(),
        flipped_at: c.at,
        state_reason: c.reason.clone(),
        threshold: c.threshold,
        datapoints: c
            .datapoints
            .iter()
            .map(|(at, value)| Datapoint {
                at: *at,
                value: *value,
            })
            .collect(),
        url: Some(links::alarm(region, name)),
    })
}

/// Hooks a team writes; a failure there is the hook's, not traffic's.
const HOOKS: &[&str] = &[
    "BeforeInstall",
    "AfterInstall",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

/// What made CodeDeploy roll back: an alarm, a failed hook, a manual stop or its error.
pub fn decide_trigger(
    d: &Deployment,
    lifecycle: &[LifecycleDetail],
    alarms: Vec<AlarmEvidence>,
) -> Trigger {
    let code = d.error_code.clone();
    let failed_hook = lifecycle
        .iter()
        .find(|e| e.status == "Failed" && HOOKS.contains(&e.name.as_str()));
    let failed_any = lifecycle.iter().find(|e| e.status == "Failed");
    let lifecycle_ev = failed_hook
        .or(if code.as_deref() == Some("HOOK_EXECUTION_FAILURE") {
            failed_any
        } else {
            None
        })
        .map(|e| LifecycleEvidence {
            name: e.name.clone(),
            status: e.status.clone(),
            started_at: e.start,
            ended_at: e.end,
            diagnostics_code: e.error_code.clone(),
            script_name: e.script_name.clone(),
            message: e.message.as_deref().map(redact::redact_owned),
            log_tail: e.log_tail.as_deref().map(redact::redact_owned),
        });
    let (kind, summary) = match code.as_deref() {
        Some("ALARM_ACTIVE") => {
            let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
            (
                TriggerKind::Alarm,
                format!(
                    "CodeDeploy stopped the deployment because alarm(s) went to ALARM: {}.",
                    names.join(", ")
                ),
            )
        }
        _ if lifecycle_ev.is_some() => {
            let e = lifecycle_ev.as_ref().expect("checked");
            (
                TriggerKind::LifecycleEvent,
                format!(
                    "Lifecycle event {} failed, and CodeDeploy rolled back.",
                    e.name
                ),
            )
        }
        Some("MANUAL_STOP") if !alarms.is_empty() => {
            let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
            (
                TriggerKind::Alarm,
                format!(
                    "The deployment was stopped on request (MANUAL_STOP) after alarm(s) went to ALARM: {}.",
                    names.join(", ")
                ),
            )
        }
        Some("MANUAL_STOP") => (
            TriggerKind::ManualStop,
            "The deployment was stopped on request (MANUAL_STOP).".into(),
        ),
        Some(c) => (
            TriggerKind::DeploymentFailure,
            format!("CodeDeploy reported {c}."),
        ),
        None => (
            TriggerKind::Unknown,
            "CodeDeploy gave no error information.".into(),
        ),
    };
    Trigger {
        kind,
        summary,
        alarms,
        lifecycle_event: lifecycle_ev,
        error_code: code,
        error_message: d.error_message.as_deref().map(redact::redact_owned),
    }
}

/// When traffic was back on blue: the rollback's AllowTraffic end, else its end.
fn back_on_blue(
    rollback: Option<&Deployment>,
    rb_target: Option<&TargetDetail>,
    stop: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    rb_target
        .and_then(|t| {
            t.lifecycle
                .iter()
                .find(|e| e.name == "AllowTraffic" && e.status == "Succeeded")
                .and_then(|e| e.end)
        })
        .or(rollback.and_then(|r| r.complete_time))
        .or(stop)
}

/// Green weight over time, derived from the deployment configuration and the
/// AllowTraffic event (CodeDeploy keeps no history of weights).
pub fn traffic_steps(
    routing: Option<&TrafficRouting>,
    lifecycle: &[LifecycleDetail],
    stop: Option<DateTime<Utc>>,
    back: Option<DateTime<Utc>>,
) -> Vec<TrafficStep> {
    let Some(allow) = lifecycle.iter().find(|e| e.name == "AllowTraffic") else {
        return Vec::new();
    };
    let Some(t0) = allow.start else {
        return Vec::new();
    };
    let end = stop.or(allow.end).unwrap_or(t0);
    let mut steps = vec![TrafficStep {
        at: t0 - Duration::seconds(1),
        green_percent: 0.0,
    }];
    match routing {
        Some(TrafficRouting::Linear {
            percent,
            interval_minutes,
        }) => {
            let mut k = 0i64;
            loop {
                let at = t0 + Duration::minutes(k * (*interval_minutes as i64));
                let p = ((k + 1) * (*percent as i64)).min(100) as f64;
                if at > end {
                    break;
                }
                steps.push(TrafficStep {
                    at,
                    green_percent: p,
                });
                if p >= 100.0 {
                    break;
                }
                k += 1;
            }
        }
        Some(TrafficRouting::Canary {
            percent,
            interval_minutes,
        }) => {
            steps.push(TrafficStep {
                at: t0,
                green_percent: *percent as f64,
            });
            let full = t0 + Duration::minutes(*interval_minutes as i64);
            if full <= end {
                steps.push(TrafficStep {
                    at: full,
                    green_percent: 100.0,
                });
            }
        }
        Some(TrafficRouting::AllAtOnce) => steps.push(TrafficStep {
            at: t0,
            green_percent: 100.0,
        }),
        None => {}
    }
    if let Some(b) = back.filter(|b| *b >= t0) {
        steps.push(TrafficStep {
            at: b,
            green_percent: 0.0,
        });
    }
    steps
}

/// The deployment's events in time order, from what the other phases found.
pub fn timeline(
    d: &Deployment,
    rollback: Option<&Deployment>,
    lifecycle: &[LifecycleDetail],
    trigger: Option<&Trigger>,
    traffic: &[TrafficStep],
    tasks: &[TaskFacts],
    back: Option<DateTime<Utc>>,
) -> Vec<TimelineEntry> {
    let mut t = Vec::new();
    let mut push = |at: Option<DateTime<Utc>>, kind: &str, text: String| {
        if let Some(at) = at {
            t.push(TimelineEntry {
                at,
                kind: kind.into(),
                text,
            });
        }
    };
    push(
        d.create_time,
        "deployment_created",
        format!("Deployment {} created", d.id),
    );
    for e in lifecycle
        .iter()
        .filter(|e| e.status != "Skipped" && e.status != "Pending")
    {
        push(e.start, "lifecycle_event", format!("{} started", e.name));
        if e.status == "Failed" {
            push(
                e.end.or(e.start),
                "lifecycle_event",
                format!("{} failed", e.name),
            );
        }
    }
    for s in traffic.iter().filter(|s| s.green_percent > 0.0) {
        push(
            Some(s.at),
            "traffic_shift",
            format!(
                "green traffic {} % (per the deployment configuration)",
                crate::report::verdict::num(s.green_percent)
            ),
        );
    }
    if let Some(tr) = trigger {
        for a in &tr.alarms {
            push(
                a.flipped_at,
                "alarm",
                format!("alarm {} went to ALARM", a.name),
            );
        }
    }
    let mut stopped: Vec<&TaskFacts> = tasks.iter().filter(|t| t.stopped_at.is_some()).collect();
    stopped.sort_by_key(|t| t.stopped_at);
    if let Some(first) = stopped.first() {
        let (_, what) = classify_stop(first);
        push(
            first.stopped_at,
            "task_stopped",
            format!("first green task stopped: {what}"),
        );
    }
    let code = d
        .error_code
        .as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    push(
        d.complete_time,
        "stopped",
        format!(
            "deployment {} {}{code}",
            d.id,
            d.status.to_string().to_lowercase()
        ),
    );
    if let Some(rb) = rollback {
        push(
            rb.create_time,
            "rollback_started",
            format!("rollback deployment {} started", rb.id),
        );
    }
    push(back, "back_on_blue", "traffic back on blue".into());
    t.sort_by_key(|e| e.at);
    t
}

/// `family:revision` of a task definition ARN.
fn short_td(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_owned()
}

/// The tag of `repo:tag` (not of a digest reference).
fn image_tag(image: &str) -> Option<String> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::DeploymentStatus;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn task(
        id: &str,
        start: i64,
        stop: Option<i64>,
        code: &str,
        exit: Option<i32>,
        reason: &str,
        creason: Option<&str>,
    ) -> TaskFacts {
        TaskFacts {
            task_id: id.into(),
            last_status: if stop.is_some() {
                "STOPPED".into()
            } else {
                "RUNNING".into()
            },
            created_at: Some(t(start - 5)),
            started_at: Some(t(start)),
            stopped_at: stop.map(t),
            stop_code: Some(code.into()).filter(|c: &String| !c.is_empty()),
            stopped_reason: Some(reason.into()).filter(|r: &String| !r.is_empty()),
            exit_code: exit,
            container_reason: creason.map(str::to_owned),
        }
    }

    #[test]
    fn stop_codes_are_interpreted() {
        let oom = task(
            "a",
            0,
            Some(30),
            "EssentialContainerExited",
            Some(137),
            "Essential container in task exited",
            Some("OutOfMemoryError: Container killed due to memory usage"),
        );
        assert_eq!(classify_stop(&oom).0, StopKind::OutOfMemory);
        assert_eq!(
            classify_stop(&task(
                "b",
                0,
                Some(6),
                "EssentialContainerExited",
                Some(1),
                "Essential container in task exited",
                None
            ))
            .0,
            StopKind::ApplicationError
        );
        assert_eq!(
            classify_stop(&task(
                "c",
                0,
                Some(6),
                "EssentialContainerExited",
                Some(139),
                "",
                None
            ))
            .0,
            StopKind::Segfault
        );
        assert_eq!(
            classify_stop(&task(
                "d",
                0,
                Some(60),
                "ServiceSchedulerInitiated",
                Some(143),
                "Task failed ELB health checks in (target-group arn:x)",
                None
            ))
            .0,
            StopKind::HealthCheckFailed
        );
        assert_eq!(
            classify_stop(&task(
                "e",
                0,
                Some(1),
                "TaskFailedToStart",
                None,
                "CannotPullContainerError: pull image manifest has been retried",
                None
            ))
            .0,
            StopKind::ImagePullFailed
        );
        assert_eq!(
            classify_stop(&task(
                "f",
                0,
                Some(1),
                "TaskFailedToStart",
                None,
                "ResourceInitializationError: unable to pull secrets",
                None
            ))
            .0,
            StopKind::FailedToStart
        );
        assert_eq!(
            classify_stop(&task(
                "g",
                0,
                Some(1),
                "ServiceSchedulerInitiated",
                Some(143),
                "Scaling activity initiated by (deployment ecs-svc/1)",
                None
            ))
            .0,
            StopKind::Expected
        );
    }

    #[test]
    fn crash_loop_needs_repeated_short_lives() {
        let crashing: Vec<TaskFacts> = (0..5)
            .map(|i| {
                task(
                    &format!("t{i}"),
                    i * 10,
                    Some(i * 10 + 6),
                    "EssentialContainerExited",
                    Some(1),
                    "Essential container in task exited",
                    None,
                )
            })
            .collect();
        let c = crash_loop(&crashing).unwrap();
        assert_eq!(
            (c.starts, c.stops, c.median_lifetime_seconds, c.exit_code),
            (5, 5, 6, Some(1))
        );
        assert_eq!(c.window_seconds, 46);
        // Two failures are not a loop; long-lived tasks are not a crash loop either.
        assert!(crash_loop(&crashing[..2]).is_none());
        let slow: Vec<TaskFacts> = (0..4)
            .map(|i| {
                task(
                    &format!("s{i}"),
                    i * 1000,
                    Some(i * 1000 + 900),
                    "EssentialContainerExited",
                    Some(1),
                    "",
                    None,
                )
            })
            .collect();
        assert!(crash_loop(&slow).is_none());
        let f = findings(&crashing);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].kind, f[0].count, f[0].exit_code),
            (StopKind::ApplicationError, 5, Some(1))
        );
    }

    #[test]
    fn metrics_rows_fill_idle_minutes() {
        let blue = (vec![], vec![(t(0), 100.0), (t(120), 90.0)]);
        let green = (
            vec![(t(60), 4.0), (t(120), 7.0)],
            vec![(t(60), 10.0), (t(120), 12.0)],
        );
        let m = build_metrics("web-blue", "web-green", &blue, &green, t(0), t(180), 60);
        assert_eq!(m.points.len(), 3);
        assert_eq!(m.points[1].green_5xx, 4.0);
        assert_eq!(m.points[1].blue_requests, 0.0);
        assert_eq!(m.totals.green_5xx, 11.0);
        assert_eq!(m.totals.blue_requests, 190.0);
        assert_eq!(m.totals.green_minutes_with_5xx, 2);
    }

    #[test]
    fn linear_traffic_steps_until_the_stop() {
        let lc = vec![LifecycleDetail {
            name: "AllowTraffic".into(),
            status: "Failed".into(),
            start: Some(t(0)),
            end: Some(t(150)),
            ..Default::default()
        }];
        let steps = traffic_steps(
            Some(&TrafficRouting::Linear {
                percent: 10,
                interval_minutes: 1,
            }),
            &lc,
            Some(t(150)),
            Some(t(170)),
        );
        let got: Vec<(i64, f64)> = steps
            .iter()
            .map(|s| ((s.at - t(0)).num_seconds(), s.green_percent))
            .collect();
        assert_eq!(
            got,
            vec![(-1, 0.0), (0, 10.0), (60, 20.0), (120, 30.0), (170, 0.0)]
        );
    }

    #[test]
    fn alarm_message_names_alarms() {
        let m = "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the affected deployments have been stopped. Activated alarms: web-5xx web-latency";
        assert_eq!(activated_alarms(m), vec!["web-5xx", "web-latency"]);
        assert!(activated_alarms("nothing here").is_empty());
    }

    fn dep(code: Option<&str>) -> Deployment {
        Deployment {
            status: DeploymentStatus::Stopped,
            application: "app".into(),
            group: "grp".into(),
            creator: Some("user".into()),
            error_code: code.map(str::to_owned),
            ..Deployment::unknown("d-1")
        }
    }

    #[test]
    fn trigger_kinds() {
        let hook = vec![LifecycleDetail {
            name: "AfterAllowTestTraffic".into(),
            status: "Failed".into(),
            error_code: Some("ScriptFailed".into()),
            message: Some("relation \"orders_v2\" does not exist".into()),
            ..Default::default()
        }];
        let tr = decide_trigger(&dep(Some("HOOK_EXECUTION_FAILURE")), &hook, vec![]);
        assert_eq!(tr.kind, TriggerKind::LifecycleEvent);
        assert_eq!(tr.lifecycle_event.unwrap().name, "AfterAllowTestTraffic");
        let a = AlarmEvidence {
            name: "web-5xx".into(),
            ..Default::default()
        };
        assert_eq!(
            decide_trigger(&dep(Some("ALARM_ACTIVE")), &[], vec![a.clone()]).kind,
            TriggerKind::Alarm
        );
        assert_eq!(
            decide_trigger(&dep(Some("MANUAL_STOP")), &[], vec![a]).kind,
            TriggerKind::Alarm
        );
        assert_eq!(
            decide_trigger(&dep(Some("MANUAL_STOP")), &[], vec![]).kind,
            TriggerKind::ManualStop
        );
        assert_eq!(
            decide_trigger(&dep(None), &[], vec![]).kind,
            TriggerKind::Unknown
        );
    }

    #[test]
    fn phase_notes_enter_the_report_in_order() {
        let mut r = Report::new(
            Source {
                kind: SourceKind::Aws,
                input: "d-1".into(),
                region: None,
                release: None,
            },
            t(0),
        );
        r.add_missing("deployment group", "first");
        let v = take(
            &mut r,
            Phase {
                value: 7,
                missing: vec![missing("ecs", "second"), missing("ecs", "third")],
            },
        );
        assert_eq!(v, 7);
        let got: Vec<(&str, &str)> = r
            .missing
            .iter()
            .map(|m| (m.evidence.as_str(), m.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("deployment group", "first"),
                ("ecs", "second"),
                ("ecs", "third")
            ]
        );
    }

    #[test]
    fn image_tags() {
        assert_eq!(
            image_tag("123.dkr.ecr.eu-west-1.amazonaws.com/web:1a2b3c4").as_deref(),
            Some("1a2b3c4")
        );
        assert_eq!(
            image_tag("123.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:abc"),
            None
        );
        assert_eq!(image_tag("localhost:5000/web"), None);
    }
}
