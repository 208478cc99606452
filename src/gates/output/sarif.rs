//! SARIF 2.1.0 for warnings-ng's `recordIssues` and code-scanning viewers, streamed: the
//! results are built one at a time as they are serialised.
//!
//! Every result has a physical location, because GitHub code scanning rejects results
//! without one and warnings-ng shows them without a file: the finding's file, relative,
//! percent-encoded (RFC 3986) and tied to `%SRCROOT%`; package findings point at the
//! lockfile or the image's package database their parser chose. Rules carry the help,
//! full description, `security-severity` (the highest among their results) and tags
//! GitHub's ingestion asks for.

use crate::gates::model::{Category, Severity, Tool};
use crate::gates::policy::{Evaluated, Verdict};
use crate::gates::report::{GateReport, Status};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;
use std::io;

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
    full_description: Message<'a>,
    help: Help,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<&'a str>,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct RuleProperties {
    /// GitHub's and warnings-ng's numeric severity for security rules.
    #[serde(rename = "security-severity")]
    security_severity: &'static str,
    tags: [&'static str; 3],
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
    locations: [SarifLocation; 1],
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
struct SarifLocation {
    physical_location: Physical,
    #[serde(skip_serializing_if = "Option::is_none")]
    logical_locations: Option<[Logical; 1]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical {
    artifact_location: Artifact,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    uri: String,
    uri_base_id: &'static str,
}

/// The base every artifact URI is relative to: the scanned path (or, for an image, its root).
const SRCROOT: &str = "%SRCROOT%";

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

/// `path` as a relative URI reference: no leading `./` or `/` (an image's files are
/// relative to its root), `\\` as `/`, and every byte outside RFC 3986's unreserved set
/// and `/` percent-encoded, so a space, `%`, `#`, `?` or `:` cannot end or change it.
pub fn relative_uri(path: &str) -> String {
    let mut p = path;
    loop {
        let next = p.trim_start_matches('/');
        let next = next.strip_prefix("./").unwrap_or(next);
        if next == p {
            break;
        }
        p = next;
    }
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            b'\\' => out.push('/'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    if out.is_empty() { ".".into() } else { out }
}

fn category_tag(c: Category) -> &'static str {
    match c {
        Category::Secret => "secret",
        Category::Vulnerability => "vulnerability",
        Category::Misconfiguration => "misconfiguration",
        Category::Sbom => "sbom",
    }
}

/// SARIF as bytes; see [`write_sarif`].
#[cfg(test)]
pub fn sarif(r: &GateReport) -> crate::error::Result<Vec<u8>> {
    let mut buf = Vec::new();
    write_sarif(r, &mut buf).map_err(|e| crate::error::Error::Internal(e.into()))?;
    Ok(buf)
}

/// The run's results, built one at a time as they are serialised: each holds a few
/// strings of its own, and tens of thousands of them alive at once only cost memory.
struct Results<'a> {
    findings: &'a [Evaluated],
    /// Where a finding without a file is placed: what the gate scanned.
    fallback: &'a str,
    /// Each finding's index into the driver's rules.
    rule_index: Vec<usize>,
}

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.findings.len()))?;
        for (f, &i) in self.findings.iter().zip(&self.rule_index) {
            seq.serialize_element(&sarif_result(f, i, self.fallback))?;
        }
        seq.end()
    }
}

fn sarif_result<'a>(f: &'a Evaluated, rule_index: usize, fallback: &str) -> SarifResult<'a> {
    let loc = &f.finding.location;
    let physical = Physical {
        artifact_location: Artifact {
            uri: relative_uri(loc.file.as_deref().unwrap_or(fallback)),
            uri_base_id: SRCROOT,
        },
        region: loc
            .file
            .as_ref()
            .and(loc.line)
            .map(|start_line| Region { start_line }),
    };
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
    // The highest severity among each rule's results: one rule id can carry several
    // (Checkov's table, npm advisories reached through different packages).
    let mut highest: Vec<Severity> = Vec::new();
    // Hashed: image reports have tens of thousands of distinct CVE ids sharing prefixes.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(r.findings.len());
    let mut rule_index = Vec::with_capacity(r.findings.len());
    for f in &r.findings {
        let id = f.finding.rule_id.as_str();
        let i = *index.entry(id).or_insert_with(|| {
            let title = f.finding.title.as_str();
            let mut text = format!("{} {id}: {title}", f.finding.tool);
            let mut markdown = format!("**{}** `{id}`: {title}", f.finding.tool);
            if let Some(u) = &f.finding.url {
                let _ = write!(text, "\nMore: {u}");
                let _ = write!(markdown, "\n\n[More about {id}]({u})");
            }
            rules.push(Rule {
                id,
                short_description: Message { text: title.into() },
                full_description: Message { text: title.into() },
                help: Help { text, markdown },
                // Only a URL the schema accepts as an absolute URI; report fields vary.
                help_uri: f.finding.url.as_deref().filter(|u| {
                    (u.starts_with("https://") || u.starts_with("http://"))
                        && !u.contains(|c: char| c.is_whitespace() || c == '"')
                }),
                properties: RuleProperties {
                    security_severity: "0.0",
                    tags: [
                        "security",
                        category_tag(f.finding.category),
                        f.finding.tool.name(),
                    ],
                },
            });
            highest.push(f.finding.severity);
            rules.len() - 1
        });
        highest[i] = highest[i].max(f.finding.severity);
        rule_index.push(i);
    }
    for (rule, sev) in rules.iter_mut().zip(&highest) {
        rule.properties.security_severity = security_severity(*sev);
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
                fallback: &r.target,
                rule_index,
            },
            automation_details: AutomationDetails {
                id: format!("shipwatch/gate/{}/", r.gate),
            },
        }],
    };
    Ok(serde_json::to_writer(w, &doc)?)
}

fn info_uri(t: Tool) -> &'static str {
    match t {
        Tool::Gitleaks => "https://github.com/gitleaks/gitleaks",
        Tool::Trivy => "https://github.com/aquasecurity/trivy",
        Tool::Syft => "https://github.com/anchore/syft",
        Tool::Checkov => "https://github.com/bridgecrewio/checkov",
        Tool::Npm => "https://docs.npmjs.com/cli/commands/npm-audit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::output::test_report::sample;

    #[test]
    fn uris_are_relative_and_percent_encoded() {
        assert_eq!(
            relative_uri("config/app env#1.env"),
            "config/app%20env%231.env"
        );
        assert_eq!(relative_uri("/app/100%.txt"), "app/100%25.txt");
        assert_eq!(relative_uri("././/a/b?c"), "a/b%3Fc");
        assert_eq!(relative_uri("C:\\x\\y"), "C%3A/x/y");
        assert_eq!(relative_uri("web:1 (alpine)"), "web%3A1%20%28alpine%29");
        assert_eq!(relative_uri("caf\u{e9}"), "caf%C3%A9");
        assert_eq!(relative_uri("/"), ".");
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
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"],
            "%SRCROOT%"
        );
        let rule = &run["tool"]["driver"]["rules"][0];
        assert_eq!(rule["properties"]["security-severity"], "9.5");
        assert_eq!(rule["properties"]["tags"][0], "security");
        assert!(rule["help"]["text"].as_str().unwrap().contains("CVE-1"));
        assert_eq!(
            results[0]["partialFingerprints"]["shipwatch/v1"],
            "CVE-1:lodash"
        );
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    }
}
