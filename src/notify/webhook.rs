//! The generic webhook's JSON payload: one document per event, for tools that are not
//! Slack (an incident system, a chat bridge, a log sink). Its shape is documented in
//! the README ("Notifications") and versioned like the report: fields are only added
//! within one `schema_version`.

use super::model::Event;
use super::text;
use serde_json::{Value, json};

pub const SCHEMA: &str = "shipwatch.notification";
pub const SCHEMA_VERSION: u32 = 1;

/// `{"schema", "schema_version", "event", "kind", "title", "summary", "data"}`.
pub fn render(e: &Event) -> Value {
    let data = match e {
        Event::Deployment(d) => serde_json::to_value(d),
        Event::Remediation(r) => serde_json::to_value(r),
        Event::GateFailed(g) => serde_json::to_value(g),
        Event::Test(t) => serde_json::to_value(t),
    }
    .unwrap_or(Value::Null);
    json!({
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "event": e.name(),
        "kind": e.kind().map(|k| k.name()),
        "title": text::title(e),
        "summary": text::summary(e),
        "data": data,
    })
}
