//! `deploy`, `watch` and `stop`: settings in, the deploy engine run under the signal
//! handler, then the outcome printed and, when the deployment did not succeed, the
//! rollback report written.

use crate::aws::Clients;
use crate::cli::report::ReportArgs;
use crate::cli::{DeployArgs, StopArgs, WatchArgs};
use crate::deploy::decide::Outcome;
use crate::deploy::state::State;
use crate::deploy::{self, Finished, Shared};
use crate::error::{Error, Result};
use crate::settings::Sources;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub async fn deploy(sources: &Sources, args: DeployArgs) -> Result<i32> {
    let settings = sources.deploy(&args)?;
    let report = sources.report(&ReportArgs::default(), args.watch.report_dir.clone())?;
    let common = sources.common();
    let clients = Clients::connect(&common.aws).await;
    let shared: Shared = Arc::new(Mutex::new(deploy::InFlight::default()));
    deploy::with_signals(&clients, &shared, settings.signal_grace, async {
        let finished = deploy::deploy(&clients, &settings, &shared).await?;
        conclude(common.json, &clients, &report, &finished).await
    })
    .await
}

pub async fn watch(sources: &Sources, args: WatchArgs) -> Result<i32> {
    let settings = sources.watch(&args.watch);
    let report = sources.report(&ReportArgs::default(), args.watch.report_dir.clone())?;
    let common = sources.common();
    let clients = Clients::connect(&common.aws).await;
    let shared: Shared = Arc::new(Mutex::new(deploy::InFlight::default()));
    // `watch` changes nothing until it stops a deployment; that stop gets the same grace
    // as `deploy`'s mutating calls, so its outcome is known when the signal is reported.
    deploy::with_signals(
        &clients,
        &shared,
        crate::settings::defaults::SIGNAL_GRACE,
        async {
            let finished = deploy::watch(&clients, &args.deployment_id, &settings, &shared).await?;
            conclude(common.json, &clients, &report, &finished).await
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
    let settings = sources.stop(&args, id);
    let clients = Clients::connect(&sources.common().aws).await;
    deploy::stop(&clients, &settings).await
}

/// Prints the outcome and, unless the deployment succeeded or is still running, writes
/// the rollback report; returns the exit code.
async fn conclude(
    json: bool,
    clients: &Clients,
    report: &crate::report::Settings,
    f: &Finished,
) -> Result<i32> {
    let w = &f.watched;
    let d = &w.deployment;
    let mut report_paths: Vec<PathBuf> = Vec::new();
    let mut report_note = None;
    if matches!(
        w.outcome,
        Outcome::RolledBack | Outcome::RollbackFailed | Outcome::Failed
    ) {
        // A stop by the judge reaches CodeDeploy as MANUAL_STOP: the report is told why.
        let report = &crate::report::Settings {
            stopped_by: w.judge.as_ref().and_then(|j| j.stopped.clone()),
            ..report.clone()
        };
        match crate::report::write_for_deployment(clients, report, &d.id).await {
            Ok(summary) => {
                report_note = Some(summary.verdict.clone());
                report_paths = summary.paths.clone();
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
    Ok(w.outcome.exit_code())
}
