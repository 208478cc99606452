//! Every built-in default, in one place: what shipwatch uses when neither a flag, an
//! environment variable nor the configuration file says otherwise. A default path is
//! relative to the working directory (where Jenkins runs shipwatch).

use crate::gates::model::{Severity, SeveritySet};
use crate::gates::settings::Policy;
use std::path::PathBuf;
use std::time::Duration;

/// The configuration file when `--config` / `SHIPWATCH_CONFIG` is not given; it may be
/// missing, then flags and environment variables carry everything.
pub const CONFIG_FILE: &str = "pipeline/shipwatch.toml";

/// Attempts per AWS call before giving up.
pub const AWS_MAX_ATTEMPTS: u32 = 6;
/// One attempt of an AWS call may take this long before it is retried: a hung endpoint
/// becomes a timeout, not a hung watch.
pub const AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// One AWS call, all attempts and backoffs together.
pub const AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait between two attempts of one call: throttling costs seconds.
pub const AWS_MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The region when neither flag, file, environment nor profile names one.
pub const AWS_REGION: &str = "us-east-1";

/// CodeDeploy deployment configuration when neither flag nor `[codedeploy]` names one.
pub const DEPLOYMENT_CONFIG: &str = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes";
pub const STATE_FILE: &str = "shipwatch-out/deploy-state.json";
pub const REPORT_DIR: &str = "shipwatch-out/report";
/// Where `investigate` writes investigation.md, .html and .json.
pub const INVESTIGATION_DIR: &str = "shipwatch-out/investigation";
pub const GATES_DIR: &str = "shipwatch-out/gates";

/// How often the deployment target (traffic, lifecycle) is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(10);
/// How often the watched alarms are polled.
pub const ALARM_POLL_INTERVAL: Duration = Duration::from_secs(4);
/// Without a TTY, a status line at least this often.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// Stop the deployment as soon as a watched alarm is in ALARM.
pub const STOP_ON_ALARM: bool = true;
/// How long reads may keep failing (AWS unreachable, hung, throttled past the retries)
/// before the watch gives up with exit 9; preflight rides out faults as long.
pub const OUTAGE_BUDGET: Duration = Duration::from_secs(180);
/// How long a SIGINT/SIGTERM lets an in-flight mutating call (RegisterTaskDefinition,
/// CreateDeployment, StopDeployment) finish, so shipwatch knows what it created.
pub const SIGNAL_GRACE: Duration = Duration::from_secs(8);
/// How long `stop` waits for traffic to return to blue.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// `watch` of a deployment whose configuration is not looked up: an hour.
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(3600);

/// After a deploy's rollback ends, how long the rollback report's reads still running
/// may take (most were made while the rollback ran); what is not read by then is
/// reported as not read in time, and `shipwatch report <id>` reads it in full.
pub const REPORT_AFTER_ROLLBACK: Duration = Duration::from_secs(5);
/// How many trace ids the report looks up in Jaeger.
pub const MAX_TRACES: usize = 5;
/// One Jaeger request's limit; Jaeger being slow must not hold up the report.
pub const JAEGER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one scanner may run before it is killed.
pub const GATE_TIMEOUT: Duration = Duration::from_secs(600);
/// The allowlist looked for beside the configuration file when none is named.
pub const ALLOWLIST_FILE: &str = "allowlist.toml";
/// What each gate scans when neither flag nor `[gates.<name>]` says.
pub const SECRETS_PATH: &str = ".";
pub const IAC_DIR: &str = "terraform";
pub const DEPS_DIR: &str = ".";
pub const TRIVY_SCANNERS: &[&str] = &["vuln", "secret", "misconfig"];
pub const CHECKOV_FRAMEWORKS: &[&str] = &["terraform"];
/// Severity of a Checkov check missing from `[gates.iac.severity]`.
pub const IAC_DEFAULT_SEVERITY: Severity = Severity::High;

/// Where scanners are looked for after `[gates.tools]` and PATH: `.tools/bin` in the
/// folder above the configuration file's (the repository root with the default
/// `pipeline/shipwatch.toml`), then `.tools/bin` under the working directory;
/// `scripts/setup.sh` fills it.
pub fn tools_folders(config_dir: &std::path::Path) -> Vec<PathBuf> {
    vec![
        config_dir.join("..").join(".tools").join("bin"),
        PathBuf::from(".tools").join("bin"),
    ]
}

fn critical_high() -> SeveritySet {
    SeveritySet::of(&[Severity::Critical, Severity::High])
}

/// Gitleaks reports every secret as HIGH: any secret fails.
pub fn secrets_policy() -> Policy {
    Policy {
        fail_on: SeveritySet::any(),
        fail_unfixed: true,
        secrets_fail_on: SeveritySet::any(),
    }
}

/// Critical and high vulnerabilities with a fix, and any secret in the image.
pub fn image_policy() -> Policy {
    Policy {
        fail_on: critical_high(),
        fail_unfixed: false,
        secrets_fail_on: SeveritySet::any(),
    }
}

/// The green-vs-blue judge on the task logs runs while traffic shifts.
pub const JUDGE_ENABLED: bool = true;
/// The judge's sequential test stops a release no worse than blue with a chance of at
/// most 1 − this, however many reads it takes (a likelihood ratio of 1 000:1 to stop).
pub const JUDGE_CONFIDENCE: f64 = 0.999;
/// Green requests in the task logs before the judge decides anything: a floor against
/// the first handful of lines; the test itself bounds false stops.
pub const JUDGE_MIN_REQUESTS: u64 = 10;
/// Green's 5xx proportion must exceed blue's by this factor...
pub const JUDGE_MIN_RATIO: f64 = 2.0;
/// ...and by this absolute difference (half a percentage point).
pub const JUDGE_MIN_DIFFERENCE: f64 = 0.005;
/// How often the judge reads the task logs (awslogs ships every 5 s).
pub const JUDGE_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// How often the judge reads the target groups' per-minute metrics (each minute appears
/// once, 60–90 s after it ends: three reads a minute find it within 20 s).
pub const JUDGE_METRICS_POLL_INTERVAL: Duration = Duration::from_secs(20);

/// The SBOM gate judges the documents themselves, never severities.
pub fn sbom_policy() -> Policy {
    Policy {
        fail_on: SeveritySet::default(),
        fail_unfixed: false,
        secrets_fail_on: SeveritySet::any(),
    }
}

pub fn iac_policy() -> Policy {
    Policy {
        fail_on: critical_high(),
        fail_unfixed: true,
        secrets_fail_on: SeveritySet::any(),
    }
}

/// npm rarely knows a fix, so advisories without one fail too.
pub fn deps_policy() -> Policy {
    Policy {
        fail_on: critical_high(),
        fail_unfixed: true,
        secrets_fail_on: SeveritySet::any(),
    }
}

/// The environment variable holding the Slack incoming-webhook URL, when `[notify]
/// slack_webhook_env` names none. The URL is a secret, so it is never in the file.
pub const NOTIFY_SLACK_ENV: &str = "SHIPWATCH_SLACK_WEBHOOK_URL";
/// What a notification is sent for when `[notify] events` is not set: trouble only.
pub const NOTIFY_EVENTS: &[crate::notify::model::EventKind] = &[
    crate::notify::model::EventKind::RolledBack,
    crate::notify::model::EventKind::Failed,
    crate::notify::model::EventKind::Remediation,
    crate::notify::model::EventKind::GateFailed,
];
/// One notification's budget per endpoint, every attempt and Retry-After wait included:
/// a slow chat service must not hold up the pipeline.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(6);
/// `remediate`: healthy running tasks that must remain after a stop.
pub const REMEDIATE_MIN_HEALTHY: u32 = 1;
/// `remediate`: at most one stop per this window, whatever the alarm (the source
/// article's guard used 10 minutes).
pub const REMEDIATE_COOL_DOWN: Duration = Duration::from_secs(10 * 60);
/// `remediate`: how far back error lines are counted when no target is unhealthy.
pub const REMEDIATE_LOG_WINDOW: Duration = Duration::from_secs(5 * 60);
/// `remediate`: how long to wait for the replacement task to be running and healthy
/// (Fargate start plus a few health checks; the Lambda timeout must exceed it).
pub const REMEDIATE_REPLACEMENT_WAIT: Duration = Duration::from_secs(3 * 60);
/// `remediate`: how often the replacement is looked for.
pub const REMEDIATE_POLL: Duration = Duration::from_secs(5);
