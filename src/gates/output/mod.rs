//! The files each gate leaves in the output directory, all rendered from one
//! [`GateReport`]: JUnit XML (Jenkins `junit`), SARIF 2.1.0 (warnings-ng `recordIssues`),
//! a Markdown summary and the JSON findings. Every file is written atomically.
//!
//! The large ones (SARIF, JSON, JUnit) are streamed into their files rather than built
//! in memory first: an image report with tens of thousands of findings makes tens of
//! megabytes of output, and holding it whole cost more in page faults than rendering it.
//!
//! Nothing here can leak a secret: findings never hold one (see the parsers).

use super::model::Severity;
use super::policy::{Evaluated, Verdict};
use super::report::{GateReport, Status};
use crate::error::{AtomicWriter, Result, write_atomic_with};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;
use std::io;
use std::path::{Path, PathBuf};

/// Rows in the Markdown tables before the rest is left to the JSON file.
const MARKDOWN_ROWS: usize = 500;

/// A renderer streaming one output file into its writer.
type Render = dyn Fn(&GateReport, &mut AtomicWriter<'_>) -> io::Result<()> + Sync;

/// Writes all four files; returns their paths. Written two at a time: image reports can
/// hold tens of thousands of findings.
pub fn write_all(report: &GateReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let name = report.gate.name();
    let write = |ext: &str, render: &Render| -> Result<PathBuf> {
        let path = dir.join(format!("{name}.{ext}"));
        let t = std::time::Instant::now();
        write_atomic_with(&path, |w| render(report, w))?;
        tracing::debug!(
            "{}: rendered and written in {:?}",
            path.display(),
            t.elapsed()
        );
        Ok(path)
    };
    let json = |r: &GateReport, w: &mut AtomicWriter<'_>| Ok(serde_json::to_writer(w, r)?);
    let junit = |r: &GateReport, w: &mut AtomicWriter<'_>| write_junit(r, w);
    let sarif = |r: &GateReport, w: &mut AtomicWriter<'_>| write_sarif(r, w);
    let md =
        |r: &GateReport, w: &mut AtomicWriter<'_>| io::Write::write_all(w, markdown(r).as_bytes());
    // SARIF is the largest; the other three together take about as long.
    let (sarif_path, rest) = std::thread::scope(|s| {
        let other = s.spawn(|| write("sarif", &sarif));
        let rest = (
            write("junit.xml", &junit),
            write("md", &md),
            write("json", &json),
        );
        (other.join().expect("output thread panicked"), rest)
    });
    Ok(vec![rest.0?, sarif_path?, rest.1?, rest.2?])
}

/// One `<testcase>`'s outcome.
enum Case<'a> {
    Passed,
    Failed {
        message: &'a str,
        kind: &'a str,
        text: &'a str,
    },
    Skipped {
        message: &'a str,
    },
    Error {
        message: &'a str,
        kind: &'a str,
        text: Option<&'a str>,
    },
}

/// JUnit XML as a string; see [`write_junit`].
#[cfg(test)]
pub fn junit(r: &GateReport) -> String {
    let mut buf = Vec::new();
    write_junit(r, &mut buf).expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("built from UTF-8 text")
}

/// JUnit XML as Jenkins' `junit` step reads it: one suite per gate, failing findings as
/// failures, allowlisted ones as skipped, a tool error as an error. Written by hand: the
/// format is small, and a generic builder that sanitises every string one character at a
/// time made this the slowest output on large image reports. The suite's counts come first
/// in the file, so they are counted in one pass and the cases written in a second.
pub fn write_junit<W: io::Write>(r: &GateReport, x: &mut W) -> io::Result<()> {
    let classname = format!("shipwatch.gate.{}.{}", r.gate, r.tool);
    let mut lead: Option<(String, Case)> = None;
    if let Some(err) = &r.error {
        let (name, kind) = match r.status {
            Status::Usage => (
                format!("gate {} has usable settings", r.gate),
                "usage error",
            ),
            Status::Internal => (format!("shipwatch ran gate {}", r.gate), "internal error"),
            _ => (
                format!("{} ran and wrote a usable report", r.tool),
                "tool error",
            ),
        };
        lead = Some((
            name,
            Case::Error {
                message: &err.message,
                kind,
                text: err.stderr_tail.as_deref(),
            },
        ));
    } else if r.findings.is_empty() {
        let name = match r.status {
            Status::Failed => format!("{}: {}", r.gate, r.summary),
            _ => format!("{}: no findings", r.gate),
        };
        lead = Some((name, Case::Passed));
    }
    // Findings below the policy's threshold are one passing case, not one each: they do not
    // fail the build, and tens of thousands of green cases would bury the red ones.
    let below = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Report)
        .count();
    let skipped_by =
        |f: &Evaluated| f.verdict == Verdict::Allowlisted && f.allowlisted_by.is_some();
    let (mut failures, mut skipped) = (0, 0);
    for f in r.findings.iter().filter(|f| f.verdict != Verdict::Report) {
        if skipped_by(f) {
            skipped += 1;
        } else {
            failures += 1;
        }
    }
    let errors = usize::from(matches!(lead, Some((_, Case::Error { .. }))));
    let tests = usize::from(lead.is_some()) + usize::from(below > 0) + failures + skipped;
    x.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
    writeln!(
        x,
        "<testsuites name=\"shipwatch security gates\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">"
    )?;
    x.write_all(b"  <testsuite name=\"")?;
    escape(x, &format!("security gate: {}", r.gate))?;
    writeln!(
        x,
        "\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">"
    )?;
    if let Some((name, case)) = &lead {
        write_case(x, name, &classname, case)?;
    }
    if below > 0 {
        let name = format!(
            "{below} finding(s) below the policy's threshold (listed in {}.json)",
            r.gate
        );
        write_case(x, &name, &classname, &Case::Passed)?;
    }
    // Reused for every finding: one allocation each instead of three per case.
    let (mut name, mut message, mut text) = (String::new(), String::new(), String::new());
    for f in r.findings.iter().filter(|f| f.verdict != Verdict::Report) {
        name.clear();
        message.clear();
        let _ = write!(name, "{} {}", f.finding.rule_id, f.finding.location);
        let case = match (&f.verdict, &f.allowlisted_by) {
            (Verdict::Allowlisted, Some(e)) => {
                let _ = write!(
                    message,
                    "allowlisted until {} ({}): {}",
                    e.expires, e.at, e.reason
                );
                Case::Skipped { message: &message }
            }
            _ => {
                let _ = write!(message, "{} {}", f.finding.severity, f.finding.title);
                text.clear();
                detail(&mut text, f);
                Case::Failed {
                    message: &message,
                    kind: f.finding.severity.as_str(),
                    text: &text,
                }
            }
        };
        write_case(x, &name, &classname, &case)?;
    }
    let mut out = String::new();
    for e in &r.expired_allowlist {
        let _ = writeln!(
            out,
            "allowlist entry {} expired on {}; it no longer suppresses anything",
            e.describe(),
            e.expires
        );
    }
    for e in &r.stale_allowlist {
        let _ = writeln!(
            out,
            "allowlist entry {} matched no finding (stale)",
            e.describe()
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "{n}");
    }
    if !out.is_empty() {
        x.write_all(b"    <system-out>")?;
        escape(x, &out)?;
        x.write_all(b"</system-out>\n")?;
    }
    x.write_all(b"  </testsuite>\n</testsuites>\n")
}

fn write_case<W: io::Write>(x: &mut W, name: &str, classname: &str, case: &Case) -> io::Result<()> {
    x.write_all(b"    <testcase name=\"")?;
    escape(x, name)?;
    x.write_all(b"\" classname=\"")?;
    escape(x, classname)?;
    match case {
        Case::Passed => x.write_all(b"\"/>\n"),
        Case::Skipped { message } => {
            x.write_all(b"\">\n      <skipped message=\"")?;
            escape(x, message)?;
            x.write_all(b"\"/>\n    </testcase>\n")
        }
        Case::Failed {
            message,
            kind,
            text,
        } => write_problem(x, "failure", message, kind, text),
        Case::Error {
            message,
            kind,
            text,
        } => write_problem(x, "error", message, kind, text.unwrap_or("")),
    }
}

/// The rest of a `<testcase>` holding a `<failure>` or an `<error>`: the same shape.
fn write_problem<W: io::Write>(
    x: &mut W,
    tag: &str,
    message: &str,
    kind: &str,
    text: &str,
) -> io::Result<()> {
    write!(x, "\">\n      <{tag} message=\"")?;
    escape(x, message)?;
    x.write_all(b"\" type=\"")?;
    escape(x, kind)?;
    x.write_all(b"\">")?;
    escape(x, text)?;
    write!(x, "</{tag}>\n    </testcase>\n")
}

/// Writes `s` escaped for XML text and attributes, dropping the characters XML 1.0
/// cannot hold at all (control characters such as a tool's ANSI colour escapes, and
/// U+FFFE / U+FFFF). Byte by byte: everything it changes is ASCII except those two, whose
/// UTF-8 forms (EF BF BE, EF BF BF) cannot occur inside another character.
fn escape<W: io::Write>(out: &mut W, s: &str) -> io::Result<()> {
    let b = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        let (replacement, len): (&[u8], usize) = match b[i] {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'"' => (b"&quot;", 1),
            b'\'' => (b"&apos;", 1),
            b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            0..=0x1f => (b"", 1),
            0xef if b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)) => {
                (b"", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.write_all(&b[start..i])?;
        out.write_all(replacement)?;
        i += len;
        start = i;
    }
    out.write_all(&b[start..])
}

/// A failure's text: what, where, the fix, the link.
fn detail(s: &mut String, f: &Evaluated) {
    let _ = write!(
        s,
        "{} {} in {}",
        f.finding.tool, f.finding.rule_id, f.finding.location
    );
    if let Some(v) = &f.finding.fixed_version {
        let _ = write!(s, "; fixed in {v}");
    }
    if let Some(u) = &f.finding.url {
        let _ = write!(s, "\n{u}");
    }
    if let Some(e) = &f.expired_entry {
        let _ = write!(s, "\nallowlist entry {} expired on {}", e.at, e.expires);
    }
}

// SARIF 2.1.0, only the parts warnings-ng and code-scanning viewers read.

#[derive(Serialize)]
struct Sarif<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: SarifTool<'a>,
    invocations: [Invocation; 1],
    results: Results<'a>,
    automation_details: AutomationDetails,
}

#[derive(Serialize)]
struct AutomationDetails {
    id: String,
}

#[derive(Serialize)]
struct SarifTool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule<'a> {
    id: &'a str,
    short_description: Message<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<&'a str>,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct RuleProperties {
    /// GitHub's and warnings-ng's numeric severity for security rules.
    #[serde(rename = "security-severity")]
    security_severity: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    text: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Message<'static>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Message<'a>,
    locations: [SarifLocation<'a>; 1],
    partial_fingerprints: Fingerprints<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
    properties: ResultProperties,
}

#[derive(Serialize)]
struct Fingerprints<'a> {
    #[serde(rename = "shipwatch/v1")]
    v1: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<Physical<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logical_locations: Option<[Logical; 1]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical<'a> {
    artifact_location: Artifact<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct Artifact<'a> {
    uri: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Logical {
    fully_qualified_name: String,
    kind: &'static str,
}

#[derive(Serialize)]
struct Suppression {
    kind: &'static str,
    status: &'static str,
    justification: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties {
    severity: &'static str,
    verdict: Verdict,
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info | Severity::Unknown => "0.0",
    }
}

fn level(f: &Evaluated) -> &'static str {
    match (f.verdict, f.finding.severity) {
        (Verdict::Fail, _) => "error",
        (_, Severity::Critical | Severity::High | Severity::Medium) => "warning",
        _ => "note",
    }
}

/// A file path, as opposed to Trivy's image targets such as `web:1 (alpine 3.19)`.
fn looks_like_path(s: &str) -> bool {
    !s.is_empty() && !s.contains(' ') && !s.contains('(')
}

/// SARIF as bytes; see [`write_sarif`].
#[cfg(test)]
pub fn sarif(r: &GateReport) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    write_sarif(r, &mut buf).map_err(|e| crate::error::Error::Internal(e.into()))?;
    Ok(buf)
}

/// The run's results, built one at a time as they are serialised: each holds a few
/// strings of its own, and tens of thousands of them alive at once only cost memory.
struct Results<'a> {
    findings: &'a [Evaluated],
    /// Each finding's index into the driver's rules.
    rule_index: Vec<usize>,
}

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.findings.len()))?;
        for (f, &i) in self.findings.iter().zip(&self.rule_index) {
            seq.serialize_element(&sarif_result(f, i))?;
        }
        seq.end()
    }
}

fn sarif_result(f: &Evaluated, rule_index: usize) -> SarifResult<'_> {
    let loc = &f.finding.location;
    let physical = loc
        .file
        .as_deref()
        .filter(|p| looks_like_path(p))
        .map(|uri| Physical {
            artifact_location: Artifact {
                uri: uri.trim_start_matches("./"),
            },
            region: loc.line.map(|start_line| Region { start_line }),
        });
    let logical = loc.package.as_ref().map(|p| {
        [Logical {
            fully_qualified_name: match &loc.version {
                Some(v) => format!("{p}@{v}"),
                None => p.clone(),
            },
            kind: "package",
        }]
    });
    // The rule carries the id and severity and the location says where; the message
    // adds only what is specific to this result.
    let mut text = f.finding.title.clone();
    if let Some(p) = &loc.package {
        let _ = write!(
            text,
            " ({p}{}{})",
            if loc.version.is_some() { "@" } else { "" },
            loc.version.as_deref().unwrap_or("")
        );
    }
    if let Some(v) = &f.finding.fixed_version {
        let _ = write!(text, "; fixed in {v}");
    }
    if let Some(e) = &f.expired_entry {
        let _ = write!(text, "; allowlist entry {} expired on {}", e.at, e.expires);
    }
    SarifResult {
        rule_id: &f.finding.rule_id,
        rule_index,
        level: level(f),
        message: Message { text: text.into() },
        locations: [SarifLocation {
            physical_location: physical,
            logical_locations: logical,
        }],
        partial_fingerprints: Fingerprints {
            v1: f.finding.fingerprint.as_str(),
        },
        suppressions: f
            .allowlisted_by
            .iter()
            .map(|e| Suppression {
                kind: "external",
                status: "accepted",
                justification: format!("{} (until {}, {})", e.reason, e.expires, e.at),
            })
            .collect(),
        properties: ResultProperties {
            severity: f.finding.severity.as_str(),
            verdict: f.verdict,
        },
    }
}

/// SARIF 2.1.0, compact: it is read by tools, and pretty-printing doubles its size.
pub fn write_sarif<W: io::Write>(r: &GateReport, w: &mut W) -> io::Result<()> {
    let mut rules: Vec<Rule> = Vec::new();
    // Hashed: image reports have tens of thousands of distinct CVE ids sharing prefixes.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(r.findings.len());
    let mut rule_index = Vec::with_capacity(r.findings.len());
    for f in &r.findings {
        let id = f.finding.rule_id.as_str();
        rule_index.push(*index.entry(id).or_insert_with(|| {
            rules.push(Rule {
                id,
                short_description: Message {
                    text: f.finding.title.as_str().into(),
                },
                help_uri: f.finding.url.as_deref(),
                properties: RuleProperties {
                    security_severity: security_severity(f.finding.severity),
                },
            });
            rules.len() - 1
        }));
    }
    let notifications = r
        .error
        .iter()
        .map(|e| Notification {
            level: "error",
            message: Message {
                text: e.message.clone().into(),
            },
        })
        .collect();
    let doc = Sarif {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: SarifTool {
                driver: Driver {
                    name: r.tool.name(),
                    information_uri: info_uri(r.tool),
                    rules,
                },
            },
            invocations: [Invocation {
                execution_successful: matches!(r.status, Status::Passed | Status::Failed),
                tool_execution_notifications: notifications,
            }],
            results: Results {
                findings: &r.findings,
                rule_index,
            },
            automation_details: AutomationDetails {
                id: format!("shipwatch/gate/{}/", r.gate),
            },
        }],
    };
    Ok(serde_json::to_writer(w, &doc)?)
}

fn info_uri(t: super::model::Tool) -> &'static str {
    use super::model::Tool;
    match t {
        Tool::Gitleaks => "https://github.com/gitleaks/gitleaks",
        Tool::Trivy => "https://github.com/aquasecurity/trivy",
        Tool::Syft => "https://github.com/anchore/syft",
        Tool::Checkov => "https://github.com/bridgecrewio/checkov",
        Tool::Npm => "https://docs.npmjs.com/cli/commands/npm-audit",
    }
}

/// A Markdown table cell: no pipes or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn markdown(r: &GateReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Security gate `{}`: {}\n", r.gate, r.status.label());
    let _ = writeln!(
        s,
        "- Tool: {}\n- Target: `{}`\n- Policy: {}\n- Result: {}\n",
        r.tool,
        cell(&r.target),
        r.policy,
        r.summary
    );
    if let Some(e) = &r.error {
        let heading = match r.status {
            Status::Usage => "Usage error",
            Status::Internal => "Internal error",
            _ => "Tool error",
        };
        let _ = writeln!(s, "## {heading}\n\n{}\n", e.message);
        if let Some(t) = &e.stderr_tail {
            let _ = writeln!(
                s,
                "Last lines of {}'s stderr:\n\n```\n{}\n```\n",
                r.tool,
                t.replace("```", "'''")
            );
        }
    }
    if let Some(sb) = &r.sbom {
        let _ = writeln!(
            s,
            "## SBOM\n\n| Format | Packages |\n|---|---:|\n| CycloneDX | {} |\n| SPDX | {} |\n",
            sb.cyclonedx.packages, sb.spdx.packages
        );
        if let Some(os) = &sb.cyclonedx.operating_system {
            let _ = writeln!(s, "Operating system: {os}\n");
        }
        for f in &sb.files {
            let _ = writeln!(s, "- `{f}`");
        }
        s.push('\n');
    }
    if r.error.is_none() && r.sbom.is_none() {
        let _ = writeln!(
            s,
            "## Findings by severity\n\n| Severity | Found | Failing | Allowlisted |\n|---|---:|---:|---:|"
        );
        for sev in Severity::DESCENDING {
            let of = |v: Verdict| {
                r.findings
                    .iter()
                    .filter(|f| f.finding.severity == sev && f.verdict == v)
                    .count()
            };
            let total = r.counts.get(sev);
            if total > 0
                || matches!(
                    sev,
                    Severity::Critical | Severity::High | Severity::Medium | Severity::Low
                )
            {
                let _ = writeln!(
                    s,
                    "| {sev} | {total} | {} | {} |",
                    of(Verdict::Fail),
                    of(Verdict::Allowlisted)
                );
            }
        }
        s.push('\n');
    }
    let mut failing: Vec<&Evaluated> = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .collect();
    // Highest severity first; the sort is stable, so ties keep the report's order.
    failing.sort_by_key(|f| std::cmp::Reverse(f.finding.severity));
    if !failing.is_empty() {
        let _ = writeln!(
            s,
            "## Failing findings ({})\n\n| Severity | Id | Location | Title | Fix |\n|---|---|---|---|---|",
            failing.len()
        );
        for f in failing.iter().take(MARKDOWN_ROWS) {
            let fix = match (&f.finding.fixed_version, f.finding.fix_available) {
                (Some(v), _) => cell(v),
                (None, true) => "yes".into(),
                (None, false) => "no".into(),
            };
            let mut title = cell(&f.finding.title);
            if let Some(e) = &f.expired_entry {
                let _ = write!(title, " (allowlist entry {} expired {})", e.at, e.expires);
            }
            let _ = writeln!(
                s,
                "| {} | `{}` | `{}` | {} | {fix} |",
                f.finding.severity,
                cell(&f.finding.rule_id),
                cell(&f.finding.location.to_string()),
                title
            );
        }
        if failing.len() > MARKDOWN_ROWS {
            let _ = writeln!(
                s,
                "\n… {} more in `{}.json`.",
                failing.len() - MARKDOWN_ROWS,
                r.gate
            );
        }
        s.push('\n');
    }
    let allowed: Vec<&Evaluated> = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Allowlisted)
        .collect();
    if !allowed.is_empty() {
        let _ = writeln!(
            s,
            "## Allowlisted ({})\n\n| Id | Location | Reason | Expires | Entry |\n|---|---|---|---|---|",
            allowed.len()
        );
        for f in allowed.iter().take(MARKDOWN_ROWS) {
            if let Some(e) = &f.allowlisted_by {
                let _ = writeln!(
                    s,
                    "| `{}` | `{}` | {} | {} | `{}` |",
                    cell(&f.finding.rule_id),
                    cell(&f.finding.location.to_string()),
                    cell(&e.reason),
                    e.expires,
                    cell(&e.at)
                );
            }
        }
        s.push('\n');
    }
    if !r.expired_allowlist.is_empty() || !r.stale_allowlist.is_empty() {
        let _ = writeln!(s, "## Allowlist problems\n");
        for e in &r.expired_allowlist {
            let _ = writeln!(
                s,
                "- Expired on {}: {} — it no longer suppresses anything. Reason was: {}",
                e.expires,
                e.describe(),
                e.reason
            );
        }
        for e in &r.stale_allowlist {
            let _ = writeln!(
                s,
                "- Stale: {} matched no finding; remove it.",
                e.describe()
            );
        }
        s.push('\n');
    }
    let reported = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Report)
        .count();
    if reported > 0 {
        let _ = writeln!(
            s,
            "{reported} finding(s) below the policy's threshold are listed in `{}.json`.\n",
            r.gate
        );
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {}", cell(n));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::allowlist;
    use crate::gates::model::{Category, Finding, GateKind, Location, Tool};
    use crate::gates::policy;
    use crate::gates::report::ToolError;
    use crate::gates::settings::Policy;

    fn finding(id: &str, sev: Severity, title: &str) -> Finding {
        Finding {
            tool: Tool::Trivy,
            category: Category::Vulnerability,
            rule_id: id.into(),
            severity: sev,
            title: title.into(),
            location: Location {
                file: Some("app/package-lock.json".into()),
                line: None,
                package: Some("lodash".into()),
                version: Some("4.17.15".into()),
            },
            fingerprint: format!("{id}:lodash"),
            fix_available: true,
            fixed_version: Some("4.17.21".into()),
            url: None,
        }
    }

    fn sample() -> GateReport {
        let list = allowlist::parse(
            "[[allow]]\ntool = \"trivy\"\nid = \"CVE-3\"\nreason = \"R&D <only>\"\nexpires = 2999-01-01\n",
            std::path::Path::new("allowlist.toml"),
        )
        .unwrap();
        let policy = Policy::image_default();
        let found = vec![
            finding(
                "CVE-1",
                Severity::Critical,
                "quote \" amp & lt < \u{1b}[31mred\u{1b}[0m",
            ),
            finding("CVE-2", Severity::Low, "minor"),
            finding("CVE-3", Severity::High, "accepted"),
        ];
        let ev = policy::evaluate(
            found,
            &policy,
            &list,
            &[Tool::Trivy],
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        );
        GateReport::from_evaluation(
            GateKind::Image,
            Tool::Trivy,
            "web.tar".into(),
            policy.describe(GateKind::Image),
            ev,
            vec!["a note".into()],
        )
    }

    #[test]
    fn junit_is_well_formed_and_counts_right() {
        let xml = junit(&sample());
        let parsed = quick_junit::Report::deserialize_from_str(&xml)
            .unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let suite = &parsed.test_suites[0];
        assert_eq!(
            suite.test_cases.len(),
            3,
            "one failure, one skipped, one summary of the finding below the threshold:\n{xml}"
        );
        assert_eq!(suite.failures, 1);
        assert_eq!(suite.tests, 3);
        assert!(
            xml.contains("amp &amp; lt &lt;") && !xml.contains('\u{1b}'),
            "{xml}"
        );
        assert!(xml.contains("R&amp;D &lt;only&gt;"), "{xml}");
    }

    #[test]
    fn junit_reports_a_tool_error_as_an_error() {
        let r = GateReport::error(
            GateKind::Iac,
            "terraform".into(),
            String::new(),
            ToolError {
                message: "checkov crashed".into(),
                stderr_tail: Some("Traceback <most recent call last>".into()),
            },
            vec![],
        );
        let parsed = quick_junit::Report::deserialize_from_str(&junit(&r)).unwrap();
        assert_eq!(parsed.test_suites[0].errors, 1);
    }

    #[test]
    fn sarif_has_rules_results_and_suppressions() {
        let doc: serde_json::Value = serde_json::from_slice(&sarif(&sample()).unwrap()).unwrap();
        assert_eq!(doc["version"], "2.1.0");
        let run = &doc["runs"][0];
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 3);
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[1]["level"], "note");
        assert_eq!(results[2]["suppressions"][0]["kind"], "external");
        assert_eq!(
            results[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "lodash@4.17.15"
        );
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "app/package-lock.json"
        );
        assert_eq!(
            results[0]["partialFingerprints"]["shipwatch/v1"],
            "CVE-1:lodash"
        );
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    }

    #[test]
    fn markdown_lists_failing_and_allowlisted_with_reasons() {
        let md = markdown(&sample());
        assert!(md.contains("# Security gate `image`: FAILED"), "{md}");
        assert!(
            md.contains("## Failing findings (1)") && md.contains("`CVE-1`"),
            "{md}"
        );
        assert!(
            md.contains("## Allowlisted (1)") && md.contains("R&D <only>"),
            "{md}"
        );
        assert!(md.contains("| CRITICAL | 1 | 1 | 0 |"), "{md}");
    }
}
