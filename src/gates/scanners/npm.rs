//! The dependency gate's scanner, `npm audit`: its command line and `npm audit --json`
//! into findings: the npm 7+ shape (`auditReportVersion: 2`, vulnerabilities keyed by
//! package) and the npm 6 shape (`advisories` keyed by id).
//!
//! npm exits 1 both for "vulnerabilities found" and for "could not audit", so the JSON
//! decides: an `error` object means the audit did not happen. Installed versions are not
//! in the v2 report; they are looked up in the lockfile when it is given.

use crate::error::{Error, Result};
use crate::gates::exec::Invocation;
use crate::gates::model::{
    Category, Finding, GateKind, InvalidReport, Location, Parsed, Severity, Tool, json_problem,
};
use crate::gates::report::GateReport;
use crate::gates::run::{Ctx, invalid, need_dir, read_report, run_tool};
use crate::gates::settings::DepsJob;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The dependency gate: `npm audit` in a project with a lockfile, or a given report.
pub async fn gate(ctx: &Ctx, a: DepsJob) -> Result<GateReport> {
    let kind = GateKind::Deps;
    let dir = a.dir;
    let lock = ["package-lock.json", "npm-shrinkwrap.json"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    let lock_bytes = lock.as_ref().and_then(|p| std::fs::read(p).ok());
    let lock_name = lock
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| dir.join("package-lock.json").display().to_string());
    // Findings are located at the lockfile relative to the project directory, like every
    // gate's locations relative to what it scanned (and SARIF's `%SRCROOT%`).
    let lock_file = lock
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "package-lock.json".into());
    if let Some(r) = &a.report {
        let target = r.display().to_string();
        let parsed = read_report(Tool::Npm, r).and_then(|b| {
            parse(&b, lock_bytes.as_deref(), &lock_file).map_err(|e| invalid(Tool::Npm, e, None))
        });
        return Ok(match parsed {
            Ok(p) => ctx.evaluate(kind, target, p, vec![]),
            Err(e) => ctx.error(kind, target, e, vec![]),
        });
    }
    need_dir(&dir, "the npm project directory")?;
    if lock.is_none() {
        return Err(Error::Usage(format!(
            "no package-lock.json in {}: npm audit needs a lockfile (create one with `npm install --package-lock-only`)",
            dir.display()
        )));
    }
    let target = lock_name.clone();
    let tool = match ctx.locate(Tool::Npm) {
        Ok(t) => t,
        Err(e) => return Ok(ctx.error(kind, target, e, vec![])),
    };
    // What narrows the audit to production dependencies (NODE_ENV=production, an
    // `omit`/`production`/`only` setting in the environment or an .npmrc) would pass
    // vulnerable dev dependencies silently: the variables are withheld and the flags
    // put every dependency type back.
    let mut notes = Vec::new();
    let narrowing = narrowing_env(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()));
    let inv = crate::gates::run::withhold_env(
        Invocation::new(&tool),
        narrowing.iter().map(String::as_str),
        ": npm audits every dependency type (dev, optional, peer) here",
        &mut notes,
    );
    let inv = inv
        .args([
            "audit",
            "--json",
            "--include=dev",
            "--include=optional",
            "--include=peer",
        ])
        .cwd(&dir)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false");
    // npm exits 1 for "vulnerabilities found" and for "could not audit": the JSON decides.
    let ran = match run_tool(Tool::Npm, &inv, ctx, &[0, 1], None).await {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    Ok(
        match parse(&ran.report, lock_bytes.as_deref(), &lock_file) {
            Ok(p) => ctx.evaluate(kind, target, p, notes),
            Err(e) => ctx.error(kind, target, invalid(Tool::Npm, e, ran.tail()), notes),
        },
    )
}

/// Of the environment's variable names, the ones that narrow `npm audit` (npm reads
/// its settings case-insensitively): NODE_ENV=production and an `omit`, `production`,
/// `only`, `include`, `dev` or `audit_level` setting would leave dependency types out.
pub fn narrowing_env(names: impl IntoIterator<Item = String>) -> Vec<String> {
    const SETTINGS: &[&str] = &[
        "npm_config_omit",
        "npm_config_production",
        "npm_config_only",
        "npm_config_include",
        "npm_config_audit_level",
        "npm_config_dev",
    ];
    let mut out: Vec<String> = names
        .into_iter()
        .filter(|n| {
            let l = n.to_ascii_lowercase();
            l == "node_env" || SETTINGS.contains(&l.as_str())
        })
        .collect();
    out.sort();
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    #[serde(default)]
    audit_report_version: Option<u32>,
    #[serde(default)]
    vulnerabilities: Option<BTreeMap<String, Package>>,
    #[serde(default)]
    advisories: Option<BTreeMap<String, AdvisoryV1>>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    error: Option<NpmError>,
    #[serde(default)]
    message: Option<String>,
}

/// npm's own counts, checked against the list so a cut or edited report is never a pass.
#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    vulnerabilities: BTreeMap<String, serde_json::Value>,
}

impl Metadata {
    /// Vulnerable packages (npm 7+) or advisory findings (npm 6) by npm's count: `total`
    /// when given, else the sum of the severities.
    fn total(&self) -> u64 {
        let count = |k: &str| self.vulnerabilities.get(k).and_then(|v| v.as_u64());
        count("total").unwrap_or_else(|| {
            ["info", "low", "moderate", "high", "critical"]
                .iter()
                .filter_map(|k| count(k))
                .sum()
        })
    }
}

#[derive(Deserialize)]
struct NpmError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    name: String,
    /// npm's severity for the package: judged when no advisory explains it.
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    via: Vec<Via>,
    #[serde(default)]
    nodes: Vec<String>,
    #[serde(default)]
    fix_available: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Via {
    Advisory(AdvisoryV2),
    /// Vulnerable only through another package, which has its own entry.
    Transitive(String),
    /// Anything else (null, a number): explains nothing, so the package is judged by
    /// its own severity rather than the report refused.
    Other(#[expect(dead_code, reason = "kept only so the entry parses")] serde_json::Value),
}

#[derive(Deserialize)]
struct AdvisoryV2 {
    #[serde(default)]
    source: Option<serde_json::Value>,
    name: String,
    title: String,
    #[serde(default)]
    url: Option<String>,
    severity: String,
    #[serde(default)]
    range: Option<String>,
}

#[derive(Deserialize)]
struct AdvisoryV1 {
    id: serde_json::Value,
    module_name: String,
    title: String,
    severity: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    github_advisory_id: Option<String>,
    #[serde(default)]
    patched_versions: Option<String>,
    #[serde(default)]
    findings: Vec<FindingV1>,
}

#[derive(Deserialize)]
struct FindingV1 {
    version: String,
}

#[derive(Deserialize)]
struct Lockfile {
    #[serde(default)]
    packages: BTreeMap<String, LockedPackage>,
}

#[derive(Deserialize)]
struct LockedPackage {
    #[serde(default)]
    version: Option<String>,
}

/// The advisory id people search for: the GHSA id in the URL, else npm's number.
fn advisory_id(url: Option<&str>, source: Option<&serde_json::Value>) -> String {
    if let Some(id) = url
        .and_then(|u| u.rsplit('/').next())
        .filter(|s| s.starts_with("GHSA-"))
    {
        return id.to_owned();
    }
    match source {
        Some(serde_json::Value::Number(n)) => format!("npm-{n}"),
        Some(serde_json::Value::String(s)) => format!("npm-{s}"),
        _ => "npm-advisory".to_owned(),
    }
}

/// `lockfile` is package-lock.json's bytes, used for installed versions; `lockfile_name`
/// is how findings name it.
pub fn parse(
    bytes: &[u8],
    lockfile: Option<&[u8]>,
    lockfile_name: &str,
) -> Result<Parsed, InvalidReport> {
    let report: Report = serde_json::from_slice(bytes).map_err(|e| json_problem(bytes, &e))?;
    if let Some(err) = report.error {
        let what = [err.code, err.summary, err.detail, report.message]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        return Err(InvalidReport(format!(
            "npm could not audit: {}",
            if what.is_empty() {
                "an error without a message".into()
            } else {
                what
            }
        )));
    }
    let locked: BTreeMap<String, LockedPackage> = lockfile
        .and_then(|b| serde_json::from_slice::<Lockfile>(b).ok())
        .map(|l| l.packages)
        .unwrap_or_default();
    let mut out = Parsed::default();
    match (report.vulnerabilities, report.advisories) {
        (Some(vulns), _) => {
            let mut seen = BTreeSet::new();
            for pkg in vulns.values() {
                let fix_available = !matches!(
                    pkg.fix_available,
                    Some(serde_json::Value::Bool(false)) | None
                );
                // Several nodes can hold the same package at different versions.
                let nodes: Vec<Option<String>> = if pkg.nodes.is_empty() {
                    vec![None]
                } else {
                    pkg.nodes.iter().map(|n| Some(n.clone())).collect()
                };
                for via in &pkg.via {
                    let Via::Advisory(a) = via else { continue };
                    if a.name != pkg.name {
                        continue;
                    }
                    let id = advisory_id(a.url.as_deref(), a.source.as_ref());
                    for node in &nodes {
                        let version = node
                            .as_ref()
                            .and_then(|n| locked.get(n))
                            .and_then(|p| p.version.clone());
                        let key = (id.clone(), pkg.name.clone(), version.clone());
                        if !seen.insert(key) {
                            continue;
                        }
                        let at = version
                            .clone()
                            .or_else(|| a.range.clone())
                            .unwrap_or_default();
                        out.findings.push(Finding {
                            tool: Tool::Npm,
                            category: Category::Vulnerability,
                            rule_id: id.clone(),
                            severity: Severity::judge(&a.severity).0,
                            title: a.title.clone(),
                            location: Location {
                                file: Some(lockfile_name.to_owned()),
                                line: None,
                                package: Some(pkg.name.clone()),
                                version: version
                                    .clone()
                                    .or_else(|| a.range.as_ref().map(|r| format!("({r})"))),
                            },
                            fingerprint: format!(
                                "{id}:{}@{at}:{}",
                                pkg.name,
                                node.as_deref().unwrap_or("")
                            ),
                            fix_available,
                            fixed_version: None,
                            unrecognised_severity: Severity::judge(&a.severity).1,
                            url: a.url.clone(),
                        });
                    }
                }
            }
            let listed = vulns.len() as u64;
            if let Some(total) = report.metadata.as_ref().map(Metadata::total)
                && total != listed
            {
                return Err(InvalidReport(format!(
                    "npm's metadata counts {total} vulnerable package(s) but the report lists {listed}: the report was cut or edited, so it cannot pass"
                )));
            }
            let unexplained = unexplained(&vulns);
            if !unexplained.is_empty() {
                out.notes.push(format!(
                    "{} package(s) npm lists as vulnerable without an advisory that explains them (no advisory in `via`, or a chain that leads to none): judged by npm's severity for the package",
                    unexplained.len()
                ));
            }
            for pkg in unexplained {
                out.findings.push(unexplained_finding(pkg, lockfile_name));
            }
            if report.audit_report_version.is_none() {
                out.notes
                    .push("npm audit report without auditReportVersion; read as version 2".into());
            }
        }
        (None, Some(advisories)) => {
            let counted = report.metadata.as_ref().map(Metadata::total).unwrap_or(0);
            if advisories.is_empty() && counted > 0 {
                return Err(InvalidReport(format!(
                    "npm's metadata counts {counted} vulnerabilit(ies) but the report lists no advisory: the report was cut or edited, so it cannot pass"
                )));
            }
            for (_, a) in advisories {
                let id = a
                    .github_advisory_id
                    .clone()
                    .unwrap_or_else(|| advisory_id(a.url.as_deref(), Some(&a.id)));
                let versions: BTreeSet<String> =
                    a.findings.iter().map(|f| f.version.clone()).collect();
                let patched = a
                    .patched_versions
                    .as_deref()
                    .filter(|p| !p.is_empty() && *p != "<0.0.0");
                for v in versions {
                    out.findings.push(Finding {
                        tool: Tool::Npm,
                        category: Category::Vulnerability,
                        rule_id: id.clone(),
                        severity: Severity::judge(&a.severity).0,
                        title: a.title.clone(),
                        location: Location {
                            file: Some(lockfile_name.to_owned()),
                            line: None,
                            package: Some(a.module_name.clone()),
                            version: Some(v.clone()),
                        },
                        fingerprint: format!("{id}:{}@{v}", a.module_name),
                        fix_available: patched.is_some(),
                        fixed_version: patched.map(str::to_owned),
                        unrecognised_severity: Severity::judge(&a.severity).1,
                        url: a.url.clone(),
                    });
                }
            }
        }
        (None, None) => {
            return Err(InvalidReport(
                "the report has an unknown shape (neither `vulnerabilities` nor `advisories`: not an npm audit report)".into(),
            ));
        }
    }
    Ok(out)
}

/// Packages whose `via` never reaches an advisory of their own or of a package they
/// depend on (a string naming itself, an empty list, a cycle, nulls), in report order.
fn unexplained(vulns: &BTreeMap<String, Package>) -> Vec<&Package> {
    let own = |p: &Package| {
        p.via
            .iter()
            .any(|v| matches!(v, Via::Advisory(a) if a.name == p.name))
    };
    let mut explained: BTreeSet<&str> = vulns
        .values()
        .filter(|p| own(p))
        .map(|p| p.name.as_str())
        .collect();
    // Explanation flows from a dependency to what depends on it; a cycle adds nothing.
    loop {
        let more: Vec<&str> = vulns
            .values()
            .filter(|p| !explained.contains(p.name.as_str()))
            .filter(|p| {
                p.via.iter().any(|v| {
                    matches!(v, Via::Transitive(dep) if dep != &p.name && explained.contains(dep.as_str()))
                })
            })
            .map(|p| p.name.as_str())
            .collect();
        if more.is_empty() {
            break;
        }
        explained.extend(more);
    }
    vulns
        .values()
        .filter(|p| !explained.contains(p.name.as_str()))
        .collect()
}

fn unexplained_finding(pkg: &Package, lockfile_name: &str) -> Finding {
    let severity = pkg.severity.as_deref().unwrap_or("unknown");
    let (sev, unrecognised) = Severity::judge(severity);
    Finding {
        tool: Tool::Npm,
        category: Category::Vulnerability,
        rule_id: format!("npm-audit:{}", pkg.name),
        severity: sev,
        title: format!(
            "npm audit lists {} as {severity} without naming the advisory",
            pkg.name
        ),
        location: Location {
            file: Some(lockfile_name.to_owned()),
            line: None,
            package: Some(pkg.name.clone()),
            version: None,
        },
        fingerprint: format!("npm-audit:{}", pkg.name),
        fix_available: !matches!(
            pkg.fix_available,
            Some(serde_json::Value::Bool(false)) | None
        ),
        fixed_version: None,
        unrecognised_severity: unrecognised,
        url: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_variables_that_narrow_the_audit_are_taken_away() {
        let names = [
            "PATH",
            "NODE_ENV",
            "NPM_CONFIG_OMIT",
            "npm_config_registry",
            "npm_config_production",
        ]
        .map(String::from);
        assert_eq!(
            narrowing_env(names),
            ["NODE_ENV", "NPM_CONFIG_OMIT", "npm_config_production"]
        );
    }

    const V2: &str = r#"{
      "auditReportVersion": 2,
      "vulnerabilities": {
        "lodash": {"name": "lodash", "severity": "critical", "isDirect": true,
          "via": [
            {"source": 1094499, "name": "lodash", "dependency": "lodash", "title": "Command Injection in lodash",
             "url": "https://github.com/advisories/GHSA-35jh-r3h4-6jhm", "severity": "high", "cwe": ["CWE-77"], "range": "<4.17.21"},
            {"source": 1094500, "name": "lodash", "dependency": "lodash", "title": "Prototype Pollution in lodash",
             "url": "https://github.com/advisories/GHSA-p6mc-m468-83gw", "severity": "critical", "range": ">=3.7.0 <4.17.19"}],
          "effects": ["wrapper"], "range": "<=4.17.20", "nodes": ["node_modules/lodash"], "fixAvailable": true},
        "wrapper": {"name": "wrapper", "severity": "critical", "isDirect": true, "via": ["lodash"], "effects": [],
          "range": "*", "nodes": ["node_modules/wrapper"], "fixAvailable": {"name": "wrapper", "version": "2.0.0", "isSemVerMajor": true}},
        "minimist": {"name": "minimist", "severity": "moderate", "isDirect": false,
          "via": [{"source": 1096, "name": "minimist", "title": "Prototype Pollution in minimist", "url": "https://example.invalid/advisory/1096",
                   "severity": "moderate", "range": "<1.2.6"}],
          "effects": [], "range": "<1.2.6", "nodes": ["node_modules/minimist"], "fixAvailable": false}
      },
      "metadata": {"vulnerabilities": {"info": 0, "low": 0, "moderate": 1, "high": 0, "critical": 2, "total": 3}}
    }"#;

    const LOCK: &str = r#"{"lockfileVersion": 3, "packages": {"": {"name": "app"},
      "node_modules/lodash": {"version": "4.17.15"}, "node_modules/minimist": {"version": "1.2.5"}}}"#;

    #[test]
    fn v2_advisories_become_findings_with_locked_versions() {
        let p = parse(
            V2.as_bytes(),
            Some(LOCK.as_bytes()),
            "app/package-lock.json",
        )
        .unwrap();
        let ids: Vec<&str> = p.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(
            ids,
            ["GHSA-35jh-r3h4-6jhm", "GHSA-p6mc-m468-83gw", "npm-1096"]
        );
        assert_eq!(
            p.findings[0].location.to_string(),
            "lodash@4.17.15 (app/package-lock.json)"
        );
        assert_eq!(p.findings[0].severity, Severity::High);
        assert_eq!(p.findings[2].severity, Severity::Medium);
        assert!(p.findings[0].fix_available);
        assert!(!p.findings[2].fix_available);
    }

    #[test]
    fn v2_without_lockfile_shows_the_range() {
        let p = parse(V2.as_bytes(), None, "package-lock.json").unwrap();
        assert_eq!(
            p.findings[0].location.version.as_deref(),
            Some("(<4.17.21)")
        );
    }

    #[test]
    fn clean_v2() {
        let r = r#"{"auditReportVersion":2,"vulnerabilities":{},"metadata":{"vulnerabilities":{"total":0}}}"#;
        assert!(
            parse(r.as_bytes(), None, "package-lock.json")
                .unwrap()
                .findings
                .is_empty()
        );
    }

    #[test]
    fn v1_advisories() {
        let r = r#"{"actions":[],"advisories":{"1065":{"id":1065,"module_name":"lodash","severity":"high",
          "title":"Prototype Pollution","url":"https://npmjs.invalid/advisories/1065","github_advisory_id":"GHSA-p6mc-m468-83gw",
          "patched_versions":">=4.17.19","vulnerable_versions":"<4.17.19","findings":[{"version":"4.17.15","paths":["lodash"]}]}},
          "muted":[],"metadata":{"vulnerabilities":{"high":1}}}"#;
        let p = parse(r.as_bytes(), None, "package-lock.json").unwrap();
        assert_eq!(p.findings.len(), 1);
        assert_eq!(p.findings[0].rule_id, "GHSA-p6mc-m468-83gw");
        assert_eq!(p.findings[0].fixed_version.as_deref(), Some(">=4.17.19"));
    }

    #[test]
    fn audit_errors_are_not_a_pass() {
        let r = r#"{"message":"405 Method Not Allowed - POST https://mirror.invalid/-/npm/v1/security/advisories/bulk",
          "statusCode":405,"error":{"summary":"","detail":""}}"#;
        let e = parse(r.as_bytes(), None, "package-lock.json").unwrap_err();
        assert!(e.0.contains("405"), "{e}");
        let r = r#"{"error":{"code":"ENOLOCK","summary":"This command requires an existing lockfile.","detail":"Try creating one first"}}"#;
        assert!(
            parse(r.as_bytes(), None, "x")
                .unwrap_err()
                .0
                .contains("ENOLOCK")
        );
        assert!(parse(b"", None, "x").unwrap_err().0.contains("empty"));
        assert!(
            parse(b"{}", None, "x")
                .unwrap_err()
                .0
                .contains("unknown shape")
        );
    }

    #[test]
    fn a_package_without_an_advisory_is_judged_by_its_own_severity() {
        for via in [r#"["minimist"]"#, "[]", "[null]"] {
            let report = format!(
                r#"{{"auditReportVersion": 2, "vulnerabilities": {{"minimist": {{"name": "minimist", "severity": "critical", "via": {via}, "nodes": ["node_modules/minimist"]}}}}, "metadata": {{"vulnerabilities": {{"critical": 1, "total": 1}}}}}}"#
            );
            let p = parse(report.as_bytes(), None, "package-lock.json").unwrap();
            assert_eq!(p.findings.len(), 1, "via {via}: {:?}", p.notes);
            assert_eq!(p.findings[0].severity, Severity::Critical);
            assert!(p.notes.iter().any(|n| n.contains("without an advisory")));
        }
        // Two packages that only cite each other: both judged.
        let cycle = r#"{"auditReportVersion": 2, "vulnerabilities": {
            "a": {"name": "a", "severity": "high", "via": ["b"]},
            "b": {"name": "b", "severity": "high", "via": ["a"]}}}"#;
        assert_eq!(
            parse(cycle.as_bytes(), None, "l").unwrap().findings.len(),
            2
        );
        // A dependent explained by its dependency's advisory adds nothing of its own.
        let p = parse(V2.as_bytes(), None, "l").unwrap();
        assert!(
            p.findings
                .iter()
                .all(|f| !f.rule_id.starts_with("npm-audit:")),
            "{:?}",
            p.findings.iter().map(|f| &f.rule_id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn counts_that_disagree_with_the_list_are_an_invalid_report() {
        let v2 = r#"{"auditReportVersion": 2, "vulnerabilities": {}, "metadata": {"vulnerabilities": {"high": 1, "critical": 1, "total": 2}}}"#;
        let e = parse(v2.as_bytes(), None, "l").unwrap_err();
        assert!(
            e.0.contains("counts 2") && e.0.contains("lists 0"),
            "{}",
            e.0
        );
        let v1 = r#"{"advisories": {}, "metadata": {"vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": 3, "critical": 0}}}"#;
        assert!(parse(v1.as_bytes(), None, "l").is_err());
    }
}
