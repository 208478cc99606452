//! The rollback report as data: every piece of evidence, the verdict and the links.
//!
//! This is the contract of `report.json` (documented in docs/report-schema.md): fields
//! are added in a backwards-compatible way within one `schema_version`; a field is never
//! renamed or given another meaning without bumping it. Markdown and HTML are rendered
//! from this model only, so the three outputs always tell the same story.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::aws::model::{ServiceEvent, TaskFacts};
pub use crate::logscan::model::{LogEvidence, TraceEvidence, TraceStatus};
#[cfg(test)]
pub use crate::logscan::model::{SpanSummary, TraceSummary};

/// Bumped when a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 2;
/// Names the document type, for tools that receive several kinds of JSON.
pub const SCHEMA_ID: &str = "shipwatch.rollback-report";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub schema_version: u32,
    pub generated_at: DateTime<Utc>,
    pub generator: String,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentFacts>,
    /// The evidence window: deployment start to rollback complete, with a margin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// Green traffic weight over time (percent), oldest first.
    #[serde(default)]
    pub traffic: Vec<TrafficStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsEvidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogEvidence>,
    /// The blue tasks' logs over the same window, with the same caps and analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_logs: Option<LogEvidence>,
    /// Each error group marked new in green, also in blue or only in blue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// Latency per minute blue vs green, slowest routes and spans (latency alarms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    pub traces: TraceEvidence,
    #[serde(default)]
    pub links: Vec<Link>,
    /// Evidence that could not be collected, and why.
    #[serde(default)]
    pub missing: Vec<Missing>,
    pub verdict: Verdict,
}

impl Report {
    /// An empty report for `source`; evidence is filled in by the collectors.
    pub fn new(source: Source, generated_at: DateTime<Utc>) -> Self {
        Report {
            schema: SCHEMA_ID.into(),
            schema_version: SCHEMA_VERSION,
            generated_at,
            generator: format!("shipwatch {}", env!("CARGO_PKG_VERSION")),
            source,
            deployment: None,
            window: None,
            trigger: None,
            timeline: Vec::new(),
            traffic: Vec::new(),
            metrics: None,
            ecs: None,
            logs: None,
            blue_logs: None,
            comparison: None,
            latency: None,
            traces: TraceEvidence::default(),
            links: Vec::new(),
            missing: Vec::new(),
            verdict: Verdict::default(),
        }
    }

    pub fn add_missing(&mut self, evidence: &str, reason: impl Into<String>) {
        self.missing.push(Missing {
            evidence: evidence.into(),
            reason: reason.into(),
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Collected from CodeDeploy, ECS, CloudWatch and CloudWatch Logs.
    Aws,
    /// Built from an exported log file (`--logs-file`).
    LogsFile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub kind: SourceKind,
    /// The deployment id or the log file name as given.
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The release (git sha or image tag) when given by the user (`--sha`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFacts {
    /// The deployment that was rolled back.
    pub deployment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_deployment_id: Option<String>,
    pub application: String,
    pub deployment_group: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_message: Option<String>,
    /// Task definition of the green (replacement) task set, `family:revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub green_task_definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_task_definition: Option<String>,
    /// Image tag or git sha of the green release, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A CloudWatch alarm stopped the deployment (CodeDeploy or shipwatch).
    Alarm,
    /// A lifecycle event (hook or CodeDeploy step) failed.
    LifecycleEvent,
    /// Someone (or shipwatch on an abort) stopped it.
    ManualStop,
    /// CodeDeploy reported another failure.
    DeploymentFailure,
    Unknown,
    /// shipwatch's judge (green vs blue on the task logs) stopped it.
    Judge,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub kind: TriggerKind,
    /// One line for people.
    pub summary: String,
    #[serde(default)]
    pub alarms: Vec<AlarmEvidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<LifecycleEvidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmEvidence {
    pub name: String,
    /// When it went to ALARM inside the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flipped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub datapoints: Vec<Datapoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Datapoint {
    pub at: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvidence {
    pub name: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `deployment_created`, `traffic_shift`, `alarm`, `lifecycle_event`, `task_stopped`,
    /// `stopped`, `rollback_started`, `back_on_blue`, `service_event`, `first_error`.
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficStep {
    pub at: DateTime<Utc>,
    pub green_percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub period_seconds: u32,
    pub blue_target_group: String,
    pub green_target_group: String,
    /// One row per period; ALB publishes nothing for an idle minute, which reads as 0.
    pub points: Vec<MetricPoint>,
    pub totals: MetricTotals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub at: DateTime<Utc>,
    pub blue_5xx: f64,
    pub blue_requests: f64,
    pub green_5xx: f64,
    pub green_requests: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricTotals {
    pub blue_5xx: f64,
    pub blue_requests: f64,
    pub green_5xx: f64,
    pub green_requests: f64,
    /// Minutes in which green answered at least one 5xx.
    pub green_minutes_with_5xx: u32,
}

pub use crate::report::compare::Comparison;
pub use crate::report::latency::Latency;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// Exit 137 with an OutOfMemoryError reason (or 137 alone).
    OutOfMemory,
    /// Exit 1 or another non-zero code: the application exited with an error.
    ApplicationError,
    /// Exit 139: segmentation fault.
    Segfault,
    /// The load balancer's health checks failed.
    HealthCheckFailed,
    /// The image could not be pulled.
    ImagePullFailed,
    /// The task never started (resources, secrets, network).
    FailedToStart,
    /// Stopped by a user, a deployment or scaling: not a failure of the release.
    Expected,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopFinding {
    pub kind: StopKind,
    pub count: u32,
    /// What the stop means, in words.
    pub explanation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub task_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrashLoop {
    pub starts: u32,
    pub stops: u32,
    /// The span from the first start to the last stop.
    pub window_seconds: i64,
    /// Median time a task ran before it stopped.
    pub median_lifetime_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EcsEvidence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_set_id: Option<String>,
    pub tasks_seen: u32,
    pub tasks_stopped: u32,
    pub findings: Vec<StopFinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_loop: Option<CrashLoop>,
    /// The green tasks, capped at 50 (the counts above cover all of them).
    pub tasks: Vec<TaskFacts>,
    pub service_events: Vec<ServiceEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    /// `trigger`, `timeline`, `metrics`, `ecs`, `logs`, `traces`.
    pub evidence: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Green answered 5xx / logged errors under traffic.
    ErrorsUnderTraffic,
    /// A latency alarm fired and green's requests were slow (schema version 2).
    SlowResponses,
    CrashLoop,
    OutOfMemory,
    HealthCheckFailed,
    HookFailed,
    ImagePullFailed,
    FailedToStart,
    ManualStop,
    #[default]
    Undetermined,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub cause: Cause,
    /// A short paragraph naming the cause from the strongest evidence.
    pub text: String,
}
