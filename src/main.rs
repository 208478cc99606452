//! shipwatch: parse the command line, run, exit with a documented code.
//!
//! Modules, lowest layer first (a test in `app::layering` enforces the order):
//! foundation (`exit`, `error`, `term`, `duration`, `signals`) ← `aws` ← `logscan` ← `deploy`,
//! `report`, `gates`, `doctor` (siblings) ← `cli` ← `settings` ← `app`.

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
mod report;
mod settings;
mod signals;
mod term;

fn main() {
    let cli = <cli::Cli as clap::Parser>::parse();
    let code = app::main(cli);
    std::process::exit(code);
}
