//! The doctor's verdicts: pure functions from what a read found to a [`Check`], so
//! every rule (and its wording) is unit-tested without AWS.

use super::Check;
use crate::aws::model::{DeploymentGroup, TrafficRouting};
use crate::aws::probe::{
    AlarmFacts, ClusterFacts, CredentialFacts, LogGroupFacts, Probe, ServiceFacts,
    TaskDefinitionFacts,
};

/// A read that was denied or failed: the check fails naming the action or the cause.
fn unreadable<T>(name: &str, probe: &Probe<T>) -> Option<Check> {
    match probe {
        Probe::Denied { action, message } => Some(Check::fail(
            name,
            if message.is_empty() {
                format!("access denied for {action}")
            } else {
                format!(
                    "access denied for {action} (AWS said: {})",
                    message.trim_end_matches('.')
                )
            },
            format!("grant {action} to the role or user shipwatch runs as"),
        )),
        Probe::Failed(paragraph) => Some(Check::fail(
            name,
            paragraph.clone(),
            "fix the cause above and run `shipwatch doctor` again",
        )),
        Probe::Found(_) | Probe::Missing => None,
    }
}

/// A required setting no source gave.
pub fn not_set(name: &str, (key, flag): (&str, &str)) -> Check {
    let (section, k) = key.split_once('.').unwrap_or(("", key));
    Check::fail(
        name,
        format!("{key} is not set"),
        format!("set `{k}` in [{section}] of the configuration file, or pass {flag}"),
    )
}

pub fn credentials(creds: &Result<CredentialFacts, String>) -> Check {
    const NAME: &str = "AWS credentials";
    match creds {
        Ok(f) => {
            let source = match f.provider.as_str() {
                "EnvironmentVariable" => "environment variables (AWS_ACCESS_KEY_ID)".to_owned(),
                "ProfileFile" | "Profile" => {
                    "the profile files (~/.aws/credentials, ~/.aws/config)".to_owned()
                }
                "SSO" => "AWS SSO (IAM Identity Center)".to_owned(),
                "WebIdentityToken" => "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".to_owned(),
                "EcsContainer" => "the ECS container role".to_owned(),
                "IMDSv2" | "IMDS" => "the EC2 instance role".to_owned(),
                other => format!("the `{other}` provider"),
            };
            let profile = f
                .profile
                .as_deref()
                .map(|p| format!(", profile `{p}`"))
                .unwrap_or_default();
            let expiry = if f.expires.is_some() {
                " (temporary)"
            } else {
                ""
            };
            Check::ok(NAME, format!("from {source}{profile}{expiry}"))
        }
        Err(e) => Check::fail(
            NAME,
            e.clone(),
            "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE or --profile; `aws sso login` for SSO), web identity, or run on a role (ECS task or EC2 instance); in Jenkins use withAWS or withCredentials",
        ),
    }
}

pub fn cluster(cluster: &str, p: &Probe<ClusterFacts>) -> Check {
    let name = format!("ECS cluster {cluster}");
    if let Some(c) = unreadable(&name, p) {
        return c;
    }
    match p {
        Probe::Found(f) if f.status == "ACTIVE" || f.status.is_empty() => Check::ok(name, "exists"),
        Probe::Found(f) => Check::fail(
            name,
            format!("the cluster is {}", f.status),
            "check [service] cluster and the region",
        ),
        _ => Check::fail(
            name,
            "does not exist in this account and region",
            "check [service] cluster, --region and the AWS account",
        ),
    }
}

pub fn service(cluster: &str, service: &str, p: &Probe<ServiceFacts>) -> Vec<Check> {
    let name = format!("ECS service {service}");
    if let Some(c) = unreadable(&name, p) {
        return vec![c];
    }
    let Probe::Found(f) = p else {
        return vec![Check::fail(
            name,
            format!("not found in cluster {cluster}"),
            "check [service] service and cluster, and the region",
        )];
    };
    let controller = format!("ECS service {service} deployment controller");
    vec![
        Check::ok(name, format!("{} in cluster {cluster}", f.status)),
        if f.controller == "CODE_DEPLOY" {
            Check::ok(controller, "CODE_DEPLOY")
        } else {
            Check::fail(
                controller,
                format!(
                    "the service uses the {} controller; CodeDeploy blue/green needs CODE_DEPLOY",
                    f.controller
                ),
                "recreate the service with deploymentController type CODE_DEPLOY (it cannot be changed on an existing service) and a CodeDeploy deployment group for it",
            )
        },
    ]
}

/// The task definition's logging: every container should ship its logs with awslogs,
/// since the rollback report reads the green tasks' logs from CloudWatch Logs.
pub fn task_definition(
    arn: &str,
    container: Option<&str>,
    p: &Probe<TaskDefinitionFacts>,
) -> Vec<Check> {
    let short = arn.rsplit('/').next().unwrap_or(arn);
    let name = format!("task definition {short}");
    if let Some(c) = unreadable(&name, p) {
        return vec![c];
    }
    let Probe::Found(td) = p else {
        return vec![Check::fail(
            name,
            "the service's task definition does not exist",
            "register a task definition (`shipwatch register`) and deploy it",
        )];
    };
    let mut checks = Vec::new();
    if let Some(want) = container
        && !td.containers.iter().any(|c| c.name == want)
    {
        checks.push(Check::fail(
            name.clone(),
            format!("has no container `{want}`"),
            "check [service] container against the task definition's container names",
        ));
    }
    let without: Vec<&str> = td
        .containers
        .iter()
        .filter(|c| c.log_driver.as_deref() != Some("awslogs") || c.awslogs_group.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if without.is_empty() {
        checks.push(Check::ok(name, "every container logs with awslogs"));
    } else {
        checks.push(Check::warn(
            name,
            format!(
                "container(s) {} do not log with awslogs; a rollback report will have no logs from them",
                without.join(", ")
            ),
            "add a logConfiguration with logDriver awslogs, awslogs-group and awslogs-stream-prefix",
        ));
    }
    checks
}

/// The log group of the configured container (else the first awslogs container).
pub fn awslogs_group(td: &TaskDefinitionFacts, container: Option<&str>) -> Option<String> {
    let with_group = |c: &&crate::aws::probe::ContainerLogging| {
        c.log_driver.as_deref() == Some("awslogs") && c.awslogs_group.is_some()
    };
    td.containers
        .iter()
        .filter(with_group)
        .find(|c| container.is_none_or(|w| c.name == w))
        .or_else(|| td.containers.iter().find(with_group))
        .and_then(|c| c.awslogs_group.clone())
}

pub fn application(app: &str, p: &Probe<()>) -> Check {
    let name = format!("CodeDeploy application {app}");
    if let Some(c) = unreadable(&name, p) {
        return c;
    }
    match p {
        Probe::Found(()) => Check::ok(name, "exists"),
        _ => Check::fail(
            name,
            "does not exist in this account and region",
            "check [codedeploy] application and the region",
        ),
    }
}

pub fn group(
    app: &str,
    group: &str,
    cluster: Option<&str>,
    service: Option<&str>,
    p: &Probe<DeploymentGroup>,
) -> Vec<Check> {
    let name = format!("CodeDeploy deployment group {group}");
    if let Some(c) = unreadable(&name, p) {
        return vec![c];
    }
    let Probe::Found(g) = p else {
        return vec![Check::fail(
            name,
            format!("does not exist in application {app}"),
            "check [codedeploy] deployment_group and application",
        )];
    };
    let mut checks = Vec::new();
    if !(g.blue_green && g.compute_platform.as_deref().is_none_or(|p| p == "ECS")) {
        checks.push(Check::fail(
            name.clone(),
            "is not an ECS blue/green group",
            "use a deployment group with compute platform ECS and deployment type BLUE_GREEN",
        ));
    } else if let (Some(cl), Some(sv)) = (cluster, service)
        && !g.services.is_empty()
        && !g.services.iter().any(|(c, s)| c == cl && s == sv)
    {
        let mapped: Vec<String> = g.services.iter().map(|(c, s)| format!("{c}/{s}")).collect();
        checks.push(Check::fail(
            name.clone(),
            format!("deploys {}, not {cl}/{sv}", mapped.join(", ")),
            "point [codedeploy] deployment_group at the group of this service, or fix [service]",
        ));
    } else {
        checks.push(Check::ok(name.clone(), "ECS blue/green"));
    }

    let rb_name = format!("{name} auto-rollback");
    let events = &g.auto_rollback_events;
    if !g.auto_rollback_enabled || !events.iter().any(|e| e == "DEPLOYMENT_FAILURE") {
        checks.push(Check::fail(
            rb_name,
            if g.auto_rollback_enabled {
                "auto-rollback does not include DEPLOYMENT_FAILURE: a failed deployment leaves traffic on the bad release".to_owned()
            } else {
                "auto-rollback is off: a failed or stopped deployment leaves traffic on the bad release".to_owned()
            },
            "enable auto-rollback on the group with events DEPLOYMENT_FAILURE and DEPLOYMENT_STOP_ON_ALARM (Terraform: auto_rollback_configuration)",
        ));
    } else if !events.iter().any(|e| e == "DEPLOYMENT_STOP_ON_ALARM") {
        checks.push(Check::warn(
            rb_name,
            "no DEPLOYMENT_STOP_ON_ALARM: when CodeDeploy stops the deployment on an alarm (shipwatch not running), traffic is not rolled back",
            "add DEPLOYMENT_STOP_ON_ALARM to the group's auto-rollback events",
        ));
    } else {
        checks.push(Check::ok(rb_name, events.join(", ")));
    }

    let al_name = format!("{name} alarms");
    if !g.alarms_enabled || g.alarms.is_empty() {
        checks.push(Check::warn(
            al_name,
            "the group watches no alarm: CodeDeploy itself will not stop a release that answers 5xx",
            "add the 5xx alarm to the group's alarm configuration and enable it",
        ));
    } else {
        checks.push(Check::ok(al_name, g.alarms.join(", ")));
    }
    checks
}

/// All at once with no termination wait: traffic moves in one step and blue is gone
/// at once, so a release that fails after the switch "succeeds" with nothing to roll
/// back to.
pub fn deployment_config(
    name: &str,
    p: &Probe<TrafficRouting>,
    termination_wait_minutes: Option<i32>,
) -> Check {
    let check = format!("deployment configuration {name}");
    if let Some(c) = unreadable(&check, p) {
        return c;
    }
    match p {
        Probe::Found(TrafficRouting::AllAtOnce) if termination_wait_minutes == Some(0) => {
            Check::warn(
                check,
                "all traffic shifts at once and the group terminates blue without waiting: a bad release 'succeeds' before any alarm can fire, and there is nothing left to roll back to",
                "use a linear or canary configuration (e.g. CodeDeployDefault.ECSLinear10PercentEvery1Minutes), or set a termination wait on the group (terminate_blue_instances_on_deployment_success wait_time_in_minutes ≥ 5)",
            )
        }
        Probe::Found(r) => Check::ok(
            check,
            match r {
                TrafficRouting::AllAtOnce => "all at once".to_owned(),
                TrafficRouting::Linear {
                    percent,
                    interval_minutes,
                } => format!("linear {percent} % every {interval_minutes} min"),
                TrafficRouting::Canary {
                    percent,
                    interval_minutes,
                } => format!("canary {percent} %, the rest after {interval_minutes} min"),
            },
        ),
        _ => Check::fail(
            check,
            "does not exist",
            "use a predefined configuration such as CodeDeployDefault.ECSLinear10PercentEvery1Minutes, or create it",
        ),
    }
}

/// Whether an alarm watches 5xx answers (by its name or metric).
fn is_5xx(a: &AlarmFacts) -> bool {
    let has = |s: &str| s.to_ascii_lowercase().contains("5xx");
    has(&a.name) || a.metric.as_deref().is_some_and(has)
}

pub fn alarms(names: &[String], p: &Probe<Vec<AlarmFacts>>) -> Vec<Check> {
    if names.is_empty() {
        return vec![Check::warn(
            "alarms",
            "no alarm is watched: neither [watch] alarms nor the deployment group names one",
            "set [watch] alarms to the service's 5xx alarm",
        )];
    }
    if let Some(c) = unreadable("alarms", p) {
        return vec![c];
    }
    let found: &[AlarmFacts] = match p {
        Probe::Found(f) => f,
        _ => &[],
    };
    names
        .iter()
        .map(|n| {
            let name = format!("alarm {n}");
            match found.iter().find(|a| &a.name == n) {
                None => Check::fail(
                    name,
                    "does not exist in this account and region",
                    "create the alarm, or remove it from [watch] alarms and the group's alarm configuration",
                ),
                Some(a)
                    if is_5xx(a)
                        && a.metric.is_some()
                        && a.treat_missing_data.as_deref() != Some("notBreaching") =>
                {
                    Check::warn(
                        name,
                        format!(
                            "missing data is treated as {}: a 5xx count is not published while there are no errors, so the alarm sits in INSUFFICIENT_DATA (or breaches) instead of OK",
                            a.treat_missing_data.as_deref().unwrap_or("missing")
                        ),
                        "set TreatMissingData to notBreaching on the alarm",
                    )
                }
                Some(a) if a.state == "ALARM" => Check::warn(
                    name,
                    "exists and is in ALARM now: `deploy` will refuse to start",
                    "find out why it fires before deploying",
                ),
                Some(a) => Check::ok(name, format!("exists ({})", a.state)),
            }
        })
        .collect()
}

pub fn repository(repo: &str, p: &Probe<String>) -> Check {
    let name = format!("ECR repository {repo}");
    if let Some(c) = unreadable(&name, p) {
        return c;
    }
    match p {
        Probe::Found(uri) => Check::ok(name, uri.clone()),
        _ => Check::fail(
            name,
            "does not exist in this account and region",
            "check [image] repository and the region, or create the repository",
        ),
    }
}

pub fn log_group(group: &str, p: &Probe<LogGroupFacts>) -> Check {
    let name = format!("log group {group}");
    if let Some(c) = unreadable(&name, p) {
        return c;
    }
    match p {
        Probe::Found(LogGroupFacts {
            retention_days: Some(d),
        }) => Check::ok(name, format!("exists, retention {d} days")),
        Probe::Found(LogGroupFacts {
            retention_days: None,
        }) => Check::warn(
            name,
            "no retention: logs are kept (and billed) forever",
            "set a retention on the log group (Terraform: retention_in_days)",
        ),
        _ => Check::fail(
            name,
            "does not exist: the tasks cannot start with awslogs, and the report has no logs",
            "create the log group, or fix [report] log_group / the task definition's awslogs-group",
        ),
    }
}

/// Jaeger only enriches the report, so an unreachable one is a warning.
pub fn jaeger(url: &str, answer: &Result<u16, String>) -> Check {
    let name = format!("Jaeger {url}");
    match answer {
        Ok(s) if (200..300).contains(s) => Check::ok(name, "the query API answers"),
        Ok(s) => Check::warn(
            name,
            format!("GET /api/services answered HTTP {s}"),
            "point [report] jaeger_url at Jaeger's query API (port 16686), not the UI or a collector",
        ),
        Err(e) => Check::warn(
            name,
            format!("not reachable ({e}); the rollback report will have no traces"),
            "check [report] jaeger_url and that this agent can reach it",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn group_ok() -> DeploymentGroup {
        DeploymentGroup {
            application: "app".into(),
            name: "grp".into(),
            compute_platform: Some("ECS".into()),
            blue_green: true,
            with_traffic_control: true,
            services: vec![("c".into(), "web".into())],
            alarms_enabled: true,
            alarms: vec!["web-5xx".into()],
            auto_rollback_enabled: true,
            auto_rollback_events: vec![
                "DEPLOYMENT_FAILURE".into(),
                "DEPLOYMENT_STOP_ON_ALARM".into(),
            ],
            termination_wait_minutes: Some(5),
            ..Default::default()
        }
    }

    fn statuses(checks: &[Check]) -> Vec<Status> {
        checks.iter().map(|c| c.status).collect()
    }

    #[test]
    fn denied_read_names_the_action_and_the_fix() {
        let c = cluster(
            "prod",
            &Probe::Denied {
                action: "ecs:DescribeClusters".into(),
                message: "User: x is not authorized".into(),
            },
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("access denied for ecs:DescribeClusters"),
            "{c:?}"
        );
        assert_eq!(
            c.fix,
            "grant ecs:DescribeClusters to the role or user shipwatch runs as"
        );
    }

    #[test]
    fn service_not_on_code_deploy_fails() {
        let f = ServiceFacts {
            status: "ACTIVE".into(),
            controller: "ECS".into(),
            task_definition: "arn:td/web:1".into(),
        };
        let checks = service("c", "web", &Probe::Found(f));
        assert_eq!(statuses(&checks), [Status::Ok, Status::Fail]);
        assert!(checks[1].detail.contains("ECS controller"));
        assert!(checks[1].fix.contains("CODE_DEPLOY"));
        let missing = service("c", "web", &Probe::Missing);
        assert_eq!(statuses(&missing), [Status::Fail]);
    }

    #[test]
    fn healthy_group_passes() {
        let checks = group(
            "app",
            "grp",
            Some("c"),
            Some("web"),
            &Probe::Found(group_ok()),
        );
        assert_eq!(statuses(&checks), [Status::Ok; 3]);
    }

    #[test]
    fn group_without_auto_rollback_fails_and_without_stop_on_alarm_warns() {
        let mut g = group_ok();
        g.auto_rollback_enabled = false;
        let checks = group("app", "grp", None, None, &Probe::Found(g.clone()));
        assert_eq!(checks[1].status, Status::Fail);
        assert!(checks[1].detail.contains("auto-rollback is off"));
        g.auto_rollback_enabled = true;
        g.auto_rollback_events = vec!["DEPLOYMENT_FAILURE".into()];
        let checks = group("app", "grp", None, None, &Probe::Found(g));
        assert_eq!(checks[1].status, Status::Warn);
        assert!(checks[1].detail.contains("DEPLOYMENT_STOP_ON_ALARM"));
    }

    #[test]
    fn group_of_another_service_fails() {
        let checks = group(
            "app",
            "grp",
            Some("c"),
            Some("api"),
            &Probe::Found(group_ok()),
        );
        assert_eq!(checks[0].status, Status::Fail);
        assert!(
            checks[0].detail.contains("c/web, not c/api"),
            "{:?}",
            checks[0]
        );
    }

    #[test]
    fn all_at_once_without_termination_wait_warns() {
        let p = Probe::Found(TrafficRouting::AllAtOnce);
        assert_eq!(deployment_config("x", &p, Some(0)).status, Status::Warn);
        assert_eq!(deployment_config("x", &p, Some(5)).status, Status::Ok);
        let linear = Probe::Found(TrafficRouting::Linear {
            percent: 10,
            interval_minutes: 1,
        });
        assert_eq!(deployment_config("x", &linear, Some(0)).status, Status::Ok);
        assert_eq!(
            deployment_config("x", &Probe::Missing, None).status,
            Status::Fail
        );
    }

    fn alarm(name: &str, treat: Option<&str>) -> AlarmFacts {
        AlarmFacts {
            name: name.into(),
            state: "OK".into(),
            metric: Some("HTTPCode_Target_5XX_Count".into()),
            treat_missing_data: treat.map(str::to_owned),
        }
    }

    #[test]
    fn missing_alarm_fails_and_5xx_alarm_breaching_on_missing_data_warns() {
        let names = vec!["web-5xx".to_owned(), "gone".to_owned()];
        let checks = alarms(
            &names,
            &Probe::Found(vec![alarm("web-5xx", Some("notBreaching"))]),
        );
        assert_eq!(statuses(&checks), [Status::Ok, Status::Fail]);
        assert_eq!(checks[1].name, "alarm gone");
        let checks = alarms(&names[..1], &Probe::Found(vec![alarm("web-5xx", None)]));
        assert_eq!(checks[0].status, Status::Warn);
        assert!(checks[0].detail.contains("treated as missing"));
        assert_eq!(alarms(&[], &Probe::Found(vec![]))[0].status, Status::Warn);
    }

    #[test]
    fn log_group_without_retention_warns_and_missing_fails() {
        let ok = log_group(
            "/ecs/web",
            &Probe::Found(LogGroupFacts {
                retention_days: Some(14),
            }),
        );
        assert_eq!(ok.status, Status::Ok);
        let forever = log_group(
            "/ecs/web",
            &Probe::Found(LogGroupFacts {
                retention_days: None,
            }),
        );
        assert_eq!(forever.status, Status::Warn);
        assert_eq!(log_group("/ecs/web", &Probe::Missing).status, Status::Fail);
    }

    #[test]
    fn task_definition_without_awslogs_warns() {
        use crate::aws::probe::ContainerLogging;
        let td = TaskDefinitionFacts {
            name: "web:3".into(),
            containers: vec![
                ContainerLogging {
                    name: "web".into(),
                    log_driver: Some("awslogs".into()),
                    awslogs_group: Some("/ecs/web".into()),
                },
                ContainerLogging {
                    name: "sidecar".into(),
                    log_driver: None,
                    awslogs_group: None,
                },
            ],
        };
        let checks = task_definition(
            "arn:aws:ecs:r:1:task-definition/web:3",
            Some("web"),
            &Probe::Found(td.clone()),
        );
        assert_eq!(statuses(&checks), [Status::Warn]);
        assert!(checks[0].detail.contains("sidecar"));
        assert_eq!(checks[0].name, "task definition web:3");
        assert_eq!(awslogs_group(&td, Some("web")).as_deref(), Some("/ecs/web"));
        let checks = task_definition("web:3", Some("api"), &Probe::Found(td));
        assert_eq!(checks[0].status, Status::Fail);
    }

    #[test]
    fn credentials_name_the_source_and_never_a_key() {
        let c = credentials(&Ok(CredentialFacts {
            provider: "ProfileFile".into(),
            profile: Some("prod-deployer".into()),
            expires: None,
        }));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("profile `prod-deployer`"), "{c:?}");
        let c = credentials(&Err("no AWS credentials were found".into()));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.contains("AWS_PROFILE"));
    }

    #[test]
    fn unset_setting_names_key_and_flag() {
        let c = not_set("ECR repository", ("image.repository", "--repository"));
        assert_eq!(c.detail, "image.repository is not set");
        assert!(c.fix.contains("[image]") && c.fix.contains("--repository"));
    }

    #[test]
    fn jaeger_unreachable_is_a_warning() {
        assert_eq!(jaeger("http://j", &Ok(200)).status, Status::Ok);
        assert_eq!(
            jaeger("http://j", &Err("refused".into())).status,
            Status::Warn
        );
    }
}
