//! Gathers the evidence of an investigation through the read-only `aws` readers: each
//! read that fails becomes a "missing" line and the others go on, so one denied
//! permission does not hide the rest.

use super::Settings;
use super::model::*;
use super::verdict;
use crate::aws::elb::{self, TargetHealth};
use crate::aws::incident::{self, ServiceState, ServiceTask};
use crate::aws::{Clients, evidence, logs};
use crate::error::{Error, Result};
use crate::logscan::analyse::Analyser;
use chrono::{DateTime, Duration, Utc};

/// Log streams read at most (the newest tasks').
const MAX_STREAMS: usize = 100;
/// CodeDeploy deployments listed.
const RECENT_DEPLOYMENTS: usize = 3;

/// Everything read for one investigation (the verdict is decided afterwards). A
/// service that does not exist is an error: there is nothing to investigate.
pub async fn gather(c: &Clients, s: &Settings, now: DateTime<Utc>) -> Result<Investigation> {
    let since = now - Duration::from_std(s.since).unwrap_or_else(|_| Duration::hours(1));
    let mut inv = Investigation {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        generator: format!("shipwatch {}", env!("CARGO_PKG_VERSION")),
        generated_at: now,
        region: c.region.clone(),
        cluster: s.cluster.clone(),
        service: s.service.clone(),
        since,
        alarm: s.alarm.clone(),
        ..Default::default()
    };
    // The service first: when AWS cannot be reached at all, this read says so in one
    // timeout, instead of six reads each waiting theirs and a "nothing found" at the end.
    let service = service(c, s, &mut inv).await?;
    let group_alarms = deployments(c, s, &mut inv).await;
    alarms(c, s, &group_alarms, &mut inv).await;
    let tasks = tasks(c, s, &mut inv).await;
    if let Some(svc) = &service {
        targets(c, svc, &tasks, &mut inv).await;
    }
    insights(c, s, &tasks, &mut inv).await;
    read_logs(c, s, service.as_ref(), &tasks, &mut inv).await;
    Ok(inv)
}

fn miss(inv: &mut Investigation, evidence: &str, reason: impl Into<String>) {
    inv.missing.push(Missing {
        evidence: evidence.into(),
        reason: reason.into(),
    });
}

/// Recent CodeDeploy deployments; returns the group's alarms for the alarm triage.
async fn deployments(c: &Clients, s: &Settings, inv: &mut Investigation) -> Vec<String> {
    let (Some(app), Some(group)) = (&s.application, &s.group) else {
        miss(
            inv,
            "deployments",
            "no CodeDeploy application and group configured",
        );
        return Vec::new();
    };
    let mut alarms = Vec::new();
    match crate::aws::codedeploy::get_group(c, app, group).await {
        Ok(g) => alarms = g.alarms,
        Err(e) => miss(inv, "deployment group", e.to_string()),
    }
    match incident::recent_deployments(c, app, group, RECENT_DEPLOYMENTS).await {
        Ok(list) => {
            // ListDeployments promises no order: ask for the active ones explicitly.
            let active = match crate::aws::codedeploy::list_active(c, app, group).await {
                Ok(ids) => ids,
                Err(e) => {
                    miss(inv, "active deployments", e.to_string());
                    Vec::new()
                }
            };
            inv.triage.deployment_in_progress = active.first().cloned().or_else(|| {
                list.iter()
                    .find(|d| d.status.is_active())
                    .map(|d| d.id.clone())
            });
            inv.checked.push(format!(
                "CodeDeploy group {group}: {} recent deployment(s), {}",
                list.len(),
                inv.triage
                    .deployment_in_progress
                    .as_deref()
                    .map(|id| format!("{id} in progress"))
                    .unwrap_or_else(|| "none in progress".into())
            ));
            inv.triage.deployments = list
                .into_iter()
                .map(|d| DeploymentLine {
                    id: d.id,
                    status: d.status.to_string(),
                    created: d.create_time,
                    error: d.error_message,
                })
                .collect();
        }
        Err(e) => miss(inv, "deployments", e.to_string()),
    }
    alarms
}

async fn alarms(c: &Clients, s: &Settings, group_alarms: &[String], inv: &mut Investigation) {
    let mut watched: Vec<String> = s.alarms.clone();
    watched.extend(group_alarms.iter().cloned());
    watched.extend(s.alarm.iter().cloned());
    watched.sort();
    watched.dedup();
    match incident::firing_alarms(c, &watched, &s.cluster, &s.service).await {
        Ok(firing) => {
            inv.checked.push(format!(
                "alarms: {} watched ({}), plus any on the cluster or service: {} in ALARM",
                watched.len(),
                if watched.is_empty() {
                    "none".into()
                } else {
                    watched.join(", ")
                },
                firing.len()
            ));
            if let Some(name) = &s.alarm
                && !firing.iter().any(|a| &a.name == name)
            {
                inv.checked.push(format!(
                    "the alarm {name} named with --alarm is not in ALARM now"
                ));
            }
            inv.triage.alarms = firing;
        }
        Err(e) => miss(inv, "alarms", e.to_string()),
    }
}

async fn service(
    c: &Clients,
    s: &Settings,
    inv: &mut Investigation,
) -> Result<Option<ServiceState>> {
    match incident::service_state(c, &s.cluster, &s.service).await {
        Ok(Some(mut svc)) => {
            inv.checked.push(format!(
                "service {}: {} running, {} desired, {} pending",
                svc.service, svc.running, svc.desired, svc.pending
            ));
            svc.events.retain(|e| e.at >= inv.since);
            svc.events.sort_by_key(|e| std::cmp::Reverse(e.at));
            inv.triage.service = Some(svc.clone());
            Ok(Some(svc))
        }
        Ok(None) => Err(Error::Precondition(format!(
            "Investigating service {} in cluster {} failed: ECS has no active service of that name there. Check --cluster/--service (or [service] in the configuration) and the region ({}).",
            s.service, s.cluster, c.region
        ))),
        // AWS out of reach (network, timeouts, throttling past the retries, no or bad
        // credentials): nothing else can be read either, and "nothing found" would be
        // false. Exit 9 with the cause; one refused permission only goes missing.
        Err(e) if e.is_unreachable() => Err(e),
        Err(e) => {
            miss(inv, "service", e.to_string());
            Ok(None)
        }
    }
}

async fn tasks(c: &Clients, s: &Settings, inv: &mut Investigation) -> Vec<ServiceTask> {
    let tasks =
        match incident::service_tasks(c, &s.cluster, &s.service, s.container.as_deref()).await {
            Ok(t) => t,
            Err(e) => {
                miss(inv, "tasks", e.to_string());
                return Vec::new();
            }
        };
    let since = inv.since;
    inv.evidence.running_tasks = tasks
        .iter()
        .filter(|t| t.facts.last_status == "RUNNING")
        .count();
    inv.evidence.started_in_window = tasks
        .iter()
        .filter(|t| t.facts.started_at.is_some_and(|at| at >= since))
        .count();
    inv.evidence.stopped = tasks
        .iter()
        .filter(|t| {
            t.facts.stopped_at.is_some_and(|at| at >= since)
                || (t.facts.stop_code.is_some() && t.facts.stopped_at.is_none())
        })
        .map(stopped_task)
        .collect();
    inv.evidence.crash_loop = verdict::crash_loop(&inv.evidence.stopped);
    inv.checked.push(format!(
        "tasks: {} running, {} started and {} stopped since {}{}",
        inv.evidence.running_tasks,
        inv.evidence.started_in_window,
        inv.evidence.stopped.len(),
        since.format("%H:%M:%SZ"),
        if inv.evidence.crash_loop {
            " (crash loop)"
        } else {
            ""
        }
    ));
    tasks
}

fn stopped_task(t: &ServiceTask) -> StoppedTask {
    let (kind, meaning) = verdict::classify_stop(&t.facts);
    StoppedTask {
        task_id: t.facts.task_id.clone(),
        kind,
        meaning,
        exit_code: t.facts.exit_code,
        stop_code: t.facts.stop_code.clone(),
        reason: t
            .facts
            .container_reason
            .clone()
            .or(t.facts.stopped_reason.clone()),
        started_at: t.facts.started_at,
        stopped_at: t.facts.stopped_at,
        ran_seconds: match (t.facts.started_at, t.facts.stopped_at) {
            (Some(a), Some(b)) => Some((b - a).num_seconds()),
            _ => None,
        },
        peak_memory_mib: None,
        memory_limit_mib: t.memory_mib,
    }
}

async fn targets(c: &Clients, svc: &ServiceState, tasks: &[ServiceTask], inv: &mut Investigation) {
    let by_ip: Vec<(String, String)> = tasks
        .iter()
        .filter_map(|t| Some((t.ip.clone()?, t.facts.task_id.clone())))
        .collect();
    let groups = svc.all_target_groups();
    let mut all: Vec<TargetHealth> = Vec::new();
    for tg in &groups {
        match elb::target_health(c, tg).await {
            Ok(mut list) => {
                elb::map_to_tasks(&mut list, &by_ip);
                all.extend(list);
            }
            Err(e) => miss(inv, "target health", e.to_string()),
        }
    }
    let count = |s: &str| all.iter().filter(|t| t.state == s).count();
    inv.checked.push(format!(
        "target health: {} target(s) in {} target group(s): {} healthy, {} unhealthy, {} initial, {} draining",
        all.len(),
        groups.len(),
        count("healthy"),
        count("unhealthy"),
        count("initial"),
        count("draining")
    ));
    inv.evidence.targets = all;
}

async fn insights(c: &Clients, s: &Settings, tasks: &[ServiceTask], inv: &mut Investigation) {
    let setting = match incident::container_insights_setting(c, &s.cluster).await {
        Ok(v) => v,
        Err(e) => {
            miss(inv, "Container Insights", e.to_string());
            return;
        }
    };
    inv.evidence.insights.setting = setting.clone();
    if !matches!(setting.as_deref(), Some("enabled" | "enhanced")) {
        miss(
            inv,
            "Container Insights",
            format!(
                "Container Insights is off for cluster {} (no CPU or memory figures); turn it on with `aws ecs update-cluster-settings --cluster {} --settings name=containerInsights,value=enhanced`",
                s.cluster, s.cluster
            ),
        );
        return;
    }
    const NS: &str = "ECS/ContainerInsights";
    let dims = [
        ("ClusterName", s.cluster.as_str()),
        ("ServiceName", s.service.as_str()),
    ];
    let end = inv.generated_at + Duration::days(1);
    let since = inv.since;
    let read = |metric: &'static str| incident::metric_maxima(c, NS, metric, &dims, since, end);
    match (read("MemoryUtilized").await, read("MemoryReserved").await) {
        (Ok(used), Ok(reserved)) => {
            inv.evidence.insights.service_memory_percent = percent(&used, &reserved);
        }
        (Err(e), _) | (_, Err(e)) => miss(inv, "Container Insights memory", e.to_string()),
    }
    if let (Ok(used), Ok(reserved)) = (read("CpuUtilized").await, read("CpuReserved").await) {
        inv.evidence.insights.service_cpu_peak_percent = percent(&used, &reserved)
            .iter()
            .map(|p| p.1)
            .reduce(f64::max);
    }
    // Per task (enhanced observability): the peak before each OOM kill.
    let family_of = |t: &ServiceTask| {
        t.task_definition_arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .and_then(|f| f.split(':').next())
            .map(str::to_owned)
    };
    let mut per_task = 0;
    for st in inv
        .evidence
        .stopped
        .iter_mut()
        .filter(|t| t.kind == StopKind::OutOfMemory)
    {
        let Some(family) = tasks
            .iter()
            .find(|t| t.facts.task_id == st.task_id)
            .and_then(family_of)
        else {
            continue;
        };
        let dims = [
            ("ClusterName", s.cluster.as_str()),
            ("TaskDefinitionFamily", family.as_str()),
            ("TaskId", st.task_id.as_str()),
        ];
        if let Ok(points) =
            incident::metric_maxima(c, NS, "MemoryUtilized", &dims, since, end).await
        {
            st.peak_memory_mib = points.iter().map(|p| p.1).reduce(f64::max);
            per_task += usize::from(st.peak_memory_mib.is_some());
        }
    }
    let mem = &inv.evidence.insights.service_memory_percent;
    inv.checked.push(format!(
        "Container Insights ({}): {} minute(s) of service memory{}{}",
        setting.unwrap_or_default(),
        mem.len(),
        mem.iter()
            .map(|p| p.1)
            .reduce(f64::max)
            .map(|m| format!(", peak {m:.0} % of reserved"))
            .unwrap_or_default(),
        if per_task > 0 {
            format!(", per-task memory of {per_task} killed task(s)")
        } else {
            String::new()
        }
    ));
}

/// Used ÷ reserved per minute, in percent, where both have a value.
fn percent(
    used: &[(DateTime<Utc>, f64)],
    reserved: &[(DateTime<Utc>, f64)],
) -> Vec<(DateTime<Utc>, f64)> {
    used.iter()
        .filter_map(|(at, u)| {
            let r = reserved.iter().find(|(t, _)| t == at)?.1;
            (r > 0.0).then(|| (*at, u * 100.0 / r))
        })
        .collect()
}

async fn read_logs(
    c: &Clients,
    s: &Settings,
    svc: Option<&ServiceState>,
    tasks: &[ServiceTask],
    inv: &mut Investigation,
) {
    let Some(td_arn) = tasks
        .last()
        .and_then(|t| t.task_definition_arn.clone())
        .or(svc.map(|s| s.task_definition.clone()))
    else {
        miss(
            inv,
            "logs",
            "no task and no task definition to find the log streams from",
        );
        return;
    };
    let td = match evidence::task_definition_logs(c, &td_arn).await {
        Ok(Some(td)) => td,
        Ok(None) => return miss(inv, "logs", format!("task definition {td_arn} not found")),
        Err(e) => return miss(inv, "logs", e.to_string()),
    };
    let Some(al) = td
        .logs
        .iter()
        .find(|l| Some(&l.container) == s.container.as_ref())
        .or(td.logs.first())
        .cloned()
    else {
        return miss(
            inv,
            "logs",
            format!("{} has no awslogs log configuration", td.name),
        );
    };
    let Some(prefix) = al.stream_prefix.clone() else {
        return miss(
            inv,
            "logs",
            "the container has no awslogs-stream-prefix, so task log streams cannot be derived",
        );
    };
    let group = s.log_group.clone().unwrap_or(al.group.clone());
    let streams: Vec<String> = tasks
        .iter()
        .rev()
        .filter(|t| t.facts.stopped_at.is_none_or(|at| at >= inv.since))
        .take(MAX_STREAMS)
        .map(|t| format!("{prefix}/{}/{}", al.container, t.facts.task_id))
        .collect();
    let mut limits = s.limits.clone();
    limits.since_ms = None;
    limits.until_ms = None;
    let deadline = limits.max_time.map(|d| std::time::Instant::now() + d);
    let mut a = Analyser::new(s.trace_id_field.as_deref(), limits);
    let q = logs::LogQuery {
        log_group: group.clone(),
        streams: streams.clone(),
        start_ms: inv.since.timestamp_millis(),
        end_ms: (inv.generated_at + Duration::days(1)).timestamp_millis(),
        filter_pattern: None,
    };
    match logs::read_events(c, &q, deadline, |e| {
        a.feed_event(&e.stream, e.timestamp_ms, &e.message);
        !a.stopped()
    })
    .await
    {
        Ok(stats) => {
            if let Some(why) = stats.stopped_early {
                a.note_cap(format!("read ended early: {why}"));
            }
            let mut ev = a.finish(format!(
                "CloudWatch Logs {group}, {} task stream(s)",
                streams.len()
            ));
            ev.log_group = Some(group.clone());
            ev.streams = streams;
            inv.checked.push(format!(
                "logs: {} line(s) in {} task stream(s) of {group}: {} error line(s)",
                ev.lines_read,
                ev.streams.len(),
                ev.error_lines
            ));
            inv.evidence.logs = Some(ev);
        }
        Err(e) => miss(inv, "logs", e.to_string()),
    }
}
