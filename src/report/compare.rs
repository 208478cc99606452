//! Green against blue: which error groups the release brought and which were there before.
//!
//! Both colours' logs are analysed the same way over the same window, so a group is
//! the same normalised message on either side. A group seen only in green is *new in
//! green*; one seen in both is *also in blue*, with how many times blue's rate green
//! had; one seen only in blue is *only in blue*. Rates are errors per request when the
//! load balancer's request counts are known (the fair measure: green took a few
//! percent of the traffic), otherwise errors per log line read; when the lines were
//! fetched through a filter pattern the lines read are not all the lines, so then no
//! rate is given rather than a wrong one. Pure functions, tested below.

use crate::logscan::model::{ErrorGroup, LogEvidence};
use crate::report::model::Metrics;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourStatus {
    NewInGreen,
    AlsoInBlue,
    OnlyInBlue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateBasis {
    /// Error lines per request (ALB RequestCount of each colour's target group).
    Requests,
    /// Error lines per log line read from each colour's streams.
    LinesRead,
    /// Neither is known: counts only.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub basis: RateBasis,
    /// Requests or lines read of each colour (the rates' denominators).
    pub green_denominator: f64,
    pub blue_denominator: f64,
    /// Green groups first (new, then also in blue by ratio), then blue-only ones.
    pub groups: Vec<GroupComparison>,
    /// Said when a group could be missing from one side's table (caps, top groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupComparison {
    pub status: ColourStatus,
    /// The status in words: `new in green`, `also in blue (4.0× the rate)`, `only in blue`.
    pub label: String,
    /// The group key (normalised message), as in `logs.groups[].message`.
    pub message: String,
    pub sample: String,
    pub green_count: u64,
    pub blue_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub green_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_rate: Option<f64>,
    /// green_rate / blue_rate, for groups in both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_route: Option<String>,
}

impl GroupComparison {
    /// "new in green", "also in blue (3.2× the rate)", "only in blue".
    fn describe(&self) -> String {
        match self.status {
            ColourStatus::NewInGreen => "new in green".into(),
            ColourStatus::OnlyInBlue => "only in blue".into(),
            ColourStatus::AlsoInBlue => match self.ratio {
                Some(r) => format!("also in blue ({}× the rate)", ratio_text(r)),
                None => "also in blue".into(),
            },
        }
    }
}

/// A ratio for people: one decimal below 10, whole above.
fn ratio_text(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

impl RateBasis {
    pub fn describe(self) -> &'static str {
        match self {
            RateBasis::Requests => "error lines per request (load balancer RequestCount)",
            RateBasis::LinesRead => "error lines per log line read",
            RateBasis::None => {
                "no rate (only error lines were fetched and no request counts are known)"
            }
        }
    }
}

/// Compares green's error groups with blue's.
pub fn compare(green: &LogEvidence, blue: &LogEvidence, metrics: Option<&Metrics>) -> Comparison {
    let filtered = green.filter_pattern.is_some() || blue.filter_pattern.is_some();
    let (basis, gd, bd) = match metrics.map(|m| &m.totals) {
        Some(t) if t.green_requests > 0.0 && t.blue_requests > 0.0 => {
            (RateBasis::Requests, t.green_requests, t.blue_requests)
        }
        _ if !filtered && green.lines_read > 0 && blue.lines_read > 0 => (
            RateBasis::LinesRead,
            green.lines_read as f64,
            blue.lines_read as f64,
        ),
        _ => (RateBasis::None, 0.0, 0.0),
    };
    let rate = |n: u64, d: f64| (basis != RateBasis::None && d > 0.0).then(|| n as f64 / d);
    let find = |groups: &[ErrorGroup], key: &str| {
        groups.iter().find(|g| g.message == key).map(|g| g.count)
    };
    let mut out: Vec<GroupComparison> = Vec::new();
    for g in &green.groups {
        let b = find(&blue.groups, &g.message).unwrap_or(0);
        let (gr, br) = (rate(g.count, gd), rate(b, bd));
        out.push(GroupComparison {
            label: String::new(),
            status: if b > 0 {
                ColourStatus::AlsoInBlue
            } else {
                ColourStatus::NewInGreen
            },
            message: g.message.clone(),
            sample: g.sample.clone(),
            green_count: g.count,
            blue_count: b,
            green_rate: gr,
            blue_rate: (b > 0).then_some(br).flatten(),
            ratio: match (gr, br) {
                (Some(x), Some(y)) if b > 0 && y > 0.0 => Some(x / y),
                _ => None,
            },
            top_route: top_route(g),
        });
    }
    for g in &blue.groups {
        if find(&green.groups, &g.message).is_none() {
            out.push(GroupComparison {
                status: ColourStatus::OnlyInBlue,
                label: String::new(),
                message: g.message.clone(),
                sample: g.sample.clone(),
                green_count: 0,
                blue_count: g.count,
                green_rate: None,
                blue_rate: rate(g.count, bd),
                ratio: None,
                top_route: top_route(g),
            });
        }
    }
    for g in &mut out {
        g.label = g.describe();
    }
    let rank = |c: &GroupComparison| match c.status {
        ColourStatus::NewInGreen => 0,
        ColourStatus::AlsoInBlue => 1,
        ColourStatus::OnlyInBlue => 2,
    };
    out.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| {
            b.ratio
                .unwrap_or(0.0)
                .total_cmp(&a.ratio.unwrap_or(0.0))
                .then(b.green_count.cmp(&a.green_count))
                .then(b.blue_count.cmp(&a.blue_count))
        })
    });
    Comparison {
        basis,
        green_denominator: gd,
        blue_denominator: bd,
        groups: out,
        caveat: caveat(green, blue),
    }
}

/// The route most of a group's lines came from, when one did.
fn top_route(g: &ErrorGroup) -> Option<String> {
    g.routes
        .first()
        .filter(|r| r.count * 2 >= g.count && r.value != "(other routes)")
        .map(|r| r.value.clone())
}

/// Why a group could be on one side only because of the analysis, not the release.
fn caveat(green: &LogEvidence, blue: &LogEvidence) -> Option<String> {
    let mut why = Vec::new();
    for (name, l) in [("green", green), ("blue", blue)] {
        if !l.caps_hit.is_empty() {
            why.push(format!(
                "{name}'s analysis hit a cap ({})",
                l.caps_hit.join("; ")
            ));
        }
        if l.ungrouped_error_lines > 0 {
            why.push(format!(
                "{} of {name}'s error lines were beyond the group cap",
                l.ungrouped_error_lines
            ));
        }
    }
    (!why.is_empty()).then(|| {
        format!(
            "only each side's top groups are compared, and {}: a group marked on one side only may be rare on the other",
            why.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logscan::model::Count;
    use crate::report::model::MetricTotals;

    fn group(msg: &str, count: u64, route: &str) -> ErrorGroup {
        ErrorGroup {
            message: msg.into(),
            sample: msg.into(),
            count,
            routes: vec![Count {
                value: route.into(),
                count,
            }],
            ..Default::default()
        }
    }

    fn logs(lines: u64, groups: Vec<ErrorGroup>) -> LogEvidence {
        LogEvidence {
            lines_read: lines,
            error_lines: groups.iter().map(|g| g.count).sum(),
            groups,
            ..Default::default()
        }
    }

    fn metrics(green: f64, blue: f64) -> Metrics {
        Metrics {
            totals: MetricTotals {
                green_requests: green,
                blue_requests: blue,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn marks_new_also_and_only_with_rates_per_request() {
        let green = logs(
            100,
            vec![
                group("Database connection refused", 40, "GET /api/orders"),
                group("Recommendations timed out", 4, "GET /api/products"),
            ],
        );
        let blue = logs(
            900,
            vec![
                group("Recommendations timed out", 10, "GET /api/products"),
                group("Cache miss storm", 2, "GET /api/x"),
            ],
        );
        let c = compare(&green, &blue, Some(&metrics(100.0, 1000.0)));
        assert_eq!(c.basis, RateBasis::Requests);
        let s: Vec<(ColourStatus, &str)> = c
            .groups
            .iter()
            .map(|g| (g.status, g.message.as_str()))
            .collect();
        assert_eq!(
            s,
            vec![
                (ColourStatus::NewInGreen, "Database connection refused"),
                (ColourStatus::AlsoInBlue, "Recommendations timed out"),
                (ColourStatus::OnlyInBlue, "Cache miss storm"),
            ]
        );
        // 4/100 against 10/1000: four times the rate.
        let also = &c.groups[1];
        assert!((also.ratio.unwrap() - 4.0).abs() < 1e-9, "{also:?}");
        assert_eq!(also.label, "also in blue (4.0× the rate)");
        assert_eq!(c.groups[0].top_route.as_deref(), Some("GET /api/orders"));
        assert_eq!(c.groups[0].label, "new in green");
    }

    #[test]
    fn lines_read_without_metrics_and_no_rate_when_filtered() {
        let green = logs(100, vec![group("A", 10, "r")]);
        let blue = logs(1000, vec![group("A", 10, "r")]);
        let c = compare(&green, &blue, None);
        assert_eq!(c.basis, RateBasis::LinesRead);
        assert!((c.groups[0].ratio.unwrap() - 10.0).abs() < 1e-9);
        let mut fg = green.clone();
        fg.filter_pattern = Some("{ $.level >= 50 }".into());
        let c = compare(&fg, &blue, None);
        assert_eq!(c.basis, RateBasis::None);
        assert_eq!(c.groups[0].ratio, None);
        assert_eq!(c.groups[0].label, "also in blue");
        // Request counts still give rates through a filter.
        let c = compare(&fg, &blue, Some(&metrics(50.0, 500.0)));
        assert_eq!(c.basis, RateBasis::Requests);
    }

    #[test]
    fn caps_are_named_as_a_caveat() {
        let mut green = logs(10, vec![group("A", 1, "r")]);
        green.ungrouped_error_lines = 7;
        let c = compare(&green, &logs(10, vec![]), None);
        assert!(c.caveat.unwrap().contains("7 of green's error lines"));
        assert_eq!(c.groups[0].status, ColourStatus::NewInGreen);
    }
}
