//! `[notify]` in shipwatch.toml and the environment variables it names, into the
//! notification settings. Webhook URLs are secrets: the file names the variables that
//! hold them, and no message built here ever contains a URL's value.
//!
//! ```toml
//! [notify]
//! slack_webhook_env = "SHIPWATCH_SLACK_WEBHOOK_URL"   # the default
//! webhook_url_env = "INCIDENTS_WEBHOOK_URL"          # optional generic JSON webhook
//! events = ["rolled_back", "failed", "gate_failed", "remediation"]   # add "succeeded" to hear about those too
//! timeout = "6s"
//! report_url = "https://reports.example.com/web/report.html"   # default: the Jenkins artifact
//! ```

use super::Sources;
use super::defaults;
use super::file::Dur;
use crate::error::{Error, Result};
use crate::notify::model::{EventKind, Subject};
use crate::notify::send::{Endpoint, SecretUrl};

crate::config_section! {
    /// `[notify]`: where notifications go and what they are sent for.
    pub struct NotifySection {
        /// The environment variable holding the Slack incoming-webhook URL.
        pub slack_webhook_env: String,
        /// A generic JSON webhook's URL written in the file (use `webhook_url_env` when
        /// the URL carries a token).
        pub webhook_url: String,
        /// The environment variable holding the generic webhook's URL.
        pub webhook_url_env: String,
        /// The events to notify about: rolled_back, failed, succeeded, remediation, gate_failed.
        pub events: Vec<EventKind>,
        /// Per endpoint, every attempt and Retry-After wait included.
        pub timeout: Dur,
        /// Where report.html is published (default: the Jenkins build's artifact).
        pub report_url: String,
    }
}

impl Sources {
    /// The notification settings, with the URLs read from the environment.
    pub fn notify(&self) -> Result<crate::notify::Settings> {
        let section = self.file.layer.notify.clone().unwrap_or_default();
        if section.timeout.is_some_and(|d| d.0.is_zero()) {
            return Err(Error::config(
                self.file.path.clone().unwrap_or_default(),
                None,
                "[notify] timeout must be greater than zero",
            ));
        }
        let service = self.service();
        let subject = Subject {
            environment: self.file.environment.clone(),
            cluster: service.cluster,
            service: service.service,
        };
        Ok(build(
            &section,
            self.file.layer.notify.is_some(),
            |name| std::env::var(name).ok(),
            subject,
        ))
    }
}

/// The settings from the section and an environment lookup; `declared` is whether the
/// file has a `[notify]` table (then a missing URL is worth a warning).
pub fn build(
    n: &NotifySection,
    declared: bool,
    env: impl Fn(&str) -> Option<String>,
    subject: Subject,
) -> crate::notify::Settings {
    let mut problems = Vec::new();
    let mut looked_at = Vec::new();
    let slack_var = n
        .slack_webhook_env
        .clone()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| defaults::NOTIFY_SLACK_ENV.to_owned());
    let slack = from_var("Slack", &slack_var, &env, &mut problems, &mut looked_at);
    let webhook = match (&n.webhook_url_env, &n.webhook_url) {
        (Some(var), _) if !var.trim().is_empty() => {
            from_var("webhook", var, &env, &mut problems, &mut looked_at)
        }
        (_, Some(url)) if !url.trim().is_empty() => {
            checked("webhook", url, "[notify] webhook_url", &mut problems)
        }
        _ => {
            looked_at.push("[notify] webhook_url and webhook_url_env (neither set)".into());
            None
        }
    };
    if slack.is_none() && webhook.is_none() && declared && problems.is_empty() {
        problems.push(format!(
            "[notify] is configured but no webhook URL is available: {}; no notification is sent",
            looked_at.join(", ")
        ));
    }
    crate::notify::Settings {
        slack,
        webhook,
        events: n
            .events
            .clone()
            .unwrap_or_else(|| defaults::NOTIFY_EVENTS.to_vec()),
        timeout: n.timeout.map(|d| d.0).unwrap_or(defaults::NOTIFY_TIMEOUT),
        problems,
        subject,
        build_url: env("BUILD_URL").filter(|u| !u.trim().is_empty()),
        report_url: n.report_url.clone().filter(|u| !u.trim().is_empty()),
        looked_at,
    }
}

/// The endpoint whose URL is in the variable `var`, when it is set.
fn from_var(
    name: &'static str,
    var: &str,
    env: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    looked_at: &mut Vec<String>,
) -> Option<Endpoint> {
    let is_name = var
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_name {
        // Most likely the URL itself pasted where its variable's name belongs: a secret
        // that must not be echoed back.
        problems.push(format!(
            "the {name} setting that names an environment variable holds something that is not a variable name (not shown: it may be the webhook URL itself, a secret); put the URL in an environment variable (e.g. {}) and name that variable instead",
            defaults::NOTIFY_SLACK_ENV
        ));
        return None;
    }
    match env(var).filter(|v| !v.trim().is_empty()) {
        Some(url) => checked(name, &url, var, problems),
        None => {
            looked_at.push(format!("environment variable {var} (not set)"));
            None
        }
    }
}

/// An endpoint when `url` is an http(s) URL; else a problem that names where it came
/// from but not what it holds.
fn checked(
    name: &'static str,
    url: &str,
    origin: &str,
    problems: &mut Vec<String>,
) -> Option<Endpoint> {
    let url = url.trim();
    let ok = ["https://", "http://"]
        .iter()
        .any(|p| url.len() > p.len() && url[..p.len()].eq_ignore_ascii_case(p));
    if !ok {
        problems.push(format!(
            "{origin} is set but does not hold an http(s) URL; no {name} notification is sent"
        ));
        return None;
    }
    Some(Endpoint {
        name,
        url: SecretUrl::new(url.to_owned()),
        origin: origin.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_read_the_default_variable_and_skip_success() {
        let s = build(
            &NotifySection::default(),
            false,
            env(&[(
                "SHIPWATCH_SLACK_WEBHOOK_URL",
                "https://hooks.example.com/T/B/x",
            )]),
            Subject::default(),
        );
        assert!(s.slack.is_some() && s.webhook.is_none());
        assert!(!s.events.contains(&EventKind::Succeeded));
        assert!(s.events.contains(&EventKind::RolledBack));
        assert_eq!(s.timeout, defaults::NOTIFY_TIMEOUT);
        assert!(s.problems.is_empty());
    }

    #[test]
    fn nothing_configured_is_quiet_unless_notify_is_declared() {
        let quiet = build(
            &NotifySection::default(),
            false,
            env(&[]),
            Subject::default(),
        );
        assert!(!quiet.any() && quiet.problems.is_empty());
        let declared = build(
            &NotifySection::default(),
            true,
            env(&[]),
            Subject::default(),
        );
        assert_eq!(declared.problems.len(), 1, "{:?}", declared.problems);
        assert!(declared.problems[0].contains("SHIPWATCH_SLACK_WEBHOOK_URL (not set)"));
    }

    #[test]
    fn a_url_where_a_variable_name_belongs_is_never_echoed() {
        let secret = "https://hooks.slack.com/services/T0/B0/SECRETX";
        let n = NotifySection {
            slack_webhook_env: Some(secret.into()),
            ..Default::default()
        };
        let s = build(&n, true, env(&[]), Subject::default());
        assert!(s.slack.is_none());
        assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
        assert!(!s.problems[0].contains("SECRETX"), "{}", s.problems[0]);
        assert!(!format!("{:?}", s.looked_at).contains("SECRETX"));
    }

    #[test]
    fn a_variable_without_a_url_is_named_but_its_value_is_not() {
        let n = NotifySection {
            slack_webhook_env: Some("SLACK_HOOK".into()),
            webhook_url_env: Some("HOOK".into()),
            ..Default::default()
        };
        let s = build(
            &n,
            true,
            env(&[
                ("SLACK_HOOK", "xoxb-secret-token"),
                ("HOOK", "http://127.0.0.1:9/h"),
            ]),
            Subject::default(),
        );
        assert!(s.slack.is_none());
        assert_eq!(s.webhook.as_ref().map(|w| w.origin.as_str()), Some("HOOK"));
        assert_eq!(s.problems.len(), 1);
        assert!(s.problems[0].contains("SLACK_HOOK"), "{:?}", s.problems);
        assert!(!s.problems[0].contains("xoxb"), "{:?}", s.problems);
    }

    #[test]
    fn the_section_parses_and_rejects_unknown_events() {
        let text = "[notify]\nevents = [\"rolled_back\", \"succeeded\"]\ntimeout = \"3s\"\nwebhook_url = \"https://x.example/h\"\n";
        let c =
            crate::settings::file::from_str(text, std::path::Path::new("n.toml"), None).unwrap();
        let n = c.layer.notify.unwrap();
        assert_eq!(
            n.events,
            Some(vec![EventKind::RolledBack, EventKind::Succeeded])
        );
        let bad = "[notify]\nevents = [\"rolledback\"]\n";
        let e = crate::settings::file::from_str(bad, std::path::Path::new("n.toml"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("n.toml:2:") && e.contains("rolledback"),
            "{e}"
        );
    }
}
