//! What the log analysis finds: error groups, trace ids and the counts behind them.
//!
//! These types are part of the rollback report's JSON contract (docs/report-schema.md),
//! which embeds them as they are; they live here because the analysis produces them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEvidence {
    /// Where the lines came from: a log group and its streams, or a file.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(default)]
    pub streams: Vec<String>,
    pub lines_read: u64,
    pub bytes_read: u64,
    pub error_lines: u64,
    /// Error lines outside `--since/--until` (file mode), not counted above.
    #[serde(default)]
    pub error_lines_outside_window: u64,
    /// Top groups by count.
    pub groups: Vec<ErrorGroup>,
    /// Error lines whose message did not fit in the group table (distinct-message cap).
    pub ungrouped_error_lines: u64,
    /// Trace ids ranked by how many error lines carry them.
    pub traces: Vec<TraceCount>,
    pub distinct_trace_ids: u64,
    /// True when the trace table overflowed and counts may be low for rare ids.
    pub trace_counts_approximate: bool,
    /// Caps that were hit (events, time, groups): the analysis is partial.
    #[serde(default)]
    pub caps_hit: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    /// The message with ids, numbers and hex masked: the grouping key.
    pub message: String,
    /// One real message of the group (secrets redacted).
    pub sample: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// First lines of a stack trace, when the lines carry one.
    #[serde(default)]
    pub stack_head: Vec<String>,
    pub count: u64,
    /// Share of all error lines, 0–1.
    pub share: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    pub routes: Vec<Count>,
    pub statuses: Vec<Count>,
    #[serde(default)]
    pub trace_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceCount {
    pub trace_id: String,
    pub error_lines: u64,
    /// The error group of the first error line carrying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
}
