//! Pure decisions of the watch loop: given what was observed, what to do next.

use crate::aws::model::{Deployment, DeploymentStatus};
use std::time::Duration;

/// How a watched deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    /// Stopped or failed, and the rollback deployment succeeded: traffic is on blue.
    RolledBack,
    /// Stopped or failed with no rollback.
    Failed,
    /// The rollback deployment itself did not succeed: traffic may be split.
    RollbackFailed,
    TimedOut,
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        use crate::exit;
        match self {
            Outcome::Succeeded => exit::OK,
            Outcome::RolledBack => exit::ROLLED_BACK,
            Outcome::Failed | Outcome::RollbackFailed => exit::FAILED,
            Outcome::TimedOut => exit::TIMED_OUT,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Wait,
    /// Stop the deployment (with rollback) because these alarms are in ALARM.
    StopForAlarm(Vec<String>),
    /// Stop the deployment (with rollback) because the judge found green worse; why.
    StopForJudge(String),
    /// Watch this rollback deployment from now on.
    FollowRollback(String),
    Finish(Outcome),
}

/// What the loop knows about the deployment it was asked to watch.
pub struct Main<'a> {
    pub deployment: &'a Deployment,
    /// Watched alarms currently in ALARM.
    pub firing: &'a [String],
    pub stop_on_alarm: bool,
    pub stop_requested: bool,
    /// Whether a rollback deployment should appear (we asked for one, or the group rolls back automatically).
    pub expect_rollback: bool,
    /// How long the deployment has been terminal without a rollback id.
    pub terminal_for: Duration,
    /// How long to wait for rollbackInfo to appear after the deployment stopped.
    pub rollback_grace: Duration,
    /// Whether the replacement (green) task set was ever seen, or could not be seen. A
    /// deployment stopped before it existed has nothing to roll back, and CodeDeploy
    /// starts no rollback deployment for it.
    pub replacement_seen: bool,
}

pub fn decide_main(m: &Main<'_>) -> Decision {
    let d = m.deployment;
    match &d.status {
        DeploymentStatus::Succeeded => Decision::Finish(Outcome::Succeeded),
        DeploymentStatus::Failed | DeploymentStatus::Stopped => {
            match &d.rollback.rollback_deployment_id {
                Some(id) => Decision::FollowRollback(id.clone()),
                None if m.expect_rollback
                    && m.replacement_seen
                    && m.terminal_for < m.rollback_grace =>
                {
                    Decision::Wait
                }
                None => Decision::Finish(Outcome::Failed),
            }
        }
        _ if !m.firing.is_empty() && m.stop_on_alarm && !m.stop_requested => {
            Decision::StopForAlarm(m.firing.to_vec())
        }
        _ => Decision::Wait,
    }
}

/// The rollback deployment decides the outcome once it ends.
pub fn decide_rollback(rollback: &Deployment) -> Decision {
    match rollback.status {
        DeploymentStatus::Succeeded => Decision::Finish(Outcome::RolledBack),
        DeploymentStatus::Failed | DeploymentStatus::Stopped => {
            Decision::Finish(Outcome::RollbackFailed)
        }
        _ => Decision::Wait,
    }
}

/// Default time budget: traffic shifting + the group's waits + a margin for task start-up.
pub fn default_timeout(
    shifting_minutes: i64,
    ready_wait: Option<i32>,
    termination_wait: Option<i32>,
) -> Duration {
    let minutes = shifting_minutes
        + i64::from(ready_wait.unwrap_or(0))
        + i64::from(termination_wait.unwrap_or(0))
        + 15;
    Duration::from_secs(minutes.max(1) as u64 * 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::RollbackInfo;

    fn dep(status: &str, rollback: Option<&str>) -> Deployment {
        Deployment {
            status: DeploymentStatus::parse(status),
            application: "a".into(),
            group: "g".into(),
            rollback: RollbackInfo {
                rollback_deployment_id: rollback.map(str::to_owned),
                ..Default::default()
            },
            ..Deployment::unknown("d-1")
        }
    }

    fn main<'a>(d: &'a Deployment, firing: &'a [String]) -> Main<'a> {
        Main {
            deployment: d,
            firing,
            stop_on_alarm: true,
            stop_requested: false,
            expect_rollback: true,
            terminal_for: Duration::ZERO,
            rollback_grace: Duration::from_secs(30),
            replacement_seen: true,
        }
    }

    #[test]
    fn a_stop_before_the_replacement_existed_ends_without_waiting_for_a_rollback() {
        let d = dep("Stopped", None);
        let mut m = main(&d, &[]);
        m.stop_requested = true;
        assert_eq!(
            decide_main(&m),
            Decision::Wait,
            "green existed: a rollback may follow"
        );
        m.replacement_seen = false;
        assert_eq!(decide_main(&m), Decision::Finish(Outcome::Failed));
    }

    #[test]
    fn alarm_during_shift_stops() {
        let d = dep("InProgress", None);
        let firing = vec!["web-5xx".to_string()];
        assert_eq!(
            decide_main(&main(&d, &firing)),
            Decision::StopForAlarm(firing.clone())
        );
    }

    #[test]
    fn alarm_is_left_to_codedeploy_when_not_stopping() {
        let d = dep("InProgress", None);
        let firing = vec!["web-5xx".to_string()];
        let mut m = main(&d, &firing);
        m.stop_on_alarm = false;
        assert_eq!(decide_main(&m), Decision::Wait);
    }

    #[test]
    fn stop_is_requested_once() {
        let d = dep("InProgress", None);
        let firing = vec!["web-5xx".to_string()];
        let mut m = main(&d, &firing);
        m.stop_requested = true;
        assert_eq!(decide_main(&m), Decision::Wait);
    }

    #[test]
    fn stopped_with_rollback_is_followed() {
        let d = dep("Stopped", Some("d-2"));
        assert_eq!(
            decide_main(&main(&d, &[])),
            Decision::FollowRollback("d-2".into())
        );
    }

    #[test]
    fn waits_for_rollback_info_within_grace_then_fails() {
        let d = dep("Stopped", None);
        let mut m = main(&d, &[]);
        assert_eq!(decide_main(&m), Decision::Wait);
        m.terminal_for = Duration::from_secs(31);
        assert_eq!(decide_main(&m), Decision::Finish(Outcome::Failed));
        m.terminal_for = Duration::ZERO;
        m.expect_rollback = false;
        assert_eq!(decide_main(&m), Decision::Finish(Outcome::Failed));
    }

    #[test]
    fn success_never_stops_even_with_alarm() {
        let d = dep("Succeeded", None);
        let firing = vec!["x".to_string()];
        assert_eq!(
            decide_main(&main(&d, &firing)),
            Decision::Finish(Outcome::Succeeded)
        );
    }

    #[test]
    fn rollback_outcomes() {
        assert_eq!(
            decide_rollback(&dep("Succeeded", None)),
            Decision::Finish(Outcome::RolledBack)
        );
        assert_eq!(
            decide_rollback(&dep("Failed", None)),
            Decision::Finish(Outcome::RollbackFailed)
        );
        assert_eq!(decide_rollback(&dep("InProgress", None)), Decision::Wait);
    }

    #[test]
    fn exit_codes_follow_outcomes() {
        assert_eq!(Outcome::Succeeded.exit_code(), 0);
        assert_eq!(Outcome::RolledBack.exit_code(), 3);
        assert_eq!(Outcome::Failed.exit_code(), 4);
        assert_eq!(Outcome::RollbackFailed.exit_code(), 4);
        assert_eq!(Outcome::TimedOut.exit_code(), 5);
    }

    #[test]
    fn timeout_budget() {
        assert_eq!(
            default_timeout(9, Some(0), Some(5)),
            Duration::from_secs(29 * 60)
        );
    }
}
