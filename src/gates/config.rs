//! `[gates]` in shipwatch.toml: tool paths, policy thresholds and the allowlist file.
//!
//! Every key is optional and merges key by key across environments; the defaults the
//! policy applies when a key is unset live in [`Policy`] and the `resolve` helpers here,
//! so the file only needs what differs.
//!
//! ```toml
//! [gates]
//! output_dir = "shipwatch-out/gates"
//! allowlist = "allowlist.toml"        # relative to this file
//! timeout = "10m"
//! run = ["secrets", "iac", "deps"]    # what `gate all` runs (default: every gate with a table below)
//!
//! [gates.tools]
//! trivy = "/opt/trivy/bin/trivy"
//!
//! [gates.secrets]
//! path = "."
//! fail_on = "any"
//!
//! [gates.image]
//! input = "build/app.tar"
//! fail_on = ["CRITICAL", "HIGH"]
//! fail_unfixed = false
//!
//! [gates.iac]
//! dir = "terraform"
//! default_severity = "HIGH"
//! fail_on = ["CRITICAL", "HIGH"]
//! [gates.iac.severity]
//! CKV_AWS_20 = "CRITICAL"
//! CKV2_AWS_62 = "LOW"
//! ```

use super::model::{GateKind, Severity, SeveritySet};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[gates]`. Written out rather than through `config_section!` so the per-gate tables
/// merge key by key too: an environment can change one threshold and keep the rest.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatesSection {
    /// Where gate outputs go (default `shipwatch-out/gates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    /// The allowlist file, relative to the config file (default `allowlist.toml` beside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<PathBuf>,
    /// How long one scanner may run (default 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<crate::config::Dur>,
    /// The gates `gate all` runs (default: each gate that has a `[gates.<name>]` table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Vec<GateKind>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolPaths>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iac: Option<IacGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deps: Option<DepsGate>,
}

impl crate::config::Merge for GatesSection {
    fn merge(self, over: Self) -> Self {
        GatesSection {
            output_dir: over.output_dir.or(self.output_dir),
            allowlist: over.allowlist.or(self.allowlist),
            timeout: over.timeout.or(self.timeout),
            run: over.run.or(self.run),
            tools: self.tools.merge(over.tools),
            secrets: self.secrets.merge(over.secrets),
            image: self.image.merge(over.image),
            sbom: self.sbom.merge(over.sbom),
            iac: self.iac.merge(over.iac),
            deps: self.deps.merge(over.deps),
        }
    }
}

crate::config_section! {
    /// `[gates.tools]`: explicit executables; checked before PATH and the tools folder.
    pub struct ToolPaths {
        pub gitleaks: PathBuf,
        pub trivy: PathBuf,
        pub syft: PathBuf,
        pub checkov: PathBuf,
        pub npm: PathBuf,
    }
}

crate::config_section! {
    /// `[gates.secrets]`: Gitleaks.
    pub struct SecretsGate {
        /// Repository or directory to scan (default `.`).
        pub path: PathBuf,
        /// `git log` range for Gitleaks, e.g. `origin/main..HEAD` (default: the whole history).
        pub log_opts: String,
        /// Scan files on disk instead of git history (default: git when the path is a repository).
        pub no_git: bool,
        /// Severities that fail the gate (Gitleaks reports every secret as HIGH; default "any").
        pub fail_on: SeveritySet,
    }
}

crate::config_section! {
    /// `[gates.image]`: Trivy on an image.
    pub struct ImageGate {
        /// Image reference (registry or daemon).
        pub image: String,
        /// `docker save` tarball, for agents without a registry or daemon.
        pub input: PathBuf,
        /// Severities of vulnerabilities and misconfigurations that fail (default CRITICAL, HIGH).
        pub fail_on: SeveritySet,
        /// Also fail on vulnerabilities with no fixed version (default false).
        pub fail_unfixed: bool,
        /// Severities of secrets found in the image that fail (default "any").
        pub secrets_fail_on: SeveritySet,
        /// Trivy scanners (default vuln, secret, misconfig). Dropping `vuln` is reported in every output.
        pub scanners: Vec<String>,
        /// Trivy cache directory holding a pre-seeded vulnerability database (offline agents).
        pub cache_dir: PathBuf,
        /// OCI repository of the vulnerability database (a mirror reachable from the agent).
        pub db_repository: String,
    }
}

crate::config_section! {
    /// `[gates.sbom]`: Syft.
    pub struct SbomGate {
        pub image: String,
        pub input: PathBuf,
        pub dir: PathBuf,
    }
}

crate::config_section! {
    /// `[gates.iac]`: Checkov.
    pub struct IacGate {
        /// Terraform directory (default `terraform`).
        pub dir: PathBuf,
        /// Checkov frameworks (default `["terraform"]`).
        pub frameworks: Vec<String>,
        /// Severities that fail (default CRITICAL, HIGH).
        pub fail_on: SeveritySet,
        /// Severity of a check missing from the table (default HIGH).
        pub default_severity: Severity,
        /// Check id → severity; Checkov reports none without a vendor API key.
        pub severity: BTreeMap<String, Severity>,
    }
}

crate::config_section! {
    /// `[gates.deps]`: npm audit.
    pub struct DepsGate {
        /// Directory with package.json and package-lock.json (default `.`).
        pub dir: PathBuf,
        /// Severities that fail (default HIGH, CRITICAL).
        pub fail_on: SeveritySet,
        /// Also fail on advisories without a fix (default true: npm rarely knows).
        pub fail_unfixed: bool,
    }
}

impl GatesSection {
    /// Whether `[gates.<kind>]` is present.
    pub fn has(&self, kind: GateKind) -> bool {
        match kind {
            GateKind::Secrets => self.secrets.is_some(),
            GateKind::Image => self.image.is_some(),
            GateKind::Sbom => self.sbom.is_some(),
            GateKind::Iac => self.iac.is_some(),
            GateKind::Deps => self.deps.is_some(),
        }
    }
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
    pub fn for_gate(kind: GateKind, g: &GatesSection) -> Policy {
        let high = SeveritySet::of(&[Severity::Critical, Severity::High]);
        match kind {
            GateKind::Secrets => {
                let s = g.secrets.clone().unwrap_or_default();
                let any = s.fail_on.unwrap_or_else(SeveritySet::any);
                Policy {
                    fail_on: any,
                    fail_unfixed: true,
                    secrets_fail_on: any,
                }
            }
            GateKind::Image => {
                let s = g.image.clone().unwrap_or_default();
                Policy {
                    fail_on: s.fail_on.unwrap_or(high),
                    fail_unfixed: s.fail_unfixed.unwrap_or(false),
                    secrets_fail_on: s.secrets_fail_on.unwrap_or_else(SeveritySet::any),
                }
            }
            GateKind::Sbom => Policy {
                fail_on: SeveritySet::default(),
                fail_unfixed: false,
                secrets_fail_on: SeveritySet::any(),
            },
            GateKind::Iac => {
                let s = g.iac.clone().unwrap_or_default();
                Policy {
                    fail_on: s.fail_on.unwrap_or(high),
                    fail_unfixed: true,
                    secrets_fail_on: SeveritySet::any(),
                }
            }
            GateKind::Deps => {
                let s = g.deps.clone().unwrap_or_default();
                Policy {
                    fail_on: s.fail_on.unwrap_or(high),
                    fail_unfixed: s.fail_unfixed.unwrap_or(true),
                    secrets_fail_on: SeveritySet::any(),
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn gates_section_parses_and_merges_by_key() {
        let text = r#"
default_environment = "staging"
[gates]
timeout = "5m"
run = ["secrets", "iac"]
[gates.iac]
dir = "infra"
default_severity = "medium"
[gates.iac.severity]
CKV_AWS_20 = "critical"
[environments.staging.gates.iac]
fail_on = "any"
"#;
        let cfg = crate::config::from_str(text, Path::new("x.toml"), None).unwrap();
        let g = cfg.layer.gates.unwrap();
        assert_eq!(
            g.run.as_deref(),
            Some(&[GateKind::Secrets, GateKind::Iac][..])
        );
        let iac = g.iac.clone().unwrap();
        assert_eq!(
            iac.dir.as_deref(),
            Some(Path::new("infra")),
            "kept from the top level"
        );
        assert!(iac.fail_on.unwrap().is_any(), "set by the environment");
        assert_eq!(
            iac.severity.unwrap().get("CKV_AWS_20"),
            Some(&Severity::Critical)
        );
    }

    #[test]
    fn unknown_gate_key_names_the_line() {
        let text = "[gates]\n[gates.image]\nfail_on = [\"HIGH\"]\nfail_unfixd = true\n";
        let e = crate::config::from_str(text, Path::new("x.toml"), None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml:4:"), "{e}");
    }

    #[test]
    fn default_policies() {
        let g = GatesSection::default();
        let image = Policy::for_gate(GateKind::Image, &g);
        assert!(
            image.fail_on.contains(Severity::High) && !image.fail_on.contains(Severity::Medium)
        );
        assert!(!image.fail_unfixed);
        assert!(
            Policy::for_gate(GateKind::Secrets, &g)
                .secrets_fail_on
                .is_any()
        );
        let deps = Policy::for_gate(GateKind::Deps, &g);
        assert!(
            deps.fail_on.contains(Severity::Critical) && !deps.fail_on.contains(Severity::Medium)
        );
    }
}
