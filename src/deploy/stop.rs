//! `shipwatch stop`: stops a deployment (rolling back unless told not to) and waits
//! until traffic is back on blue. A deployment that already ended with a rollback still
//! running, or a rollback deployment itself, is followed rather than stopped: stopping a
//! rollback would start a rollback of the rollback. How far it got is kept for the
//! message a SIGTERM/SIGINT gets.

use super::engine::{self, WatchOptions};
use super::events::Sink;
use super::{StopSettings, clock, progress, ride_out, summary_text};
use crate::aws::model::Deployment;
use crate::aws::{Clients, codedeploy};
use crate::deploy::decide::Outcome;
use crate::error::{Error, Result};
use crate::exit;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How far `stop` got, for the message a signal gets.
#[derive(Debug, Default, Clone)]
pub struct StopProgress {
    /// StopDeployment is under way (a signal gives it its grace).
    pub in_flight: bool,
    /// CodeDeploy accepted the stop.
    pub accepted: bool,
    /// The rollback deployment being followed, once known.
    pub rollback: Option<String>,
}

pub type StopShared = Arc<Mutex<StopProgress>>;

pub fn lock(p: &StopShared) -> std::sync::MutexGuard<'_, StopProgress> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The final line: plain text, or one JSON object with `--output json`.
fn say(s: &StopSettings, outcome: &str, rollback: Option<&str>, code: i32, message: &str) -> i32 {
    if s.json {
        println!(
            "{}",
            serde_json::json!({
                "outcome": outcome,
                "deployment_id": s.deployment_id,
                "rollback_deployment_id": rollback,
                "exit_code": code,
                "message": message,
            })
        );
    } else {
        println!("{message}");
    }
    code
}

/// Stops the deployment and waits until traffic is back on blue; returns the exit code.
pub async fn stop(c: &Clients, s: &StopSettings, progress: &StopShared) -> Result<i32> {
    let id = s.deployment_id.clone();
    let mut sink = progress::reporter(s.json, s.heartbeat);
    // The opening reads ride out an outage like preflight does.
    let d = ride_out(s.outage_budget, sink.as_mut(), || {
        codedeploy::get_deployment(c, &id)
    })
    .await?;
    if d.is_rollback() {
        let of = d.rollback.rollback_triggering_deployment_id.as_deref();
        eprintln!(
            "{id} is CodeDeploy's rollback{}: it is what moves traffic back, so it is followed, not stopped",
            of.map(|o| format!(" of {o}")).unwrap_or_default()
        );
        return follow_rollback(c, s, sink.as_mut(), progress, d).await;
    }
    if d.status.is_terminal() {
        return ended(c, s, sink.as_mut(), progress, &d).await;
    }
    lock(progress).in_flight = true;
    let asked = codedeploy::stop(c, &id, s.rollback).await;
    {
        let mut p = lock(progress);
        p.in_flight = false;
        p.accepted = matches!(asked, Ok(codedeploy::StopOutcome::Requested { .. }));
    }
    match asked? {
        codedeploy::StopOutcome::Requested { status, message } => {
            eprintln!(
                "stop requested for {id} ({status}{})",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            )
        }
        codedeploy::StopOutcome::AlreadyCompleted(m) => {
            eprintln!("{id} completed before it could be stopped: {m}")
        }
    }
    let group = ride_out(s.outage_budget, sink.as_mut(), || {
        codedeploy::get_group(c, &d.application, &d.group)
    })
    .await?;
    let opts = WatchOptions {
        alarms: Vec::new(),
        stop_on_alarm: false,
        poll: s.poll,
        deployment_poll: WatchOptions::default().deployment_poll.max(s.poll),
        termination_wait: group
            .termination_wait_minutes
            .map(|m| Duration::from_secs(m.max(0) as u64 * 60)),
        tick: s.heartbeat,
        timeout: s.timeout,
        expect_rollback: s.rollback,
        outage_budget: s.outage_budget,
        ..WatchOptions::default()
    };
    let clock = clock::RealClock::new();
    let w = engine::watch(c, &clock, sink.as_mut(), &id, &opts).await?;
    sink.finish();
    let rb = w.rollback.as_ref().map(|r| r.id.clone());
    let rb = rb.as_deref();
    Ok(match (w.outcome, s.rollback) {
        (Outcome::RolledBack, true) => say(
            s,
            "rolled_back",
            rb,
            exit::OK,
            &format!(
                "deployment {id} stopped; traffic is back on the original task set (rollback {}).",
                rb.unwrap_or("?")
            ),
        ),
        (Outcome::Failed, false) => say(
            s,
            "stopped",
            rb,
            exit::OK,
            &format!("deployment {id} stopped without rollback; traffic stays where it was."),
        ),
        // Stopped before CodeDeploy created the replacement task set: no traffic ever
        // left the original one, and CodeDeploy starts no rollback for it.
        (Outcome::Failed, true) if !w.replacement_seen => say(
            s,
            "stopped",
            rb,
            exit::OK,
            &format!(
                "deployment {id} stopped before its replacement task set existed; traffic never left the original task set, so there was nothing to roll back."
            ),
        ),
        (Outcome::Succeeded, _) => say(
            s,
            "succeeded",
            rb,
            exit::OK,
            &format!("deployment {id} succeeded before the stop took effect."),
        ),
        (o, _) => say(s, "other", rb, o.exit_code(), &summary_text(&w, None)),
    })
}

/// A deployment that ended before the stop: done, unless its rollback still runs.
async fn ended(
    c: &Clients,
    s: &StopSettings,
    sink: &mut dyn Sink,
    progress: &StopShared,
    d: &Deployment,
) -> Result<i32> {
    let id = &d.id;
    let Some(rb_id) = d.rollback.rollback_deployment_id.clone() else {
        return Ok(say(
            s,
            "already_ended",
            None,
            exit::OK,
            &format!("deployment {id} already ended: {}", d.status),
        ));
    };
    let rb = ride_out(s.outage_budget, sink, || {
        codedeploy::get_deployment(c, &rb_id)
    })
    .await?;
    if rb.status.is_active() {
        eprintln!(
            "deployment {id} already ended ({}); its rollback {rb_id} is still {}: following it",
            d.status, rb.status
        );
    }
    follow_rollback(c, s, sink, progress, rb).await
}

/// Polls rollback `rb` until it ends or the stop's timeout passes.
async fn follow_rollback(
    c: &Clients,
    s: &StopSettings,
    sink: &mut dyn Sink,
    progress: &StopShared,
    mut rb: Deployment,
) -> Result<i32> {
    let of = rb
        .rollback
        .rollback_triggering_deployment_id
        .clone()
        .unwrap_or_else(|| s.deployment_id.clone());
    lock(progress).rollback = Some(rb.id.clone());
    let start = tokio::time::Instant::now();
    let mut said = start;
    while rb.status.is_active() {
        if start.elapsed() >= s.timeout {
            return Ok(say(
                s,
                "timed_out",
                Some(&rb.id),
                exit::TIMED_OUT,
                &format!(
                    "rollback {} of {of} is still {} after {}; follow it with `shipwatch stop {of}` (it waits for the rollback) or in CodeDeploy's console.",
                    rb.id,
                    rb.status,
                    progress::fmt_elapsed(s.timeout)
                ),
            ));
        }
        if said.elapsed() >= s.heartbeat {
            eprintln!(
                "rollback {} of {of}: {} ({} so far)",
                rb.id,
                rb.status,
                progress::fmt_elapsed(start.elapsed())
            );
            said = tokio::time::Instant::now();
        }
        tokio::time::sleep(s.poll).await;
        let rid = rb.id.clone();
        rb = ride_out(s.outage_budget, sink, || {
            codedeploy::get_deployment(c, &rid)
        })
        .await?;
    }
    Ok(match rb.status {
        crate::aws::model::DeploymentStatus::Succeeded => say(
            s,
            "rolled_back",
            Some(&rb.id),
            exit::OK,
            &format!(
                "deployment {of} is stopped and its rollback {} succeeded: traffic is back on the original task set.",
                rb.id
            ),
        ),
        ref st => say(
            s,
            "rollback_failed",
            Some(&rb.id),
            exit::FAILED,
            &format!(
                "rollback {} of {of} ended {st}: traffic may not be back on the original task set. Check the service (`shipwatch investigate`) and the rollback in CodeDeploy's console.",
                rb.id
            ),
        ),
    })
}

/// The message for a signal during `stop`, from how far it got.
pub fn interrupted(signo: i32, id: &str, p: &StopProgress, grace: Duration) -> Error {
    let message = match (p.accepted, p.in_flight, &p.rollback) {
        (_, _, Some(rb)) => format!(
            "interrupted by signal {signo} while following rollback {rb} of {id}; the rollback goes on in CodeDeploy. Follow it to its end with `shipwatch stop {id}` (it waits for the rollback)."
        ),
        (true, _, None) => format!(
            "interrupted by signal {signo} after CodeDeploy accepted the stop of {id}; CodeDeploy goes on stopping it (and rolling back, unless --no-rollback). Follow it to its end with `shipwatch stop {id}` or `shipwatch watch {id}`."
        ),
        (false, true, None) => format!(
            "interrupted by signal {signo} while StopDeployment for {id} was under way; it did not answer within {}, so whether CodeDeploy is stopping it is unknown. Run `shipwatch stop {id}` again (stopping twice is harmless) or see it with `shipwatch watch {id}`.",
            progress::fmt_elapsed(grace)
        ),
        (false, false, None) => format!(
            "interrupted by signal {signo} before shipwatch asked CodeDeploy to stop {id}; nothing was changed. Stop it with `shipwatch stop {id}`."
        ),
    };
    Error::Interrupted {
        signal: signo,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_of_a_stop_gets_its_own_message() {
        let g = Duration::from_secs(8);
        let text = |p: StopProgress| interrupted(15, "d-A", &p, g).to_string();
        assert!(text(StopProgress::default()).contains("nothing was changed"));
        let flying = text(StopProgress {
            in_flight: true,
            ..Default::default()
        });
        assert!(
            flying.contains("unknown") && flying.contains("shipwatch stop d-A"),
            "{flying}"
        );
        let accepted = text(StopProgress {
            accepted: true,
            ..Default::default()
        });
        assert!(accepted.contains("accepted the stop of d-A"), "{accepted}");
        let following = text(StopProgress {
            accepted: true,
            rollback: Some("d-B".into()),
            ..Default::default()
        });
        assert!(following.contains("rollback d-B of d-A"), "{following}");
        assert_eq!(
            interrupted(2, "d-A", &StopProgress::default(), g).exit_code(),
            exit::INTERRUPTED
        );
    }
}
