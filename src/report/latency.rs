//! Latency regressions: when the alarm that fired watches response time, the report
//! shows it per minute for blue and green, the routes whose requests were slow (from
//! the response time the log lines carry) and the spans that took the time (from the
//! traces of the slowest requests).
//!
//! The types are the `latency` part of report.json; the decisions (is an alarm a
//! latency alarm, which span of a trace took the time, which routes were slow) are
//! pure functions here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
