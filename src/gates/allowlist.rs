//! `pipeline/allowlist.toml`: the one place findings are accepted, each with a reason and
//! an expiry date. Errors in the file name `file:line`.
//!
//! ```toml
//! [[allow]]
//! tool = "trivy"                 # gitleaks | trivy | checkov | npm
//! id = "CVE-2024-45337"          # rule id, CVE/GHSA id, check id (Trivy misconfigs: the AVD id)
//! package = "golang.org/x/crypto"  # optional: only this package (name or name@version)
//! path = "app/**"                # optional: only files matching this glob (* within a directory, ** across)
//! reason = "not reachable: we never call ssh.ServerConfig"
//! expires = 2027-03-31           # a TOML date, or a "YYYY-MM-DD" string
//! ```

use super::model::{Finding, Tool};
use crate::error::{Error, Result};
use chrono::NaiveDate;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based line of the entry's `[[allow]]` header.
    pub line: usize,
    pub tool: Tool,
    pub id: String,
    pub package: Option<String>,
    pub path: Option<String>,
    path_re: Option<regex::Regex>,
    pub reason: String,
    pub expires: NaiveDate,
}

impl Entry {
    pub fn matches(&self, f: &Finding) -> bool {
        if f.tool != self.tool || !f.rule_id.eq_ignore_ascii_case(&self.id) {
            return false;
        }
        if let Some(want) = &self.package {
            let Some(name) = &f.location.package else {
                return false;
            };
            let with_version = f.location.version.as_ref().map(|v| format!("{name}@{v}"));
            if want != name && Some(want) != with_version.as_ref() {
                return false;
            }
        }
        if let Some(re) = &self.path_re {
            let Some(file) = &f.location.file else {
                return false;
            };
            if !re.is_match(relative(file)) {
                return false;
            }
        }
        true
    }

    pub fn expired(&self, today: NaiveDate) -> bool {
        self.expires < today
    }
}

#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    /// The file, for `file:line` in messages; `None` when there is no allowlist.
    pub path: Option<PathBuf>,
    pub entries: Vec<Entry>,
}

impl Allowlist {
    /// `file:line` of an entry.
    pub fn at(&self, e: &Entry) -> String {
        match &self.path {
            Some(p) => format!("{}:{}", p.display(), e.line),
            None => format!("line {}", e.line),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    allow: Vec<toml::Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    tool: toml::Spanned<String>,
    id: toml::Spanned<String>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    path: Option<toml::Spanned<String>>,
    reason: toml::Spanned<String>,
    expires: toml::Spanned<toml::Value>,
}

/// Reads the allowlist. A missing file is an empty allowlist unless `required`.
pub fn load(path: &Path, required: bool) -> Result<Allowlist> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Allowlist::default()),
        Err(e) => Err(Error::config(
            path,
            None,
            format!("cannot read the allowlist: {e}"),
        )),
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

pub fn parse(text: &str, path: &Path) -> Result<Allowlist> {
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start));
        Error::config(path, line, format!("{}; each [[allow]] needs tool, id, reason and expires (README, \"Security gates\")", e.message().trim()))
    })?;
    let bad = |offset: usize, msg: String| Error::config(path, Some(line_at(text, offset)), msg);
    let mut entries = Vec::new();
    for spanned in file.allow {
        let start = spanned.span().start;
        let raw = spanned.into_inner();
        let tool = Tool::from_name(raw.tool.get_ref())
            .filter(|t| *t != Tool::Syft)
            .ok_or_else(|| {
                bad(
                    raw.tool.span().start,
                    format!(
                        "`{}` is not a scanner with findings; use gitleaks, trivy, checkov or npm",
                        raw.tool.get_ref()
                    ),
                )
            })?;
        if raw.id.get_ref().trim().is_empty() {
            return Err(bad(
                raw.id.span().start,
                "`id` is empty; name the rule, CVE/GHSA or check id".into(),
            ));
        }
        if raw.reason.get_ref().trim().is_empty() {
            return Err(bad(
                raw.reason.span().start,
                "`reason` is empty; say why this finding is accepted".into(),
            ));
        }
        let expires = match raw.expires.get_ref() {
            toml::Value::Datetime(dt) => match (dt.date, dt.time) {
                (Some(d), None) => {
                    NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32)
                }
                _ => None,
            },
            toml::Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok(),
            _ => None,
        }
        .ok_or_else(|| {
            bad(
                raw.expires.span().start,
                "`expires` must be a date like 2027-03-31".into(),
            )
        })?;
        let (path_pat, path_re) = match raw.path {
            Some(p) => {
                let re = glob_regex(p.get_ref()).map_err(|e| {
                    bad(p.span().start, format!("`path` is not a usable glob: {e}"))
                })?;
                (Some(p.into_inner()), Some(re))
            }
            None => (None, None),
        };
        let line = line_at(text, start);
        let id = raw.id.get_ref().trim();
        let package = raw.package.as_deref().filter(|p| !p.is_empty());
        // Two entries for the same findings: only the first would ever apply, and which one
        // wins (its reason, its expiry) should not depend on the order in the file.
        if let Some(first) = entries.iter().find(|e: &&Entry| {
            e.tool == tool
                && e.id.eq_ignore_ascii_case(id)
                && e.package.as_deref() == package
                && e.path == path_pat
        }) {
            return Err(Error::config(
                path,
                Some(line),
                format!(
                    "duplicate allowlist entry: lines {} and {line} both allow {tool} {id}{}{}; keep one (with its reason and expiry) and delete the other",
                    first.line,
                    package
                        .map(|p| format!(" in package {p}"))
                        .unwrap_or_default(),
                    path_pat
                        .as_deref()
                        .map(|p| format!(" under {p}"))
                        .unwrap_or_default(),
                ),
            ));
        }
        entries.push(Entry {
            line,
            tool,
            id: raw.id.into_inner().trim().to_owned(),
            package: raw.package.filter(|p| !p.is_empty()),
            path: path_pat,
            path_re,
            reason: raw.reason.into_inner().trim().to_owned(),
            expires,
        });
    }
    Ok(Allowlist {
        path: Some(path.to_owned()),
        entries,
    })
}

/// A path as the globs see it: Gitleaks and Checkov report `./app/x` or `app/x`, Trivy
/// reports files inside an image as `/app/x`; `app/**` is meant to cover all three.
fn relative(path: &str) -> &str {
    path.trim_start_matches("./").trim_start_matches('/')
}

/// `*` matches within one path segment, `**` across segments, `?` one character; a
/// pattern ending in `/` matches everything below that directory.
fn glob_regex(glob: &str) -> std::result::Result<regex::Regex, regex::Error> {
    let glob = relative(glob);
    let mut re = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    if glob.ends_with('/') {
        re.push_str(".*");
    }
    re.push('$');
    regex::Regex::new(&re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_entry_names_both_lines() {
        let text = "[[allow]]\ntool = \"trivy\"\nid = \"CVE-1\"\nreason = \"a\"\nexpires = 2999-01-01\n\n\
                    [[allow]]\ntool = \"trivy\"\nid = \"cve-1\"\nreason = \"b\"\nexpires = 2998-01-01\n";
        let e = parse(text, Path::new("allowlist.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("allowlist.toml:7") && e.contains("lines 1 and 7"),
            "{e}"
        );
        // A different package or path is a different entry.
        let ok = text.replace("reason = \"b\"", "package = \"x\"\nreason = \"b\"");
        assert!(parse(&ok, Path::new("allowlist.toml")).is_ok());
    }
    use crate::gates::model::{Category, Location, Severity};

    fn finding(tool: Tool, id: &str, file: &str, package: Option<(&str, &str)>) -> Finding {
        Finding {
            tool,
            category: Category::Vulnerability,
            rule_id: id.into(),
            severity: Severity::High,
            title: String::new(),
            location: Location {
                file: Some(file.into()),
                line: None,
                package: package.map(|p| p.0.into()),
                version: package.map(|p| p.1.into()),
            },
            fingerprint: String::new(),
            fix_available: true,
            fixed_version: None,
            unrecognised_severity: None,
            url: None,
        }
    }

    const GOOD: &str = r#"
# accepted findings
[[allow]]
tool = "trivy"
id = "CVE-2024-1"
package = "openssl@1.1.1c-r0"
reason = "base image update scheduled"
expires = 2027-01-31

[[allow]]
tool = "checkov"
id = "CKV_AWS_20"
path = "terraform/**"
reason = "public website bucket"
expires = "2000-01-01"
"#;

    #[test]
    fn parses_entries_with_lines() {
        let a = parse(GOOD, Path::new("allow.toml")).unwrap();
        assert_eq!(a.entries.len(), 2);
        assert_eq!(a.entries[0].line, 3);
        assert_eq!(a.at(&a.entries[1]), "allow.toml:10");
        assert_eq!(
            a.entries[1].expires,
            NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()
        );
        assert!(a.entries[1].expired(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()));
    }

    #[test]
    fn matching_by_tool_id_package_and_path() {
        let a = parse(GOOD, Path::new("allow.toml")).unwrap();
        let trivy = &a.entries[0];
        assert!(trivy.matches(&finding(
            Tool::Trivy,
            "cve-2024-1",
            "img",
            Some(("openssl", "1.1.1c-r0"))
        )));
        assert!(!trivy.matches(&finding(
            Tool::Trivy,
            "CVE-2024-1",
            "img",
            Some(("openssl", "1.1.1d-r0"))
        )));
        assert!(!trivy.matches(&finding(
            Tool::Npm,
            "CVE-2024-1",
            "img",
            Some(("openssl", "1.1.1c-r0"))
        )));
        let ckv = &a.entries[1];
        assert!(ckv.matches(&finding(
            Tool::Checkov,
            "CKV_AWS_20",
            "terraform/modules/s3/main.tf",
            None
        )));
        assert!(!ckv.matches(&finding(Tool::Checkov, "CKV_AWS_20", "infra/main.tf", None)));
    }

    #[test]
    fn paths_match_with_or_without_a_leading_slash_or_dot() {
        let text = "[[allow]]\ntool = \"trivy\"\nid = \"aws-access-key-id\"\npath = \"app/**\"\nreason = \"fixture key\"\nexpires = 2999-01-01\n";
        let a = parse(text, Path::new("a.toml")).unwrap();
        let e = &a.entries[0];
        for file in [
            "/app/.env",
            "app/.env",
            "./app/.env",
            "/app/config/.aws/credentials",
        ] {
            assert!(
                e.matches(&finding(Tool::Trivy, "aws-access-key-id", file, None)),
                "{file}"
            );
        }
        for file in ["/srv/app/.env", "/etc/app.env", "application/.env"] {
            assert!(
                !e.matches(&finding(Tool::Trivy, "aws-access-key-id", file, None)),
                "{file}"
            );
        }
        // An absolute pattern means the same as the relative one.
        let abs = text.replace("\"app/**\"", "\"/app/**\"");
        let a = parse(&abs, Path::new("a.toml")).unwrap();
        assert!(a.entries[0].matches(&finding(
            Tool::Trivy,
            "aws-access-key-id",
            "/app/.env",
            None
        )));
        assert!(a.entries[0].matches(&finding(Tool::Trivy, "aws-access-key-id", "app/.env", None)));
    }

    #[test]
    fn missing_reason_names_the_line() {
        let text =
            "[[allow]]\ntool = \"gitleaks\"\nid = \"generic-api-key\"\nexpires = 2027-01-01\n";
        let e = parse(text, Path::new("a.toml")).unwrap_err().to_string();
        assert!(e.starts_with("a.toml:1:") && e.contains("reason"), "{e}");
    }

    #[test]
    fn empty_reason_bad_date_and_unknown_tool_name_their_lines() {
        let text =
            "[[allow]]\ntool = \"gitleaks\"\nid = \"x\"\nreason = \" \"\nexpires = 2027-01-01\n";
        assert!(
            parse(text, Path::new("a.toml"))
                .unwrap_err()
                .to_string()
                .starts_with("a.toml:4:")
        );
        let text =
            "[[allow]]\ntool = \"gitleaks\"\nid = \"x\"\nreason = \"r\"\nexpires = \"next year\"\n";
        assert!(
            parse(text, Path::new("a.toml"))
                .unwrap_err()
                .to_string()
                .starts_with("a.toml:5:")
        );
        let text = "[[allow]]\ntool = \"snyk\"\nid = \"x\"\nreason = \"r\"\nexpires = 2027-01-01\n";
        assert!(
            parse(text, Path::new("a.toml"))
                .unwrap_err()
                .to_string()
                .starts_with("a.toml:2:")
        );
        let text = "[[allow]]\ntool = \"npm\"\nid = \"x\"\nreason = \"r\"\nexpires = 2027-01-01\nowner = \"me\"\n";
        assert!(
            parse(text, Path::new("a.toml"))
                .unwrap_err()
                .to_string()
                .contains("owner")
        );
    }

    #[test]
    fn globs() {
        let re = glob_regex("app/*.js").unwrap();
        assert!(re.is_match("app/x.js") && !re.is_match("app/sub/x.js"));
        assert!(glob_regex("app/").unwrap().is_match("app/sub/x.js"));
        assert!(
            glob_regex("**/secrets.env")
                .unwrap()
                .is_match("a/b/secrets.env")
        );
    }

    #[test]
    fn missing_file_is_empty_unless_required() {
        let p = Path::new("/nonexistent/allowlist.toml");
        assert!(load(p, false).unwrap().entries.is_empty());
        assert!(load(p, true).is_err());
    }
}
