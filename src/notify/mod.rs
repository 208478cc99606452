//! Notifications: one message per event to a Slack incoming webhook (Block Kit) and/or
//! a generic JSON webhook.
//!
//! Flow: the command layer builds an [`model::Event`] from the domain results, the pure
//! renderers turn it into payloads (`slack`, `webhook`), and `send` posts them within a
//! time budget. Nothing here prints: [`deliver`] returns what happened and the command
//! layer reports it as lines. A notification that fails never changes an exit code.

pub mod model;
pub mod send;
pub mod slack;
pub mod text;
pub mod webhook;

use model::{Event, EventKind, Links};
use send::{Delivery, Endpoint};
use std::path::Path;
use std::time::Duration;

/// Settings after `[notify]`, the environment and the defaults are layered.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub slack: Option<Endpoint>,
    pub webhook: Option<Endpoint>,
    /// The events messages are sent for.
    pub events: Vec<EventKind>,
    /// Per endpoint, all attempts and Retry-After waits together.
    pub timeout: Duration,
    /// Settings that could not be used (a variable that holds no URL), as sentences
    /// that never contain the value; reported as warnings.
    pub problems: Vec<String>,
    /// The service and environment, shown in every message.
    pub subject: model::Subject,
    /// The Jenkins build (BUILD_URL).
    pub build_url: Option<String>,
    /// `[notify] report_url`: where report.html is published, if not as a Jenkins artifact.
    pub report_url: Option<String>,
    /// Where nothing is configured, what was looked at (for `notify --test`).
    pub looked_at: Vec<String>,
}

impl Settings {
    /// Whether any endpoint is configured.
    pub fn any(&self) -> bool {
        self.slack.is_some() || self.webhook.is_some()
    }

    /// Whether `event` is one this configuration sends; a test message always is.
    pub fn wants(&self, event: &Event) -> bool {
        event.kind().is_none_or(|k| self.events.contains(&k))
    }

    /// The links every message can carry, with the report's when one was written.
    pub fn links(&self, report_html: Option<&Path>, cwd: Option<&Path>) -> Links {
        let (report, report_path) = match report_html {
            Some(p) => report_link(
                self.report_url.as_deref(),
                self.build_url.as_deref(),
                cwd,
                p,
            ),
            None => (None, None),
        };
        Links {
            report,
            report_path,
            build: self.build_url.clone(),
            console: None,
        }
    }
}

/// Sends `event` to every configured endpoint (at once); empty when the event is not
/// enabled or nothing is configured.
pub async fn deliver(settings: &Settings, event: &Event) -> Vec<Delivery> {
    if !settings.wants(event) {
        return Vec::new();
    }
    let slack = async {
        match &settings.slack {
            Some(to) => Some(send::post(to, &slack::render(event), settings.timeout).await),
            None => None,
        }
    };
    let hook = async {
        match &settings.webhook {
            Some(to) => Some(send::post(to, &webhook::render(event), settings.timeout).await),
            None => None,
        }
    };
    let (a, b) = tokio::join!(slack, hook);
    a.into_iter().chain(b).collect()
}

/// One line per delivery, for the log: what was sent, or why not. The URL never
/// appears: reasons are redacted where they are made.
pub fn describe(d: &Delivery) -> String {
    let waited = match d.rate_limited {
        0 => String::new(),
        n => format!(" after {n} HTTP 429 answer(s) waited out"),
    };
    match &d.result {
        Ok(status) => format!("notification sent to {} (HTTP {status}{waited})", d.target),
        Err(why) => format!(
            "the {} notification was not sent after {} attempt(s): {why}{waited}. The exit code is not affected.",
            d.target, d.attempts
        ),
    }
}

/// The report's link: `[notify] report_url` as given, else the Jenkins artifact URL
/// (`BUILD_URL` + `artifact/` + the path under the workspace, which the Jenkinsfile
/// archives), else no URL and the file's path.
pub fn report_link(
    report_url: Option<&str>,
    build_url: Option<&str>,
    cwd: Option<&Path>,
    report_html: &Path,
) -> (Option<String>, Option<String>) {
    if let Some(u) = report_url.filter(|u| !u.trim().is_empty()) {
        return (Some(u.trim().to_owned()), None);
    }
    let abs = std::fs::canonicalize(report_html).unwrap_or_else(|_| report_html.to_path_buf());
    let under = cwd
        .and_then(|c| std::fs::canonicalize(c).ok())
        .and_then(|c| abs.strip_prefix(c).ok().map(Path::to_path_buf));
    match (build_url, under) {
        (Some(b), Some(rel)) => {
            let parts: Vec<String> = rel
                .components()
                .map(|c| url_segment(&c.as_os_str().to_string_lossy()))
                .collect();
            (
                Some(format!(
                    "{}/artifact/{}",
                    b.trim_end_matches('/'),
                    parts.join("/")
                )),
                None,
            )
        }
        _ => (None, Some(abs.display().to_string())),
    }
}

/// A path segment percent-encoded where a URL needs it.
fn url_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
