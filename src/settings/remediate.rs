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
            min_healthy: first(
                a.min_healthy,
                r.min_healthy,
                defaults::REMEDIATE_MIN_HEALTHY,
            ),
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
