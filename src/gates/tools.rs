//! Finding the scanners: `[gates.tools]` in the config, then PATH, then the tools
//! folders the settings name (`settings::defaults::tools_folders`).

use super::exec::{self, Invocation};
use super::model::Tool;
use super::settings::ToolSettings;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a tool was found, and by which rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Located {
    pub path: PathBuf,
    /// `config`, `PATH` or `tools folder`.
    pub via: &'static str,
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds `tool`. A configured path that does not exist is an error of its own (`Err`
/// names it) rather than a silent fall-through to another copy of the tool.
pub fn locate(tool: Tool, tools: &ToolSettings) -> Result<Located, String> {
    if let Some(p) = tools.explicit(tool) {
        let p = p.clone();
        if p.components().count() == 1 {
            // A bare name in the config means "this name on PATH".
            if let Some(found) = search_path(&p.to_string_lossy()) {
                return Ok(Located {
                    path: found,
                    via: "config",
                });
            }
        } else if is_executable(&p) {
            // Absolute: npm runs in the project directory, where a relative path is wrong.
            return Ok(Located {
                path: std::path::absolute(&p).unwrap_or(p),
                via: "config",
            });
        }
        return Err(format!(
            "[gates.tools] {} = {} is not an executable file; fix the path or remove the key",
            tool.name(),
            p.display()
        ));
    }
    if let Some(found) = search_path(tool.name()) {
        return Ok(Located {
            path: found,
            via: "PATH",
        });
    }
    for dir in &tools.folders {
        let p = dir.join(tool.name());
        if is_executable(&p) {
            return Ok(Located {
                path: std::path::absolute(&p).unwrap_or(p),
                via: "tools folder",
            });
        }
    }
    Err(format!(
        "{} was not found in [gates.tools], on PATH, or in {}. Install it (scripts/setup.sh installs the pinned scanners into .tools/bin) or set [gates.tools] {} = \"/path/to/{}\"",
        tool.name(),
        tools
            .folders
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" or "),
        tool.name(),
        tool.name()
    ))
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// The arguments that make each tool print its version.
fn version_args(tool: Tool) -> &'static [&'static str] {
    match tool {
        Tool::Gitleaks | Tool::Syft => &["version"],
        Tool::Trivy | Tool::Checkov | Tool::Npm => &["--version"],
    }
}

/// Runs the tool's version command; the first line that looks like a version.
pub async fn version(tool: Tool, path: &Path) -> Result<String, String> {
    let mut inv = Invocation::new(path).args(version_args(tool));
    if tool == Tool::Syft {
        inv = inv.env("SYFT_CHECK_FOR_APP_UPDATE", "false");
    }
    match exec::run(
        &inv,
        Duration::from_secs(60),
        &crate::signals::Abort::never(),
    )
    .await
    {
        Ok(out) if out.code == Some(0) => {
            let text = String::from_utf8_lossy(&out.stdout);
            // `trivy --version` and `syft version` print several lines with a `Version:` row;
            // the others print just the number.
            let version = text
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("Version:")
                        .map(|v| v.trim().to_owned())
                })
                .or_else(|| {
                    text.lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            Ok(version)
        }
        Ok(out) => Err(format!(
            "`{} {}` exited with {}{}",
            path.display(),
            version_args(tool).join(" "),
            out.code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "a signal".into()),
            out.stderr_tail()
                .map(|t| format!(": {t}"))
                .unwrap_or_default()
        )),
        Err(e) => Err(format!("could not run {}: {e:?}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_path_wins_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("my-trivy");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let tools = ToolSettings {
            explicit: vec![(Tool::Trivy, exe.clone())],
            folders: Vec::new(),
        };
        let found = locate(Tool::Trivy, &tools).unwrap();
        assert_eq!(
            found,
            Located {
                path: exe,
                via: "config"
            }
        );
        let tools = ToolSettings {
            explicit: vec![(Tool::Trivy, dir.path().join("missing"))],
            folders: Vec::new(),
        };
        let e = locate(Tool::Trivy, &tools).unwrap_err();
        assert!(e.contains("[gates.tools] trivy"), "{e}");
    }
}
