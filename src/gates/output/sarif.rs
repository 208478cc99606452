//! SARIF 2.1.0 for warnings-ng's `recordIssues` and code-scanning viewers, streamed: the
//! results are built one at a time as they are serialised.

use crate::gates::model::{Severity, Tool};
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
pub fn sarif(r: &GateReport) -> crate::error::Result<Vec<u8>> {
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
}
