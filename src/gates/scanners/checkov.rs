//! The IaC gate's scanner, Checkov: its command line (without narrowing variables or the
//! vendor download) and its JSON report (`-o json`) into findings, in each of its four shapes:
//! one framework (an object with `results`), several frameworks (a list of those),
//! nothing scanned (a bare `summary` object), and no output at all (missing directory).
//!
//! Checkov reports no severities without a vendor API key, so severities come from the
//! gate's per-check-id table, then from the report when it has one, then the default.
//! Files Checkov could not parse make the report unusable: Checkov itself exits 0 then.

use crate::error::Result;
use crate::gates::exec::Invocation;
use crate::gates::model::{
    Category, Finding, GateKind, InvalidReport, Location, Parsed, Severity, Tool, json_problem,
};
use crate::gates::report::GateReport;
use crate::gates::run::{Ctx, invalid, need_dir, read_report, run_tool, tempdir, withhold_env};
use crate::gates::settings::IacJob;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Checkov variables that choose which checks run (or which results count).
const CHECKOV_NARROWING_ENV: &[&str] = &[
    "CKV_CHECK",
    "CKV_SKIP_CHECK",
    "CKV_POLICY_METADATA_FILTER",
    "CKV_POLICY_METADATA_FILTER_EXCEPTION",
];

/// The IaC gate: Checkov over a Terraform directory, or a given report.
pub async fn gate(ctx: &Ctx, a: IacJob) -> Result<GateReport> {
    let kind = GateKind::Iac;
    let cfg = &ctx.settings.iac;
    let severities = Severities {
        table: &cfg.severity,
        default: cfg.default_severity,
    };
    let mut notes = Vec::new();
    if cfg.severity_unconfigured {
        notes.push("no [gates.iac.severity] table: Checkov reports no severities, so every failed check counts as HIGH".into());
    }
    if let Some(r) = &a.report {
        let target = r.display().to_string();
        return Ok(
            match read_report(Tool::Checkov, r)
                .and_then(|b| parse(&b, &severities).map_err(|e| invalid(Tool::Checkov, e, None)))
            {
                Ok(p) => ctx.evaluate(kind, target, p, notes),
                Err(e) => ctx.error(kind, target, e, notes),
            },
        );
    }
    let dir = a.dir;
    // Checkov itself exits 0 with no output for a directory that does not exist.
    need_dir(&dir, "the Terraform directory")?;
    let target = dir.display().to_string();
    let tool = match ctx.locate(Tool::Checkov) {
        Ok(t) => t,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    let tmp = tempdir()?;
    let frameworks = &cfg.frameworks;
    // Checkov takes its flags from variables too; these choose which checks run.
    let inv = withhold_env(
        Invocation::new(&tool),
        CHECKOV_NARROWING_ENV.iter().copied(),
        ": findings are accepted only through the allowlist or an inline skip with its reason",
        &mut notes,
    );
    // Its config files have no off switch; a `skip-check` or `check` list in one drops
    // findings before the allowlist sees them, so the gate says when one is there.
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for name in [".checkov.yaml", ".checkov.yml"] {
        for base in [Some(PathBuf::from(".")), home.clone()]
            .into_iter()
            .flatten()
        {
            let p = base.join(name);
            if p.is_file() {
                notes.push(format!(
                    "{} is applied by Checkov (it cannot be turned off): any skip-check or check list in it narrows this gate",
                    p.display()
                ));
            }
        }
    }
    let inv = inv
        .arg("-d")
        .arg(&dir)
        .args(["-o", "json", "--output-file-path"])
        .arg(tmp.path())
        // Without it Checkov calls a vendor API first, logs tracebacks, and goes on anyway.
        .arg("--skip-download")
        .arg("--framework")
        .args(frameworks);
    // Exit 1 means findings or an uncaught exception alike: the JSON decides.
    let report = tmp.path().join("results_json.json");
    let ran = match run_tool(Tool::Checkov, &inv, ctx, &[0, 1], None).await {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    let bytes = match std::fs::read(&report) {
        Ok(b) if !b.is_empty() => b,
        _ => ran.report.clone(),
    };
    Ok(match parse(&bytes, &severities) {
        Ok(p) => ctx.evaluate(kind, target, p, notes),
        Err(e) => {
            let mut err = invalid(Tool::Checkov, e, ran.tail());
            if ran.code == 1 {
                err.message
                    .push_str(" (checkov exited 1, which it also does when it crashes)");
            }
            ctx.error(kind, target, err, notes)
        }
    })
}

/// How check ids map to severities.
#[derive(Debug, Clone, PartialEq)]
pub struct Severities<'a> {
    pub table: &'a BTreeMap<String, Severity>,
    pub default: Severity,
}

impl Severities<'_> {
    fn of(&self, check_id: &str, reported: Option<&str>) -> Severity {
        self.table
            .get(check_id)
            .copied()
            .or_else(|| reported.and_then(Severity::parse))
            .unwrap_or(self.default)
    }
}

#[derive(Deserialize)]
struct Framework {
    check_type: String,
    results: Results,
    #[serde(default)]
    summary: Option<Summary>,
}

#[derive(Deserialize, Default)]
struct Results {
    #[serde(default)]
    failed_checks: Vec<Check>,
    #[serde(default)]
    passed_checks: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    skipped_checks: Vec<Check>,
    #[serde(default)]
    parsing_errors: Vec<String>,
}

#[derive(Deserialize)]
struct Summary {
    #[serde(default)]
    passed: Option<u64>,
    #[serde(default)]
    failed: Option<u64>,
    #[serde(default)]
    skipped: Option<u64>,
    #[serde(default)]
    parsing_errors: u64,
    #[serde(default)]
    checkov_version: Option<String>,
}

#[derive(Deserialize)]
struct Check {
    check_id: String,
    #[serde(default)]
    check_name: Option<String>,
    #[serde(default)]
    file_path: Option<String>,
    #[serde(default)]
    repo_file_path: Option<String>,
    #[serde(default)]
    file_line_range: Option<Vec<u64>>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    guideline: Option<String>,
    #[serde(default)]
    check_result: Option<CheckResult>,
}

#[derive(Deserialize)]
struct CheckResult {
    #[serde(default)]
    suppress_comment: Option<String>,
}

pub fn parse(bytes: &[u8], severities: &Severities) -> Result<Parsed, InvalidReport> {
    // Checkov reports are small; looking at the top-level shape first gives clear errors
    // where an untagged enum would only say "did not match any variant".
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| json_problem(bytes, &e))?;
    let frameworks: Vec<Framework> = match &value {
        // Checkov writes a list only for several frameworks; an empty one is no report.
        serde_json::Value::Array(items) if items.is_empty() => {
            return Err(InvalidReport(
                "the report is an empty list, which Checkov never writes (not a Checkov JSON report)".into(),
            ));
        }
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| Framework::deserialize(v).map_err(|e| shape(&e)))
            .collect::<Result<_, _>>()?,
        serde_json::Value::Object(map) if map.contains_key("results") => {
            vec![Framework::deserialize(&value).map_err(|e| shape(&e))?]
        }
        serde_json::Value::Object(map)
            if map.contains_key("passed") && map.contains_key("failed") =>
        {
            // Nothing was scanned (or a baseline removed everything): a bare summary.
            let s = Summary::deserialize(&value).map_err(|e| shape(&e))?;
            if s.parsing_errors > 0 {
                return Err(InvalidReport(format!(
                    "Checkov could not parse {} file(s); fix the HCL so every file is checked",
                    s.parsing_errors
                )));
            }
            let failed = map.get("failed").and_then(|v| v.as_u64()).unwrap_or(0);
            if failed > 0 {
                return Err(InvalidReport(format!(
                    "the Checkov report counts {failed} failed check(s) but lists none; run Checkov with `-o json` and no `--compact` filtering"
                )));
            }
            return Ok(Parsed {
                findings: Vec::new(),
                notes: vec![format!(
                    "Checkov found nothing to scan (checkov {})",
                    s.checkov_version.as_deref().unwrap_or("?")
                )],
                ..Default::default()
            });
        }
        _ => {
            return Err(InvalidReport(
                "the report has an unknown shape (not a Checkov JSON report)".into(),
            ));
        }
    };
    let parse_errors: Vec<&str> = frameworks
        .iter()
        .flat_map(|f| f.results.parsing_errors.iter().map(String::as_str))
        .collect();
    let counted: u64 = frameworks
        .iter()
        .filter_map(|f| f.summary.as_ref())
        .map(|s| s.parsing_errors)
        .sum();
    if !parse_errors.is_empty() || counted > 0 {
        return Err(InvalidReport(format!(
            "Checkov could not parse {} file(s){}{}; their checks did not run",
            parse_errors.len().max(counted as usize),
            if parse_errors.is_empty() { "" } else { ": " },
            parse_errors.join(", ")
        )));
    }
    // A summary that counts checks the lists do not hold means the lists were cut (a
    // filter, an edit, a truncated merge): judging the lists alone could pass failed checks.
    for fw in &frameworks {
        let Some(sum) = &fw.summary else { continue };
        for (what, counted, listed) in [
            ("failed", sum.failed, fw.results.failed_checks.len()),
            ("passed", sum.passed, fw.results.passed_checks.len()),
            ("skipped", sum.skipped, fw.results.skipped_checks.len()),
        ] {
            if let Some(n) = counted.filter(|n| *n != listed as u64) {
                return Err(InvalidReport(format!(
                    "the Checkov report's {} summary counts {n} {what} check(s) but lists {listed}; the report is incomplete",
                    fw.check_type
                )));
            }
        }
    }
    let mut out = Parsed::default();
    for fw in frameworks {
        out.notes.push(format!(
            "{}: {} passed, {} failed, {} skipped in source",
            fw.check_type,
            fw.results.passed_checks.len(),
            fw.results.failed_checks.len(),
            fw.results.skipped_checks.len()
        ));
        for s in &fw.results.skipped_checks {
            let reason = s
                .check_result
                .as_ref()
                .and_then(|r| r.suppress_comment.as_deref())
                .unwrap_or("no reason given");
            out.notes.push(format!(
                "skipped in source: {} on {} ({reason}); judged like a failed check: findings are accepted only through the allowlist (reason and expiry), not by a comment next to the code",
                s.check_id,
                location(s)
            ));
        }
        // A `#checkov:skip` comment is a bypass anyone can write next to the code, as
        // `gitleaks:allow` is: the check counts as failed unless the allowlist accepts it.
        let skipped = fw.results.skipped_checks.into_iter().map(|c| {
            let reason = c
                .check_result
                .as_ref()
                .and_then(|r| r.suppress_comment.clone())
                .unwrap_or_else(|| "no reason given".into());
            (c, Some(reason))
        });
        let failed = fw.results.failed_checks.into_iter().map(|c| (c, None));
        for (c, skipped_because) in failed.chain(skipped) {
            let file = c
                .repo_file_path
                .as_deref()
                .or(c.file_path.as_deref())
                .map(|p| p.trim_start_matches('/').to_owned());
            let line = c
                .file_line_range
                .as_ref()
                .and_then(|r| r.first().copied())
                .filter(|l| *l > 0);
            let resource = c.resource.clone().unwrap_or_default();
            let name = c.check_name.clone().unwrap_or_else(|| c.check_id.clone());
            out.findings.push(Finding {
                tool: Tool::Checkov,
                category: Category::Misconfiguration,
                fingerprint: format!(
                    "{}:{}:{resource}",
                    c.check_id,
                    file.as_deref().unwrap_or("")
                ),
                severity: severities.of(&c.check_id, c.severity.as_deref()),
                title: {
                    let title = if resource.is_empty() {
                        name
                    } else {
                        format!("{name} ({resource})")
                    };
                    match &skipped_because {
                        Some(why) => format!("{title}; skipped in source ({why})"),
                        None => title,
                    }
                },
                location: Location {
                    file,
                    line,
                    package: None,
                    version: None,
                },
                rule_id: c.check_id,
                fix_available: true,
                fixed_version: None,
                unrecognised_severity: None,
                url: c.guideline.filter(|g| !g.is_empty()),
            });
        }
    }
    Ok(out)
}

fn location(c: &Check) -> String {
    let file = c
        .repo_file_path
        .as_deref()
        .or(c.file_path.as_deref())
        .unwrap_or("?")
        .trim_start_matches('/');
    match c.resource.as_deref() {
        Some(r) => format!("{file} {r}"),
        None => file.to_owned(),
    }
}

fn shape(e: &serde_json::Error) -> InvalidReport {
    InvalidReport(format!("the report has an unknown shape ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERRAFORM: &str = r#"{
      "check_type": "terraform",
      "results": {
        "passed_checks": [{"check_id": "CKV_AWS_260", "check_name": "port 80", "check_result": {"result": "PASSED"}}],
        "failed_checks": [
          {"check_id": "CKV_AWS_24", "bc_check_id": null, "check_name": "Ensure no security groups allow ingress from 0.0.0.0:0 to port 22",
           "check_result": {"result": "FAILED", "evaluated_keys": ["ingress"]}, "code_block": [[1, "resource"]],
           "file_path": "/main.tf", "file_abs_path": "/x/terraform/main.tf", "repo_file_path": "/terraform/main.tf",
           "file_line_range": [1, 9], "resource": "aws_security_group.web", "severity": null, "guideline": null},
          {"check_id": "CKV_AWS_20", "check_name": "S3 Bucket has an ACL defined which allows public READ access.",
           "check_result": {"result": "FAILED"}, "file_path": "/main.tf", "repo_file_path": "/terraform/main.tf",
           "file_line_range": [10, 13], "resource": "aws_s3_bucket.data", "severity": "LOW", "guideline": "https://docs.example/ckv_aws_20"}
        ],
        "skipped_checks": [
          {"check_id": "CKV_AWS_18", "check_name": "access logging", "check_result": {"result": "SKIPPED", "suppress_comment": "logs go elsewhere"},
           "file_path": "/main.tf", "repo_file_path": "/terraform/main.tf", "file_line_range": [10, 13], "resource": "aws_s3_bucket.data"}
        ],
        "parsing_errors": []
      },
      "summary": {"passed": 1, "failed": 2, "skipped": 1, "parsing_errors": 0, "resource_count": 2, "checkov_version": "3.3.30"},
      "url": "Add an api key '--bc-api-key <api-key>' to see more detailed insights via https://bridgecrew.cloud"
    }"#;

    fn sev(table: &BTreeMap<String, Severity>) -> Severities<'_> {
        Severities {
            table,
            default: Severity::High,
        }
    }

    #[test]
    fn summary_counts_must_match_the_lists_and_an_empty_list_is_no_report() {
        let table = BTreeMap::new();
        let cut = TERRAFORM.replace("\"failed\": 2", "\"failed\": 19");
        let e = parse(cut.as_bytes(), &sev(&table)).unwrap_err();
        assert!(
            e.0.contains("counts 19 failed") && e.0.contains("lists 2"),
            "{e}"
        );
        let list = format!("[{cut}]");
        assert!(
            parse(list.as_bytes(), &sev(&table)).is_err(),
            "list shape too"
        );
        let e = parse(b"[]", &sev(&table)).unwrap_err();
        assert!(e.0.contains("empty list"), "{e}");
    }

    #[test]
    fn single_framework_object() {
        let mut table = BTreeMap::new();
        table.insert("CKV_AWS_24".to_owned(), Severity::Critical);
        let p = parse(TERRAFORM.as_bytes(), &sev(&table)).unwrap();
        // Two failed checks and one skipped in source, which counts like a failed one.
        assert_eq!(p.findings.len(), 3);
        let skipped = &p.findings[2];
        assert_eq!(skipped.rule_id, "CKV_AWS_18");
        assert!(
            skipped
                .title
                .ends_with("skipped in source (logs go elsewhere)"),
            "{}",
            skipped.title
        );
        let ssh = &p.findings[0];
        assert_eq!(ssh.rule_id, "CKV_AWS_24");
        assert_eq!(ssh.severity, Severity::Critical, "from the table");
        assert_eq!(ssh.location.to_string(), "terraform/main.tf:1");
        assert!(ssh.title.ends_with("(aws_security_group.web)"));
        assert_eq!(
            p.findings[1].severity,
            Severity::Low,
            "reported severity when the table has none"
        );
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("CKV_AWS_18") && n.contains("logs go elsewhere")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn null_severity_falls_back_to_default() {
        let table = BTreeMap::new();
        let p = parse(TERRAFORM.as_bytes(), &sev(&table)).unwrap();
        assert_eq!(p.findings[0].severity, Severity::High);
    }

    #[test]
    fn list_of_frameworks() {
        let text = format!(
            r#"[{{"check_type":"dockerfile","results":{{"failed_checks":[{{"check_id":"CKV_DOCKER_2","file_path":"/Dockerfile","file_line_range":[1,3],"resource":"/Dockerfile."}}]}},"summary":{{"parsing_errors":0}}}}, {TERRAFORM}]"#
        );
        let table = BTreeMap::new();
        let p = parse(text.as_bytes(), &sev(&table)).unwrap();
        let ids: Vec<&str> = p.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(
            ids,
            ["CKV_DOCKER_2", "CKV_AWS_24", "CKV_AWS_20", "CKV_AWS_18"]
        );
        assert_eq!(p.findings[0].location.to_string(), "Dockerfile:1");
    }

    #[test]
    fn bare_summary_is_clean() {
        let text = r#"{"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0, "checkov_version": "3.3.30"}"#;
        let table = BTreeMap::new();
        let p = parse(text.as_bytes(), &sev(&table)).unwrap();
        assert!(p.findings.is_empty());
        assert!(p.notes[0].contains("nothing to scan"));
    }

    #[test]
    fn parse_errors_are_not_a_pass() {
        let text = r#"{"check_type":"terraform","results":{"passed_checks":[],"failed_checks":[],"skipped_checks":[],
          "parsing_errors":["/x/terraform/broken.tf"]},"summary":{"passed":0,"failed":0,"skipped":0,"parsing_errors":1}}"#;
        let table = BTreeMap::new();
        let e = parse(text.as_bytes(), &sev(&table)).unwrap_err();
        assert!(e.0.contains("broken.tf"), "{e}");
        let bare = r#"{"passed":0,"failed":0,"skipped":0,"parsing_errors":2,"resource_count":0}"#;
        assert!(
            parse(bare.as_bytes(), &sev(&table))
                .unwrap_err()
                .0
                .contains("could not parse 2")
        );
    }

    #[test]
    fn empty_output_and_strangers_are_invalid() {
        let table = BTreeMap::new();
        assert!(parse(b"", &sev(&table)).unwrap_err().0.contains("empty"));
        assert!(
            parse(br#"{"SchemaVersion":2}"#, &sev(&table))
                .unwrap_err()
                .0
                .contains("unknown shape")
        );
        assert!(
            parse(br#"[{"check_type":"terraform"}]"#, &sev(&table))
                .unwrap_err()
                .0
                .contains("unknown shape")
        );
        assert!(
            parse(&TERRAFORM.as_bytes()[..200], &sev(&table))
                .unwrap_err()
                .0
                .contains("truncated")
        );
    }
}
