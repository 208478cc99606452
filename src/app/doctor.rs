//! `shipwatch doctor`: the configuration, the scanners (through the gates module) and
//! the AWS checks (through the doctor module) as one list, printed a line per check
//! or as one JSON document. The configuration is loaded here rather than before the
//! command runs, so a file that does not load is a ✘ line like any other problem.

use crate::cli::{DoctorArgs, Global, OutputFormat};
use crate::doctor::{self, Check, Status};
use crate::error::{Error, Result};
use crate::settings::{self, Sources, defaults};
use crate::{exit, gates, term};

pub async fn run(global: &Global, args: DoctorArgs) -> Result<i32> {
    let json = global.output.format == OutputFormat::Json;
    let sources = match settings::load(global) {
        Ok(s) => s,
        Err(e) => {
            // Nothing else can be judged without the file: exit as any command would
            // on a bad configuration, but say so in the doctor's own format.
            let checks = vec![Check::fail(
                "configuration",
                e.to_string(),
                "fix the file at the place named (unknown keys and ill-typed values are listed as file:line)",
            )];
            print(json, &checks, exit::USAGE)?;
            return Ok(exit::USAGE);
        }
    };
    let mut checks = vec![config_check(&sources)];
    if !args.skip_tools {
        checks.extend(tool_checks(&sources).await);
    }
    checks.extend(doctor::check_aws(&sources.doctor(&args)).await);
    let code = match doctor::worst(&checks) {
        Status::Fail => exit::PRECONDITION,
        Status::Ok | Status::Warn => exit::OK,
    };
    print(json, &checks, code)?;
    Ok(code)
}

fn config_check(sources: &Sources) -> Check {
    let env = sources
        .file
        .environment
        .as_deref()
        .map(|e| format!(", environment `{e}`"))
        .unwrap_or_default();
    match &sources.file.path {
        Some(p) => Check::ok("configuration", format!("{} loads{env}", p.display())),
        None => Check::warn(
            "configuration",
            format!(
                "no file at {}: only flags and environment variables are used{env}",
                defaults::CONFIG_FILE
            ),
            "run from the repository root, or pass --config / SHIPWATCH_CONFIG",
        ),
    }
}

/// The scanners `gate` would run, found the way `gate` finds them.
async fn tool_checks(sources: &Sources) -> Vec<Check> {
    let settings = sources.gate_settings(&Default::default());
    gates::check_tools(&settings)
        .await
        .into_iter()
        .map(|c| {
            let name = format!("scanner {}", c.tool.name());
            match (&c.version, &c.path, &c.error) {
                (Some(v), Some(p), None) => Check::ok(
                    name,
                    format!("{v} at {} (via {})", p.display(), c.found_via.unwrap_or("?")),
                ),
                (_, _, Some(e)) => Check::fail(
                    name,
                    e.clone(),
                    format!(
                        "install it (scripts/setup.sh puts the pinned scanners in .tools/bin), set [gates.tools] {} to its path, or pass --skip-tools on an agent that only deploys",
                        c.tool.name()
                    ),
                ),
                _ => Check::fail(name, "no version", "reinstall it"),
            }
        })
        .collect()
}

fn yellow_bold() -> anstyle::Style {
    anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Yellow.into()))
}

/// One line per check, the fix under a warning or failure; then a count.
pub fn render_text(checks: &[Check], code: i32) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => term::paint(term::green_bold(), "✔"),
            Status::Warn => term::paint(yellow_bold(), "⚠"),
            Status::Fail => term::paint(term::red_bold(), "✘"),
        };
        out.push_str(&format!("{mark} {}: {}\n", c.name, c.detail));
        if !c.fix.is_empty() {
            out.push_str(&format!("    fix: {}\n", c.fix));
        }
    }
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "{} passed, {} warnings, {} failed (exit {code})\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    ));
    out
}

fn print(json: bool, checks: &[Check], code: i32) -> Result<()> {
    if json {
        let doc = serde_json::json!({
            "status": doctor::worst(checks),
            "exit_code": code,
            "checks": checks,
        });
        println!(
            "{}",
            serde_json::to_string(&doc).map_err(|e| Error::Internal(e.into()))?
        );
    } else {
        print!("{}", render_text(checks, code));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_a_mark_per_check_and_the_fix_below() {
        let checks = vec![
            Check::ok("ECS cluster c", "exists"),
            Check::warn("log group /ecs/web", "no retention", "set a retention"),
            Check::fail("alarm gone", "does not exist", "create the alarm"),
        ];
        let text = render_text(&checks, exit::PRECONDITION);
        assert_eq!(
            text,
            "✔ ECS cluster c: exists\n\
             ⚠ log group /ecs/web: no retention\n    fix: set a retention\n\
             ✘ alarm gone: does not exist\n    fix: create the alarm\n\
             1 passed, 1 warnings, 1 failed (exit 6)\n"
        );
    }
}
