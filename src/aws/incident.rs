//! Read-only readers for investigating a running service: its counts, task sets,
//! deployments and events; its tasks (running and stopped) with their ENI addresses;
//! alarms currently in ALARM; the cluster's Container Insights setting and metrics;
//! the deployment group's recent deployments. Nothing here changes anything in AWS.

use super::model::{Deployment, ServiceEvent, TaskFacts};
use super::{Clients, sdk_error, to_chrono};
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A task set with its counts, as DescribeServices reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskSetState {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<String>,
    #[serde(default)]
    pub target_group_arns: Vec<String>,
}

/// A deployment of the ECS deployment controller (DescribeServices `deployments`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EcsDeployment {
    pub id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
}

/// A service as an investigation starts from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    pub cluster: String,
    pub service: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    #[serde(default)]
    pub task_sets: Vec<TaskSetState>,
    #[serde(default)]
    pub deployments: Vec<EcsDeployment>,
    /// Newest first, as ECS returns them (ECS keeps the last 100).
    #[serde(default)]
    pub events: Vec<ServiceEvent>,
    /// The service's own load balancers' target groups (ECS controller), besides the task sets'.
    #[serde(default)]
    pub target_group_arns: Vec<String>,
}

impl ServiceState {
    /// Every target group of the service and its task sets, once each.
    pub fn all_target_groups(&self) -> Vec<String> {
        let mut all: Vec<String> = self.target_group_arns.clone();
        for ts in &self.task_sets {
            for tg in &ts.target_group_arns {
                if !all.contains(tg) {
                    all.push(tg.clone());
                }
            }
        }
        all
    }
}

pub async fn service_state(
    c: &Clients,
    cluster: &str,
    service: &str,
) -> Result<Option<ServiceState>> {
    let out = c
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await;
    // No such cluster is no such service, not an AWS failure.
    let out = match out {
        Err(e) if super::error_code(&e) == Some("ClusterNotFoundException") => return Ok(None),
        other => other.map_err(|e| sdk_error("ecs:DescribeServices", e))?,
    };
    let Some(svc) = out
        .services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
    else {
        return Ok(None);
    };
    let tgs = |lbs: &[aws_sdk_ecs::types::LoadBalancer]| -> Vec<String> {
        lbs.iter()
            .filter_map(|l| l.target_group_arn())
            .map(str::to_owned)
            .collect()
    };
    Ok(Some(ServiceState {
        cluster: cluster.to_owned(),
        service: svc.service_name().unwrap_or(service).to_owned(),
        status: svc.status().unwrap_or_default().to_owned(),
        controller: svc
            .deployment_controller()
            .map(|d| d.r#type().as_str().to_owned()),
        task_definition: svc.task_definition().unwrap_or_default().to_owned(),
        desired: svc.desired_count(),
        running: svc.running_count(),
        pending: svc.pending_count(),
        task_sets: svc
            .task_sets()
            .iter()
            .map(|t| TaskSetState {
                id: t.id().unwrap_or_default().to_owned(),
                status: t.status().unwrap_or_default().to_owned(),
                task_definition: t.task_definition().unwrap_or_default().to_owned(),
                external_id: t.external_id().map(str::to_owned),
                desired: t.computed_desired_count(),
                running: t.running_count(),
                pending: t.pending_count(),
                stability: t.stability_status().map(|s| s.as_str().to_owned()),
                target_group_arns: tgs(t.load_balancers()),
            })
            .collect(),
        deployments: svc
            .deployments()
            .iter()
            .map(|d| EcsDeployment {
                id: d.id().unwrap_or_default().to_owned(),
                status: d.status().unwrap_or_default().to_owned(),
                rollout_state: d.rollout_state().map(|s| s.as_str().to_owned()),
                created_at: d.created_at().map(to_chrono),
                task_definition: d.task_definition().unwrap_or_default().to_owned(),
                desired: d.desired_count(),
                running: d.running_count(),
            })
            .collect(),
        events: svc
            .events()
            .iter()
            .filter_map(|e| {
                Some(ServiceEvent {
                    at: e.created_at().map(to_chrono)?,
                    message: e.message().unwrap_or_default().to_owned(),
                })
            })
            .collect(),
        target_group_arns: tgs(svc.load_balancers()),
    }))
}

/// A task of the service with what an investigation needs besides its lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceTask {
    pub facts: TaskFacts,
    /// The ENI's private IPv4 address (the ALB's `ip` target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// Task-level memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
}

/// The service's tasks, running and stopped (ECS shows stopped tasks for about an hour).
pub async fn service_tasks(
    c: &Clients,
    cluster: &str,
    service: &str,
    container: Option<&str>,
) -> Result<Vec<ServiceTask>> {
    let arns = super::ecs::service_task_arns(&c.ecs, cluster, service).await?;
    let mut tasks =
        super::ecs::describe_tasks(&c.ecs, cluster, &arns, |t| task_of(t, container)).await?;
    tasks.sort_by_key(|t| t.facts.created_at);
    Ok(tasks)
}

fn task_of(t: &aws_sdk_ecs::types::Task, container: Option<&str>) -> ServiceTask {
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
    let ip = t
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .map(str::to_owned);
    ServiceTask {
        facts: TaskFacts {
            task_id: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
            last_status: t.last_status().unwrap_or_default().to_owned(),
            created_at: t.created_at().map(to_chrono),
            started_at: t.started_at().map(to_chrono),
            stopped_at: t.execution_stopped_at().or(t.stopped_at()).map(to_chrono),
            stop_code: t.stop_code().map(|s| s.as_str().to_owned()),
            stopped_reason: t.stopped_reason().map(str::to_owned),
            exit_code: main.and_then(|c| c.exit_code()),
            container_reason: main.and_then(|c| c.reason()).map(str::to_owned),
        },
        ip,
        task_definition_arn: t.task_definition_arn().map(str::to_owned),
        started_by: t.started_by().map(str::to_owned),
        memory_mib: t.memory().and_then(|m| m.parse().ok()),
    }
}

/// An alarm in ALARM now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FiringAlarm {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The datapoints that put it in ALARM (StateReasonData `recentDatapoints`).
    #[serde(default)]
    pub datapoints: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// Metric alarms in ALARM that are named in `watched` or whose dimensions name the
/// cluster or the service.
pub async fn firing_alarms(
    c: &Clients,
    watched: &[String],
    cluster: &str,
    service: &str,
) -> Result<Vec<FiringAlarm>> {
    use aws_sdk_cloudwatch::types::StateValue;
    let mut found = Vec::new();
    let mut pages = c
        .cloudwatch
        .describe_alarms()
        .state_value(StateValue::Alarm)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("cloudwatch:DescribeAlarms", e))?;
        for a in page.metric_alarms() {
            let name = a.alarm_name().unwrap_or_default().to_owned();
            let related = watched.contains(&name) || a.dimensions().iter().any(|d| {
                matches!(
                    (d.name(), d.value()),
                    (Some("ServiceName"), Some(v)) if v == service
                ) || matches!((d.name(), d.value()), (Some("ClusterName"), Some(v)) if v == cluster)
            });
            if !related {
                continue;
            }
            let (datapoints, threshold) = reason_data(a.state_reason_data());
            found.push(FiringAlarm {
                name,
                reason: a.state_reason().map(str::to_owned),
                since: a
                    .state_transitioned_timestamp()
                    .or(a.state_updated_timestamp())
                    .map(to_chrono),
                metric: a.metric_name().map(str::to_owned),
                datapoints,
                threshold: threshold.or(a.threshold()),
            });
        }
    }
    Ok(found)
}

/// `recentDatapoints` and `threshold` of an alarm's StateReasonData JSON.
pub fn reason_data(json: Option<&str>) -> (Vec<f64>, Option<f64>) {
    let Some(v) = json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()) else {
        return (Vec::new(), None);
    };
    let points = v["recentDatapoints"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default();
    (points, v["threshold"].as_f64())
}

/// The cluster's `containerInsights` setting (`enabled`, `enhanced`, `disabled`).
pub async fn container_insights_setting(c: &Clients, cluster: &str) -> Result<Option<String>> {
    let out = c
        .ecs
        .describe_clusters()
        .clusters(cluster)
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .send()
        .await
        .map_err(|e| sdk_error("ecs:DescribeClusters", e))?;
    Ok(out.clusters().first().map(|cl| {
        cl.settings()
            .iter()
            .find(|s| s.name().map(|n| n.as_str()) == Some("containerInsights"))
            .and_then(|s| s.value())
            .unwrap_or("disabled")
            .to_owned()
    }))
}

/// One-minute Maximum of a metric over a window, oldest first.
pub async fn metric_maxima(
    c: &Clients,
    namespace: &str,
    metric: &str,
    dims: &[(&str, &str)],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, f64)>> {
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let to_smithy = |t: DateTime<Utc>| aws_smithy_types::DateTime::from_secs(t.timestamp());
    let out = c
        .cloudwatch
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .set_dimensions(Some(
            dims.iter()
                .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                .collect(),
        ))
        .start_time(to_smithy(start))
        .end_time(to_smithy(end))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|e| sdk_error("cloudwatch:GetMetricStatistics", e))?;
    let mut points: Vec<(DateTime<Utc>, f64)> = out
        .datapoints()
        .iter()
        .filter_map(|d| Some((to_chrono(d.timestamp()?), d.maximum()?)))
        .collect();
    points.sort_by_key(|p| p.0);
    Ok(points)
}

/// The group's most recent deployments (at most `n`), newest first.
pub async fn recent_deployments(
    c: &Clients,
    application: &str,
    group: &str,
    n: usize,
) -> Result<Vec<Deployment>> {
    let out = c
        .codedeploy
        .list_deployments()
        .application_name(application)
        .deployment_group_name(group)
        .send()
        .await
        .map_err(|e| sdk_error("codedeploy:ListDeployments", e))?;
    let mut found = Vec::new();
    // The first page is plenty for "recent"; sorted by creation time below.
    for id in out.deployments().iter().take(n) {
        found.push(super::codedeploy::get_deployment(c, id).await?);
    }
    found.sort_by_key(|d| std::cmp::Reverse(d.create_time));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_data_reads_datapoints_and_threshold() {
        let (p, t) = reason_data(Some(
            r#"{"version":"1.0","statistic":"Sum","period":60,"recentDatapoints":[12.0,3.0],"threshold":1.0}"#,
        ));
        assert_eq!(p, vec![12.0, 3.0]);
        assert_eq!(t, Some(1.0));
        assert_eq!(reason_data(Some("not json")), (vec![], None));
        assert_eq!(reason_data(None), (vec![], None));
    }

    #[test]
    fn target_groups_of_service_and_task_sets_once_each() {
        let s = ServiceState {
            target_group_arns: vec!["a".into()],
            task_sets: vec![
                TaskSetState {
                    target_group_arns: vec!["a".into(), "b".into()],
                    ..Default::default()
                },
                TaskSetState {
                    target_group_arns: vec!["c".into()],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(s.all_target_groups(), vec!["a", "b", "c"]);
    }
}
