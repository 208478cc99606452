//! One log line → is it an error, and if so what does it say: time, message, error
//! type, stack, route, HTTP status and trace ids. JSON lines (pino, bunyan, winston,
//! zap, logrus, structlog, ECS and OpenTelemetry field names) and plain text
//! (`2024-… ERROR …`, logfmt, access-log lines, bare stack traces) are both read.
//!
//! Pure functions only; the streaming, grouping and caps live in `analyse.rs`.

use crate::logscan::json::Json as Value;
use crate::logscan::{normalise, redact, traceid};
use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;
use std::sync::LazyLock;

/// What a line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    NotError,
    /// A line that looks like JSON but could not be parsed (malformed, or nested deeper
    /// than the parser allows) and shows no error as text either.
    Malformed,
    Error(ErrorLine),
    /// `Caused by: …`: continues the previous error's stack; `text` is redacted.
    Continuation {
        text: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorLine {
    pub time_ms: Option<i64>,
    /// The message as shown (redacted, one line, cut at 500 bytes).
    pub message: String,
    /// The grouping key: `message` normalised.
    pub key: String,
    pub error_type: Option<String>,
    /// First lines of the stack (redacted).
    pub stack: Vec<String>,
    pub route: Option<String>,
    pub status: Option<u16>,
    pub trace_ids: Vec<String>,
    /// A Python `Traceback (most recent call last):` line: its message comes later.
    pub traceback_start: bool,
    /// A bare exception line (`FooError: …` without time or level).
    pub may_continue: bool,
    /// A logged line followed by a Python traceback: the exception line that ends
    /// the traceback completes it.
    pub joined_traceback: bool,
}

/// Per-run settings of the line reader.
#[derive(Debug, Default)]
pub struct LineReader {
    trace_field: Option<String>,
    trace_field_text: Option<Regex>,
}

const MAX_MESSAGE: usize = 500;
const STACK_LINES: usize = 3;

impl LineReader {
    pub fn new(trace_id_field: Option<&str>) -> Self {
        let trace_field = trace_id_field
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let trace_field_text = trace_field.as_deref().and_then(traceid::text_key_pattern);
        LineReader {
            trace_field,
            trace_field_text,
        }
    }

    /// Reads one line; `event_ms` is the CloudWatch event time when there is one.
    pub fn read(&self, line: &str, event_ms: Option<i64>) -> Line {
        let t = line.trim_end_matches(['\r', '\n']);
        let trimmed = t.trim_start();
        if trimmed.starts_with('{') {
            if let Some(v) = Value::parse(trimmed)
                && v.is_object()
            {
                return self.read_json(&v, event_ms);
            }
            // Broken or too deeply nested JSON: the text reader may still see an error
            // in it; if not, the analyser counts it as dropped rather than say nothing.
            return match self.read_text(t, event_ms) {
                Line::NotError => Line::Malformed,
                other => other,
            };
        }
        if let Some((msg, ts)) = aws_cli_text_event(t) {
            return self.read(msg, event_ms.or(ts));
        }
        if let Some((at, ts)) = json_after_prefix(t)
            && let Some(v) = Value::parse(&t[at..])
            && v.is_object()
        {
            return self.read_json(&v, event_ms.or(ts));
        }
        self.read_text(t, event_ms)
    }

    fn read_json(&self, v: &Value, event_ms: Option<i64>) -> Line {
        let level = json_level(v);
        let status = first_status(v);
        let err = json_error(v);
        let is_error = match level {
            Some(true) => true,
            Some(false) => status.is_some_and(|s| s >= 500),
            None => {
                status.is_some_and(|s| s >= 500) || err.message.is_some() || !err.stack.is_empty()
            }
        };
        if !is_error {
            return Line::NotError;
        }
        // Redacted whole before the first line is taken: a PEM block or a token may
        // span lines, and its first line alone does not show what follows is secret.
        let msg = MSG_FIELDS
            .iter()
            .find_map(|f| get_str(v, f))
            .map(|s| first_line(&redact::redact(&s)).to_owned());
        let message = choose_message(
            msg.as_deref(),
            err.kind.as_deref(),
            err.message.as_deref(),
            status,
        );
        let method = METHOD_FIELDS.iter().find_map(|f| get_str(v, f));
        let route = URL_FIELDS
            .iter()
            .find_map(|f| get_str(v, f))
            .map(|u| normalise::route(method.as_deref(), &u));
        let mut trace_ids = Vec::new();
        traceid::from_json(v, self.trace_field.as_deref(), &mut trace_ids);
        let time_ms = event_ms.or_else(|| {
            TIME_FIELDS
                .iter()
                .find_map(|f| lookup(v, f).and_then(json_time))
        });
        Line::Error(finish(ErrorLine {
            time_ms,
            message,
            error_type: err.kind,
            stack: err.stack,
            route,
            status,
            trace_ids,
            ..Default::default()
        }))
    }

    fn read_text(&self, line: &str, event_ms: Option<i64>) -> Line {
        // Colour codes (Nest's and morgan's dev loggers colour level and status) hide
        // the words the line is read by.
        if line.contains('\x1b') {
            let plain = crate::logscan::normalise::strip_ansi(line);
            return self.read_text(&plain, event_ms);
        }
        if line.starts_with([' ', '\t']) || line.trim().is_empty() || is_key_body(line) {
            return Line::NotError;
        }
        if let Some(rest) = line.strip_prefix("Caused by: ") {
            return Line::Continuation {
                text: cut(&redact::redact(&format!("Caused by: {rest}"))),
            };
        }
        if access_prefix(line.as_bytes())
            && let Some(access) = self.read_access(line, event_ms)
        {
            return access;
        }
        // Java's uncaught exception: `Exception in thread "main" java.lang.Foo: msg`.
        if let Some(rest) = line.strip_prefix("Exception in thread ")
            && let Some(i) = rest.find("\" ")
            && let Line::Error(mut e) = self.read_text(&rest[i + 2..], event_ms)
        {
            e.stack.insert(0, cut(&redact::redact(line)));
            e.stack.truncate(STACK_LINES);
            return Line::Error(e);
        }
        let (time_ms, after_time) = match leading_time(line) {
            Some((ms, rest)) => (Some(ms), rest),
            None => (None, line),
        };
        // `TypeError: …` / `Error: …` at the very start is a stack trace, not a level.
        let exception_header = if time_ms.is_none() {
            EXCEPTION_LINE.captures(line)
        } else {
            None
        };
        // Go's `panic: …` opens a stack like an exception line does; `panic` is not
        // its level (the message is the whole line, the stack follows below).
        let go_panic = time_ms.is_none() && line.starts_with("panic: ");
        let level = if exception_header.is_some() || go_panic {
            None
        } else {
            text_level(after_time)
        };
        let status = text_status(line);
        let traceback = level.is_none() && line.starts_with("Traceback (most recent call last)");
        let is_error = match &level {
            Some((is_err, _)) => *is_err || status.is_some_and(|s| s >= 500),
            None => {
                exception_header.is_some()
                    || traceback
                    || line.starts_with("panic: ")
                    || status.is_some_and(|s| s >= 500)
            }
        };
        if !is_error {
            return Line::NotError;
        }
        let mut trace_ids = Vec::new();
        traceid::from_text(line, self.trace_field_text.as_ref(), &mut trace_ids);
        let route = text_route(line);
        let body = match &level {
            Some((_, end)) => &after_time[*end..],
            None => after_time,
        };
        let logfmt_msg = LOGFMT_MSG
            .captures(body)
            .and_then(|c| c.get(1).or(c.get(2)).map(|m| m.as_str().to_owned()));
        let message = match logfmt_msg {
            Some(m) => m,
            None => clean_text_message(body),
        };
        // Brackets of the console prefix (`[traceId-spanId]`, `[app,trace,span]`) are
        // where Spring puts trace ids; `from_text` above saw the whole line already.
        let error_type = exception_header
            .as_ref()
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_owned())
            .or_else(|| go_panic.then(|| "panic".to_owned()))
            .or_else(|| {
                EXCEPTION_IN_TEXT
                    .captures(&message)
                    .map(|c| c[1].to_owned())
            });
        let stack = if exception_header.is_some() || line.starts_with("panic: ") {
            vec![cut(line)]
        } else {
            Vec::new()
        };
        let message = if message.is_empty() {
            status
                .map(|s| format!("HTTP {s} response"))
                .unwrap_or_default()
        } else {
            message
        };
        // logfmt carries its time as a pair (`time=2026-…`, `ts=…`) rather than in front.
        let time_ms = time_ms.or_else(|| {
            LOGFMT_TIME
                .captures(line)
                .and_then(|c| parse_time(&c[1]).or_else(|| c[1].parse::<f64>().ok().map(epoch_ms)))
        });
        Line::Error(finish(ErrorLine {
            time_ms: event_ms.or(time_ms),
            message,
            error_type,
            stack,
            route,
            status,
            trace_ids,
            traceback_start: traceback,
            // A bare `FooError: msg` may be the tail of the previous error's stack;
            // the analyser decides by adjacency.
            may_continue: exception_header.is_some() || go_panic,
            ..Default::default()
        }))
    }
}

/// A line of a PEM body (base64, 40 to 80 characters, no spaces) or a PEM armour line:
/// never an error of its own, whatever letters the base64 happens to spell.
pub fn is_key_body(line: &str) -> bool {
    let l = line.trim_end_matches('\r');
    l.starts_with("-----BEGIN ")
        || l.starts_with("-----END ")
        || ((40..=80).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='))
}

impl LineReader {
    /// An nginx/Apache access line (common or combined format): an error when the status
    /// is 5xx, grouped by method, route (variable segments masked) and status, so that
    /// clients, sizes and user agents do not split one failing endpoint into many groups.
    /// `None` when the line does not parse as one; the generic text reader goes on.
    fn read_access(&self, line: &str, event_ms: Option<i64>) -> Option<Line> {
        let c = ACCESS_LINE.captures(line)?;
        let status: u16 = c["status"].parse().ok()?;
        if status < 500 {
            return Some(Line::NotError);
        }
        let method = c.name("method").map(|m| m.as_str());
        let target = c.name("target").map_or("-", |m| m.as_str());
        let route = normalise::route(method, target);
        let time_ms = DateTime::parse_from_str(&c["time"], "%d/%b/%Y:%H:%M:%S %z")
            .ok()
            .map(|t| t.timestamp_millis());
        let mut trace_ids = Vec::new();
        traceid::from_text(line, self.trace_field_text.as_ref(), &mut trace_ids);
        let request = match method {
            Some(m) => format!("{m} {target}"),
            None => c["request"].to_owned(),
        };
        Some(Line::Error(finish(ErrorLine {
            time_ms: event_ms.or(time_ms),
            message: format!("{request} → {status}"),
            key: format!("{route} → {status}"),
            route: Some(route),
            status: Some(status),
            trace_ids,
            ..Default::default()
        })))
    }
}

/// `host ident user [10/Oct/2026:13:55:36 +0000] "GET /path HTTP/1.1" 503 size …`.
static ACCESS_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\S+ \S+ (?:\S+|"[^"]*") \[(?P<time>[^\]]+)\] "(?P<request>(?:(?P<method>[A-Z]{3,10}) (?P<target>\S+)(?: [^"]*)?|[^"]*))" (?P<status>\d{3})\b"#,
    )
    .expect("access log pattern")
});

/// Redacts, cuts and derives the grouping key (unless the reader set one, as for
/// access lines, whose key is built from parsed fields rather than the text).
fn finish(mut e: ErrorLine) -> ErrorLine {
    e.message = cut(&redact::redact(first_line(&e.message)));
    if !e.key.is_empty() {
        e.key = cut(&redact::redact(&e.key));
    } else {
        e.key = normalise::message(&e.message);
    }
    if e.key.is_empty() {
        e.key = "(empty message)".into();
    }
    e.stack = e.stack.iter().map(|s| cut(&redact::redact(s))).collect();
    e.error_type = e.error_type.map(|t| cut(&redact::redact(&t)));
    e
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or("").trim_end()
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

const MSG_FIELDS: &[&str] = &[
    "msg",
    "message",
    "@m",
    "@mt",
    // Serilog's plain JSON formatter; .NET and Java layouts capitalise the key.
    "RenderedMessage",
    "MessageTemplate",
    "Message",
    "log",
    "text",
    "event",
    "error_message",
    "body",
];
const METHOD_FIELDS: &[&str] = &[
    "req.method",
    "method",
    "http.method",
    "http.request.method",
    "request.method",
    "httpRequest.requestMethod",
];
const URL_FIELDS: &[&str] = &[
    "http.route",
    "route",
    "req.route",
    "req.url",
    "req.originalUrl",
    "req.path",
    "url.path",
    "http.target",
    "path",
    "url",
    "http.url",
    "url.full",
    "request.url",
    "request.path",
    "httpRequest.requestUrl",
];
const TIME_FIELDS: &[&str] = &[
    "time",
    "timestamp",
    "@timestamp",
    "ts",
    "t",
    "date",
    "datetime",
    "eventTime",
    "asctime",
    "@t",
];
const LEVEL_FIELDS: &[&str] = &[
    "level",
    "lvl",
    "severity",
    // Serilog's compact and plain JSON, .NET and Java layouts capitalise the key.
    "Level",
    "Severity",
    "LogLevel",
    "log.level",
    "levelname",
    "level_name",
    "loglevel",
    "log_level",
    "@l",
    "severity_text",
    "severityText",
    "SeverityText",
    "status",
];
const STATUS_FIELDS: &[&str] = &[
    "res.statusCode",
    "res.status",
    "statusCode",
    "status_code",
    "http.status_code",
    "http.response.status_code",
    "response.status",
    "response.statusCode",
    "httpRequest.status",
    "status",
];

/// The request a JSON line is about, as `METHOD /route` with variable parts masked
/// (the same route the error groups show).
pub fn json_route(v: &Value) -> Option<String> {
    let method = METHOD_FIELDS.iter().find_map(|f| get_str(v, f));
    URL_FIELDS
        .iter()
        .find_map(|f| get_str(v, f))
        .map(|u| normalise::route(method.as_deref(), &u))
}

/// A path in a JSON object: `a.b.c` matches nested objects, literal dotted keys, or a mix.
/// The key equal to the whole path wins, then the shortest key that is a dotted prefix.
///
/// One scan of the keys: a line is looked up at some eighty paths, nearly all absent,
/// so most keys are turned down by their length alone.
pub fn lookup<'a, 'j>(v: &'a Value<'j>, path: &str) -> Option<&'a Value<'j>> {
    let obj = v.as_object()?;
    let p = path.as_bytes();
    // Children whose key is a dotted prefix of the path, by the prefix's length.
    let mut prefixes: [Option<&'a Value<'j>>; 8] = [None; 8];
    let mut any = false;
    // From the end: of a repeated key the last one counts, as in `Json::get`.
    for (k, x) in obj.iter().rev() {
        let k = k.as_bytes();
        if k.len() == p.len() {
            if k == p {
                return Some(x);
            }
        } else if k.len() < p.len() && p[k.len()] == b'.' && p.starts_with(k) {
            let dots = p[..k.len()].iter().filter(|b| **b == b'.').count();
            if let Some(slot @ None) = prefixes.get_mut(dots) {
                *slot = Some(x);
                any = true;
            }
        }
    }
    if !any {
        return None;
    }
    let mut rest = path;
    for slot in &prefixes {
        // The next dotted prefix: `rest` loses one more segment each time round.
        let Some((_, after)) = rest.split_once('.') else {
            break;
        };
        rest = after;
        if let Some(child) = slot
            && let Some(x) = lookup(child, rest)
        {
            return Some(x);
        }
    }
    None
}

/// A string (or number, as text) at `path`.
pub fn get_str(v: &Value, path: &str) -> Option<String> {
    match lookup(v, path)? {
        Value::String(s) if !s.is_empty() => Some(s.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `Some(true)` for error and worse, `Some(false)` for a known lower level.
fn json_level(v: &Value) -> Option<bool> {
    for f in LEVEL_FIELDS {
        match lookup(v, f) {
            Some(Value::Number(n)) if *f != "status" => {
                return Some(numeric_level_is_error(n.as_f64()?));
            }
            Some(Value::String(s)) => {
                if let Some(b) = level_word(s) {
                    return Some(b);
                }
                if let Ok(n) = s.parse::<f64>()
                    && *f != "status"
                {
                    return Some(numeric_level_is_error(n));
                }
            }
            _ => {}
        }
    }
    for f in ["severity_number", "severityNumber", "SeverityNumber"] {
        if let Some(n) = lookup(v, f).and_then(Value::as_f64) {
            // OpenTelemetry: 17–24 are ERROR and FATAL.
            return Some(n >= 17.0);
        }
    }
    None
}

/// pino/bunyan use 10–60 (50 error, 60 fatal); syslog-style loggers (GELF) use 0–7 (3 error).
fn numeric_level_is_error(n: f64) -> bool {
    if n >= 10.0 { n >= 50.0 } else { n <= 3.0 }
}

/// The verdict of a JSON line whose first key is `level` (pino, bunyan, winston), read
/// from its first bytes: `Some(true)` error or worse, `Some(false)` a lower level, `None`
/// when the line does not start that way or the value is not a plain integer or a
/// known level word. Same rules as the full read, which looks at `level` first.
///
/// Why: with the level known to be lower, only a 5xx status can still make the line an
/// error, and that is one short search instead of every error spelling. A line that
/// only looks like JSON at its start and is broken further on is read by the full
/// reader as text; this shortcut does not see that.
pub fn leading_level(line: &[u8]) -> Option<bool> {
    // pino writes exactly this; the general form allows spaces around the tokens.
    let value = match line.strip_prefix(b"{\"level\":") {
        Some(v) => v.trim_ascii_start(),
        None => line
            .trim_ascii_start()
            .strip_prefix(b"{")?
            .trim_ascii_start()
            .strip_prefix(b"\"level\"")?
            .trim_ascii_start()
            .strip_prefix(b":")?
            .trim_ascii_start(),
    };
    match value.first()? {
        b'"' => {
            let word = &value[1..];
            let close = memchr::memchr2(b'"', b'\\', word)?;
            if word[close] != b'"' {
                return None;
            }
            level_word(std::str::from_utf8(&word[..close]).ok()?)
        }
        b'0'..=b'9' => {
            let mut n: u32 = 0;
            for (i, b) in value.iter().enumerate() {
                match b {
                    b'0'..=b'9' if i < 6 => n = n * 10 + u32::from(b - b'0'),
                    // A plain integer only: `5.5`, `1e2` and the like go to the full reader.
                    b',' | b'}' | b' ' | b'\t' => {
                        return Some(numeric_level_is_error(f64::from(n)));
                    }
                    _ => return None,
                }
            }
            None
        }
        _ => None,
    }
}

/// Whether a JSON line may carry a 5xx status under any key ending in `status`,
/// `statusCode` or `status_code`, as a number or a string. A superset: the full read
/// decides which status field counts.
pub fn may_have_5xx_status(line: &[u8]) -> bool {
    static TATUS: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new("tatus"));
    TATUS.find_iter(line).any(|at| {
        let mut rest = &line[at + 5..];
        for suffix in [&b"Code"[..], b"_code"] {
            if let Some(r) = rest.strip_prefix(suffix) {
                rest = r;
                break;
            }
        }
        let Some(r) = rest.strip_prefix(b"\"") else {
            return false;
        };
        let r = r.trim_ascii_start();
        let Some(r) = r.strip_prefix(b":") else {
            return false;
        };
        let r = r.trim_ascii_start();
        let r = r.strip_prefix(b"\"").unwrap_or(r);
        r.first() == Some(&b'5')
    })
}

fn level_word(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "error" | "err" | "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency"
        | "panic" | "dpanic" | "severe" | "e" | "f" => Some(true),
        "trace" | "debug" | "info" | "information" | "informational" | "notice" | "warn"
        | "warning" | "verbose" | "fine" | "finer" | "finest" | "config" | "d" | "i" | "w"
        | "v" => Some(false),
        _ => None,
    }
}

fn first_status(v: &Value) -> Option<u16> {
    STATUS_FIELDS.iter().find_map(|f| {
        let n = match lookup(v, f)? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.parse::<u64>().ok()?,
            _ => return None,
        };
        (100..=599).contains(&n).then_some(n as u16)
    })
}

#[derive(Default)]
struct JsonError {
    kind: Option<String>,
    message: Option<String>,
    stack: Vec<String>,
}

fn json_error(v: &Value) -> JsonError {
    let mut e = JsonError::default();
    for f in ["err", "error", "exception", "exc_info", "error.object"] {
        match lookup(v, f) {
            Some(o @ Value::Object(_)) => {
                e.kind = ["type", "name", "kind", "class"]
                    .iter()
                    .find_map(|k| get_str(o, k));
                e.message = ["message", "msg", "reason"]
                    .iter()
                    .find_map(|k| get_str(o, k))
                    .map(|m| redact::redact_owned(&m));
                e.stack = ["stack", "stacktrace", "stack_trace", "backtrace"]
                    .iter()
                    .find_map(|k| lookup(o, k).and_then(stack_lines))
                    .unwrap_or_default();
                break;
            }
            Some(Value::String(s)) if !s.is_empty() => {
                if s.contains('\n') {
                    e.stack = text_stack_lines(s).unwrap_or_default();
                    e.message = e.stack.last().cloned();
                } else {
                    e.message = Some(redact::redact_owned(s));
                }
                break;
            }
            _ => {}
        }
    }
    if e.kind.is_none() {
        e.kind = ["error.type", "exception.type", "error_type", "exc_type"]
            .iter()
            .find_map(|k| get_str(v, k));
    }
    if e.message.is_none() {
        e.message = ["error.message", "exception.message", "error_message"]
            .iter()
            .find_map(|k| get_str(v, k))
            .map(|m| redact::redact_owned(&m));
    }
    if e.stack.is_empty() {
        e.stack = [
            "stack",
            "stack_trace",
            "stacktrace",
            "error.stack_trace",
            "exception.stacktrace",
        ]
        .iter()
        .find_map(|k| lookup(v, k).and_then(stack_lines))
        .unwrap_or_default();
    }
    if e.kind.is_none() {
        // `TypeError: …` as the first stack line names the type.
        e.kind = e
            .stack
            .first()
            .and_then(|l| EXCEPTION_LINE.captures(l))
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_owned());
    }
    e
}

fn stack_lines(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => text_stack_lines(s),
        Value::Array(a) => {
            // Joined and redacted as one text: a key may be split across elements.
            let joined: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            text_stack_lines(&joined.join("\n"))
        }
        _ => None,
    }
}

fn text_stack_lines(s: &str) -> Option<Vec<String>> {
    // The whole text first, then its lines (see `read_json`).
    let s = redact::redact(s);
    let lines: Vec<String> = s
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .take(STACK_LINES)
        .map(str::to_owned)
        .collect();
    (!lines.is_empty()).then_some(lines)
}

/// Messages that say "an error happened" without saying which; the error's own
/// message is the better grouping key then.
pub fn is_generic(msg: &str) -> bool {
    let m = msg
        .trim()
        .trim_end_matches(['.', '!', ':'])
        .to_ascii_lowercase();
    const GENERIC: &[&str] = &[
        "",
        "error",
        "failed",
        "failure",
        "exception",
        "request errored",
        "request error",
        "request failed",
        "request completed",
        "request finished",
        "internal server error",
        "unhandled error",
        "unhandled exception",
        "unhandled rejection",
        "unhandledrejection",
        "uncaught exception",
        "uncaughtexception",
        "http request failed",
        "handler failed",
    ];
    GENERIC.contains(&m.as_str())
        || m.starts_with("uncaught exception")
        || m.starts_with("unhandled exception")
        || m.starts_with("unhandled rejection")
}

fn choose_message(
    msg: Option<&str>,
    kind: Option<&str>,
    err: Option<&str>,
    status: Option<u16>,
) -> String {
    if let Some(m) = msg.filter(|m| !is_generic(m)) {
        return m.to_owned();
    }
    if let Some(e) = err.map(first_line).filter(|e| !e.is_empty()) {
        return match kind {
            Some(k) if k != "Error" && !e.starts_with(k) => format!("{k}: {e}"),
            _ => e.to_owned(),
        };
    }
    if let Some(s) = status {
        return format!("HTTP {s} response");
    }
    msg.unwrap_or("").to_owned()
}

fn json_time(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => Some(epoch_ms(n.as_f64()?)),
        Value::String(s) => parse_time(s),
        _ => None,
    }
}

/// An epoch time in s, ms, µs or ns (told by its size), in ms.
fn epoch_ms(f: f64) -> i64 {
    if f > 1e17 {
        (f / 1e6) as i64 // ns
    } else if f > 1e14 {
        (f / 1e3) as i64 // µs
    } else if f > 1e11 {
        f as i64 // ms
    } else {
        (f * 1e3) as i64 // s
    }
}

/// RFC 3339 and the common `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_millis());
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S,%f",
        "%Y/%m/%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

pub fn ms_to_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

static LEADING_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[?(\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s*").expect("time pattern")
});

/// NestJS's default console logger: `[Nest] 1  - 12/07/2026, 3:34:41 PM   ERROR
/// [Context] message` (the date in the en-US form Node prints by default).
static NEST_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\[[0-9;]*m)*\[Nest\] \d+\s+-\s+(?:\[[0-9;]*m)*(\d{1,2}/\d{1,2}/\d{4}, \d{1,2}:\d{2}:\d{2} [AP]M)(?:\[[0-9;]*m)*\s+")
        .expect("nest pattern")
});

fn leading_time(line: &str) -> Option<(i64, &str)> {
    if let Some(c) = NEST_PREFIX.captures(line) {
        let ms = chrono::NaiveDateTime::parse_from_str(&c[1], "%m/%d/%Y, %I:%M:%S %p")
            .ok()?
            .and_utc()
            .timestamp_millis();
        return Some((ms, &line[c.get(0)?.end()..]));
    }
    let c = LEADING_TIME.captures(line)?;
    let raw = c[1].replace(',', ".");
    let ms = parse_time(&raw).or_else(|| parse_time(&raw.replacen(' ', "T", 1)))?;
    Some((ms, &line[c.get(0)?.end()..]))
}

/// `(is_error, end of the level token)` from the first few tokens, or a `level=` pair.
fn text_level(s: &str) -> Option<(bool, usize)> {
    if let Some(c) = LOGFMT_LEVEL.captures(s)
        && let Some(b) = level_word(&c[1])
    {
        return Some((b, 0));
    }
    let head_end = s.char_indices().nth(120).map(|(i, _)| i).unwrap_or(s.len());
    let head = &s[..head_end];
    let mut pos = 0;
    for (n, tok) in head
        .split(|c: char| c.is_whitespace() || "[]()|:,<>".contains(c))
        .enumerate()
    {
        let start = pos;
        pos += tok.len() + 1;
        if tok.is_empty() {
            continue;
        }
        if n > 8 {
            break;
        }
        // One-letter levels only in glog position (`E0102 …`) are too ambiguous; skip them.
        if tok.len() > 1
            && let Some(b) = level_word(tok)
        {
            return Some((b, (start + tok.len()).min(s.len())));
        }
    }
    None
}

static LOGFMT_LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(?:level|lvl|severity)=["']?([A-Za-z]+)"#).expect("level pattern")
});
static LOGFMT_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|\s)(?:time|ts|timestamp|t)="?([0-9][^\s"]*)"#).expect("time pair pattern")
});
static LOGFMT_MSG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(?:msg|message)=(?:"((?:[^"\\]|\\.)*)"|(\S+))"#).expect("msg pattern")
});
static TEXT_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:\b(?:status|status_?code|http_status)["']?\s*[=:]\s*["']?([1-5]\d\d)\b|HTTP/\d(?:\.\d)?"\s+([1-5]\d\d)\s)"#)
        .expect("status pattern")
});
static TEXT_ROUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\s+(/[^\s"]*)|\bmethod=(\w+)\s+(?:path|url|route)=(/\S*)"#).expect("route pattern")
});
/// `module.FooError: message` or `FooException` alone: the start of a stack trace.
static EXCEPTION_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:Uncaught |Unhandled )?(?:[A-Za-z_$][\w$]*\.)*((?:[A-Za-z_$][\w$]*)?(?:Error|Exception|Exit|Interrupt|Fault|Panic))(?::\s|$)")
        .expect("exception pattern")
});
static EXCEPTION_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([A-Z][\w$]*(?:Error|Exception)):\s").expect("exception-in-text pattern")
});

fn text_status(line: &str) -> Option<u16> {
    let c = TEXT_STATUS.captures(line)?;
    c.get(1).or(c.get(2))?.as_str().parse().ok()
}

fn text_route(line: &str) -> Option<String> {
    let c = TEXT_ROUTE.captures(line)?;
    match (c.get(1), c.get(2), c.get(3), c.get(4)) {
        (Some(m), Some(p), _, _) | (_, _, Some(m), Some(p)) => {
            Some(normalise::route(Some(m.as_str()), p.as_str()))
        }
        _ => None,
    }
}

/// The message part of a plain-text line, past a console format's prefix: Spring
/// Boot's `1 --- [app] [thread] [traceId-spanId] c.e.Foo : message` (and Sleuth's
/// `[app,trace,span] 1 --- [thread] logger : message`), logback/log4j's
/// `[thread] logger - message`, Python's `app.module: message` and `:root:message`.
fn clean_text_message(body: &str) -> String {
    // `ERROR:root:msg`: Python's basic format puts the logger right after the level.
    let python_basic = body.starts_with(':');
    let trim = |s: &str| -> usize {
        s.len()
            - s.trim_start_matches(|c: char| c.is_whitespace() || ":-|>".contains(c))
                .len()
    };
    let mut s = body;
    for _ in 0..6 {
        s = &s[trim(s)..];
        if s.starts_with('[')
            && let Some(end) = s.find(']').filter(|e| *e < 128)
        {
            s = &s[end + 1..];
            continue;
        }
        // Spring's process id before `---`.
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && s[digits..].trim_start().starts_with("---") {
            s = &s[digits..];
            continue;
        }
        break;
    }
    if let Some(c) = SPRING_LOGGER.find(s) {
        s = &s[c.end()..];
    } else if let Some((head, rest)) = s.split_once(" - ")
        && !head.contains(' ')
        && head.len() < 80
        && !rest.is_empty()
    {
        s = rest;
    } else if let Some((head, rest)) = s.split_once(':')
        && !head.is_empty()
        && head.len() < 80
        && head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._$".contains(&b))
        && (python_basic || head.contains('.') || head == "root" || head == "__main__")
        && !is_file_name(head)
        && !EXCEPTION_LINE.is_match(s)
    {
        s = rest;
    }
    s.trim().to_owned()
}

/// `config.yaml` before a colon is what failed, not a logger's name.
fn is_file_name(head: &str) -> bool {
    const EXT: &[&str] = &[
        "yaml",
        "yml",
        "json",
        "toml",
        "ini",
        "cfg",
        "conf",
        "xml",
        "properties",
        "env",
        "txt",
        "log",
        "csv",
        "sql",
        "py",
        "js",
        "mjs",
        "ts",
        "go",
        "java",
        "rb",
        "sh",
        "html",
        "pem",
        "crt",
        "key",
    ];
    head.rsplit_once('.')
        .is_some_and(|(_, ext)| EXT.contains(&ext.to_ascii_lowercase().as_str()))
}

/// Spring Boot's logger column: a (shortened, padded) class name, then ` : `.
static SPRING_LOGGER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w.$\[\]/-]+\s+:\s").expect("spring logger pattern"));

/// The shape of one input line, told from its first bytes only: counted for every
/// line, so that the report can say what it read, it must cost a few compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A JSON object per line.
    Json,
    /// JSON after a time and/or a stream name, as `aws logs tail` prints it.
    PrefixedJson,
    /// `aws logs filter-log-events --output text`: `EVENTS<TAB>…`.
    AwsCliText,
    /// An OpenTelemetry JSON export (`resourceLogs`), per line.
    Otlp,
    /// Text after a leading date (console formats: Spring Boot, logback, Python…).
    TimedText,
    /// Text led by a level or `key=value` pairs (logfmt, `ERROR:root:…`).
    LeveledText,
    /// nginx/Apache access log: an address, then `- user [time] "request" status`.
    AccessLog,
    /// Stack frames and the lines around them: indented, `Traceback`, `Caused by:`,
    /// `goroutine N`, `panic:`, `FooError: …`.
    Stack,
    /// An event of a `filter-log-events` JSON document.
    CloudWatchEvent,
    /// An OpenTelemetry log record of a JSON document.
    OtlpRecord,
    /// Any other element of a JSON document (pretty-printed or in an array).
    JsonDocument,
    Blank,
    /// None of the above: searched for error words only.
    Unknown,
}

impl Shape {
    pub const ALL: [Shape; 13] = [
        Shape::Json,
        Shape::PrefixedJson,
        Shape::AwsCliText,
        Shape::Otlp,
        Shape::TimedText,
        Shape::LeveledText,
        Shape::AccessLog,
        Shape::Stack,
        Shape::CloudWatchEvent,
        Shape::OtlpRecord,
        Shape::JsonDocument,
        Shape::Blank,
        Shape::Unknown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Shape::Json => "JSON lines",
            Shape::PrefixedJson => "JSON behind a time/stream prefix (aws logs tail)",
            Shape::AwsCliText => "aws logs filter-log-events text output",
            Shape::Otlp => "OpenTelemetry JSON lines (resourceLogs)",
            Shape::TimedText => "text with a leading time",
            Shape::LeveledText => "text with a level or key=value pairs",
            Shape::AccessLog => "access log",
            Shape::Stack => "stack trace lines",
            Shape::CloudWatchEvent => "filter-log-events JSON events",
            Shape::OtlpRecord => "OpenTelemetry log records",
            Shape::JsonDocument => "JSON document records",
            Shape::Blank => "blank",
            Shape::Unknown => "not recognised",
        }
    }
}

/// The shape of a line (without its newline), from its first bytes.
pub fn shape_of(line: &[u8]) -> Shape {
    let Some(&first) = line.first() else {
        return Shape::Blank;
    };
    match first {
        b'{' => {
            if line.starts_with(b"{\"resourceLogs\"") {
                Shape::Otlp
            } else {
                Shape::Json
            }
        }
        b' ' | b'\t' | b'\r' => match line.iter().position(|b| !b.is_ascii_whitespace()) {
            None => Shape::Blank,
            Some(i) if line[i] == b'{' => Shape::Json,
            Some(_) => Shape::Stack,
        },
        b'0'..=b'9' | b'[' => {
            if leading_date(line) {
                if json_after_prefix_at(line).is_some() {
                    Shape::PrefixedJson
                } else {
                    Shape::TimedText
                }
            } else if access_prefix(line) {
                Shape::AccessLog
            } else {
                Shape::Unknown
            }
        }
        b'E' if line.starts_with(b"EVENTS\t") => Shape::AwsCliText,
        _ => letter_led_shape(line),
    }
}

/// `YYYY-MM-DD`, `YYYY/MM/DD` or `[YYYY-…` at the start, or Nest's `[Nest] pid - date`.
fn leading_date(line: &[u8]) -> bool {
    if line.starts_with(b"[Nest] ") {
        return NEST_PREFIX.is_match(&String::from_utf8_lossy(&line[..line.len().min(64)]));
    }
    let d = line.strip_prefix(b"[").unwrap_or(line);
    d.len() >= 10
        && d[..4].iter().all(u8::is_ascii_digit)
        && (d[4] == b'-' || d[4] == b'/')
        && d[5..7].iter().all(u8::is_ascii_digit)
        && d[7] == d[4]
        && d[8..10].iter().all(u8::is_ascii_digit)
}

/// Where a JSON object starts after at most three space-separated tokens of a line
/// that begins with a date (`time {…}`, `date time {…}`, `time stream {…}`).
fn json_after_prefix_at(line: &[u8]) -> Option<usize> {
    let head = &line[..line.len().min(300)];
    let mut at = 0;
    for _ in 0..3 {
        let sp = memchr::memchr(b' ', &head[at..])? + at;
        at = sp + 1;
        while head.get(at) == Some(&b' ') {
            at += 1;
        }
        if head.get(at) == Some(&b'{') {
            return Some(at);
        }
    }
    None
}

/// An access log's start: an IPv4/IPv6 address or host, then ` - ` or ` - user `,
/// then `[`.
fn access_prefix(line: &[u8]) -> bool {
    let head = &line[..line.len().min(120)];
    let Some(sp) = memchr::memchr(b' ', head) else {
        return false;
    };
    head[..sp]
        .iter()
        .all(|b| b.is_ascii_hexdigit() || b".:".contains(b))
        && head[sp..].starts_with(b" - ")
        && memchr::memchr(b'[', &head[sp..]).is_some()
}

fn letter_led_shape(line: &[u8]) -> Shape {
    const STACK_STARTS: &[&[u8]] = &[
        b"Traceback (",
        b"Caused by:",
        b"goroutine ",
        b"panic:",
        b"Exception in thread",
        b"During handling of",
        b"The above exception",
    ];
    if STACK_STARTS.iter().any(|p| line.starts_with(p)) {
        return Shape::Stack;
    }
    let head = &line[..line.len().min(200)];
    let Ok(text) =
        std::str::from_utf8(head).or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
    else {
        return Shape::Unknown;
    };
    if EXCEPTION_LINE.is_match(text) {
        return Shape::Stack;
    }
    if text_level(text).is_some() || text.starts_with("time=") || text.starts_with("ts=") {
        return Shape::LeveledText;
    }
    if access_prefix(line) {
        return Shape::AccessLog;
    }
    Shape::Unknown
}

/// The JSON object of a line behind a time and/or stream prefix (`aws logs tail`):
/// where it starts, and the prefix's time.
fn json_after_prefix(line: &str) -> Option<(usize, Option<i64>)> {
    if !leading_date(line.as_bytes()) {
        return None;
    }
    let at = json_after_prefix_at(line.as_bytes())?;
    let time = leading_time(line).map(|(ms, _)| ms);
    Some((at, time))
}

/// `aws logs filter-log-events --output text`: `EVENTS  id  ingestion  stream  message
/// timestamp` (tab-separated, keys in alphabetical order). The message may hold tabs.
fn aws_cli_text_event(line: &str) -> Option<(&str, Option<i64>)> {
    let rest = line.strip_prefix("EVENTS\t")?;
    let fields: Vec<&str> = rest.split('\t').collect();
    let is_ms = |f: &str| (10..=14).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit());
    if fields.len() >= 5 && is_ms(fields[fields.len() - 1]) && is_ms(fields[1]) {
        // eventId, ingestionTime, logStreamName, message…, timestamp
        let start = fields[..3].iter().map(|f| f.len() + 1).sum::<usize>();
        let end = rest.len() - fields[fields.len() - 1].len() - 1;
        let ts = fields[fields.len() - 1].parse().ok();
        return Some((&rest[start.min(end)..end], ts));
    }
    // An unknown column order: the longest field is the message.
    let msg = fields.iter().max_by_key(|f| f.len())?;
    let ts = fields
        .iter()
        .rev()
        .find(|f| is_ms(f))
        .and_then(|f| f.parse().ok());
    Some((msg, ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> ErrorLine {
        match LineReader::new(None).read(line, None) {
            Line::Error(e) => e,
            other => panic!("not an error: {other:?} for {line}"),
        }
    }

    fn not_err(line: &str) {
        assert_eq!(
            LineReader::new(None).read(line, None),
            Line::NotError,
            "{line}"
        );
    }

    const TID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    #[test]
    fn lookup_mixes_nested_and_dotted_keys() {
        let v = Value::parse(
            r#"{"x.y.z":4,"x":{"y":{"z":5}},"a.b":{"c":1},"a":{"b.c":2},"q.r":{"s":7},"m":{"n":6},"n":"top"}"#,
        )
        .unwrap();
        let num = |p: &str| lookup(&v, p).and_then(Value::as_f64);
        // The whole path as one key wins over any split of it.
        assert_eq!(num("x.y.z"), Some(4.0));
        // Then the shortest dotted prefix: `a` before `a.b`.
        assert_eq!(num("a.b.c"), Some(2.0));
        // A longer prefix when the shorter one does not lead anywhere.
        assert_eq!(num("q.r.s"), Some(7.0));
        assert_eq!(num("m.n"), Some(6.0));
        assert_eq!(lookup(&v, "n").and_then(Value::as_str), Some("top"));
        for absent in ["m.q", "m.n.o", "", ".", "a..b", "zz"] {
            assert!(lookup(&v, absent).is_none(), "{absent}");
        }
        assert!(lookup(&v, "x.y").is_some_and(Value::is_object));
        assert!(lookup(&Value::parse("[1]").unwrap(), "a").is_none());
    }

    #[test]
    fn pino_error_with_err_object() {
        let line = format!(
            r#"{{"level":50,"time":1767225600123,"pid":1,"hostname":"ip-10-0-1-5","req":{{"method":"GET","url":"/api/orders/42?x=1"}},"res":{{"statusCode":500}},"trace_id":"{TID}","span_id":"00f067aa0ba902b7","err":{{"type":"Error","message":"Database connection refused","stack":"Error: Database connection refused\n    at Pool.connect (/app/db.js:10:5)\n    at handler (/app/orders.js:7:3)\n    at next (/app/router.js:1:1)"}},"msg":"request errored"}}"#
        );
        let e = err(&line);
        assert_eq!(e.message, "Database connection refused");
        assert_eq!(e.key, "Database connection refused");
        assert_eq!(e.route.as_deref(), Some("GET /api/orders/:id"));
        assert_eq!(e.status, Some(500));
        assert_eq!(e.trace_ids, vec![TID]);
        assert_eq!(e.time_ms, Some(1767225600123));
        assert_eq!(e.stack.len(), 3);
        assert_eq!(e.stack[0], "Error: Database connection refused");
        assert_eq!(e.error_type.as_deref(), Some("Error"));
    }

    #[test]
    fn pino_levels() {
        not_err(r#"{"level":30,"time":1,"msg":"request completed","res":{"statusCode":200}}"#);
        not_err(r#"{"level":40,"time":1,"msg":"slow query"}"#);
        err(
            r#"{"level":60,"time":1,"msg":"uncaught exception, shutting down","err":{"type":"TypeError","message":"Cannot read properties of undefined (reading 'split')"}}"#,
        );
        // An info access line for a 5xx response is an error line too.
        let e = err(
            r#"{"level":30,"time":1,"msg":"request completed","req":{"method":"POST","url":"/api/pay"},"res":{"statusCode":503}}"#,
        );
        assert_eq!(e.message, "HTTP 503 response");
        assert_eq!(e.route.as_deref(), Some("POST /api/pay"));
    }

    #[test]
    fn leading_level_reads_the_first_key_only_when_it_decides() {
        for (line, want) in [
            (r#"{"level":50,"msg":"x"}"#, Some(true)),
            (r#"{"level":60}"#, Some(true)),
            (
                r#"{"level":30,"msg":"Error: not an error line"}"#,
                Some(false),
            ),
            (r#"{"level":3,"short_message":"x"}"#, Some(true)),
            (r#"{"level":6,"short_message":"x"}"#, Some(false)),
            (r#"  { "level" : "ERROR", "message":"x"}"#, Some(true)),
            (r#"{"level": "info", "message":"x"}"#, Some(false)),
            (r#"{"level":"warning"}"#, Some(false)),
            // Not decided here: the full reader looks further.
            (r#"{"level":"notice-ish","severity":"error"}"#, None),
            (r#"{"level":"er\"ror"}"#, None),
            (r#"{"level":5.5}"#, None),
            (r#"{"level":5e1}"#, None),
            (r#"{"level":-1}"#, None),
            (r#"{"level":1234567,"x":1}"#, None),
            (r#"{"lvl":50}"#, None),
            (r#"{"time":1,"level":50}"#, None),
            (r#"{"level":50"#, None),
            ("2026-01-01 ERROR level 50", None),
        ] {
            assert_eq!(leading_level(line.as_bytes()), want, "{line}");
        }
    }

    /// The line-by-line shortcut of the analyser may only skip lines the full reader
    /// would not call errors: every error line is either decided as one by its level,
    /// or below error level with a 5xx status the search finds, or left undecided.
    #[test]
    fn level_shortcut_never_skips_an_error_line() {
        let levels = [
            "10",
            "20",
            "30",
            "40",
            "50",
            "60",
            "0",
            "3",
            "7",
            "\"info\"",
            "\"error\"",
            "\"WARN\"",
            "\"fatal\"",
            "\"debug\"",
        ];
        let statuses = [
            "",
            r#","res":{"statusCode":200}"#,
            r#","res":{"statusCode":503}"#,
            r#","res":{"statusCode": 500}"#,
            r#","statusCode":"502""#,
            r#","status":504"#,
            r#","status_code":599"#,
            r#","http":{"status_code":500}"#,
            r#","http.response.status_code":503"#,
            r#","httpRequest":{"status":500}"#,
            r#","status":404"#,
            r#","res":{"statusCode":200},"status":503"#,
        ];
        let tails = [
            "",
            r#","err":{"type":"Error","message":"boom","stack":"Error: boom\n    at x (a.js:1:1)"}"#,
            r#","msg":"Error talking to payments""#,
            r#","error":"connection refused""#,
        ];
        let reader = LineReader::new(None);
        let mut errors = 0;
        for level in levels {
            for status in statuses {
                for tail in tails {
                    let line = format!(r#"{{"level":{level},"time":1767225600000{status}{tail}}}"#);
                    let is_error = matches!(reader.read(&line, None), Line::Error(_));
                    errors += usize::from(is_error);
                    let kept = match leading_level(line.as_bytes()) {
                        Some(true) => true,
                        Some(false) => may_have_5xx_status(line.as_bytes()),
                        None => true,
                    };
                    assert!(
                        kept || !is_error,
                        "the shortcut skips an error line: {line}"
                    );
                }
            }
        }
        // The corpus has both kinds, so the check above is not vacuous.
        assert!(errors > 100 && errors < levels.len() * statuses.len() * tails.len());
        assert!(!may_have_5xx_status(
            br#"{"level":30,"res":{"statusCode":200},"responseTime":512}"#
        ));
    }

    #[test]
    fn generic_message_takes_error_type_and_message() {
        let e = err(
            r#"{"level":60,"msg":"uncaught exception, shutting down","err":{"type":"TypeError","message":"Cannot read properties of undefined (reading 'split')","stack":"TypeError: Cannot read properties of undefined (reading 'split')\n    at parse (/app/x.js:1:1)"}}"#,
        );
        assert_eq!(
            e.message,
            "TypeError: Cannot read properties of undefined (reading 'split')"
        );
        assert_eq!(
            e.stack[0],
            "TypeError: Cannot read properties of undefined (reading 'split')"
        );
    }

    #[test]
    fn string_levels_and_other_schemas() {
        err(r#"{"level":"error","timestamp":"2026-01-01T10:00:00Z","message":"boom"}"#);
        err(r#"{"severity":"ERROR","message":"boom"}"#);
        err(r#"{"log.level":"fatal","message":"boom"}"#);
        err(r#"{"log":{"level":"error"},"message":"boom"}"#);
        err(r#"{"levelname":"CRITICAL","message":"boom"}"#);
        err(r#"{"SeverityText":"ERROR","Body":"boom"}"#);
        err(r#"{"severity_number":17,"body":"boom"}"#);
        err(r#"{"Timestamp":"2026-12-07T10:00:01Z","Level":"Error","RenderedMessage":"boom"}"#);
        err(r#"{"time":"2026-12-07T10:00:00Z","level":"err","msg":"boom"}"#);
        not_err(r#"{"level":"info","message":"all good error_count=0"}"#);
        not_err(r#"{"severity":"WARNING","message":"retrying"}"#);
        let e = err(
            r#"{"level":"error","ts":1767225600.5,"msg":"boom","http.route":"/api/items/{id}","http.method":"GET"}"#,
        );
        assert_eq!(e.time_ms, Some(1767225600500));
        assert_eq!(e.route.as_deref(), Some("GET /api/items/{id}"));
        let e = err(
            r#"{"timestamp":"2026-01-01T10:00:00Z","error":{"message":"disk full","type":"IOError"}}"#,
        );
        assert_eq!(e.message, "IOError: disk full");
    }

    #[test]
    fn plain_text_lines() {
        let e = err(&format!(
            "2026-01-01T10:00:00.250Z ERROR [http-nio-8080-exec-3] c.s.OrderController - Order lookup failed for order 123 trace_id={TID}"
        ));
        assert_eq!(e.time_ms, Some(1767261600250));
        assert_eq!(e.trace_ids, vec![TID]);
        assert_eq!(
            e.message,
            format!("Order lookup failed for order 123 trace_id={TID}")
        );
        assert!(
            e.key.starts_with("Order lookup failed for order <n>"),
            "{}",
            e.key
        );
        let e = err(
            r#"time=2026-01-01T10:00:00Z level=error msg="db connect failed" method=GET path=/api/orders/7"#,
        );
        assert_eq!(e.message, "db connect failed");
        assert_eq!(e.route.as_deref(), Some("GET /api/orders/:id"));
        let e = err(
            r#"10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /api/orders/9 HTTP/1.1" 502 17 "-" "curl""#,
        );
        assert_eq!(e.status, Some(502));
        assert_eq!(e.route.as_deref(), Some("GET /api/orders/:id"));
        not_err("2026-01-01 10:00:00 INFO connection error recovered");
        not_err(r#"10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 17"#);
        not_err("    at Object.<anonymous> (/app/index.js:1:1)");
        let e = err("[2026-01-01 10:00:00,123] FATAL: out of file descriptors");
        assert_eq!(e.message, "out of file descriptors");
    }

    #[test]
    fn stack_trace_lines() {
        let e = err("TypeError: Cannot read properties of undefined (reading 'split')");
        assert_eq!(e.error_type.as_deref(), Some("TypeError"));
        assert!(e.may_continue);
        assert_eq!(
            e.stack,
            vec!["TypeError: Cannot read properties of undefined (reading 'split')"]
        );
        let e = err("java.lang.IllegalStateException: pool closed");
        assert_eq!(e.error_type.as_deref(), Some("IllegalStateException"));
        assert!(matches!(
            LineReader::new(None).read("Caused by: java.net.ConnectException: refused", None),
            Line::Continuation { .. }
        ));
        let e = err("Traceback (most recent call last):");
        assert!(e.traceback_start);
        let e = err("panic: runtime error: invalid memory address or nil pointer dereference");
        assert_eq!(e.stack.len(), 1);
    }

    #[test]
    fn access_log_lines_group_by_method_route_and_status() {
        let a = err(
            r#"203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /api/orders/42?expand=items HTTP/1.1" 502 157 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0""#,
        );
        assert_eq!(a.time_ms, Some(1791640536000));
        assert_eq!(a.status, Some(502));
        assert_eq!(a.route.as_deref(), Some("GET /api/orders/:id"));
        assert_eq!(a.key, "GET /api/orders/:id → 502");
        assert_eq!(a.message, "GET /api/orders/42?expand=items → 502");
        let b = err(
            r#"2001:db8::7 - alice [10/Oct/2026:13:56:01 +0200] "GET /api/orders/7 HTTP/2.0" 502 9 "-" "curl/8.9.1" "Root=1-5759e988-bd862e3fe1be46a994272793""#,
        );
        assert_eq!(b.key, a.key);
        assert_eq!(b.trace_ids, vec!["5759e988bd862e3fe1be46a994272793"]);
        // Common format (no referrer, no agent), another status: another group.
        let c = err(r#"10.0.0.1 - - [10/Oct/2026:13:57:00 +0000] "POST /api/pay HTTP/1.1" 504 0"#);
        assert_eq!(c.key, "POST /api/pay → 504");
        not_err(
            r#"10.0.0.1 - - [10/Oct/2026:13:57:00 +0000] "GET /error/page HTTP/1.1" 404 0 "-" "FatalErrorBot/1.0""#,
        );
    }

    #[test]
    fn console_formats_find_level_message_and_trace_id_past_the_prefix() {
        let spring = err(&format!(
            "2026-01-31T10:00:00.123Z ERROR 1 --- [orders] [nio-8080-exec-1] [{TID}-00f067aa0ba902b7] c.e.orders.OrderController     : Order 42 lookup failed"
        ));
        assert_eq!(spring.time_ms, Some(1769853600123));
        assert_eq!(spring.message, "Order 42 lookup failed");
        assert_eq!(spring.trace_ids, vec![TID]);
        let boot2 = err(
            "2026-01-31 10:00:00.123 ERROR 12345 --- [           main] o.s.boot.SpringApplication               : Application run failed",
        );
        assert_eq!(boot2.message, "Application run failed");
        let sleuth = err(&format!(
            "2026-01-31 10:00:00.123 ERROR [orders,{TID},00f067aa0ba902b7,true] 7 --- [nio-8080-exec-2] c.e.Foo : payment declined"
        ));
        assert_eq!(sleuth.message, "payment declined");
        assert_eq!(sleuth.trace_ids, vec![TID]);
        let logback = err(
            "2026-01-31 10:00:00,123 ERROR [pool-1-thread-3] com.example.Worker - job 17 failed",
        );
        assert_eq!(logback.time_ms, Some(1769853600123));
        assert_eq!(logback.message, "job 17 failed");
        let python = err("2026-01-31 10:00:00,123 ERROR app.module: cache miss storm");
        assert_eq!(python.message, "cache miss storm");
        let basic = err("ERROR:root:cannot open config");
        assert_eq!(basic.message, "cannot open config");
        // An exception name is kept: it is the message, not a logger.
        let typed = err("2026-01-31 10:00:00,123 ERROR ValueError: bad input");
        assert_eq!(typed.message, "ValueError: bad input");
        let plain = err("2026-01-31 10:00:00,123 ERROR connection: refused");
        assert_eq!(plain.message, "connection: refused");
        let file = err("2026-01-31 10:00:00,123 ERROR settings.yaml: no such file");
        assert_eq!(file.message, "settings.yaml: no such file");
        not_err("2026-01-31T10:00:00.123Z  INFO 1 --- [orders] [main] c.e.App : Started");
        let uncaught =
            err(r#"Exception in thread "main" java.lang.IllegalStateException: pool closed"#);
        assert_eq!(
            uncaught.error_type.as_deref(),
            Some("IllegalStateException")
        );
        assert_eq!(
            uncaught.message,
            "java.lang.IllegalStateException: pool closed"
        );
    }

    #[test]
    fn nest_console_lines_with_or_without_colour() {
        let r = LineReader::new(None);
        for line in [
            "[Nest] 1  - 12/07/2026, 3:34:42 PM   ERROR [OrdersController] Failed to load order 42",
            "\x1b[32m[Nest] 1  - \x1b[39m12/07/2026, 3:34:42 PM \x1b[31m  ERROR\x1b[39m \x1b[33m[OrdersController] \x1b[39m\x1b[31mFailed to load order 42\x1b[39m",
        ] {
            let Line::Error(e) = r.read(line, None) else {
                panic!("not an error: {line:?}");
            };
            assert!(
                e.message.contains("Failed to load order 42"),
                "{}",
                e.message
            );
            assert!(!e.message.contains('\x1b'), "{}", e.message);
        }
        assert!(matches!(
            r.read(
                "[Nest] 1  - 12/07/2026, 3:34:43 PM     LOG [RoutesResolver] OrdersController {/api/orders}",
                None
            ),
            Line::NotError
        ));
    }

    #[test]
    fn secrets_never_reach_the_model() {
        let e = err(
            r#"{"level":50,"msg":"login to postgres://app:hunter2@db:5432/x failed password=hunter2"}"#,
        );
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(!e.key.contains("hunter2"));
    }
}
