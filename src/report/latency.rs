//! Latency regressions: when the alarm that fired watches response time, the report
//! shows it per minute for blue and green, the routes whose requests were slow (from
//! the response time the log lines carry) and the spans that took the time (from the
//! traces of the slowest requests).
//!
//! The types are the `latency` part of report.json; the decisions (is an alarm a
//! latency alarm, which span of a trace took the time, which routes were slow) are
//! pure functions here.

use crate::aws::evidence::Series;
use crate::logscan::timing::{SlowRequest, Timing};
use crate::report::model::TraceEvidence;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// The latency alarm that fired.
    pub alarm: String,
    /// `TargetResponseTime`.
    pub metric: String,
    /// The alarm's statistic: `p99`, `Average`, …
    pub statistic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_seconds: Option<f64>,
    pub period_seconds: u32,
    /// Per period, the statistic of each colour's target group (absent: no requests).
    pub points: Vec<LatencyPoint>,
    /// Requests at or above this many ms count as slow below.
    pub slow_ms: f64,
    /// Routes by slow green requests, most first.
    pub slow_routes: Vec<SlowRoute>,
    /// The span that took the most time in each of the slowest requests' traces.
    pub slow_spans: Vec<SlowSpan>,
    /// What could not be read for this section, in words.
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyPoint {
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub green_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlowRoute {
    pub route: String,
    pub green_slow: u64,
    pub blue_slow: u64,
    /// Median and maximum of the slow green requests' response times.
    pub green_median_ms: f64,
    pub green_max_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_median_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlowSpan {
    pub trace_id: String,
    pub service: String,
    pub operation: String,
    /// Time spent in the span itself, its children's time taken off.
    pub self_ms: f64,
    pub duration_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

/// Whether an alarm's metric is a latency: ALB `TargetResponseTime`, or a name that
/// says latency or duration.
pub fn is_latency_metric(metric: &str) -> bool {
    let m = metric.to_ascii_lowercase();
    m == "targetresponsetime"
        || m.contains("latency")
        || m.contains("responsetime")
        || m.contains("duration")
}

/// One row per period from the blue and green series.
pub fn points(blue: &Series, green: &Series) -> Vec<LatencyPoint> {
    let mut rows: BTreeMap<DateTime<Utc>, LatencyPoint> = BTreeMap::new();
    for (at, v) in blue {
        rows.entry(*at)
            .or_insert_with(|| LatencyPoint {
                at: *at,
                ..Default::default()
            })
            .blue_seconds = Some(*v);
    }
    for (at, v) in green {
        rows.entry(*at)
            .or_insert_with(|| LatencyPoint {
                at: *at,
                ..Default::default()
            })
            .green_seconds = Some(*v);
    }
    rows.into_values().collect()
}

/// Green's slow routes (most slow requests first) with blue's count for the same route.
pub fn slow_routes(green: &Timing, blue: Option<&Timing>) -> Vec<SlowRoute> {
    let blue_routes = blue.map(|b| b.routes()).unwrap_or_default();
    green
        .routes()
        .into_iter()
        .take(10)
        .map(|g| {
            let b = blue_routes.iter().find(|b| b.route == g.route);
            SlowRoute {
                route: g.route,
                green_slow: g.count,
                blue_slow: b.map(|b| b.count).unwrap_or(0),
                green_median_ms: g.median_ms,
                green_max_ms: g.max_ms,
                blue_median_ms: b.map(|b| b.median_ms),
            }
        })
        .collect()
}

/// The span with the most time of its own in each slow request's trace.
pub fn slow_spans(traces: &TraceEvidence, slowest: &[SlowRequest]) -> Vec<SlowSpan> {
    traces
        .traces
        .iter()
        .filter_map(|t| {
            let s = t.slowest_span.as_ref()?;
            Some(SlowSpan {
                trace_id: t.trace_id.clone(),
                service: s.service.clone(),
                operation: s.operation.clone(),
                self_ms: t.slowest_self_ms.unwrap_or(s.duration_ms),
                duration_ms: s.duration_ms,
                trace_ms: t.duration_ms,
                downstream_url: s.downstream_url.clone(),
                route: slowest
                    .iter()
                    .find(|r| r.trace_id.as_deref() == Some(t.trace_id.as_str()))
                    .map(|r| r.route.clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{SpanSummary, TraceSummary};
    use chrono::TimeZone;

    #[test]
    fn latency_metrics_are_recognised() {
        assert!(is_latency_metric("TargetResponseTime"));
        assert!(is_latency_metric("p99_latency_ms"));
        assert!(!is_latency_metric("HTTPCode_Target_5XX_Count"));
    }

    #[test]
    fn points_join_both_colours_by_minute() {
        let t = |m| Utc.with_ymd_and_hms(2026, 1, 1, 10, m, 0).unwrap();
        let p = points(&vec![(t(0), 0.05), (t(1), 0.06)], &vec![(t(1), 1.7)]);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].blue_seconds, p[0].green_seconds), (Some(0.05), None));
        assert_eq!(
            (p[1].blue_seconds, p[1].green_seconds),
            (Some(0.06), Some(1.7))
        );
    }

    #[test]
    fn slow_spans_take_the_trace_s_slowest_span_and_the_request_s_route() {
        let ev = TraceEvidence {
            traces: vec![TraceSummary {
                trace_id: "abc".into(),
                found: true,
                duration_ms: Some(1650.0),
                slowest_span: Some(SpanSummary {
                    operation: "GET".into(),
                    service: "web".into(),
                    duration_ms: 1600.0,
                    downstream_url: Some("http://inventory.internal/v1/stock".into()),
                    ..Default::default()
                }),
                slowest_self_ms: Some(1600.0),
                ..Default::default()
            }],
            ..Default::default()
        };
        let slow = vec![SlowRequest {
            route: "GET /api/orders".into(),
            ms: 1650.0,
            trace_id: Some("abc".into()),
        }];
        let s = slow_spans(&ev, &slow);
        assert_eq!(s[0].operation, "GET");
        assert_eq!(s[0].route.as_deref(), Some("GET /api/orders"));
        assert_eq!(s[0].self_ms, 1600.0);
    }
}
