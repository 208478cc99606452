//! shipwatch: parse the command line, run, exit with a documented code.
//!
//! Modules, lowest layer first (a test in `app::layering` enforces the order):
//! foundation (`exit`, `error`, `term`, `duration`, `signals`) ← `aws` ← `logscan` ← `deploy`,
//! `report`, `gates`, `doctor`, `notify` (siblings) ← `cli` ← `settings` ← `app`.

mod app;
mod aws;
mod cli;
mod deploy;
mod doctor;
mod duration;
mod error;
mod exit;
mod gates;
mod investigate;
mod logscan;
mod notify;
mod remediate;
mod report;
mod settings;
mod signals;
mod term;

fn main() {
    // Named `bootstrap` or started by the Lambda service: the Lambda function.
    if app::lambda::is_lambda() {
        std::process::exit(app::lambda::main());
    }
    let cli = <cli::Cli as clap::Parser>::parse();
    let code = app::main(cli);
    std::process::exit(code);
}
