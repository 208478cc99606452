//! Command-line arguments of `shipwatch gate`: one subcommand per gate plus `all`, and
//! `--check-tools`. Flags override `[gates]` in the configuration file.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_required = false,
    arg_required_else_help = true
)]
pub struct GateArgs {
    #[command(subcommand)]
    pub gate: Option<GateCommand>,
    /// Print each tool's version and location, then exit (8 when one is missing).
    #[arg(long)]
    pub check_tools: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags every gate accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Directory for the JUnit, SARIF, Markdown and JSON outputs (default: [gates] output_dir, else shipwatch-out/gates).
    #[arg(long, global = true, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// How long one scanner may run before it is killed (default: [gates] timeout, else 10m).
    #[arg(long, global = true, value_name = "DURATION", value_parser = super::parse_dur)]
    pub timeout: Option<std::time::Duration>,
    /// Allowlist file (default: [gates] allowlist, else allowlist.toml beside the config file).
    #[arg(long, global = true, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum GateCommand {
    /// Secrets in the repository and its history (Gitleaks).
    #[command(
        after_help = "Examples:\n  shipwatch gate secrets\n  shipwatch gate secrets --log-opts origin/main..HEAD\n  shipwatch gate secrets --path build/context --no-git\n  shipwatch gate secrets --report gitleaks.json"
    )]
    Secrets(SecretsArgs),
    /// Vulnerabilities, secrets and misconfigurations in a container image (Trivy).
    #[command(
        after_help = "Examples:\n  shipwatch gate image --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1a2b3c4\n  shipwatch gate image --input build/web.tar      # docker save output; no registry or daemon needed\n  shipwatch gate image --report trivy.json"
    )]
    Image(ImageArgs),
    /// A CycloneDX and an SPDX SBOM of an image or directory (Syft); both must parse, agree and be non-empty.
    #[command(
        after_help = "Examples:\n  shipwatch gate sbom --input build/web.tar\n  shipwatch gate sbom --dir app\n  shipwatch gate sbom --cyclonedx sbom.cdx.json --spdx sbom.spdx.json"
    )]
    Sbom(SbomArgs),
    /// Terraform misconfigurations (Checkov), with severities from the config's table.
    #[command(
        after_help = "Examples:\n  shipwatch gate iac --dir terraform\n  shipwatch gate iac --report checkov.json"
    )]
    Iac(IacArgs),
    /// Known-vulnerable npm dependencies (npm audit on package-lock.json).
    #[command(
        after_help = "Examples:\n  shipwatch gate deps --dir app\n  shipwatch gate deps --report npm-audit.json"
    )]
    Deps(DepsArgs),
    /// Every configured gate ([gates] run, else each gate with a [gates.<name>] table).
    #[command(
        after_help = "Every configured gate runs and writes its outputs even when an earlier one failed; a gate that cannot start (missing directory, image or lockfile) is reported as not run.\n\nExit code: the most severe outcome of all gates, in this order:\n  1  internal error in shipwatch\n  2  a gate could not start (usage or configuration error)\n  8  a tool is missing, crashed or wrote an unusable report\n  7  a gate's findings fail the policy\n  0  every gate passed\n\nExamples:\n  shipwatch gate all\n  shipwatch gate all --input build/web.tar --out-dir reports/gates"
    )]
    All(AllArgs),
}

#[derive(Debug, Clone, Default, Args)]
pub struct SecretsArgs {
    /// Repository or directory to scan (default: [gates.secrets] path, else `.`).
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Commit range passed to `git log`, e.g. origin/main..HEAD.
    #[arg(long, value_name = "RANGE", allow_hyphen_values = true)]
    pub log_opts: Option<String>,
    /// Scan the files on disk, not the git history.
    #[arg(long)]
    pub no_git: bool,
    /// Evaluate this Gitleaks JSON report instead of running Gitleaks.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["path", "log_opts", "no_git"])]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ImageArgs {
    /// Image reference to scan (registry or local daemon).
    #[arg(long, value_name = "REF", conflicts_with = "input")]
    pub image: Option<String>,
    /// Image tarball from `docker save`, for agents with no registry or daemon.
    #[arg(long, value_name = "TAR")]
    pub input: Option<PathBuf>,
    /// Evaluate this Trivy JSON report instead of running Trivy.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["image", "input"])]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct SbomArgs {
    /// Image reference.
    #[arg(long, value_name = "REF", conflicts_with_all = ["input", "dir"])]
    pub image: Option<String>,
    /// Image tarball from `docker save`.
    #[arg(long, value_name = "TAR", conflicts_with = "dir")]
    pub input: Option<PathBuf>,
    /// Directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Evaluate this CycloneDX JSON SBOM (with --spdx) instead of running Syft.
    #[arg(long, value_name = "FILE", requires = "spdx", conflicts_with_all = ["image", "input", "dir"])]
    pub cyclonedx: Option<PathBuf>,
    /// Evaluate this SPDX JSON SBOM (with --cyclonedx) instead of running Syft.
    #[arg(long, value_name = "FILE", requires = "cyclonedx")]
    pub spdx: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct IacArgs {
    /// Terraform directory (default: [gates.iac] dir, else `terraform`).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Evaluate this Checkov JSON report instead of running Checkov.
    #[arg(long, value_name = "FILE", conflicts_with = "dir")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct DepsArgs {
    /// Directory holding package-lock.json (default: [gates.deps] dir, else `.`).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Evaluate this `npm audit --json` report instead of running npm.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct AllArgs {
    /// Image reference for the image and sbom gates (overrides the config).
    #[arg(long, value_name = "REF", conflicts_with = "input")]
    pub image: Option<String>,
    /// Image tarball for the image and sbom gates (overrides the config).
    #[arg(long, value_name = "TAR")]
    pub input: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn gate(args: &[&str]) -> Result<super::GateArgs, clap::Error> {
        let mut v = vec!["shipwatch", "gate"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| match c.command {
            Command::Gate(g) => g,
            _ => unreachable!(),
        })
    }

    #[test]
    fn subcommands_and_shared_flags_parse() {
        let g = gate(&[
            "secrets",
            "--log-opts",
            "origin/main..HEAD",
            "--out-dir",
            "o",
            "--timeout",
            "2m",
        ])
        .unwrap();
        assert_eq!(g.common.out_dir.as_deref(), Some(std::path::Path::new("o")));
        assert_eq!(g.common.timeout, Some(std::time::Duration::from_secs(120)));
        assert!(
            matches!(g.gate, Some(super::GateCommand::Secrets(ref s)) if s.log_opts.as_deref() == Some("origin/main..HEAD"))
        );
        assert!(gate(&["--check-tools"]).unwrap().check_tools);
    }

    #[test]
    fn conflicting_sources_are_rejected() {
        assert!(gate(&["image", "--image", "a", "--input", "b.tar"]).is_err());
        assert!(gate(&["image", "--input", "b.tar", "--report", "r.json"]).is_err());
        assert!(
            gate(&["sbom", "--cyclonedx", "a.json"]).is_err(),
            "needs --spdx too"
        );
        assert!(gate(&["frobnicate"]).is_err());
    }
}
