//! The AppSpec CodeDeploy needs for an ECS blue/green deployment, built from the
//! service (network, platform version) and the task definition (pure).

use crate::aws::model::Network;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub struct AppSpecInput<'a> {
    pub task_definition_arn: &'a str,
    pub container: &'a str,
    pub port: u16,
    pub platform_version: Option<&'a str>,
    pub network: Option<&'a Network>,
    pub hooks: &'a BTreeMap<String, String>,
}

pub fn build(i: &AppSpecInput<'_>) -> Value {
    let mut props = json!({
        "TaskDefinition": i.task_definition_arn,
        "LoadBalancerInfo": {"ContainerName": i.container, "ContainerPort": i.port},
    });
    if let Some(pv) = i.platform_version {
        props["PlatformVersion"] = json!(pv);
    }
    // All three network settings or none: CodeDeploy rejects a partial block.
    if let Some(n) = i.network.filter(|n| !n.subnets.is_empty()) {
        props["NetworkConfiguration"] = json!({"AwsvpcConfiguration": {
            "Subnets": n.subnets,
            "SecurityGroups": n.security_groups,
            "AssignPublicIp": n.assign_public_ip.clone().unwrap_or_else(|| "DISABLED".into()),
        }});
    }
    let mut spec = json!({
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": props}}],
    });
    if !i.hooks.is_empty() {
        // Lifecycle order, not alphabetical: the order CodeDeploy runs them in.
        let hooks: Vec<Value> = HOOK_EVENTS
            .iter()
            .filter_map(|e| i.hooks.get(*e).map(|f| json!({ *e: f })))
            .collect();
        spec["Hooks"] = Value::Array(hooks);
    }
    spec
}

/// The ECS lifecycle events that can carry a hook.
pub const HOOK_EVENTS: &[&str] = &[
    "BeforeInstall",
    "AfterInstall",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appspec_shape() {
        let net = Network {
            subnets: vec!["subnet-a".into()],
            security_groups: vec!["sg-1".into()],
            assign_public_ip: None,
        };
        let mut hooks = BTreeMap::new();
        hooks.insert("AfterAllowTestTraffic".to_string(), "smoke".to_string());
        hooks.insert("BeforeInstall".to_string(), "prep".to_string());
        let spec = build(&AppSpecInput {
            task_definition_arn: "arn:td:1",
            container: "web",
            port: 8080,
            platform_version: Some("LATEST"),
            network: Some(&net),
            hooks: &hooks,
        });
        let props = &spec["Resources"][0]["TargetService"]["Properties"];
        assert_eq!(
            spec["Resources"][0]["TargetService"]["Type"],
            "AWS::ECS::Service"
        );
        assert_eq!(props["TaskDefinition"], "arn:td:1");
        assert_eq!(
            props["LoadBalancerInfo"],
            serde_json::json!({"ContainerName": "web", "ContainerPort": 8080})
        );
        assert_eq!(props["PlatformVersion"], "LATEST");
        assert_eq!(
            props["NetworkConfiguration"]["AwsvpcConfiguration"],
            serde_json::json!({"Subnets": ["subnet-a"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"})
        );
        // Hooks in lifecycle order, not alphabetical.
        assert_eq!(
            spec["Hooks"],
            serde_json::json!([{"BeforeInstall": "prep"}, {"AfterAllowTestTraffic": "smoke"}])
        );
    }
}
