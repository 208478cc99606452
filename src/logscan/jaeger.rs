//! Traces from Jaeger's query API (`GET {jaeger_url}/api/traces/{id}`): the root
//! operation, the span where the error happened and a link to the Jaeger UI.
//!
//! Jaeger being down or a trace being gone (sampled out, expired) is normal after the
//! fact; it is recorded with the reason and the report completes.

use crate::logscan::model::{SpanSummary, TraceCount, TraceEvidence, TraceStatus, TraceSummary};
use crate::logscan::redact::redact_owned;
use reqwest::header::ACCEPT;
use reqwest::{Client, StatusCode};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
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
    let unreachable = |mut ev: TraceEvidence, why: &str| {
        ev.status = TraceStatus::Unavailable;
        ev.reason = Some(format!("Jaeger at {} could not be reached: {why}", cfg.url));
        ev.traces = ids
            .iter()
            .map(|t| not_found(cfg, t, "Jaeger unreachable"))
            .collect();
        ev
    };
    // One client for every lookup of the report: its connection pool and TLS roots
    // are set up once and shared by the concurrent lookups below.
    let client = match client(cfg) {
        Ok(c) => c,
        Err(e) => return unreachable(ev, &chain(&e)),
    };
    // The first lookup tells whether Jaeger is there at all; without it the others
    // would each wait for their own timeout.
    let first = fetch(&client, cfg, &ids[0].trace_id).await;
    if let Err(Failure::Unreachable(why)) = &first {
        return unreachable(ev, why);
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in ids.iter().enumerate().skip(1) {
        let client = client.clone();
        let cfg = cfg.clone();
        let id = t.trace_id.clone();
        set.spawn(async move { (i, fetch(&client, &cfg, &id).await) });
    }
    let mut results: Vec<Option<Result<Trace, Failure>>> = (0..ids.len()).map(|_| None).collect();
    results[0] = Some(first);
    while let Some(done) = set.join_next().await {
        if let Ok((i, r)) = done {
            results[i] = Some(r);
        }
    }
    let mut found = 0;
    for (t, r) in ids.iter().zip(results) {
        let summary = match r {
            Some(Ok(trace)) => match summarise_trace(&trace, &t.trace_id) {
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

/// The HTTP client for one report's lookups.
fn client(cfg: &JaegerConfig) -> reqwest::Result<Client> {
    Client::builder()
        // Covers connecting, the answer's head and reading its body.
        .timeout(cfg.timeout)
        .user_agent(concat!("shipwatch/", env!("CARGO_PKG_VERSION")))
        // Jaeger's query API is an internal service: an HTTP(S)_PROXY set for the
        // build's internet access would at best add a hop and usually cannot reach it.
        .no_proxy()
        .build()
}

async fn fetch(client: &Client, cfg: &JaegerConfig, id: &str) -> Result<Trace, Failure> {
    // Ids are hex or `[A-Za-z0-9_-]`, so they need no escaping in a path.
    let url = format!("{}/api/traces/{id}", cfg.url.trim_end_matches('/'));
    let transport = |e: reqwest::Error| {
        Failure::Unreachable(if e.is_timeout() {
            format!("no answer within {} s", cfg.timeout.as_secs())
        } else {
            chain(&e.without_url())
        })
    };
    let mut resp = client
        .get(&url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return Err(Failure::NotFound);
    }
    let body = read_body(&mut resp).await;
    if !status.is_success() {
        // Jaeger puts its own explanation in `errors`; the status alone is all there
        // is when the answer came from a proxy or load balancer in front of it.
        let said = body
            .ok()
            .and_then(|b| serde_json::from_slice::<Answer>(&b).ok())
            .and_then(|a| a.errors.into_iter().map(|e| e.msg).find(|m| !m.is_empty()))
            .map(|m| format!(": {}", trim(&redact_owned(&m))))
            .unwrap_or_default();
        return Err(Failure::Bad(format!(
            "Jaeger answered HTTP {}{said}",
            status.as_u16()
        )));
    }
    let body = body.map_err(|e| match e {
        BodyError::Transport(e) => transport(e),
        BodyError::TooLarge => {
            Failure::Bad(format!("the answer is larger than {} MiB", MAX_BODY >> 20))
        }
    })?;
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| Failure::Bad(format!("unreadable answer: {e}")))?;
    answer.data.into_iter().next().ok_or(Failure::NotFound)
}

enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

/// The body, up to [`MAX_BODY`].
async fn read_body(resp: &mut reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error with its causes, which hold the useful part (refused, DNS, TLS).
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// Jaeger's answer to `GET /api/traces/{id}`; fields shipwatch does not read are
/// left out. Missing or `null` lists and maps read as empty, so a trace from an
/// unusual client still gives what it has.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default, deserialize_with = "nullable")]
    data: Vec<Trace>,
    #[serde(default, deserialize_with = "nullable")]
    errors: Vec<ApiError>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(default)]
    msg: String,
}

#[derive(Debug, Deserialize)]
struct Trace {
    #[serde(default, deserialize_with = "nullable")]
    spans: Vec<Span>,
    #[serde(default, deserialize_with = "nullable")]
    processes: HashMap<String, Process>,
}

#[derive(Debug, Deserialize)]
struct Process {
    #[serde(rename = "serviceName", default)]
    service_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Span {
    #[serde(rename = "spanID", default)]
    span_id: String,
    #[serde(rename = "operationName", default)]
    operation_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    references: Vec<Reference>,
    /// Microseconds since the epoch.
    #[serde(rename = "startTime", default)]
    start_time: i64,
    /// Microseconds.
    #[serde(default)]
    duration: i64,
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<KeyValue>,
    #[serde(rename = "processID", default)]
    process_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    logs: Vec<Log>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    #[serde(rename = "refType", default)]
    ref_type: RefType,
    #[serde(rename = "spanID", default)]
    span_id: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum RefType {
    /// The referenced span is the parent and waited for this one.
    ChildOf,
    /// The referenced span caused this one but did not wait for it (a queued job,
    /// a fire-and-forget call): a cause, not a parent.
    FollowsFrom,
    #[default]
    #[serde(other)]
    Other,
}

/// A span tag or log field. `value` is a JSON bool, number or string according to
/// Jaeger's `type`, and clients disagree on the type of the same key
/// (`http.status_code` as int64 or as string), so it is kept as JSON and read leniently.
#[derive(Debug, Deserialize)]
struct KeyValue {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Deserialize)]
struct Log {
    #[serde(default, deserialize_with = "nullable")]
    fields: Vec<KeyValue>,
}

/// `null` as the type's default (Jaeger writes `null` for empty lists).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Summarises Jaeger's `{"data":[{traceID, spans, processes}]}` given as JSON.
#[cfg(test)]
pub fn summarise(v: &Value, id: &str) -> Option<TraceSummary> {
    let answer = Answer::deserialize(v).ok()?;
    summarise_trace(answer.data.first()?, id)
}

/// The span this one is a child of: its `CHILD_OF` reference. A `FOLLOWS_FROM`
/// span is not below the span it follows, so an error in it did not happen inside
/// that span.
fn parent_of(s: &Span) -> Option<&str> {
    s.references
        .iter()
        .find(|r| r.ref_type == RefType::ChildOf)
        .map(|r| r.span_id.as_str())
}

fn summarise_trace(trace: &Trace, id: &str) -> Option<TraceSummary> {
    let spans = &trace.spans;
    if spans.is_empty() {
        return None;
    }
    let service_of = |s: &Span| -> String {
        s.process_id
            .as_deref()
            .and_then(|p| trace.processes.get(p))
            .and_then(|p| p.service_name.clone())
            .unwrap_or_else(|| "?".to_owned())
    };
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    // The root: no parent inside this trace; the earliest if there are several.
    let root = spans
        .iter()
        .filter(|s| parent_of(s).is_none_or(|p| !ids.contains(p)))
        .min_by_key(|s| s.start_time)
        .unwrap_or(&spans[0]);
    // Error spans; the one that failed first is the one with no failing child.
    let errors: Vec<&Span> = spans.iter().filter(|s| is_error(s)).collect();
    // Every ancestor of an error span: the error happened below them.
    let parents: HashMap<&str, Option<&str>> = spans
        .iter()
        .map(|s| (s.span_id.as_str(), parent_of(s)))
        .collect();
    let mut above_an_error: HashSet<&str> = HashSet::new();
    for e in &errors {
        let mut cur = parents.get(e.span_id.as_str()).copied().flatten();
        let mut hops = 0;
        while let Some(p) = cur {
            if !above_an_error.insert(p) || hops > spans.len() {
                break;
            }
            hops += 1;
            cur = parents.get(p).copied().flatten();
        }
    }
    let error_span = errors
        .iter()
        .filter(|s| !above_an_error.contains(s.span_id.as_str()))
        .min_by_key(|s| s.start_time)
        .or_else(|| errors.first())
        .copied();
    let end = spans
        .iter()
        .map(|s| s.start_time + s.duration)
        .max()
        .unwrap_or(0);
    let first = spans.iter().map(|s| s.start_time).min().unwrap_or(0);
    let mut services: Vec<String> = spans.iter().map(service_of).collect();
    services.sort();
    services.dedup();
    let summary = |s: &Span| SpanSummary {
        span_id: s.span_id.clone(),
        service: service_of(s),
        operation: s.operation_name.clone().unwrap_or_else(|| "?".to_owned()),
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
        duration_ms: s.duration as f64 / 1000.0,
    };
    let (slowest, slowest_self) = slowest_span(spans);
    Some(TraceSummary {
        trace_id: id.to_owned(),
        error_lines: 0,
        found: true,
        reason: None,
        root: Some(summary(root)),
        error_span: error_span.map(summary),
        slowest_span: slowest.map(summary),
        slowest_self_ms: slowest.map(|_| slowest_self as f64 / 1000.0),
        duration_ms: Some((end - first) as f64 / 1000.0),
        span_count: spans.len() as u32,
        services,
        ui_url: None,
    })
}

/// The span with the most time of its own: its duration less its children's (µs).
fn slowest_span(spans: &[Span]) -> (Option<&Span>, i64) {
    let mut children: HashMap<&str, i64> = HashMap::new();
    for s in spans {
        if let Some(p) = parent_of(s) {
            *children.entry(p).or_default() += s.duration;
        }
    }
    spans
        .iter()
        .map(|s| {
            let own = s.duration - children.get(s.span_id.as_str()).copied().unwrap_or(0);
            (s, own.max(0))
        })
        .max_by_key(|(_, own)| *own)
        .map(|(s, own)| (Some(s), own))
        .unwrap_or((None, 0))
}

fn tags(s: &Span) -> HashMap<&str, &Value> {
    s.tags.iter().map(|t| (t.key.as_str(), &t.value)).collect()
}

fn tag_str(s: &Span, keys: &[&str]) -> Option<String> {
    let t = tags(s);
    keys.iter().find_map(|k| match t.get(k)? {
        Value::String(v) if !v.is_empty() => Some(v.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn is_error(s: &Span) -> bool {
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

fn status_of(s: &Span) -> Option<String> {
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

fn error_message(s: &Span) -> Option<String> {
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
    s.logs.iter().find_map(|l| {
        let get = |k: &str| {
            l.fields
                .iter()
                .find(|f| f.key == k)
                .and_then(|f| f.value.as_str())
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
    use std::io::{Read, Write};

    fn fixture() -> Value {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/report/jaeger-trace.json"
        ))
        .unwrap()
    }

    const ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn count(id: &str) -> TraceCount {
        TraceCount {
            trace_id: id.into(),
            error_lines: 3,
            group: None,
            first_seen: None,
        }
    }

    fn config(url: &str, timeout: Duration) -> JaegerConfig {
        JaegerConfig {
            url: url.into(),
            ui_url: url.into(),
            timeout,
        }
    }

    #[test]
    fn finds_root_and_deepest_error_span() {
        let s = summarise(&fixture(), ID).unwrap();
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
        let s = summarise(&v, ID).unwrap();
        assert_eq!(s.error_span.unwrap().operation, "pg.connect");
    }

    #[test]
    fn the_parent_is_the_child_of_reference_not_the_first_one() {
        let span: Span = serde_json::from_value(serde_json::json!({
            "spanID": "3333333333333333",
            "references": [
                {"refType": "FOLLOWS_FROM", "traceID": ID, "spanID": "aaaaaaaaaaaaaaaa"},
                {"refType": "CHILD_OF", "traceID": ID, "spanID": "bbbbbbbbbbbbbbbb"}
            ]
        }))
        .unwrap();
        assert_eq!(span.references[0].ref_type, RefType::FollowsFrom);
        assert_eq!(span.references[1].ref_type, RefType::ChildOf);
        assert_eq!(parent_of(&span), Some("bbbbbbbbbbbbbbbb"));
    }

    #[test]
    fn a_follows_from_span_has_no_parent() {
        let span: Span = serde_json::from_value(serde_json::json!({
            "spanID": "3333333333333333",
            "references": [{"refType": "FOLLOWS_FROM", "traceID": ID, "spanID": "aaaaaaaaaaaaaaaa"}]
        }))
        .unwrap();
        assert_eq!(parent_of(&span), None);
    }

    #[test]
    fn an_error_in_a_follows_from_span_is_not_below_the_span_it_follows() {
        // pg.connect now only follows the handler: the handler did not wait for it, so
        // the handler's own error is the first failure.
        let mut v = fixture();
        v["data"][0]["spans"][2]["references"][0]["refType"] = "FOLLOWS_FROM".into();
        let s = summarise(&v, ID).unwrap();
        assert_eq!(s.root.unwrap().operation, "GET /api/orders");
        assert_eq!(
            s.error_span.unwrap().operation,
            "request handler - /api/orders"
        );
    }

    #[test]
    fn null_lists_and_unknown_reference_types_are_read() {
        let mut v = fixture();
        v["data"][0]["spans"][0]["logs"] = Value::Null;
        v["data"][0]["spans"][0]["references"] = Value::Null;
        v["data"][0]["spans"][1]["references"][0]["refType"] = "SOMETHING_NEW".into();
        v["errors"] = Value::Null;
        let s = summarise(&v, ID).unwrap();
        assert_eq!(s.span_count, 3);
        // The handler lost its parent, so it is a root too; the earliest root wins.
        assert_eq!(s.root.unwrap().operation, "GET /api/orders");
    }

    #[test]
    fn empty_answer_is_no_trace() {
        assert!(summarise(&serde_json::json!({"data": []}), "x").is_none());
        assert!(summarise(&serde_json::json!({"data": null}), "x").is_none());
    }

    /// A stand-in for jaeger-query on a loopback port, answering by trace id; every
    /// answer closes its connection.
    fn fake_jaeger() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or("");
                    let not_found = r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}"#;
                    let failed = r#"{"data":null,"errors":[{"code":500,"msg":"storage: elasticsearch timed out"}]}"#;
                    let fixture = include_str!("../../tests/fixtures/report/jaeger-trace.json");
                    let (status, body, length) = match path.rsplit('/').next().unwrap_or("") {
                        ID => ("200 OK", fixture, fixture.len()),
                        "gone" => ("404 Not Found", not_found, not_found.len()),
                        "broken" => ("500 Internal Server Error", failed, failed.len()),
                        "empty" => ("200 OK", r#"{"data":[]}"#, 11),
                        "huge" => ("200 OK", "", MAX_BODY + 1),
                        "slow" => {
                            std::thread::sleep(Duration::from_secs(3));
                            ("200 OK", fixture, fixture.len())
                        }
                        _ => ("400 Bad Request", "", 0),
                    };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{body}"
                    );
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn each_trace_gets_its_own_reason_and_the_report_completes() {
        let url = fake_jaeger();
        let cfg = config(&url, Duration::from_secs(5));
        let ids: Vec<TraceCount> = [ID, "gone", "broken", "empty", "huge"]
            .into_iter()
            .map(count)
            .collect();
        let ev = lookup(Some(&cfg), &ids, 10).await;
        assert_eq!(ev.status, TraceStatus::Partial, "{ev:?}");
        assert_eq!(
            ev.reason.as_deref(),
            Some("4 of 5 traces could not be read")
        );
        let reasons: Vec<Option<&str>> = ev.traces.iter().map(|t| t.reason.as_deref()).collect();
        assert_eq!(
            reasons,
            [
                None,
                Some("not in Jaeger (expired or not sampled)"),
                Some("Jaeger answered HTTP 500: storage: elasticsearch timed out"),
                Some("not in Jaeger (expired or not sampled)"),
                Some("the answer is larger than 16 MiB"),
            ]
        );
        let found = &ev.traces[0];
        assert!(found.found);
        assert_eq!(found.error_lines, 3);
        assert_eq!(found.ui_url, Some(format!("{url}/trace/{ID}")));
        assert_eq!(found.error_span.as_ref().unwrap().operation, "pg.connect");
    }

    #[tokio::test]
    async fn a_jaeger_that_does_not_answer_is_unavailable_after_one_timeout() {
        let cfg = config(&fake_jaeger(), Duration::from_secs(1));
        let ids: Vec<TraceCount> = ["slow", "slow", "slow"].into_iter().map(count).collect();
        let started = std::time::Instant::now();
        let ev = lookup(Some(&cfg), &ids, 10).await;
        // The first lookup's timeout stands for all of them.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(ev.status, TraceStatus::Unavailable);
        assert_eq!(
            ev.reason.as_deref(),
            Some(
                format!(
                    "Jaeger at {} could not be reached: no answer within 1 s",
                    cfg.url
                )
                .as_str()
            )
        );
        assert_eq!(ev.traces.len(), 3);
        assert!(ev.traces.iter().all(|t| !t.found));
    }

    #[tokio::test]
    async fn unreachable_jaeger_is_recorded_not_fatal() {
        // Port 9 on loopback: nothing listens there, so the connection is refused at once.
        let cfg = config("http://127.0.0.1:9", Duration::from_secs(3));
        let ev = lookup(Some(&cfg), &[count(ID)], 5).await;
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
