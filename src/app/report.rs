//! `shipwatch report`: the rollback report of a deployment, or the analysis of an
//! exported log file.

use crate::aws::Clients;
use crate::cli::report::ReportArgs;
use crate::error::{Error, Result};
use crate::report::{self, ReportSummary};
use crate::settings::Sources;

pub async fn run(sources: &Sources, args: ReportArgs) -> Result<i32> {
    let settings = sources.report(&args, None)?;
    crate::error::check_output_dir(
        &settings.out_dir,
        "report",
        "--out-dir or [report] output_dir",
    )?;
    let summary = if let Some(file) = &args.logs_file {
        let mut r = report::from_logs_file(&settings, file).await?;
        report::write_report(&mut r, &settings.out_dir)?
    } else if let Some(id) = &args.deployment_id {
        let clients = Clients::connect(&sources.common().aws).await?;
        report::write_for_deployment(&clients, &settings, id).await?
    } else {
        return Err(Error::Usage(
            "give a deployment id (`shipwatch report d-ABC123`) or --logs-file FILE".into(),
        ));
    };
    print_summary(sources.common().json, &summary);
    Ok(crate::exit::OK)
}

fn print_summary(json: bool, s: &ReportSummary) {
    if json {
        println!("{}", serde_json::to_string(s).unwrap_or_default());
    } else {
        println!("{}", s.verdict);
        for p in &s.paths {
            println!("report: {}", p.display());
        }
    }
}
