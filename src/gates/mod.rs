//! Security gates: run Gitleaks, Trivy, Syft, Checkov and `npm audit` behind one policy.
//!
//! Layout: `exec` runs a tool (timeout, both pipes drained); one parser per tool turns its
//! report into the shared finding model (`model`); `policy` applies the gate's thresholds
//! and the allowlist; `output` writes JUnit, SARIF, Markdown and JSON; `run` wires a gate
//! together. This file resolves settings and maps outcomes to exit codes:
//! 0 passed, 7 failed, 8 tool missing or broken, 2 usage. `gate all` runs every gate
//! whatever the others did and exits with the most severe outcome
//! (see [`report::Status::severity`]).

pub mod allowlist;
pub mod args;
pub mod checkov;
pub mod config;
pub mod exec;
pub mod gitleaks;
pub mod model;
pub mod npm;
pub mod output;
pub mod policy;
pub mod report;
pub mod run;
pub mod syft;
pub mod tools;
pub mod trivy;

use crate::cli::{Global, OutputFormat};
use crate::error::{Error, Result};
use crate::exit;
use args::{AllArgs, GateArgs, GateCommand};
use model::{GateKind, Tool};
use report::{GateReport, Status};
use std::path::PathBuf;
use std::time::Duration;

/// Failing findings listed in the text summary before it points at the files.
const TEXT_LIMIT: usize = 25;

pub async fn run(global: &Global, args: GateArgs) -> Result<i32> {
    let cfg = crate::config::load(
        &global.config,
        global.environment.as_deref(),
        global.config_explicit(),
    )?;
    let gates = cfg.layer.gates.clone().unwrap_or_default();
    if args.check_tools {
        return check_tools(global, &gates).await;
    }
    let Some(cmd) = args.gate else {
        return Err(Error::Usage("name a gate (secrets, image, sbom, iac, deps, all) or pass --check-tools; see `shipwatch gate --help`".into()));
    };
    let common = args.common;
    let out_dir = common
        .out_dir
        .or(gates.output_dir.clone())
        .unwrap_or_else(|| PathBuf::from("shipwatch-out/gates"));
    let timeout = common
        .timeout
        .or(gates.timeout.map(|d| d.0))
        .unwrap_or(Duration::from_secs(600));
    if timeout.is_zero() {
        return Err(Error::Usage("--timeout must be greater than zero".into()));
    }
    // The allowlist sits beside the config file unless said otherwise; a file named
    // explicitly (flag or config) must exist.
    let cfg_dir = global
        .config
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let (allow_path, required) = match (common.allowlist, &gates.allowlist) {
        (Some(p), _) => (p, true),
        (None, Some(p)) => (cfg_dir.join(p), true),
        (None, None) => (cfg_dir.join("allowlist.toml"), false),
    };
    let allowlist = allowlist::load(&allow_path, required)?;
    let ctx = run::Ctx {
        gates,
        config_path: global.config.clone(),
        timeout,
        allowlist,
        today: chrono::Local::now().date_naive(),
        out_dir: out_dir.clone(),
    };
    let started = std::time::Instant::now();
    let reports = match cmd {
        GateCommand::All(a) => run_all(&ctx, a).await?,
        one => vec![run_one(&ctx, one).await?],
    };
    // Plain milliseconds, whatever the duration: scripts/bench-gates.sh reads this line.
    tracing::debug!("gates evaluated after {:.1} ms", ms(started.elapsed()));
    let mut written = Vec::new();
    for r in &reports {
        let files = output::write_all(r, &out_dir)?;
        written.push(
            files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        );
    }
    tracing::debug!("outputs written after {:.1} ms", ms(started.elapsed()));
    let overall = run::worst(&reports);
    let code = overall.exit_code();
    match global.output {
        OutputFormat::Json => {
            let doc = if reports.len() == 1 {
                serde_json::to_string_pretty(&reports[0])
            } else {
                serde_json::to_string_pretty(
                    &serde_json::json!({"status": overall, "exit_code": code, "gates": reports}),
                )
            };
            println!("{}", doc.map_err(|e| Error::Internal(e.into()))?);
        }
        OutputFormat::Text => {
            for (r, files) in reports.iter().zip(&written) {
                print!("{}", r.text(TEXT_LIMIT, files));
            }
            if let Some(err) = final_error(&reports) {
                crate::term::report_error(OutputFormat::Text, &err);
            }
        }
    }
    Ok(code)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The error line printed last in text mode: the most severe gate's problem (so the
/// `(exit N)` it prints is the code shipwatch exits with), naming the other gates that
/// did not pass either.
fn final_error(reports: &[GateReport]) -> Option<Error> {
    let worst = run::worst(reports);
    if worst == Status::Passed {
        return None;
    }
    if worst == Status::Failed {
        let failed: Vec<String> = reports
            .iter()
            .filter(|r| r.status == Status::Failed)
            .map(|r| format!("{} ({})", r.gate, r.summary))
            .collect();
        return Some(Error::GateFailed(failed.join("; ")));
    }
    let r = reports.iter().find(|r| r.status == worst)?;
    let e = r.error.clone()?;
    let others: Vec<String> = reports
        .iter()
        .filter(|o| o.status != Status::Passed && o.gate != r.gate)
        .map(|o| format!("{} {}", o.gate, o.status.label().to_lowercase()))
        .collect();
    let mut message = format!("gate {}: {}", r.gate, e.message);
    if !others.is_empty() {
        message.push_str(&format!(" (also not passed: {})", others.join(", ")));
    }
    Some(match worst {
        Status::Usage => Error::Usage(message),
        Status::Internal => Error::Io(message),
        _ => Error::Tool {
            tool: r.tool.to_string(),
            message,
            stderr_tail: e.stderr_tail,
        },
    })
}

async fn run_one(ctx: &run::Ctx, cmd: GateCommand) -> Result<GateReport> {
    match cmd {
        GateCommand::Secrets(a) => run::secrets(ctx, a).await,
        GateCommand::Image(a) => run::image(ctx, a).await,
        GateCommand::Sbom(a) => run::sbom(ctx, a).await,
        GateCommand::Iac(a) => run::iac(ctx, a).await,
        GateCommand::Deps(a) => run::deps(ctx, a).await,
        GateCommand::All(_) => Err(Error::Usage("`all` cannot be nested".into())),
    }
}

/// The gates `gate all` runs: `[gates] run`, else each gate with a table.
fn configured(gates: &config::GatesSection) -> Vec<GateKind> {
    match &gates.run {
        Some(list) => {
            let mut v = list.clone();
            v.sort();
            v.dedup();
            v
        }
        None => GateKind::ALL
            .into_iter()
            .filter(|k| gates.has(*k))
            .collect(),
    }
}

async fn run_all(ctx: &run::Ctx, a: AllArgs) -> Result<Vec<GateReport>> {
    let kinds = configured(&ctx.gates);
    if kinds.is_empty() {
        return Err(Error::Usage(
            "no gates are configured: add [gates.secrets], [gates.image], [gates.sbom], [gates.iac] or [gates.deps] to the config, or set [gates] run".into(),
        ));
    }
    let mut reports = Vec::new();
    for kind in kinds {
        let cmd = match kind {
            GateKind::Secrets => GateCommand::Secrets(args::SecretsArgs {
                path: None,
                log_opts: None,
                no_git: false,
                report: None,
            }),
            GateKind::Image => GateCommand::Image(args::ImageArgs {
                image: a.image.clone(),
                input: a.input.clone(),
                report: None,
            }),
            GateKind::Sbom => GateCommand::Sbom(args::SbomArgs {
                image: a.image.clone(),
                input: a.input.clone(),
                dir: None,
                cyclonedx: None,
                spdx: None,
            }),
            GateKind::Iac => GateCommand::Iac(args::IacArgs {
                dir: None,
                report: None,
            }),
            GateKind::Deps => GateCommand::Deps(args::DepsArgs {
                dir: None,
                report: None,
            }),
        };
        // One gate's usage or internal error must not cost the others their results: it
        // becomes that gate's report and counts in the exit code.
        match run_one(ctx, cmd).await {
            Ok(r) => reports.push(r),
            Err(e) => {
                tracing::debug!("{kind}: not run: {e}");
                let policy = config::Policy::for_gate(kind, &ctx.gates).describe(kind);
                reports.push(GateReport::not_run(kind, policy, &e));
            }
        }
    }
    Ok(reports)
}

#[derive(serde::Serialize)]
struct ToolCheck {
    tool: Tool,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    found_via: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `gate --check-tools`: each needed tool's location and version. Needed means the
/// configured gates' tools, or all of them when none is configured.
async fn check_tools(global: &Global, gates: &config::GatesSection) -> Result<i32> {
    let kinds = configured(gates);
    let kinds = if kinds.is_empty() {
        GateKind::ALL.to_vec()
    } else {
        kinds
    };
    let paths = gates.tools.clone().unwrap_or_default();
    let mut checks = Vec::new();
    for kind in kinds {
        let tool = kind.tool();
        let check = match tools::locate(tool, &paths, &global.config) {
            Ok(found) => match tools::version(tool, &found.path).await {
                Ok(v) => ToolCheck {
                    tool,
                    path: Some(found.path),
                    found_via: Some(found.via),
                    version: Some(v),
                    error: None,
                },
                Err(e) => ToolCheck {
                    tool,
                    path: Some(found.path),
                    found_via: Some(found.via),
                    version: None,
                    error: Some(e),
                },
            },
            Err(e) => ToolCheck {
                tool,
                path: None,
                found_via: None,
                version: None,
                error: Some(e),
            },
        };
        checks.push(check);
    }
    let ok = checks.iter().all(|c| c.error.is_none());
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&checks).map_err(|e| Error::Internal(e.into()))?
        ),
        OutputFormat::Text => {
            for c in &checks {
                match (&c.version, &c.path, &c.error) {
                    (Some(v), Some(p), None) => {
                        println!(
                            "{:<9} {:<10} {} (via {})",
                            c.tool.name(),
                            v,
                            p.display(),
                            c.found_via.unwrap_or("?")
                        )
                    }
                    (_, _, Some(e)) => println!(
                        "{:<9} {} {e}",
                        c.tool.name(),
                        crate::term::paint(crate::term::red_bold(), "MISSING")
                    ),
                    _ => {}
                }
            }
        }
    }
    Ok(if ok { exit::OK } else { exit::TOOL_FAILED })
}
