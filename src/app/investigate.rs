//! `shipwatch investigate`: gather, decide, write, then a short summary on stdout and
//! the exit code (0 nothing wrong found, 15 something is wrong).

use crate::aws::Clients;
use crate::cli::investigate::InvestigateArgs;
use crate::error::Result;
use crate::exit;
use crate::investigate::{self, model::Cause};
use crate::settings::Sources;

pub async fn run(sources: &Sources, args: InvestigateArgs) -> Result<i32> {
    let settings = sources.investigate(&args)?;
    crate::error::check_output_dir(&settings.out_dir, "investigation", "--out-dir")?;
    let clients = Clients::connect(&settings.aws).await?;
    // Read-only: on SIGTERM/SIGINT there is nothing to stop or save in AWS; files are
    // written whole or not at all.
    let abort = crate::signals::Abort::start()?;
    let (inv, outcome) = tokio::select! {
        r = investigate::investigate(&clients, &settings) => r?,
        signo = abort.wait() => {
            eprintln!(
                "investigate stopped by {}: it only reads, so nothing was changed in AWS; no investigation was written",
                crate::signals::name(signo)
            );
            return Ok(128 + signo);
        }
    };
    let code = match outcome.cause {
        Cause::NothingFound => exit::OK,
        _ => exit::INVESTIGATE_FOUND,
    };
    if sources.common().json {
        let doc = serde_json::json!({
            "cause": outcome.cause,
            "verdict": outcome.verdict,
            "hints": inv.verdict.hints,
            "missing": inv.missing.iter().map(|m| &m.evidence).collect::<Vec<_>>(),
            "paths": outcome.paths,
            "exit_code": code,
        });
        println!("{doc}");
    } else {
        print!("{}", investigate::render::summary(&inv, &outcome.paths));
    }
    Ok(code)
}
