//! The state change an alarm is in, for keying `remediate`: the time its state value
//! last changed (StateTransitionedTimestamp), which the alarm's Lambda action and
//! EventBridge events carry as `state.timestamp`. StateUpdatedTimestamp also moves when
//! only the reason is updated, so it is the fallback when AWS gives no transition time.

use super::{Clients, sdk_error, to_chrono};
use crate::error::Result;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmState {
    pub name: String,
    pub state: String,
    pub reason: Option<String>,
    pub changed_at: Option<DateTime<Utc>>,
}

/// The metric or composite alarm `name`, if it exists.
pub async fn alarm_state(c: &Clients, name: &str) -> Result<Option<AlarmState>> {
    let out = c
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .map_err(|e| sdk_error("cloudwatch:DescribeAlarms", e))?;
    if let Some(a) = out
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
    {
        return Ok(Some(AlarmState {
            name: name.to_owned(),
            state: a
                .state_value()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: a.state_reason().map(str::to_owned),
            changed_at: a
                .state_transitioned_timestamp()
                .or(a.state_updated_timestamp())
                .map(to_chrono),
        }));
    }
    Ok(out
        .composite_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
        .map(|a| AlarmState {
            name: name.to_owned(),
            state: a
                .state_value()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            reason: a.state_reason().map(str::to_owned),
            changed_at: a
                .state_transitioned_timestamp()
                .or(a.state_updated_timestamp())
                .map(to_chrono),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
    use aws_smithy_mocks::{mock, mock_client};

    #[tokio::test]
    async fn the_transition_time_wins_over_the_update_time() {
        let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(
                    MetricAlarm::builder()
                        .alarm_name("web-5xx")
                        .state_value(StateValue::Alarm)
                        .state_updated_timestamp(aws_smithy_types::DateTime::from_secs(200))
                        .state_transitioned_timestamp(aws_smithy_types::DateTime::from_secs(100))
                        .build(),
                )
                .build()
        });
        let mut c =
            crate::aws::logs::tests::clients_with_logs(mock_client!(aws_sdk_cloudwatchlogs, []));
        c.cloudwatch = mock_client!(aws_sdk_cloudwatch, [&rule]);
        let a = alarm_state(&c, "web-5xx").await.unwrap().unwrap();
        assert_eq!(a.state, "ALARM");
        assert_eq!(a.changed_at.unwrap().timestamp(), 100);
    }
}
