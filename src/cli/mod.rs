//! The command line: every subcommand, flag and environment variable, with examples.
//! No I/O happens here; the settings layer turns what is parsed into typed settings.
//! Flags that take a default from the configuration file are `Option`s here, so the
//! settings layer can tell "not given" from "given" (every default is in
//! `settings::defaults`).

pub mod gate;
pub mod investigate;
pub mod notify;
pub mod remediate;
pub mod report;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  shipwatch gate all                      # every configured security gate
  shipwatch register --sha $GIT_COMMIT    # pin the image, register the task definition
  shipwatch deploy --env production --sha $GIT_COMMIT
  shipwatch stop --state-file shipwatch-out/deploy-state.json   # Jenkins abort
  shipwatch report d-ABCDEF123            # why was it rolled back?";

#[derive(Debug, Parser)]
#[command(
    name = "shipwatch",
    version,
    about = "Blue/green deployments of an ECS service through CodeDeploy, with security gates and rollback reports.",
    long_about = None,
    after_help = after_help(),
    after_long_help = after_help(),
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

fn after_help() -> String {
    format!("{EXAMPLES}\n\n{}", crate::exit::help_text())
}

/// Flags every subcommand accepts, shown under headings after the subcommand's own.
#[derive(Debug, Clone, Args)]
pub struct Global {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub logging: LoggingArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Configuration")]
pub struct ConfigArgs {
    /// Configuration file (default pipeline/shipwatch.toml, which may be missing). Relative
    /// paths inside it are relative to its folder.
    #[arg(
        long = "config",
        global = true,
        env = "SHIPWATCH_CONFIG",
        value_name = "FILE"
    )]
    pub file: Option<PathBuf>,
    /// Environment in the configuration file (e.g. staging, production).
    #[arg(
        long = "env",
        global = true,
        env = "SHIPWATCH_ENV",
        value_name = "NAME"
    )]
    pub environment: Option<String>,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format on stdout.
    #[arg(long = "output", global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// When to use colour (NO_COLOR and CLICOLOR_FORCE are honoured with `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging")]
pub struct LoggingArgs {
    /// More logging on stderr (-v info, -vv debug, -vvv trace);
    /// RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// AWS connection flags. Each falls back to the standard AWS environment variables and
/// profile files (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, …), which the SDK reads.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// AWS profile (default: AWS_PROFILE, else the default profile).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (default: [service] region, else AWS_REGION / the profile's region).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Endpoint URL for every AWS service (default: AWS_ENDPOINT_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call before giving up (throttling and 5xx are retried with backoff;
    /// default 6).
    #[arg(long, global = true, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Limit of one attempt of an AWS call; a hung endpoint becomes a retried timeout
    /// (default 10s).
    #[arg(long, global = true, env = "SHIPWATCH_AWS_ATTEMPT_TIMEOUT", value_name = "DURATION", value_parser = parse_dur)]
    pub attempt_timeout: Option<std::time::Duration>,
    /// Limit of one AWS call, all attempts and backoffs together (default 30s).
    #[arg(long, global = true, env = "SHIPWATCH_AWS_OPERATION_TIMEOUT", value_name = "DURATION", value_parser = parse_dur)]
    pub operation_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve the git-SHA image in ECR, pin it by digest and register the task definition.
    #[command(
        after_help = "Examples:\n  shipwatch register --sha 1a2b3c4d\n  shipwatch register --sha 1a2b3c4d --dry-run\n  shipwatch register --sha 1a2b3c4d --mode current"
    )]
    Register(RegisterArgs),
    /// Start a CodeDeploy blue/green deployment and watch it to the end.
    #[command(
        after_help = "Examples:\n  shipwatch deploy --sha 1a2b3c4d\n  shipwatch deploy --task-definition arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42\n  shipwatch deploy --sha 1a2b3c4d --hotfix --reason \"INC-123: checkout 500s\""
    )]
    Deploy(DeployArgs),
    /// Attach to a running deployment and watch it like `deploy` does.
    #[command(after_help = "Example:\n  shipwatch watch d-ABCDEF123")]
    Watch(WatchArgs),
    /// Stop a deployment (rolling back by default) and wait until traffic is back on blue.
    #[command(
        after_help = "Examples:\n  shipwatch stop d-ABCDEF123\n  shipwatch stop --state-file shipwatch-out/deploy-state.json\n  shipwatch stop d-ABCDEF123 --no-rollback"
    )]
    Stop(StopArgs),
    /// Explain why a deployment was rolled back (Markdown, HTML and JSON).
    #[command(
        after_help = "Examples:\n  shipwatch report d-ABCDEF123\n  shipwatch report --logs-file exported.jsonl --out-dir report/"
    )]
    Report(report::ReportArgs),
    /// Run security gates (secrets, image, sbom, iac, deps, all).
    #[command(
        after_help = "Examples:\n  shipwatch gate secrets\n  shipwatch gate image --image web:1a2b3c4\n  shipwatch gate all\n  shipwatch gate --check-tools"
    )]
    Gate(gate::GateArgs),
    /// Check configuration, scanners, credentials and every configured AWS resource before a run.
    #[command(
        after_help = "One line per check (✔ passed, ⚠ risky, ✘ failed, with what to do). Read-only AWS calls only.\nExit 0 when nothing failed (warnings allowed), 6 when a check failed, 2 when the configuration does not load.\n\nExamples:\n  shipwatch doctor\n  shipwatch doctor --env production --output json\n  shipwatch doctor --skip-tools"
    )]
    Doctor(DoctorArgs),
    /// Check the notification settings: send a sample message to Slack and the webhook.
    #[command(
        after_help = "One line per endpoint: sent, or why not. The webhook URLs are never printed.\nExit 0 when every configured endpoint accepted the message, 6 when one did not, 2 when none is configured.\n\nExample:\n  SHIPWATCH_SLACK_WEBHOOK_URL=https://hooks.slack.com/services/… shipwatch notify --test"
    )]
    Notify(notify::NotifyArgs),
    /// Stop the one task that makes the service unhealthy and wait for ECS to replace it (guarded).
    #[command(
        after_help = "Chooses one task: an unhealthy target first, else the task logging the most errors. Guards: no stop while a deployment is active, one stop per alarm state change and per cool-down, never below the minimum of healthy tasks. Exit 10 remediated, 11 skipped by a guard, 12 nothing unhealthy, 13 refused (deployment active), 14 stop failed or no healthy replacement; 0 with --dry-run.\nThe same binary runs as an AWS Lambda function when named `bootstrap` (see README).\n\nExamples:\n  shipwatch remediate --alarm web-5xx\n  shipwatch remediate --dry-run\n  shipwatch remediate --alarm web-5xx --output json"
    )]
    Remediate(remediate::RemediateArgs),
    /// Investigate an incident of the running service: alarms, tasks, target health, memory, logs → likely cause.
    #[command(
        after_help = "Read-only AWS calls only. Writes investigation.md, .html and .json and prints the verdict with hints (suggestions, never executed).\nExit 0 when nothing wrong was found, 15 when something is wrong (a cause, an alarm in ALARM or a deployment in progress), 6 when the service does not exist.\n\nExamples:\n  shipwatch investigate\n  shipwatch investigate --since 30m --alarm web-5xx\n  shipwatch investigate --cluster prod --service web --output json"
    )]
    Investigate(investigate::InvestigateArgs),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  shipwatch completions bash > /etc/bash_completion.d/shipwatch"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Example:\n  shipwatch man > shipwatch.1")]
    Man,
}

/// Where the service lives; each flag overrides the configuration file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServiceArgs {
    /// ECS cluster.
    #[arg(long, env = "SHIPWATCH_CLUSTER", value_name = "NAME")]
    pub cluster: Option<String>,
    /// ECS service.
    #[arg(long, env = "SHIPWATCH_SERVICE", value_name = "NAME")]
    pub service: Option<String>,
    /// Container that receives traffic.
    #[arg(long, env = "SHIPWATCH_CONTAINER", value_name = "NAME")]
    pub container: Option<String>,
    /// Container port behind the load balancer.
    #[arg(long, env = "SHIPWATCH_PORT", value_name = "PORT")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Args)]
pub struct ShaArg {
    /// Git commit whose image to use (defaults to GIT_COMMIT; checked against `git rev-parse HEAD`).
    #[arg(long, env = "GIT_COMMIT", value_name = "GIT_SHA")]
    pub sha: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub sha: ShaArg,
    #[command(flatten)]
    pub service: ServiceArgs,
    /// ECR repository name.
    #[arg(long, env = "SHIPWATCH_REPOSITORY", value_name = "NAME")]
    pub repository: Option<String>,
    /// Task-definition template (JSON with placeholders).
    #[arg(long, env = "SHIPWATCH_TEMPLATE", value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Render from the template, or from the service's current task definition (image swapped only).
    #[arg(long, value_enum)]
    pub mode: Option<RenderModeArg>,
    /// Print the render and a diff against the current revision; register nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CodeDeployArgs {
    /// CodeDeploy application.
    #[arg(long, env = "SHIPWATCH_APPLICATION", value_name = "NAME")]
    pub application: Option<String>,
    /// CodeDeploy deployment group.
    #[arg(long, env = "SHIPWATCH_DEPLOYMENT_GROUP", value_name = "NAME")]
    pub deployment_group: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct WatchOpts {
    /// Alarm to watch (repeatable; default: the configured ones, else the deployment group's).
    #[arg(long = "alarm", value_name = "NAME")]
    pub alarms: Vec<String>,
    /// Do not stop the deployment when a watched alarm fires; leave it to CodeDeploy.
    #[arg(long)]
    pub no_stop_on_alarm: bool,
    /// Do not run the green-vs-blue judge on the task logs and the target groups'
    /// metrics ([watch.judge]); only the alarms guard the deployment.
    #[arg(long)]
    pub no_judge: bool,
    /// Give up waiting after this long (exit 5; the deployment keeps running).
    #[arg(long, value_name = "DURATION", value_parser = parse_dur)]
    pub timeout: Option<std::time::Duration>,
    /// How often to poll the deployment target: traffic and lifecycle (default 10s).
    /// GetDeployment itself is read on every change, every minute, and every second
    /// once the end is near (a rollback, a stop, the end of the termination wait).
    #[arg(long, value_name = "DURATION", value_parser = parse_dur)]
    pub poll_interval: Option<std::time::Duration>,
    /// How often to poll the watched alarms (default 4s).
    #[arg(long, value_name = "DURATION", value_parser = parse_dur)]
    pub alarm_poll_interval: Option<std::time::Duration>,
    /// Without a TTY, print a status line at least this often (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_dur)]
    pub heartbeat: Option<std::time::Duration>,
    /// How long AWS reads may keep failing before giving up with exit 9 (default 3m);
    /// each failed poll is reported and retried at the next one. 0s: give up at once.
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse_duration)]
    pub outage_budget: Option<std::time::Duration>,
    /// Where to record the in-flight deployment (default shipwatch-out/deploy-state.json).
    #[arg(long, env = "SHIPWATCH_STATE_FILE", value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Where to write the rollback report (default: [report] output_dir, else shipwatch-out/report).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub sha: ShaArg,
    /// Deploy this task definition instead of the latest one registered for the sha.
    #[arg(long, value_name = "ARN", conflicts_with = "sha")]
    pub task_definition: Option<String>,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub codedeploy: CodeDeployArgs,
    /// CodeDeploy deployment configuration for this run.
    #[arg(long, env = "SHIPWATCH_DEPLOYMENT_CONFIG", value_name = "NAME")]
    pub deployment_config: Option<String>,
    #[command(flatten)]
    pub watch: WatchOpts,
    /// Mark this as a hotfix deployment run by hand (requires --reason).
    #[arg(long, requires = "reason")]
    pub hotfix: bool,
    /// Why this hotfix is deployed; recorded in the deployment description.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Deployment id (d-XXXXXXXXX).
    #[arg(value_name = "DEPLOYMENT_ID", value_parser = parse_deployment_id)]
    pub deployment_id: String,
    #[command(flatten)]
    pub watch: WatchOpts,
}

#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// Deployment id (d-XXXXXXXXX); or use --state-file.
    #[arg(
        value_name = "DEPLOYMENT_ID",
        required_unless_present = "state_file",
        value_parser = parse_deployment_id
    )]
    pub deployment_id: Option<String>,
    /// State file written by `deploy`.
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Stop without rolling back (traffic stays where it is).
    #[arg(long)]
    pub no_rollback: bool,
    /// Give up waiting for traffic to return to blue after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_dur)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub codedeploy: CodeDeployArgs,
    /// ECR repository name.
    #[arg(long, env = "SHIPWATCH_REPOSITORY", value_name = "NAME")]
    pub repository: Option<String>,
    /// Do not look for the security scanners (an agent that only deploys).
    #[arg(long)]
    pub skip_tools: bool,
}

/// How `register` builds the new task definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderModeArg {
    /// Render the JSON template with placeholders.
    Template,
    /// Start from the service's current task definition and only swap the image.
    Current,
}

/// Every duration flag here is an interval, timeout or budget: zero is refused.
fn parse_dur(s: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse_positive_duration(s)
}

/// A CodeDeploy deployment id as AWS prints it (`d-` and letters or digits), checked
/// here so a mistyped id is a usage error before any AWS call (or credential lookup).
pub fn parse_deployment_id(s: &str) -> Result<String, String> {
    let id = s.trim();
    match id.strip_prefix("d-") {
        Some(rest) if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Ok(id.to_owned())
        }
        _ => Err(format!(
            "`{s}` is not a CodeDeploy deployment id; ids look like d-A1B2C3D4E (the Jenkins log and the state file print them)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn zero_intervals_and_timeouts_are_usage_errors() {
        for flag in [
            "--poll-interval",
            "--alarm-poll-interval",
            "--timeout",
            "--heartbeat",
        ] {
            let e = Cli::try_parse_from(["shipwatch", "watch", "d-A1", flag, "0s"]).unwrap_err();
            assert_eq!(e.exit_code(), crate::exit::USAGE, "{flag}");
        }
        assert!(
            Cli::try_parse_from(["shipwatch", "watch", "d-A1", "--outage-budget", "0s"]).is_ok()
        );
    }

    #[test]
    fn deployment_ids_are_checked_before_any_call() {
        assert_eq!(
            parse_deployment_id(" d-A1B2C3D4E\n").unwrap(),
            "d-A1B2C3D4E"
        );
        for bad in [
            "",
            "d-",
            "A1B2C3D4E",
            "d-A1B2 C3",
            "bad id!",
            "arn:aws:codedeploy",
        ] {
            let e = parse_deployment_id(bad).unwrap_err();
            assert!(e.contains("d-A1B2C3D4E"), "{e}");
        }
        let e = Cli::try_parse_from(["shipwatch", "stop", "d-?"]).unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        assert!(Cli::try_parse_from(["shipwatch", "report", "x"]).is_err());
        assert!(Cli::try_parse_from(["shipwatch", "watch", "d-RNBPEBGXH"]).is_ok());
    }

    #[test]
    fn help_lists_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("143"), "{help}");
        assert!(help.contains("rolled back"), "{help}");
    }

    #[test]
    fn hotfix_requires_reason() {
        let r = Cli::try_parse_from(["shipwatch", "deploy", "--sha", "abc", "--hotfix"]);
        assert!(r.is_err());
        let r = Cli::try_parse_from([
            "shipwatch",
            "deploy",
            "--sha",
            "abc",
            "--hotfix",
            "--reason",
            "INC-1",
        ]);
        assert!(r.is_ok());
    }

    #[test]
    fn stop_needs_id_or_state_file() {
        assert!(Cli::try_parse_from(["shipwatch", "stop"]).is_err());
        assert!(Cli::try_parse_from(["shipwatch", "stop", "--state-file", "s.json"]).is_ok());
    }
}
