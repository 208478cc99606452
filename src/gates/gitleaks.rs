//! Gitleaks' JSON report (a top-level array, `[]` when clean) into findings.
//!
//! `Secret` and `Match` are deliberately not read: even when a run forgot `--redact`,
//! no secret value can reach shipwatch's outputs.

use super::model::{
    Category, Finding, InvalidReport, Location, Parsed, Severity, Tool, json_problem,
};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Leak<'a> {
    #[serde(rename = "RuleID", borrow)]
    rule_id: Cow<'a, str>,
    #[serde(rename = "Description", default, borrow)]
    description: Cow<'a, str>,
    #[serde(rename = "StartLine", default)]
    start_line: u64,
    #[serde(rename = "File", default, borrow)]
    file: Cow<'a, str>,
    #[serde(rename = "Commit", default, borrow)]
    commit: Cow<'a, str>,
    #[serde(rename = "Fingerprint", default, borrow)]
    fingerprint: Cow<'a, str>,
}

pub fn parse(bytes: &[u8]) -> Result<Parsed, InvalidReport> {
    let leaks: Vec<Leak> = serde_json::from_slice(bytes).map_err(|e| json_problem(bytes, &e))?;
    let findings = leaks
        .into_iter()
        .map(|l| {
            let fingerprint = if l.fingerprint.is_empty() {
                format!("{}:{}:{}:{}", l.commit, l.file, l.rule_id, l.start_line)
            } else {
                l.fingerprint.into_owned()
            };
            let title = if l.description.is_empty() {
                l.rule_id.to_string()
            } else {
                l.description.into_owned()
            };
            let mut title = title;
            if !l.commit.is_empty() {
                title.push_str(&format!(
                    " (commit {})",
                    &l.commit[..l.commit.len().min(12)]
                ));
            }
            Finding {
                tool: Tool::Gitleaks,
                category: Category::Secret,
                rule_id: l.rule_id.into_owned(),
                severity: Severity::High,
                title,
                location: Location {
                    file: Some(l.file.into_owned()),
                    line: (l.start_line > 0).then_some(l.start_line),
                    ..Default::default()
                },
                fingerprint,
                // A leaked secret is fixed by rotating it; there is always something to do.
                fix_available: true,
                fixed_version: None,
                url: None,
            }
        })
        .collect();
    Ok(Parsed {
        findings,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Field set as gitleaks 8.30 writes it in `git` mode, secret already redacted.
    const TWO: &str = r#"[
 {"RuleID":"aws-access-token","Description":"Identified a pattern that may indicate AWS credentials.",
  "StartLine":3,"EndLine":3,"StartColumn":8,"EndColumn":27,"Match":"REDACTED","Secret":"REDACTED",
  "File":"config/app.env","SymlinkFile":"","Commit":"0123456789abcdef0123456789abcdef01234567","Entropy":3.6,
  "Author":"a","Email":"a@b","Date":"2026-01-01T00:00:00Z","Message":"add config","Tags":[],
  "Fingerprint":"0123456789abcdef0123456789abcdef01234567:config/app.env:aws-access-token:3"},
 {"RuleID":"generic-api-key","Description":"Detected a Generic API Key","StartLine":9,"EndLine":9,
  "StartColumn":1,"EndColumn":40,"Match":"api_key=REDACTED","Secret":"REDACTED","File":"src/main.py","SymlinkFile":"",
  "Commit":"","Entropy":4.1,"Author":"","Email":"","Date":"","Message":"","Tags":[],"Fingerprint":"src/main.py:generic-api-key:9"}
]"#;

    #[test]
    fn parses_git_and_dir_mode_findings() {
        let p = parse(TWO.as_bytes()).unwrap();
        assert_eq!(p.findings.len(), 2);
        let f = &p.findings[0];
        assert_eq!(f.rule_id, "aws-access-token");
        assert_eq!(f.location.to_string(), "config/app.env:3");
        assert!(
            f.fingerprint
                .ends_with(":config/app.env:aws-access-token:3")
        );
        assert!(f.title.contains("commit 0123456789ab"));
        assert_eq!(p.findings[1].fingerprint, "src/main.py:generic-api-key:9");
    }

    #[test]
    fn clean_report_is_empty_array() {
        assert!(parse(b"[]").unwrap().findings.is_empty());
    }

    #[test]
    fn empty_truncated_and_wrong_shape_are_invalid() {
        assert!(parse(b"").unwrap_err().0.contains("empty"));
        assert!(
            parse(&TWO.as_bytes()[..120])
                .unwrap_err()
                .0
                .contains("truncated")
        );
        assert!(
            parse(br#"{"findings":[]}"#)
                .unwrap_err()
                .0
                .contains("unknown shape")
        );
    }
}
