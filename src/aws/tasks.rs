//! ECS tasks of one service, for `remediate`: the running and recently stopped tasks
//! (with their ENI address, start time and stop reason), who owns the service right now
//! (task sets, ECS rollouts, target groups) and StopTask. Target health is `elb`'s.

use super::{sdk_error, to_chrono};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A task of the service, reduced to what choosing and guarding need.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceTask {
    pub arn: String,
    pub id: String,
    pub last_status: String,
    pub desired_status: String,
    /// The address of the task's ENI (awsvpc): what the target group registers.
    pub ip: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    /// When the stop was asked for (StopTask, the scheduler): the cool-down's clock.
    pub stopping_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stopped_reason: Option<String>,
    pub started_by: Option<String>,
    pub health_status: Option<String>,
    pub task_definition_arn: Option<String>,
}

/// Who may be changing the service's tasks right now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rollout {
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    pub controller: String,
    pub desired_count: i32,
    /// Task sets besides the primary one (a blue/green deployment in flight), as `id (status)`.
    pub extra_task_sets: Vec<String>,
    /// ECS rolling deployments not yet completed, as `id (rolloutState)`.
    pub ecs_rollouts: Vec<String>,
    /// Target groups of the primary task set, else of the service.
    pub target_groups: Vec<String>,
}

/// The service's controller, deployments in flight and target groups.
pub async fn rollout(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str) -> Result<Rollout> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| sdk_error("ecs:DescribeServices", e))?;
    let svc = out
        .services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .ok_or_else(|| {
            Error::Precondition(format!(
                "ECS service `{service}` was not found in cluster `{cluster}`. Check [service] service/cluster and the region."
            ))
        })?;
    let primary = svc
        .task_sets()
        .iter()
        .find(|t| t.status() == Some("PRIMARY"));
    let tg_of = |lbs: &[aws_sdk_ecs::types::LoadBalancer]| -> Vec<String> {
        lbs.iter()
            .filter_map(|l| l.target_group_arn().map(str::to_owned))
            .collect()
    };
    let mut target_groups = primary
        .map(|p| tg_of(p.load_balancers()))
        .unwrap_or_default();
    if target_groups.is_empty() {
        target_groups = tg_of(svc.load_balancers());
    }
    Ok(Rollout {
        controller: svc
            .deployment_controller()
            .map(|d| d.r#type().as_str().to_owned())
            .unwrap_or_else(|| "ECS".into()),
        desired_count: svc.desired_count(),
        extra_task_sets: svc
            .task_sets()
            .iter()
            .filter(|t| t.status() != Some("PRIMARY") && t.status() != Some("DRAINING"))
            .map(|t| {
                format!(
                    "{} ({})",
                    t.id().unwrap_or_default(),
                    t.status().unwrap_or_default()
                )
            })
            .collect(),
        ecs_rollouts: svc
            .deployments()
            .iter()
            .filter(|d| {
                d.rollout_state()
                    .is_some_and(|r| r.as_str() == "IN_PROGRESS")
            })
            .map(|d| {
                format!(
                    "{} ({})",
                    d.id().unwrap_or_default(),
                    d.rollout_state().map(|r| r.as_str()).unwrap_or_default()
                )
            })
            .collect(),
        target_groups,
    })
}

/// The service's running tasks, then its stopped ones (see `ecs::service_task_arns`).
pub async fn service_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Vec<ServiceTask>> {
    let arns = super::ecs::service_task_arns(ecs, cluster, service).await?;
    describe(ecs, cluster, &arns).await
}

/// The tasks behind `arns`, described.
pub async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<ServiceTask>> {
    super::ecs::describe_tasks(ecs, cluster, arns, task_of).await
}

fn task_of(t: &aws_sdk_ecs::types::Task) -> ServiceTask {
    let arn = t.task_arn().unwrap_or_default().to_owned();
    let ip = t
        .attachments()
        .iter()
        .filter(|a| a.r#type() == Some("ElasticNetworkInterface") || a.r#type().is_none())
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value().map(str::to_owned))
        .or_else(|| {
            t.containers()
                .iter()
                .flat_map(|c| c.network_interfaces())
                .find_map(|n| n.private_ipv4_address().map(str::to_owned))
        });
    ServiceTask {
        id: arn.rsplit('/').next().unwrap_or(&arn).to_owned(),
        arn,
        last_status: t.last_status().unwrap_or_default().to_owned(),
        desired_status: t.desired_status().unwrap_or_default().to_owned(),
        ip,
        started_at: t.started_at().map(to_chrono),
        created_at: t.created_at().map(to_chrono),
        stopping_at: t.stopping_at().map(to_chrono),
        stopped_at: t.stopped_at().map(to_chrono),
        stopped_reason: t.stopped_reason().map(str::to_owned),
        started_by: t.started_by().map(str::to_owned),
        health_status: t.health_status().map(|h| h.as_str().to_owned()),
        task_definition_arn: t.task_definition_arn().map(str::to_owned),
    }
}

/// Stops one task with `reason` (at most 255 characters, kept as `stoppedReason`).
/// Returns the task as ECS answered: for a task already stopping, with the reason of
/// the stop that came first.
pub async fn stop_task(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arn: &str,
    reason: &str,
) -> Result<ServiceTask> {
    let out = ecs
        .stop_task()
        .cluster(cluster)
        .task(arn)
        .reason(reason)
        .send()
        .await
        .map_err(|e| sdk_error("ecs:StopTask", e))?;
    Ok(out.task().map(task_of).unwrap_or_else(|| ServiceTask {
        arn: arn.to_owned(),
        id: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
        ..ServiceTask::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_sdk_ecs::operation::stop_task::StopTaskOutput;
    use aws_sdk_ecs::types::{Attachment, KeyValuePair, Task};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn task(id: &str, desired: &str, ip: &str, reason: Option<&str>) -> Task {
        Task::builder()
            .task_arn(format!("arn:aws:ecs:eu-west-1:1:task/c/{id}"))
            .last_status(desired)
            .desired_status(desired)
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
            .set_stopped_reason(reason.map(str::to_owned))
            .build()
    }

    #[tokio::test]
    async fn lists_running_then_stopped_and_reads_the_eni_address() {
        let running = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.desired_status().map(|s| s.as_str()) == Some("RUNNING"))
            .then_output(|| {
                ListTasksOutput::builder()
                    .task_arns("arn:aws:ecs:eu-west-1:1:task/c/a")
                    .build()
            });
        let stopped = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.desired_status().map(|s| s.as_str()) == Some("STOPPED"))
            .then_output(|| {
                ListTasksOutput::builder()
                    .task_arns("arn:aws:ecs:eu-west-1:1:task/c/a")
                    .task_arns("arn:aws:ecs:eu-west-1:1:task/c/b")
                    .build()
            });
        let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
            .match_requests(|r| r.tasks().len() == 2)
            .then_output(|| {
                DescribeTasksOutput::builder()
                    .tasks(task("a", "RUNNING", "10.0.0.1", None))
                    .tasks(task("b", "STOPPED", "10.0.0.2", Some("k")))
                    .build()
            });
        let ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&running, &stopped, &describe]
        );
        let tasks = service_tasks(&ecs, "c", "web").await.unwrap();
        assert_eq!(tasks.len(), 2, "a task in both lists is described once");
        assert_eq!(tasks[0].id, "a");
        assert_eq!(tasks[0].ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(tasks[1].stopped_reason.as_deref(), Some("k"));
        assert_eq!(running.num_calls(), 1);
        assert_eq!(stopped.num_calls(), 1);
    }

    #[tokio::test]
    async fn stop_task_sends_the_reason_and_returns_what_ecs_kept() {
        let stop = mock!(aws_sdk_ecs::Client::stop_task)
            .match_requests(|r| r.reason() == Some("mine") && r.task() == Some("t"))
            .then_output(|| {
                StopTaskOutput::builder()
                    .task(task("t", "STOPPED", "10.0.0.3", Some("the first")))
                    .build()
            });
        let ecs = mock_client!(aws_sdk_ecs, [&stop]);
        let t = stop_task(&ecs, "c", "t", "mine").await.unwrap();
        assert_eq!(t.stopped_reason.as_deref(), Some("the first"));
        assert_eq!(stop.num_calls(), 1);
    }
}
