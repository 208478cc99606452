//! Task-definition rendering and validation (pure): placeholders, the sha recorded as a
//! label, an environment variable and a tag, and the checks the report relies on.

use serde_json::Value;

/// Values the template's `${NAME}` placeholders are replaced with.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub image: String,
    pub sha: String,
    pub region: String,
    pub environment: String,
    pub container: String,
    pub port: u16,
}

pub const PLACEHOLDERS: &[&str] = &[
    "IMAGE",
    "GIT_SHA",
    "GIT_SHA_SHORT",
    "REGION",
    "ENVIRONMENT",
    "CONTAINER",
    "PORT",
];

/// An error in a template, with the 1-based line when known.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub line: Option<usize>,
    pub message: String,
}

/// Replaces `${NAME}` placeholders, then parses the JSON. `${env:NAME}` reads an
/// environment variable through `env` (which must return Some).
pub fn render(
    template: &str,
    vars: &Vars,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, TemplateError> {
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_:]*)\}").expect("static regex");
    let mut out = String::with_capacity(template.len());
    let mut last = 0;
    for m in re.captures_iter(template) {
        let whole = m.get(0).expect("match");
        let name = &m[1];
        let line = template[..whole.start()].matches('\n').count() + 1;
        let value = match name {
            "IMAGE" => vars.image.clone(),
            "GIT_SHA" => vars.sha.clone(),
            "GIT_SHA_SHORT" => vars.sha.chars().take(7).collect(),
            "REGION" => vars.region.clone(),
            "ENVIRONMENT" => vars.environment.clone(),
            "CONTAINER" => vars.container.clone(),
            "PORT" => vars.port.to_string(),
            n if n.starts_with("env:") => env(&n[4..]).ok_or_else(|| TemplateError {
                line: Some(line),
                message: format!(
                    "`${{{n}}}` needs the environment variable {} to be set",
                    &n[4..]
                ),
            })?,
            other => {
                return Err(TemplateError {
                    line: Some(line),
                    message: format!(
                        "unknown placeholder `${{{other}}}`; known: {} and ${{env:NAME}}",
                        PLACEHOLDERS
                            .iter()
                            .map(|p| format!("${{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        };
        out.push_str(&template[last..whole.start()]);
        // Inside a JSON string: escape what the value might contain.
        let escaped = serde_json::to_string(&value).unwrap_or_default();
        out.push_str(&escaped[1..escaped.len() - 1]);
        last = whole.end();
    }
    out.push_str(&template[last..]);
    serde_json::from_str(&out).map_err(|e| TemplateError {
        line: Some(e.line()),
        message: format!("not valid JSON after rendering: {e}"),
    })
}

/// Sets `image` on the container and records the sha as a docker label, an
/// environment variable and a task-definition tag (so each place a person looks shows it).
pub fn apply_release(
    td: &mut Value,
    container: &str,
    image: &str,
    sha: &str,
) -> Result<(), String> {
    let c = container_mut(td, container)?;
    c["image"] = Value::String(image.to_owned());
    if !c.get("dockerLabels").is_some_and(Value::is_object) {
        c["dockerLabels"] = serde_json::json!({});
    }
    c["dockerLabels"]["shipwatch.git-sha"] = Value::String(sha.to_owned());
    if !c.get("environment").is_some_and(Value::is_array) {
        c["environment"] = serde_json::json!([]);
    }
    let env = c["environment"].as_array_mut().expect("array");
    env.retain(|e| e.get("name").and_then(Value::as_str) != Some("GIT_SHA"));
    env.push(serde_json::json!({"name": "GIT_SHA", "value": sha}));
    if !td.get("tags").is_some_and(Value::is_array) {
        td["tags"] = serde_json::json!([]);
    }
    let tags = td["tags"].as_array_mut().expect("array");
    tags.retain(|t| t.get("key").and_then(Value::as_str) != Some("git-sha"));
    tags.push(serde_json::json!({"key": "git-sha", "value": sha}));
    Ok(())
}

fn container_mut<'a>(td: &'a mut Value, name: &str) -> Result<&'a mut Value, String> {
    let names = container_names(td);
    td.get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
        .and_then(|cs| cs.iter_mut().find(|c| c.get("name").and_then(Value::as_str) == Some(name)))
        .ok_or_else(|| format!("the task definition has no container named `{name}` (containers: {}); check [service] container", names.join(", ")))
}

fn container_names(td: &Value) -> Vec<String> {
    td.get("containerDefinitions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Memory values may be numbers or strings ("512", "1 GB" is not accepted by shipwatch).
fn mem(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Checks what a deployment and its report depend on. Returns every problem found.
pub fn validate(td: &Value, container: &str, port: u16) -> Vec<String> {
    let mut problems = Vec::new();
    if td
        .get("family")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        problems.push("`family` is missing".to_owned());
    }
    let Some(c) = td
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        })
    else {
        problems.push(format!(
            "no container named `{container}` (containers: {}); it must match [service] container",
            container_names(td).join(", ")
        ));
        return problems;
    };
    let ports: Vec<i64> = c
        .get("portMappings")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("containerPort").and_then(Value::as_i64))
                .collect()
        })
        .unwrap_or_default();
    if !ports.contains(&i64::from(port)) {
        problems.push(format!("container `{container}` maps ports {ports:?}, not {port} ([service] port); the load balancer could not reach it"));
    }
    if let Some(task_mem) = mem(td.get("memory")) {
        for key in ["memory", "memoryReservation"] {
            if let Some(m) = mem(c.get(key))
                && m > task_mem
            {
                problems.push(format!(
                    "container `{container}` {key} {m} MiB exceeds the task memory {task_mem} MiB"
                ));
            }
        }
    }
    let log = c.get("logConfiguration");
    let driver = log.and_then(|l| l.get("logDriver")).and_then(Value::as_str);
    if driver != Some("awslogs") {
        problems.push(format!(
            "container `{container}` does not log with the awslogs driver (found {}); the rollback report reads its logs from CloudWatch Logs",
            driver.unwrap_or("none")
        ));
    } else {
        let opts = log.and_then(|l| l.get("options"));
        for key in ["awslogs-group", "awslogs-stream-prefix"] {
            if opts
                .and_then(|o| o.get(key))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                problems.push(format!("container `{container}` awslogs option `{key}` is not set; the report finds green tasks' logs through it"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{
  "family": "web",
  "memory": "512",
  "containerDefinitions": [{
    "name": "${CONTAINER}",
    "image": "${IMAGE}",
    "memory": 256,
    "portMappings": [{"containerPort": ${PORT}}],
    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "${REGION}", "awslogs-stream-prefix": "web"}}
  }]
}"#;

    fn vars() -> Vars {
        Vars {
            image: "r/web@sha256:ab".into(),
            sha: "1a2b3c4d5e".into(),
            region: "eu-west-1".into(),
            environment: "staging".into(),
            container: "web".into(),
            port: 8080,
        }
    }

    #[test]
    fn renders_and_validates() {
        let mut td = render(TEMPLATE, &vars(), &|_| None).unwrap();
        assert_eq!(td["containerDefinitions"][0]["image"], "r/web@sha256:ab");
        apply_release(&mut td, "web", "r/web@sha256:cd", "1a2b3c4d5e").unwrap();
        let c = &td["containerDefinitions"][0];
        assert_eq!(c["image"], "r/web@sha256:cd");
        assert_eq!(c["dockerLabels"]["shipwatch.git-sha"], "1a2b3c4d5e");
        assert_eq!(c["environment"][0]["value"], "1a2b3c4d5e");
        assert_eq!(td["tags"][0]["key"], "git-sha");
        assert!(
            validate(&td, "web", 8080).is_empty(),
            "{:?}",
            validate(&td, "web", 8080)
        );
    }

    #[test]
    fn unknown_placeholder_names_its_line() {
        let t = "{\n  \"family\": \"${FAMILY}\"\n}";
        let e = render(t, &vars(), &|_| None).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("FAMILY"));
    }

    #[test]
    fn invalid_json_names_its_line() {
        let t = "{\n  \"family\": \"web\",\n  oops\n}";
        let e = render(t, &vars(), &|_| None).unwrap_err();
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn env_placeholder() {
        let t = r#"{"family": "${env:FAM}"}"#;
        let td = render(t, &vars(), &|k| (k == "FAM").then(|| "web".to_string())).unwrap();
        assert_eq!(td["family"], "web");
        assert!(render(t, &vars(), &|_| None).is_err());
    }

    #[test]
    fn validation_finds_each_problem() {
        let mut td = render(TEMPLATE, &vars(), &|_| None).unwrap();
        td["containerDefinitions"][0]["memory"] = serde_json::json!(1024);
        td["containerDefinitions"][0]["logConfiguration"]["logDriver"] =
            serde_json::json!("json-file");
        let p = validate(&td, "web", 9090);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("9090"));
        assert!(p[1].contains("exceeds"));
        assert!(p[2].contains("awslogs"));
        assert!(validate(&td, "api", 8080)[0].contains("no container named `api`"));
    }
}
