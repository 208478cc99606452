//! `[remediate]` in the configuration file and the settings of `shipwatch remediate`
//! (as a command and as a Lambda function): flag → file → default, like every command.

use super::file::Dur;
use super::{Sources, defaults, dur, first};
use crate::cli::remediate::RemediateArgs;
use crate::error::{Error, Result};

crate::config_section! {
    /// `[remediate]`: how `shipwatch remediate` chooses, guards and waits.
    pub struct RemediateSection {
        /// Healthy running tasks that must remain after a stop (default 1).
        pub min_healthy: u32,
        /// At most one stop per this window, whatever the alarm (default 10m).
        pub cool_down: Dur,
        /// How far back error lines are counted when no target is unhealthy (default 5m).
        pub log_window: Dur,
        /// How long to wait for the replacement to be running and healthy (default 3m).
        pub replacement_wait: Dur,
        /// How often the replacement is looked for (default 5s).
        pub poll_interval: Dur,
        /// Log group to read (default: [report] log_group, else the task definition's awslogs group).
        pub log_group: String,
        /// The alarm used when --alarm is not given (the Lambda takes it from the event).
        pub alarm: String,
    }
}

impl Sources {
    fn remediate_section(&self) -> RemediateSection {
        self.file.layer.remediate.clone().unwrap_or_default()
    }

    /// The alarm a command-line run answers: the flag, else `[remediate] alarm`.
    pub fn remediate_alarm(&self, a: &RemediateArgs) -> Option<String> {
        a.alarm
            .clone()
            .or(self.remediate_section().alarm)
            .filter(|s| !s.trim().is_empty())
    }

    pub fn remediate(&self, a: &RemediateArgs) -> Result<crate::remediate::Settings> {
        let r = self.remediate_section();
        let s = self.file.layer.service.clone().unwrap_or_default();
        let cd = self.file.layer.codedeploy.clone().unwrap_or_default();
        let report = self.file.layer.report.clone().unwrap_or_default();
        let poll = dur(None, r.poll_interval, defaults::REMEDIATE_POLL);
        if poll.is_zero() {
            return Err(Error::Usage(
                "[remediate] poll_interval must be greater than zero".into(),
            ));
        }
        let min_healthy = first(
            a.min_healthy,
            r.min_healthy,
            defaults::REMEDIATE_MIN_HEALTHY,
        );
        if min_healthy == 0 {
            // 0 would let remediate stop the last healthy task: an outage by design.
            return Err(Error::Usage(
                "min_healthy (--min-healthy, SHIPWATCH_REMEDIATE_MIN_HEALTHY or [remediate] min_healthy) must be at least 1: remediate never stops the last healthy task of a service".into(),
            ));
        }
        Ok(crate::remediate::Settings {
            cluster: self.required(
                a.service.cluster.clone(),
                s.cluster,
                "service.cluster",
                "--cluster",
            )?,
            service: self.required(
                a.service.service.clone(),
                s.service,
                "service.service",
                "--service",
            )?,
            container: a.service.container.clone().or(s.container),
            application: a.codedeploy.application.clone().or(cd.application),
            deployment_group: a
                .codedeploy
                .deployment_group
                .clone()
                .or(cd.deployment_group),
            min_healthy,
            cool_down: dur(a.cool_down, r.cool_down, defaults::REMEDIATE_COOL_DOWN),
            log_window: dur(None, r.log_window, defaults::REMEDIATE_LOG_WINDOW),
            log_group: r
                .log_group
                .or(report.log_group)
                .filter(|g| !g.trim().is_empty()),
            replacement_wait: dur(
                a.replacement_wait,
                r.replacement_wait,
                defaults::REMEDIATE_REPLACEMENT_WAIT,
            ),
            poll,
            signal_grace: defaults::SIGNAL_GRACE,
            dry_run: a.dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use crate::settings::{Sources, defaults, file};
    use clap::Parser;
    use std::path::Path;
    use std::time::Duration;

    const FILE: &str = r#"
default_environment = "staging"

[service]
cluster = "c"
service = "web"

[codedeploy]
application = "app"
deployment_group = "group"

[remediate]
cool_down = "2m"
min_healthy = 2
alarm = "web-5xx"

[environments.staging.service]
cluster = "c"

[environments.production.remediate]
min_healthy = 3
"#;

    fn settings(text: &str, args: &[&str]) -> crate::error::Result<crate::remediate::Settings> {
        let mut v = vec!["shipwatch", "remediate"];
        v.extend_from_slice(args);
        let cli = Cli::try_parse_from(v).expect("arguments parse");
        let env = cli.global.config.environment.clone();
        let f = file::from_str(
            text,
            Path::new("/x/pipeline/shipwatch.toml"),
            env.as_deref(),
        )?;
        let sources = Sources {
            file: f,
            global: cli.global,
        };
        let Command::Remediate(a) = cli.command else {
            unreachable!()
        };
        assert_eq!(sources.remediate_alarm(&a).as_deref(), Some("web-5xx"));
        sources.remediate(&a)
    }

    /// (args, cool-down, min healthy, replacement wait)
    #[test]
    fn flag_then_environment_then_section_then_default() {
        for (args, cd, min, wait) in [
            (
                vec![],
                120,
                2,
                defaults::REMEDIATE_REPLACEMENT_WAIT.as_secs(),
            ),
            (vec!["--env", "production"], 120, 3, 180),
            (
                vec![
                    "--cool-down",
                    "30s",
                    "--min-healthy",
                    "1",
                    "--replacement-wait",
                    "1m",
                ],
                30,
                1,
                60,
            ),
        ] {
            let s = settings(FILE, &args).unwrap();
            assert_eq!(s.cool_down, Duration::from_secs(cd), "{args:?}");
            assert_eq!(s.min_healthy, min, "{args:?}");
            assert_eq!(s.replacement_wait, Duration::from_secs(wait), "{args:?}");
            assert_eq!(s.application.as_deref(), Some("app"));
            assert_eq!(s.log_window, defaults::REMEDIATE_LOG_WINDOW);
        }
    }

    #[test]
    fn a_minimum_of_zero_healthy_tasks_is_refused() {
        let e = settings(FILE, &["--min-healthy", "0"]).unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        assert!(e.to_string().contains("at least 1"), "{e}");
        let zero = FILE.replace("min_healthy = 2", "min_healthy = 0");
        assert!(settings(&zero, &[]).is_err());
    }

    #[test]
    fn an_unknown_key_names_the_line() {
        let bad = FILE.replace("min_healthy = 2", "min_health = 2");
        let e = settings(&bad, &[]).unwrap_err().to_string();
        let line = bad
            .lines()
            .position(|l| l.starts_with("min_health "))
            .unwrap()
            + 1;
        assert!(e.contains(&format!("shipwatch.toml:{line}:")), "{e}");
        assert!(e.contains("min_health"), "{e}");
    }
}
