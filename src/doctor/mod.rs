//! `shipwatch doctor`: is this machine, this configuration and this AWS account ready
//! for a deploy? Every configured resource is read once with read-only calls, and each
//! answer is judged by a pure function in `judge` into a [`Check`]: passed, a warning
//! (a risky setting that lets a bad release through) or a failure with what to do.
//! Reads go on after a failed one, so one run names every problem, not the first.

pub mod judge;

use crate::aws::probe::{self, Probe};
use crate::aws::{Clients, Connection};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One line of the doctor's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// What to do; empty when the check passed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: String::new(),
        }
    }
    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

/// The worst status of a list (Ok for an empty one).
pub fn worst(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

/// What doctor checks, built by the settings layer. A `None` is a setting no source gave.
#[derive(Debug, Clone)]
pub struct Settings {
    pub aws: Connection,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub container: Option<String>,
    pub application: Option<String>,
    pub group: Option<String>,
    /// The deployment configuration `deploy` would use.
    pub deployment_config: String,
    pub repository: Option<String>,
    /// `[watch] alarms`; the group's alarms are checked as well.
    pub alarms: Vec<String>,
    /// `[report] log_group`; else the container's awslogs group.
    pub log_group: Option<String>,
    pub jaeger_url: Option<String>,
    pub jaeger_timeout: Duration,
}

/// Runs every AWS check in order; stops after the credentials check only when no
/// credentials resolve (every read would fail the same way).
pub async fn check_aws(s: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    let c = match Clients::connect(&s.aws).await {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail(
                "AWS connection",
                e.to_string(),
                "fix --profile / AWS_PROFILE or --endpoint-url / AWS_ENDPOINT_URL",
            ));
            return checks;
        }
    };
    let creds = probe::credentials(&s.aws).await;
    let creds_ok = creds.is_ok();
    checks.push(judge::credentials(&creds));
    if !creds_ok {
        return checks;
    }

    // ECS: cluster, service and its controller, the running task definition's logging.
    let mut td_log_group = None;
    match (&s.cluster, &s.service) {
        (Some(cluster), Some(service)) => {
            checks.push(judge::cluster(cluster, &probe::cluster(&c, cluster).await));
            let svc = probe::service(&c, cluster, service).await;
            checks.extend(judge::service(cluster, service, &svc));
            if let Probe::Found(f) = &svc
                && !f.task_definition.is_empty()
            {
                let td = probe::task_definition(&c, &f.task_definition).await;
                checks.extend(judge::task_definition(
                    &f.task_definition,
                    s.container.as_deref(),
                    &td,
                ));
                if let Probe::Found(td) = &td {
                    td_log_group = judge::awslogs_group(td, s.container.as_deref());
                }
            }
        }
        _ => checks.push(judge::not_set(
            "ECS service",
            if s.cluster.is_none() {
                ("service.cluster", "--cluster")
            } else {
                ("service.service", "--service")
            },
        )),
    }

    // CodeDeploy: application, group (blue/green, alarms, auto-rollback), configuration.
    let mut group_alarms = Vec::new();
    match (&s.application, &s.group) {
        (Some(app), Some(group)) => {
            checks.push(judge::application(app, &probe::application(&c, app).await));
            let g = probe::deployment_group(&c, app, group).await;
            checks.extend(judge::group(
                app,
                group,
                s.cluster.as_deref(),
                s.service.as_deref(),
                &g,
            ));
            let termination_wait = match &g {
                Probe::Found(g) => {
                    group_alarms = g.alarms.clone();
                    Some(g.termination_wait_minutes.unwrap_or(0))
                }
                _ => None,
            };
            let routing = probe::deployment_config(&c, &s.deployment_config).await;
            checks.push(judge::deployment_config(
                &s.deployment_config,
                &routing,
                termination_wait,
            ));
        }
        _ => checks.push(judge::not_set(
            "CodeDeploy deployment group",
            if s.application.is_none() {
                ("codedeploy.application", "--application")
            } else {
                ("codedeploy.deployment_group", "--deployment-group")
            },
        )),
    }

    // Alarms: the watched ones and the group's, each once.
    let mut names: Vec<String> = s.alarms.clone();
    for a in group_alarms {
        if !names.contains(&a) {
            names.push(a);
        }
    }
    let found = if names.is_empty() {
        Probe::Found(Vec::new())
    } else {
        probe::alarms(&c, &names).await
    };
    checks.extend(judge::alarms(&names, &found));

    // ECR.
    match &s.repository {
        Some(r) => checks.push(judge::repository(r, &probe::repository(&c, r).await)),
        None => checks.push(judge::not_set(
            "ECR repository",
            ("image.repository", "--repository"),
        )),
    }

    // The log group the report reads.
    match s.log_group.clone().or(td_log_group) {
        Some(g) => checks.push(judge::log_group(&g, &probe::log_group(&c, &g).await)),
        None => checks.push(Check::warn(
            "log group",
            "no log group: [report] log_group is not set and the task definition names none",
            "set [report] log_group, or give the container an awslogs log configuration",
        )),
    }

    // Jaeger, when configured: the report enriches with traces from it.
    if let Some(url) = &s.jaeger_url {
        checks.push(judge::jaeger(url, &jaeger(url, s.jaeger_timeout).await));
    }
    checks
}

/// GET `<url>/api/services`: what the report's trace lookups need to answer.
async fn jaeger(url: &str, timeout: Duration) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/api/services", url.trim_end_matches('/'));
    match client.get(&url).send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) if e.is_timeout() => Err(format!("no answer within {} s", timeout.as_secs())),
        Err(e) if e.is_connect() => Err("connection refused or host unreachable".into()),
        Err(e) => Err(e.without_url().to_string()),
    }
}
