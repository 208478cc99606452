//! Response times from request log lines: which routes were slow, and the trace ids of
//! the slowest requests, for the report's latency section.
//!
//! Kept apart from the error analysis (`analyse.rs`), whose speed comes from not
//! parsing ordinary lines: this reads only lines fetched for being slow (a filter
//! pattern on the response-time field, see `slow_clause`), so it parses each one.
//! Fields, by unit: milliseconds in pino's `responseTime` and the `*_ms` names,
//! seconds in nginx's `request_time` and `upstream_response_time`.

use crate::logscan::json::Json;
use crate::logscan::logline::{get_str, json_route, lookup};
use crate::logscan::traceid;
use std::collections::HashMap;

const MS_FIELDS: &[&str] = &[
    "responseTime",
    "response_time_ms",
    "duration_ms",
    "elapsed_ms",
    "latency_ms",
];
const SECONDS_FIELDS: &[&str] = &["request_time", "upstream_response_time"];
/// Response times kept per route (for the median); the count goes on past it.
const MAX_PER_ROUTE: usize = 10_000;
/// Slowest requests kept for the trace lookup.
const SLOWEST: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct SlowRequest {
    pub route: String,
    pub ms: f64,
    pub trace_id: Option<String>,
}

/// Slow requests by route.
#[derive(Debug, Default)]
pub struct Timing {
    slow_ms: f64,
    routes: HashMap<String, (u64, Vec<f64>)>,
    slowest: Vec<SlowRequest>,
    /// Lines read that had no response time (or no route).
    pub unreadable: u64,
}

/// One route's slow requests: count, median and maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTimes {
    pub route: String,
    pub count: u64,
    pub median_ms: f64,
    pub max_ms: f64,
}

impl Timing {
    pub fn new(slow_ms: f64) -> Self {
        Timing {
            slow_ms,
            ..Default::default()
        }
    }

    /// Reads one line; counts it when it is a request at or above the slow mark.
    pub fn feed(&mut self, line: &str) {
        let Some(v) = Json::parse(line.trim()).filter(Json::is_object) else {
            self.unreadable += 1;
            return;
        };
        let (Some(ms), Some(route)) = (response_ms(&v), json_route(&v)) else {
            self.unreadable += 1;
            return;
        };
        if ms < self.slow_ms {
            return;
        }
        let e = self.routes.entry(route.clone()).or_default();
        e.0 += 1;
        if e.1.len() < MAX_PER_ROUTE {
            e.1.push(ms);
        }
        let mut ids = Vec::new();
        traceid::from_json(&v, None, &mut ids);
        self.slowest.push(SlowRequest {
            route,
            ms,
            trace_id: ids.into_iter().next(),
        });
        if self.slowest.len() > SLOWEST * 4 {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.slowest.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        self.slowest.truncate(SLOWEST);
    }

    /// Routes by slow requests, most first.
    pub fn routes(&self) -> Vec<RouteTimes> {
        let mut out: Vec<RouteTimes> = self
            .routes
            .iter()
            .map(|(r, (n, v))| {
                let mut v = v.clone();
                v.sort_by(f64::total_cmp);
                RouteTimes {
                    route: r.clone(),
                    count: *n,
                    median_ms: v.get(v.len() / 2).copied().unwrap_or(0.0),
                    max_ms: v.last().copied().unwrap_or(0.0),
                }
            })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.route.cmp(&b.route)));
        out
    }

    /// The slowest requests that carry a trace id, slowest first.
    pub fn slowest(&mut self, n: usize) -> Vec<SlowRequest> {
        self.trim();
        self.slowest
            .iter()
            .filter(|r| r.trace_id.is_some())
            .take(n)
            .cloned()
            .collect()
    }
}

/// A line's response time in milliseconds.
pub fn response_ms(v: &Json) -> Option<f64> {
    let num =
        |f: &str| lookup(v, f).and_then(|x| x.as_f64().or_else(|| get_str(v, f)?.parse().ok()));
    MS_FIELDS.iter().find_map(|f| num(f)).or_else(|| {
        SECONDS_FIELDS
            .iter()
            .find_map(|f| num(f))
            .map(|s| s * 1000.0)
    })
}

/// The JSON filter clause that selects requests of `slow_ms` or more, for the
/// response-time field the sample lines carry (numbers only: a pattern cannot compare
/// a quoted number).
pub fn slow_clause(sample: &[&str], slow_ms: f64) -> Option<String> {
    let docs: Vec<Json> = sample
        .iter()
        .filter_map(|l| Json::parse(l.trim()).filter(Json::is_object))
        .collect();
    let has = |f: &str| {
        docs.iter().any(|d| {
            matches!(
                d.as_object().and_then(|o| o.iter().find(|(k, _)| k == f)),
                Some((_, Json::Number(_)))
            )
        })
    };
    if let Some(f) = MS_FIELDS.iter().find(|f| has(f)) {
        return Some(format!("$.{f} >= {}", slow_ms.round()));
    }
    SECONDS_FIELDS
        .iter()
        .find(|f| has(f))
        .map(|f| format!("$.{f} >= {}", slow_ms / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pino(ms: u64, url: &str, trace: &str) -> String {
        format!(
            r#"{{"level":30,"time":1,"trace_id":"{trace}","req":{{"method":"GET","url":"{url}"}},"res":{{"statusCode":200}},"responseTime":{ms},"msg":"request completed"}}"#
        )
    }

    #[test]
    fn slow_routes_and_the_slowest_traces() {
        let mut t = Timing::new(1000.0);
        for (ms, url, trace) in [
            (
                1500,
                "/api/orders?customerId=1",
                "aa11aa11aa11aa11aa11aa11aa11aa11",
            ),
            (
                1700,
                "/api/orders?customerId=2",
                "bb22bb22bb22bb22bb22bb22bb22bb22",
            ),
            (
                1600,
                "/api/orders?customerId=3",
                "cc33cc33cc33cc33cc33cc33cc33cc33",
            ),
            (
                40,
                "/api/orders?customerId=3",
                "dd44dd44dd44dd44dd44dd44dd44dd44",
            ),
            (1100, "/api/products", "ee55ee55ee55ee55ee55ee55ee55ee55"),
        ] {
            t.feed(&pino(ms, url, trace));
        }
        t.feed("not json");
        let r = t.routes();
        assert_eq!(r[0].route, "GET /api/orders");
        assert_eq!(
            (r[0].count, r[0].median_ms, r[0].max_ms),
            (3, 1600.0, 1700.0)
        );
        assert_eq!(r[1].route, "GET /api/products");
        let s = t.slowest(2);
        assert_eq!(
            s[0].trace_id.as_deref(),
            Some("bb22bb22bb22bb22bb22bb22bb22bb22")
        );
        assert_eq!(s.len(), 2);
        assert_eq!(t.unreadable, 1);
    }

    #[test]
    fn nginx_seconds_are_read_as_milliseconds() {
        let v = Json::parse(r#"{"request":"GET /a HTTP/1.1","request_time":1.25}"#).unwrap();
        assert_eq!(response_ms(&v), Some(1250.0));
        let line = pino(5, "/x", "ab");
        assert_eq!(
            slow_clause(&[line.as_str()], 1000.0).as_deref(),
            Some("$.responseTime >= 1000")
        );
        assert_eq!(
            slow_clause(&[r#"{"request_time":0.2}"#], 1500.0).as_deref(),
            Some("$.request_time >= 1.5")
        );
        assert_eq!(slow_clause(&["text"], 1000.0), None);
    }
}
