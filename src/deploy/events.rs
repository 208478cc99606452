//! What the deploy engine reports. The engine only emits these; reporters decide how
//! they look (TTY bar, plain Jenkins lines, JSON lines).

use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The task definition to deploy is known (registered now or reused).
    TaskDefinition { arn: String, reused: bool },
    /// A deployment was created by this run.
    Created {
        deployment_id: String,
        config: String,
        task_definition: String,
    },
    /// This run attached to a deployment that was already running (same sha, or `watch`).
    Attached { deployment_id: String },
    Status {
        deployment_id: String,
        status: String,
    },
    Lifecycle {
        deployment_id: String,
        name: String,
        status: String,
    },
    Traffic {
        deployment_id: String,
        green_percent: f64,
    },
    /// A watched alarm entered ALARM.
    AlarmFired {
        alarm: String,
        reason: Option<String>,
    },
    /// shipwatch asked CodeDeploy to stop the deployment.
    StopRequested {
        deployment_id: String,
        rollback: bool,
        why: String,
    },
    /// shipwatch's StopDeployment found the deployment already ended (CodeDeploy's own
    /// alarm check or a failure ended it first): shipwatch did not stop it.
    AlreadyEnded {
        deployment_id: String,
        message: String,
    },
    /// CodeDeploy started a rollback deployment.
    RollbackStarted {
        deployment_id: String,
        rollback_id: String,
    },
    /// Nothing changed for a while; proves the process is alive.
    Tick {
        deployment_id: String,
        status: String,
        green_percent: Option<f64>,
        lifecycle: Option<String>,
        #[serde(skip)]
        elapsed: Duration,
    },
    /// An AWS read failed and will be retried at the next poll; reads have been
    /// failing for `failing_for` (the outage budget is `budget`).
    Retrying {
        operation: String,
        message: String,
        #[serde(serialize_with = "secs")]
        failing_for: Duration,
        #[serde(serialize_with = "secs")]
        budget: Duration,
    },
    /// An AWS call has been in flight for `waited` without an answer yet.
    Waiting {
        operation: String,
        #[serde(serialize_with = "secs")]
        waited: Duration,
    },
    /// The green-vs-blue judge reached another kind of verdict (see deploy::judge).
    Judged {
        verdict: String,
        text: String,
        green: super::judge::Counts,
        blue: super::judge::Counts,
    },
    /// The judge stopped judging without a verdict; the alarms stay the guard.
    JudgeOff { why: String },
}

/// Where events go: the engine calls `emit` and never prints.
pub trait Sink {
    fn emit(&mut self, elapsed: Duration, event: &Event);
    /// Called before the final summary so a progress bar can clear itself.
    fn finish(&mut self) {}
}

/// Collects events, for tests.
#[cfg(test)]
#[derive(Default)]
pub struct Collect(pub Vec<Event>);

#[cfg(test)]
impl Sink for Collect {
    fn emit(&mut self, _elapsed: Duration, event: &Event) {
        self.0.push(event.clone());
    }
}

/// Durations in JSON events are seconds.
fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 10.0).round() / 10.0)
}
