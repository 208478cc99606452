//! Terminal concerns: colour choice, logging setup, and printing errors for people or JSON.

use crate::cli::{ColorChoice, Global, OutputFormat};
use crate::error::Error;
use std::io::IsTerminal;
use std::sync::OnceLock;

static COLOR: OnceLock<bool> = OnceLock::new();

/// Decides colour once: `--color always|never`, else NO_COLOR / CLICOLOR_FORCE / CLICOLOR
/// and whether stderr is a terminal (Jenkins logs are not, unless ansiColor forces it).
pub fn color_enabled(choice: ColorChoice, is_tty: bool) -> bool {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if env("NO_COLOR").is_some() {
                false
            } else if env("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                true
            } else if env("CLICOLOR").is_some_and(|v| v == "0") {
                false
            } else {
                is_tty && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
            }
        }
    }
}

pub fn color() -> bool {
    *COLOR.get().unwrap_or(&false)
}

pub fn init(global: &Global) {
    let _ = COLOR.set(color_enabled(global.color, std::io::stderr().is_terminal()));
    let default = match global.verbose {
        0 => "warn",
        1 => "shipwatch=info",
        2 => "shipwatch=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color())
        .with_target(false)
        .try_init();
}

/// Paints `text` when colour is on.
pub fn paint(style: anstyle::Style, text: &str) -> String {
    if color() {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

pub fn red_bold() -> anstyle::Style {
    anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()))
}

pub fn green_bold() -> anstyle::Style {
    anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Green.into()))
}

pub fn yellow_bold() -> anstyle::Style {
    anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Yellow.into()))
}

/// Prints an error as one paragraph on stderr, or as a JSON object on stdout with `--output json`.
pub fn report_error(format: OutputFormat, err: &Error) {
    let code = err.exit_code();
    match format {
        OutputFormat::Json => {
            let v = serde_json::json!({"error": {"kind": err.kind(), "message": err.to_string(), "exit_code": code}});
            println!("{v}");
        }
        OutputFormat::Text => {
            let label = match err {
                Error::RolledBack(_) => paint(yellow_bold(), "rolled back:"),
                Error::GateFailed(_) => paint(red_bold(), "gate failed:"),
                _ => paint(red_bold(), "error:"),
            };
            eprintln!("{label} {err}");
            eprintln!("(exit {code})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_choices_win() {
        assert!(color_enabled(ColorChoice::Always, false));
        assert!(!color_enabled(ColorChoice::Never, true));
    }
}
