//! Trace ids in log lines: which fields teams put them in, and how to turn each
//! convention (W3C traceparent, X-Ray, Jaeger's uber-trace-id, Cloud Trace paths,
//! plain hex) into the one form Jaeger's query API accepts: lower-case hex.

use crate::logscan::json::Json;
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// JSON paths tried in order (a dotted path matches nested objects or a literal
/// dotted key). The configured field is tried before all of them.
pub const JSON_FIELDS: &[&str] = &[
    "trace_id",
    "traceId",
    "traceID",
    "traceid",
    "trace-id",
    "TraceId",
    "trace.id",
    "otelTraceID",
    "otel.trace_id",
    "dd.trace_id",
    "span_context.trace_id",
    "spanContext.traceId",
    "context.trace_id",
    "logging.googleapis.com/trace",
    "AWS-XRAY-TRACE-ID",
    "AWSTraceHeader",
    "attributes.AWSTraceHeader",
    "messageAttributes.AWSTraceHeader",
    "xray_trace_id",
    "aws.xray.trace_id",
    "traceparent",
    "uber-trace-id",
    "req.headers.traceparent",
    "req.headers.x-amzn-trace-id",
    "req.headers.uber-trace-id",
    "request.headers.traceparent",
    "request.headers.x-amzn-trace-id",
    "headers.traceparent",
    "headers.x-amzn-trace-id",
];

/// `key=value` / `key: value` spellings in plain text (and JSON-ish text).
static TEXT_KEYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?:^|[^A-Za-z0-9])(trace[_.\-]?id|otel[_.]?trace[_.]?id|dd\.trace_id|x-amzn-trace-id|awstraceheader|aws[_\-]xray[_\-]trace[_\-]id|traceparent|uber-trace-id)["']?\s*[=:]\s*["']?([A-Za-z0-9;=:\-/]+)"#,
    )
    .expect("trace key pattern")
});

/// Conventions that identify themselves without a key.
static BARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}|Root=1-[0-9a-f]{8}-[0-9a-f]{24})\b")
        .expect("bare trace pattern")
});

/// Spring's console prefix: `[traceId-spanId]` (Micrometer Tracing, Spring Boot 3)
/// or `[app,traceId,spanId]` / `[app,traceId,spanId,true]` (Sleuth).
static SPRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[(?:[\w.\-]*,)?([0-9a-f]{32}|[0-9a-f]{16})[-,][0-9a-f]{16}(?:,\w*)?\]")
        .expect("spring trace pattern")
});

/// A field name from the configuration, as a `key=value` pattern for plain text.
pub fn text_key_pattern(field: &str) -> Option<Regex> {
    let last = field.rsplit('.').next().unwrap_or(field);
    Regex::new(&format!(
        r#"(?:^|[^A-Za-z0-9_]){}["']?\s*[=:]\s*["']?([A-Za-z0-9;=:\-/]+)"#,
        regex::escape(last)
    ))
    .ok()
}

/// Normalises one trace id value; `None` when it is not a usable id.
pub fn normalise(raw: &str) -> Option<String> {
    let v = raw.trim().trim_matches(|c| c == '"' || c == '\'');
    if v.is_empty() {
        return None;
    }
    // X-Ray header `Root=1-…;Parent=…;Sampled=1`, or a bare `1-5759e988-bd862e…`.
    let xray_part = v
        .split(';')
        .find_map(|p| p.trim().strip_prefix("Root="))
        .unwrap_or(v);
    if let Some(rest) = xray_part.strip_prefix("1-")
        && let Some((time, uniq)) = rest.split_once('-')
        && time.len() == 8
        && uniq.len() == 24
        && is_hex(time)
        && is_hex(uniq)
    {
        return nonzero(format!("{time}{uniq}").to_ascii_lowercase());
    }
    // W3C traceparent `00-<32>-<16>-<2>`.
    let mut parts = v.split('-');
    if let (Some(version), Some(id), Some(_), Some(_), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) && version.len() == 2
        && id.len() == 32
        && is_hex(id)
    {
        return nonzero(id.to_ascii_lowercase());
    }
    // Jaeger `uber-trace-id`: `trace:span:parent:flags`.
    if v.matches(':').count() == 3 {
        let t = v.split(':').next().unwrap_or("");
        if is_hex(t) && (t.len() <= 32) && !t.is_empty() {
            return nonzero(t.to_ascii_lowercase());
        }
    }
    // Cloud Trace `projects/<p>/traces/<32 hex>`.
    if let Some(t) = v.rsplit_once("/traces/").map(|(_, t)| t)
        && is_hex(t)
        && t.len() == 32
    {
        return nonzero(t.to_ascii_lowercase());
    }
    if is_hex(v) && (v.len() == 16 || v.len() == 32) {
        return nonzero(v.to_ascii_lowercase());
    }
    // Datadog's decimal 64-bit ids: the hex of the low half that OpenTelemetry shares.
    if v.len() >= 10
        && v.len() <= 20
        && v.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = v.parse::<u64>()
    {
        return nonzero(format!("{n:016x}"));
    }
    // Other schemes: keep a sane-looking token as it is.
    if (8..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Some(v.to_owned());
    }
    None
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn nonzero(s: String) -> Option<String> {
    if s.bytes().all(|b| b == b'0') {
        None
    } else {
        Some(s)
    }
}

/// Trace ids found in a JSON object, configured field first, without duplicates.
///
/// One walk over the object instead of a lookup per known field: the walk joins keys
/// with dots, so a nested object, a literal dotted key or a mix of both reach the same
/// path, as `logline::lookup` does, and it only descends where a known path continues.
pub fn from_json(v: &Json, configured: Option<&str>, out: &mut Vec<String>) {
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut path = String::new();
    walk(v, &mut path, configured, &mut found);
    // Stable: several values at one rank keep the walk's order.
    found.sort_by_key(|(rank, _)| *rank);
    for (_, raw) in found {
        if let Some(id) = normalise(&raw)
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
}

/// Every known path (rank = position, configured field first) and every dotted prefix of one.
/// foldhash: this runs for every key of every error line, where SipHash showed up.
type Known = (
    HashMap<&'static str, usize, foldhash::fast::FixedState>,
    HashSet<&'static str, foldhash::fast::FixedState>,
);
static KNOWN: LazyLock<Known> = LazyLock::new(|| {
    let ranks = JSON_FIELDS
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, i + 1))
        .collect();
    let prefixes = JSON_FIELDS
        .iter()
        .flat_map(|f| f.match_indices('.').map(move |(i, _)| &f[..i]))
        .collect();
    (ranks, prefixes)
});

fn walk(v: &Json, path: &mut String, configured: Option<&str>, found: &mut Vec<(usize, String)>) {
    let Some(obj) = v.as_object() else { return };
    let (ranks, prefixes) = &*KNOWN;
    let base = path.len();
    for (key, value) in obj {
        path.truncate(base);
        if base > 0 {
            path.push('.');
        }
        path.push_str(key);
        let rank = if configured == Some(path.as_str()) {
            Some(0)
        } else {
            ranks.get(path.as_str()).copied()
        };
        if let Some(rank) = rank {
            match value {
                Json::String(s) if !s.is_empty() => found.push((rank, s.to_string())),
                Json::Number(n) => found.push((rank, n.to_string())),
                _ => {}
            }
        }
        let continues = prefixes.contains(path.as_str())
            || configured.is_some_and(|c| {
                c.len() > path.len()
                    && c.starts_with(path.as_str())
                    && c.as_bytes()[path.len()] == b'.'
            });
        if continues && value.is_object() {
            walk(value, path, configured, found);
        }
    }
    path.truncate(base);
}

/// Trace ids found in plain text, configured field first.
pub fn from_text(text: &str, configured: Option<&Regex>, out: &mut Vec<String>) {
    let mut push = |raw: &str| {
        if let Some(id) = normalise(raw)
            && !out.contains(&id)
        {
            out.push(id);
        }
    };
    if let Some(re) = configured {
        for c in re.captures_iter(text) {
            push(&c[1]);
        }
    }
    for c in TEXT_KEYS.captures_iter(text) {
        push(&c[2]);
    }
    for m in BARE.find_iter(text) {
        push(m.as_str());
    }
    if memchr::memchr(b'[', text.as_bytes()).is_some() {
        for c in SPRING.captures_iter(text) {
            push(&c[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The tests write objects with `json!`; the reader gets them as a log line's text.
    fn from_json(v: &serde_json::Value, configured: Option<&str>, out: &mut Vec<String>) {
        let text = v.to_string();
        super::from_json(&Json::parse(&text).unwrap(), configured, out);
    }

    const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn conventions() {
        assert_eq!(normalise(T).as_deref(), Some(T));
        assert_eq!(normalise(&T.to_uppercase()).as_deref(), Some(T));
        assert_eq!(
            normalise(&format!("00-{T}-00f067aa0ba902b7-01")).as_deref(),
            Some(T)
        );
        assert_eq!(
            normalise("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .as_deref(),
            Some("5759e988bd862e3fe1be46a994272793")
        );
        assert_eq!(
            normalise("1-5759e988-bd862e3fe1be46a994272793").as_deref(),
            Some("5759e988bd862e3fe1be46a994272793")
        );
        assert_eq!(
            normalise("a3ce929d0e0e4736:00f067aa0ba902b7:0:1").as_deref(),
            Some("a3ce929d0e0e4736")
        );
        assert_eq!(
            normalise(&format!("projects/shop/traces/{T}")).as_deref(),
            Some(T)
        );
        assert_eq!(
            normalise("1234567890123456789").as_deref(),
            Some("112210f47de98115")
        );
        assert_eq!(normalise("00000000000000000000000000000000"), None);
        assert_eq!(normalise("-"), None);
        assert_eq!(normalise(""), None);
    }

    #[test]
    fn json_spellings() {
        for v in [
            json!({"trace_id": T}),
            json!({"traceId": T}),
            json!({"traceID": T}),
            json!({"trace": {"id": T}}),
            json!({"trace.id": T}),
            json!({"otel": {"trace_id": T}}),
            json!({"span_context": {"trace_id": T}}),
            json!({"traceparent": format!("00-{T}-00f067aa0ba902b7-01")}),
            json!({"req": {"headers": {"traceparent": format!("00-{T}-00f067aa0ba902b7-01")}}}),
        ] {
            let mut out = Vec::new();
            from_json(&v, None, &mut out);
            assert_eq!(out, vec![T.to_string()], "{v}");
        }
        let mut out = Vec::new();
        from_json(
            &json!({"AWS-XRAY-TRACE-ID": "1-5759e988-bd862e3fe1be46a994272793"}),
            None,
            &mut out,
        );
        assert_eq!(out, vec!["5759e988bd862e3fe1be46a994272793"]);
    }

    /// Literal dotted keys and nested objects mix as in `lookup`; ids come in field
    /// order (the configured one first), whatever the key order of the object.
    #[test]
    fn dotted_and_nested_keys_mix_and_keep_field_order() {
        const U: &str = "a3ce929d0e0e47364bf92f3577b34da6";
        for v in [
            json!({"req.headers": {"traceparent": format!("00-{T}-00f067aa0ba902b7-01")}}),
            json!({"req": {"headers.traceparent": format!("00-{T}-00f067aa0ba902b7-01")}}),
            json!({"dd.trace_id": T}),
            json!({"aws": {"xray.trace_id": T}}),
        ] {
            let mut out = Vec::new();
            from_json(&v, None, &mut out);
            assert_eq!(out, vec![T.to_string()], "{v}");
        }
        let v = json!({"a_first": 1, "traceparent": format!("00-{U}-00f067aa0ba902b7-01"), "trace_id": T,
                       "ctx": {"deep": {"rid": "aaaabbbbccccdddd"}}, "req": {"id": 5}});
        let mut out = Vec::new();
        from_json(&v, Some("ctx.deep.rid"), &mut out);
        assert_eq!(
            out,
            vec!["aaaabbbbccccdddd".to_string(), T.to_string(), U.to_string()]
        );
        // Not under a known path: not a trace id.
        let mut out = Vec::new();
        from_json(
            &json!({"user": {"trace_id": T}, "headers": {"x": T}}),
            None,
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn configured_field_comes_first() {
        let v = json!({"ctx": {"rid": "aaaabbbbccccdddd"}, "trace_id": T});
        let mut out = Vec::new();
        from_json(&v, Some("ctx.rid"), &mut out);
        assert_eq!(out, vec!["aaaabbbbccccdddd".to_string(), T.to_string()]);
    }

    #[test]
    fn xray_otel_w3c_mdc_and_spring_spellings() {
        const X: &str = "5759e988bd862e3fe1be46a994272793";
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        for v in [
            json!({"AWSTraceHeader": header}),
            json!({"attributes": {"AWSTraceHeader": header}}),
            json!({"xray_trace_id": "1-5759e988-bd862e3fe1be46a994272793"}),
            json!({"req": {"headers": {"x-amzn-trace-id": header}}}),
        ] {
            let mut out = Vec::new();
            from_json(&v, None, &mut out);
            assert_eq!(out, vec![X], "{v}");
        }
        let mut out = Vec::new();
        from_json(&json!({"otelTraceID": T}), None, &mut out);
        assert_eq!(out, vec![T]);
        for (line, want) in [
            (format!("ERROR x X-Amzn-Trace-Id: {header}"), X),
            (format!("ERROR x AWSTraceHeader={header}"), X),
            (
                "ERROR x xray_trace_id=1-5759e988-bd862e3fe1be46a994272793".into(),
                X,
            ),
            (format!("ERROR x otelTraceID={T}"), T),
            (
                format!("ERROR x traceparent: 00-{T}-00f067aa0ba902b7-01"),
                T,
            ),
            (format!("ERROR x [MDC trace_id={T}]"), T),
            (format!("ERROR x traceId={T} spanId=00f067aa0ba902b7"), T),
            (
                format!("ERROR [app] [main] [{T}-00f067aa0ba902b7] c.e.Foo : x"),
                T,
            ),
            (
                format!("ERROR [app,{T},00f067aa0ba902b7] 1 --- [main] c.e.Foo : x"),
                T,
            ),
            (format!("ERROR [app,{T},00f067aa0ba902b7,true] x"), T),
        ] {
            let mut out = Vec::new();
            from_text(&line, None, &mut out);
            assert_eq!(out, vec![want.to_string()], "{line}");
        }
        // A thread name in brackets is not a trace id.
        let mut out = Vec::new();
        from_text("ERROR [nio-8080-exec-1] [main] x", None, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn text_spellings() {
        for line in [
            format!("ERROR db down trace_id={T} span_id=1"),
            format!("ERROR db down traceId: {T}"),
            format!("ERROR db down [trace.id={T}]"),
            format!("ERROR db down otelTraceID={T}"),
            format!("ERROR db down traceparent=00-{T}-00f067aa0ba902b7-01"),
            format!("ERROR db down \"trace_id\":\"{T}\""),
            format!("ERROR db down 00-{T}-00f067aa0ba902b7-01"),
        ] {
            let mut out = Vec::new();
            from_text(&line, None, &mut out);
            assert_eq!(out, vec![T.to_string()], "{line}");
        }
        let mut out = Vec::new();
        from_text(
            "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            None,
            &mut out,
        );
        assert_eq!(out, vec!["5759e988bd862e3fe1be46a994272793"]);
        let re = text_key_pattern("request.rid").unwrap();
        let mut out = Vec::new();
        from_text("ERROR boom rid=aaaabbbbccccdddd", Some(&re), &mut out);
        assert_eq!(out, vec!["aaaabbbbccccdddd"]);
    }
}
