//! The judge's second source: each minute's requests and target 5xx of the blue and
//! green target groups, as the load balancer publishes them to CloudWatch (once a
//! minute, a minute or so late). One GetMetricData call per read covers both groups and
//! both metrics; the groups' metric dimensions are looked up once per deployment.
//!
//! Only the targets' own 5xx (`HTTPCode_Target_5XX_Count`) exist per target group: the
//! load balancer's own 502/503 (`HTTPCode_ELB_5XX_Count`) carry no `TargetGroup`
//! dimension, so a green that fails by not answering shows here only as fewer requests.

use super::Clients;
use super::evidence::{Series, TargetGroupDims, target_group_counts, target_group_dims};
use crate::error::Result;
use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};

/// The metrics' period: ALB publishes per minute.
const PERIOD: i32 = 60;

/// How far past the deployment's start a read asks for data. The end is not "now":
/// CloudWatch's clock is the one that stamps the minutes, and a later end costs nothing.
const READ_SPAN_HOURS: i64 = 24;

/// One target group's per-minute sums as read: requests and target 5xx.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupMinutes {
    pub requests: Series,
    pub errors: Series,
}

/// What one read found: each group's minutes, or `found: false` when CloudWatch does
/// not know the groups' metrics yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TgCounts {
    pub found: bool,
    pub blue: GroupMinutes,
    pub green: GroupMinutes,
}

/// The reader of one deployment's two target groups, kept between reads so the
/// dimensions are looked up once.
#[derive(Debug, Clone)]
pub struct TgMetrics {
    blue: String,
    green: String,
    start: DateTime<Utc>,
    dims: Option<[TargetGroupDims; 2]>,
}

impl TgMetrics {
    /// A reader of target groups `blue` and `green` (names, as CodeDeploy gives them),
    /// from the minute the deployment started.
    pub fn new(blue: &str, green: &str, start: DateTime<Utc>) -> Self {
        let start = start
            .duration_trunc(ChronoDuration::minutes(1))
            .unwrap_or(start);
        TgMetrics {
            blue: blue.to_owned(),
            green: green.to_owned(),
            start,
            dims: None,
        }
    }

    /// The target group names this reader reads (blue, green).
    pub fn groups(&self) -> (&str, &str) {
        (&self.blue, &self.green)
    }

    /// Every minute both groups published since the deployment started.
    pub async fn read(&mut self, c: &Clients) -> Result<TgCounts> {
        if self.dims.is_none() {
            let found = target_group_dims(c, &[&self.blue, &self.green]).await?;
            let [Some(b), Some(g)] = <[_; 2]>::try_from(found).unwrap_or([None, None]) else {
                return Ok(TgCounts::default());
            };
            self.dims = Some([b, g]);
        }
        let dims = self.dims.as_ref().expect("set above");
        let end = self.start + ChronoDuration::hours(READ_SPAN_HOURS);
        let mut series = target_group_counts(c, dims, self.start, end, PERIOD).await?;
        let (g5, gr) = series.pop().unwrap_or_default();
        let (b5, br) = series.pop().unwrap_or_default();
        Ok(TgCounts {
            found: true,
            blue: GroupMinutes {
                requests: br,
                errors: b5,
            },
            green: GroupMinutes {
                requests: gr,
                errors: g5,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn dims(name: &str) -> TargetGroupDims {
        TargetGroupDims {
            load_balancer: Some("app/web/42".into()),
            target_group: format!("targetgroup/{name}/0123abcd"),
        }
    }

    fn result(id: &str, points: &[(i64, f64)]) -> MetricDataResult {
        let mut r = MetricDataResult::builder().id(id);
        for (t, v) in points {
            r = r
                .timestamps(aws_smithy_types::DateTime::from_secs(*t))
                .values(*v);
        }
        r.build()
    }

    /// One read is one GetMetricData call asking, per minute, for the sum of both
    /// groups' RequestCount and HTTPCode_Target_5XX_Count, each with its load balancer.
    #[tokio::test]
    async fn one_call_reads_both_groups_and_both_metrics_per_minute() {
        let data = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .match_requests(|r| {
                let q = r.metric_data_queries();
                let shape: Vec<(String, String, String, i32, String)> = q
                    .iter()
                    .map(|q| {
                        let s = q.metric_stat().unwrap();
                        let m = s.metric().unwrap();
                        let tg = m
                            .dimensions()
                            .iter()
                            .find(|d| d.name() == Some("TargetGroup"))
                            .and_then(|d| d.value())
                            .unwrap_or_default();
                        let lb = m.dimensions().iter().any(|d| {
                            d.name() == Some("LoadBalancer") && d.value() == Some("app/web/42")
                        });
                        (
                            q.id().unwrap_or_default().to_owned(),
                            m.metric_name().unwrap_or_default().to_owned(),
                            format!("{tg}{}", if lb { "+lb" } else { "" }),
                            s.period().unwrap_or_default(),
                            s.stat().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                let want = |id: &str, metric: &str, tg: &str| {
                    (
                        id.to_owned(),
                        metric.to_owned(),
                        format!("targetgroup/{tg}/0123abcd+lb"),
                        60,
                        "Sum".to_owned(),
                    )
                };
                shape
                    == vec![
                        want("e0", "HTTPCode_Target_5XX_Count", "web-blue"),
                        want("r0", "RequestCount", "web-blue"),
                        want("e1", "HTTPCode_Target_5XX_Count", "web-green"),
                        want("r1", "RequestCount", "web-green"),
                    ]
                    && r.start_time().map(|t| t.secs()) == Some(1_800_000_000)
            })
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("r0", &[(60, 900.0), (120, 800.0)]))
                    .metric_data_results(result("e0", &[(120, 2.0)]))
                    .metric_data_results(result("r1", &[(60, 100.0), (120, 200.0)]))
                    .metric_data_results(result("e1", &[(60, 20.0), (120, 40.0)]))
                    .build()
            });
        let mut c =
            crate::aws::logs::tests::clients_with_logs(mock_client!(aws_sdk_cloudwatchlogs, []));
        c.cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&data]);
        // Started mid-minute: the read starts at the minute's beginning.
        let start = DateTime::from_timestamp(1_800_000_030, 0).unwrap();
        let mut r = TgMetrics::new("web-blue", "web-green", start);
        // The dimensions as the lookup finds them (its own calls are tested with it).
        r.dims = Some([dims("web-blue"), dims("web-green")]);
        let got = r.read(&c).await.unwrap();
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        assert!(got.found);
        assert_eq!(got.blue.requests, vec![(at(60), 900.0), (at(120), 800.0)]);
        assert_eq!(got.blue.errors, vec![(at(120), 2.0)]);
        assert_eq!(got.green.requests, vec![(at(60), 100.0), (at(120), 200.0)]);
        assert_eq!(got.green.errors, vec![(at(60), 20.0), (at(120), 40.0)]);
        // Known dimensions are not looked up again: each read is one GetMetricData.
        r.read(&c).await.unwrap();
        assert_eq!(data.num_calls(), 2);
    }
}
