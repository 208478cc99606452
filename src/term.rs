//! Terminal concerns: colour choice and printing errors for people or JSON.

use crate::error::Error;
use std::io::IsTerminal;
use std::sync::OnceLock;

static COLOR: OnceLock<bool> = OnceLock::new();

/// Decides colour: `--color always|never` (`Some`), else NO_COLOR / CLICOLOR_FORCE /
/// CLICOLOR and whether stderr is a terminal (Jenkins logs are not, unless ansiColor
/// forces it).
pub fn color_enabled(choice: Option<bool>, is_tty: bool) -> bool {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    match choice {
        Some(on) => on,
        None => {
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

/// Sets the colour decision once, before anything is printed.
pub fn set_color(choice: Option<bool>) {
    let _ = COLOR.set(color_enabled(choice, std::io::stderr().is_terminal()));
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

/// Prints an error as one paragraph on stderr, or as a JSON object on stdout with `--output json`.
pub fn report_error(json: bool, err: &Error) {
    let code = err.exit_code();
    if json {
        let v = serde_json::json!({"error": {"kind": err.kind(), "message": err.to_string(), "exit_code": code}});
        println!("{v}");
    } else {
        let label = match err {
            Error::GateFailed(_) => paint(red_bold(), "gate failed:"),
            _ => paint(red_bold(), "error:"),
        };
        eprintln!("{label} {err}");
        eprintln!("(exit {code})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_choices_win() {
        assert!(color_enabled(Some(true), false));
        assert!(!color_enabled(Some(false), true));
    }
}
