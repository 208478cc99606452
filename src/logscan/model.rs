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
    /// What the input was made of and what could not be used, so that "0 error lines"
    /// always says out of what.
    #[serde(default)]
    pub input: InputStats,
    /// The CloudWatch Logs filter pattern the lines were fetched with: then only lines
    /// that can be errors were read, and `lines_read` counts those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_pattern: Option<String>,
    /// Why that filter (or why none), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_reason: Option<String>,
}

/// How the input was read: its compression, the shapes recognised per line (or per
/// event or record, for JSON documents and CloudWatch), and what was left unused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputStats {
    /// `gzip` or `zstd` when the input was compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Lines (events, records) by recognised shape, most first.
    #[serde(default)]
    pub shapes: Vec<Count>,
    /// The sum of `shapes`.
    #[serde(default)]
    pub lines_understood: u64,
    /// Non-blank lines of no recognised shape: read, searched for error words, but with
    /// no time or level to go by.
    #[serde(default)]
    pub lines_not_understood: u64,
    #[serde(default)]
    pub blank_lines: u64,
    /// Lines or bytes left out or read only in part, by reason (length, nesting, decoding).
    #[serde(default)]
    pub dropped: Vec<Count>,
}

impl InputStats {
    /// Whether lines were read but none had a shape the analysis knows: then "no
    /// error lines" means nothing.
    pub fn nothing_recognised(&self) -> bool {
        self.lines_understood == 0 && self.lines_not_understood > 0
    }

    /// One sentence on what was read and what could not be used (plain text; the
    /// renderers escape it).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.compression {
            parts.push(format!("{c}-compressed"));
        }
        let seen = self.shapes.iter().map(|c| c.count).sum::<u64>()
            + self.lines_not_understood
            + self.blank_lines;
        if seen == 0 && self.dropped.is_empty() {
            parts.push("no line was read".to_string());
        } else if self.shapes.is_empty() {
            parts.push("no recognised shape".to_string());
        } else {
            let shapes: Vec<String> = self
                .shapes
                .iter()
                .map(|c| format!("{} {}", c.count, c.value))
                .collect();
            parts.push(format!("understood: {}", shapes.join(", ")));
        }
        if self.lines_not_understood > 0 {
            parts.push(format!(
                "{} line(s) of no recognised shape (searched for error words only)",
                self.lines_not_understood
            ));
        }
        if self.blank_lines > 0 {
            parts.push(format!("{} blank", self.blank_lines));
        }
        for d in &self.dropped {
            parts.push(format!("dropped or cut: {} × {}", d.count, d.value));
        }
        format!("Input: {}.", parts.join("; "))
    }
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

// Traces of the error lines as Jaeger shows them (logscan::jaeger looks them up).

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceStatus {
    /// No Jaeger URL configured.
    #[default]
    NotConfigured,
    /// No trace ids were found in the error lines.
    NoTraceIds,
    /// Every looked-up trace was read.
    Ok,
    /// Some traces were missing or failed.
    Partial,
    /// Jaeger could not be reached (or every lookup failed).
    Unavailable,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceEvidence {
    pub status: TraceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jaeger_url: Option<String>,
    pub traces: Vec<TraceSummary>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    pub error_lines: u64,
    pub found: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<SpanSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_span: Option<SpanSummary>,
    /// The span with the most time of its own (its children's time taken off), and
    /// that time: where a slow request spent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowest_span: Option<SpanSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowest_self_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    pub span_count: u32,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanSummary {
    pub span_id: String,
    pub service: String,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_statement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_url: Option<String>,
    pub duration_ms: f64,
}
