//! CloudWatch alarms: the states `deploy` watches.

use super::model::Alarm;
use super::{Clients, sdk_error, to_chrono};
use crate::error::Result;

/// Current state of the named metric alarms (missing names are simply absent).
pub async fn describe_alarms(c: &Clients, names: &[String]) -> Result<Vec<Alarm>> {
    let mut alarms = Vec::new();
    for chunk in names.chunks(100) {
        let out = c
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("cloudwatch:DescribeAlarms", e))?;
        alarms.extend(out.metric_alarms().iter().map(|a| {
            Alarm {
                name: a.alarm_name().unwrap_or_default().to_owned(),
                state: a
                    .state_value()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: a.state_reason().map(str::to_owned),
                updated: a.state_updated_timestamp().map(to_chrono),
            }
        }));
        alarms.extend(out.composite_alarms().iter().map(|a| {
            Alarm {
                name: a.alarm_name().unwrap_or_default().to_owned(),
                state: a
                    .state_value()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: a.state_reason().map(str::to_owned),
                updated: a.state_updated_timestamp().map(to_chrono),
            }
        }));
    }
    Ok(alarms)
}
