//! ELBv2 target health: what the load balancer thinks of each target of a target group,
//! and which ECS task each `ip` target is (ECS registers a task by its ENI's address).

use super::{Clients, sdk_error};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// One target of a target group as DescribeTargetHealth reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub target_group_arn: String,
    /// Instance id, IP address or Lambda ARN; for ECS `awsvpc` tasks the ENI's private IPv4.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable`, …
    pub state: String,
    /// e.g. `Target.ResponseCodeMismatch`, `Target.Timeout`, `Target.FailedHealthChecks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The ECS task behind the target, when a task with this address was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

impl TargetHealth {
    /// The load balancer sends this target no requests because of its health checks.
    pub fn is_failing(&self) -> bool {
        self.state == "unhealthy"
    }
}

/// Every target of a target group with its health (read-only).
pub async fn target_health(c: &Clients, target_group_arn: &str) -> Result<Vec<TargetHealth>> {
    let out = c
        .elb
        .describe_target_health()
        .target_group_arn(target_group_arn)
        .send()
        .await
        .map_err(|e| sdk_error("elasticloadbalancing:DescribeTargetHealth", e))?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .map(|d| {
            let target = d.target();
            let health = d.target_health();
            TargetHealth {
                target_group_arn: target_group_arn.to_owned(),
                id: target.and_then(|t| t.id()).unwrap_or_default().to_owned(),
                port: target.and_then(|t| t.port()),
                state: health
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: health
                    .and_then(|h| h.reason())
                    .map(|r| r.as_str().to_owned()),
                description: health.and_then(|h| h.description()).map(str::to_owned),
                task_id: None,
            }
        })
        .collect())
}

/// Fills `task_id` of each target from `(ENI private IPv4, task id)` pairs. When an
/// address was used by several tasks (a replacement can get the address of the task it
/// replaced), the last pair wins: callers list tasks oldest first.
pub fn map_to_tasks(targets: &mut [TargetHealth], tasks_by_ip: &[(String, String)]) {
    for t in targets.iter_mut() {
        t.task_id = tasks_by_ip
            .iter()
            .rev()
            .find(|(ip, _)| ip == &t.id)
            .map(|(_, id)| id.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
    use aws_sdk_elasticloadbalancingv2::types::{
        TargetDescription, TargetHealth as SdkHealth, TargetHealthDescription,
        TargetHealthReasonEnum, TargetHealthStateEnum,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn clients(elb: aws_sdk_elasticloadbalancingv2::Client) -> Clients {
        Clients {
            ecs: mock_client!(aws_sdk_ecs, []),
            ecr: mock_client!(aws_sdk_ecr, []),
            codedeploy: mock_client!(aws_sdk_codedeploy, []),
            cloudwatch: mock_client!(aws_sdk_cloudwatch, []),
            logs: mock_client!(aws_sdk_cloudwatchlogs, []),
            elb,
            region: "us-east-1".into(),
        }
    }

    fn desc(
        ip: &str,
        state: TargetHealthStateEnum,
        reason: Option<TargetHealthReasonEnum>,
    ) -> TargetHealthDescription {
        let mut h = SdkHealth::builder().state(state);
        if let Some(r) = reason {
            h = h
                .reason(r)
                .description("Health checks failed with these codes: [503]");
        }
        TargetHealthDescription::builder()
            .target(TargetDescription::builder().id(ip).port(8080).build())
            .target_health(h.build())
            .build()
    }

    #[tokio::test]
    async fn reads_states_and_reasons_and_maps_tasks_by_ip() {
        let rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
            .match_requests(|r| r.target_group_arn() == Some("arn:tg"))
            .then_output(|| {
                DescribeTargetHealthOutput::builder()
                    .target_health_descriptions(desc(
                        "10.0.1.5",
                        TargetHealthStateEnum::Healthy,
                        None,
                    ))
                    .target_health_descriptions(desc(
                        "10.0.1.6",
                        TargetHealthStateEnum::Unhealthy,
                        Some(TargetHealthReasonEnum::ResponseCodeMismatch),
                    ))
                    .build()
            });
        let c = clients(mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&rule]
        ));
        let mut got = target_health(&c, "arn:tg").await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].state, "healthy");
        assert!(!got[0].is_failing());
        assert_eq!(
            got[1].reason.as_deref(),
            Some("Target.ResponseCodeMismatch")
        );
        assert!(got[1].is_failing());
        assert_eq!(got[1].port, Some(8080));
        map_to_tasks(
            &mut got,
            &[
                ("10.0.1.6".into(), "old".into()),
                ("10.0.1.5".into(), "a".into()),
                ("10.0.1.6".into(), "new".into()),
            ],
        );
        assert_eq!(got[0].task_id.as_deref(), Some("a"));
        assert_eq!(got[1].task_id.as_deref(), Some("new"));
    }

    #[tokio::test]
    async fn missing_target_group_is_an_error_naming_the_call() {
        let rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health).then_error(|| {
            aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthError::TargetGroupNotFoundException(
                aws_sdk_elasticloadbalancingv2::types::error::TargetGroupNotFoundException::builder()
                    .message("One or more target groups not found")
                    .build(),
            )
        });
        let c = clients(mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&rule]
        ));
        let err = target_health(&c, "arn:missing")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("DescribeTargetHealth"), "{err}");
    }
}
