//! The two alarm events a Lambda function receives, as a trigger for remediation: the
//! CloudWatch alarm → Lambda action payload (`alarmData`) and the EventBridge
//! "CloudWatch Alarm State Change" event (`detail`). Both carry the alarm name, the new
//! and the previous state; only a transition into ALARM asks for a remediation, since
//! alarm actions and EventBridge both deliver at least once and also report OK and
//! INSUFFICIENT_DATA transitions.

use super::guard::Trigger;
use aws_lambda_events::event::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmData, CloudWatchAlarmStateValue,
};
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde_json::Value;

/// The EventBridge detail type of an alarm state change.
pub const STATE_CHANGE: &str = "CloudWatch Alarm State Change";

/// What an event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A transition into ALARM: remediate.
    Act(Trigger),
    /// Anything else: the trigger as far as known, and why nothing is done.
    Ignore(Trigger, String),
}

/// Reads an event; an error says which shape was expected and what was wrong.
pub fn decide(event: &Value) -> Result<Decision, String> {
    if event.get("alarmData").is_some() {
        let e: CloudWatchAlarm<Value, Value> =
            serde_json::from_value(event.clone()).map_err(|e| {
                format!("a CloudWatch alarm action event (with alarmData) that does not parse: {e}")
            })?;
        return Ok(from_data(&e.alarm_data, "alarm action"));
    }
    if event.get("detail-type").and_then(Value::as_str) == Some(STATE_CHANGE) {
        let e: CloudWatchEvent<CloudWatchAlarmData<Value, Value>> =
            serde_json::from_value(event.clone()).map_err(|e| {
                format!("an EventBridge \"{STATE_CHANGE}\" event that does not parse: {e}")
            })?;
        let detail = e
            .detail
            .ok_or_else(|| format!("an EventBridge \"{STATE_CHANGE}\" event without detail"))?;
        return Ok(from_data(&detail, "EventBridge"));
    }
    let kind = event
        .get("detail-type")
        .and_then(Value::as_str)
        .map(|d| format!("an EventBridge event of type \"{d}\""))
        .unwrap_or_else(|| "an event with neither alarmData nor detail-type".into());
    Err(format!(
        "{kind}; expected a CloudWatch alarm action event or an EventBridge \"{STATE_CHANGE}\" event"
    ))
}

fn state_name(v: &CloudWatchAlarmStateValue) -> &'static str {
    match v {
        CloudWatchAlarmStateValue::Ok => "OK",
        CloudWatchAlarmStateValue::Alarm => "ALARM",
        CloudWatchAlarmStateValue::InsufficientData => "INSUFFICIENT_DATA",
        // A state added after this crate version: not ALARM, so nothing is done.
        _ => "unknown",
    }
}

fn from_data(d: &CloudWatchAlarmData<Value, Value>, source: &str) -> Decision {
    let trigger = Trigger {
        alarm: Some(d.alarm_name.clone()),
        state_changed_at: d.state.as_ref().map(|s| s.timestamp),
        alarm_reason: d.state.as_ref().map(|s| s.reason.clone()),
        source: source.to_owned(),
    };
    let now = d
        .state
        .as_ref()
        .map(|s| state_name(&s.value))
        .unwrap_or("unknown");
    let before = d.previous_state.as_ref().map(|s| state_name(&s.value));
    if now != "ALARM" {
        return Decision::Ignore(
            trigger,
            format!(
                "alarm {} went to {now}, not into ALARM; nothing to do",
                d.alarm_name
            ),
        );
    }
    if before == Some("ALARM") {
        return Decision::Ignore(
            trigger,
            format!(
                "alarm {} was already in ALARM; not a new state change",
                d.alarm_name
            ),
        );
    }
    Decision::Act(trigger)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(state: &str, previous: &str) -> Value {
        json!({
            "source": "aws.cloudwatch",
            "alarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-5xx",
            "accountId": "123456789012",
            "time": "2026-01-01T10:00:05.123+0000",
            "region": "eu-west-1",
            "alarmData": {
                "alarmName": "web-5xx",
                "state": {"value": state, "reason": "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).",
                          "reasonData": "{\"version\":\"1.0\"}", "timestamp": "2026-01-01T10:00:05.123+0000"},
                "previousState": {"value": previous, "reason": "ok", "timestamp": "2025-12-31T09:00:00.000+0000"},
                "configuration": {"description": "5xx", "metrics": []}
            }
        })
    }

    fn bridge(state: &str, previous: &str) -> Value {
        json!({
            "version": "0",
            "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": "123456789012",
            "time": "2026-01-01T10:00:05Z",
            "region": "eu-west-1",
            "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-5xx"],
            "detail": {
                "alarmName": "web-5xx",
                "state": {"value": state, "reason": "Threshold Crossed", "timestamp": "2026-01-01T10:00:05.123+0000"},
                "previousState": {"value": previous, "reason": "ok", "timestamp": "2025-12-31T09:00:00.000+0000"},
                "configuration": {"metrics": []}
            }
        })
    }

    /// (name, event, acts)
    #[test]
    fn only_a_transition_into_alarm_acts() {
        for (name, ev, acts) in [
            ("action OK→ALARM", action("ALARM", "OK"), true),
            (
                "action INSUFFICIENT_DATA→ALARM",
                action("ALARM", "INSUFFICIENT_DATA"),
                true,
            ),
            ("action ALARM→OK", action("OK", "ALARM"), false),
            ("action ALARM→ALARM", action("ALARM", "ALARM"), false),
            ("bridge OK→ALARM", bridge("ALARM", "OK"), true),
            (
                "bridge ALARM→INSUFFICIENT_DATA",
                bridge("INSUFFICIENT_DATA", "ALARM"),
                false,
            ),
        ] {
            let d = decide(&ev).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(matches!(d, Decision::Act(_)), acts, "{name}: {d:?}");
        }
    }

    #[test]
    fn both_kinds_give_the_same_key() {
        let Decision::Act(a) = decide(&action("ALARM", "OK")).unwrap() else {
            panic!()
        };
        let Decision::Act(b) = decide(&bridge("ALARM", "OK")).unwrap() else {
            panic!()
        };
        assert_eq!(a.alarm.as_deref(), Some("web-5xx"));
        assert_eq!(a.key(), b.key());
        assert_eq!(
            a.state_changed_at.unwrap().to_rfc3339(),
            "2026-01-01T10:00:05.123+00:00"
        );
        assert_eq!(a.source, "alarm action");
        assert_eq!(b.source, "EventBridge");
    }

    #[test]
    fn other_events_are_named_in_the_error() {
        let e = decide(&json!({"detail-type": "ECS Task State Change", "detail": {}})).unwrap_err();
        assert!(e.contains("ECS Task State Change"), "{e}");
        let e = decide(&json!({"alarmData": {"alarmName": 3}, "time": "x"})).unwrap_err();
        assert!(e.contains("alarm action event"), "{e}");
    }
}
