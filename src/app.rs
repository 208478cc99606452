//! Dispatch: build the runtime, run the chosen subcommand, map its outcome to an exit code.

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::exit;
use clap::CommandFactory;

pub fn main(cli: Cli) -> i32 {
    let format = cli.global.output;
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
            crate::term::report_error(format, &e);
            e.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<i32> {
    let global = cli.global;
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
        Command::Gate(args) => crate::gates::run(&global, args).await,
        Command::Report(args) => crate::report::run(&global, args).await,
        Command::Register(args) => crate::deploy::register::run(&global, args).await,
        Command::Deploy(args) => crate::deploy::run_deploy(&global, args).await,
        Command::Watch(args) => crate::deploy::run_watch(&global, args).await,
        Command::Stop(args) => crate::deploy::run_stop(&global, args).await,
    }
}
