//! shipwatch: parse the command line, set up logging, run, exit with a documented code.

mod app;
mod aws;
mod cli;
mod config;
mod deploy;
mod error;
mod exit;
mod gates;
mod report;
mod term;

fn main() {
    let cli = <cli::Cli as clap::Parser>::parse();
    term::init(&cli.global);
    let code = app::main(cli);
    std::process::exit(code);
}
