//! Domain types the rest of shipwatch sees instead of SDK shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An ECS service, reduced to what deployment decisions need.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub cluster: String,
    pub status: String,
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    pub controller: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    pub task_sets: Vec<TaskSet>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskSet {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    /// The CodeDeploy deployment that created it.
    pub external_id: Option<String>,
}

/// A task definition as AWS JSON (camelCase keys), output-only keys removed.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    pub json: serde_json::Value,
}

/// An image in ECR.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: Option<DateTime<Utc>>,
}

/// CodeDeploy deployment status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DeploymentStatus {
    Created,
    Queued,
    InProgress,
    Baking,
    Ready,
    Succeeded,
    Failed,
    Stopped,
    Unknown(String),
}

impl DeploymentStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "Created" => Self::Created,
            "Queued" => Self::Queued,
            "InProgress" => Self::InProgress,
            "Baking" => Self::Baking,
            "Ready" => Self::Ready,
            "Succeeded" => Self::Succeeded,
            "Failed" => Self::Failed,
            "Stopped" => Self::Stopped,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Stopped)
    }

    pub fn is_active(&self) -> bool {
        matches!(
            self,
            Self::Created | Self::Queued | Self::InProgress | Self::Baking | Self::Ready
        )
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(s) => f.write_str(s),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RollbackInfo {
    pub rollback_deployment_id: Option<String>,
    pub rollback_triggering_deployment_id: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub id: String,
    pub status: DeploymentStatus,
    pub application: String,
    pub group: String,
    pub config_name: Option<String>,
    pub description: Option<String>,
    pub creator: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub rollback: RollbackInfo,
    pub create_time: Option<DateTime<Utc>>,
    pub start_time: Option<DateTime<Utc>>,
    pub complete_time: Option<DateTime<Utc>>,
}

impl Deployment {
    /// Whether this is a rollback CodeDeploy started for another deployment.
    pub fn is_rollback(&self) -> bool {
        self.creator.as_deref() == Some("codeDeployRollback")
            || (self.rollback.rollback_triggering_deployment_id.is_some()
                && self.rollback.rollback_deployment_id.is_none())
    }

    /// A deployment known only by its id: what a watch reports when GetDeployment never
    /// answered, and the base that tests fill in.
    pub fn unknown(id: &str) -> Deployment {
        Deployment {
            id: id.to_owned(),
            status: DeploymentStatus::Unknown("unknown".into()),
            application: String::new(),
            group: String::new(),
            config_name: None,
            description: None,
            creator: None,
            error_code: None,
            error_message: None,
            rollback: RollbackInfo::default(),
            create_time: None,
            start_time: None,
            complete_time: None,
        }
    }
}

/// One lifecycle event of an ECS deployment target.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LifecycleEvent {
    pub name: String,
    pub status: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub diagnostics: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetTaskSet {
    pub id: String,
    /// `Blue` or `Green`.
    pub label: String,
    pub traffic_weight: f64,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub status: String,
    pub target_group: Option<String>,
}

/// The ECS deployment target: lifecycle events and blue/green task sets.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Target {
    pub status: String,
    pub lifecycle: Vec<LifecycleEvent>,
    pub task_sets: Vec<TargetTaskSet>,
}

impl Target {
    /// Percent of traffic on the green (replacement) task set, if known.
    pub fn green_weight(&self) -> Option<f64> {
        self.task_sets
            .iter()
            .find(|t| t.label == "Green")
            .map(|t| t.traffic_weight)
    }

    /// The lifecycle event in progress, else the last one that finished.
    pub fn current_event(&self) -> Option<&LifecycleEvent> {
        self.lifecycle
            .iter()
            .find(|e| e.status == "InProgress")
            .or_else(|| self.lifecycle.iter().rev().find(|e| e.status != "Pending"))
    }

    /// Every lifecycle event has succeeded: traffic is on green and only the wait
    /// before the original task set is terminated (and its termination) remain.
    pub fn traffic_done(&self) -> bool {
        !self.lifecycle.is_empty()
            && self
                .lifecycle
                .iter()
                .all(|e| e.status == "Succeeded" || e.status == "Skipped")
    }

    /// The first failed lifecycle event.
    pub fn failed_event(&self) -> Option<&LifecycleEvent> {
        self.lifecycle.iter().find(|e| e.status == "Failed")
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeploymentGroup {
    pub application: String,
    pub name: String,
    pub compute_platform: Option<String>,
    pub blue_green: bool,
    pub with_traffic_control: bool,
    /// (cluster, service) pairs.
    pub services: Vec<(String, String)>,
    pub config_name: Option<String>,
    pub alarms_enabled: bool,
    pub alarms: Vec<String>,
    pub auto_rollback_enabled: bool,
    pub auto_rollback_events: Vec<String>,
    pub ready_wait_minutes: Option<i32>,
    pub termination_wait_minutes: Option<i32>,
    pub target_groups: Vec<String>,
}

/// How a deployment configuration shifts traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TrafficRouting {
    AllAtOnce,
    Linear { percent: i32, interval_minutes: i32 },
    Canary { percent: i32, interval_minutes: i32 },
}

impl TrafficRouting {
    /// Minutes from the first shift to 100 %.
    pub fn shifting_minutes(&self) -> i64 {
        match self {
            Self::AllAtOnce => 0,
            Self::Linear {
                percent,
                interval_minutes,
            } => {
                let steps = (100 + percent.max(&1) - 1) / percent.max(&1);
                i64::from((steps - 1).max(0)) * i64::from(*interval_minutes)
            }
            Self::Canary {
                interval_minutes, ..
            } => i64::from(*interval_minutes),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    pub name: String,
    pub state: String,
    pub reason: Option<String>,
    pub updated: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollbacks_are_recognised() {
        let mut d = Deployment::unknown("d-B");
        assert!(!d.is_rollback());
        d.creator = Some("codeDeployRollback".into());
        assert!(d.is_rollback());
        let mut triggered = Deployment::unknown("d-C");
        triggered.rollback.rollback_triggering_deployment_id = Some("d-A".into());
        assert!(triggered.is_rollback());
    }

    #[test]
    fn linear_shifting_time() {
        assert_eq!(
            TrafficRouting::Linear {
                percent: 10,
                interval_minutes: 1
            }
            .shifting_minutes(),
            9
        );
        assert_eq!(
            TrafficRouting::Linear {
                percent: 10,
                interval_minutes: 3
            }
            .shifting_minutes(),
            27
        );
        assert_eq!(
            TrafficRouting::Canary {
                percent: 10,
                interval_minutes: 5
            }
            .shifting_minutes(),
            5
        );
        assert_eq!(TrafficRouting::AllAtOnce.shifting_minutes(), 0);
    }

    #[test]
    fn statuses() {
        assert!(DeploymentStatus::parse("Stopped").is_terminal());
        assert!(DeploymentStatus::parse("Ready").is_active());
        assert_eq!(DeploymentStatus::parse("Weird").to_string(), "Weird");
    }
}

/// A task as the evidence shows it: lifecycle times, how it stopped and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskFacts {
    pub task_id: String,
    pub last_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

/// One line of the service's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEvent {
    pub at: DateTime<Utc>,
    pub message: String,
}
