//! The state file: what a later `shipwatch stop` (a Jenkins `post { aborted }`) or a
//! person needs to find and stop the in-flight deployment.

use crate::error::{Error, Result, write_atomic};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub deployment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    pub application: String,
    pub deployment_group: String,
    pub cluster: String,
    pub service: String,
    pub region: String,
    pub task_definition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_task_definition: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Last known status, e.g. `InProgress`, `Succeeded`, `interrupted`.
    pub status: String,
    /// Why shipwatch stopped the deployment (an alarm, its judge), once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

impl State {
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(e.into()))?;
        json.push(b'\n');
        write_atomic(path, &json)
    }

    pub fn load(path: &Path) -> Result<State> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!("cannot read the state file {}: {e}. It is written by `shipwatch deploy` (see --state-file).", path.display()))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Error::config(
                path,
                Some(e.line()),
                format!("not a shipwatch state file: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let s = State {
            deployment_id: "d-1".into(),
            status: "InProgress".into(),
            ..Default::default()
        };
        s.save(&p).unwrap();
        assert_eq!(State::load(&p).unwrap(), s);
    }

    #[test]
    fn garbage_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(State::load(&p).unwrap_err().exit_code(), crate::exit::USAGE);
    }
}
