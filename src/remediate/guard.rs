//! The guards, as pure functions over what ECS reports: no stop while a deployment owns
//! the service, at most one stop per alarm state change, at most one per cool-down
//! window, never below the minimum of healthy running tasks.
//!
//! The memory of past stops is ECS itself: StopTask removes a task's tags but keeps the
//! `reason` as `stoppedReason`, so every stop shipwatch makes carries a marker with a
//! key built from the alarm name and the alarm's state-change time. Nothing is stored
//! elsewhere, so a Lambda function and an engineer at a terminal see the same history.

use crate::aws::tasks::ServiceTask;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// StopTask accepts a reason of at most 255 characters.
pub const MAX_REASON: usize = 255;
/// Every stop shipwatch makes starts its reason with this.
pub const MARKER: &str = "shipwatch remediate";

/// What remediation acts on: the alarm and its state change, when there is one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trigger {
    pub alarm: Option<String>,
    /// When the alarm went into its current state (the idempotency key's second half).
    pub state_changed_at: Option<DateTime<Utc>>,
    pub alarm_reason: Option<String>,
    /// `command`, `alarm action` or `EventBridge`.
    pub source: String,
}

impl Trigger {
    /// 16 hex digits of SHA-256 over the alarm name and the state-change time: the same
    /// state change always gives the same key, a new one a new key. None without an alarm.
    pub fn key(&self) -> Option<String> {
        let alarm = self.alarm.as_deref()?;
        let at = self
            .state_changed_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| "unknown".into());
        let digest = Sha256::digest(format!("{alarm}\n{at}").as_bytes());
        Some(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
    }
}

/// The StopTask reason: marker, key and run id first (so they survive the cut to 255
/// characters), then the alarm and why the task was chosen, for whoever reads the
/// stopped task in the console.
pub fn stop_reason(trigger: &Trigger, run_id: &str, why: &str) -> String {
    let key = trigger.key().unwrap_or_else(|| "-".into());
    let mut s = format!("{MARKER} [key {key} run {run_id}]");
    if let Some(a) = &trigger.alarm {
        let name: String = a.chars().take(100).collect();
        s.push_str(&format!(" alarm {name}"));
        if let Some(t) = trigger.state_changed_at {
            s.push_str(&format!(
                " state change at {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        s.push(';');
    }
    s.push_str(&format!(" {why}"));
    cut(&s, MAX_REASON)
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The key in a stop reason shipwatch wrote, if it is one.
pub fn key_of(reason: &str) -> Option<&str> {
    let rest = reason.strip_prefix(MARKER)?.strip_prefix(" [key ")?;
    rest.split_whitespace().next()
}

/// The run id in a stop reason shipwatch wrote.
pub fn run_of(reason: &str) -> Option<&str> {
    let rest = reason.strip_prefix(MARKER)?;
    let i = rest.find(" run ")?;
    rest[i + 5..].split(']').next()
}

/// A guard that held remediation back, in words and as a stable name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Held {
    /// `alarm_state_change`, `cool_down`, `min_healthy`, `deployment_active`, `already_stopping`.
    pub guard: &'static str,
    pub detail: String,
}

/// When a stop was asked for: stoppingAt, else stoppedAt; unknown counts as now.
fn stop_time(t: &ServiceTask, now: DateTime<Utc>) -> DateTime<Utc> {
    t.stopping_at.or(t.stopped_at).unwrap_or(now)
}

/// Stops shipwatch made, newest first.
fn our_stops(tasks: &[ServiceTask], now: DateTime<Utc>) -> Vec<(&ServiceTask, DateTime<Utc>)> {
    let mut v: Vec<(&ServiceTask, DateTime<Utc>)> = tasks
        .iter()
        .filter(|t| t.desired_status == "STOPPED")
        .filter(|t| {
            t.stopped_reason
                .as_deref()
                .is_some_and(|r| r.starts_with(MARKER))
        })
        .map(|t| (t, stop_time(t, now)))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.arn.cmp(&b.0.arn)));
    v
}

/// At most one stop per alarm state change: a task already stopped with this key.
pub fn state_change(trigger: &Trigger, tasks: &[ServiceTask], now: DateTime<Utc>) -> Option<Held> {
    let key = trigger.key()?;
    let (t, at) = our_stops(tasks, now)
        .into_iter()
        .find(|(t, _)| t.stopped_reason.as_deref().and_then(key_of) == Some(key.as_str()))?;
    Some(Held {
        guard: "alarm_state_change",
        detail: format!(
            "this state change of alarm {} was already acted on: task {} was stopped at {} (key {key})",
            trigger.alarm.as_deref().unwrap_or("-"),
            t.id,
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    })
}

/// At most one stop per cool-down window, whatever the alarm.
pub fn cool_down(
    tasks: &[ServiceTask],
    now: DateTime<Utc>,
    window: std::time::Duration,
) -> Option<Held> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let (t, at) = our_stops(tasks, now)
        .into_iter()
        .find(|(_, at)| now.signed_duration_since(*at) < window)?;
    let left = (window - now.signed_duration_since(at))
        .to_std()
        .unwrap_or_default();
    Some(Held {
        guard: "cool_down",
        detail: format!(
            "shipwatch stopped task {} at {}, within the cool-down of {}; the next stop is allowed in {}",
            t.id,
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            humantime::format_duration(window.to_std().unwrap_or_default()),
            humantime::format_duration(std::time::Duration::from_secs(left.as_secs().max(1)))
        ),
    })
}

/// Never below the minimum: `healthy` running tasks now, `chosen_is_healthy` whether
/// stopping the chosen one takes one of them away.
pub fn min_healthy(healthy: usize, chosen_is_healthy: bool, min: u32) -> Option<Held> {
    let left = healthy - usize::from(chosen_is_healthy && healthy > 0);
    (left < min as usize).then(|| Held {
        guard: "min_healthy",
        detail: format!(
            "stopping it would leave {left} healthy running task{} (now {healthy}), below the minimum of {min}",
            if left == 1 { "" } else { "s" }
        ),
    })
}

/// Nothing may be stopped while a deployment owns the service.
pub fn deployment(active: &[String]) -> Option<Held> {
    (!active.is_empty()).then(|| Held {
        guard: "deployment_active",
        detail: format!(
            "a deployment owns the service now ({}); follow it with `shipwatch watch <id>` or end it with `shipwatch stop <id>`, then run remediate again",
            active.join(", ")
        ),
    })
}

/// After StopTask: the task ECS returned carries another invocation's reason when that
/// one stopped it first (StopTask of a stopping task keeps the first reason).
pub fn after_stop(ours: &str, returned: &ServiceTask) -> Option<Held> {
    let theirs = returned.stopped_reason.as_deref()?;
    if theirs == ours {
        return None;
    }
    if key_of(theirs).is_some() && key_of(theirs) == key_of(ours) {
        return Some(Held {
            guard: "alarm_state_change",
            detail: format!(
                "another invocation for the same alarm state change stopped task {} first (run {})",
                returned.id,
                run_of(theirs).unwrap_or("?")
            ),
        });
    }
    Some(Held {
        guard: "already_stopping",
        detail: format!("task {} was already being stopped: {theirs}", returned.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn at(min: u32, sec: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 10, min, sec).unwrap()
    }

    fn trigger(alarm: &str, changed: DateTime<Utc>) -> Trigger {
        Trigger {
            alarm: Some(alarm.into()),
            state_changed_at: Some(changed),
            alarm_reason: None,
            source: "command".into(),
        }
    }

    fn stopped(id: &str, reason: &str, when: Option<DateTime<Utc>>) -> ServiceTask {
        ServiceTask {
            arn: format!("arn:aws:ecs:eu-west-1:1:task/c/{id}"),
            id: id.into(),
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            stopping_at: when,
            stopped_reason: Some(reason.into()),
            ..ServiceTask::default()
        }
    }

    #[test]
    fn key_is_stable_per_state_change() {
        let a = trigger("web-5xx", at(0, 0)).key().unwrap();
        assert_eq!(a.len(), 16);
        assert_eq!(trigger("web-5xx", at(0, 0)).key().unwrap(), a);
        assert_ne!(trigger("web-5xx", at(1, 0)).key().unwrap(), a);
        assert_ne!(trigger("web-5xy", at(0, 0)).key().unwrap(), a);
        assert_eq!(Trigger::default().key(), None);
    }

    #[test]
    fn reason_fits_255_and_keeps_the_key() {
        let long = "x".repeat(400);
        let t = trigger(&long, at(0, 0));
        let r = stop_reason(&t, "0a1b2c3d", &"why ".repeat(100));
        assert!(r.chars().count() <= MAX_REASON, "{}", r.chars().count());
        assert_eq!(key_of(&r), t.key().as_deref());
        assert_eq!(run_of(&r), Some("0a1b2c3d"));
        let plain = stop_reason(&Trigger::default(), "r1", "most errors");
        assert_eq!(key_of(&plain), Some("-"));
        assert_eq!(key_of("Task stopped by user"), None);
    }

    /// (name, trigger, stopped tasks, now, cool-down, expected guard)
    #[test]
    fn guards_over_stopped_tasks() {
        let t0 = trigger("web-5xx", at(0, 0));
        let same = stop_reason(&t0, "r1", "x");
        let other = stop_reason(&trigger("web-5xx", at(30, 0)), "r2", "x");
        type Case<'a> = (
            &'a str,
            &'a Trigger,
            Vec<ServiceTask>,
            DateTime<Utc>,
            u64,
            Option<&'a str>,
        );
        let cases: Vec<Case> = vec![
            ("nothing stopped", &t0, vec![], at(1, 0), 600, None),
            (
                "same key, long ago: still the same state change",
                &t0,
                vec![stopped("a", &same, Some(at(0, 10)))],
                at(59, 0),
                600,
                Some("alarm_state_change"),
            ),
            (
                "another key within the cool-down",
                &t0,
                vec![stopped("a", &other, Some(at(30, 5)))],
                at(35, 0),
                600,
                Some("cool_down"),
            ),
            (
                "another key after the cool-down",
                &t0,
                vec![stopped("a", &other, Some(at(30, 5)))],
                at(41, 0),
                600,
                None,
            ),
            (
                "a stop shipwatch did not make is ignored",
                &t0,
                vec![stopped(
                    "a",
                    "Task failed ELB health checks",
                    Some(at(0, 30)),
                )],
                at(1, 0),
                600,
                None,
            ),
            (
                "no stop time counts as now",
                &t0,
                vec![stopped("a", &other, None)],
                at(50, 0),
                600,
                Some("cool_down"),
            ),
        ];
        for (name, trig, tasks, now, cd, want) in cases {
            let held = state_change(trig, &tasks, now)
                .or_else(|| cool_down(&tasks, now, Duration::from_secs(cd)));
            assert_eq!(held.as_ref().map(|h| h.guard), want, "{name}: {held:?}");
        }
    }

    /// (healthy now, chosen healthy, minimum, held)
    #[test]
    fn min_healthy_table() {
        for (healthy, chosen, min, held) in [
            (3, true, 2, false),
            (2, true, 2, true),
            (2, false, 2, false),
            (1, true, 1, true),
            (0, false, 1, true),
            (0, false, 0, false),
        ] {
            assert_eq!(
                min_healthy(healthy, chosen, min).is_some(),
                held,
                "{healthy} {chosen} {min}"
            );
        }
    }

    #[test]
    fn after_stop_tells_our_stop_from_theirs() {
        let t = trigger("web-5xx", at(0, 0));
        let ours = stop_reason(&t, "r1", "x");
        let theirs = stop_reason(&t, "r2", "x");
        let mut ret = stopped("a", &ours, Some(at(0, 1)));
        assert_eq!(after_stop(&ours, &ret), None);
        ret.stopped_reason = Some(theirs);
        assert_eq!(after_stop(&ours, &ret).unwrap().guard, "alarm_state_change");
        ret.stopped_reason = Some("Scaling activity initiated by (deployment ecs-svc/1)".into());
        assert_eq!(after_stop(&ours, &ret).unwrap().guard, "already_stopping");
    }

    #[test]
    fn deployment_guard_names_the_way_out() {
        let h = deployment(&["d-ABC123 (InProgress)".into()]).unwrap();
        assert!(h.detail.contains("shipwatch watch"), "{}", h.detail);
        assert_eq!(deployment(&[]), None);
    }
}
