//! What comes before the line analysis: telling a gzip or zstd stream by its magic
//! bytes (files and standard input alike), telling JSON documents (the AWS CLI's
//! `filter-log-events` pages, OpenTelemetry's file export, pretty-printed JSON) from
//! JSON lines, and turning each event or log record of a document into what the
//! analyser reads.
//!
//! Plain files of lines keep the fast path: they go to `analyse_file`, in parallel
//! ranges. Only compressed input and documents are read on one thread.

use crate::logscan::analyse::{self, Analyser, Limits};
use crate::logscan::logline::Shape;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// Bytes looked at to tell JSON documents from JSON lines.
const SNIFF: usize = 64 << 10;

/// Why an input cannot be analysed at all: a usage problem, said with what to pass.
#[derive(Debug)]
pub enum InputError {
    Usage(String),
    Io(String),
}

/// Analyses a file (or `-` for standard input), whatever its compression and shape.
/// Returns the analyser and a label for the report.
pub fn analyse_path(
    path: &Path,
    trace_id_field: Option<&str>,
    limits: &Limits,
) -> Result<(Analyser, String), InputError> {
    if path.as_os_str() == "-" {
        let stdin = std::io::stdin().lock();
        let a = analyse_reader(stdin, trace_id_field, limits)
            .map_err(|e| InputError::Io(format!("cannot read standard input: {e}")))?;
        return Ok((a, "stdin".into()));
    }
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        InputError::Usage(format!(
            "cannot read {shown}: {e}; pass an exported log file (lines, JSON, .gz or .zst) or - for standard input"
        ))
    })?;
    if meta.is_dir() {
        return Err(InputError::Usage(format!(
            "{shown} is a directory; pass one exported log file (e.g. {shown}/app.log), or several at once with `cat {shown}/*.log | shipwatch report --logs-file -`"
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| {
        InputError::Usage(format!(
            "cannot open {shown}: {e}; pass a readable log file or - for standard input"
        ))
    })?;
    let label = format!("file {shown}");
    let mut head = [0u8; SNIFF];
    let n = read_head(&file, &mut head)
        .map_err(|e| InputError::Io(format!("cannot read {shown}: {e}")))?;
    let head = &head[..n];
    if meta.is_file() && compression(head).is_none() && !is_json_document(head) {
        let a = analyse::analyse_file(&file, trace_id_field, limits)
            .map_err(|e| InputError::Io(format!("cannot read {shown}: {e}")))?;
        return Ok((a, label));
    }
    let a = analyse_reader(file, trace_id_field, limits)
        .map_err(|e| InputError::Io(format!("cannot read {shown}: {e}")))?;
    Ok((a, label))
}

/// The first bytes of a file, read with positioned reads so the file offset stays 0.
fn read_head(file: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn compression(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(GZIP_MAGIC) {
        Some("gzip")
    } else if head.starts_with(ZSTD_MAGIC) {
        Some("zstd")
    } else {
        None
    }
}

/// A stream: decompressed when its magic bytes say so, then read as lines or as JSON
/// documents. A decoding error after some output keeps what was read and is reported
/// as dropped input, not as a failure.
pub fn analyse_reader(
    r: impl Read,
    trace_id_field: Option<&str>,
    limits: &Limits,
) -> std::io::Result<Analyser> {
    let mut a = Analyser::new(trace_id_field, limits.clone());
    let mut br = BufReader::with_capacity(SNIFF, r);
    let head = fill_head(&mut br)?;
    match compression(&head) {
        Some(kind) => {
            a.compression = Some(kind.into());
            let result = if kind == "gzip" {
                // Concatenated members (`cat a.gz b.gz`) are one stream to gunzip.
                read_plain(&mut a, flate2::read::MultiGzDecoder::new(br))
            } else {
                match zstd::stream::read::Decoder::with_buffer(br) {
                    Ok(d) => read_plain(&mut a, d),
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = result {
                // A truncated or corrupt archive: what came before still counts.
                a.note_dropped(&format!("decoding: {kind} stream ends in error ({e})"), 1);
            }
        }
        None => read_plain(&mut a, br)?,
    }
    Ok(a)
}

/// Fills the buffer up to `SNIFF` bytes (a pipe may hand out less per read) and
/// returns a copy of them.
fn fill_head<R: Read>(br: &mut BufReader<R>) -> std::io::Result<Vec<u8>> {
    // BufReader only refills when empty, so the sniffed head is whatever the first
    // read returned; for a pipe that is usually all that has been written so far.
    Ok(br.fill_buf()?.to_vec())
}

fn read_plain(a: &mut Analyser, r: impl Read) -> std::io::Result<()> {
    let mut br = BufReader::with_capacity(SNIFF, r);
    let head = fill_head(&mut br)?;
    if is_json_document(&head) {
        read_documents(a, br);
        Ok(())
    } else {
        a.read_all(br)
    }
}

/// Whether the input is JSON documents rather than one JSON object (or text) per
/// line: it starts with `[`, or its first object does not end on its first line
/// (pretty-printed), or it is a `filter-log-events` page.
pub fn is_json_document(head: &[u8]) -> bool {
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else { return false };
    let body = &head[start..];
    let line = &body[..memchr::memchr(b'\n', body).unwrap_or(body.len())];
    match body[0] {
        // An array, unless the bracket opens a text line (`[Nest] 1 - …`, Flask's
        // `[2026-12-07 16:53:00,123] ERROR in app: …`): an array's first line is the
        // bracket alone, opens an element, or is a whole JSON value.
        b'[' => {
            let next = line[1..].iter().find(|b| !b.is_ascii_whitespace());
            matches!(next, None | Some(b'{' | b'[' | b'"' | b']'))
                || serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
        }
        b'{' => {
            if line.starts_with(b"{\"events\"") || line.starts_with(b"{\"searchedLogStreams\"") {
                return true;
            }
            // A first line that is no whole JSON value: a document spread over lines.
            memchr::memchr(b'\n', body).is_some()
                && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_err()
        }
        _ => false,
    }
}

/// Reads concatenated JSON documents (pages): events of `filter-log-events`, records
/// of an OpenTelemetry export, the elements of an array, or one log object each.
fn read_documents(a: &mut Analyser, r: impl Read) {
    let mut stream = serde_json::Deserializer::from_reader(r).into_iter::<Value>();
    loop {
        if a.stopped() {
            break;
        }
        let doc = match stream.next() {
            None => break,
            Some(Ok(doc)) => doc,
            Some(Err(e)) => {
                a.note_dropped(
                    &format!(
                        "decoding: JSON document broken at byte {} ({e})",
                        stream.byte_offset()
                    ),
                    1,
                );
                break;
            }
        };
        document(a, &doc);
    }
    a.finish_events();
}

fn document(a: &mut Analyser, doc: &Value) {
    match doc {
        Value::Array(items) => {
            for item in items {
                document(a, item);
            }
        }
        Value::Object(o) if o.get("events").is_some_and(Value::is_array) => {
            for e in o["events"].as_array().into_iter().flatten() {
                let stream = e.get("logStreamName").and_then(Value::as_str).unwrap_or("");
                let time = e.get("timestamp").and_then(Value::as_i64);
                let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                a.record(Shape::CloudWatchEvent, stream, time, message);
            }
        }
        Value::Object(o) if o.contains_key("resourceLogs") => {
            otlp_value(doc, |service, time, record| {
                a.record(Shape::OtlpRecord, service, time, record);
            });
        }
        Value::Object(_) => {
            let line = doc.to_string();
            a.record(Shape::JsonDocument, "", None, &line);
        }
        _ => a.record(Shape::Unknown, "", None, &doc.to_string()),
    }
}

/// The log records of one OpenTelemetry JSON export line, each flattened into one JSON
/// object the line reader understands.
pub fn otlp_records(line: &str, f: impl FnMut(&str, Option<i64>, &str)) {
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        otlp_value(&v, f);
    }
}

/// OTLP/JSON (`resourceLogs` → `scopeLogs` → `logRecords`): severity, body, trace and
/// span ids, time and attributes become top-level keys; `service.name` is the stream.
fn otlp_value(v: &Value, mut f: impl FnMut(&str, Option<i64>, &str)) {
    let arr = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for rl in arr(v, "resourceLogs") {
        let resource = rl.get("resource").map(attributes).unwrap_or_default();
        let service = resource
            .get("service.name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        for sl in arr(&rl, "scopeLogs") {
            for rec in arr(&sl, "logRecords") {
                let mut out = serde_json::Map::new();
                for (k, v) in attributes(&rec) {
                    out.insert(k, v);
                }
                if !service.is_empty() {
                    out.insert("service.name".into(), Value::String(service.clone()));
                }
                for k in ["severityText", "severityNumber", "traceId", "spanId"] {
                    if let Some(x) = rec
                        .get(k)
                        .filter(|x| !x.is_null() && x.as_str() != Some(""))
                    {
                        out.insert(k.into(), x.clone());
                    }
                }
                if let Some(b) = rec.get("body") {
                    out.insert("body".into(), any_value(b));
                }
                let time = ["timeUnixNano", "observedTimeUnixNano"]
                    .iter()
                    .filter_map(|k| rec.get(*k))
                    .filter_map(|t| match t {
                        Value::String(s) => s.parse::<i64>().ok(),
                        Value::Number(n) => n.as_i64(),
                        _ => None,
                    })
                    .find(|ns| *ns > 0)
                    .map(|ns| ns / 1_000_000);
                if let Some(ms) = time {
                    out.insert("time".into(), Value::from(ms));
                }
                f(&service, time, &Value::Object(out).to_string());
            }
        }
    }
}

/// `attributes: [{key, value: {stringValue|intValue|…}}]` as a map.
fn attributes(v: &Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for a in v
        .get("attributes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(k), Some(val)) = (a.get("key").and_then(Value::as_str), a.get("value")) {
            m.insert(k.to_owned(), any_value(val));
        }
    }
    m
}

/// An OTLP `AnyValue` as plain JSON.
fn any_value(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        return v.clone();
    };
    if let Some(s) = o.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = o.get("intValue") {
        return match i {
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(i.clone()),
            _ => i.clone(),
        };
    }
    for k in ["doubleValue", "boolValue", "bytesValue"] {
        if let Some(x) = o.get(k) {
            return x.clone();
        }
    }
    if let Some(a) = o
        .get("arrayValue")
        .and_then(|a| a.get("values"))
        .and_then(Value::as_array)
    {
        return Value::Array(a.iter().map(any_value).collect());
    }
    if o.contains_key("kvlistValue") {
        return Value::Object(attributes(&serde_json::json!({
            "attributes": o["kvlistValue"].get("values").cloned().unwrap_or(Value::Null)
        })));
    }
    v.clone()
}

#[cfg(test)]
mod tests {
    //! One fixture per input shape, generated here: the expected error count, top
    //! group, top trace id and first-seen time.
    use super::*;
    use crate::logscan::model::LogEvidence;
    use std::io::Write;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const T0: i64 = 1_769_767_200_000; // 2026-01-30T10:00:00Z

    fn json_msg(i: i64) -> String {
        serde_json::json!({"level": "error", "msg": format!("db timeout after {i}ms"), "trace_id": TRACE})
            .to_string()
    }

    fn run(bytes: &[u8]) -> LogEvidence {
        analyse_reader(bytes, None, &Limits::default())
            .unwrap()
            .finish("test".into())
    }

    fn check(ev: &LogEvidence, errors: u64, group: &str, trace: Option<&str>, first_ms: i64) {
        assert_eq!(ev.error_lines, errors, "{ev:#?}");
        let g = &ev.groups[0];
        assert_eq!(g.message, group, "{ev:#?}");
        assert_eq!(ev.traces.first().map(|t| t.trace_id.as_str()), trace);
        assert_eq!(g.first_seen.map(|t| t.timestamp_millis()), Some(first_ms));
        assert!(ev.input.lines_understood > 0, "{:?}", ev.input);
    }

    fn filter_log_events_page(n: i64) -> String {
        let events: Vec<Value> = (0..n)
            .map(|i| {
                serde_json::json!({"logStreamName": "web/app/0a1b", "timestamp": T0 + i * 1000,
                    "message": json_msg(i), "ingestionTime": T0 + 5, "eventId": i.to_string()})
            })
            .collect();
        serde_json::to_string_pretty(
            &serde_json::json!({"events": events, "searchedLogStreams": []}),
        )
        .unwrap()
    }

    #[test]
    fn filter_log_events_json_pages() {
        let two = format!(
            "{}\n{}",
            filter_log_events_page(3),
            filter_log_events_page(2)
        );
        let ev = run(two.as_bytes());
        check(&ev, 5, "db timeout after <n>", Some(TRACE), T0);
        assert_eq!(ev.input.shapes[0].value, Shape::CloudWatchEvent.label());
    }

    #[test]
    fn filter_log_events_text_output() {
        let mut s = String::new();
        for i in 0..4 {
            s += &format!(
                "EVENTS\t{i}\t{}\tweb/app/0a1b\t{}\t{}\n",
                T0 + 5,
                json_msg(i),
                T0 + i * 1000
            );
        }
        s += &format!(
            "EVENTS\t9\t{}\tweb/app/0a1b\tINFO all good\t{}\n",
            T0,
            T0 + 9000
        );
        check(
            &run(s.as_bytes()),
            4,
            "db timeout after <n>",
            Some(TRACE),
            T0,
        );
    }

    #[test]
    fn aws_logs_tail_default_and_short() {
        let mut s = String::new();
        for i in 0..3 {
            s += &format!(
                "2026-01-30T10:00:0{i}.000000+00:00 web/app/0a1b {}\n",
                json_msg(i)
            );
            s += &format!(
                "2026-01-30T10:00:0{i} {}\n",
                r#"{"level":"warn","msg":"slow"}"#
            );
        }
        let ev = run(s.as_bytes());
        check(&ev, 3, "db timeout after <n>", Some(TRACE), T0);
        assert_eq!(ev.input.lines_understood, 6);
    }

    #[test]
    fn gzip_and_zstd_by_magic_bytes() {
        let plain = format!("{}\n", (0..4).map(json_msg).collect::<Vec<_>>().join("\n"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(plain.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(plain.as_bytes(), 1).unwrap();
        for (bytes, kind) in [(gz, "gzip"), (zs, "zstd")] {
            let ev = run(&bytes);
            assert_eq!(ev.error_lines, 4);
            assert_eq!(ev.input.compression.as_deref(), Some(kind));
            assert_eq!(ev.traces[0].trace_id, TRACE);
        }
    }

    #[test]
    fn truncated_gzip_keeps_what_was_read_and_says_so() {
        let plain: String = (0..2000).map(|i| json_msg(i) + "\n").collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(plain.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let ev = run(&gz[..gz.len() / 2]);
        assert!(
            ev.input
                .dropped
                .iter()
                .any(|d| d.value.starts_with("decoding: gzip"))
        );
    }

    fn otlp() -> Value {
        serde_json::json!({"resourceLogs": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "checkout"}}]},
          "scopeLogs": [{"scope": {}, "logRecords": [
            {"timeUnixNano": "1769767200000000000", "severityNumber": 17, "severityText": "ERROR",
             "body": {"stringValue": "payment failed for order 4711"},
             "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
             "attributes": [{"key": "exception.type", "value": {"stringValue": "CardDeclined"}}]},
            {"timeUnixNano": "1769767201000000000", "severityNumber": 9, "severityText": "INFO",
             "body": {"stringValue": "ok"}}]}]}]})
    }

    #[test]
    fn opentelemetry_file_export_lines_and_pretty() {
        for text in [
            otlp().to_string() + "\n",
            serde_json::to_string_pretty(&otlp()).unwrap(),
        ] {
            let ev = run(text.as_bytes());
            check(
                &ev,
                1,
                "payment failed for order <n>",
                Some("5b8efff798038103d269b633813fc60c"),
                T0,
            );
            assert_eq!(ev.groups[0].error_type.as_deref(), Some("CardDeclined"));
        }
    }

    #[test]
    fn python_logging_and_its_traceback_are_one_error() {
        let s = "2026-01-30 10:00:00,123 ERROR [app] Failed to charge order 123\n\
                 Traceback (most recent call last):\n  File \"app.py\", line 10, in charge\n    raise ValueError(\"card declined\")\n\
                 ValueError: card declined\n2026-01-30 10:00:05,000 INFO [app] fine\n";
        let ev = run(s.as_bytes());
        check(&ev, 1, "Failed to charge order <n>", None, T0 + 123);
        assert_eq!(ev.groups[0].error_type.as_deref(), Some("ValueError"));
        assert_eq!(ev.groups[0].stack_head[0], "ValueError: card declined");
    }

    #[test]
    fn unrecognised_lines_are_said_so() {
        let ev = run(b"hello world\nfoo bar\n\n");
        assert_eq!(ev.error_lines, 0);
        assert!(ev.input.nothing_recognised());
        assert_eq!(ev.input.lines_not_understood, 2);
        assert_eq!(ev.input.blank_lines, 1);
        assert!(
            ev.input
                .describe()
                .contains("2 line(s) of no recognised shape")
        );
    }

    #[test]
    fn deep_json_is_counted_as_dropped() {
        let deep = format!(
            "{{\"level\":\"error\",\"a\":{}1{}}}\n",
            "[".repeat(200),
            "]".repeat(200)
        );
        let ev = run(deep.as_bytes());
        assert!(
            ev.input
                .dropped
                .iter()
                .any(|d| d.value == analyse::DROP_JSON),
            "{:?}",
            ev.input
        );
    }

    #[test]
    fn a_directory_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        match analyse_path(dir.path(), None, &Limits::default()) {
            Err(InputError::Usage(m)) => assert!(m.contains("is a directory"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn documents_and_lines_are_told_apart() {
        assert!(is_json_document(b"{\n  \"events\": []\n}"));
        assert!(is_json_document(b"[{\"level\":50}]"));
        assert!(is_json_document(b"{\"events\":[]}"));
        assert!(!is_json_document(b"{\"level\":50}\n{\"level\":30}\n"));
        assert!(!is_json_document(b"2026-01-30 ERROR x\n"));
        assert!(is_json_document(b"[\n  {\"level\": 50}\n]\n"));
        assert!(is_json_document(b"[1, 2]\n"));
        assert!(!is_json_document(
            b"[Nest] 1  - 12/07/2026, 3:34:41 PM   ERROR [ExceptionsHandler] boom\n"
        ));
        assert!(!is_json_document(
            b"[2026-12-07 16:53:00,123] ERROR in app: boom\n[2026-12-07 16:53:01,000] INFO ok\n"
        ));
    }
}
