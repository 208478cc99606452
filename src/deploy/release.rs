//! A release: the git sha, its image pinned by digest, and the task definition rendered
//! for it. Shared by `register` and `deploy --sha`; everything here only reads AWS
//! until `register_release`, the one mutating call.

use super::render::{self, Vars};
use crate::aws::model::TaskDefinition;
use crate::aws::{Clients, ecr, ecs};
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::PathBuf;

/// Where the service lives, after flags, environment and file were layered.
#[derive(Debug, Clone)]
pub struct ServiceTarget {
    pub cluster: String,
    pub service: String,
    pub container: String,
    pub port: u16,
}

/// How `register` builds the new task definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenderMode {
    /// Render the JSON template with placeholders.
    Template,
    /// Start from the service's current task definition and only swap the image.
    Current,
}

/// How to build a release, resolved by the settings layer; the sha is still as given.
#[derive(Debug, Clone)]
pub struct ReleaseSettings {
    /// `--sha` or GIT_COMMIT, checked by [`resolve_sha`].
    pub sha: Option<String>,
    pub repository: String,
    /// Render from a template (with its path), or from the current task definition.
    pub source: RenderSource,
    pub environment: String,
}

#[derive(Debug, Clone)]
pub enum RenderSource {
    Template(PathBuf),
    Current,
}

impl ReleaseSettings {
    pub fn input(&self, sha: String, target: ServiceTarget, region: String) -> ReleaseInput {
        ReleaseInput {
            sha,
            repository: self.repository.clone(),
            source: self.source.clone(),
            target,
            region,
            environment: self.environment.clone(),
        }
    }
}

/// Checks the sha's shape and, when it came from GIT_COMMIT, that it is the checked-out
/// commit: Jenkins has been seen to export a shared library's sha there.
pub fn resolve_sha(arg: Option<String>) -> Result<String> {
    let sha = arg.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).ok_or_else(|| {
        Error::Usage("no git sha given: pass --sha <git-sha> or set GIT_COMMIT (Jenkins sets it after checkout).".into())
    })?;
    if sha.len() < 7 || sha.len() > 40 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!(
            "`{sha}` is not a git sha (7 to 40 hex digits); pass the commit the image was tagged with."
        )));
    }
    if std::env::var("GIT_COMMIT")
        .map(|g| g.trim().to_lowercase() == sha)
        .unwrap_or(false)
        && let Some(head) = git_head()
        && !head.starts_with(&sha)
        && !sha.starts_with(&head)
    {
        return Err(Error::Precondition(format!(
            "GIT_COMMIT is {sha} but the checked-out commit (git rev-parse HEAD) is {head}. Jenkins may have exported another repository's sha; pass --sha explicitly."
        )));
    }
    Ok(sha)
}

fn git_head() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_lowercase())
        .filter(|s| !s.is_empty())
}

/// Tags an image may carry for a sha: the full sha, then common short forms.
pub fn tag_candidates(sha: &str) -> Vec<String> {
    let mut v = vec![sha.to_owned()];
    for n in [12, 8, 7] {
        if sha.len() > n {
            v.push(sha[..n].to_owned());
        }
    }
    v
}

pub struct Release {
    pub sha: String,
    pub tag: String,
    /// `repository-uri@sha256:…`
    pub image: String,
    pub json: Value,
    pub current: Option<TaskDefinition>,
}

pub struct ReleaseInput {
    pub sha: String,
    pub repository: String,
    pub source: RenderSource,
    pub target: ServiceTarget,
    pub region: String,
    pub environment: String,
}

/// Resolves the image and renders the task definition; reads AWS, changes nothing.
pub async fn prepare(c: &Clients, i: &ReleaseInput) -> Result<Release> {
    let mut found = None;
    for tag in tag_candidates(&i.sha) {
        if let Some(img) = ecr::find_image(c, &i.repository, &tag).await? {
            found = Some((tag, img));
            break;
        }
    }
    let Some((tag, img)) = found else {
        let recent = ecr::recent_tags(c, &i.repository, 10)
            .await
            .unwrap_or_default();
        return Err(Error::Precondition(format!(
            "no image tagged `{}` in ECR repository `{}` (region {}). Was the ECR Push stage run for this commit? Most recent tags: {}.",
            i.sha,
            i.repository,
            c.region,
            if recent.is_empty() {
                "none".into()
            } else {
                recent.join(", ")
            }
        )));
    };
    let uri = ecr::repository_uri(c, &i.repository).await?;
    let image = format!("{uri}@{}", img.digest);
    let service = ecs::describe_service(c, &i.target.cluster, &i.target.service).await?;
    let current = ecs::describe_task_definition(c, &service.task_definition).await?;
    let template = match &i.source {
        RenderSource::Template(p) => Some(p.clone()),
        RenderSource::Current => None,
    };
    let mut json = match &i.source {
        RenderSource::Template(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::config(path, None, format!("cannot read the task-definition template: {e}. Set [task_definition] template or pass --template."))
            })?;
            let vars = Vars {
                image: image.clone(),
                sha: i.sha.clone(),
                region: i.region.clone(),
                environment: i.environment.clone(),
                container: i.target.container.clone(),
                port: i.target.port,
            };
            render::render(&text, &vars, &|k| std::env::var(k).ok())
                .map_err(|e| Error::config(path, e.line, e.message))?
        }
        RenderSource::Current => current.as_ref().map(|t| t.json.clone()).ok_or_else(|| {
            Error::Precondition(format!(
                "the service's current task definition {} could not be read",
                service.task_definition
            ))
        })?,
    };
    render::apply_release(&mut json, &i.target.container, &image, &i.sha).map_err(Error::Usage)?;
    let problems = render::validate(&json, &i.target.container, i.target.port);
    let source = template
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the current task definition".into());
    if !problems.is_empty() {
        let path = template
            .clone()
            .unwrap_or_else(|| PathBuf::from("task definition"));
        return Err(Error::config(
            path,
            None,
            format!(
                "the task definition rendered from {source} is not deployable: {}.",
                problems.join("; ")
            ),
        ));
    }
    // The model check: unknown keys would be silently dropped by the SDK.
    ecs::register_input_from_json(&json)
        .map_err(|m| Error::config(template.clone().unwrap_or_default(), None, m))?;
    Ok(Release {
        sha: i.sha.clone(),
        tag,
        image,
        json,
        current,
    })
}

/// Registers the render, or reuses the latest active revision when it is identical.
pub async fn register_release(c: &Clients, r: &Release) -> Result<(TaskDefinition, bool)> {
    let family = r
        .json
        .get("family")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(latest) = ecs::describe_task_definition(c, &family).await? {
        if same(&latest.json, &r.json) {
            return Ok((latest, true));
        }
        tracing::debug!(
            "latest revision {} differs from the render:\n{}",
            latest.arn,
            diff(&latest.json, &r.json)
        );
    }
    Ok((ecs::register_task_definition(c, &r.json).await?, false))
}

/// Whether two task definitions register the same thing (canonical form, tags as a set).
pub fn same(a: &Value, b: &Value) -> bool {
    let tags = |v: &Value| -> Vec<(String, String)> {
        let mut t: Vec<(String, String)> = v
            .get("tags")
            .and_then(Value::as_array)
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        (
                            t["key"].as_str().unwrap_or_default().to_owned(),
                            t["value"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        t.sort();
        t
    };
    match (ecs::canonical(a), ecs::canonical(b)) {
        (Ok(ca), Ok(cb)) => ca == cb && tags(a) == tags(b),
        _ => false,
    }
}

/// A unified diff of two task definitions as pretty JSON.
pub fn diff(old: &Value, new: &Value) -> String {
    let a = serde_json::to_string_pretty(&ecs::canonical(old).unwrap_or_else(|_| old.clone()))
        .unwrap_or_default();
    let b = serde_json::to_string_pretty(&ecs::canonical(new).unwrap_or_else(|_| new.clone()))
        .unwrap_or_default();
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header("current", "render")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_shapes() {
        assert!(resolve_sha(None).is_err());
        assert!(resolve_sha(Some("xyz".into())).is_err());
        assert!(resolve_sha(Some("12345".into())).is_err());
        assert_eq!(resolve_sha(Some(" ABCDEF1 ".into())).unwrap(), "abcdef1");
    }

    #[test]
    fn tag_candidates_short_forms() {
        assert_eq!(
            tag_candidates("0123456789abcdef"),
            vec!["0123456789abcdef", "0123456789ab", "01234567", "0123456"]
        );
        assert_eq!(tag_candidates("0123456"), vec!["0123456"]);
    }

    #[test]
    fn same_ignores_key_order_and_tag_order() {
        let a = serde_json::json!({"family": "web", "cpu": "256", "containerDefinitions": [{"name": "web", "image": "x"}],
            "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]});
        let b = serde_json::json!({"containerDefinitions": [{"image": "x", "name": "web"}], "cpu": "256", "family": "web",
            "tags": [{"key": "b", "value": "2"}, {"key": "a", "value": "1"}]});
        assert!(same(&a, &b));
        let mut c = b.clone();
        c["containerDefinitions"][0]["image"] = serde_json::json!("y");
        assert!(!same(&a, &c));
        assert!(diff(&a, &c).contains("-      \"image\": \"x\""));
    }
}
