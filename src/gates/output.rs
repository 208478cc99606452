//! The files each gate leaves in the output directory, all rendered from one
//! [`GateReport`]: JUnit XML (Jenkins `junit`), SARIF 2.1.0 (warnings-ng `recordIssues`),
//! a Markdown summary and the JSON findings. Every file is written atomically.
//!
//! Nothing here can leak a secret: findings never hold one (see the parsers).

use super::model::Severity;
use super::policy::{Evaluated, Verdict};
use super::report::{GateReport, Status};
use crate::error::{Error, Result, write_atomic};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Rows in the Markdown tables before the rest is left to the JSON file.
const MARKDOWN_ROWS: usize = 500;

/// Writes all four files; returns their paths.
pub fn write_all(report: &GateReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let name = report.gate.name();
    let files = [
        (
            dir.join(format!("{name}.junit.xml")),
            junit(report)?.into_bytes(),
        ),
        (dir.join(format!("{name}.sarif")), sarif(report)?),
        (
            dir.join(format!("{name}.md")),
            markdown(report).into_bytes(),
        ),
        (
            dir.join(format!("{name}.json")),
            serde_json::to_vec_pretty(report).map_err(|e| Error::Internal(e.into()))?,
        ),
    ];
    let mut written = Vec::new();
    for (path, bytes) in files {
        write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

fn case_name(f: &Evaluated) -> String {
    format!("{} {}", f.finding.rule_id, f.finding.location)
}

pub fn junit(r: &GateReport) -> Result<String> {
    let mut suite = TestSuite::new(format!("security gate: {}", r.gate));
    let classname = format!("shipwatch.gate.{}.{}", r.gate, r.tool);
    if let Some(err) = &r.error {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status
            .set_message(err.message.clone())
            .set_type("tool error");
        if let Some(t) = &err.stderr_tail {
            status.set_description(t.clone());
        }
        let mut case = TestCase::new(format!("{} ran and wrote a usable report", r.tool), status);
        case.set_classname(classname.clone());
        suite.add_test_case(case);
    } else if r.findings.is_empty() {
        let mut case = TestCase::new(
            format!("{}: no findings", r.gate),
            TestCaseStatus::success(),
        );
        case.set_classname(classname.clone());
        suite.add_test_case(case);
    }
    for f in &r.findings {
        let status = match f.verdict {
            Verdict::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{} {}", f.finding.severity, f.finding.title))
                    .set_type(f.finding.severity.as_str())
                    .set_description(detail(f));
                s
            }
            Verdict::Report => TestCaseStatus::success(),
            Verdict::Allowlisted => {
                let mut s = TestCaseStatus::skipped();
                if let Some(e) = &f.allowlisted_by {
                    s.set_message(format!(
                        "allowlisted until {} ({}): {}",
                        e.expires, e.at, e.reason
                    ));
                }
                s
            }
        };
        let mut case = TestCase::new(case_name(f), status);
        case.set_classname(classname.clone());
        suite.add_test_case(case);
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
        suite.set_system_out(out);
    }
    let mut report = Report::new("shipwatch security gates");
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot render JUnit XML: {e}")))
}

fn detail(f: &Evaluated) -> String {
    let mut s = format!(
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
    s
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
    results: Vec<SarifResult<'a>>,
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
    locations: Vec<SarifLocation<'a>>,
    partial_fingerprints: BTreeMap<&'static str, &'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<Physical<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<Logical>,
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
struct ResultProperties<'a> {
    severity: &'static str,
    verdict: Verdict,
    fix_available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    fixed_version: Option<&'a str>,
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

pub fn sarif(r: &GateReport) -> Result<Vec<u8>> {
    let mut rules: Vec<Rule> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut results = Vec::with_capacity(r.findings.len());
    for f in &r.findings {
        let id = f.finding.rule_id.as_str();
        let rule_index = *index.entry(id).or_insert_with(|| {
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
        });
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
        let logical = match &loc.package {
            Some(p) => vec![Logical {
                fully_qualified_name: match &loc.version {
                    Some(v) => format!("{p}@{v}"),
                    None => p.clone(),
                },
                kind: "package",
            }],
            None => Vec::new(),
        };
        let mut text = format!(
            "{} {}: {} ({})",
            f.finding.severity, f.finding.rule_id, f.finding.title, loc
        );
        if let Some(e) = &f.expired_entry {
            let _ = write!(text, "; allowlist entry {} expired on {}", e.at, e.expires);
        }
        results.push(SarifResult {
            rule_id: id,
            rule_index,
            level: level(f),
            message: Message { text: text.into() },
            locations: vec![SarifLocation {
                physical_location: physical,
                logical_locations: logical,
            }],
            partial_fingerprints: BTreeMap::from([(
                "shipwatch/v1",
                f.finding.fingerprint.as_str(),
            )]),
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
                fix_available: f.finding.fix_available,
                fixed_version: f.finding.fixed_version.as_deref(),
            },
        });
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
                execution_successful: r.status != Status::Error,
                tool_execution_notifications: notifications,
            }],
            results,
            automation_details: AutomationDetails {
                id: format!("shipwatch/gate/{}/", r.gate),
            },
        }],
    };
    serde_json::to_vec_pretty(&doc).map_err(|e| Error::Internal(e.into()))
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
    let status = match r.status {
        Status::Passed => "PASSED",
        Status::Failed => "FAILED",
        Status::Error => "ERROR",
    };
    let _ = writeln!(s, "# Security gate `{}`: {status}\n", r.gate);
    let _ = writeln!(
        s,
        "- Tool: {}\n- Target: `{}`\n- Policy: {}\n- Result: {}\n",
        r.tool,
        cell(&r.target),
        r.policy,
        r.summary
    );
    if let Some(e) = &r.error {
        let _ = writeln!(s, "## Tool error\n\n{}\n", e.message);
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
    let failing: Vec<&Evaluated> = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .collect();
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
