//! The result of one gate: what ran, on what, the evaluated findings, the allowlist's
//! expired and stale entries, and the status that decides the exit code. It is the JSON
//! findings document, and every other output is rendered from it.

use super::model::{GateKind, Severity, Tool};
use super::policy::{Counts, EntryRef, Evaluated, Evaluation, Verdict};
use super::scanners::syft::SbomCount;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    /// The tool is missing, crashed, timed out, or its report cannot be trusted.
    Error,
    /// The gate could not start: a missing directory, image or lockfile, a bad setting.
    /// Only `gate all` records this; a single gate exits with the usage error instead.
    Usage,
    /// shipwatch itself failed while running the gate (e.g. no temporary directory).
    Internal,
    /// shipwatch was stopped (SIGTERM, SIGINT) before the gate had a result; the exit code
    /// is 128 + the signal's number, which the run's outcome carries.
    Aborted,
}

impl Status {
    /// The documented exit code for this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Passed => crate::exit::OK,
            Status::Failed => crate::exit::GATE_FAILED,
            Status::Error => crate::exit::TOOL_FAILED,
            Status::Usage => crate::exit::USAGE,
            Status::Internal => crate::exit::INTERNAL,
            Status::Aborted => crate::exit::TERMINATED,
        }
    }

    /// How bad an outcome is when several gates are combined; higher is worse. A gate that
    /// could not look outranks one that found something, because it cannot vouch for
    /// anything. Among those, a broken setting (2) outranks a broken tool (8): retrying does
    /// not fix it, and fixing it may change what the tool sees. A failure inside shipwatch
    /// (1) outranks the rest, and an abort outranks everything: nothing after it ran.
    pub fn severity(self) -> u8 {
        match self {
            Status::Passed => 0,
            Status::Failed => 1,
            Status::Error => 2,
            Status::Usage => 3,
            Status::Internal => 4,
            Status::Aborted => 5,
        }
    }

    /// The status a gate gets when it returned an error instead of a report.
    pub fn of_error(e: &crate::error::Error) -> Status {
        use crate::error::Error;
        match e {
            Error::Usage(_) | Error::Config { .. } => Status::Usage,
            Error::Tool { .. } => Status::Error,
            Error::GateFailed(_) => Status::Failed,
            _ => Status::Internal,
        }
    }

    /// The label in text and Markdown output.
    pub fn label(self) -> &'static str {
        match self {
            Status::Passed => "PASSED",
            Status::Failed => "FAILED",
            Status::Error => "ERROR",
            Status::Usage => "NOT RUN (usage error)",
            Status::Internal => "NOT RUN (internal error)",
            Status::Aborted => "ABORTED",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolError {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SbomSummary {
    pub cyclonedx: SbomCount,
    pub spdx: SbomCount,
    /// Where the SBOMs were written, when shipwatch ran Syft.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub gate: GateKind,
    pub tool: Tool,
    /// What was scanned: a path, an image reference, a tarball or a report file.
    pub target: String,
    pub status: Status,
    /// One line saying why the gate passed or failed.
    pub summary: String,
    pub policy: String,
    pub counts: Counts,
    pub failing: usize,
    pub allowlisted: usize,
    pub findings: Vec<Evaluated>,
    pub expired_allowlist: Vec<EntryRef>,
    pub stale_allowlist: Vec<EntryRef>,
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolError>,
}

impl GateReport {
    /// A gate whose tool could not give a usable answer.
    pub fn error(
        gate: GateKind,
        target: String,
        policy: String,
        err: ToolError,
        notes: Vec<String>,
    ) -> Self {
        GateReport {
            gate,
            tool: gate.tool(),
            target,
            status: Status::Error,
            summary: format!("{}: {}", gate.tool(), err.message),
            policy,
            counts: Counts::default(),
            failing: 0,
            allowlisted: 0,
            findings: Vec::new(),
            expired_allowlist: Vec::new(),
            stale_allowlist: Vec::new(),
            notes,
            sbom: None,
            error: Some(err),
        }
    }

    /// A gate that returned an error before it had a result (`gate all` only): the error
    /// becomes the report so the gate still has outputs and counts in the exit code.
    pub fn not_run(gate: GateKind, policy: String, err: &crate::error::Error) -> Self {
        let status = Status::of_error(err);
        let mut r = GateReport::error(
            gate,
            "(not run)".into(),
            policy,
            ToolError {
                message: err.to_string(),
                stderr_tail: None,
            },
            Vec::new(),
        );
        r.status = status;
        r.summary = format!("not run: {err}");
        r
    }

    /// A gate stopped by `signal` before it had a result: the tool's error (when it was
    /// running one) becomes the abort, and whatever else is known (notes, target) is kept.
    pub fn aborted(mut self, signal: i32) -> Self {
        let message = match &self.error {
            Some(e) if e.message.contains("was aborted") => e.message.clone(),
            _ => super::run::aborted_message(signal, None),
        };
        let stderr_tail = self.error.take().and_then(|e| e.stderr_tail);
        self.status = Status::Aborted;
        self.summary = message.clone();
        self.error = Some(ToolError {
            message,
            stderr_tail,
        });
        self
    }

    /// A gate decided by its findings.
    pub fn from_evaluation(
        gate: GateKind,
        tool: Tool,
        target: String,
        policy: String,
        ev: Evaluation,
        notes: Vec<String>,
    ) -> Self {
        let mut counts = Counts::default();
        let (mut failing, mut allowlisted) = (0, 0);
        for f in &ev.findings {
            counts.add(f.finding.severity);
            match f.verdict {
                Verdict::Fail => failing += 1,
                Verdict::Allowlisted => allowlisted += 1,
                Verdict::Report => {}
            }
        }
        let total = ev.findings.len();
        let status = if failing > 0 {
            Status::Failed
        } else {
            Status::Passed
        };
        let mut summary = match (total, failing) {
            (0, _) => "no findings".to_owned(),
            (t, 0) => format!("{t} finding(s), none fails the policy"),
            (t, f) => format!("{f} of {t} finding(s) fail the policy"),
        };
        if allowlisted > 0 {
            let _ = write!(summary, "; {allowlisted} allowlisted");
        }
        if !ev.expired.is_empty() {
            let _ = write!(
                summary,
                "; {} allowlist entr(y/ies) expired",
                ev.expired.len()
            );
        }
        GateReport {
            gate,
            tool,
            target,
            status,
            summary,
            policy,
            counts,
            failing,
            allowlisted,
            findings: ev.findings,
            expired_allowlist: ev.expired,
            stale_allowlist: ev.stale,
            notes,
            sbom: None,
            error: None,
        }
    }

    /// The human summary printed on stdout: status line, failing findings (at most
    /// `limit`), allowlist problems, and where the outputs are.
    pub fn text(&self, limit: usize, outputs: &[String]) -> String {
        let mut s = String::new();
        let status = match self.status {
            Status::Passed => crate::term::paint(crate::term::green_bold(), "PASSED"),
            other => crate::term::paint(crate::term::red_bold(), other.label()),
        };
        let _ = writeln!(
            s,
            "gate {} ({} on {}): {status}: {}",
            self.gate, self.tool, self.target, self.summary
        );
        let counts: Vec<String> = Severity::DESCENDING
            .iter()
            .filter(|sev| self.counts.get(**sev) > 0)
            .map(|sev| format!("{} {}", self.counts.get(*sev), sev))
            .collect();
        if !counts.is_empty() {
            let _ = writeln!(s, "  by severity: {}", counts.join(", "));
        }
        // In the report's order, as in the JSON, SARIF and JUnit files, so the first failing
        // finding printed is the first one in every file.
        let failing: Vec<&Evaluated> = self
            .findings
            .iter()
            .filter(|f| f.verdict == Verdict::Fail)
            .collect();
        for f in failing.iter().take(limit) {
            let _ = writeln!(
                s,
                "  {:<8} {}  {}  {}",
                f.finding.severity.as_str(),
                f.finding.rule_id,
                f.finding.location,
                f.finding.title
            );
        }
        if failing.len() > limit {
            let _ = writeln!(
                s,
                "  … and {} more failing finding(s); see the Markdown or JSON output",
                failing.len() - limit
            );
        }
        for e in &self.expired_allowlist {
            let _ = writeln!(
                s,
                "  allowlist: {} expired on {} and no longer suppresses anything",
                e.describe(),
                e.expires
            );
        }
        for e in &self.stale_allowlist {
            let _ = writeln!(
                s,
                "  allowlist: {} matched no finding (stale; remove it)",
                e.describe()
            );
        }
        if let Some(sb) = &self.sbom {
            let _ = writeln!(
                s,
                "  packages: {} (CycloneDX), {} (SPDX)",
                sb.cyclonedx.packages, sb.spdx.packages
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        if !outputs.is_empty() {
            let _ = writeln!(s, "  outputs: {}", outputs.join(", "));
        }
        s
    }
}
