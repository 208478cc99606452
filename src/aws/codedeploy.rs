//! CodeDeploy: deployment groups, deployments, their ECS target, stop, configs.

use super::model::*;
use super::{Clients, sdk_error, to_chrono};
use crate::error::{Error, Result};
use aws_sdk_codedeploy::types::{
    AppSpecContent, DeploymentStatus as SdkStatus, RevisionLocation, RevisionLocationType,
};

pub async fn get_group(c: &Clients, application: &str, group: &str) -> Result<DeploymentGroup> {
    let out = c
        .codedeploy
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(group)
        .send()
        .await
        .map_err(|e| match super::error_code(&e) {
            Some("ApplicationDoesNotExistException") => Error::Precondition(format!(
                "CodeDeploy application `{application}` does not exist in region {}. Check [codedeploy] application.",
                c.region
            )),
            Some("DeploymentGroupDoesNotExistException") => Error::Precondition(format!(
                "CodeDeploy deployment group `{group}` does not exist in application `{application}`. Check [codedeploy] deployment_group."
            )),
            _ => sdk_error("codedeploy:GetDeploymentGroup", e),
        })?;
    let g = out.deployment_group_info().ok_or_else(|| {
        Error::Precondition(format!(
            "deployment group `{group}` returned no information"
        ))
    })?;
    Ok(group_from_info(application, group, g))
}

/// The domain view of a GetDeploymentGroup answer (shared by preflight and `doctor`).
pub fn group_from_info(
    application: &str,
    group: &str,
    g: &aws_sdk_codedeploy::types::DeploymentGroupInfo,
) -> DeploymentGroup {
    let style = g.deployment_style();
    let bg = g.blue_green_deployment_configuration();
    let alarms = g.alarm_configuration();
    let rollback = g.auto_rollback_configuration();
    DeploymentGroup {
        application: application.to_owned(),
        name: group.to_owned(),
        compute_platform: g.compute_platform().map(|p| p.as_str().to_owned()),
        blue_green: style
            .and_then(|s| s.deployment_type())
            .map(|t| t.as_str() == "BLUE_GREEN")
            .unwrap_or(false),
        with_traffic_control: style
            .and_then(|s| s.deployment_option())
            .map(|t| t.as_str() == "WITH_TRAFFIC_CONTROL")
            .unwrap_or(false),
        services: g
            .ecs_services()
            .iter()
            .map(|s| {
                (
                    s.cluster_name().unwrap_or_default().to_owned(),
                    s.service_name().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        config_name: g.deployment_config_name().map(str::to_owned),
        alarms_enabled: alarms.map(|a| a.enabled()).unwrap_or(false),
        alarms: alarms
            .map(|a| {
                a.alarms()
                    .iter()
                    .filter_map(|x| x.name().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        auto_rollback_enabled: rollback.map(|r| r.enabled()).unwrap_or(false),
        auto_rollback_events: rollback
            .map(|r| r.events().iter().map(|e| e.as_str().to_owned()).collect())
            .unwrap_or_default(),
        ready_wait_minutes: bg
            .and_then(|b| b.deployment_ready_option())
            .map(|d| d.wait_time_in_minutes()),
        termination_wait_minutes: bg
            .and_then(|b| b.terminate_blue_instances_on_deployment_success())
            .map(|t| t.termination_wait_time_in_minutes()),
        target_groups: g
            .load_balancer_info()
            .map(|l| {
                l.target_group_pair_info_list()
                    .iter()
                    .flat_map(|p| {
                        p.target_groups()
                            .iter()
                            .filter_map(|t| t.name().map(str::to_owned))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Traffic routing of a deployment configuration (predefined or custom).
pub async fn get_config(c: &Clients, name: &str) -> Result<TrafficRouting> {
    let out = c
        .codedeploy
        .get_deployment_config()
        .deployment_config_name(name)
        .send()
        .await
        .map_err(|e| match super::error_code(&e) {
            Some("DeploymentConfigDoesNotExistException") | Some("InvalidDeploymentConfigNameException") => Error::Usage(format!(
                "deployment configuration `{name}` does not exist. Use a predefined one such as CodeDeployDefault.ECSLinear10PercentEvery1Minutes or create it with CreateDeploymentConfig."
            )),
            _ => sdk_error("codedeploy:GetDeploymentConfig", e),
        })?;
    let routing = out
        .deployment_config_info()
        .and_then(|i| i.traffic_routing_config());
    Ok(match routing {
        Some(r) => match r.r#type().map(|t| t.as_str()) {
            Some("TimeBasedLinear") => {
                let l = r.time_based_linear();
                TrafficRouting::Linear {
                    percent: l.map(|l| l.linear_percentage()).unwrap_or(10),
                    interval_minutes: l.map(|l| l.linear_interval()).unwrap_or(1),
                }
            }
            Some("TimeBasedCanary") => {
                let l = r.time_based_canary();
                TrafficRouting::Canary {
                    percent: l.map(|l| l.canary_percentage()).unwrap_or(10),
                    interval_minutes: l.map(|l| l.canary_interval()).unwrap_or(5),
                }
            }
            _ => TrafficRouting::AllAtOnce,
        },
        None => predefined_routing(name).unwrap_or(TrafficRouting::AllAtOnce),
    })
}

/// Routing of the predefined ECS configurations, for when the API omits it.
pub fn predefined_routing(name: &str) -> Option<TrafficRouting> {
    Some(match name {
        "CodeDeployDefault.ECSAllAtOnce" => TrafficRouting::AllAtOnce,
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes" => TrafficRouting::Linear {
            percent: 10,
            interval_minutes: 1,
        },
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes" => TrafficRouting::Linear {
            percent: 10,
            interval_minutes: 3,
        },
        "CodeDeployDefault.ECSCanary10Percent5Minutes" => TrafficRouting::Canary {
            percent: 10,
            interval_minutes: 5,
        },
        "CodeDeployDefault.ECSCanary10Percent15Minutes" => TrafficRouting::Canary {
            percent: 10,
            interval_minutes: 15,
        },
        _ => return None,
    })
}

pub struct NewDeployment<'a> {
    pub application: &'a str,
    pub group: &'a str,
    pub config: Option<&'a str>,
    pub description: &'a str,
    pub appspec: &'a str,
}

pub enum CreateOutcome {
    Created(String),
    /// Another deployment is active in the group (DeploymentLimitExceededException).
    LimitExceeded(String),
}

pub async fn create_deployment(c: &Clients, d: &NewDeployment<'_>) -> Result<CreateOutcome> {
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::AppSpecContent)
        .app_spec_content(
            AppSpecContent::builder()
                .content(d.appspec)
                .sha256(sha256_hex(d.appspec))
                .build(),
        )
        .build();
    let res = c
        .codedeploy
        .create_deployment()
        .application_name(d.application)
        .deployment_group_name(d.group)
        .set_deployment_config_name(d.config.map(str::to_owned))
        .description(d.description)
        .revision(revision)
        .send()
        .await;
    match res {
        Ok(out) => Ok(CreateOutcome::Created(
            out.deployment_id().unwrap_or_default().to_owned(),
        )),
        Err(e) => match super::error_code(&e) {
            Some("DeploymentLimitExceededException") => Ok(CreateOutcome::LimitExceeded(
                e.as_service_error()
                    .and_then(|s| aws_sdk_codedeploy::error::ProvideErrorMetadata::message(s))
                    .unwrap_or_default()
                    .to_owned(),
            )),
            Some("InvalidRevisionException")
            | Some("InvalidDeploymentConfigNameException")
            | Some("DeploymentConfigDoesNotExistException") => Err(Error::Precondition(format!(
                "CodeDeploy rejected the deployment: {}",
                sdk_error("codedeploy:CreateDeployment", e)
            ))),
            _ => Err(sdk_error("codedeploy:CreateDeployment", e)),
        },
    }
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn get_deployment(c: &Clients, id: &str) -> Result<Deployment> {
    let out = c
        .codedeploy
        .get_deployment()
        .deployment_id(id)
        .send()
        .await
        .map_err(|e| match super::error_code(&e) {
            Some("DeploymentDoesNotExistException") | Some("InvalidDeploymentIdException") => {
                Error::Usage(format!(
                    "deployment `{id}` does not exist in region {}; check the id and the region.",
                    c.region
                ))
            }
            _ => sdk_error("codedeploy:GetDeployment", e),
        })?;
    let d = out.deployment_info().ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "GetDeployment returned no deploymentInfo for {id}"
        ))
    })?;
    let rb = d.rollback_info();
    Ok(Deployment {
        id: d.deployment_id().unwrap_or(id).to_owned(),
        status: DeploymentStatus::parse(d.status().map(SdkStatus::as_str).unwrap_or("Unknown")),
        application: d.application_name().unwrap_or_default().to_owned(),
        group: d.deployment_group_name().unwrap_or_default().to_owned(),
        config_name: d.deployment_config_name().map(str::to_owned),
        description: d.description().map(str::to_owned),
        creator: d.creator().map(|c| c.as_str().to_owned()),
        error_code: d
            .error_information()
            .and_then(|e| e.code())
            .map(|c| c.as_str().to_owned()),
        error_message: d
            .error_information()
            .and_then(|e| e.message())
            .map(str::to_owned),
        rollback: RollbackInfo {
            rollback_deployment_id: rb
                .and_then(|r| r.rollback_deployment_id())
                .map(str::to_owned),
            rollback_triggering_deployment_id: rb
                .and_then(|r| r.rollback_triggering_deployment_id())
                .map(str::to_owned),
            message: rb.and_then(|r| r.rollback_message()).map(str::to_owned),
        },
        create_time: d.create_time().map(to_chrono),
        start_time: d.start_time().map(to_chrono),
        complete_time: d.complete_time().map(to_chrono),
    })
}

/// The SDK view of a deployment's ECS target, for the mappers here and in `evidence`:
/// ListDeploymentTargets (only while `known` is empty), then GetDeploymentTarget.
pub(super) async fn ecs_target(
    c: &Clients,
    id: &str,
    known: &mut Option<String>,
) -> Result<Option<aws_sdk_codedeploy::types::EcsTarget>> {
    if known.is_none() {
        let ids = c
            .codedeploy
            .list_deployment_targets()
            .deployment_id(id)
            .send()
            .await
            .map_err(|e| sdk_error("codedeploy:ListDeploymentTargets", e))?;
        *known = ids.target_ids().first().cloned();
    }
    let Some(target_id) = known.as_deref() else {
        return Ok(None);
    };
    let out = c
        .codedeploy
        .get_deployment_target()
        .deployment_id(id)
        .target_id(target_id)
        .send()
        .await
        .map_err(|e| sdk_error("codedeploy:GetDeploymentTarget", e))?;
    Ok(out
        .deployment_target()
        .and_then(|t| t.ecs_target())
        .cloned())
}

/// The deployment's ECS target (an ECS deployment has exactly one). `None` before
/// CodeDeploy has created it. `known` caches the target id between polls: it never
/// changes within a deployment, and listing it again would double the calls.
pub async fn get_target(
    c: &Clients,
    id: &str,
    known: &mut Option<String>,
) -> Result<Option<Target>> {
    let Some(t) = ecs_target(c, id, known).await? else {
        return Ok(None);
    };
    Ok(Some(Target {
        status: t
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        lifecycle: t
            .lifecycle_events()
            .iter()
            .map(|e| LifecycleEvent {
                name: e.lifecycle_event_name().unwrap_or_default().to_owned(),
                status: e
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                start: e.start_time().map(to_chrono),
                end: e.end_time().map(to_chrono),
                diagnostics: e.diagnostics().map(|d| {
                    [
                        d.error_code().map(|c| c.as_str().to_owned()),
                        d.message().map(str::to_owned),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ")
                }),
            })
            .collect(),
        task_sets: t
            .task_sets_info()
            .iter()
            .map(|s| TargetTaskSet {
                id: s.identifer().unwrap_or_default().to_owned(),
                label: s
                    .task_set_label()
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default(),
                traffic_weight: s.traffic_weight(),
                desired: s.desired_count(),
                running: s.running_count(),
                pending: s.pending_count(),
                status: s.status().unwrap_or_default().to_owned(),
                target_group: s.target_group().and_then(|g| g.name()).map(str::to_owned),
            })
            .collect(),
    }))
}

/// Active deployment ids in the group.
pub async fn list_active(c: &Clients, application: &str, group: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut pages = c
        .codedeploy
        .list_deployments()
        .application_name(application)
        .deployment_group_name(group)
        .include_only_statuses(SdkStatus::Created)
        .include_only_statuses(SdkStatus::Queued)
        .include_only_statuses(SdkStatus::InProgress)
        .include_only_statuses(SdkStatus::Baking)
        .include_only_statuses(SdkStatus::Ready)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("codedeploy:ListDeployments", e))?;
        ids.extend(page.deployments().iter().cloned());
    }
    Ok(ids)
}

/// The group's deployment created since `since` whose description contains `needle`
/// (newest first): what an interrupted CreateDeployment left behind, if anything.
pub async fn find_created(
    c: &Clients,
    application: &str,
    group: &str,
    since: chrono::DateTime<chrono::Utc>,
    needle: &str,
) -> Result<Option<Deployment>> {
    let range = aws_sdk_codedeploy::types::TimeRange::builder()
        .start(aws_smithy_types::DateTime::from_secs(since.timestamp()))
        .build();
    let mut ids = Vec::new();
    let mut pages = c
        .codedeploy
        .list_deployments()
        .application_name(application)
        .deployment_group_name(group)
        .create_time_range(range)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("codedeploy:ListDeployments", e))?;
        ids.extend(page.deployments().iter().cloned());
    }
    for id in ids {
        let d = get_deployment(c, &id).await?;
        if d.description.as_deref().is_some_and(|t| t.contains(needle)) {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

pub enum StopOutcome {
    Requested { status: String, message: String },
    AlreadyCompleted(String),
}

pub async fn stop(c: &Clients, id: &str, rollback: bool) -> Result<StopOutcome> {
    match c
        .codedeploy
        .stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(rollback)
        .send()
        .await
    {
        Ok(out) => Ok(StopOutcome::Requested {
            status: out
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            message: out.status_message().unwrap_or_default().to_owned(),
        }),
        Err(e) => match super::error_code(&e) {
            Some("DeploymentAlreadyCompletedException") => Ok(StopOutcome::AlreadyCompleted(
                e.as_service_error()
                    .and_then(|s| aws_sdk_codedeploy::error::ProvideErrorMetadata::message(s))
                    .unwrap_or_default()
                    .to_owned(),
            )),
            _ => Err(sdk_error("codedeploy:StopDeployment", e)),
        },
    }
} // The description is the one place a deployment carries its release: `description`
// writes it, `sha_of` reads it back (a retried build attaches to its own deployment,
// and the report names the release).

/// Reads the sha a deployment description carries (`sha=<hex>`).
pub fn sha_of(description: Option<&str>) -> Option<String> {
    let re = regex::Regex::new(r"\bsha=([0-9a-f]{7,40})\b").expect("static regex");
    re.captures(description?).map(|c| c[1].to_owned())
}

/// The description CodeDeploy shows: sha, build URL, hotfix reason and user (≤ 256 chars).
pub fn description(
    sha: Option<&str>,
    td_arn: &str,
    build_url: Option<&str>,
    hotfix: Option<(&str, &str)>,
) -> String {
    let family_rev = td_arn.rsplit('/').next().unwrap_or(td_arn);
    let mut d = String::from("shipwatch");
    if let Some(s) = sha {
        d.push_str(&format!(" sha={s}"));
    }
    d.push_str(&format!(" td={family_rev}"));
    if let Some((user, reason)) = hotfix {
        d.push_str(&format!(" HOTFIX by {user}: {reason}"));
    }
    if let Some(u) = build_url {
        d.push_str(&format!(" build={u}"));
    }
    if d.len() > 256 {
        let mut cut = 253;
        while !d.is_char_boundary(cut) {
            cut -= 1;
        }
        d.truncate(cut);
        d.push_str("...");
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_carries_sha_and_is_bounded() {
        let d = description(
            Some("1a2b3c4"),
            "arn:aws:ecs:r:1:task-definition/web:42",
            Some("https://ci/job/1/"),
            Some(("alice", "INC-1")),
        );
        assert_eq!(
            d,
            "shipwatch sha=1a2b3c4 td=web:42 HOTFIX by alice: INC-1 build=https://ci/job/1/"
        );
        assert_eq!(sha_of(Some(&d)).as_deref(), Some("1a2b3c4"));
        let long = description(Some("1a2b3c4"), "td", None, Some(("bob", &"x".repeat(400))));
        assert!(long.len() <= 256);
        assert_eq!(sha_of(Some("deployed by hand")), None);
    }
}
