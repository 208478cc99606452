//! `[gates]` in shipwatch.toml as written (tool paths, policy thresholds, the allowlist
//! file), and how it combines with `shipwatch gate`'s flags into the gates' settings.
//!
//! Every key is optional and merges key by key across environments; the defaults the
//! policy applies when a key is unset live in `settings::defaults`, so the file only
//! needs what differs. Relative paths are relative to the configuration file.
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

use super::defaults;
use super::file::{Dur, Merge};
use crate::cli;
use crate::error::{Error, Result};
use crate::gates::model::{GateKind, Severity, SeveritySet, Tool};
use crate::gates::settings::{
    AllowlistFile, DepsJob, IacJob, IacSettings, ImageJob, ImageSettings, Job, Policy, SbomJob,
    SecretsJob, Settings, ToolSettings,
};
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
    pub timeout: Option<Dur>,
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

impl Merge for GatesSection {
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

/// What `shipwatch gate` was asked to run.
pub struct GateRun {
    pub settings: Settings,
    pub jobs: Vec<Job>,
    /// `gate all`: every job runs whatever the others did.
    pub all: bool,
}

impl super::Sources {
    fn gates_section(&self) -> GatesSection {
        self.file.layer.gates.clone().unwrap_or_default()
    }

    /// Settings shared by every gate, from `--out-dir`, `--timeout`, `--allowlist` and `[gates]`.
    pub fn gate_settings(&self, common: &cli::gate::CommonArgs) -> Settings {
        let g = self.gates_section();
        // The allowlist sits beside the config file unless said otherwise; a file named
        // explicitly (flag or config) must exist.
        let named = self.path_opt(common.allowlist.clone(), g.allowlist.clone());
        let allowlist = AllowlistFile {
            required: named.is_some(),
            path: named.unwrap_or_else(|| self.config_dir().join(defaults::ALLOWLIST_FILE)),
        };
        let tools = g.tools.clone().unwrap_or_default();
        let explicit = [
            (Tool::Gitleaks, tools.gitleaks),
            (Tool::Trivy, tools.trivy),
            (Tool::Syft, tools.syft),
            (Tool::Checkov, tools.checkov),
            (Tool::Npm, tools.npm),
        ]
        .into_iter()
        .filter_map(|(t, p)| {
            // A bare name means "this name on PATH"; anything else follows the path rule.
            p.map(|p| {
                (
                    t,
                    if p.components().count() == 1 {
                        p
                    } else {
                        self.file_path(&p)
                    },
                )
            })
        })
        .collect();
        let image = g.image.clone().unwrap_or_default();
        let iac = g.iac.clone().unwrap_or_default();
        let deps = g.deps.clone().unwrap_or_default();
        let secrets = g.secrets.clone().unwrap_or_default();
        Settings {
            out_dir: self.path(
                common.out_dir.clone(),
                g.output_dir.clone(),
                defaults::GATES_DIR,
            ),
            timeout: common
                .timeout
                .or(g.timeout.map(|d| d.0))
                .unwrap_or(defaults::GATE_TIMEOUT),
            allowlist,
            tools: ToolSettings {
                explicit,
                folders: defaults::tools_folders(&self.config_dir()),
            },
            configured: configured(&g),
            secrets: {
                let d = defaults::secrets_policy();
                let any = secrets.fail_on.unwrap_or(d.fail_on);
                Policy {
                    fail_on: any,
                    secrets_fail_on: any,
                    ..d
                }
            },
            image: {
                let d = defaults::image_policy();
                ImageSettings {
                    policy: Policy {
                        fail_on: image.fail_on.unwrap_or(d.fail_on),
                        fail_unfixed: image.fail_unfixed.unwrap_or(d.fail_unfixed),
                        secrets_fail_on: image.secrets_fail_on.unwrap_or(d.secrets_fail_on),
                    },
                    scanners: image.scanners.unwrap_or_else(|| {
                        defaults::TRIVY_SCANNERS
                            .iter()
                            .map(|s| s.to_string())
                            .collect()
                    }),
                    cache_dir: image.cache_dir.map(|p| self.file_path(&p)),
                    db_repository: image.db_repository,
                }
            },
            sbom: defaults::sbom_policy(),
            iac: {
                let d = defaults::iac_policy();
                IacSettings {
                    policy: Policy {
                        fail_on: iac.fail_on.unwrap_or(d.fail_on),
                        ..d
                    },
                    frameworks: iac.frameworks.unwrap_or_else(|| {
                        defaults::CHECKOV_FRAMEWORKS
                            .iter()
                            .map(|s| s.to_string())
                            .collect()
                    }),
                    severity_unconfigured: iac.severity.as_ref().is_none_or(|t| t.is_empty())
                        && iac.default_severity.is_none(),
                    default_severity: iac
                        .default_severity
                        .unwrap_or(defaults::IAC_DEFAULT_SEVERITY),
                    severity: iac.severity.unwrap_or_default(),
                }
            },
            deps: {
                let d = defaults::deps_policy();
                Policy {
                    fail_on: deps.fail_on.unwrap_or(d.fail_on),
                    fail_unfixed: deps.fail_unfixed.unwrap_or(d.fail_unfixed),
                    ..d
                }
            },
        }
    }

    /// The jobs of one `shipwatch gate` command; `gate all` gets every configured gate
    /// with its `[gates.<name>]` settings (and `--image`/`--input` for image and sbom).
    pub fn gates(&self, a: &cli::gate::GateArgs) -> Result<GateRun> {
        let settings = self.gate_settings(&a.common);
        let g = self.gates_section();
        let Some(cmd) = &a.gate else {
            return Err(Error::Usage("name a gate (secrets, image, sbom, iac, deps, all) or pass --check-tools; see `shipwatch gate --help`".into()));
        };
        use cli::gate::GateCommand as C;
        let (jobs, all) = match cmd {
            C::Secrets(s) => (vec![self.secrets_job(&g, s)], false),
            C::Image(s) => (vec![self.image_job(&g, s)], false),
            C::Sbom(s) => (vec![self.sbom_job(&g, s)], false),
            C::Iac(s) => (vec![self.iac_job(&g, s)], false),
            C::Deps(s) => (vec![self.deps_job(&g, s)], false),
            C::All(all) => (
                settings
                    .configured
                    .iter()
                    .map(|kind| match kind {
                        GateKind::Secrets => self.secrets_job(&g, &Default::default()),
                        GateKind::Image => self.image_job(
                            &g,
                            &cli::gate::ImageArgs {
                                image: all.image.clone(),
                                input: all.input.clone(),
                                report: None,
                            },
                        ),
                        GateKind::Sbom => self.sbom_job(
                            &g,
                            &cli::gate::SbomArgs {
                                image: all.image.clone(),
                                input: all.input.clone(),
                                ..Default::default()
                            },
                        ),
                        GateKind::Iac => self.iac_job(&g, &Default::default()),
                        GateKind::Deps => self.deps_job(&g, &Default::default()),
                    })
                    .collect(),
                true,
            ),
        };
        Ok(GateRun {
            settings,
            jobs,
            all,
        })
    }

    fn secrets_job(&self, g: &GatesSection, a: &cli::gate::SecretsArgs) -> Job {
        let f = g.secrets.clone().unwrap_or_default();
        Job::Secrets(SecretsJob {
            path: self.path(a.path.clone(), f.path, defaults::SECRETS_PATH),
            log_opts: a.log_opts.clone().or(f.log_opts),
            no_git: a.no_git || f.no_git.unwrap_or(false),
            report: a.report.clone(),
        })
    }

    /// A flag naming the image or the tarball replaces both of the file's settings.
    fn image_job(&self, g: &GatesSection, a: &cli::gate::ImageArgs) -> Job {
        let f = g.image.clone().unwrap_or_default();
        let (image, input) = if a.image.is_some() || a.input.is_some() {
            (a.image.clone(), a.input.clone())
        } else {
            (f.image, f.input.map(|p| self.file_path(&p)))
        };
        Job::Image(ImageJob {
            image,
            input,
            report: a.report.clone(),
        })
    }

    fn sbom_job(&self, g: &GatesSection, a: &cli::gate::SbomArgs) -> Job {
        let f = g.sbom.clone().unwrap_or_default();
        let (image, input, dir) = if a.image.is_some() || a.input.is_some() || a.dir.is_some() {
            (a.image.clone(), a.input.clone(), a.dir.clone())
        } else {
            (
                f.image,
                f.input.map(|p| self.file_path(&p)),
                f.dir.map(|p| self.file_path(&p)),
            )
        };
        Job::Sbom(SbomJob {
            image,
            input,
            dir,
            given: a.cyclonedx.clone().zip(a.spdx.clone()),
        })
    }

    fn iac_job(&self, g: &GatesSection, a: &cli::gate::IacArgs) -> Job {
        let f = g.iac.clone().unwrap_or_default();
        Job::Iac(IacJob {
            dir: self.path(a.dir.clone(), f.dir, defaults::IAC_DIR),
            report: a.report.clone(),
        })
    }

    fn deps_job(&self, g: &GatesSection, a: &cli::gate::DepsArgs) -> Job {
        let f = g.deps.clone().unwrap_or_default();
        Job::Deps(DepsJob {
            dir: self.path(a.dir.clone(), f.dir, defaults::DEPS_DIR),
            report: a.report.clone(),
        })
    }
}

/// The gates `gate all` runs: `[gates] run`, else each gate with a table.
fn configured(g: &GatesSection) -> Vec<GateKind> {
    match &g.run {
        Some(list) => {
            let mut v = list.clone();
            v.sort();
            v.dedup();
            v
        }
        None => GateKind::ALL.into_iter().filter(|k| g.has(*k)).collect(),
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
        let cfg = super::super::file::from_str(text, Path::new("x.toml"), None).unwrap();
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
        let e = super::super::file::from_str(text, Path::new("x.toml"), None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml:4:"), "{e}");
    }
}
