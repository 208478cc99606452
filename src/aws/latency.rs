//! CloudWatch reads for the report's latency section: what a fired alarm watches, and
//! a statistic per period of each colour's target group.

use super::evidence::{Series, TargetGroupDims};
use super::{Clients, sdk_error, to_chrono};
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
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
    let queries: Vec<MetricDataQuery> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut m = Metric::builder()
                .namespace("AWS/ApplicationELB")
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name("TargetGroup")
                        .value(&g.target_group)
                        .build(),
                );
            if let Some(lb) = &g.load_balancer {
                m = m.dimensions(Dimension::builder().name("LoadBalancer").value(lb).build());
            }
            MetricDataQuery::builder()
                .id(format!("l{i}"))
                .metric_stat(
                    MetricStat::builder()
                        .metric(m.build())
                        .period(period)
                        .stat(statistic)
                        .build(),
                )
                .return_data(true)
                .build()
        })
        .collect();
    let mut out: Vec<Series> = vec![Vec::new(); groups.len()];
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let page = c
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(aws_smithy_types::DateTime::from_millis(
                start.timestamp_millis(),
            ))
            .end_time(aws_smithy_types::DateTime::from_millis(
                end.timestamp_millis(),
            ))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("cloudwatch:GetMetricData", e))?;
        for r in page.metric_data_results() {
            let Some(i) = r
                .id()
                .and_then(|id| id.get(1..))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|i| *i < groups.len())
            else {
                continue;
            };
            out[i].extend(
                r.timestamps()
                    .iter()
                    .map(to_chrono)
                    .zip(r.values().iter().copied()),
            );
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for s in &mut out {
        s.sort_by_key(|p| p.0);
    }
    Ok(out)
}
