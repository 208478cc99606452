//! What a gate run needs, already resolved: where outputs go, how long a tool may run,
//! which allowlist and tools to use, each gate's policy, and what each gate scans.
//!
//! The settings layer fills these from flags, environment and `[gates]`; nothing here
//! knows where a value came from.

use super::model::{GateKind, Severity, SeveritySet, Tool};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Settings shared by every gate of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the JUnit, SARIF, Markdown and JSON outputs go.
    pub out_dir: PathBuf,
    /// How long one scanner may run before it is killed.
    pub timeout: Duration,
    pub allowlist: AllowlistFile,
    pub tools: ToolSettings,
    /// The gates `gate all` runs, in order.
    pub configured: Vec<GateKind>,
    pub secrets: Policy,
    pub image: ImageSettings,
    pub sbom: Policy,
    pub iac: IacSettings,
    pub deps: Policy,
}

impl Settings {
    pub fn policy(&self, kind: GateKind) -> &Policy {
        match kind {
            GateKind::Secrets => &self.secrets,
            GateKind::Image => &self.image.policy,
            GateKind::Sbom => &self.sbom,
            GateKind::Iac => &self.iac.policy,
            GateKind::Deps => &self.deps,
        }
    }
}

/// The allowlist to load; a file named explicitly must exist, the default may not.
#[derive(Debug, Clone)]
pub struct AllowlistFile {
    pub path: PathBuf,
    pub required: bool,
}

/// Where the scanners are looked for: explicit executables first, then PATH, then the
/// tools folders (`.tools/bin` beside the configuration and the working directory).
#[derive(Debug, Clone, Default)]
pub struct ToolSettings {
    /// `[gates.tools]`: a bare name means that name on PATH; a path was resolved by
    /// the path rule.
    pub explicit: Vec<(Tool, PathBuf)>,
    pub folders: Vec<PathBuf>,
}

impl ToolSettings {
    pub fn explicit(&self, tool: Tool) -> Option<&PathBuf> {
        self.explicit
            .iter()
            .find(|(t, _)| *t == tool)
            .map(|(_, p)| p)
    }
}

/// Trivy's policy and the options that change how it runs.
#[derive(Debug, Clone)]
pub struct ImageSettings {
    pub policy: Policy,
    /// Trivy scanners; dropping `vuln` is reported in every output.
    pub scanners: Vec<String>,
    /// A pre-seeded Trivy cache (offline agents).
    pub cache_dir: Option<PathBuf>,
    /// A reachable mirror of the vulnerability database.
    pub db_repository: Option<String>,
}

/// Checkov's policy and the severity table it needs (Checkov reports none itself).
#[derive(Debug, Clone)]
pub struct IacSettings {
    pub policy: Policy,
    pub frameworks: Vec<String>,
    pub default_severity: Severity,
    /// Whether neither a table nor a default severity was configured (said in the notes).
    pub severity_unconfigured: bool,
    pub severity: BTreeMap<String, Severity>,
}

/// One gate to run and what it looks at.
#[derive(Debug, Clone)]
pub enum Job {
    Secrets(SecretsJob),
    Image(ImageJob),
    Sbom(SbomJob),
    Iac(IacJob),
    Deps(DepsJob),
}

impl Job {
    pub fn kind(&self) -> GateKind {
        match self {
            Job::Secrets(_) => GateKind::Secrets,
            Job::Image(_) => GateKind::Image,
            Job::Sbom(_) => GateKind::Sbom,
            Job::Iac(_) => GateKind::Iac,
            Job::Deps(_) => GateKind::Deps,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SecretsJob {
    pub path: PathBuf,
    pub log_opts: Option<String>,
    pub no_git: bool,
    /// Judge this Gitleaks report instead of running Gitleaks.
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct ImageJob {
    pub image: Option<String>,
    pub input: Option<PathBuf>,
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct SbomJob {
    pub image: Option<String>,
    pub input: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    /// Judge these SBOMs instead of running Syft.
    pub given: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct IacJob {
    pub dir: PathBuf,
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct DepsJob {
    pub dir: PathBuf,
    pub report: Option<PathBuf>,
}

/// What fails a gate, after defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Policy {
    /// Severities of findings that fail.
    pub fail_on: SeveritySet,
    /// Whether a vulnerability without a fix fails too.
    pub fail_unfixed: bool,
    /// Severities of secrets that fail (image gate: secrets found inside the image).
    pub secrets_fail_on: SeveritySet,
}

impl Policy {
    /// The image gate's built-in policy, for tests that need a realistic one.
    #[cfg(test)]
    pub fn image_default() -> Policy {
        Policy {
            fail_on: SeveritySet::of(&[Severity::Critical, Severity::High]),
            fail_unfixed: false,
            secrets_fail_on: SeveritySet::any(),
        }
    }

    /// One line for summaries.
    pub fn describe(&self, kind: GateKind) -> String {
        match kind {
            GateKind::Secrets => format!("fails on secrets of {}", self.secrets_fail_on.describe()),
            GateKind::Sbom => {
                "fails on an unreadable or empty SBOM, or when CycloneDX and SPDX disagree".into()
            }
            GateKind::Image => format!(
                "fails on vulnerabilities and misconfigurations of {}{}, and secrets of {}",
                self.fail_on.describe(),
                if self.fail_unfixed {
                    ""
                } else {
                    " (vulnerabilities only with a fix available)"
                },
                self.secrets_fail_on.describe()
            ),
            GateKind::Iac | GateKind::Deps => format!(
                "fails on findings of {}{}",
                self.fail_on.describe(),
                if self.fail_unfixed {
                    ""
                } else {
                    " with a fix available"
                }
            ),
        }
    }
}
