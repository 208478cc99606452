//! The one settings layer: the configuration file's layers, the environment and the
//! flags become typed settings for each command. Domain code receives what is built
//! here and never sees clap or the file's sections.
//!
//! Precedence, highest first: flag → environment variable (clap reads both, so a flag
//! wins over its variable) → `[environments.<name>.<section>]` → top-level section →
//! built-in default (`defaults`).
//!
//! The path rule: a relative path written in the configuration file is relative to the
//! file's folder; one given on the command line or in an environment variable is
//! relative to the working directory, as is a built-in default. So one file gives the
//! same paths whichever directory shipwatch runs from.

pub mod defaults;
pub mod file;
pub mod gates;
mod investigate;
pub mod notify;
pub mod remediate;

use crate::aws::Connection;
use crate::cli::{self, Global};
use crate::deploy::release::{ReleaseSettings, RenderMode, RenderSource, ServiceTarget};
use crate::deploy::{DeploySettings, Deployable, Hotfix, StopSettings, WatchSettings};
use crate::error::{Error, Result};
use crate::report::jaeger::JaegerConfig;
use file::{Config, Dur};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where every setting can come from: the loaded file (already layered for the chosen
/// environment) and the global flags.
pub struct Sources {
    pub file: Config,
    pub global: Global,
}

/// What every command shares: how to print and how to reach AWS.
#[derive(Debug, Clone)]
pub struct Common {
    pub json: bool,
    pub aws: Connection,
}

/// Reads the configuration file (a missing default file is no error: flags and
/// environment variables may carry everything) and keeps the global flags beside it.
pub fn load(global: &Global) -> Result<Sources> {
    let (path, explicit) = match &global.config.file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(defaults::CONFIG_FILE), false),
    };
    let file = file::load(&path, global.config.environment.as_deref(), explicit)?;
    Ok(Sources {
        file,
        global: global.clone(),
    })
}

/// Picks the first value that is set, else the default: the order of the arguments is
/// the precedence.
fn first<T>(flag: Option<T>, file: Option<T>, default: T) -> T {
    flag.or(file).unwrap_or(default)
}

fn dur(flag: Option<Duration>, file: Option<Dur>, default: Duration) -> Duration {
    first(flag, file.map(|d| d.0), default)
}

/// The judge's settings, or `None` when `--no-judge` or `[watch.judge] enabled = false`.
fn judge_config(
    o: &cli::WatchOpts,
    j: file::JudgeSection,
) -> Option<crate::deploy::judge::JudgeConfig> {
    if o.no_judge || !j.enabled.unwrap_or(defaults::JUDGE_ENABLED) {
        return None;
    }
    Some(crate::deploy::judge::JudgeConfig {
        confidence: j.confidence.unwrap_or(defaults::JUDGE_CONFIDENCE),
        min_requests: j.min_requests.unwrap_or(defaults::JUDGE_MIN_REQUESTS),
        min_ratio: j.min_ratio.unwrap_or(defaults::JUDGE_MIN_RATIO),
        min_difference: j.min_difference.unwrap_or(defaults::JUDGE_MIN_DIFFERENCE),
        poll: dur(None, j.poll_interval, defaults::JUDGE_POLL_INTERVAL),
        metrics_poll: dur(
            None,
            j.metrics_poll_interval,
            defaults::JUDGE_METRICS_POLL_INTERVAL,
        ),
    })
}

impl Sources {
    pub fn common(&self) -> Common {
        let a = &self.global.aws;
        let f = self.file.layer.aws.clone().unwrap_or_default();
        Common {
            json: self.global.output.format == cli::OutputFormat::Json,
            aws: Connection {
                profile: a.profile.clone(),
                region: a.region.clone().or(self.service().region),
                endpoint_url: a.endpoint_url.clone(),
                max_attempts: first(a.max_attempts, f.max_attempts, defaults::AWS_MAX_ATTEMPTS)
                    .max(1),
                fallback_region: defaults::AWS_REGION.into(),
                attempt_timeout: dur(
                    a.attempt_timeout,
                    f.attempt_timeout,
                    defaults::AWS_ATTEMPT_TIMEOUT,
                ),
                operation_timeout: dur(
                    a.operation_timeout,
                    f.operation_timeout,
                    defaults::AWS_OPERATION_TIMEOUT,
                ),
                max_backoff: defaults::AWS_MAX_BACKOFF,
            },
        }
    }

    /// The folder relative paths in the file are resolved against.
    pub fn config_dir(&self) -> PathBuf {
        self.file
            .path
            .as_deref()
            .or(self.global.config.file.as_deref())
            .unwrap_or(Path::new(defaults::CONFIG_FILE))
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }

    /// The path rule in one place: a flag's path as given (relative to the working
    /// directory), else the file's path resolved against the file's folder, else the
    /// default as given.
    pub fn path(&self, flag: Option<PathBuf>, file: Option<PathBuf>, default: &str) -> PathBuf {
        self.path_opt(flag, file)
            .unwrap_or_else(|| PathBuf::from(default))
    }

    /// Like [`Sources::path`] for a path with no default.
    pub fn path_opt(&self, flag: Option<PathBuf>, file: Option<PathBuf>) -> Option<PathBuf> {
        flag.or_else(|| file.map(|p| self.file_path(&p)))
    }

    /// A path written in the configuration file.
    pub fn file_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.config_dir().join(p)
        }
    }

    fn service(&self) -> file::ServiceSection {
        self.file.layer.service.clone().unwrap_or_default()
    }

    fn watch_section(&self) -> file::WatchSection {
        self.file.layer.watch.clone().unwrap_or_default()
    }

    fn codedeploy(&self) -> file::CodeDeploySection {
        self.file.layer.codedeploy.clone().unwrap_or_default()
    }

    fn report_section(&self) -> file::ReportSection {
        self.file.layer.report.clone().unwrap_or_default()
    }

    /// A required value: the flag, else the file, else an error naming both.
    fn required<T>(
        &self,
        flag: Option<T>,
        file: Option<T>,
        key: &str,
        flag_name: &str,
    ) -> Result<T> {
        flag.or(file)
            .ok_or_else(|| self.file.missing(key, flag_name))
    }

    pub fn target(&self, a: &cli::ServiceArgs) -> Result<ServiceTarget> {
        let s = self.service();
        Ok(ServiceTarget {
            cluster: self.required(a.cluster.clone(), s.cluster, "service.cluster", "--cluster")?,
            service: self.required(a.service.clone(), s.service, "service.service", "--service")?,
            container: self.required(
                a.container.clone(),
                s.container,
                "service.container",
                "--container",
            )?,
            port: self.required(a.port, s.port, "service.port", "--port")?,
        })
    }

    /// How a release is built: repository, and template or current task definition.
    pub fn release(
        &self,
        sha: Option<String>,
        repository: Option<String>,
        mode: Option<cli::RenderModeArg>,
        template: Option<PathBuf>,
    ) -> Result<ReleaseSettings> {
        let td = self.file.layer.task_definition.clone().unwrap_or_default();
        let template = self.path_opt(template, td.template);
        let mode = mode
            .map(|m| match m {
                cli::RenderModeArg::Template => RenderMode::Template,
                cli::RenderModeArg::Current => RenderMode::Current,
            })
            .or(td.mode)
            .unwrap_or(if template.is_some() {
                RenderMode::Template
            } else {
                RenderMode::Current
            });
        let source = match (mode, template) {
            (RenderMode::Current, _) => RenderSource::Current,
            (RenderMode::Template, Some(t)) => RenderSource::Template(t),
            (RenderMode::Template, None) => {
                return Err(self.file.missing("task_definition.template", "--template"));
            }
        };
        let image = self.file.layer.image.clone().unwrap_or_default();
        Ok(ReleaseSettings {
            sha,
            repository: self.required(
                repository,
                image.repository,
                "image.repository",
                "--repository",
            )?,
            source,
            environment: self.file.environment.clone().unwrap_or_default(),
        })
    }

    /// `watch` settings shared by deploy and watch.
    pub fn watch(&self, o: &cli::WatchOpts) -> WatchSettings {
        let w = self.watch_section();
        WatchSettings {
            alarms: if o.alarms.is_empty() {
                w.alarms
            } else {
                Some(o.alarms.clone())
            },
            stop_on_alarm: !o.no_stop_on_alarm
                && w.stop_on_alarm.unwrap_or(defaults::STOP_ON_ALARM),
            poll: dur(o.poll_interval, w.poll_interval, defaults::POLL_INTERVAL),
            alarm_poll: dur(
                o.alarm_poll_interval,
                w.alarm_poll_interval,
                defaults::ALARM_POLL_INTERVAL,
            ),
            heartbeat: dur(o.heartbeat, w.heartbeat, defaults::HEARTBEAT),
            timeout: o.timeout.or(self.codedeploy().timeout.map(|d| d.0)),
            fallback_timeout: defaults::WATCH_TIMEOUT,
            outage_budget: dur(o.outage_budget, w.outage_budget, defaults::OUTAGE_BUDGET),
            json: self.common().json,
            judge: judge_config(o, w.judge.unwrap_or_default()),
        }
    }

    pub fn state_file(&self, flag: Option<PathBuf>) -> PathBuf {
        self.path(flag, self.watch_section().state_file, defaults::STATE_FILE)
    }

    pub fn deploy(&self, a: &cli::DeployArgs) -> Result<DeploySettings> {
        let cd = self.codedeploy();
        let deployable = match &a.task_definition {
            Some(arn) => Deployable::TaskDefinition(arn.clone()),
            None => Deployable::Release(self.release(a.sha.sha.clone(), None, None, None)?),
        };
        let hotfix = if a.hotfix {
            let reason = a
                .reason
                .clone()
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| Error::Usage("--hotfix needs --reason \"<why>\"".into()))?;
            Some(Hotfix {
                user: std::env::var("BUILD_USER_ID")
                    .or_else(|_| std::env::var("USER"))
                    .unwrap_or_else(|_| "unknown".into()),
                reason,
            })
        } else {
            None
        };
        Ok(DeploySettings {
            target: self.target(&a.service)?,
            application: self.required(
                a.codedeploy.application.clone(),
                cd.application,
                "codedeploy.application",
                "--application",
            )?,
            group: self.required(
                a.codedeploy.deployment_group.clone(),
                cd.deployment_group,
                "codedeploy.deployment_group",
                "--deployment-group",
            )?,
            deployment_config: first(
                a.deployment_config.clone(),
                cd.deployment_config,
                defaults::DEPLOYMENT_CONFIG.into(),
            ),
            deployable,
            hotfix,
            platform_version: self.service().platform_version,
            hooks: cd.hooks.unwrap_or_default(),
            build_url: std::env::var("BUILD_URL").ok().filter(|u| !u.is_empty()),
            watch: self.watch(&a.watch),
            state_file: self.state_file(a.watch.state_file.clone()),
            signal_grace: defaults::SIGNAL_GRACE,
        })
    }

    pub fn stop(&self, a: &cli::StopArgs, deployment_id: String) -> StopSettings {
        let w = self.watch_section();
        StopSettings {
            deployment_id,
            rollback: !a.no_rollback,
            timeout: a.timeout.unwrap_or(defaults::STOP_TIMEOUT),
            heartbeat: dur(None, w.heartbeat, defaults::HEARTBEAT),
            poll: dur(None, w.poll_interval, defaults::POLL_INTERVAL),
            outage_budget: dur(None, w.outage_budget, defaults::OUTAGE_BUDGET),
            json: self.common().json,
        }
    }

    /// Report settings; `out_dir` is the folder a deploy/watch flag named, if any.
    pub fn report(
        &self,
        a: &cli::report::ReportArgs,
        out_dir: Option<PathBuf>,
    ) -> Result<crate::report::Settings> {
        let rs = self.report_section();
        let out_dir = self.path(
            out_dir.or(a.out_dir.clone()),
            rs.output_dir,
            defaults::REPORT_DIR,
        );
        let url = a
            .jaeger_url
            .clone()
            .or(rs.jaeger_url)
            .filter(|u| !u.trim().is_empty());
        let jaeger = url.map(|url| {
            let url = url.trim_end_matches('/').to_owned();
            let ui_url = a
                .jaeger_ui_url
                .clone()
                .or(rs.jaeger_ui_url)
                .unwrap_or_else(|| url.clone());
            JaegerConfig {
                url,
                ui_url: ui_url.trim_end_matches('/').to_owned(),
                timeout: defaults::JAEGER_TIMEOUT,
            }
        });
        let limits = crate::logscan::analyse::Limits {
            max_events: a.max_events.or(rs.max_events),
            max_time: a.max_log_time.or(rs.max_log_time.map(|d| d.0)),
            since_ms: a
                .since
                .as_deref()
                .map(|s| parse_time_flag("--since", s))
                .transpose()?,
            until_ms: a
                .until
                .as_deref()
                .map(|s| parse_time_flag("--until", s))
                .transpose()?,
            ..crate::logscan::analyse::Limits::default()
        };
        let service = self.service();
        Ok(crate::report::Settings {
            out_dir,
            jaeger,
            max_traces: first(a.max_traces, rs.max_traces, defaults::MAX_TRACES),
            limits,
            trace_id_field: a.trace_id_field.clone().or(rs.trace_id_field),
            log_group: rs.log_group,
            sha: a.sha.clone(),
            cluster: service.cluster,
            service: service.service,
            container: service.container,
            alarms: self.watch_section().alarms.unwrap_or_default(),
            stopped_by: None,
            after_rollback: rs
                .after_rollback_budget
                .map(|d| d.0)
                .unwrap_or(defaults::REPORT_AFTER_ROLLBACK),
        })
    }
}

impl Sources {
    /// What `doctor` checks: the same settings `deploy`, `register` and `report` would
    /// use, with nothing required (an unset one is a failed check, not an error).
    pub fn doctor(&self, a: &cli::DoctorArgs) -> crate::doctor::Settings {
        let s = self.service();
        let cd = self.codedeploy();
        let rs = self.report_section();
        let image = self.file.layer.image.clone().unwrap_or_default();
        crate::doctor::Settings {
            aws: self.common().aws,
            cluster: a.service.cluster.clone().or(s.cluster),
            service: a.service.service.clone().or(s.service),
            container: a.service.container.clone().or(s.container),
            application: a.codedeploy.application.clone().or(cd.application),
            group: a
                .codedeploy
                .deployment_group
                .clone()
                .or(cd.deployment_group),
            deployment_config: cd
                .deployment_config
                .unwrap_or_else(|| defaults::DEPLOYMENT_CONFIG.into()),
            repository: a.repository.clone().or(image.repository),
            alarms: self.watch_section().alarms.unwrap_or_default(),
            log_group: rs.log_group.filter(|g| !g.trim().is_empty()),
            jaeger_url: rs.jaeger_url.filter(|u| !u.trim().is_empty()),
            jaeger_timeout: defaults::JAEGER_TIMEOUT,
        }
    }
}

fn parse_time_flag(flag: &str, s: &str) -> Result<i64> {
    crate::logscan::logline::parse_time(s).ok_or_else(|| {
        Error::Usage(format!(
            "{flag} `{s}` is not a time; write it like 2026-01-31T10:00:00Z"
        ))
    })
}

#[cfg(test)]
mod tests;
