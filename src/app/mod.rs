//! The command layer: parse → settings → the domain modules → output and exit code.
//! This is the one place that chains the domain modules (a deployment that rolled back
//! gets its report here), and the one place besides `settings` that sees clap.

mod deploy;
mod doctor;
mod gate;
mod investigate;
pub mod lambda;
mod notify;
mod register;
mod remediate;
mod report;

use crate::cli::{Cli, ColorChoice, Command};
use crate::error::Result;
use crate::{exit, settings, term};
use clap::CommandFactory;

pub fn main(cli: Cli) -> i32 {
    init_terminal(&cli);
    let json = cli.global.output.format == crate::cli::OutputFormat::Json;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    let result = rt.block_on(run(cli));
    // Outstanding AWS calls must not keep a Jenkins abort waiting.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => code,
        Err(e) => {
            term::report_error(json, &e);
            e.exit_code()
        }
    }
}

/// Colour and logging, decided once before anything is printed.
fn init_terminal(cli: &Cli) {
    term::set_color(match cli.global.output.color {
        ColorChoice::Always => Some(true),
        ColorChoice::Never => Some(false),
        ColorChoice::Auto => None,
    });
    // Without -v only shipwatch's own warnings: the SDK's credential providers log
    // each failed attempt at WARN with a debug dump, and the error paragraph already
    // says what was looked for and where.
    let default = match cli.global.logging.verbose {
        0 => "shipwatch=warn",
        1 => "shipwatch=info",
        2 => "shipwatch=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(term::color())
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "shipwatch", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            man.render(&mut std::io::stdout())
                .map_err(|e| crate::error::Error::Io(e.to_string()))?;
            Ok(exit::OK)
        }
        // Doctor loads the configuration itself: a file that does not load is one of its checks.
        Command::Doctor(args) => doctor::run(&cli.global, args).await,
        command => {
            let sources = settings::load(&cli.global)?;
            match command {
                Command::Gate(args) => gate::run(&sources, args).await,
                Command::Report(args) => report::run(&sources, args).await,
                Command::Register(args) => register::run(&sources, args).await,
                Command::Deploy(args) => deploy::deploy(&sources, args).await,
                Command::Watch(args) => deploy::watch(&sources, args).await,
                Command::Stop(args) => deploy::stop(&sources, args).await,
                Command::Notify(args) => notify::test(&sources, args).await,
                Command::Remediate(args) => remediate::run(&sources, args).await,
                Command::Investigate(args) => investigate::run(&sources, args).await,
                Command::Completions { .. } | Command::Man | Command::Doctor(_) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

#[cfg(test)]
mod layering;
