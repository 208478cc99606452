//! CloudWatch reads for the report's latency section: what a fired alarm watches, and
//! a statistic per period of each colour's target group.

use super::evidence::{Series, TargetGroupDims, alb_query, metric_data};
use super::{Clients, sdk_error};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// The metric behind a metric alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmMetric {
    pub name: String,
    pub namespace: String,
    pub metric: String,
    /// `Maximum`, `Average`, … or an extended statistic such as `p99`.
    pub statistic: String,
    pub threshold: Option<f64>,
}

/// The metrics of the named metric alarms (composite alarms have none).
pub async fn alarm_metrics(c: &Clients, names: &[String]) -> Result<Vec<AlarmMetric>> {
    let mut out = Vec::new();
    for chunk in names.chunks(100) {
        let page = c
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("cloudwatch:DescribeAlarms", e))?;
        for a in page.metric_alarms() {
            let statistic = a
                .extended_statistic()
                .map(str::to_owned)
                .or_else(|| a.statistic().map(|s| s.as_str().to_owned()))
                .unwrap_or_else(|| "Average".into());
            out.push(AlarmMetric {
                name: a.alarm_name().unwrap_or_default().to_owned(),
                namespace: a.namespace().unwrap_or_default().to_owned(),
                metric: a.metric_name().unwrap_or_default().to_owned(),
                statistic,
                threshold: a.threshold(),
            });
        }
    }
    Ok(out)
}

/// `statistic` of ALB `metric` per `period` for each target group, oldest first.
pub async fn target_group_stat(
    c: &Clients,
    groups: &[TargetGroupDims],
    metric: &str,
    statistic: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: i32,
) -> Result<Vec<Series>> {
    let queries = groups
        .iter()
        .enumerate()
        .map(|(i, g)| alb_query(format!("l{i}"), metric, g, period, statistic))
        .collect();
    let mut by_id = metric_data(c, queries, start, end).await?;
    Ok((0..groups.len())
        .map(|i| by_id.remove(&format!("l{i}")).unwrap_or_default())
        .collect())
}
