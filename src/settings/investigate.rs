//! What `investigate` reads: the configured service, deployment group, watched alarms
//! and log settings, overridden by its flags.

use super::{Sources, defaults};
use crate::cli::investigate::InvestigateArgs;
use crate::error::{Error, Result};

impl Sources {
    pub fn investigate(&self, a: &InvestigateArgs) -> Result<crate::investigate::Settings> {
        let s = self.service();
        let cd = self.codedeploy();
        let rs = self.report_section();
        let need = |v: Option<String>, what: &str, flag: &str| {
            v.filter(|x| !x.trim().is_empty()).ok_or_else(|| {
                Error::Usage(format!(
                    "investigate needs the {what}: set [service] {flag} in the configuration file or pass --{flag}"
                ))
            })
        };
        Ok(crate::investigate::Settings {
            aws: self.common().aws,
            cluster: need(
                a.service.cluster.clone().or(s.cluster),
                "ECS cluster",
                "cluster",
            )?,
            service: need(
                a.service.service.clone().or(s.service),
                "ECS service",
                "service",
            )?,
            container: a.service.container.clone().or(s.container),
            application: a.codedeploy.application.clone().or(cd.application),
            group: a
                .codedeploy
                .deployment_group
                .clone()
                .or(cd.deployment_group),
            alarms: self.watch_section().alarms.unwrap_or_default(),
            alarm: a.alarm.clone(),
            since: a.since,
            out_dir: self.path(a.out_dir.clone(), None, defaults::INVESTIGATION_DIR),
            log_group: rs.log_group.filter(|g| !g.trim().is_empty()),
            limits: crate::logscan::analyse::Limits {
                max_events: rs.max_events,
                max_time: rs.max_log_time.map(|d| d.0),
                ..crate::logscan::analyse::Limits::default()
            },
            trace_id_field: rs.trace_id_field,
            jaeger: rs.jaeger_url.filter(|u| !u.trim().is_empty()).map(|url| {
                let url = url.trim_end_matches('/').to_owned();
                crate::logscan::jaeger::JaegerConfig {
                    ui_url: rs
                        .jaeger_ui_url
                        .clone()
                        .unwrap_or_else(|| url.clone())
                        .trim_end_matches('/')
                        .to_owned(),
                    url,
                    timeout: defaults::JAEGER_TIMEOUT,
                }
            }),
            max_traces: rs.max_traces.unwrap_or(defaults::MAX_TRACES),
        })
    }
}
