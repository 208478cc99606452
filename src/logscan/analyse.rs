//! The streaming log analyser: error lines grouped by normalised message (count, first
//! and last seen, routes, statuses, stack head), trace ids ranked by how many error
//! lines carry them, with memory bounded whatever the volume.
//!
//! Speed comes from not reading most lines at all: a multi-pattern search over whole
//! chunks finds the few places that could be an error (an error level, a 5xx status, an
//! exception name), and only those lines are parsed. Every other line costs only the
//! search and the newline count. Chunks of level-first JSON lines (pino, bunyan,
//! winston) take a shorter way: the level is read from each line's first bytes, and
//! only lines below error level are searched, for a 5xx status alone. Memory is
//! bounded by the chunk buffer and by caps on
//! distinct groups, routes and trace ids; what overflows is counted, not kept.

use crate::logscan::logline::{self, ErrorLine, Line, LineReader, Shape};
use crate::logscan::model::{Count, ErrorGroup, InputStats, LogEvidence, TraceCount};
use aho_corasick::{AhoCorasick, Input, MatchKind};
use std::collections::HashMap as StdHashMap;

/// Keys are short log strings hashed once per error line: foldhash's per-process seeded
/// hasher is several times quicker than SipHash on them and still randomised.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
use std::io::Read;
use std::time::{Duration, Instant};

/// Caps and filters of one analysis.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Stop after this many lines/events (the report says so).
    pub max_events: Option<u64>,
    /// Stop after this much wall time (the report says so).
    pub max_time: Option<Duration>,
    /// Distinct messages kept; further ones are counted as ungrouped.
    pub max_groups: usize,
    /// Distinct trace ids tracked; rare ones are dropped when full (counts become approximate).
    pub max_trace_ids: usize,
    /// Only error lines in [since, until) count (lines without a time always do).
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Groups and traces listed in the result.
    pub top_groups: usize,
    pub top_traces: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: None,
            max_time: None,
            max_groups: 500,
            max_trace_ids: 20_000,
            since_ms: None,
            until_ms: None,
            top_groups: 15,
            top_traces: 20,
        }
    }
}

const MAX_ROUTES: usize = 32;
const GROUP_TRACE_IDS: usize = 3;
/// Bytes read at a time. Small enough to stay in a core's L2 cache between the newline
/// count, the pattern search and the parse of the hits (4 MiB chunks were ~20 % slower,
/// each pass fetching them from memory again); a longer line grows the buffer up to
/// `MAX_LINE`.
const CHUNK: usize = 256 << 10;
/// The longest line analysed whole; the rest of a longer one is skipped.
const MAX_LINE: usize = 4 << 20;
/// A bare exception line this close after an error (only stack frames between) belongs to it.
const MAX_STACK_GAP: usize = 16 << 10;

/// Finds the places in a chunk that could make a line an error: an error word, an
/// error level, a 5xx status. A superset: a hit is parsed and may still turn out not to
/// be an error, a miss is never looked at.
///
/// Why it is shaped like this: the search runs over every byte with a SIMD searcher that
/// first matches each pattern's first four bytes. No pattern may begin with bytes that
/// every line has (`"level":30`, `"statusCode":200`), or every line would need a check;
/// so the numeric patterns start just before the digit, and the key is checked by
/// looking back, which costs a few compares per hit.
struct Prefilter {
    ac: AhoCorasick,
}

/// What a pattern needs around it to count, checked by `Prefilter::verify`.
#[derive(Clone, Copy)]
enum Need {
    /// Nothing more: the bytes themselves say error.
    None,
    /// The key around the match is a level key (`…evel"`).
    LevelKey,
    /// The key around the match is a status key (`…tatus"`, `…tatusCode"`, `…tatus_code"`).
    StatusKey,
    /// Either of the two (a quoted number: `"level":"50"`, `"statusCode":"503"`).
    LevelOrStatusKey,
    /// An OpenTelemetry severity number key, followed by 1 or 2 (17–24 is ERROR/FATAL).
    SeverityNumber,
    /// The bytes before the match end with this.
    After(&'static str),
}

const PATTERNS: &[(&str, Need)] = &[
    ("rror", Need::None),
    ("RROR", Need::None),
    ("atal", Need::None),
    ("ATAL", Need::None),
    ("anic", Need::None),
    ("ANIC", Need::None),
    ("crit", Need::None),
    ("Crit", Need::None),
    ("CRIT", Need::None),
    ("severe", Need::None),
    ("Severe", Need::None),
    ("SEVERE", Need::None),
    ("emerg", Need::None),
    ("EMERG", Need::None),
    ("alert", Need::None),
    ("ALERT", Need::None),
    ("xception", Need::None),
    ("Traceback", Need::None),
    // The short level word `err` (syslog names, some Go and Node loggers), as a value.
    ("\":\"err\"", Need::LevelKey),
    ("\": \"err\"", Need::LevelKey),
    // Numeric levels and statuses: the key's last letter, `":` and the digit, so that the
    // four bytes the searcher looks at first tell `"level":50` from `"level":30`.
    ("l\":5", Need::LevelKey),
    ("l\":6", Need::LevelKey),
    ("l\": 5", Need::LevelKey),
    ("l\": 6", Need::LevelKey),
    ("\":\"5", Need::LevelOrStatusKey),
    ("\": \"5", Need::LevelOrStatusKey),
    ("\":\"6", Need::LevelKey),
    ("e\":5", Need::StatusKey),
    ("s\":5", Need::StatusKey),
    ("e\": 5", Need::StatusKey),
    ("s\": 5", Need::StatusKey),
    // Syslog-style numeric levels (GELF): 0–3 are emergency to error.
    ("\":0,", Need::LevelKey),
    ("\":1,", Need::LevelKey),
    ("\":2,", Need::LevelKey),
    ("\":3,", Need::LevelKey),
    ("y_number\":", Need::SeverityNumber),
    ("yNumber\":", Need::SeverityNumber),
    ("us=5", Need::After("stat")),
    ("de=5", Need::After("status_co")),
    // An access log's status after the quoted request line: `"GET / HTTP/1.1" 503`.
    ("1\" 5", Need::None),
    ("0\" 5", Need::None),
    ("2\" 5", Need::None),
];

const LEVEL_KEYS: &[&str] = &["evel"];
const STATUS_KEYS: &[&str] = &["tatusCode", "tatus", "tatus_code"];

impl Prefilter {
    fn new() -> Self {
        // Leftmost-first (any match will do) is what lets the crate use its SIMD
        // (Teddy) searcher; standard semantics fall back to a byte-at-a-time automaton.
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(PATTERNS.iter().map(|(p, _)| p))
            .expect("candidate patterns");
        Prefilter { ac }
    }

    /// Start of the first hit at or after `from` in `hay[..end]`.
    fn find(&self, hay: &[u8], from: usize, end: usize) -> Option<usize> {
        let mut pos = from;
        while pos < end {
            let m = self.ac.find(Input::new(hay).span(pos..end))?;
            if Self::verify(
                &hay[..end],
                m.start(),
                m.end(),
                PATTERNS[m.pattern().as_usize()].1,
            ) {
                return Some(m.start());
            }
            pos = m.start() + 1;
        }
        None
    }

    #[cfg(test)]
    fn is_match(&self, hay: &str) -> bool {
        self.find(hay.as_bytes(), 0, hay.len()).is_some()
    }

    fn verify(hay: &[u8], start: usize, end: usize, need: Need) -> bool {
        // The closing quote of the key: where the match starts, or one byte in when the
        // match starts with the key's last letter.
        let close = if hay.get(start) == Some(&b'"') {
            start
        } else {
            start + 1
        };
        let key_is = |keys: &[&str]| keys.iter().any(|k| hay[..close].ends_with(k.as_bytes()));
        match need {
            Need::None => true,
            Need::LevelKey => key_is(LEVEL_KEYS),
            Need::StatusKey => key_is(STATUS_KEYS),
            Need::LevelOrStatusKey => key_is(LEVEL_KEYS) || key_is(STATUS_KEYS),
            Need::SeverityNumber => {
                hay.get(end).is_some_and(|b| b"12".contains(b)) && hay[..start].ends_with(b"everit")
            }
            Need::After(before) => hay[..start].ends_with(before.as_bytes()),
        }
    }
}

#[derive(Debug, Default)]
struct GroupAcc {
    count: u64,
    first: Option<i64>,
    last: Option<i64>,
    sample: String,
    error_type: Option<String>,
    stack: Vec<String>,
    routes: HashMap<String, u64>,
    other_routes: u64,
    statuses: HashMap<u16, u64>,
    trace_ids: Vec<String>,
}

#[derive(Debug)]
struct TraceAcc {
    count: u64,
    group: String,
    first: Option<i64>,
}

/// Where the pending error came from, to decide whether a following line continues it.
#[derive(Debug, Clone, PartialEq)]
enum Origin {
    /// Byte offset just past the line, in the current chunk.
    Chunk(usize),
    /// The line was in an earlier chunk and only this many bytes of stack frames (or
    /// blank lines) followed it up to the start of the current chunk.
    Carried(usize),
    /// A CloudWatch event: stream and time.
    Event(String, i64),
    Gone,
}

pub struct Analyser {
    reader: LineReader,
    limits: Limits,
    prefilter: Prefilter,
    groups: HashMap<String, GroupAcc>,
    ungrouped: u64,
    traces: HashMap<String, TraceAcc>,
    traces_pruned: bool,
    lines: u64,
    bytes: u64,
    error_lines: u64,
    outside_window: u64,
    pending: Option<(ErrorLine, Origin)>,
    started: Instant,
    caps_hit: Vec<String>,
    stopped: bool,
    /// Lines (events, records) by shape, indexed by `Shape as usize`.
    shapes: [u64; Shape::ALL.len()],
    /// Lines left out or read in part, by reason, in the order first met.
    dropped: Vec<(String, u64)>,
    /// `gzip`/`zstd` when the input was decompressed on the way in.
    pub(crate) compression: Option<String>,
}

/// Why lines were dropped or read in part: the report lists these.
pub const DROP_LONG: &str = "longer than 4 MiB: only the first 4 MiB read";
pub const DROP_JSON: &str =
    "JSON that could not be parsed (malformed, or nested deeper than 128 levels)";
pub const DROP_UTF8: &str = "invalid UTF-8, read with replacement characters";

impl Analyser {
    pub fn new(trace_id_field: Option<&str>, limits: Limits) -> Self {
        let prefilter = Prefilter::new();
        Analyser {
            reader: LineReader::new(trace_id_field),
            limits,
            prefilter,
            groups: HashMap::default(),
            ungrouped: 0,
            traces: HashMap::default(),
            traces_pruned: false,
            lines: 0,
            bytes: 0,
            error_lines: 0,
            outside_window: 0,
            pending: None,
            started: Instant::now(),
            caps_hit: Vec::new(),
            stopped: false,
            shapes: [0; Shape::ALL.len()],
            dropped: Vec::new(),
            compression: None,
        }
    }

    /// Counts a line (event, record) of `shape`.
    pub(crate) fn count_shape(&mut self, shape: Shape) {
        self.shapes[shape as usize] += 1;
    }

    /// Counts `n` lines (or bytes, as the reason says) left out or read in part.
    pub fn note_dropped(&mut self, why: &str, n: u64) {
        match self.dropped.iter_mut().find(|(w, _)| w == why) {
            Some((_, c)) => *c += n,
            None => self.dropped.push((why.to_owned(), n)),
        }
    }

    /// Counts lines and their shapes in a chunk, by each line's first bytes.
    fn count_lines(&mut self, chunk: &[u8]) -> u64 {
        let mut start = 0;
        let mut n = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            self.shapes[logline::shape_of(&chunk[start..nl]) as usize] += 1;
            start = nl + 1;
            n += 1;
        }
        if start < chunk.len() {
            self.shapes[logline::shape_of(&chunk[start..]) as usize] += 1;
            n += 1;
        }
        n
    }

    /// True once a cap stopped the analysis; callers stop feeding.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Reads a whole stream (a file or stdin) chunk by chunk.
    pub fn read_all(&mut self, mut r: impl Read) -> std::io::Result<()> {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        // After a line longer than the buffer: drop bytes up to the next newline.
        let mut skipping = false;
        loop {
            if self.stopped {
                return Ok(());
            }
            let n = match r.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                if filled > 0 && !skipping {
                    self.feed_chunk(&buf[..filled]);
                }
                self.flush();
                return Ok(());
            }
            filled += n;
            let mut start = 0;
            if skipping {
                match memchr::memchr(b'\n', &buf[..filled]) {
                    Some(i) => {
                        skipping = false;
                        self.bytes += (i + 1) as u64;
                        start = i + 1;
                    }
                    None => {
                        self.bytes += filled as u64;
                        filled = 0;
                        continue;
                    }
                }
            }
            match chunk_cut(&buf[start..filled], filled == buf.len()) {
                Some(cut) => {
                    let end = start + cut;
                    self.feed_chunk(&buf[start..end]);
                    buf.copy_within(end..filled, 0);
                    filled -= end;
                }
                None if filled == buf.len() && start == 0 && buf.len() < MAX_LINE => {
                    // A line longer than the buffer: make room for it.
                    buf.resize(buf.len() * 2, 0);
                }
                None if filled == buf.len() => {
                    // One line fills the whole buffer: analyse its start, skip the rest.
                    self.note_dropped(DROP_LONG, 1);
                    self.feed_chunk(&buf[start..filled]);
                    filled = 0;
                    skipping = true;
                }
                None => {
                    buf.copy_within(start..filled, 0);
                    filled -= start;
                }
            }
        }
    }

    /// Feeds complete lines (the last one may lack its newline).
    pub fn feed_chunk(&mut self, chunk: &[u8]) {
        if self.stopped || chunk.is_empty() {
            return;
        }
        let mut chunk = chunk;
        // Lines are counted (with their shapes) on the way through below; only a cap on
        // lines needs the count first.
        let n = match self.limits.max_events {
            Some(_) => {
                let mut n = memchr::memchr_iter(b'\n', chunk).count() as u64;
                if !chunk.ends_with(b"\n") {
                    n += 1;
                }
                n
            }
            None => 0,
        };
        if let Some(max) = self.limits.max_events
            && self.lines + n >= max
        {
            let keep = (max - self.lines) as usize;
            let cut = memchr::memchr_iter(b'\n', chunk)
                .nth(keep.saturating_sub(1))
                .map(|i| i + 1)
                .unwrap_or(chunk.len());
            chunk = if keep == 0 {
                &chunk[..0]
            } else {
                &chunk[..cut]
            };
            self.hit_cap(format!("events: stopped after {max} lines (max_events)"));
        }
        self.bytes += chunk.len() as u64;
        let len = chunk.len();
        let mut pos = 0;
        if logline::leading_level(chunk).is_some() {
            // Level-first JSON lines (pino, bunyan, winston): line by line, the level
            // is read from the line's first bytes and only lines below error level are
            // searched, for a 5xx status alone.
            while pos < len {
                let end = memchr::memchr(b'\n', &chunk[pos..]).map_or(len, |i| pos + i);
                let line = &chunk[pos..end];
                self.lines += 1;
                let may = match logline::leading_level(line) {
                    Some(is_error) => {
                        self.shapes[Shape::Json as usize] += 1;
                        is_error || logline::may_have_5xx_status(line)
                    }
                    None => {
                        self.shapes[logline::shape_of(line) as usize] += 1;
                        self.prefilter.find(line, 0, line.len()).is_some()
                    }
                };
                if may {
                    self.chunk_line(chunk, pos, end);
                }
                pos = end + 1;
            }
        } else {
            self.lines += self.count_lines(chunk);
        }
        while pos < len {
            let Some(at) = self.prefilter.find(chunk, pos, len) else {
                break;
            };
            let start = memchr::memrchr(b'\n', &chunk[..at]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &chunk[at..]).map_or(len, |i| at + i);
            self.chunk_line(chunk, start, end);
            pos = end + 1;
        }
        // Offsets restart with the next chunk: what followed the pending error up to
        // here is carried over as a length, so a stack split by the cut still joins.
        if let Some((_, origin)) = &mut self.pending {
            let carried = match origin {
                Origin::Chunk(pend) => Some((0, &chunk[(*pend).min(len)..])),
                Origin::Carried(seen) => Some((*seen, chunk)),
                _ => None,
            };
            *origin = match carried {
                Some((seen, gap)) if seen + gap.len() <= MAX_STACK_GAP && gap_is_stack(gap) => {
                    Origin::Carried(seen + gap.len())
                }
                _ => Origin::Gone,
            };
        }
        if let Some(max) = self.limits.max_time
            && self.started.elapsed() >= max
        {
            self.hit_cap(format!(
                "time: stopped reading after {} (max_log_time)",
                humantime::format_duration(max)
            ));
        }
    }

    fn chunk_line(&mut self, chunk: &[u8], start: usize, end: usize) {
        let text = String::from_utf8_lossy(&chunk[start..end]);
        if let std::borrow::Cow::Owned(_) = text {
            self.note_dropped(DROP_UTF8, 1);
        }
        if text.starts_with("{\"resourceLogs\"") {
            // One OpenTelemetry export line holds many records: each is an event.
            self.commit_pending();
            crate::logscan::input::otlp_records(&text, |service, t, record| {
                self.event_body(service, t, record);
            });
            return;
        }
        match self.reader.read(&text, None) {
            Line::NotError => {}
            Line::Malformed => self.note_dropped(DROP_JSON, 1),
            Line::Continuation { text } => {
                if self.follows_pending(chunk, start)
                    && let Some((p, origin)) = &mut self.pending
                {
                    if p.stack.len() < 3 {
                        p.stack.push(text);
                    }
                    *origin = Origin::Chunk(end);
                }
            }
            Line::Error(e) if e.traceback_start && self.pending_can_take_traceback() => {
                if self.follows_pending(chunk, start)
                    && let Some((p, origin)) = &mut self.pending
                {
                    // `logger.exception(…)`: the logged line, then its traceback; the
                    // exception line that ends the traceback completes this error.
                    p.joined_traceback = true;
                    *origin = Origin::Chunk(end);
                } else {
                    self.commit_pending();
                    self.pending = Some((e, Origin::Chunk(end)));
                }
            }
            Line::Error(mut e) => {
                let adjacent = e.may_continue
                    && self.pending.as_ref().is_some_and(|(p, _)| !p.may_continue)
                    && self.follows_pending(chunk, start);
                // Plain-text errors: the indented frames right below are their stack.
                let is_text = !text.trim_start().starts_with('{');
                let frames = if is_text {
                    indented_lines_after(chunk, end, 3)
                } else {
                    Vec::new()
                };
                if adjacent {
                    if let Some((p, origin)) = &mut self.pending {
                        merge_continuation(p, e, frames);
                        *origin = Origin::Chunk(end);
                    }
                } else {
                    if e.stack.len() < 3
                        && !frames.is_empty()
                        && (e.may_continue
                            || e.traceback_start
                            || !e.stack.is_empty()
                            || looks_like_frames(&frames))
                    {
                        e.stack.extend(frames);
                        e.stack.truncate(3);
                    }
                    self.commit_pending();
                    self.pending = Some((e, Origin::Chunk(end)));
                }
            }
        }
    }

    /// Whether the pending error is a logged line still waiting for its stack, which a
    /// following `Traceback (most recent call last):` belongs to.
    fn pending_can_take_traceback(&self) -> bool {
        self.pending.as_ref().is_some_and(|(p, _)| {
            !p.traceback_start && !p.joined_traceback && !p.may_continue && p.stack.is_empty()
        })
    }

    /// Whether one line (or event) needs reading: decided by its leading level when it
    /// has one, else by the pattern search.
    fn may_be_error(&self, line: &[u8]) -> bool {
        match logline::leading_level(line) {
            Some(true) => true,
            Some(false) => logline::may_have_5xx_status(line),
            None => self.prefilter.find(line, 0, line.len()).is_some(),
        }
    }

    /// Whether only stack frames (or blank lines) lie between the pending error and the
    /// line starting at `start` of this chunk.
    fn follows_pending(&self, chunk: &[u8], start: usize) -> bool {
        match self.pending {
            Some((_, Origin::Chunk(pend))) => pend <= start && gap_is_stack(&chunk[pend..start]),
            Some((_, Origin::Carried(seen))) => {
                seen + start <= MAX_STACK_GAP && gap_is_stack(&chunk[..start])
            }
            _ => false,
        }
    }

    /// Feeds one CloudWatch event (its message may hold several lines).
    pub fn feed_event(&mut self, stream: &str, timestamp_ms: i64, message: &str) {
        let head = message.as_bytes();
        let head = &head[..memchr::memchr(b'\n', head).unwrap_or(head.len())];
        self.record(logline::shape_of(head), stream, Some(timestamp_ms), message);
    }

    /// Feeds one event or record of a known shape (CloudWatch, a JSON document).
    pub(crate) fn record(
        &mut self,
        shape: Shape,
        stream: &str,
        time_ms: Option<i64>,
        message: &str,
    ) {
        if self.stopped {
            return;
        }
        if let Some(max) = self.limits.max_events
            && self.lines >= max
        {
            self.hit_cap(format!(
                "events: stopped after {max} log events (max_events)"
            ));
            return;
        }
        self.lines += 1;
        self.bytes += message.len() as u64;
        self.count_shape(shape);
        self.event_body(stream, time_ms, message);
        if let Some(max) = self.limits.max_time
            && self.lines.is_multiple_of(1024)
            && self.started.elapsed() >= max
        {
            self.hit_cap(format!(
                "time: stopped reading after {} (max_log_time)",
                humantime::format_duration(max)
            ));
        }
    }

    /// Ends a run of events: the last pending error is counted.
    pub(crate) fn finish_events(&mut self) {
        self.flush();
    }

    /// The analysis of one event or record, already counted: `time_ms` is its own
    /// time when it has one.
    pub(crate) fn event_body(&mut self, stream: &str, time_ms: Option<i64>, message: &str) {
        if message.starts_with("{\"resourceLogs\"") {
            self.commit_pending();
            crate::logscan::input::otlp_records(message, |service, t, record| {
                self.event_body(service, t, record);
            });
            return;
        }
        if !self.may_be_error(message.as_bytes()) {
            return;
        }
        let timestamp_ms = time_ms.unwrap_or(0);
        // The whole event is redacted before it is cut into lines: a PEM block or a
        // token that spans lines is only recognisable whole.
        let redacted = crate::logscan::redact::redact(message);
        let message = redacted.as_ref();
        let first = message.lines().next().unwrap_or("");
        let line = if message.trim_start().starts_with('{') {
            message
        } else {
            first
        };
        match self.reader.read(line, time_ms) {
            Line::NotError => {}
            Line::Malformed => self.note_dropped(DROP_JSON, 1),
            Line::Error(e)
                if e.traceback_start
                    && self.pending_can_take_traceback()
                    && matches!(&self.pending, Some((_, Origin::Event(s, t))) if s == stream && (timestamp_ms - *t).abs() <= 1000) =>
            {
                if let Some((p, _)) = &mut self.pending {
                    p.joined_traceback = true;
                }
            }
            Line::Continuation { text } => {
                if let Some((p, Origin::Event(s, t))) = &mut self.pending
                    && s == stream
                    && (timestamp_ms - *t).abs() <= 1000
                    && p.stack.len() < 3
                {
                    p.stack.push(text);
                }
            }
            Line::Error(mut e) => {
                let adjacent = e.may_continue
                    && matches!(&self.pending, Some((p, Origin::Event(s, t))) if !p.may_continue && s == stream && (timestamp_ms - *t).abs() <= 1000);
                // A multi-line event carries its own stack below the first line.
                let frames: Vec<String> = if line.len() < message.len() {
                    message
                        .lines()
                        .skip(1)
                        .filter(|l| !l.trim().is_empty())
                        .take(3)
                        .map(|l| l.trim().to_owned())
                        .collect()
                } else {
                    Vec::new()
                };
                if adjacent {
                    if let Some((p, _)) = &mut self.pending {
                        merge_continuation(p, e, frames);
                    }
                } else {
                    if e.stack.len() < 3 && !frames.is_empty() {
                        if e.stack.is_empty() {
                            e.stack.push(first.to_owned());
                        }
                        e.stack.extend(frames);
                        e.stack.truncate(3);
                    }
                    self.commit_pending();
                    self.pending = Some((e, Origin::Event(stream.to_owned(), timestamp_ms)));
                }
            }
        }
    }

    /// Marks a cap as hit and stops the analysis.
    pub fn hit_cap(&mut self, what: String) {
        if !self.caps_hit.contains(&what) {
            self.caps_hit.push(what);
        }
        self.stopped = true;
    }

    /// Records a cap hit elsewhere (e.g. by the CloudWatch reader) without stopping.
    pub fn note_cap(&mut self, what: String) {
        if !self.caps_hit.contains(&what) {
            self.caps_hit.push(what);
        }
    }

    fn flush(&mut self) {
        self.commit_pending();
    }

    fn commit_pending(&mut self) {
        let Some((e, _)) = self.pending.take() else {
            return;
        };
        if let Some(t) = e.time_ms {
            let before = self.limits.since_ms.is_some_and(|s| t < s);
            let after = self.limits.until_ms.is_some_and(|u| t >= u);
            if before || after {
                self.outside_window += 1;
                return;
            }
        }
        self.error_lines += 1;
        if !self.groups.contains_key(&e.key) && self.groups.len() >= self.limits.max_groups {
            self.ungrouped += 1;
            let note = format!(
                "groups: more than {} distinct messages; the rest are counted as ungrouped",
                self.limits.max_groups
            );
            self.note_cap(note);
        } else {
            let g = self.groups.entry(e.key.clone()).or_default();
            g.count += 1;
            if g.count == 1 {
                g.sample = e.message.clone();
            }
            if let Some(t) = e.time_ms {
                g.first = Some(g.first.map_or(t, |f| f.min(t)));
                g.last = Some(g.last.map_or(t, |l| l.max(t)));
            }
            if g.error_type.is_none() {
                g.error_type = e.error_type.clone();
            }
            if g.stack.is_empty() && !e.stack.is_empty() {
                g.stack = e.stack.clone();
            }
            if let Some(r) = &e.route {
                if let Some(c) = g.routes.get_mut(r) {
                    *c += 1;
                } else if g.routes.len() < MAX_ROUTES {
                    g.routes.insert(r.clone(), 1);
                } else {
                    g.other_routes += 1;
                }
            }
            if let Some(s) = e.status {
                *g.statuses.entry(s).or_default() += 1;
            }
            for id in &e.trace_ids {
                if g.trace_ids.len() < GROUP_TRACE_IDS && !g.trace_ids.contains(id) {
                    g.trace_ids.push(id.clone());
                }
            }
        }
        for id in e.trace_ids {
            if let Some(t) = self.traces.get_mut(&id) {
                t.count += 1;
                if let (Some(new), Some(old)) = (e.time_ms, t.first) {
                    t.first = Some(old.min(new));
                }
            } else {
                if self.traces.len() >= self.limits.max_trace_ids {
                    self.prune_traces();
                }
                self.traces.insert(
                    id,
                    TraceAcc {
                        count: 1,
                        group: e.key.clone(),
                        first: e.time_ms,
                    },
                );
            }
        }
    }

    /// Drops the least frequent trace ids to make room (space-saving style): the
    /// ones that matter, carried by many error lines, stay.
    fn prune_traces(&mut self) {
        let min = self.traces.values().map(|t| t.count).min().unwrap_or(0);
        self.traces.retain(|_, t| t.count > min);
        if self.traces.len() >= self.limits.max_trace_ids {
            // Every id has the same count: drop half, arbitrarily but boundedly.
            let mut n = 0;
            let half = self.traces.len() / 2;
            self.traces.retain(|_, _| {
                n += 1;
                n > half
            });
        }
        self.traces_pruned = true;
    }

    /// Folds in the analysis of the input that follows this one (a later byte range of
    /// the same file): counts add up, first-seen samples and stacks stay this one's.
    pub fn merge(&mut self, mut later: Analyser) {
        self.flush();
        later.flush();
        self.lines += later.lines;
        self.bytes += later.bytes;
        self.error_lines += later.error_lines;
        self.outside_window += later.outside_window;
        self.ungrouped += later.ungrouped;
        self.traces_pruned |= later.traces_pruned;
        self.stopped |= later.stopped;
        for (mine, theirs) in self.shapes.iter_mut().zip(later.shapes) {
            *mine += theirs;
        }
        for (why, n) in &later.dropped {
            self.note_dropped(why, *n);
        }
        for cap in later.caps_hit {
            self.note_cap(cap);
        }
        for (key, g) in later.groups {
            if !self.groups.contains_key(&key) && self.groups.len() >= self.limits.max_groups {
                self.ungrouped += g.count;
                self.note_cap(format!(
                    "groups: more than {} distinct messages; the rest are counted as ungrouped",
                    self.limits.max_groups
                ));
                continue;
            }
            let mine = self.groups.entry(key).or_default();
            if mine.count == 0 {
                *mine = g;
                continue;
            }
            mine.count += g.count;
            mine.first = min_opt(mine.first, g.first);
            mine.last = mine.last.max(g.last);
            if mine.error_type.is_none() {
                mine.error_type = g.error_type;
            }
            if mine.stack.is_empty() {
                mine.stack = g.stack;
            }
            mine.other_routes += g.other_routes;
            for (r, c) in g.routes {
                if let Some(n) = mine.routes.get_mut(&r) {
                    *n += c;
                } else if mine.routes.len() < MAX_ROUTES {
                    mine.routes.insert(r, c);
                } else {
                    mine.other_routes += c;
                }
            }
            for (s, c) in g.statuses {
                *mine.statuses.entry(s).or_default() += c;
            }
            for id in g.trace_ids {
                if mine.trace_ids.len() < GROUP_TRACE_IDS && !mine.trace_ids.contains(&id) {
                    mine.trace_ids.push(id);
                }
            }
        }
        for (id, t) in later.traces {
            if let Some(mine) = self.traces.get_mut(&id) {
                mine.count += t.count;
                mine.first = min_opt(mine.first, t.first);
            } else {
                if self.traces.len() >= self.limits.max_trace_ids {
                    self.prune_traces();
                }
                self.traces.insert(id, t);
            }
        }
    }

    /// The evidence: top groups and trace ids, with counts and caps.
    pub fn finish(mut self, source: String) -> LogEvidence {
        self.flush();
        let total = self.error_lines.max(1) as f64;
        let mut groups: Vec<(String, GroupAcc)> = self.groups.into_iter().collect();
        groups.sort_by(|a, b| {
            b.1.count
                .cmp(&a.1.count)
                .then(a.1.first.cmp(&b.1.first))
                .then(a.0.cmp(&b.0))
        });
        let groups = groups
            .into_iter()
            .take(self.limits.top_groups)
            .map(|(key, g)| {
                let mut routes: Vec<Count> = g
                    .routes
                    .into_iter()
                    .map(|(value, count)| Count { value, count })
                    .collect();
                routes.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
                routes.truncate(5);
                if g.other_routes > 0 {
                    routes.push(Count {
                        value: "(other routes)".into(),
                        count: g.other_routes,
                    });
                }
                let mut statuses: Vec<Count> = g
                    .statuses
                    .into_iter()
                    .map(|(s, count)| Count {
                        value: s.to_string(),
                        count,
                    })
                    .collect();
                statuses.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
                ErrorGroup {
                    message: key,
                    sample: g.sample,
                    error_type: g.error_type,
                    stack_head: g.stack,
                    count: g.count,
                    share: g.count as f64 / total,
                    first_seen: g.first.and_then(logline::ms_to_time),
                    last_seen: g.last.and_then(logline::ms_to_time),
                    routes,
                    statuses,
                    trace_ids: g.trace_ids,
                }
            })
            .collect();
        let distinct = self.traces.len() as u64;
        let mut traces: Vec<(String, TraceAcc)> = self.traces.into_iter().collect();
        traces.sort_by(|a, b| {
            b.1.count
                .cmp(&a.1.count)
                .then(a.1.first.cmp(&b.1.first))
                .then(a.0.cmp(&b.0))
        });
        let traces = traces
            .into_iter()
            .take(self.limits.top_traces)
            .map(|(id, t)| TraceCount {
                trace_id: id,
                error_lines: t.count,
                group: Some(t.group),
                first_seen: t.first.and_then(logline::ms_to_time),
            })
            .collect();
        LogEvidence {
            source,
            log_group: None,
            streams: Vec::new(),
            lines_read: self.lines,
            bytes_read: self.bytes,
            error_lines: self.error_lines,
            error_lines_outside_window: self.outside_window,
            groups,
            ungrouped_error_lines: self.ungrouped,
            traces,
            distinct_trace_ids: distinct,
            trace_counts_approximate: self.traces_pruned,
            caps_hit: self.caps_hit,
            input: input_stats(&self.shapes, self.dropped, self.compression),
            filter_pattern: None,
            filter_reason: None,
        }
    }
}

fn input_stats(
    shapes: &[u64; Shape::ALL.len()],
    dropped: Vec<(String, u64)>,
    compression: Option<String>,
) -> InputStats {
    let mut understood: Vec<Count> = Shape::ALL
        .iter()
        .filter(|s| !matches!(s, Shape::Blank | Shape::Unknown))
        .filter(|s| shapes[**s as usize] > 0)
        .map(|s| Count {
            value: s.label().to_owned(),
            count: shapes[*s as usize],
        })
        .collect();
    understood.sort_by_key(|c| std::cmp::Reverse(c.count));
    InputStats {
        compression,
        lines_understood: understood.iter().map(|c| c.count).sum(),
        shapes: understood,
        lines_not_understood: shapes[Shape::Unknown as usize],
        blank_lines: shapes[Shape::Blank as usize],
        dropped: dropped
            .into_iter()
            .map(|(value, count)| Count { value, count })
            .collect(),
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Files at least this large are split across threads; below it, one thread is quicker
/// than starting more.
const PARALLEL_MIN_BYTES: u64 = 64 << 20;

/// Analyses a regular file, in byte ranges cut at line ends, one thread per core, and
/// merges the ranges in file order. What depends on order (a cap on lines) or on
/// adjacency across a cut (a stack trace split by it) is why a run with `max_events`
/// stays on one thread, and why a cut is never inside a line.
pub fn analyse_file(
    file: &std::fs::File,
    trace_id_field: Option<&str>,
    limits: &Limits,
) -> std::io::Result<Analyser> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    analyse_file_on(file, trace_id_field, limits, threads, PARALLEL_MIN_BYTES)
}

fn analyse_file_on(
    file: &std::fs::File,
    trace_id_field: Option<&str>,
    limits: &Limits,
    threads: usize,
    min_bytes: u64,
) -> std::io::Result<Analyser> {
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() < min_bytes || threads < 2 || limits.max_events.is_some() {
        let mut a = Analyser::new(trace_id_field, limits.clone());
        a.read_all(file)?;
        return Ok(a);
    }
    let cuts = line_cuts(file, meta.len(), threads)?;
    let started = Instant::now();
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = cuts
            .windows(2)
            .map(|w| {
                let range = Range {
                    file,
                    pos: w[0],
                    end: w[1],
                };
                scope.spawn(move || -> std::io::Result<Analyser> {
                    let mut a = Analyser::new(trace_id_field, limits.clone());
                    a.started = started;
                    a.read_all(range)?;
                    Ok(a)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("log analysis thread panicked"))
            .collect::<std::io::Result<Vec<_>>>()
    })?;
    let mut parts = parts.into_iter();
    let mut first = parts.next().expect("at least one range");
    for later in parts {
        first.merge(later);
    }
    Ok(first)
}

/// One byte range of a file, read with positioned reads so threads share the handle.
struct Range<'a> {
    file: &'a std::fs::File,
    pos: u64,
    end: u64,
}

impl Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// `n + 1` offsets from 0 to `len`, each inner one just past a newline, so that no
/// line is split between ranges. Ranges may be empty when lines are very long.
fn line_cuts(file: &std::fs::File, len: u64, n: usize) -> std::io::Result<Vec<u64>> {
    use std::os::unix::fs::FileExt;
    let mut cuts = vec![0u64];
    let mut buf = vec![0u8; 64 << 10];
    for i in 1..n as u64 {
        let mut at = (len * i / n as u64).max(*cuts.last().unwrap());
        let cut = loop {
            if at >= len {
                break len;
            }
            let got = file.read_at(&mut buf, at)?;
            if got == 0 {
                break len;
            }
            if let Some(j) = memchr::memchr(b'\n', &buf[..got]) {
                break at + j as u64 + 1;
            }
            at += got as u64;
        };
        cuts.push(cut);
    }
    cuts.push(len);
    Ok(cuts)
}

/// A bare exception line (or python's final line) merged into the error it ends.
fn merge_continuation(p: &mut ErrorLine, e: ErrorLine, frames: Vec<String>) {
    if p.traceback_start || (p.joined_traceback && logline::is_generic(&p.message)) {
        // Python prints the exception last: it is the message of the whole traceback
        // (and of a logged line that only said "an error happened").
        p.message = e.message.clone();
        p.key = e.key.clone();
        p.traceback_start = false;
    }
    if p.joined_traceback {
        // The exception names the error better than the log call's type guess, and is
        // the most telling line of the stack.
        p.error_type = e.error_type.clone().or(p.error_type.take());
        p.stack.insert(0, e.message.clone());
        p.joined_traceback = false;
    }
    if p.error_type.is_none() {
        p.error_type = e.error_type;
    }
    for l in e.stack.into_iter().chain(frames) {
        if p.stack.len() < 3 && !p.stack.contains(&l) {
            p.stack.push(l);
        }
    }
    if p.trace_ids.is_empty() {
        p.trace_ids = e.trace_ids;
    }
    // One exception line per error: a second one starts a new error.
    p.may_continue = true;
}

/// Where to end a chunk taken from `buf`: just past a newline whose next line is not
/// indented, so that an error line and the stack frames below it are read together;
/// `None` to wait for more bytes, unless the buffer is `full`: then the last newline.
fn chunk_cut(buf: &[u8], full: bool) -> Option<usize> {
    let last = memchr::memrchr(b'\n', buf)?;
    let floor = buf.len().saturating_sub(MAX_STACK_GAP);
    for i in memchr::memrchr_iter(b'\n', &buf[floor..]).map(|i| floor + i) {
        // The line after the last newline is not known yet: it may be a frame.
        if let Some(next) = buf.get(i + 1)
            && *next != b' '
            && *next != b'\t'
        {
            return Some(i + 1);
        }
    }
    full.then_some(last + 1)
}

/// A line of a Go stack that is not indented: the goroutine header, the signal
/// line, or a frame's function (`main.main()`, `net/http.(*conn).serve(0xc0001)`).
fn is_go_stack_line(l: &[u8]) -> bool {
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    l.starts_with(b"goroutine ")
        || l.starts_with(b"[signal ")
        || l.starts_with(b"created by ")
        || (l.ends_with(b")") && !l.contains(&b' ') && l.contains(&b'.') && l.contains(&b'('))
}

/// Whether the lines right below a logged error are its stack: frames as Node, Java,
/// Python and Go print them, not just any indented text.
fn looks_like_frames(frames: &[String]) -> bool {
    frames.first().is_some_and(|f| {
        f.starts_with("at ")
            || f.starts_with("File \"")
            || f.starts_with("... ")
            || f.starts_with("goroutine ")
    })
}

/// Whether the bytes between two lines are only stack frames and blank lines.
fn gap_is_stack(gap: &[u8]) -> bool {
    if gap.len() > MAX_STACK_GAP {
        return false;
    }
    gap.split(|b| *b == b'\n').all(|l| {
        l.is_empty()
            || l[0] == b' '
            || l[0] == b'\t'
            || l.starts_with(b"Traceback")
            || l.starts_with(b"During handling")
            || l.starts_with(b"The above exception")
            || l.starts_with(b"Caused by")
            || l == b"\r"
            || is_go_stack_line(l)
            || std::str::from_utf8(l).is_ok_and(logline::is_key_body)
    })
}

/// Up to `n` indented lines right after `end` (stack frames of a plain-text error).
/// The frames (with a PEM block among them) are redacted as one text before they are
/// cut into lines, so a key's body is recognised as part of the key.
fn indented_lines_after(chunk: &[u8], end: usize, n: usize) -> Vec<String> {
    let mut pos = end + 1;
    // From the error line itself: a key it opens goes on below it.
    let start = memchr::memrchr(b'\n', &chunk[..end.min(chunk.len())]).map_or(0, |i| i + 1);
    let own = &chunk[start..end.min(chunk.len())];
    let opens = |l: &[u8]| memchr::memmem::rfind(l, b"-----BEGIN ");
    let go = own.starts_with(b"panic: ");
    let mut in_key =
        opens(own).is_some_and(|b| memchr::memmem::find(&own[b..], b"-----END ").is_none());
    let mut lines = 0;
    while pos < chunk.len() && lines < n + 64 {
        let stop = memchr::memchr(b'\n', &chunk[pos..]).map_or(chunk.len(), |i| pos + i);
        let line = &chunk[pos..stop];
        // Go prints its stack unindented: `goroutine N [running]:`, then a function
        // line and an indented file line per frame; a blank line may come first.
        let indented = line.first().is_some_and(|b| *b == b' ' || *b == b'\t')
            || (go && (line.is_empty() || is_go_stack_line(line)));
        let text = String::from_utf8_lossy(line);
        let armour = text.trim_start();
        if armour.starts_with("-----BEGIN ") || (indented && armour.contains("-----BEGIN ")) {
            in_key = true;
        }
        if !(indented || in_key) {
            break;
        }
        if armour.starts_with("-----END ") || armour.contains("-----END ") {
            in_key = false;
        }
        // Frames beyond `n` are only read while a key is open, to find its end.
        if !in_key && indented {
            lines += 1;
        }
        pos = stop + 1;
        if lines >= n && !in_key {
            break;
        }
    }
    let block = String::from_utf8_lossy(&chunk[start..pos.min(chunk.len()).max(start)]);
    let redacted = crate::logscan::redact::redact(&block);
    redacted
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const B: &str = "a3ce929d0e0e47364bf92f3577b34da6";
    /// 2026-01-01T00:00:00Z in ms: line times must look like epoch milliseconds.
    const T0: i64 = 1_767_225_600_000;

    fn pino(level: u8, t: i64, msg: &str, route: &str, status: u16, trace: &str) -> String {
        format!(
            r#"{{"level":{level},"time":{t},"pid":1,"hostname":"h","req":{{"method":"GET","url":"{route}"}},"res":{{"statusCode":{status}}},"trace_id":"{trace}","msg":"{msg}"}}"#
        )
    }

    fn run(text: &str, limits: Limits) -> LogEvidence {
        let mut a = Analyser::new(None, limits);
        a.read_all(text.as_bytes()).unwrap();
        a.finish("test".into())
    }

    /// A reader that hands out its bytes `.1` at a time, as a slow pipe does.
    struct Drip<'a>(&'a [u8], usize);

    impl Read for Drip<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn sample() -> String {
        let mut s = String::new();
        for i in 0..100 {
            s.push_str(&pino(
                30,
                T0 + 1_000 + i,
                "request completed",
                "/api/health",
                200,
                "ffffffffffffffffffffffffffffffff",
            ));
            s.push('\n');
        }
        for i in 0..7 {
            s.push_str(&pino(
                50,
                T0 + 2_000 + i,
                "Database connection refused",
                &format!("/api/orders/{i}"),
                500,
                if i < 4 { A } else { B },
            ));
            s.push('\n');
        }
        s.push_str(&pino(
            50,
            T0 + 3_000,
            "Timeout after 2000ms talking to payments",
            "/api/pay",
            504,
            A,
        ));
        s.push('\n');
        s.push_str(&pino(
            50,
            T0 + 3_500,
            "Timeout after 3000ms talking to payments",
            "/api/pay",
            504,
            B,
        ));
        s
    }

    /// Level-first JSON chunks are read line by line (level from the first bytes, then
    /// a status search); any other chunk by the pattern search. Both find the same.
    #[test]
    fn level_first_lines_and_the_pattern_search_agree() {
        let mut text = sample();
        text.push('\n');
        text.push_str(
            r#"{"level":30,"time":1767225604000,"msg":"request completed","req":{"method":"GET","url":"/api/cart"},"res":{"statusCode":503}}"#,
        );
        text.push('\n');
        text.push_str(r#"{"time":1767225605000,"level":"error","message":"queue is full"}"#);
        text.push('\n');
        text.push_str("2026-01-01T00:00:06Z ERROR worker crashed\n    at run (w.js:1:1)\n");
        assert!(logline::leading_level(text.as_bytes()).is_some());
        let by_line = run(&text, Limits::default());
        // A first line that is not level-first JSON sends the whole chunk to the search.
        let searched = run(&format!("starting up\n{text}"), Limits::default());
        assert_eq!(by_line.error_lines, 12, "{by_line:#?}");
        assert_eq!(searched.error_lines, by_line.error_lines);
        assert_eq!(searched.groups, by_line.groups);
        assert_eq!(searched.traces, by_line.traces);
    }

    /// Split across threads, the file gives the same evidence as read in one go, wherever
    /// the cuts fall (3 and 7 ranges of a small file, some cuts in runs of long lines).
    #[test]
    fn ranges_on_threads_match_one_pass() {
        let mut text = sample();
        text.push('\n');
        text.push_str(&sample());
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        let one = run(&text, Limits::default());
        for threads in [3, 7] {
            let many = analyse_file_on(&f, None, &Limits::default(), threads, 0)
                .unwrap()
                .finish("test".into());
            assert_eq!(many, one, "{threads} ranges");
        }
        assert_eq!(one.error_lines, 18);
    }

    #[test]
    fn cuts_fall_after_newlines() {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, b"aaaa\nbb\nccccccccc\nd").unwrap();
        assert_eq!(line_cuts(&f, 19, 3).unwrap(), vec![0, 8, 18, 19]);
        assert_eq!(line_cuts(&f, 19, 1).unwrap(), vec![0, 19]);
    }

    /// Every spelling of an error level, an error status or an error word is a hit;
    /// an ordinary request line, full of other numbers that start with 5, is not.
    #[test]
    fn prefilter_finds_every_error_spelling_and_skips_ordinary_lines() {
        let p = Prefilter::new();
        for hit in [
            r#"{"level":50,"msg":"x"}"#,
            r#"{"level":60}"#,
            r#"{"level": 50}"#,
            r#"{"level": 6}"#,
            r#"{"level":"50"}"#,
            r#"{"level":"6"}"#,
            r#"{"log.level":0,"m":1}"#,
            r#"{"level":3,"m":1}"#,
            r#"{"res":{"statusCode":503}}"#,
            r#"{"statusCode": 500}"#,
            r#"{"status":500}"#,
            r#"{"status": 502}"#,
            r#"{"status_code":500}"#,
            r#"{"statusCode":"503"}"#,
            r#"{"status": "500", "level": "info"}"#,
            r#"{"level": "50"}"#,
            r#"{"http.status_code": 504}"#,
            r#"{"severity_number":17}"#,
            r#"{"severityNumber":21}"#,
            r#"{"SeverityNumber":24}"#,
            "method=GET status=503 path=/",
            "status_code=500 path=/",
            r#"10.0.0.1 - - [01/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 12"#,
            "2026-12-01 10:00:00 ERROR db down",
            "an error happened",
            "Error: boom",
            "FATAL out of memory",
            "fatal: no",
            "Fatal: no",
            "panic: runtime error",
            "PANIC now",
            "Panic here",
            "crit disk",
            "Crit disk",
            "CRIT disk",
            "SEVERE x",
            "Severe x",
            "severe x",
            "emerg x",
            "EMERG x",
            "alert x",
            "ALERT x",
            "java.lang.IllegalStateException: x",
            "Traceback (most recent call last):",
        ] {
            assert!(p.is_match(hit), "missed: {hit}");
        }
        for miss in [
            r#"{"level":30,"time":1767261600000,"pid":1,"hostname":"h","req":{"id":5123,"method":"GET","url":"/api/orders/56"},"res":{"statusCode":200},"responseTime":55,"trace_id":"5abc6def","msg":"request completed"}"#,
            r#"{"level": 30, "port": 5432, "status": 204, "count": 6}"#,
            r#"{"severity_number":9,"body":"ok"}"#,
            "method=GET status=200 took=5ms retries=0",
            r#"10.0.0.1 - - "GET / HTTP/1.1" 200 512"#,
        ] {
            assert!(!p.is_match(miss), "hit: {miss}");
        }
    }

    #[test]
    fn groups_and_ranks() {
        let ev = run(&sample(), Limits::default());
        assert_eq!(ev.lines_read, 109);
        assert_eq!(ev.error_lines, 9);
        assert_eq!(ev.groups.len(), 2);
        let g = &ev.groups[0];
        assert_eq!(g.message, "Database connection refused");
        assert_eq!(g.count, 7);
        assert_eq!(
            g.routes,
            vec![Count {
                value: "GET /api/orders/:id".into(),
                count: 7
            }]
        );
        assert_eq!(
            g.statuses,
            vec![Count {
                value: "500".into(),
                count: 7
            }]
        );
        assert_eq!(g.first_seen.unwrap().timestamp_millis(), T0 + 2_000);
        assert_eq!(g.last_seen.unwrap().timestamp_millis(), T0 + 2_006);
        assert!((g.share - 7.0 / 9.0).abs() < 1e-9);
        assert_eq!(
            ev.groups[1].message,
            "Timeout after <n> talking to payments"
        );
        assert_eq!(ev.groups[1].count, 2);
        assert_eq!(ev.traces[0].trace_id, A);
        assert_eq!(ev.traces[0].error_lines, 5);
        assert_eq!(ev.traces[1].error_lines, 4);
        assert_eq!(
            ev.traces[0].group.as_deref(),
            Some("Database connection refused")
        );
        assert_eq!(ev.distinct_trace_ids, 2);
        assert!(ev.caps_hit.is_empty());
    }

    #[test]
    fn tiny_chunks_give_the_same_result() {
        // 7 bytes at a time exercises the carry-over of partial lines.
        let text = sample();
        let mut a = Analyser::new(None, Limits::default());
        a.read_all(Drip(text.as_bytes(), 7)).unwrap();
        assert_eq!(
            a.finish("t".into()),
            run(&text, Limits::default()).clone_with_source("t")
        );
    }

    impl LogEvidence {
        fn clone_with_source(mut self, s: &str) -> Self {
            self.source = s.into();
            self
        }
    }

    #[test]
    fn event_cap_is_reported() {
        let ev = run(
            &sample(),
            Limits {
                max_events: Some(103),
                ..Limits::default()
            },
        );
        assert_eq!(ev.lines_read, 103);
        assert_eq!(ev.error_lines, 3);
        assert_eq!(ev.caps_hit.len(), 1, "{:?}", ev.caps_hit);
        assert!(ev.caps_hit[0].contains("103"));
    }

    #[test]
    fn group_cap_counts_the_rest() {
        let mut s = String::new();
        for i in 0..10 {
            s.push_str(&format!(
                "{{\"level\":50,\"msg\":\"failure kind {}\"}}\n",
                [
                    "alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota",
                    "kappa"
                ][i]
            ));
        }
        let ev = run(
            &s,
            Limits {
                max_groups: 4,
                ..Limits::default()
            },
        );
        assert_eq!(ev.error_lines, 10);
        assert_eq!(ev.groups.len(), 4);
        assert_eq!(ev.ungrouped_error_lines, 6);
        assert!(ev.caps_hit.iter().any(|c| c.starts_with("groups")));
    }

    #[test]
    fn trace_table_stays_bounded_and_keeps_frequent_ids() {
        let mut s = String::new();
        for i in 0..500u64 {
            s.push_str(&format!(
                "{{\"level\":50,\"msg\":\"x\",\"trace_id\":\"{:032x}\"}}\n",
                i + 1
            ));
            if i % 10 == 0 {
                s.push_str(&format!(
                    "{{\"level\":50,\"msg\":\"x\",\"trace_id\":\"{A}\"}}\n"
                ));
            }
        }
        let ev = run(
            &s,
            Limits {
                max_trace_ids: 64,
                ..Limits::default()
            },
        );
        assert!(ev.trace_counts_approximate);
        assert!(ev.distinct_trace_ids <= 64);
        assert_eq!(ev.traces[0].trace_id, A);
        assert_eq!(ev.traces[0].error_lines, 50);
    }

    #[test]
    fn time_window_filters_error_lines() {
        let ev = run(
            &sample(),
            Limits {
                since_ms: Some(T0 + 2_003),
                until_ms: Some(T0 + 3_000),
                ..Limits::default()
            },
        );
        assert_eq!(ev.error_lines, 4);
        assert_eq!(ev.error_lines_outside_window, 5);
    }

    const PLAIN_STACKS: &str = "\
2026-01-01T10:00:00Z INFO server listening on 8080
2026-01-01T10:00:01Z ERROR unhandled error in GET /api/orders/7 trace_id=4bf92f3577b34da6a3ce929d0e0e4736
TypeError: Cannot read properties of undefined (reading 'split')
    at parse (/app/src/parse.js:12:20)
    at handler (/app/src/orders.js:40:9)
    at next (/app/node_modules/express/lib/router/route.js:149:13)
TypeError: Cannot read properties of undefined (reading 'split')
    at parse (/app/src/parse.js:12:20)
Traceback (most recent call last):
  File \"/app/main.py\", line 3, in <module>
    main()
ValueError: invalid literal for int() with base 10: 'abc'
";

    #[test]
    fn plain_text_stack_traces() {
        let text = PLAIN_STACKS;
        let ev = run(text, Limits::default());
        assert_eq!(ev.error_lines, 3, "{ev:#?}");
        let by_msg: StdHashMap<&str, &ErrorGroup> =
            ev.groups.iter().map(|g| (g.message.as_str(), g)).collect();
        let first = by_msg["unhandled error in GET /api/orders/<n> trace_id=<n>"];
        assert_eq!(
            first.stack_head[0],
            "TypeError: Cannot read properties of undefined (reading 'split')"
        );
        assert_eq!(first.stack_head[1], "at parse (/app/src/parse.js:12:20)");
        assert_eq!(first.error_type.as_deref(), Some("TypeError"));
        let bare = by_msg["TypeError: Cannot read properties of undefined (reading '<q>')"];
        assert_eq!(bare.count, 1);
        assert_eq!(bare.stack_head.len(), 2);
        let py = by_msg["ValueError: invalid literal for int() with base <n>: '<q>'"];
        assert_eq!(py.error_type.as_deref(), Some("ValueError"));
    }

    /// A stack cut by a chunk boundary still joins its error: chunks end before an
    /// unindented line only, and what follows the pending error is carried over.
    #[test]
    fn stacks_split_by_chunk_ends_join_their_error() {
        let text = format!(
            "{PLAIN_STACKS}2026-01-01T10:00:08Z ERROR upstream call failed\n    at Net.call(Net.java:9)\nCaused by: java.net.ConnectException: Connection refused\n    at Net.connect(Net.java:1)\n2026-01-01T10:00:09Z INFO done\n"
        );
        let whole = run(&text, Limits::default());
        let caused = whole
            .groups
            .iter()
            .find(|g| g.message == "upstream call failed")
            .unwrap();
        assert!(
            caused.stack_head.iter().any(|l| l.starts_with("Caused by")),
            "{caused:#?}"
        );
        for step in 1..=48 {
            let mut a = Analyser::new(None, Limits::default());
            a.read_all(Drip(text.as_bytes(), step)).unwrap();
            assert_eq!(
                a.finish("t".into()),
                whole.clone().clone_with_source("t"),
                "reads of {step} bytes"
            );
        }
        // Line by line, a plain-text error's frames are not in its chunk, but a bare
        // exception line or a `Caused by` after it still continues it.
        let mut a = Analyser::new(None, Limits::default());
        for line in text.split_inclusive('\n') {
            a.feed_chunk(line.as_bytes());
        }
        a.flush();
        let ev = a.finish("t".into());
        assert_eq!(ev.error_lines, whole.error_lines, "{ev:#?}");
        let by_msg: StdHashMap<&str, &ErrorGroup> =
            ev.groups.iter().map(|g| (g.message.as_str(), g)).collect();
        let first = by_msg["unhandled error in GET /api/orders/<n> trace_id=<n>"];
        assert_eq!(first.error_type.as_deref(), Some("TypeError"));
        assert!(
            by_msg["upstream call failed"]
                .stack_head
                .iter()
                .any(|l| l.starts_with("Caused by"))
        );
    }

    /// Java, Go and Node stacks, each right below the line that logged it: one error
    /// event each, with the logged message, the exception's type and the stack's head.
    #[test]
    fn java_go_and_node_stacks_join_the_line_that_logged_them() {
        let text = "\
2026-01-31 10:00:00,123 ERROR [main] c.e.Svc - order sync failed
java.lang.IllegalStateException: pool closed
\tat c.e.Pool.get(Pool.java:10)
\tat c.e.Svc.sync(Svc.java:5)
Caused by: java.net.ConnectException: Connection refused
\tat java.base/sun.nio.ch.Net.connect0(Native Method)
\t... 12 more
2026-01-31 10:00:01,000 INFO [main] c.e.Svc - next
2026-01-31T10:00:02Z ERROR handler crashed
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x49a1c4]

goroutine 1 [running]:
main.handler(...)
\t/app/main.go:12 +0x1d
main.main()
\t/app/main.go:20 +0x25
exit status 2
2026-01-31T10:00:03Z INFO restarted
2026-01-31T10:00:04Z ERROR request failed
TypeError: Cannot read properties of undefined (reading 'id')
    at handler (/app/src/orders.js:12:20)
    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)
2026-01-31T10:00:05Z ERROR Error: connect ECONNREFUSED 10.0.0.5:5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)
2026-01-31T10:00:06Z INFO ok
panic: assignment to entry in nil map

goroutine 7 [running]:
main.store(...)
\t/app/store.go:3 +0x1
";
        let ev = run(text, Limits::default());
        assert_eq!(ev.error_lines, 5, "{ev:#?}");
        let by_msg: StdHashMap<&str, &ErrorGroup> =
            ev.groups.iter().map(|g| (g.message.as_str(), g)).collect();
        let java = by_msg["order sync failed"];
        assert_eq!(java.error_type.as_deref(), Some("IllegalStateException"));
        assert_eq!(
            java.stack_head[0],
            "java.lang.IllegalStateException: pool closed"
        );
        let go = by_msg["handler crashed"];
        assert_eq!(go.error_type.as_deref(), Some("panic"));
        assert_eq!(
            go.stack_head[0],
            "panic: runtime error: invalid memory address or nil pointer dereference"
        );
        assert!(
            go.stack_head.iter().any(|l| l == "goroutine 1 [running]:"),
            "{go:#?}"
        );
        let node = by_msg["request failed"];
        assert_eq!(node.error_type.as_deref(), Some("TypeError"));
        assert_eq!(node.stack_head[1], "at handler (/app/src/orders.js:12:20)");
        let logged = by_msg["Error: connect ECONNREFUSED <ip>:<n>"];
        assert_eq!(
            logged.stack_head,
            vec!["at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)"]
        );
        let bare = by_msg["panic: assignment to entry in nil map"];
        assert_eq!(bare.stack_head[1], "goroutine 7 [running]:");
        // Line by line (frames never in the same chunk) the counts stay the same.
        let mut a = Analyser::new(None, Limits::default());
        for line in text.split_inclusive('\n') {
            a.feed_chunk(line.as_bytes());
        }
        a.flush();
        assert_eq!(a.finish("t".into()).error_lines, 5);
    }

    #[test]
    fn cloudwatch_events() {
        let mut a = Analyser::new(None, Limits::default());
        a.feed_event(
            "web/web/t1",
            5_000,
            &pino(30, 1, "request completed", "/", 200, A),
        );
        a.feed_event(
            "web/web/t1",
            5_001,
            &pino(50, 1, "Database connection refused", "/api/orders", 500, A),
        );
        a.feed_event(
            "web/web/t2",
            5_002,
            "Error: boom\n    at x (/a.js:1:1)\n    at y (/b.js:2:2)",
        );
        // Info level, but a 5xx response: still an error line.
        a.feed_event(
            "web/web/t1",
            5_003,
            &pino(30, 1, "request completed", "/api/pay", 503, B),
        );
        let ev = a.finish("cw".into());
        assert_eq!(ev.lines_read, 4);
        assert_eq!(ev.error_lines, 3);
        assert!(ev.groups.iter().any(|g| g.sample == "HTTP 503 response"));
        // The event time wins over the line's own.
        assert_eq!(
            ev.groups
                .iter()
                .find(|g| g.message == "Database connection refused")
                .unwrap()
                .first_seen
                .unwrap()
                .timestamp_millis(),
            5_001
        );
        let boom = ev
            .groups
            .iter()
            .find(|g| g.message == "Error: boom")
            .unwrap();
        assert_eq!(
            boom.stack_head,
            vec!["Error: boom", "at x (/a.js:1:1)", "at y (/b.js:2:2)"]
        );
    }
}
