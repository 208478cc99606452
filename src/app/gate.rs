//! `shipwatch gate`: settings in, the gates run, each gate's summary printed, and the
//! most severe outcome as the exit code.

use crate::cli::gate::GateArgs;
use crate::error::{Error, Result};
use crate::gates::{self, TEXT_LIMIT};
use crate::settings::Sources;
use crate::{exit, term};

pub async fn run(sources: &Sources, args: GateArgs) -> Result<i32> {
    let json = sources.common().json;
    if args.check_tools {
        return check_tools(sources, &args, json).await;
    }
    clear_previous_outputs(sources, &args);
    let run = sources.gates(&args)?;
    let notify = sources.notify()?;
    let out_dir = run.settings.out_dir.clone();
    let outcome = gates::run(run.settings, run.jobs, run.all).await?;
    let overall = outcome.worst();
    let code = outcome.exit_code();
    if json {
        let doc = if outcome.reports.len() == 1 {
            serde_json::to_string(&outcome.reports[0])
        } else {
            serde_json::to_string(
                &serde_json::json!({"status": overall, "exit_code": code, "gates": outcome.reports}),
            )
        };
        println!("{}", doc.map_err(|e| Error::Internal(e.into()))?);
    } else {
        for (r, files) in outcome.reports.iter().zip(&outcome.written) {
            print!("{}", r.text(TEXT_LIMIT, files));
        }
        if let Some(err) = gates::final_error(&outcome.reports, outcome.aborted) {
            term::report_error(false, &err);
        }
    }
    if let Some(event) = super::notify::gates(&notify, &outcome.reports, &out_dir, code)
        && let Some(signo) = super::notify::send(&notify, &event).await
    {
        return Ok(128 + signo);
    }
    Ok(code)
}

/// The requested gates' outputs of an earlier run are removed before anything can fail,
/// so what Jenkins publishes afterwards is this run's or nothing.
fn clear_previous_outputs(sources: &Sources, args: &GateArgs) {
    use crate::cli::gate::GateCommand as C;
    use crate::gates::model::GateKind;
    let settings = sources.gate_settings(&args.common);
    let kinds = match &args.gate {
        None => return,
        Some(C::Secrets(_)) => vec![GateKind::Secrets],
        Some(C::Image(_)) => vec![GateKind::Image],
        Some(C::Sbom(_)) => vec![GateKind::Sbom],
        Some(C::Iac(_)) => vec![GateKind::Iac],
        Some(C::Deps(_)) => vec![GateKind::Deps],
        Some(C::All(_)) => settings.configured.clone(),
    };
    for kind in kinds {
        crate::gates::output::clear_previous(kind, &settings.out_dir);
    }
}

/// `gate --check-tools`: each needed tool's version and location; 8 when one is missing.
async fn check_tools(sources: &Sources, args: &GateArgs, json: bool) -> Result<i32> {
    let settings = sources.gate_settings(&args.common);
    let checks = gates::check_tools(&settings).await;
    let ok = checks.iter().all(|c| c.error.is_none());
    if json {
        println!(
            "{}",
            serde_json::to_string(&checks).map_err(|e| Error::Internal(e.into()))?
        );
    } else {
        for c in &checks {
            match (&c.version, &c.path, &c.error) {
                (Some(v), Some(p), None) => println!(
                    "{:<9} {:<10} {} (via {})",
                    c.tool.name(),
                    v,
                    p.display(),
                    c.found_via.unwrap_or("?")
                ),
                (_, _, Some(e)) => println!(
                    "{:<9} {} {e}",
                    c.tool.name(),
                    term::paint(term::red_bold(), "MISSING")
                ),
                _ => {}
            }
        }
    }
    Ok(if ok { exit::OK } else { exit::TOOL_FAILED })
}
