//! Traces from Jaeger's query API (`GET {jaeger_url}/api/traces/{id}`): the root
//! operation, the span where the error happened and a link to the Jaeger UI.
//!
//! Jaeger being down or a trace being gone (sampled out, expired) is normal after the
//! fact; it is recorded with the reason and the report completes.

use crate::logscan::redact::redact_owned;
use crate::report::model::{SpanSummary, TraceCount, TraceEvidence, TraceStatus, TraceSummary};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Longest database statement or URL kept in a span summary.
const MAX_DETAIL: usize = 200;
/// Largest trace body read (a huge trace is cut off rather than filling memory).
const MAX_BODY: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct JaegerConfig {
    pub url: String,
    pub ui_url: String,
    pub timeout: Duration,
}

/// Looks up the top `max` trace ids.
pub async fn lookup(cfg: Option<&JaegerConfig>, ids: &[TraceCount], max: usize) -> TraceEvidence {
    let Some(cfg) = cfg else {
        return TraceEvidence {
            status: TraceStatus::NotConfigured,
            reason: Some("no Jaeger URL configured ([report] jaeger_url or --jaeger-url)".into()),
            ..Default::default()
        };
    };
    let mut ev = TraceEvidence {
        jaeger_url: Some(cfg.url.clone()),
        ..Default::default()
    };
    if ids.is_empty() || max == 0 {
        ev.status = TraceStatus::NoTraceIds;
        ev.reason = Some("no trace ids were found in the error lines".into());
        return ev;
    }
    let ids: Vec<&TraceCount> = ids.iter().take(max).collect();
    // The first lookup tells whether Jaeger is there at all; without it the others
    // would each wait for their own timeout.
    let first = fetch(cfg, &ids[0].trace_id).await;
    if let Err(Failure::Unreachable(why)) = &first {
        ev.status = TraceStatus::Unavailable;
        ev.reason = Some(format!("Jaeger at {} could not be reached: {why}", cfg.url));
        ev.traces = ids
            .iter()
            .map(|t| not_found(cfg, t, "Jaeger unreachable"))
            .collect();
        return ev;
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in ids.iter().enumerate().skip(1) {
        let cfg = cfg.clone();
        let id = t.trace_id.clone();
        set.spawn(async move { (i, fetch(&cfg, &id).await) });
    }
    let mut results: Vec<Option<Result<Value, Failure>>> = (0..ids.len()).map(|_| None).collect();
    results[0] = Some(first);
    while let Some(done) = set.join_next().await {
        if let Ok((i, r)) = done {
            results[i] = Some(r);
        }
    }
    let mut found = 0;
    for (t, r) in ids.iter().zip(results) {
        let summary = match r {
            Some(Ok(v)) => match summarise(&v, &t.trace_id) {
                Some(mut s) => {
                    s.error_lines = t.error_lines;
                    s.ui_url = Some(ui_link(cfg, &t.trace_id));
                    found += 1;
                    s
                }
                None => not_found(cfg, t, "the answer held no spans"),
            },
            Some(Err(Failure::NotFound)) => {
                not_found(cfg, t, "not in Jaeger (expired or not sampled)")
            }
            Some(Err(Failure::Unreachable(why))) | Some(Err(Failure::Bad(why))) => {
                not_found(cfg, t, &why)
            }
            None => not_found(cfg, t, "the lookup did not finish"),
        };
        ev.traces.push(summary);
    }
    ev.status = if found == ids.len() {
        TraceStatus::Ok
    } else if found == 0 {
        ev.reason = Some("none of the looked-up traces could be read".into());
        TraceStatus::Unavailable
    } else {
        ev.reason = Some(format!(
            "{} of {} traces could not be read",
            ids.len() - found,
            ids.len()
        ));
        TraceStatus::Partial
    };
    ev
}

fn ui_link(cfg: &JaegerConfig, id: &str) -> String {
    format!("{}/trace/{id}", cfg.ui_url.trim_end_matches('/'))
}

fn not_found(cfg: &JaegerConfig, t: &TraceCount, why: &str) -> TraceSummary {
    TraceSummary {
        trace_id: t.trace_id.clone(),
        error_lines: t.error_lines,
        found: false,
        reason: Some(why.to_owned()),
        ui_url: Some(ui_link(cfg, &t.trace_id)),
        ..Default::default()
    }
}

#[derive(Debug)]
enum Failure {
    Unreachable(String),
    NotFound,
    Bad(String),
}

async fn fetch(cfg: &JaegerConfig, id: &str) -> Result<Value, Failure> {
    // Ids are hex or `[A-Za-z0-9_-]`, so they need no escaping in a path.
    let url = format!("{}/api/traces/{id}", cfg.url.trim_end_matches('/'));
    let (status, body) = match tokio::time::timeout(cfg.timeout, get(&url)).await {
        Ok(r) => r.map_err(Failure::Unreachable)?,
        Err(_) => {
            return Err(Failure::Unreachable(format!(
                "no answer within {} s",
                cfg.timeout.as_secs()
            )));
        }
    };
    if status == 404 {
        return Err(Failure::NotFound);
    }
    if !(200..300).contains(&status) {
        return Err(Failure::Bad(format!("Jaeger answered HTTP {status}")));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::Bad(format!("unreadable answer: {e}")))?;
    let has_data = v
        .get("data")
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty());
    if !has_data {
        return Err(Failure::NotFound);
    }
    Ok(v)
}

/// One GET; `Err` for anything below HTTP (DNS, connect, TLS).
async fn get(url: &str) -> Result<(u16, Bytes), String> {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    let req = hyper::Request::get(uri.clone())
        .header("accept", "application/json")
        .header(
            "user-agent",
            concat!("shipwatch/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = if uri.scheme_str() == Some("https") {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("no TLS root certificates: {e}"))?
            .https_only()
            .enable_http1()
            .build();
        Client::builder(TokioExecutor::new())
            .build(https)
            .request(req)
            .await
    } else {
        let http = hyper_util::client::legacy::connect::HttpConnector::new();
        Client::builder(TokioExecutor::new())
            .build(http)
            .request(req)
            .await
    };
    let resp = resp.map_err(|e| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        msg
    })?;
    let status = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// Summarises Jaeger's `{"data":[{traceID, spans, processes}]}`.
pub fn summarise(v: &Value, id: &str) -> Option<TraceSummary> {
    let trace = v.get("data")?.as_array()?.first()?;
    let spans = trace.get("spans")?.as_array()?;
    if spans.is_empty() {
        return None;
    }
    let processes = trace.get("processes").and_then(Value::as_object);
    let service_of = |s: &Value| -> String {
        s.get("processID")
            .and_then(Value::as_str)
            .and_then(|p| processes.and_then(|ps| ps.get(p)))
            .and_then(|p| p.get("serviceName"))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let span_id = |s: &Value| {
        s.get("spanID")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let ids: std::collections::HashSet<String> = spans.iter().map(span_id).collect();
    let parent_of = |s: &Value| -> Option<String> {
        s.get("references")?
            .as_array()?
            .iter()
            .find(|r| {
                r.get("refType").and_then(Value::as_str) == Some("CHILD_OF")
                    || r.get("refType").is_some()
            })
            .and_then(|r| r.get("spanID").and_then(Value::as_str))
            .map(str::to_owned)
    };
    let start = |s: &Value| s.get("startTime").and_then(Value::as_i64).unwrap_or(0);
    // The root: no parent inside this trace; the earliest if there are several.
    let root = spans
        .iter()
        .filter(|s| parent_of(s).is_none_or(|p| !ids.contains(&p)))
        .min_by_key(|s| start(s))
        .unwrap_or(&spans[0]);
    // Error spans; the one that failed first is the one with no failing child.
    let errors: Vec<&Value> = spans.iter().filter(|s| is_error(s)).collect();
    // Every ancestor of an error span: the error happened below them.
    let parents: HashMap<String, Option<String>> =
        spans.iter().map(|s| (span_id(s), parent_of(s))).collect();
    let mut above_an_error: std::collections::HashSet<String> = std::collections::HashSet::new();
    for e in &errors {
        let mut cur = parents.get(&span_id(e)).cloned().flatten();
        let mut hops = 0;
        while let Some(p) = cur {
            if !above_an_error.insert(p.clone()) || hops > spans.len() {
                break;
            }
            hops += 1;
            cur = parents.get(&p).cloned().flatten();
        }
    }
    let error_span = errors
        .iter()
        .filter(|s| !above_an_error.contains(&span_id(s)))
        .min_by_key(|s| start(s))
        .or_else(|| errors.first())
        .copied();
    let end = spans
        .iter()
        .map(|s| start(s) + s.get("duration").and_then(Value::as_i64).unwrap_or(0))
        .max()
        .unwrap_or(0);
    let first = spans.iter().map(start).min().unwrap_or(0);
    let mut services: Vec<String> = spans.iter().map(service_of).collect();
    services.sort();
    services.dedup();
    let summary = |s: &Value| SpanSummary {
        span_id: span_id(s),
        service: service_of(s),
        operation: s
            .get("operationName")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned(),
        status: status_of(s),
        error_message: error_message(s).map(|m| trim(&redact_owned(&m))),
        db_statement: tag_str(s, &["db.statement", "db.query.text"])
            .map(|m| trim(&redact_owned(&m))),
        downstream_url: tag_str(
            s,
            &[
                "http.url",
                "url.full",
                "peer.address",
                "net.peer.name",
                "server.address",
            ],
        )
        .map(|m| trim(&redact_owned(&m))),
        duration_ms: s.get("duration").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0,
    };
    Some(TraceSummary {
        trace_id: id.to_owned(),
        error_lines: 0,
        found: true,
        reason: None,
        root: Some(summary(root)),
        error_span: error_span.map(summary),
        duration_ms: Some((end - first) as f64 / 1000.0),
        span_count: spans.len() as u32,
        services,
        ui_url: None,
    })
}

fn tags(s: &Value) -> HashMap<&str, &Value> {
    s.get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| Some((t.get("key")?.as_str()?, t.get("value")?)))
                .collect()
        })
        .unwrap_or_default()
}

fn tag_str(s: &Value, keys: &[&str]) -> Option<String> {
    let t = tags(s);
    keys.iter().find_map(|k| match t.get(k)? {
        Value::String(v) if !v.is_empty() => Some(v.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn is_error(s: &Value) -> bool {
    let t = tags(s);
    let flag = matches!(t.get("error"), Some(Value::Bool(true)))
        || matches!(t.get("error"), Some(Value::String(v)) if v == "true");
    let otel = matches!(t.get("otel.status_code"), Some(Value::String(v)) if v.eq_ignore_ascii_case("ERROR"));
    let http = ["http.status_code", "http.response.status_code"]
        .iter()
        .any(|k| {
            t.get(k)
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .is_some_and(|c| c >= 500)
        });
    flag || otel || http
}

fn status_of(s: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(c) = tag_str(s, &["otel.status_code"]) {
        parts.push(c);
    }
    if let Some(c) = tag_str(s, &["http.status_code", "http.response.status_code"]) {
        parts.push(format!("HTTP {c}"));
    }
    if parts.is_empty() && is_error(s) {
        parts.push("error".into());
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn error_message(s: &Value) -> Option<String> {
    if let Some(m) = tag_str(
        s,
        &[
            "otel.status_description",
            "error.message",
            "exception.message",
            "error.object",
        ],
    ) {
        return Some(m);
    }
    // OpenTelemetry exception events show up as span logs.
    let logs = s.get("logs")?.as_array()?;
    logs.iter().find_map(|l| {
        let fields = l.get("fields")?.as_array()?;
        let get = |k: &str| {
            fields
                .iter()
                .find(|f| f.get("key").and_then(Value::as_str) == Some(k))
                .and_then(|f| f.get("value")?.as_str())
        };
        let typ = get("exception.type").or(get("error.kind"));
        let msg = get("exception.message")
            .or(get("message"))
            .or(get("error.object"))?;
        Some(match typ {
            Some(t) if !msg.starts_with(t) => format!("{t}: {msg}"),
            _ => msg.to_owned(),
        })
    })
}

fn trim(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_DETAIL {
        one_line
    } else {
        format!("{}…", one_line.chars().take(MAX_DETAIL).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/report/jaeger-trace.json"
        ))
        .unwrap()
    }

    #[test]
    fn finds_root_and_deepest_error_span() {
        let s = summarise(&fixture(), "4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let root = s.root.unwrap();
        assert_eq!(root.operation, "GET /api/orders");
        assert_eq!(root.service, "orders-api");
        let e = s.error_span.unwrap();
        assert_eq!(e.operation, "pg.connect");
        assert_eq!(e.service, "orders-api");
        assert_eq!(e.status.as_deref(), Some("ERROR"));
        assert_eq!(
            e.error_message.as_deref(),
            Some("Error: connect ECONNREFUSED 10.0.3.17:5432")
        );
        assert_eq!(e.downstream_url, None);
        assert_eq!(
            e.db_statement.as_deref(),
            Some("SELECT id, total FROM orders WHERE customer_id = $1")
        );
        assert_eq!(s.span_count, 3);
        assert_eq!(s.duration_ms, Some(30.0));
    }

    #[test]
    fn error_below_a_healthy_span_is_still_the_deepest() {
        // The handler between the failing server span and pg.connect carries no error tag.
        let mut v = fixture();
        v["data"][0]["spans"][1]["tags"] = serde_json::json!([]);
        let s = summarise(&v, "4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(s.error_span.unwrap().operation, "pg.connect");
    }

    #[test]
    fn empty_answer_is_no_trace() {
        assert!(summarise(&serde_json::json!({"data": []}), "x").is_none());
    }

    #[tokio::test]
    async fn unreachable_jaeger_is_recorded_not_fatal() {
        // Port 9 on loopback: nothing listens there, so the connection is refused at once.
        let cfg = JaegerConfig {
            url: "http://127.0.0.1:9".into(),
            ui_url: "http://127.0.0.1:9".into(),
            timeout: Duration::from_secs(3),
        };
        let ids = vec![TraceCount {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            error_lines: 3,
            group: None,
            first_seen: None,
        }];
        let ev = lookup(Some(&cfg), &ids, 5).await;
        assert_eq!(ev.status, TraceStatus::Unavailable);
        assert!(
            ev.reason
                .as_deref()
                .unwrap()
                .contains("could not be reached"),
            "{:?}",
            ev.reason
        );
        assert_eq!(ev.traces.len(), 1);
        assert!(!ev.traces[0].found);
    }

    #[tokio::test]
    async fn not_configured() {
        let ev = lookup(None, &[], 5).await;
        assert_eq!(ev.status, TraceStatus::NotConfigured);
    }
}
