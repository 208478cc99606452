//! `deploy`, `watch` and `stop`: settings in, the deploy engine run under the signal
//! handler, then the outcome printed and, when the deployment did not succeed, the
//! rollback report written.

use crate::aws::Clients;
use crate::aws::model::DeploymentStatus;
use crate::cli::report::ReportArgs;
use crate::cli::{DeployArgs, StopArgs, WatchArgs};
use crate::deploy::decide::Outcome;
use crate::deploy::state::State;
use crate::deploy::{self, Finished, Shared};
use crate::error::{Error, Result};
use crate::report::collect::Ended;
use crate::report::model::Report;
use crate::settings::Sources;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub async fn deploy(sources: &Sources, args: DeployArgs) -> Result<i32> {
    let settings = sources.deploy(&args)?;
    let report = sources.report(&ReportArgs::default(), args.watch.report_dir.clone())?;
    let notify = sources.notify()?;
    check_outputs(&settings.state_file, &report.out_dir)?;
    let common = sources.common();
    let clients = Clients::connect(&common.aws).await?;
    let shared: Shared = Arc::new(Mutex::new(deploy::InFlight::default()));
    deploy::with_signals(&clients, &shared, settings.signal_grace, async {
        let (ended, rollback_end) = tokio::sync::oneshot::channel();
        let mut ahead = AbortOnDrop(tokio::spawn(report_ahead(
            clients.clone(),
            report.clone(),
            shared.clone(),
            rollback_end,
        )));
        let finished = deploy::deploy(&clients, &settings, &shared).await?;
        let mut early = None;
        if report_due(&finished.watched.outcome) {
            let w = &finished.watched;
            // The watch's final read of the deployment, unless it never answered.
            let failed = match (&w.deployment.status, deploy::ending(&shared)) {
                (DeploymentStatus::Unknown(_), Some(seen)) => seen,
                _ => w.deployment.clone(),
            };
            let _ = ended.send(Ended {
                failed,
                rollback: w.rollback.clone(),
            });
            early = (&mut ahead.0).await.ok().flatten();
        }
        conclude(common.json, &clients, &report, &notify, &finished, early).await
    })
    .await
}

/// The state file's folder and the report folder, checked before the first call to AWS
/// (a state file that cannot be written after RegisterTaskDefinition would leave a
/// revision behind and the deployment unfollowable).
fn check_outputs(state_file: &std::path::Path, report_dir: &std::path::Path) -> Result<()> {
    crate::error::check_output_dir(
        state_file.parent().unwrap_or(std::path::Path::new(".")),
        "state file",
        "--state-file or [watch] state_file",
    )?;
    crate::error::check_output_dir(
        report_dir,
        "rollback report",
        "--report-dir or [report] output_dir",
    )
}

/// Whether a deployment that ended so gets a rollback report.
fn report_due(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::RolledBack | Outcome::RollbackFailed | Outcome::Failed
    )
}

/// Gathers the rollback report ahead of the end: its context (group, target, routing)
/// once green takes traffic, the rest once the watch says the end is in sight
/// (shipwatch is stopping the deployment, or CodeDeploy rolls it back), finishing when
/// `rollback_end` brings the final states. So the report is written seconds after the
/// rollback ends instead of after a chain of reads, and a deployment that succeeds
/// costs only the context. `None` when the end was never in sight before the watch
/// ended (the report, if one is due, is then written by `conclude`).
async fn report_ahead(
    clients: Clients,
    report: crate::report::Settings,
    shared: Shared,
    mut rollback_end: tokio::sync::oneshot::Receiver<Ended>,
) -> Option<Report> {
    let tick = std::time::Duration::from_millis(100);
    let first = loop {
        if let Some(d) = deploy::ending(&shared).or_else(|| deploy::shifting(&shared)) {
            break d;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = &mut rollback_end => return None,
        }
    };
    let prepared = Box::pin(crate::report::prepare_ahead(&clients, &report, first)).await;
    while deploy::ending(&shared).is_none() {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = &mut rollback_end => return None,
        }
    }
    let end = async move { rollback_end.await.ok() };
    Some(Box::pin(prepared.finish(Some(report.after_rollback), end)).await)
}

/// A spawned task that is cancelled when its handle goes, as when a signal ends the
/// run or the deploy fails: its reads are of no use then.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn watch(sources: &Sources, args: WatchArgs) -> Result<i32> {
    let settings = sources.watch(&args.watch);
    let report = sources.report(&ReportArgs::default(), args.watch.report_dir.clone())?;
    let notify = sources.notify()?;
    let state_file = sources.state_file(args.watch.state_file.clone());
    check_outputs(&state_file, &report.out_dir)?;
    let common = sources.common();
    let clients = Clients::connect(&common.aws).await?;
    let shared: Shared = Arc::new(Mutex::new(deploy::InFlight::default()));
    // `watch` changes nothing until it stops a deployment; that stop gets the same grace
    // as `deploy`'s mutating calls, so its outcome is known when the signal is reported.
    deploy::with_signals(
        &clients,
        &shared,
        crate::settings::defaults::SIGNAL_GRACE,
        async {
            let finished = deploy::watch(
                &clients,
                &args.deployment_id,
                &settings,
                &shared,
                &state_file,
            )
            .await?;
            conclude(common.json, &clients, &report, &notify, &finished, None).await
        },
    )
    .await
}

pub async fn stop(sources: &Sources, args: StopArgs) -> Result<i32> {
    let id = match (&args.deployment_id, &args.state_file) {
        (Some(id), _) => id.clone(),
        // A rollback already under way is what must be followed.
        (None, Some(p)) => State::load(p)?.deployment_id,
        (None, None) => {
            return Err(Error::Usage(
                "name the deployment to stop, or pass --state-file".into(),
            ));
        }
    };
    let settings = sources.stop(&args, id.clone());
    let clients = Clients::connect(&sources.common().aws).await?;
    let progress = deploy::stop::StopShared::default();
    let abort = crate::signals::Abort::start()?;
    let mut work = std::pin::pin!(deploy::stop::stop(&clients, &settings, &progress));
    let signo = tokio::select! {
        r = work.as_mut() => return r,
        s = abort.wait() => s,
    };
    // A StopDeployment under way gets the grace `deploy`'s mutating calls get, so the
    // message can say whether CodeDeploy accepted it.
    let grace = crate::settings::defaults::SIGNAL_GRACE;
    crate::signals::let_finish(work, grace, || deploy::stop::lock(&progress).in_flight).await;
    let seen = deploy::stop::lock(&progress).clone();
    Err(deploy::stop::interrupted(signo, &id, &seen, grace))
}

/// Prints the outcome and, unless the deployment succeeded or is still running, writes
/// the rollback report; then sends the notification. Returns the exit code, which the
/// notification never changes.
async fn conclude(
    json: bool,
    clients: &Clients,
    report: &crate::report::Settings,
    notify: &crate::notify::Settings,
    f: &Finished,
    early: Option<Report>,
) -> Result<i32> {
    let w = &f.watched;
    let d = &w.deployment;
    let mut report_paths: Vec<PathBuf> = Vec::new();
    let mut report_note = None;
    let mut written = None;
    if report_due(&w.outcome) {
        // A stop by the judge reaches CodeDeploy as MANUAL_STOP: the report is told why.
        let report = &crate::report::Settings {
            stopped_by: w.judge.as_ref().and_then(|j| j.stopped.clone()),
            ..report.clone()
        };
        // The watch read the final states; the report starts from them unless one was
        // never read (the deployment itself, or a rollback the watch did not follow).
        let known = !matches!(d.status, DeploymentStatus::Unknown(_))
            && (d.rollback.rollback_deployment_id.is_none() || w.rollback.is_some());
        let result = if let Some(done) = early {
            crate::report::write_collected(done, report)
        } else if known {
            crate::report::write_for_watched(clients, report, d.clone(), w.rollback.clone()).await
        } else {
            crate::report::write_for_deployment(clients, report, &d.id).await
        };
        match result {
            Ok(summary) => {
                report_note = Some(summary.verdict.clone());
                report_paths = summary.paths.clone();
                written = Some(summary);
            }
            Err(e) => report_note = Some(format!("the rollback report could not be written: {e}")),
        }
    }
    if json {
        let v = serde_json::json!({
            "outcome": w.outcome,
            "exit_code": w.outcome.exit_code(),
            "deployment": d,
            "rollback": w.rollback,
            "alarms_fired": w.fired.iter().map(|(n, r)| serde_json::json!({"alarm": n, "reason": r})).collect::<Vec<_>>(),
            "stopped_by_shipwatch": w.stopped_by_us,
            "max_green_percent": w.max_green,
            "green_percent_at_alarm": w.green_at_alarm,
            "stop_reason": w.stop_reason,
            "judge": w.judge,
            "elapsed_seconds": w.elapsed.as_secs_f64(),
            "report": report_paths,
            "verdict": report_note,
        });
        println!("{v}");
    } else {
        println!(
            "{}",
            deploy::summary_text(w, f.previous_task_definition.as_deref())
        );
        if let Some(n) = &report_note {
            println!("{n}");
        }
        for p in &report_paths {
            println!("report: {}", p.display());
        }
    }
    let event = super::notify::deployment(notify, f, written.as_ref(), &clients.region);
    if let Some(signo) = super::notify::send(notify, &event).await {
        return Ok(128 + signo);
    }
    Ok(w.outcome.exit_code())
}
