//! Process exit codes: the contract between shipwatch and the pipeline that calls it.
//!
//! Every code is distinct so a Jenkinsfile can branch on what happened without parsing
//! the log. Unknown or unexpected failures always exit with [`INTERNAL`].

/// The command did what it was asked: deployment succeeded, gate passed, report written.
pub const OK: i32 = 0;
/// A bug or an unexpected failure inside shipwatch.
pub const INTERNAL: i32 = 1;
/// Bad command line, configuration or template. Nothing was changed in AWS.
pub const USAGE: i32 = 2;
/// The deployment was rolled back: traffic is back on the original (blue) task set.
pub const ROLLED_BACK: i32 = 3;
/// The deployment failed or was stopped, and no rollback happened.
pub const FAILED: i32 = 4;
/// Gave up waiting: the deployment is still running; its id was saved and printed.
pub const TIMED_OUT: i32 = 5;
/// A precondition failed before anything was changed: another deployment is active,
/// the image is not in ECR, a watched alarm is already in ALARM, the service is not on
/// the CODE_DEPLOY controller, and the like. `doctor` exits with it when a check
/// failed: what it found would stop a deploy (or break its report) the same way; and
/// `notify --test` when an endpoint did not accept the sample.
pub const PRECONDITION: i32 = 6;
/// A security gate found findings that the policy says must fail the build.
pub const GATE_FAILED: i32 = 7;
/// An external tool (scanner, git) is missing, crashed, or wrote an unusable report.
pub const TOOL_FAILED: i32 = 8;
/// An AWS API call failed for a reason other than a precondition (no credentials,
/// access denied, endpoint unreachable, throttled past every retry). Kept apart from
/// [`INTERNAL`] so a pipeline can retry infrastructure trouble but not bugs.
pub const AWS_ERROR: i32 = 9;
/// `remediate`: one task was stopped and its replacement is running and healthy.
pub const REMEDIATED: i32 = 10;
/// `remediate`: a guard held it back (this alarm state change was already acted on,
/// the cool-down, the minimum of healthy tasks); nothing was stopped.
pub const REMEDIATE_SKIPPED: i32 = 11;
/// `remediate`: no unhealthy target and no errors in the logs; nothing was stopped.
pub const NOTHING_UNHEALTHY: i32 = 12;
/// `remediate`: a deployment owns the service; nothing was stopped.
pub const REMEDIATE_REFUSED: i32 = 13;
/// `remediate`: StopTask failed, or no healthy replacement within the wait.
pub const REMEDIATE_FAILED: i32 = 14;
/// `investigate` found something wrong (a likely cause, an alarm in ALARM, or a
/// deployment in progress); the investigation was written.
pub const INVESTIGATE_FOUND: i32 = 15;
/// Interrupted by SIGINT (Ctrl-C). State was saved; see the printed `stop` command.
pub const INTERRUPTED: i32 = 130;
/// Terminated by SIGTERM (a Jenkins abort). State was saved; see the printed `stop` command.
pub const TERMINATED: i32 = 143;

/// One row per code, in the order shown by `--help` and the README.
pub const TABLE: &[(i32, &str)] = &[
    (OK, "success"),
    (INTERNAL, "internal error (a bug)"),
    (
        USAGE,
        "usage or configuration error; nothing changed in AWS",
    ),
    (ROLLED_BACK, "deployment rolled back (report written)"),
    (FAILED, "deployment failed or stopped without rollback"),
    (
        TIMED_OUT,
        "timed out waiting; deployment still running, id saved",
    ),
    (
        PRECONDITION,
        "precondition failed (doctor: a check failed); nothing changed in AWS",
    ),
    (GATE_FAILED, "security gate failed"),
    (
        TOOL_FAILED,
        "external tool missing, crashed or wrote a bad report",
    ),
    (
        AWS_ERROR,
        "AWS API error (credentials, access, endpoint, throttling)",
    ),
    (
        REMEDIATED,
        "remediate: one task stopped, replacement running and healthy",
    ),
    (
        REMEDIATE_SKIPPED,
        "remediate: skipped by a guard; nothing stopped",
    ),
    (
        NOTHING_UNHEALTHY,
        "remediate: nothing unhealthy; nothing stopped",
    ),
    (
        REMEDIATE_REFUSED,
        "remediate: refused, a deployment is active; nothing stopped",
    ),
    (
        REMEDIATE_FAILED,
        "remediate: stop failed or no healthy replacement in time",
    ),
    (
        INVESTIGATE_FOUND,
        "investigate found something wrong (investigation written)",
    ),
    (INTERRUPTED, "interrupted (SIGINT); state saved"),
    (
        TERMINATED,
        "terminated (SIGTERM, Jenkins abort); state saved",
    ),
];

/// The exit-code table as help text.
pub fn help_text() -> String {
    let mut s = String::from("Exit codes:\n");
    for (code, what) in TABLE {
        s.push_str(&format!("  {code:>3}  {what}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<i32> = TABLE.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len());
    }
}
