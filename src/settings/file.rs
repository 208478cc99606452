//! `pipeline/shipwatch.toml`: the service, image, CodeDeploy, watch, report and gate
//! settings, with per-environment overrides (staging and production side by side).
//!
//! Layout: top-level sections are the defaults shared by every environment; a table
//! `[environments.<name>.<section>]` overrides single keys for that environment. The
//! environment is chosen with `--env` / `SHIPWATCH_ENV`, else `default_environment`.
//! Precedence, lowest first: top-level section → environment section; flags and
//! environment variables are layered over both in `settings`. Unknown keys and
//! ill-typed values are errors that name `file:line`.

use crate::deploy::appspec::HOOK_EVENTS;
use crate::deploy::release::RenderMode;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Sections merge key by key: a value set in the overriding layer wins.
pub trait Merge {
    fn merge(self, over: Self) -> Self;
}

impl<T: Merge> Merge for Option<T> {
    fn merge(self, over: Self) -> Self {
        match (self, over) {
            (Some(a), Some(b)) => Some(a.merge(b)),
            (a, b) => b.or(a),
        }
    }
}

/// Declares a config section whose keys are all optional (so layers can be merged)
/// and unknown keys are rejected.
#[macro_export]
macro_rules! config_section {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $($(#[$fm])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $f: Option<$t>,)* }
        impl $crate::settings::file::Merge for $name {
            fn merge(self, over: Self) -> Self { Self { $($f: over.$f.or(self.$f),)* } }
        }
    };
}

/// A duration written as `"30s"`, `"2m"`, `"1h 30m"` or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Dur(#[serde(with = "dur_secs")] pub Duration);

mod dur_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Dur(Duration::from_secs(s))),
            Raw::Text(t) => crate::duration::parse_duration(&t)
                .map(Dur)
                .map_err(serde::de::Error::custom),
        }
    }
}

config_section! {
    /// `[service]`: the ECS service being deployed.
    pub struct ServiceSection {
        pub region: String,
        pub cluster: String,
        pub service: String,
        pub container: String,
        pub port: u16,
        /// Fargate platform version for the AppSpec (default: the service's, else LATEST).
        pub platform_version: String,
    }
}

config_section! {
    /// `[image]`: where release images live.
    pub struct ImageSection {
        /// ECR repository name (not the URI).
        pub repository: String,
    }
}

config_section! {
    /// `[task_definition]`: the template `register` renders.
    pub struct TaskDefinitionSection {
        /// JSON template, relative to the config file's directory.
        pub template: PathBuf,
        pub mode: RenderMode,
    }
}

config_section! {
    /// `[codedeploy]`: the application and deployment group that own the service.
    pub struct CodeDeploySection {
        pub application: String,
        pub deployment_group: String,
        /// Default `CodeDeployDefault.ECSLinear10PercentEvery1Minutes`.
        pub deployment_config: String,
        /// How long `deploy` waits before exiting 5 (default: shifting time + waits + margin).
        pub timeout: Dur,
        /// AppSpec hooks: lifecycle event name → Lambda function name.
        pub hooks: BTreeMap<String, String>,
    }
}

config_section! {
    /// `[watch]`: what `deploy` and `watch` look at while traffic shifts.
    pub struct WatchSection {
        /// CloudWatch alarms to watch (default: the deployment group's alarms).
        pub alarms: Vec<String>,
        /// Stop the deployment (with rollback) as soon as a watched alarm is in ALARM.
        pub stop_on_alarm: bool,
        /// How often to poll the deployment.
        pub poll_interval: Dur,
        /// How often to poll the watched alarms.
        pub alarm_poll_interval: Dur,
        /// Without a TTY, print a status line at least this often.
        pub heartbeat: Dur,
        /// Where `deploy` records the in-flight deployment.
        pub state_file: PathBuf,
        /// How long AWS may stay unreachable (failed reads in a row) before giving up.
        pub outage_budget: Dur,
        /// `[watch.judge]`: the green-vs-blue judge on the task logs and target groups.
        pub judge: JudgeSection,
    }
}

config_section! {
    /// `[watch.judge]`: compare green's 5xx proportion with blue's from the task logs
    /// (and the target groups' per-minute metrics) while traffic shifts, and stop with rollback when green is worse with confidence.
    pub struct JudgeSection {
        pub enabled: bool,
        /// 0.5–1 (exclusive): 1 − the highest chance of ever stopping a release that is
        /// no worse than blue (0.999: a likelihood ratio of 1 000:1 stops it).
        pub confidence: f64,
        /// Green requests needed before any decision.
        pub min_requests: u64,
        /// Minimum effect: green's proportion ≥ this factor × blue's (≥ 1)...
        pub min_ratio: f64,
        /// ...and ≥ blue's + this absolute difference (0–1; 0.005 = half a point).
        pub min_difference: f64,
        /// How often the task logs are read.
        pub poll_interval: Dur,
        /// How often the target groups' per-minute metrics are read.
        pub metrics_poll_interval: Dur,
    }
}

config_section! {
    /// `[aws]`: how AWS calls are retried and how long one may take. Flags and
    /// SHIPWATCH_AWS_* variables win over these.
    pub struct AwsSection {
        /// Attempts per AWS call (throttling, 5xx, timeouts are retried with backoff).
        pub max_attempts: u32,
        /// Limit of one attempt; a hung endpoint becomes a retried timeout.
        pub attempt_timeout: Dur,
        /// Limit of one call, all attempts and backoffs together.
        pub operation_timeout: Dur,
    }
}

config_section! {
    /// `[report]`: where the rollback report finds its evidence and writes its files.
    pub struct ReportSection {
        /// CloudWatch Logs group of the service (default: from the task definition's awslogs options).
        pub log_group: String,
        /// A JSON field holding the trace id, in addition to the common spellings.
        pub trace_id_field: String,
        /// Jaeger query API base URL, e.g. http://jaeger:16686.
        pub jaeger_url: String,
        /// Jaeger UI base URL for links (default: jaeger_url).
        pub jaeger_ui_url: String,
        pub output_dir: PathBuf,
        /// How many trace ids to look up (default 5).
        pub max_traces: usize,
        /// Stop reading logs after this many events (the report says so).
        pub max_events: u64,
        /// Stop reading logs after this long (the report says so).
        pub max_log_time: Dur,
        /// After a deploy's rollback ends, how long the report's last reads may take
        /// (default 5s); what is not read by then is reported as not read in time.
        pub after_rollback_budget: Dur,
    }
}

/// One environment's worth of settings (also the top-level defaults).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub service: Option<ServiceSection>,
    pub image: Option<ImageSection>,
    pub task_definition: Option<TaskDefinitionSection>,
    pub codedeploy: Option<CodeDeploySection>,
    pub watch: Option<WatchSection>,
    pub aws: Option<AwsSection>,
    pub report: Option<ReportSection>,
    pub gates: Option<super::gates::GatesSection>,
    pub notify: Option<super::notify::NotifySection>,
    pub remediate: Option<super::remediate::RemediateSection>,
}

// Sections merge key by key (not whole-section replacement), so an environment can
// override one key of [service] and keep the shared rest.
impl Merge for Layer {
    fn merge(self, over: Self) -> Self {
        Layer {
            service: self.service.merge(over.service),
            image: self.image.merge(over.image),
            task_definition: self.task_definition.merge(over.task_definition),
            codedeploy: self.codedeploy.merge(over.codedeploy),
            watch: self.watch.merge(over.watch),
            aws: self.aws.merge(over.aws),
            report: self.report.merge(over.report),
            gates: self.gates.merge(over.gates),
            notify: self.notify.merge(over.notify),
            remediate: self.remediate.merge(over.remediate),
        }
    }
}

/// The file as written.
// Spelled out rather than `#[serde(flatten)]`ing a Layer: flatten disables
// deny_unknown_fields and loses the spans that give errors their line numbers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    default_environment: Option<String>,
    service: Option<ServiceSection>,
    image: Option<ImageSection>,
    task_definition: Option<TaskDefinitionSection>,
    codedeploy: Option<CodeDeploySection>,
    watch: Option<WatchSection>,
    aws: Option<AwsSection>,
    report: Option<ReportSection>,
    gates: Option<super::gates::GatesSection>,
    notify: Option<super::notify::NotifySection>,
    remediate: Option<super::remediate::RemediateSection>,
    #[serde(default)]
    environments: BTreeMap<String, Layer>,
}

impl FileConfig {
    fn base(&self) -> Layer {
        Layer {
            service: self.service.clone(),
            image: self.image.clone(),
            task_definition: self.task_definition.clone(),
            codedeploy: self.codedeploy.clone(),
            watch: self.watch.clone(),
            aws: self.aws.clone(),
            report: self.report.clone(),
            gates: self.gates.clone(),
            notify: self.notify.clone(),
            remediate: self.remediate.clone(),
        }
    }
}

/// Settings after layering, for one environment.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from, for error messages and relative paths.
    pub path: Option<PathBuf>,
    pub environment: Option<String>,
    pub layer: Layer,
}

/// Reads and validates the file, then picks the environment.
pub fn load(path: &Path, environment: Option<&str>, explicit: bool) -> Result<Config> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            // No file and none asked for: flags and environment variables must carry everything.
            return Ok(Config {
                path: None,
                environment: environment.map(str::to_owned),
                layer: Layer::default(),
            });
        }
        Err(e) => {
            return Err(Error::config(
                path,
                None,
                format!(
                    "cannot read the configuration file: {e}. Pass --config with the path to shipwatch.toml."
                ),
            ));
        }
    };
    from_str(&text, path, environment)
}

/// Parses configuration text; `path` is used for messages and relative paths only.
pub fn from_str(text: &str, path: &Path, environment: Option<&str>) -> Result<Config> {
    let file: FileConfig = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    let env_name = environment
        .map(str::to_owned)
        .or(file.default_environment.clone());
    let layer = match &env_name {
        None if !file.environments.is_empty() => {
            let names: Vec<&str> = file.environments.keys().map(String::as_str).collect();
            return Err(Error::config(
                path,
                None,
                format!(
                    "this file defines environments ({}) but none was chosen. Pass --env <name> or set SHIPWATCH_ENV, or add `default_environment = \"…\"` at the top of the file.",
                    names.join(", ")
                ),
            ));
        }
        None => file.base(),
        Some(name) => match file.environments.get(name) {
            Some(env) => file.base().merge(env.clone()),
            None if file.environments.is_empty() => file.base(),
            None => {
                let names: Vec<&str> = file.environments.keys().map(String::as_str).collect();
                return Err(Error::config(
                    path,
                    line_of(text, "default_environment"),
                    format!(
                        "environment `{name}` is not defined here; defined: {}. Check --env / SHIPWATCH_ENV.",
                        names.join(", ")
                    ),
                ));
            }
        },
    };
    let cfg = Config {
        path: Some(path.to_owned()),
        environment: env_name,
        layer,
    };
    cfg.validate(text)?;
    Ok(cfg)
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let msg = e.message().trim().replace('\n', " ");
    Error::config(
        path,
        line,
        format!(
            "{msg}. Fix the value or remove the key; the keys each section accepts are listed in the README."
        ),
    )
}

/// The 1-based line where `key` is first assigned, for errors found after parsing.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let re = regex::Regex::new(&format!(r"(?m)^\s*{}\s*=", regex::escape(key))).ok()?;
    re.find(text)
        .map(|m| text[..m.start()].matches('\n').count() + 1)
}

impl Config {
    fn validate(&self, text: &str) -> Result<()> {
        let path = self.path.clone().unwrap_or_default();
        let bad = |key: &str, msg: String| Err(Error::config(&path, line_of(text, key), msg));
        if let Some(w) = &self.layer.watch {
            for (key, d) in [
                ("poll_interval", w.poll_interval),
                ("alarm_poll_interval", w.alarm_poll_interval),
                ("heartbeat", w.heartbeat),
            ] {
                if let Some(Dur(d)) = d
                    && d.is_zero()
                {
                    return bad(key, format!("[watch] {key} must be greater than zero"));
                }
            }
        }
        if let Some(j) = self.layer.watch.as_ref().and_then(|w| w.judge.as_ref()) {
            if j.confidence.is_some_and(|c| !(0.5..1.0).contains(&c)) {
                return bad(
                    "confidence",
                    "[watch.judge] confidence must be at least 0.5 and below 1 (e.g. 0.999)".into(),
                );
            }
            if j.min_ratio.is_some_and(|r| !(r >= 1.0 && r.is_finite())) {
                return bad(
                    "min_ratio",
                    "[watch.judge] min_ratio must be a number of at least 1 (e.g. 2)".into(),
                );
            }
            if j.min_difference.is_some_and(|d| !(0.0..1.0).contains(&d)) {
                return bad(
                    "min_difference",
                    "[watch.judge] min_difference must be at least 0 and below 1 (e.g. 0.005)"
                        .into(),
                );
            }
            if j.poll_interval.is_some_and(|Dur(d)| d.is_zero()) {
                return bad(
                    "poll_interval",
                    "[watch.judge] poll_interval must be greater than zero".into(),
                );
            }
            if j.metrics_poll_interval.is_some_and(|Dur(d)| d.is_zero()) {
                return bad(
                    "metrics_poll_interval",
                    "[watch.judge] metrics_poll_interval must be greater than zero".into(),
                );
            }
        }
        if let Some(s) = &self.layer.service
            && s.port == Some(0)
        {
            return bad("port", "[service] port must be between 1 and 65535".into());
        }
        if let Some(cd) = &self.layer.codedeploy {
            for name in cd.hooks.iter().flat_map(|h| h.keys()) {
                if !HOOK_EVENTS.contains(&name.as_str()) {
                    return bad(
                        name,
                        format!(
                            "[codedeploy.hooks] `{name}` is not an ECS lifecycle hook; use one of {}",
                            HOOK_EVENTS.join(", ")
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// Error for a required key that no layer set.
    pub fn missing(&self, key: &str, flag: &str) -> Error {
        let env = self
            .environment
            .as_deref()
            .map(|e| format!(" (environment `{e}`)"))
            .unwrap_or_default();
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        let hint = match &self.environment {
            Some(e) => format!("[{section}] or [environments.{e}.{section}]"),
            None => format!("[{section}]"),
        };
        match &self.path {
            Some(p) => Error::config(
                p,
                None,
                format!("`{name}` in {hint} is not set{env}; set it there or pass {flag}."),
            ),
            None => Error::Usage(format!(
                "`{key}` is not set and no configuration file was found; pass {flag} or --config <shipwatch.toml>."
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
default_environment = "staging"

[service]
container = "web"
port = 8080

[codedeploy]
deployment_config = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"

[environments.staging.service]
cluster = "staging"
service = "web"

[environments.production.service]
cluster = "prod"
service = "web"
port = 8081
"#;

    #[test]
    fn environment_overrides_defaults_key_by_key() {
        let c = from_str(SAMPLE, Path::new("x.toml"), Some("production")).unwrap();
        let s = c.layer.service.unwrap();
        assert_eq!(s.cluster.as_deref(), Some("prod"));
        assert_eq!(s.port, Some(8081));
        assert_eq!(s.container.as_deref(), Some("web"));
    }

    #[test]
    fn default_environment_is_used() {
        let c = from_str(SAMPLE, Path::new("x.toml"), None).unwrap();
        assert_eq!(c.environment.as_deref(), Some("staging"));
        assert_eq!(c.layer.service.unwrap().cluster.as_deref(), Some("staging"));
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "[service]\ncluster = \"a\"\nclustr = \"b\"\n";
        let e = from_str(text, Path::new("p.toml"), None).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("p.toml:3:"), "{msg}");
        assert!(msg.contains("clustr"), "{msg}");
    }

    #[test]
    fn bad_value_names_line() {
        let text = "[service]\ncluster = \"a\"\nport = \"eighty\"\n";
        let e = from_str(text, Path::new("p.toml"), None).unwrap_err();
        assert!(e.to_string().starts_with("p.toml:3:"), "{e}");
    }

    #[test]
    fn bad_duration_names_line() {
        let text = "[watch]\npoll_interval = \"soon\"\n";
        let e = from_str(text, Path::new("p.toml"), None).unwrap_err();
        assert!(e.to_string().starts_with("p.toml:2:"), "{e}");
        assert!(e.to_string().contains("soon"), "{e}");
    }

    #[test]
    fn zero_poll_interval_is_rejected_with_line() {
        let text = "[watch]\nstop_on_alarm = true\npoll_interval = 0\n";
        let e = from_str(text, Path::new("p.toml"), None).unwrap_err();
        assert!(e.to_string().starts_with("p.toml:3:"), "{e}");
    }

    #[test]
    fn unknown_environment_is_an_error() {
        let e = from_str(SAMPLE, Path::new("x.toml"), Some("qa")).unwrap_err();
        assert!(e.to_string().contains("staging"), "{e}");
    }

    #[test]
    fn environments_without_choice_is_an_error() {
        let text = "[environments.a.service]\ncluster=\"x\"\n";
        assert!(from_str(text, Path::new("x.toml"), None).is_err());
    }

    #[test]
    fn unknown_hook_is_rejected() {
        let text = "[codedeploy.hooks]\nBeforeInstal = \"fn\"\n";
        let e = from_str(text, Path::new("x.toml"), None).unwrap_err();
        assert!(e.to_string().contains("BeforeInstal"), "{e}");
    }
}
