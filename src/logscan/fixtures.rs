//! One generated fixture per input shape the analyser reads, all telling the same
//! story: seven error lines in two groups among info lines, three trace ids. Each
//! fixture is written here by the test (no copied logs); the expected error count, top
//! group, top trace id and first-seen time are checked for every shape, so a change
//! that breaks one reader shows up as that shape's failure.

use crate::logscan::analyse::Limits;
use crate::logscan::input::analyse_reader;
use crate::logscan::model::LogEvidence;
use chrono::{DateTime, Utc};

/// 2026-01-31T10:00:00Z in ms.
const T0: i64 = 1_769_853_600_000;
const T1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const T2: &str = "5759e988bd862e3fe1be46a994272793";
const T3: &str = "0af7651916cd43dd8448eb211c80319c";

/// One log event of the story: second after T0, error or not, message, trace id.
struct Ev {
    s: i64,
    error: bool,
    /// 0: the top group (five lines), 1: the second (two lines), 2: info.
    kind: usize,
    n: usize,
    trace: &'static str,
}

/// Errors at 1, 2, 4, 6, 8 s (top group: T1 ×3, T2 ×2) and 3, 7 s (T3), info between.
fn story() -> Vec<Ev> {
    let mut v = Vec::new();
    let top = [(1, T1), (2, T2), (4, T1), (6, T2), (8, T1)];
    for (n, (s, trace)) in top.into_iter().enumerate() {
        v.push(Ev {
            s,
            error: true,
            kind: 0,
            n,
            trace,
        });
    }
    for (n, s) in [3, 7].into_iter().enumerate() {
        v.push(Ev {
            s,
            error: true,
            kind: 1,
            n,
            trace: T3,
        });
    }
    for s in [0, 5, 9] {
        v.push(Ev {
            s,
            error: false,
            kind: 2,
            n: s as usize,
            trace: T3,
        });
    }
    v.sort_by_key(|e| e.s);
    v
}

/// The message, with values that vary per line but normalise alike.
fn msg(e: &Ev) -> String {
    match e.kind {
        0 => format!(
            "Database connection refused after {}ms to 10.0.{}.7 for order {}",
            100 + e.n * 37,
            e.n,
            9000 + e.n
        ),
        1 => format!("payment declined for user{}@example.com", e.n),
        _ => format!("request {} completed", e.n),
    }
}
const TOP_KEY: &str = "Database connection refused after <n> to <ip> for order <n>";

fn iso(s: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(T0 + s * 1000)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
fn spaced(s: i64, frac_sep: char) -> String {
    DateTime::<Utc>::from_timestamp_millis(T0 + s * 1000)
        .unwrap()
        .format(&format!("%Y-%m-%d %H:%M:%S{frac_sep}%3f"))
        .to_string()
}
fn xray(t: &str) -> String {
    format!(
        "Root=1-{}-{};Parent=53995c3f42cd8ad8;Sampled=1",
        &t[..8],
        &t[8..]
    )
}
fn level(e: &Ev) -> &'static str {
    if e.error { "ERROR" } else { "INFO" }
}

/// The fixtures: name, text, and the top group's key when it is not `TOP_KEY`.
fn fixtures() -> Vec<(&'static str, String, &'static str)> {
    let ev = story();
    let lines = |f: &dyn Fn(&Ev) -> String| ev.iter().map(|e| f(e) + "\n").collect::<String>();
    let pino = |e: &Ev| {
        serde_json::json!({"level": if e.error {50} else {30}, "time": T0 + e.s * 1000,
            "pid": 1, "hostname": "ip-10-0-1-5", "trace_id": e.trace, "msg": msg(e)})
        .to_string()
    };
    vec![
        ("pino JSON lines", lines(&pino), TOP_KEY),
        (
            "ECS JSON lines",
            lines(&|e| {
                serde_json::json!({"@timestamp": iso(e.s), "log.level": level(e).to_lowercase(),
                    "message": msg(e), "trace.id": e.trace, "service.name": "orders"})
                .to_string()
            }),
            TOP_KEY,
        ),
        (
            "logfmt",
            lines(&|e| {
                format!(
                    "time={} level={} msg={:?} trace_id={}",
                    iso(e.s),
                    level(e).to_lowercase(),
                    msg(e),
                    e.trace
                )
            }),
            TOP_KEY,
        ),
        (
            "aws logs tail",
            lines(&|e| format!("{} orders/web/0a1b {}", iso(e.s), pino(e))),
            TOP_KEY,
        ),
        (
            "filter-log-events text",
            lines(&|e| {
                format!(
                    "EVENTS\t{}\t{}\torders/web/0a1b\t{}\t{}",
                    e.s,
                    T0 + e.s * 1000 + 5,
                    pino(e),
                    T0 + e.s * 1000
                )
            }),
            TOP_KEY,
        ),
        (
            "filter-log-events JSON",
            serde_json::to_string_pretty(&serde_json::json!({"events": ev.iter().map(|e| serde_json::json!({
                "logStreamName": "orders/web/0a1b", "timestamp": T0 + e.s * 1000,
                "message": pino(e), "ingestionTime": T0 + e.s * 1000 + 5, "eventId": e.s.to_string()})).collect::<Vec<_>>()}))
            .unwrap(),
            TOP_KEY,
        ),
        (
            "OpenTelemetry JSON lines",
            lines(&|e| {
                serde_json::json!({"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]},
                    "scopeLogs": [{"logRecords": [{"timeUnixNano": ((T0 + e.s * 1000) * 1_000_000).to_string(),
                        "severityText": level(e), "severityNumber": if e.error {17} else {9},
                        "body": {"stringValue": msg(e)}, "traceId": e.trace, "spanId": "00f067aa0ba902b7"}]}]}]})
                .to_string()
            }),
            TOP_KEY,
        ),
        (
            "Spring Boot console",
            lines(&|e| {
                format!(
                    "{} {:>5} 1 --- [orders] [nio-8080-exec-{}] [{}-00f067aa0ba902b7] c.e.orders.OrderService      : {}",
                    iso(e.s),
                    level(e),
                    e.n,
                    e.trace,
                    msg(e)
                )
            }),
            TOP_KEY,
        ),
        (
            "logback pattern",
            lines(&|e| {
                format!(
                    "{} {} [pool-1-thread-{}] com.example.orders.OrderService - {} traceId={}",
                    spaced(e.s, ','),
                    level(e),
                    e.n,
                    msg(e),
                    e.trace
                )
            }),
            "Database connection refused after <n> to <ip> for order <n> traceId=<n>",
        ),
        (
            "Python logging",
            lines(&|e| {
                format!(
                    "{} {} app.orders: {} [xray {}]",
                    spaced(e.s, ','),
                    level(e),
                    msg(e),
                    xray(e.trace)
                )
            }),
            "Database connection refused after <n> to <ip> for order <n> [xray Root=<n>-<n>-<n>;Parent=<n>;Sampled=<n>]",
        ),
        (
            "nginx access log",
            lines(&|e| {
                let (req, status) = match e.kind {
                    0 => (format!("GET /api/orders/{}?expand=items", 9000 + e.n), 502),
                    1 => ("POST /api/pay".to_owned(), 503),
                    _ => (format!("GET /health?n={}", e.n), 200),
                };
                let t = DateTime::<Utc>::from_timestamp_millis(T0 + e.s * 1000).unwrap();
                format!(
                    r#"10.0.{}.1 - - [{}] "{req} HTTP/1.1" {status} {} "-" "agent/{}.0" "{}""#,
                    e.n,
                    t.format("%d/%b/%Y:%H:%M:%S %z"),
                    100 + e.n,
                    e.n,
                    xray(e.trace)
                )
            }),
            "GET /api/orders/:id → 502",
        ),
    ]
}

fn analyse(text: &str) -> LogEvidence {
    analyse_reader(text.as_bytes(), None, &Limits::default())
        .unwrap()
        .finish("fixture".into())
}

#[test]
fn every_shape_tells_the_same_story() {
    for (name, text, top_key) in fixtures() {
        let ev = analyse(&text);
        assert_eq!(ev.error_lines, 7, "{name}: {ev:#?}\n{text}");
        let top = &ev.groups[0];
        assert_eq!(top.message, top_key, "{name}: {ev:#?}");
        assert_eq!(top.count, 5, "{name}: {ev:#?}");
        assert_eq!(ev.groups.len(), 2, "{name}: {ev:#?}");
        assert_eq!(ev.traces[0].trace_id, T1, "{name}: {ev:#?}");
        assert_eq!(ev.traces[0].error_lines, 3, "{name}: {ev:#?}");
        assert_eq!(
            top.first_seen.map(|t| t.timestamp_millis()),
            Some(T0 + 1000),
            "{name}: {ev:#?}"
        );
        assert_eq!(
            top.last_seen.map(|t| t.timestamp_millis()),
            Some(T0 + 8000),
            "{name}"
        );
        assert_eq!(ev.input.lines_not_understood, 0, "{name}: {:#?}", ev.input);
    }
}
