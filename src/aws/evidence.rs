//! AWS calls of the rollback report that the deploy path does not make: the
//! deployment target with full lifecycle diagnostics, alarm history, ALB metrics per
//! target group, the green task set's tasks (stopped ones included), the task
//! definition's awslogs settings and the service's events.
//!
//! Each function returns plain data (types below or in `model`); deciding what
//! the data means happens in `report::collect`, without AWS.

use super::model::{ServiceEvent, TaskFacts};
use super::{Clients, sdk_error, to_chrono};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// The deployment's ECS target with everything the report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetDetail {
    pub status: String,
    pub lifecycle: Vec<LifecycleDetail>,
    pub task_sets: Vec<TaskSetInfo>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifecycleDetail {
    pub name: String,
    pub status: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub error_code: Option<String>,
    pub script_name: Option<String>,
    pub message: Option<String>,
    pub log_tail: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskSetInfo {
    /// `ecs-svc/<digits>`: also the `startedBy` of its tasks.
    pub id: String,
    /// `Blue` or `Green`.
    pub label: String,
    pub traffic_weight: f64,
    pub target_group: Option<String>,
    pub status: String,
}

/// The first ECS target of a deployment (an ECS deployment has one: `cluster:service`).
/// `target_id`: the target's id when it is likely known (`cluster:service`, as
/// CodeDeploy names an ECS target): one call instead of listing the targets first. A
/// guess CodeDeploy does not know falls back to the listing.
pub async fn deployment_target_of(
    c: &Clients,
    deployment_id: &str,
    target_id: Option<String>,
) -> Result<Option<TargetDetail>> {
    use super::codedeploy::ecs_target;
    let t = match target_id {
        Some(guess) => match ecs_target(c, deployment_id, &mut Some(guess)).await {
            Ok(Some(t)) => Some(t),
            Err(e) if e.is_transient() => return Err(e),
            _ => ecs_target(c, deployment_id, &mut None).await?,
        },
        None => ecs_target(c, deployment_id, &mut None).await?,
    };
    let Some(t) = t else {
        return Ok(None);
    };
    Ok(Some(TargetDetail {
        status: t
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        lifecycle: t
            .lifecycle_events()
            .iter()
            .map(|e| {
                let d = e.diagnostics();
                LifecycleDetail {
                    name: e.lifecycle_event_name().unwrap_or_default().to_owned(),
                    status: e
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    start: e.start_time().map(to_chrono),
                    end: e.end_time().map(to_chrono),
                    error_code: d
                        .and_then(|d| d.error_code())
                        .map(|c| c.as_str().to_owned()),
                    script_name: d
                        .and_then(|d| d.script_name())
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    message: d
                        .and_then(|d| d.message())
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    log_tail: d
                        .and_then(|d| d.log_tail())
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                }
            })
            .collect(),
        task_sets: t
            .task_sets_info()
            .iter()
            .map(|s| TaskSetInfo {
                id: s.identifer().unwrap_or_default().to_owned(),
                label: s
                    .task_set_label()
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default(),
                traffic_weight: s.traffic_weight(),
                target_group: s.target_group().and_then(|g| g.name()).map(str::to_owned),
                status: s.status().unwrap_or_default().to_owned(),
            })
            .collect(),
    }))
}

/// One state change of an alarm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmChange {
    pub at: Option<DateTime<Utc>>,
    pub summary: String,
    pub old_state: Option<String>,
    pub new_state: Option<String>,
    pub reason: Option<String>,
    pub threshold: Option<f64>,
    /// Evaluated datapoints (time, value), when CloudWatch recorded them.
    pub datapoints: Vec<(DateTime<Utc>, f64)>,
}

/// State changes of `alarm` between `start` and `end`, oldest first.
pub async fn alarm_history(
    c: &Clients,
    alarm: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<AlarmChange>> {
    use aws_sdk_cloudwatch::types::{HistoryItemType, ScanBy};
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let page = c
            .cloudwatch
            .describe_alarm_history()
            .alarm_name(alarm)
            .history_item_type(HistoryItemType::StateUpdate)
            .start_date(smithy_time(start))
            .end_date(smithy_time(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("cloudwatch:DescribeAlarmHistory", e))?;
        for item in page.alarm_history_items() {
            let mut change = parse_history_data(item.history_data().unwrap_or("{}"));
            change.at = item.timestamp().map(to_chrono);
            change.summary = item.history_summary().unwrap_or_default().to_owned();
            out.push(change);
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    out.sort_by_key(|c| c.at);
    Ok(out)
}

/// `HistoryData` of a StateUpdate item: old and new state, reason, evaluated datapoints.
pub fn parse_history_data(data: &str) -> AlarmChange {
    let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    let new = &v["newState"];
    let rd = &new["stateReasonData"];
    let datapoints = rd["evaluatedDatapoints"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    let t = d["timestamp"].as_str().and_then(parse_cw_time)?;
                    Some((t, d["value"].as_f64()?))
                })
                .collect()
        })
        .unwrap_or_default();
    AlarmChange {
        at: None,
        summary: String::new(),
        old_state: v["oldState"]["stateValue"].as_str().map(str::to_owned),
        new_state: new["stateValue"].as_str().map(str::to_owned),
        reason: new["stateReason"].as_str().map(str::to_owned),
        threshold: rd["threshold"].as_f64(),
        datapoints,
    }
}

/// CloudWatch writes `2025-05-15T15:29:00.000+0000` (no colon in the offset).
fn parse_cw_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn smithy_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(t.timestamp_millis())
}

/// The dimension value CloudWatch uses for a target group (`targetgroup/<name>/<id>`)
/// and its load balancer (`app/<name>/<id>`).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupDims {
    pub load_balancer: Option<String>,
    pub target_group: String,
}

impl TargetGroupDims {
    /// The dimensions of a target group from its ARN and its load balancer's ARN: the
    /// ARNs' resource parts, as the ALB publishes its metrics under.
    pub fn from_arns(target_group_arn: &str, load_balancer_arn: Option<&str>) -> Option<Self> {
        let target_group = target_group_arn
            .rsplit_once(":targetgroup/")
            .map(|(_, r)| format!("targetgroup/{r}"))?;
        Some(TargetGroupDims {
            load_balancer: load_balancer_arn
                .and_then(|a| a.rsplit_once(":loadbalancer/"))
                .map(|(_, r)| r.to_owned()),
            target_group,
        })
    }
}

/// Finds the metric dimensions of target groups by name or ARN (CodeDeploy knows only
/// names). They are built from ELBv2's description of the target groups, since
/// ListMetrics shows a new metric only up to 15 minutes after its first data point —
/// too late for a green target group that took its first request a minute ago.
/// ListMetrics is the fallback when the target groups cannot be described.
pub async fn target_group_dims(
    c: &Clients,
    names: &[&str],
) -> Result<Vec<Option<TargetGroupDims>>> {
    match described_dims(c, names).await {
        Ok(found) if found.iter().all(Option::is_some) => Ok(found),
        Ok(found) => {
            let listed = listed_dims(c, names).await?;
            Ok(found
                .into_iter()
                .zip(listed)
                .map(|(d, l)| d.or(l))
                .collect())
        }
        Err(_) => listed_dims(c, names).await,
    }
}

/// The dimensions of the target groups ELBv2 describes, in `names`' order.
async fn described_dims(c: &Clients, names: &[&str]) -> Result<Vec<Option<TargetGroupDims>>> {
    let (arns, plain): (Vec<&str>, Vec<&str>) = names.iter().partition(|n| n.starts_with("arn:"));
    let mut groups = Vec::new();
    // One call per kind: DescribeTargetGroups takes names or ARNs, not both.
    for (by_arn, list) in [(true, arns), (false, plain)] {
        if list.is_empty() {
            continue;
        }
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        let call = c.elb.describe_target_groups();
        let call = if by_arn {
            call.set_target_group_arns(Some(list))
        } else {
            call.set_names(Some(list))
        };
        let out = call
            .send()
            .await
            .map_err(|e| sdk_error("elasticloadbalancing:DescribeTargetGroups", e))?;
        groups.extend(out.target_groups().iter().filter_map(|g| {
            let arn = g.target_group_arn()?;
            TargetGroupDims::from_arns(arn, g.load_balancer_arns().first().map(String::as_str))
        }));
    }
    Ok(names
        .iter()
        .map(|n| {
            groups
                .iter()
                .find(|d| tg_matches(&d.target_group, n) || n.ends_with(&d.target_group))
                .cloned()
        })
        .collect())
}

/// The dimensions found by listing the ALB's RequestCount metrics.
async fn listed_dims(c: &Clients, names: &[&str]) -> Result<Vec<Option<TargetGroupDims>>> {
    use aws_sdk_cloudwatch::types::DimensionFilter;
    let mut found: Vec<Option<TargetGroupDims>> = vec![None; names.len()];
    let mut token: Option<String> = None;
    for _ in 0..50 {
        let page = c
            .cloudwatch
            .list_metrics()
            .namespace("AWS/ApplicationELB")
            .metric_name("RequestCount")
            .dimensions(DimensionFilter::builder().name("TargetGroup").build())
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("cloudwatch:ListMetrics", e))?;
        for m in page.metrics() {
            let dims = m.dimensions();
            let get = |n: &str| {
                dims.iter()
                    .find(|d| d.name() == Some(n))
                    .and_then(|d| d.value())
                    .map(str::to_owned)
            };
            let Some(tg) = get("TargetGroup") else {
                continue;
            };
            // Only the LoadBalancer+TargetGroup set (not the per-AZ ones).
            if dims.len() > 2 {
                continue;
            }
            for (i, name) in names.iter().enumerate() {
                if found[i].is_none() && tg_matches(&tg, name) {
                    found[i] = Some(TargetGroupDims {
                        load_balancer: get("LoadBalancer"),
                        target_group: tg.clone(),
                    });
                }
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() || found.iter().all(Option::is_some) {
            break;
        }
    }
    Ok(found)
}

/// `targetgroup/<name>/<id>` (or a full ARN) names target group `name`.
pub fn tg_matches(value: &str, name: &str) -> bool {
    let v = value
        .rsplit_once(":targetgroup/")
        .map(|(_, r)| r)
        .or_else(|| value.strip_prefix("targetgroup/"))
        .unwrap_or(value);
    v.split('/').next() == Some(name)
}

/// Per-period sums of one metric: (time, value), oldest first.
pub type Series = Vec<(DateTime<Utc>, f64)>;

/// 5xx and request counts for each target group, per `period` seconds.
/// Returns, per target group, `(5xx series, request series)`.
pub async fn target_group_counts(
    c: &Clients,
    groups: &[TargetGroupDims],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: i32,
) -> Result<Vec<(Series, Series)>> {
    let mut queries = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        queries.push(alb_query(
            format!("e{i}"),
            "HTTPCode_Target_5XX_Count",
            g,
            period,
            "Sum",
        ));
        queries.push(alb_query(format!("r{i}"), "RequestCount", g, period, "Sum"));
    }
    let mut by_id = metric_data(c, queries, start, end).await?;
    let mut take = |id: String| by_id.remove(&id).unwrap_or_default();
    Ok((0..groups.len())
        .map(|i| (take(format!("e{i}")), take(format!("r{i}"))))
        .collect())
}

/// A GetMetricData query `id` for `statistic` of ALB `metric` of target group `g`
/// (with its load balancer when known), per `period` seconds.
pub(super) fn alb_query(
    id: String,
    metric: &str,
    g: &TargetGroupDims,
    period: i32,
    statistic: &str,
) -> aws_sdk_cloudwatch::types::MetricDataQuery {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let mut m = Metric::builder()
        .namespace("AWS/ApplicationELB")
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name("TargetGroup")
                .value(&g.target_group)
                .build(),
        );
    if let Some(lb) = &g.load_balancer {
        m = m.dimensions(Dimension::builder().name("LoadBalancer").value(lb).build());
    }
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(m.build())
                .period(period)
                .stat(statistic)
                .build(),
        )
        .return_data(true)
        .build()
}

/// GetMetricData over `start..end`, up to 20 pages: each query's series by its id,
/// oldest first.
pub(super) async fn metric_data(
    c: &Clients,
    queries: Vec<aws_sdk_cloudwatch::types::MetricDataQuery>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<std::collections::HashMap<String, Series>> {
    use aws_sdk_cloudwatch::types::ScanBy;
    let mut out: std::collections::HashMap<String, Series> = std::collections::HashMap::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let page = c
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(smithy_time(start))
            .end_time(smithy_time(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("cloudwatch:GetMetricData", e))?;
        for r in page.metric_data_results() {
            let Some(id) = r.id() else { continue };
            out.entry(id.to_owned()).or_default().extend(
                r.timestamps()
                    .iter()
                    .map(to_chrono)
                    .zip(r.values().iter().copied()),
            );
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for s in out.values_mut() {
        s.sort_by_key(|p| p.0);
    }
    Ok(out)
}

/// A task set as DescribeServices shows it, with its target groups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskSetDetail {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub external_id: Option<String>,
    pub target_group_arns: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceSnapshot {
    pub task_definition: String,
    pub task_sets: Vec<TaskSetDetail>,
    /// The latest service events (ECS keeps 100), newest first as ECS returns them.
    pub events: Vec<ServiceEvent>,
}

/// The service's task sets and recent events, as the report needs them; read through
/// `incident::service_state`, the one DescribeServices reader of the evidence.
pub async fn service_snapshot(
    c: &Clients,
    cluster: &str,
    service: &str,
) -> Result<Option<ServiceSnapshot>> {
    let state = super::incident::service_state(c, cluster, service).await?;
    Ok(state.map(|s| ServiceSnapshot {
        task_definition: s.task_definition,
        task_sets: s
            .task_sets
            .into_iter()
            .map(|t| TaskSetDetail {
                id: t.id,
                status: t.status,
                task_definition: t.task_definition,
                external_id: t.external_id,
                target_group_arns: t.target_group_arns,
            })
            .collect(),
        events: s.events,
    }))
}

/// A task with the task definition it ran, for finding log streams.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GreenTask {
    pub facts: TaskFacts,
    pub task_definition_arn: Option<String>,
}

/// The ARNs of the tasks a task set started that have `status` as desired status.
async fn started_by(
    c: &Clients,
    cluster: &str,
    task_set_id: &str,
    status: aws_sdk_ecs::types::DesiredStatus,
) -> Result<Vec<String>> {
    let mut arns: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..50 {
        let page = c
            .ecs
            .list_tasks()
            .cluster(cluster)
            .started_by(task_set_id)
            .desired_status(status.clone())
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("ecs:ListTasks", e))?;
        for a in page.task_arns() {
            if !arns.contains(a) {
                arns.push(a.clone());
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(arns)
}

/// Tasks started by a task set (`startedBy` = its id), running and stopped.
pub async fn task_set_tasks(
    c: &Clients,
    cluster: &str,
    task_set_id: &str,
    container: Option<&str>,
) -> Result<Vec<GreenTask>> {
    let arns = task_set_task_arns(c, cluster, task_set_id).await?;
    describe_tasks(c, cluster, &arns, container).await
}

/// The ARNs of the tasks a task set started, running and stopped: what the tasks' log
/// streams are named by, known a round of calls before the tasks are described.
pub async fn task_set_task_arns(
    c: &Clients,
    cluster: &str,
    task_set_id: &str,
) -> Result<Vec<String>> {
    use aws_sdk_ecs::types::DesiredStatus;
    // Running and stopped tasks are listed side by side: one round of calls, not two.
    let (running, stopped) = tokio::join!(
        started_by(c, cluster, task_set_id, DesiredStatus::Running),
        started_by(c, cluster, task_set_id, DesiredStatus::Stopped)
    );
    let mut arns: Vec<String> = running?;
    for a in stopped? {
        if !arns.contains(&a) {
            arns.push(a);
        }
    }
    Ok(arns)
}

/// The tasks `arns` of `cluster`, described.
pub async fn describe_tasks(
    c: &Clients,
    cluster: &str,
    arns: &[String],
    container: Option<&str>,
) -> Result<Vec<GreenTask>> {
    super::ecs::describe_tasks(&c.ecs, cluster, arns, |t| green_task(t, container)).await
}

/// One described task: its lifecycle as the traffic container tells it (otherwise the
/// first container that exited) and the task definition it ran.
fn green_task(t: &aws_sdk_ecs::types::Task, container: Option<&str>) -> GreenTask {
    let containers = t.containers();
    let main = container
        .and_then(|n| containers.iter().find(|c| c.name() == Some(n)))
        .or_else(|| {
            containers
                .iter()
                .find(|c| c.exit_code().is_some_and(|x| x != 0))
        })
        .or_else(|| containers.first());
    let arn = t.task_arn().unwrap_or_default();
    GreenTask {
        facts: TaskFacts {
            task_id: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
            last_status: t.last_status().unwrap_or_default().to_owned(),
            created_at: t.created_at().map(to_chrono),
            started_at: t.started_at().map(to_chrono),
            stopped_at: t.stopped_at().map(to_chrono),
            stop_code: t.stop_code().map(|s| s.as_str().to_owned()),
            stopped_reason: t.stopped_reason().map(str::to_owned),
            exit_code: main.and_then(|c| c.exit_code()),
            container_reason: main.and_then(|c| c.reason()).map(str::to_owned),
        },
        task_definition_arn: t.task_definition_arn().map(str::to_owned),
    }
}

/// Where a container's logs go (awslogs driver).
#[derive(Debug, Clone, PartialEq)]
pub struct AwsLogs {
    pub container: String,
    pub group: String,
    pub stream_prefix: Option<String>,
    pub region: Option<String>,
}

/// `family:revision`, the image of each container and the awslogs settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinitionLogs {
    pub name: String,
    pub images: Vec<(String, String)>,
    pub logs: Vec<AwsLogs>,
}

pub async fn task_definition_logs(c: &Clients, arn: &str) -> Result<Option<TaskDefinitionLogs>> {
    let out = match c
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if super::error_code(&e) == Some("ClientException") => return Ok(None),
        Err(e) => return Err(sdk_error("ecs:DescribeTaskDefinition", e)),
    };
    let Some(td) = out.task_definition() else {
        return Ok(None);
    };
    let mut logs = Vec::new();
    let mut images = Vec::new();
    for cd in td.container_definitions() {
        let name = cd.name().unwrap_or_default().to_owned();
        images.push((name.clone(), cd.image().unwrap_or_default().to_owned()));
        let Some(lc) = cd.log_configuration() else {
            continue;
        };
        if lc.log_driver().as_str() != "awslogs" {
            continue;
        }
        let opts = lc.options();
        let opt = |k: &str| opts.and_then(|o| o.get(k)).cloned();
        if let Some(group) = opt("awslogs-group") {
            logs.push(AwsLogs {
                container: name,
                group,
                stream_prefix: opt("awslogs-stream-prefix"),
                region: opt("awslogs-region"),
            });
        }
    }
    Ok(Some(TaskDefinitionLogs {
        name: format!("{}:{}", td.family().unwrap_or_default(), td.revision()),
        images,
        logs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_data_with_datapoints() {
        let data = r#"{"version":"1.0","oldState":{"stateValue":"OK","stateReason":"fine"},
          "newState":{"stateValue":"ALARM","stateReason":"Threshold Crossed: 1 datapoint [12.0 (01/01/26 10:01:00)] was greater than or equal to the threshold (5.0).",
            "stateReasonData":{"version":"1.0","statistic":"Sum","period":60,"recentDatapoints":[12.0],"threshold":5.0,
              "evaluatedDatapoints":[{"timestamp":"2026-01-01T10:01:00.000+0000","sampleCount":1.0,"value":12.0}]}}}"#;
        let c = parse_history_data(data);
        assert_eq!(c.old_state.as_deref(), Some("OK"));
        assert_eq!(c.new_state.as_deref(), Some("ALARM"));
        assert_eq!(c.threshold, Some(5.0));
        assert_eq!(c.datapoints.len(), 1);
        assert_eq!(c.datapoints[0].0.to_rfc3339(), "2026-01-01T10:01:00+00:00");
        assert_eq!(c.datapoints[0].1, 12.0);
        assert!(c.reason.unwrap().starts_with("Threshold Crossed"));
    }

    #[test]
    fn history_data_after_set_alarm_state() {
        let c = parse_history_data(
            r#"{"oldState":{"stateValue":"OK"},"newState":{"stateValue":"ALARM","stateReason":"test"}}"#,
        );
        assert_eq!(c.new_state.as_deref(), Some("ALARM"));
        assert!(c.datapoints.is_empty());
        assert_eq!(c.threshold, None);
    }

    #[test]
    fn dimensions_are_the_arns_resource_parts() {
        let d = TargetGroupDims::from_arns(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-green/0123456789abcdef",
            Some("arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"),
        )
        .unwrap();
        assert_eq!(d.target_group, "targetgroup/web-green/0123456789abcdef");
        assert_eq!(d.load_balancer.as_deref(), Some("app/web/50dc6c495c0c9188"));
        assert_eq!(TargetGroupDims::from_arns("web-green", None), None);
    }

    fn clients(
        elb: aws_sdk_elasticloadbalancingv2::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
    ) -> Clients {
        use aws_smithy_mocks::mock_client;
        Clients {
            ecs: mock_client!(aws_sdk_ecs, []),
            ecr: mock_client!(aws_sdk_ecr, []),
            codedeploy: mock_client!(aws_sdk_codedeploy, []),
            cloudwatch,
            logs: mock_client!(aws_sdk_cloudwatchlogs, []),
            elb,
            region: "us-east-1".into(),
        }
    }

    const ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012";

    /// A target group that took its first request a minute ago has no ListMetrics entry
    /// yet: its dimensions come from ELBv2 without asking CloudWatch.
    #[tokio::test]
    async fn dimensions_come_from_the_target_groups_description() {
        use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
        use aws_sdk_elasticloadbalancingv2::types::TargetGroup;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        let tg = |name: &str, id: &str| {
            TargetGroup::builder()
                .target_group_arn(format!("{ARN}:targetgroup/{name}/{id}"))
                .load_balancer_arns(format!("{ARN}:loadbalancer/app/web/lb1"))
                .build()
        };
        let describe = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
            .match_requests(|r| r.names() == ["web-blue", "web-green"])
            .then_output(move || {
                DescribeTargetGroupsOutput::builder()
                    .target_groups(tg("web-green", "g1"))
                    .target_groups(tg("web-blue", "b1"))
                    .build()
            });
        let c = clients(
            mock_client!(
                aws_sdk_elasticloadbalancingv2,
                RuleMode::MatchAny,
                [&describe]
            ),
            mock_client!(aws_sdk_cloudwatch, []),
        );
        let d = target_group_dims(&c, &["web-blue", "web-green"])
            .await
            .unwrap();
        assert_eq!(
            d[0].as_ref().unwrap().target_group,
            "targetgroup/web-blue/b1"
        );
        assert_eq!(
            d[1].as_ref().unwrap().target_group,
            "targetgroup/web-green/g1"
        );
        assert_eq!(
            d[1].as_ref().unwrap().load_balancer.as_deref(),
            Some("app/web/lb1")
        );
    }

    /// When ELBv2 cannot be read (no permission), the metrics listed are used.
    #[tokio::test]
    async fn listed_metrics_are_the_fallback() {
        use aws_sdk_cloudwatch::operation::list_metrics::ListMetricsOutput;
        use aws_sdk_cloudwatch::types::{Dimension, Metric};
        use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsError;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        let denied = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
            .then_error(|| DescribeTargetGroupsError::unhandled("AccessDenied"));
        let listed = mock!(aws_sdk_cloudwatch::Client::list_metrics).then_output(|| {
            let dim = |n: &str, v: &str| Dimension::builder().name(n).value(v).build();
            ListMetricsOutput::builder()
                .metrics(
                    Metric::builder()
                        .dimensions(dim("LoadBalancer", "app/web/lb1"))
                        .dimensions(dim("TargetGroup", "targetgroup/web-blue/b1"))
                        .build(),
                )
                .build()
        });
        let c = clients(
            mock_client!(
                aws_sdk_elasticloadbalancingv2,
                RuleMode::MatchAny,
                [&denied]
            ),
            mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&listed]),
        );
        let d = target_group_dims(&c, &["web-blue", "web-green"])
            .await
            .unwrap();
        assert_eq!(
            d[0].as_ref().unwrap().target_group,
            "targetgroup/web-blue/b1"
        );
        assert_eq!(d[1], None);
    }

    #[test]
    fn target_group_names() {
        assert!(tg_matches(
            "targetgroup/web-green/0123456789abcdef",
            "web-green"
        ));
        assert!(!tg_matches(
            "targetgroup/web-green-2/0123456789abcdef",
            "web-green"
        ));
        assert!(tg_matches(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-blue/0123456789abcdef",
            "web-blue"
        ));
    }
}
