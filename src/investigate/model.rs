//! The investigation as data: what was gathered (triage, evidence), the verdict and
//! what could not be read. investigation.json is this model serialised; its schema is
//! versioned and documented in docs/investigation-schema.md.

use crate::aws::elb::TargetHealth;
use crate::aws::incident::{FiringAlarm, ServiceState};
use crate::logscan::model::{LogEvidence, TraceEvidence};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or is removed (adding fields keeps it).
pub const SCHEMA_VERSION: u32 = 1;
/// The document type named in investigation.json.
pub const SCHEMA: &str = "shipwatch.investigation";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    /// Always [`SCHEMA`].
    pub schema: String,
    pub schema_version: u32,
    /// `shipwatch <version>`.
    pub generator: String,
    pub generated_at: DateTime<Utc>,
    pub region: String,
    pub cluster: String,
    pub service: String,
    /// Start of the window (`--since` before the run); the window ends at the run.
    pub since: DateTime<Utc>,
    /// The alarm named with `--alarm`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    pub triage: Triage,
    pub evidence: Evidence,
    pub verdict: Verdict,
    /// Each check made, in words ("3 alarms read, none in ALARM").
    pub checked: Vec<String>,
    /// Evidence that could not be read, and why.
    pub missing: Vec<Missing>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    pub alarms: Vec<FiringAlarm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceState>,
    /// CodeDeploy deployments of the group, newest first.
    pub deployments: Vec<DeploymentLine>,
    /// The id of a deployment that is in progress now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_in_progress: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentLine {
    pub id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a task stopped, in words an engineer acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    OutOfMemory,
    AppError,
    Segfault,
    FailedToStart,
    ImagePull,
    HealthCheck,
    Scheduler,
    UserStop,
    #[default]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoppedTask {
    pub task_id: String,
    pub kind: StopKind,
    /// The stop in words ("exit 137: killed for using more memory than its limit").
    pub meaning: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Seconds from start to stop, when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_seconds: Option<i64>,
    /// Peak memory before the stop (Container Insights, per task), MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_mib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_mib: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub stopped: Vec<StoppedTask>,
    pub running_tasks: usize,
    /// Tasks started in the window (replacements included).
    pub started_in_window: usize,
    /// Stopped tasks that ran less than a minute with an application exit.
    pub crash_loop: bool,
    pub targets: Vec<TargetHealth>,
    pub insights: Insights,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogEvidence>,
    /// The top trace ids of the error lines, looked up in Jaeger.
    #[serde(default)]
    pub traces: TraceEvidence,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Insights {
    /// The cluster's containerInsights setting; `disabled` means no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
    /// Service memory utilisation per minute (MemoryUtilized ÷ MemoryReserved), percent.
    pub service_memory_percent: Vec<(DateTime<Utc>, f64)>,
    /// Highest service CPU utilisation (CpuUtilized ÷ CpuReserved) in the window, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_cpu_peak_percent: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub evidence: String,
    pub reason: String,
}

/// The root cause the evidence supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    DeploymentInProgress,
    MemoryExhaustion,
    StartupError,
    HealthCheckFails,
    DependencyFailure,
    HealthPassesRoutesFail,
    Unexplained,
    #[default]
    NothingFound,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub cause: Cause,
    /// One paragraph: the cause and the evidence for it.
    pub summary: String,
    /// The evidence lines behind the verdict.
    pub evidence: Vec<String>,
    /// Suggestions tied to the evidence; printed, never executed.
    pub hints: Vec<String>,
}
