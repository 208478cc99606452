//! What a notification is about, as plain data. The command layer fills these structs
//! from the deployment outcome, the rollback report, the gates' results or a
//! remediation; the renderers (Slack Block Kit, the generic webhook JSON) read only
//! these, so `notify` depends on no other domain module.
//!
//! Every struct here is serialised as-is into the generic webhook's `data` field, which
//! is documented in the README ("Notifications"): fields are only ever added.

use serde::{Deserialize, Serialize};

/// The kinds of event a notification can be sent for; `[notify] events` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The deployment was rolled back (also: its rollback failed).
    RolledBack,
    /// The deployment failed, was stopped without a rollback, or the watch timed out.
    Failed,
    /// The deployment succeeded (off by default: most channels want only trouble).
    Succeeded,
    /// `remediate` stopped a task, or a guard kept it from doing so.
    Remediation,
    /// A security gate failed the build.
    GateFailed,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::RolledBack => "rolled_back",
            EventKind::Failed => "failed",
            EventKind::Succeeded => "succeeded",
            EventKind::Remediation => "remediation",
            EventKind::GateFailed => "gate_failed",
        }
    }
}

/// One thing to tell people about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Deployment(DeploymentEvent),
    Remediation(RemediationEvent),
    GateFailed(GateEvent),
    /// `shipwatch notify --test`.
    Test(TestEvent),
}

impl Event {
    /// The `[notify] events` entry that enables it; a test message is always sent.
    pub fn kind(&self) -> Option<EventKind> {
        match self {
            Event::Deployment(d) => Some(d.outcome.kind()),
            Event::Remediation(_) => Some(EventKind::Remediation),
            Event::GateFailed(_) => Some(EventKind::GateFailed),
            Event::Test(_) => None,
        }
    }

    /// The event's name in the generic webhook payload.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Deployment(d) => match d.outcome {
                DeployOutcome::Succeeded => "deployment_succeeded",
                DeployOutcome::RolledBack => "deployment_rolled_back",
                DeployOutcome::RollbackFailed => "deployment_rollback_failed",
                DeployOutcome::Failed => "deployment_failed",
                DeployOutcome::TimedOut => "deployment_timed_out",
            },
            Event::Remediation(r) => {
                if r.stopped_task.is_some() {
                    "remediation_done"
                } else {
                    "remediation_skipped"
                }
            }
            Event::GateFailed(_) => "gate_failed",
            Event::Test(_) => "test",
        }
    }
}

/// How a deployment ended, as notify needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployOutcome {
    Succeeded,
    RolledBack,
    RollbackFailed,
    Failed,
    TimedOut,
}

impl DeployOutcome {
    pub fn kind(self) -> EventKind {
        match self {
            DeployOutcome::Succeeded => EventKind::Succeeded,
            DeployOutcome::RolledBack | DeployOutcome::RollbackFailed => EventKind::RolledBack,
            DeployOutcome::Failed | DeployOutcome::TimedOut => EventKind::Failed,
        }
    }
}

/// Where the thing happened: shown in every message so a shared channel can tell
/// services and environments apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Subject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// Links a message offers; each is left out when unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Links {
    /// The rollback report (report.html), published (e.g. as a Jenkins artifact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// The report's path on the machine that wrote it, when there is no URL for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_path: Option<String>,
    /// The Jenkins build (BUILD_URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The CodeDeploy console page of the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
}

/// A watched alarm that fired during the deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmTrigger {
    pub alarm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// 5xx and requests per task set over the deployment, from the rollback report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GreenBlue {
    pub green_5xx: f64,
    pub green_requests: f64,
    pub blue_5xx: f64,
    pub blue_requests: f64,
}

/// One group of error lines the report found in green's logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorGroupLine {
    pub count: u64,
    /// The masked message (ids and numbers replaced), already redacted.
    pub message: String,
    /// The route most of its lines were logged for, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

/// A deployment that ended (rolled back, failed, timed out, or succeeded).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentEvent {
    pub outcome: DeployOutcome,
    pub deployment_id: String,
    pub application: String,
    pub deployment_group: String,
    pub subject: Subject,
    /// The release (git sha or image tag), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The report's verdict: why it was rolled back, in a short paragraph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Alarms that fired, in the order they fired.
    pub alarms: Vec<AlarmTrigger>,
    /// Green's traffic share when the first alarm was seen, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub green_percent_at_alarm: Option<f64>,
    /// Highest traffic share green reached, percent.
    pub max_green_percent: f64,
    pub stopped_by_shipwatch: bool,
    /// CodeDeploy's error code and message, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codedeploy_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub green_vs_blue: Option<GreenBlue>,
    /// Error groups, most frequent first (all of them; the renderers cut).
    pub error_groups: Vec<ErrorGroupLine>,
    pub elapsed_seconds: f64,
    /// shipwatch's exit code for this outcome.
    pub exit_code: i32,
    pub links: Links,
}

/// What `remediate` did or why it did nothing. Filled by the command layer from the
/// remediation's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemediationEvent {
    pub subject: Subject,
    /// The alarm that asked for it, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    /// The task that was stopped (ARN or id); `None` when nothing was stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_task: Option<String>,
    /// Why that task (or why none): the evidence that chose it.
    pub why: String,
    /// The guard that decided, e.g. "cool-down: task abc stopped 4 min ago for the same
    /// alarm state change", or "minimum healthy tasks (2) reached".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// The replacement task ECS started, when it was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement_task: Option<String>,
    /// shipwatch's exit code for the remediation.
    pub exit_code: i32,
    pub links: Links,
}

/// Findings per severity, highest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub unknown: usize,
}

impl SeverityCounts {
    /// Non-zero counts, highest severity first, as `("CRITICAL", 2)`.
    pub fn nonzero(&self) -> Vec<(&'static str, usize)> {
        [
            ("CRITICAL", self.critical),
            ("HIGH", self.high),
            ("MEDIUM", self.medium),
            ("LOW", self.low),
            ("INFO", self.info),
            ("UNKNOWN", self.unknown),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// One gate that failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedGate {
    /// `secrets`, `image`, `sbom`, `iac`, `deps`.
    pub gate: String,
    pub tool: String,
    /// What was scanned.
    pub target: String,
    /// The gate's one-line summary.
    pub summary: String,
    pub counts: SeverityCounts,
    /// Findings that fail the gate.
    pub failing: usize,
}

/// One finding that fails a gate. Never carries a secret value: for a leaked secret
/// it is the rule, the file and line, and the commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingLine {
    pub gate: String,
    pub severity: String,
    pub rule_id: String,
    pub title: String,
    /// `file:line` or `package@version`.
    pub location: String,
}

/// Security gates that failed the build.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateEvent {
    pub subject: Subject,
    pub gates: Vec<FailedGate>,
    /// Failing findings, most severe first (all of them; the renderers cut).
    pub findings: Vec<FindingLine>,
    /// Where the gates wrote their reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_dir: Option<String>,
    pub exit_code: i32,
    pub links: Links,
}

/// The sample `notify --test` sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestEvent {
    pub subject: Subject,
    /// The events this configuration notifies about.
    pub enabled: Vec<EventKind>,
    pub links: Links,
}
