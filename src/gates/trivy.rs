//! Trivy's JSON report (`--format json`, schema version 2) into findings:
//! vulnerabilities, secrets and failed misconfigurations alike.
//!
//! Parsed straight from the bytes with borrowed strings and without an intermediate
//! `Value`, because image reports run to tens of megabytes. Lenient on purpose: a clean
//! report has no `Results` key at all, every list inside a result is optional, and newer
//! Trivy versions add fields; only a missing `SchemaVersion` or a wrong type is an
//! unknown shape.

use super::model::{
    Category, Finding, InvalidReport, Location, Parsed, Severity, Tool, json_problem,
};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Report<'a> {
    schema_version: u32,
    #[serde(default, borrow)]
    artifact_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    results: Option<Vec<TrivyResult<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult<'a> {
    #[serde(default, borrow)]
    target: Cow<'a, str>,
    #[serde(default, borrow)]
    vulnerabilities: Option<Vec<Vuln<'a>>>,
    #[serde(default, borrow)]
    misconfigurations: Option<Vec<Misconf<'a>>>,
    #[serde(default, borrow)]
    secrets: Option<Vec<Secret<'a>>>,
    /// Counted, not judged: the gate's policy has no license rules.
    #[serde(default)]
    licenses: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Vuln<'a> {
    #[serde(rename = "VulnerabilityID", borrow)]
    vulnerability_id: Cow<'a, str>,
    #[serde(default, borrow)]
    pkg_name: Cow<'a, str>,
    #[serde(default, borrow)]
    pkg_path: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    installed_version: Cow<'a, str>,
    #[serde(default, borrow)]
    fixed_version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    severity: Cow<'a, str>,
    #[serde(default, borrow)]
    title: Option<Cow<'a, str>>,
    #[serde(rename = "PrimaryURL", default, borrow)]
    primary_url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Misconf<'a> {
    #[serde(rename = "ID", default, borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "AVDID", default, borrow)]
    avdid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    title: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    severity: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Cow<'a, str>,
    #[serde(rename = "PrimaryURL", default, borrow)]
    primary_url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    cause_metadata: Option<Cause<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Cause<'a> {
    #[serde(default, borrow)]
    resource: Option<Cow<'a, str>>,
    #[serde(default)]
    start_line: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Secret<'a> {
    #[serde(rename = "RuleID", borrow)]
    rule_id: Cow<'a, str>,
    #[serde(default, borrow)]
    severity: Cow<'a, str>,
    #[serde(default, borrow)]
    title: Cow<'a, str>,
    #[serde(default)]
    start_line: Option<u64>,
}

/// Fix states under which a newer package version is not going to help.
const NO_FIX_STATUSES: &[&str] = &[
    "will_not_fix",
    "fix_deferred",
    "end_of_life",
    "not_affected",
];

pub fn parse(bytes: &[u8]) -> Result<Parsed, InvalidReport> {
    let report: Report = serde_json::from_slice(bytes).map_err(|e| json_problem(bytes, &e))?;
    if report.schema_version != 2 {
        return Err(InvalidReport(format!(
            "Trivy report schema version {} is not supported (expected 2)",
            report.schema_version
        )));
    }
    let mut out = Parsed::default();
    let results = report.results.unwrap_or_default();
    if results.is_empty() {
        out.notes.push(format!(
            "Trivy found nothing in {} (the report has no Results)",
            report.artifact_name.as_deref().unwrap_or("the artifact")
        ));
    }
    for r in results {
        out.unjudged += r.licenses.as_ref().map_or(0, Vec::len);
        let target = r.target;
        for v in r.vulnerabilities.unwrap_or_default() {
            let fixed = v.fixed_version.filter(|f| !f.is_empty());
            let fix_available = fixed.is_some()
                && !v
                    .status
                    .as_deref()
                    .is_some_and(|s| NO_FIX_STATUSES.contains(&s));
            let file = v
                .pkg_path
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| target.clone());
            out.findings.push(Finding {
                tool: Tool::Trivy,
                category: Category::Vulnerability,
                fingerprint: [
                    &*v.vulnerability_id,
                    ":",
                    &v.pkg_name,
                    "@",
                    &v.installed_version,
                    ":",
                    &file,
                ]
                .concat(),
                title: v
                    .title
                    .map(Cow::into_owned)
                    .unwrap_or_else(|| v.vulnerability_id.to_string()),
                rule_id: v.vulnerability_id.into_owned(),
                severity: Severity::lenient(&v.severity),
                location: Location {
                    file: Some(file.into_owned()),
                    line: None,
                    package: Some(v.pkg_name.into_owned()),
                    version: Some(v.installed_version.into_owned()),
                },
                fix_available,
                fixed_version: fixed.map(Cow::into_owned),
                url: v.primary_url.map(Cow::into_owned),
            });
        }
        for m in r.misconfigurations.unwrap_or_default() {
            // PASS and EXCEPTION entries only appear with --include-non-failures; they are not findings.
            if !m.status.eq_ignore_ascii_case("FAIL") {
                continue;
            }
            // `ID` is sometimes a slug (s3-bucket-logging); the AVD id is the stable key.
            let id = m.avdid.filter(|a| !a.is_empty()).unwrap_or(m.id);
            let line = m
                .cause_metadata
                .as_ref()
                .and_then(|c| c.start_line)
                .filter(|l| *l > 0);
            let resource = m
                .cause_metadata
                .and_then(|c| c.resource)
                .filter(|r| !r.is_empty());
            let mut title = m.title.into_owned();
            if let Some(msg) = m.message.filter(|m| !m.is_empty()) {
                title = format!("{title}: {msg}");
            }
            out.findings.push(Finding {
                tool: Tool::Trivy,
                category: Category::Misconfiguration,
                fingerprint: format!(
                    "{id}:{target}:{}:{}",
                    resource.as_deref().unwrap_or(""),
                    line.map(|l| l.to_string()).unwrap_or_default()
                ),
                rule_id: id.into_owned(),
                severity: Severity::lenient(&m.severity),
                title,
                location: Location {
                    file: Some(target.to_string()),
                    line,
                    package: None,
                    version: None,
                },
                fix_available: true,
                fixed_version: None,
                url: m.primary_url.map(Cow::into_owned),
            });
        }
        for s in r.secrets.unwrap_or_default() {
            let line = s.start_line.filter(|l| *l > 0);
            out.findings.push(Finding {
                tool: Tool::Trivy,
                category: Category::Secret,
                fingerprint: format!(
                    "{}:{target}:{}",
                    s.rule_id,
                    line.map(|l| l.to_string()).unwrap_or_default()
                ),
                rule_id: s.rule_id.into_owned(),
                severity: Severity::lenient(&s.severity),
                title: s.title.into_owned(),
                location: Location {
                    file: Some(target.to_string()),
                    line,
                    package: None,
                    version: None,
                },
                fix_available: true,
                fixed_version: None,
                url: None,
            });
        }
    }
    if out.unjudged > 0 {
        out.notes.push(format!(
            "{} license finding(s) in the report are not judged by this gate",
            out.unjudged
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Trivy 0.59 writes for an artifact with nothing to report: no `Results` key.
    const CLEAN: &str = r#"{"SchemaVersion":2,"CreatedAt":"2026-11-22T03:00:00Z","ArtifactName":"app.tar",
      "ArtifactType":"container_image","Metadata":{"OS":{"Family":"alpine","Name":"3.19.1"},"ImageID":"sha256:00"}}"#;

    const MIXED: &str = r#"{"SchemaVersion":2,"ArtifactName":"web:1","ArtifactType":"container_image","Results":[
      {"Target":"web:1 (alpine 3.10.2)","Class":"os-pkgs","Type":"alpine","Vulnerabilities":[
        {"VulnerabilityID":"CVE-2019-1549","PkgID":"openssl@1.1.1c-r0","PkgName":"openssl","InstalledVersion":"1.1.1c-r0",
         "FixedVersion":"1.1.1d-r0","Status":"fixed","Layer":{},"SeveritySource":"nvd","PrimaryURL":"https://avd.aquasec.com/nvd/cve-2019-1549",
         "Title":"openssl: information disclosure in fork()","Description":"long \"quoted\" text","Severity":"MEDIUM","CVSS":{}},
        {"VulnerabilityID":"CVE-2019-1563","PkgName":"openssl","InstalledVersion":"1.1.1c-r0","Status":"affected","Severity":"CRITICAL"}]},
      {"Target":"terraform","Class":"config","Type":"terraform","MisconfSummary":{"Successes":3,"Failures":0}},
      {"Target":"Dockerfile","Class":"config","Type":"dockerfile","Misconfigurations":[
        {"Type":"Dockerfile Security Check","ID":"DS002","AVDID":"AVD-DS-0002","Title":"Image user should not be 'root'",
         "Message":"Specify at least 1 USER command","Severity":"HIGH","Status":"FAIL","Layer":{},"CauseMetadata":{"Provider":"Dockerfile","Code":{"Lines":null}}},
        {"Type":"Terraform Security Check","ID":"s3-bucket-logging","AVDID":"AVD-AWS-0089","Title":"Bucket logging","Severity":"LOW","Status":"PASS"}]},
      {"Target":"/app/.env","Class":"secret","Secrets":[
        {"RuleID":"aws-access-key-id","Category":"AWS","Severity":"CRITICAL","Title":"AWS Access Key ID","StartLine":2,"EndLine":2,
         "Code":{"Lines":[{"Number":2,"Content":"KEY=****"}]},"Match":"KEY=****","Layer":{}}]}]}"#;

    #[test]
    fn license_findings_are_counted_not_judged() {
        let report = r#"{"SchemaVersion":2,"ArtifactName":"web.tar","Results":[
          {"Target":"Node.js","Class":"license","Licenses":[
            {"Severity":"CRITICAL","Category":"forbidden","PkgName":"gplpkg","Name":"AGPL-3.0-only","Confidence":1},
            {"Severity":"LOW","Category":"notice","PkgName":"lodash","Name":"MIT","Confidence":1}]}]}"#;
        let p = parse(report.as_bytes()).unwrap();
        assert!(p.findings.is_empty());
        assert_eq!(p.unjudged, 2);
        assert!(
            p.notes.iter().any(|n| n.contains("2 license finding(s)")),
            "{:?}",
            p.notes
        );
        assert_eq!(parse(CLEAN.as_bytes()).unwrap().unjudged, 0);
    }

    #[test]
    fn clean_report_without_results_is_clean() {
        let p = parse(CLEAN.as_bytes()).unwrap();
        assert!(p.findings.is_empty());
        assert!(p.notes[0].contains("no Results"), "{:?}", p.notes);
    }

    #[test]
    fn vulnerabilities_secrets_and_failed_misconfigurations() {
        let p = parse(MIXED.as_bytes()).unwrap();
        let ids: Vec<&str> = p.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "CVE-2019-1549",
                "CVE-2019-1563",
                "AVD-DS-0002",
                "aws-access-key-id"
            ]
        );
        let fixed = &p.findings[0];
        assert!(fixed.fix_available);
        assert_eq!(fixed.fixed_version.as_deref(), Some("1.1.1d-r0"));
        assert_eq!(
            fixed.location.to_string(),
            "openssl@1.1.1c-r0 (web:1 (alpine 3.10.2))"
        );
        let unfixed = &p.findings[1];
        assert!(!unfixed.fix_available);
        assert_eq!(unfixed.title, "CVE-2019-1563");
        assert_eq!(p.findings[2].severity, Severity::High);
        assert_eq!(p.findings[3].location.to_string(), "/app/.env:2");
        assert_eq!(p.findings[3].category, Category::Secret);
    }

    #[test]
    fn will_not_fix_is_not_a_fix() {
        let r = r#"{"SchemaVersion":2,"Results":[{"Target":"x","Vulnerabilities":[
          {"VulnerabilityID":"CVE-1","PkgName":"p","InstalledVersion":"1","FixedVersion":"2","Status":"will_not_fix","Severity":"HIGH"}]}]}"#;
        assert!(!parse(r.as_bytes()).unwrap().findings[0].fix_available);
    }

    #[test]
    fn broken_reports_are_invalid() {
        assert!(parse(b"  \n").unwrap_err().0.contains("empty"));
        assert!(
            parse(&MIXED.as_bytes()[..300])
                .unwrap_err()
                .0
                .contains("truncated")
        );
        assert!(parse(b"[]").unwrap_err().0.contains("unknown shape"));
        assert!(parse(b"{}").unwrap_err().0.contains("unknown shape"));
        assert!(
            parse(br#"{"SchemaVersion":1}"#)
                .unwrap_err()
                .0
                .contains("schema version 1")
        );
    }
}
