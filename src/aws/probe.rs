//! Read-only probes for `shipwatch doctor`: each configured resource is read once with a
//! Describe/Get/List call, and the answer is one of found, does not exist, access denied
//! (naming the IAM action) or another failure in words. Doctor reads everything even when
//! one read fails, so unlike the deploy path's calls these never turn "missing" into an
//! error that stops the run.

use super::model::{DeploymentGroup, TrafficRouting};
use super::{Clients, Connection, failure, sdk_error};
use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;

/// What one read found.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe<T> {
    Found(T),
    /// AWS said the resource does not exist (its NotFound-style error, or an empty answer).
    Missing,
    /// The caller's policy lacks `action` (e.g. `ecs:DescribeServices`).
    Denied {
        action: String,
        message: String,
    },
    /// Anything else, as the one paragraph every AWS error becomes.
    Failed(String),
}

/// Sorts an SDK error into missing (one of `missing_codes`), denied, or failed.
fn classify<T, E>(
    operation: &str,
    err: SdkError<E, HttpResponse>,
    missing_codes: &[&str],
) -> Probe<T>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(se) = &err {
        let e = se.err();
        if e.code().is_some_and(|c| missing_codes.contains(&c)) {
            return Probe::Missing;
        }
        let cause = failure::service_cause(
            operation,
            e.code(),
            e.message(),
            se.raw().status().as_u16(),
            1,
        );
        if let failure::Cause::AccessDenied { action, message } = cause {
            return Probe::Denied { action, message };
        }
    }
    Probe::Failed(sdk_error(operation, err).to_string())
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterFacts {
    pub status: String,
}

pub async fn cluster(c: &Clients, cluster: &str) -> Probe<ClusterFacts> {
    match c.ecs.describe_clusters().clusters(cluster).send().await {
        Ok(out) => match out.clusters().first() {
            Some(cl) => Probe::Found(ClusterFacts {
                status: cl.status().unwrap_or_default().to_owned(),
            }),
            None => Probe::Missing,
        },
        Err(e) => classify("ecs:DescribeClusters", e, &["ClusterNotFoundException"]),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFacts {
    pub status: String,
    /// ECS, CODE_DEPLOY or EXTERNAL (ECS when AWS leaves it out).
    pub controller: String,
    pub task_definition: String,
}

pub async fn service(c: &Clients, cluster: &str, service: &str) -> Probe<ServiceFacts> {
    match c
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
    {
        Ok(out) => match out
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
        {
            Some(s) => Probe::Found(ServiceFacts {
                status: s.status().unwrap_or_default().to_owned(),
                controller: s
                    .deployment_controller()
                    .map(|d| d.r#type().as_str().to_owned())
                    .unwrap_or_else(|| "ECS".into()),
                task_definition: s.task_definition().unwrap_or_default().to_owned(),
            }),
            None => Probe::Missing,
        },
        Err(e) => classify("ecs:DescribeServices", e, &["ClusterNotFoundException"]),
    }
}

/// One container of a task definition and where its logs go.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerLogging {
    pub name: String,
    pub log_driver: Option<String>,
    pub awslogs_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinitionFacts {
    /// `family:revision`.
    pub name: String,
    pub containers: Vec<ContainerLogging>,
}

pub async fn task_definition(c: &Clients, id: &str) -> Probe<TaskDefinitionFacts> {
    match c
        .ecs
        .describe_task_definition()
        .task_definition(id)
        .send()
        .await
    {
        Ok(out) => match out.task_definition() {
            Some(td) => Probe::Found(TaskDefinitionFacts {
                name: format!("{}:{}", td.family().unwrap_or_default(), td.revision()),
                containers: td
                    .container_definitions()
                    .iter()
                    .map(|cd| {
                        let lc = cd.log_configuration();
                        ContainerLogging {
                            name: cd.name().unwrap_or_default().to_owned(),
                            log_driver: lc.map(|l| l.log_driver().as_str().to_owned()),
                            awslogs_group: lc
                                .and_then(|l| l.options())
                                .and_then(|o| o.get("awslogs-group"))
                                .cloned(),
                        }
                    })
                    .collect(),
            }),
            None => Probe::Missing,
        },
        // ECS answers ClientException for an unknown task definition.
        Err(e) => classify("ecs:DescribeTaskDefinition", e, &["ClientException"]),
    }
}

pub async fn application(c: &Clients, application: &str) -> Probe<()> {
    match c
        .codedeploy
        .get_application()
        .application_name(application)
        .send()
        .await
    {
        Ok(_) => Probe::Found(()),
        Err(e) => classify(
            "codedeploy:GetApplication",
            e,
            &["ApplicationDoesNotExistException"],
        ),
    }
}

pub async fn deployment_group(
    c: &Clients,
    application: &str,
    group: &str,
) -> Probe<DeploymentGroup> {
    match c
        .codedeploy
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(group)
        .send()
        .await
    {
        Ok(out) => match out.deployment_group_info() {
            Some(g) => Probe::Found(super::codedeploy::group_from_info(application, group, g)),
            None => Probe::Missing,
        },
        Err(e) => classify(
            "codedeploy:GetDeploymentGroup",
            e,
            &[
                "DeploymentGroupDoesNotExistException",
                "ApplicationDoesNotExistException",
            ],
        ),
    }
}

/// The traffic routing of a deployment configuration: the predefined ones are known
/// without a call.
pub async fn deployment_config(c: &Clients, name: &str) -> Probe<TrafficRouting> {
    if let Some(r) = super::codedeploy::predefined_routing(name) {
        return Probe::Found(r);
    }
    // A custom configuration: get_config reads it; its "does not exist" is a usage error.
    match super::codedeploy::get_config(c, name).await {
        Ok(r) => Probe::Found(r),
        Err(crate::error::Error::Usage(_)) => Probe::Missing,
        Err(e) => Probe::Failed(e.to_string()),
    }
}

/// What doctor judges of a metric or composite alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmFacts {
    pub name: String,
    pub state: String,
    /// The metric name (none for composite and metric-math alarms).
    pub metric: Option<String>,
    /// breaching, notBreaching, ignore or missing (AWS's default when unset).
    pub treat_missing_data: Option<String>,
}

/// The named alarms that exist; a name missing from the answer does not exist.
pub async fn alarms(c: &Clients, names: &[String]) -> Probe<Vec<AlarmFacts>> {
    let mut found = Vec::new();
    for chunk in names.chunks(100) {
        match c
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
        {
            Ok(out) => {
                found.extend(out.metric_alarms().iter().map(|a| {
                    AlarmFacts {
                        name: a.alarm_name().unwrap_or_default().to_owned(),
                        state: a
                            .state_value()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        metric: a.metric_name().map(str::to_owned),
                        treat_missing_data: a.treat_missing_data().map(str::to_owned),
                    }
                }));
                found.extend(out.composite_alarms().iter().map(|a| {
                    AlarmFacts {
                        name: a.alarm_name().unwrap_or_default().to_owned(),
                        state: a
                            .state_value()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        metric: None,
                        treat_missing_data: None,
                    }
                }));
            }
            Err(e) => return classify("cloudwatch:DescribeAlarms", e, &[]),
        }
    }
    Probe::Found(found)
}

/// The repository URI.
pub async fn repository(c: &Clients, repository: &str) -> Probe<String> {
    match c
        .ecr
        .describe_repositories()
        .repository_names(repository)
        .send()
        .await
    {
        Ok(out) => match out.repositories().first() {
            Some(r) => Probe::Found(r.repository_uri().unwrap_or_default().to_owned()),
            None => Probe::Missing,
        },
        Err(e) => classify(
            "ecr:DescribeRepositories",
            e,
            &["RepositoryNotFoundException"],
        ),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogGroupFacts {
    /// None: events are kept forever.
    pub retention_days: Option<i32>,
}

/// DescribeLogGroups by prefix, then the exact name (the API has no exact lookup).
pub async fn log_group(c: &Clients, name: &str) -> Probe<LogGroupFacts> {
    let mut token = None;
    loop {
        match c
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(g) = out
                    .log_groups()
                    .iter()
                    .find(|g| g.log_group_name() == Some(name))
                {
                    return Probe::Found(LogGroupFacts {
                        retention_days: g.retention_in_days(),
                    });
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => return Probe::Missing,
                }
            }
            Err(e) => {
                return classify("logs:DescribeLogGroups", e, &["ResourceNotFoundException"]);
            }
        }
    }
}

/// Where the credentials came from, never what they are.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialFacts {
    /// The SDK's provider name: EnvironmentVariable, ProfileFile, SSO, WebIdentityToken,
    /// EcsContainer, IMDSv2, …
    pub provider: String,
    /// The profile in use (flag, else AWS_PROFILE), if any.
    pub profile: Option<String>,
    /// Temporary credentials expire; long-lived keys do not.
    pub expires: Option<std::time::SystemTime>,
}

/// Resolves credentials through the same provider chain every command uses.
/// `Err` is the chain's failure in words; no credential value is ever returned.
pub async fn credentials(conn: &Connection) -> Result<CredentialFacts, String> {
    use aws_sdk_ecs::config::ProvideCredentials;
    let conf = super::sdk_config(conn).await;
    let Some(provider) = conf.credentials_provider() else {
        return Err("no credentials provider is configured".into());
    };
    // IMDS on a machine that is not EC2 can take a while to give up.
    let resolved =
        tokio::time::timeout(Duration::from_secs(20), provider.provide_credentials()).await;
    let profile = conn
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    match resolved {
        Ok(Ok(creds)) => Ok(CredentialFacts {
            provider: provider_name(&format!("{creds:?}")),
            profile,
            expires: creds.expiry(),
        }),
        Ok(Err(e)) => {
            let chain = failure::chain(&e);
            tracing::info!("credentials: {}", chain.join(": "));
            // The same reading of the chain's texts as every other command's errors.
            let cause = failure::transport_cause(&chain, None, false, "", Duration::ZERO);
            Err(if cause == failure::Cause::NoCredentials {
                "no AWS credentials were found".into()
            } else {
                format!("the credentials could not be loaded: {e}")
            })
        }
        Err(_) => Err("resolving the credentials took more than 20 s".into()),
    }
}

/// The provider name out of `Credentials`' Debug form, which is the only place the SDK
/// exposes it; the Debug form redacts the secret, and only the name is kept.
fn provider_name(debug: &str) -> String {
    debug
        .split_once("provider_name: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name.to_owned())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_name_is_read_without_the_keys() {
        let creds = aws_sdk_ecs::config::Credentials::new(
            "AKIDEXAMPLE",
            "SECRET",
            None,
            None,
            "EnvironmentVariable",
        );
        let debug = format!("{creds:?}");
        assert_eq!(provider_name(&debug), "EnvironmentVariable");
        assert_eq!(provider_name("Credentials { }"), "unknown");
    }
}
