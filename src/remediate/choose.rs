//! The choice of the one task to stop, as a pure function of the evidence: a task whose
//! target the load balancer reports unhealthy first, else the task whose log stream has
//! the most error lines, else none. Deterministic (ties go to the task started first,
//! then to the smaller ARN), so invocations racing on the same evidence pick the same
//! task and a second StopTask of it is harmless.

use crate::aws::elb::TargetHealth as TargetState;
use crate::aws::tasks::ServiceTask;
use serde::Serialize;
use std::collections::BTreeMap;

/// Why a task was chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Why {
    /// Its target is `unhealthy` in a target group.
    UnhealthyTarget {
        target_group: String,
        reason: Option<String>,
        description: Option<String>,
    },
    /// Its log stream shows the most error lines in the window.
    MostErrors { errors: u64, window_seconds: u64 },
}

impl Why {
    /// The reason in words, for output lines and the StopTask reason.
    pub fn text(&self) -> String {
        match self {
            Why::UnhealthyTarget {
                target_group,
                reason,
                description,
            } => {
                let tg = target_group.rsplit(':').next().unwrap_or(target_group);
                let mut s = format!("target unhealthy in {tg}");
                if let Some(r) = reason {
                    s.push_str(&format!(" ({r}"));
                    if let Some(d) = description {
                        s.push_str(&format!(": {d}"));
                    }
                    s.push(')');
                }
                s
            }
            Why::MostErrors {
                errors,
                window_seconds,
            } => format!(
                "most error lines in its log stream: {errors} in the last {}",
                humantime::format_duration(std::time::Duration::from_secs(*window_seconds))
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub task: ServiceTask,
    pub why: Why,
}

/// A running task the scheduler has not been asked to stop.
pub fn is_running(t: &ServiceTask) -> bool {
    t.last_status == "RUNNING" && t.desired_status == "RUNNING"
}

/// The target of a task (by ENI address), the worst state first.
pub fn target_of<'a>(t: &ServiceTask, targets: &'a [TargetState]) -> Option<&'a TargetState> {
    let ip = t.ip.as_deref()?;
    // With targets mapped to tasks, the mapping decides (an address can pass from a
    // stopped task to its replacement); else the address does.
    targets
        .iter()
        .filter(|s| match &s.task_id {
            Some(id) => *id == t.id,
            None => s.id == ip,
        })
        .min_by_key(|s| state_rank(&s.state))
}

fn state_rank(state: &str) -> u8 {
    match state {
        "unhealthy" => 0,
        "unavailable" => 1,
        "draining" => 2,
        "initial" => 3,
        "unused" => 4,
        _ => 5,
    }
}

/// Running tasks that count as healthy: with targets known, those whose target is
/// `healthy`; with none registered at all, every running task.
pub fn healthy<'a>(tasks: &'a [ServiceTask], targets: &[TargetState]) -> Vec<&'a ServiceTask> {
    tasks
        .iter()
        .filter(|t| is_running(t))
        .filter(|t| {
            targets.is_empty() || target_of(t, targets).is_some_and(|s| s.state == "healthy")
        })
        .collect()
}

/// Deterministic order: started first, then the smaller ARN; a task without a start
/// time sorts last.
fn order(a: &ServiceTask, b: &ServiceTask) -> std::cmp::Ordering {
    let key = |t: &ServiceTask| (t.started_at.is_none(), t.started_at, t.arn.clone());
    key(a).cmp(&key(b))
}

/// The task to stop, if any. `errors` maps task id → error lines in the window; it is
/// consulted only when no target is unhealthy.
pub fn choose(
    tasks: &[ServiceTask],
    targets: &[TargetState],
    errors: &BTreeMap<String, u64>,
    window_seconds: u64,
) -> Option<Choice> {
    let mut running: Vec<&ServiceTask> = tasks.iter().filter(|t| is_running(t)).collect();
    running.sort_by(|a, b| order(a, b));
    if let Some((t, s)) = running.iter().find_map(|t| {
        target_of(t, targets)
            .filter(|s| s.is_failing())
            .map(|s| (*t, s))
    }) {
        return Some(Choice {
            task: t.clone(),
            why: Why::UnhealthyTarget {
                target_group: s.target_group_arn.clone(),
                reason: s.reason.clone(),
                description: s.description.clone(),
            },
        });
    }
    let most = running
        .iter()
        .map(|t| errors.get(&t.id).copied().unwrap_or(0))
        .max()
        .unwrap_or(0);
    if most == 0 {
        return None;
    }
    let t = running
        .iter()
        .find(|t| errors.get(&t.id).copied().unwrap_or(0) == most)?;
    Some(Choice {
        task: (*t).clone(),
        why: Why::MostErrors {
            errors: most,
            window_seconds,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn task(id: &str, ip: &str, started_min: Option<u32>) -> ServiceTask {
        ServiceTask {
            arn: format!("arn:aws:ecs:eu-west-1:1:task/c/{id}"),
            id: id.into(),
            last_status: "RUNNING".into(),
            desired_status: "RUNNING".into(),
            ip: Some(ip.into()),
            started_at: started_min.map(|m| Utc.with_ymd_and_hms(2026, 1, 1, 10, m, 0).unwrap()),
            ..ServiceTask::default()
        }
    }

    fn target(ip: &str, state: &str) -> TargetState {
        TargetState {
            target_group_arn: "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web-blue/abc"
                .into(),
            id: ip.into(),
            task_id: None,
            port: Some(8080),
            state: state.into(),
            reason: (state == "unhealthy").then(|| "Target.ResponseCodeMismatch".into()),
            description: None,
        }
    }

    fn errors(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// (name, tasks, targets, errors, expected task id, expected kind)
    #[test]
    fn choices() {
        let a = task("a", "10.0.0.1", Some(1));
        let b = task("b", "10.0.0.2", Some(2));
        let c = task("c", "10.0.0.3", Some(2));
        let mut stopping = task("s", "10.0.0.9", Some(0));
        stopping.desired_status = "STOPPED".into();
        let no_start = task("0", "10.0.0.4", None);
        type Case<'a> = (
            &'a str,
            Vec<ServiceTask>,
            Vec<TargetState>,
            BTreeMap<String, u64>,
            Option<&'a str>,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "unhealthy target wins over errors",
                vec![a.clone(), b.clone()],
                vec![
                    target("10.0.0.1", "healthy"),
                    target("10.0.0.2", "unhealthy"),
                ],
                errors(&[("a", 50)]),
                Some("b"),
                "unhealthy_target",
            ),
            (
                "two unhealthy: the one started first",
                vec![b.clone(), a.clone()],
                vec![
                    target("10.0.0.1", "unhealthy"),
                    target("10.0.0.2", "unhealthy"),
                ],
                errors(&[]),
                Some("a"),
                "unhealthy_target",
            ),
            (
                "same start: the smaller ARN",
                vec![c.clone(), b.clone()],
                vec![
                    target("10.0.0.2", "unhealthy"),
                    target("10.0.0.3", "unhealthy"),
                ],
                errors(&[]),
                Some("b"),
                "unhealthy_target",
            ),
            (
                "no unhealthy target: most errors",
                vec![a.clone(), b.clone()],
                vec![target("10.0.0.1", "healthy"), target("10.0.0.2", "healthy")],
                errors(&[("a", 3), ("b", 9)]),
                Some("b"),
                "most_errors",
            ),
            (
                "error tie: started first",
                vec![b.clone(), a.clone()],
                vec![],
                errors(&[("a", 4), ("b", 4)]),
                Some("a"),
                "most_errors",
            ),
            (
                "a task without a start time sorts last",
                vec![no_start.clone(), b.clone()],
                vec![],
                errors(&[("0", 4), ("b", 4)]),
                Some("b"),
                "most_errors",
            ),
            (
                "nothing unhealthy, no errors: none",
                vec![a.clone(), b.clone()],
                vec![target("10.0.0.1", "healthy"), target("10.0.0.2", "initial")],
                errors(&[("x", 10)]),
                None,
                "",
            ),
            (
                "a task already stopping is never chosen",
                vec![stopping.clone(), a.clone()],
                vec![
                    target("10.0.0.9", "unhealthy"),
                    target("10.0.0.1", "healthy"),
                ],
                errors(&[("s", 10)]),
                None,
                "",
            ),
        ];
        for (name, tasks, targets, errs, want, kind) in cases {
            let got = choose(&tasks, &targets, &errs, 300);
            assert_eq!(got.as_ref().map(|c| c.task.id.as_str()), want, "{name}");
            if let Some(c) = got {
                let v = serde_json::to_value(&c.why).unwrap();
                assert_eq!(v["kind"], kind, "{name}");
            }
        }
    }

    #[test]
    fn same_evidence_in_any_order_gives_the_same_task() {
        let tasks = vec![
            task("a", "10.0.0.1", Some(3)),
            task("b", "10.0.0.2", Some(1)),
            task("c", "10.0.0.3", Some(1)),
        ];
        let targets: Vec<TargetState> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|ip| target(ip, "unhealthy"))
            .collect();
        let mut rev = tasks.clone();
        rev.reverse();
        let x = choose(&tasks, &targets, &BTreeMap::new(), 60).unwrap();
        let y = choose(&rev, &targets, &BTreeMap::new(), 60).unwrap();
        assert_eq!(x.task.id, "b");
        assert_eq!(x, y);
    }

    #[test]
    fn healthy_counts_targets_when_there_are_any() {
        let tasks = vec![
            task("a", "10.0.0.1", Some(1)),
            task("b", "10.0.0.2", Some(2)),
        ];
        assert_eq!(healthy(&tasks, &[]).len(), 2);
        let t = vec![target("10.0.0.1", "healthy"), target("10.0.0.2", "initial")];
        assert_eq!(healthy(&tasks, &t).len(), 1);
    }

    #[test]
    fn why_in_words() {
        let w = Why::UnhealthyTarget {
            target_group: "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web-blue/abc"
                .into(),
            reason: Some("Target.Timeout".into()),
            description: Some("Request timed out".into()),
        };
        assert_eq!(
            w.text(),
            "target unhealthy in targetgroup/web-blue/abc (Target.Timeout: Request timed out)"
        );
        let e = Why::MostErrors {
            errors: 7,
            window_seconds: 300,
        };
        assert!(e.text().contains("7 in the last 5m"), "{}", e.text());
    }
}
