//! ECS: services, task definitions (as AWS JSON, through the SDK's own schema codec).

use super::model::{Network, Service, TaskDefinition, TaskSet};
use super::{Clients, sdk_error};
use crate::error::{Error, Result};
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_smithy_json::codec::{JsonCodec, JsonCodecSettings};
use aws_smithy_schema::codec::Codec;
use aws_smithy_schema::serde::ShapeSerializer;

/// Keys DescribeTaskDefinition returns that RegisterTaskDefinition does not accept.
pub const OUTPUT_ONLY_KEYS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

fn codec() -> JsonCodec {
    // AWS JSON 1.1 member names (camelCase, no jsonName traits), as in the console's JSON view.
    JsonCodec::new(JsonCodecSettings::builder().use_json_name(false).build())
}

/// Parses a task definition in AWS JSON into the RegisterTaskDefinition input. Keys the
/// model does not know are an error (the SDK would silently drop them).
pub fn register_input_from_json(
    json: &serde_json::Value,
) -> std::result::Result<RegisterTaskDefinitionInput, String> {
    let bytes = serde_json::to_vec(json).map_err(|e| e.to_string())?;
    let codec = codec();
    let mut de = codec.create_deserializer(&bytes);
    let input = RegisterTaskDefinitionInput::deserialize(&mut de)
        .map_err(|e| format!("not a valid task definition: {e}"))?;
    let mut ser = codec.create_serializer();
    ser.write_struct(RegisterTaskDefinitionInput::SCHEMA, &input)
        .map_err(|e| e.to_string())?;
    let back: serde_json::Value =
        serde_json::from_slice(&ser.finish()).map_err(|e| e.to_string())?;
    if let Some(key) = first_dropped_key(json, &back, "") {
        return Err(format!(
            "`{key}` is not a task-definition field (check the spelling against RegisterTaskDefinition)"
        ));
    }
    Ok(input)
}

/// The first key path in `orig` that did not survive the round trip through the model.
fn first_dropped_key(
    orig: &serde_json::Value,
    back: &serde_json::Value,
    path: &str,
) -> Option<String> {
    use serde_json::Value;
    match (orig, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (k, v) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    None if v.is_null() => {}
                    None => return Some(p),
                    Some(bv) => {
                        if let Some(found) = first_dropped_key(v, bv, &p) {
                            return Some(found);
                        }
                    }
                }
            }
            None
        }
        (Value::Array(o), Value::Array(b)) => o
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (ov, bv))| first_dropped_key(ov, bv, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Canonical AWS JSON of a registered task definition, output-only keys removed, so it
/// compares equal to a render of the same content.
pub fn task_definition_json(td: &aws_sdk_ecs::types::TaskDefinition) -> Result<serde_json::Value> {
    let codec = codec();
    let mut ser = codec.create_serializer();
    ser.write_struct(aws_sdk_ecs::types::TaskDefinition::SCHEMA, td)
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot serialise task definition: {e}")))?;
    let mut v: serde_json::Value = serde_json::from_slice(&ser.finish())
        .map_err(|e| Error::Internal(anyhow::anyhow!("task definition JSON: {e}")))?;
    if let Some(o) = v.as_object_mut() {
        for k in OUTPUT_ONLY_KEYS {
            o.remove(*k);
        }
    }
    Ok(v)
}

/// Normalises a render the same way a registered definition is normalised.
pub fn canonical(json: &serde_json::Value) -> std::result::Result<serde_json::Value, String> {
    let input = register_input_from_json(json)?;
    let codec = codec();
    let mut ser = codec.create_serializer();
    ser.write_struct(RegisterTaskDefinitionInput::SCHEMA, &input)
        .map_err(|e| e.to_string())?;
    let mut v: serde_json::Value =
        serde_json::from_slice(&ser.finish()).map_err(|e| e.to_string())?;
    // Tags are returned separately by DescribeTaskDefinition; they are compared apart.
    if let Some(o) = v.as_object_mut() {
        o.remove("tags");
    }
    Ok(v)
}

pub async fn describe_service(c: &Clients, cluster: &str, service: &str) -> Result<Service> {
    let out = c
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| {
            if super::error_code(&e) == Some("ClusterNotFoundException") {
                Error::Precondition(format!("ECS cluster `{cluster}` does not exist in region {}. Check [service] cluster and the region.", c.region))
            } else {
                sdk_error("ecs:DescribeServices", e)
            }
        })?;
    let svc = out
        .services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .ok_or_else(|| Error::Precondition(format!("ECS service `{service}` was not found in cluster `{cluster}` (region {}). Check [service] service/cluster and the region.", c.region)))?;
    let net = svc
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|a| Network {
            subnets: a.subnets().to_vec(),
            security_groups: a.security_groups().to_vec(),
            assign_public_ip: a.assign_public_ip().map(|x| x.as_str().to_owned()),
        });
    Ok(Service {
        arn: svc.service_arn().unwrap_or_default().to_owned(),
        name: svc.service_name().unwrap_or(service).to_owned(),
        cluster: cluster.to_owned(),
        status: svc.status().unwrap_or_default().to_owned(),
        controller: svc
            .deployment_controller()
            .map(|d| d.r#type().as_str().to_owned())
            .unwrap_or_else(|| "ECS".into()),
        task_definition: svc.task_definition().unwrap_or_default().to_owned(),
        desired_count: svc.desired_count(),
        running_count: svc.running_count(),
        platform_version: svc.platform_version().map(str::to_owned),
        network: net,
        task_sets: svc
            .task_sets()
            .iter()
            .map(|t| TaskSet {
                id: t.id().unwrap_or_default().to_owned(),
                status: t.status().unwrap_or_default().to_owned(),
                task_definition: t.task_definition().unwrap_or_default().to_owned(),
                external_id: t.external_id().map(str::to_owned),
            })
            .collect(),
    })
}

/// Describes a task definition by ARN or `family[:revision]`; `None` when it does not exist.
pub async fn describe_task_definition(c: &Clients, id: &str) -> Result<Option<TaskDefinition>> {
    let out = match c
        .ecs
        .describe_task_definition()
        .task_definition(id)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => {
            let code = super::error_code(&e).unwrap_or_default().to_owned();
            if code == "ClientException" || code == "InvalidParameterException" {
                return Ok(None);
            }
            return Err(sdk_error("ecs:DescribeTaskDefinition", e));
        }
    };
    let Some(td) = out.task_definition() else {
        return Ok(None);
    };
    if td.status().map(|s| s.as_str()) == Some("INACTIVE") && !id.contains(':') {
        return Ok(None);
    }
    let mut json = task_definition_json(td)?;
    if !out.tags().is_empty() {
        let tags: Vec<serde_json::Value> = out
            .tags()
            .iter()
            .map(|t| serde_json::json!({"key": t.key().unwrap_or_default(), "value": t.value().unwrap_or_default()}))
            .collect();
        json["tags"] = serde_json::Value::Array(tags);
    }
    Ok(Some(TaskDefinition {
        arn: td.task_definition_arn().unwrap_or_default().to_owned(),
        family: td.family().unwrap_or_default().to_owned(),
        revision: td.revision(),
        json,
    }))
}

/// Registers a task definition given as AWS JSON; returns its ARN.
pub async fn register_task_definition(
    c: &Clients,
    json: &serde_json::Value,
) -> Result<TaskDefinition> {
    let input = register_input_from_json(json).map_err(Error::Usage)?;
    let out = c
        .ecs
        .register_task_definition()
        .set_family(input.family)
        .set_task_role_arn(input.task_role_arn)
        .set_execution_role_arn(input.execution_role_arn)
        .set_network_mode(input.network_mode)
        .set_container_definitions(input.container_definitions)
        .set_volumes(input.volumes)
        .set_placement_constraints(input.placement_constraints)
        .set_requires_compatibilities(input.requires_compatibilities)
        .set_cpu(input.cpu)
        .set_memory(input.memory)
        .set_tags(input.tags)
        .set_pid_mode(input.pid_mode)
        .set_ipc_mode(input.ipc_mode)
        .set_proxy_configuration(input.proxy_configuration)
        .set_ephemeral_storage(input.ephemeral_storage)
        .set_runtime_platform(input.runtime_platform)
        .set_enable_fault_injection(input.enable_fault_injection)
        .send()
        .await
        .map_err(|e| sdk_error("ecs:RegisterTaskDefinition", e))?;
    let td = out.task_definition().ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "RegisterTaskDefinition returned no task definition"
        ))
    })?;
    Ok(TaskDefinition {
        arn: td.task_definition_arn().unwrap_or_default().to_owned(),
        family: td.family().unwrap_or_default().to_owned(),
        revision: td.revision(),
        json: task_definition_json(td)?,
    })
}

/// Deregisters a task-definition revision (it becomes INACTIVE: running tasks keep it,
/// nothing new can use it). Used to take back a revision that was never deployed.
pub async fn deregister_task_definition(c: &Clients, arn: &str) -> Result<()> {
    c.ecs
        .deregister_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| sdk_error("ecs:DeregisterTaskDefinition", e))?;
    Ok(())
}

/// The service's task ARNs, running first, then stopped (ECS keeps stopped tasks visible
/// for about an hour). Running is listed first on purpose: a task stopped between the
/// two lists then shows up in both (once here), never in neither.
pub async fn service_task_arns(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Vec<String>> {
    use aws_sdk_ecs::types::DesiredStatus;
    let mut arns: Vec<String> = Vec::new();
    for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let mut pages = ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(status)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("ecs:ListTasks", e))?;
            for a in page.task_arns() {
                if !arns.contains(a) {
                    arns.push(a.clone());
                }
            }
        }
    }
    Ok(arns)
}

/// DescribeTasks in chunks of 100 (the API's limit), each task mapped by `map`.
pub async fn describe_tasks<T>(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arns: &[String],
    map: impl Fn(&aws_sdk_ecs::types::Task) -> T,
) -> Result<Vec<T>> {
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("ecs:DescribeTasks", e))?;
        tasks.extend(out.tasks().iter().map(&map));
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> serde_json::Value {
        json!({
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{
                "name": "web",
                "image": "123.dkr.ecr.us-east-1.amazonaws.com/web@sha256:abc",
                "essential": true,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                "environment": [{"name": "GIT_SHA", "value": "abc"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}
            }]
        })
    }

    #[test]
    fn json_round_trips_through_the_model() {
        let input = register_input_from_json(&sample()).unwrap();
        assert_eq!(input.family(), Some("web"));
        let c = &input.container_definitions()[0];
        assert_eq!(c.port_mappings()[0].container_port(), Some(8080));
        assert_eq!(
            c.log_configuration().unwrap().log_driver().as_str(),
            "awslogs"
        );
    }

    #[test]
    fn misspelled_key_is_reported_with_its_path() {
        let mut td = sample();
        td["containerDefinitions"][0]["portMapings"] = json!([]);
        let err = register_input_from_json(&td).unwrap_err();
        assert!(err.contains("containerDefinitions[0].portMapings"), "{err}");
    }

    #[test]
    fn canonical_form_is_stable() {
        let a = canonical(&sample()).unwrap();
        let b = canonical(&a).unwrap();
        assert_eq!(a, b);
    }
}
