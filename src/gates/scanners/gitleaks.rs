//! The secrets gate's scanner, Gitleaks: its command line (`git` or `dir` mode, with the
//! repository's config stripped of what drops findings) and its JSON report (a top-level
//! array, `[]` when clean) into findings, plus the two things Gitleaks only says outside
//! its report: git failures in its log, and the `.gitleaksignore` entries it applies on
//! its own.
//!
//! `Secret` and `Match` are deliberately not read: even when a run forgot `--redact`,
//! no secret value can reach shipwatch's outputs.

use crate::error::{Error, Result};
use crate::gates::exec::Invocation;
use crate::gates::model::{
    Category, Finding, GateKind, InvalidReport, Location, Parsed, Severity, Tool, json_problem,
};
use crate::gates::report::{GateReport, ToolError};
use crate::gates::run::{
    Ctx, FINDINGS_EXIT, invalid, need_dir, read_report, run_tool, tempdir, withhold_env,
};
use crate::gates::settings::SecretsJob;
use serde::Deserialize;
use std::borrow::Cow;

/// The secrets gate: Gitleaks over a repository's history (or its files), or a given report.
pub async fn gate(ctx: &Ctx, a: SecretsJob) -> Result<GateReport> {
    let kind = GateKind::Secrets;
    if let Some(r) = &a.report {
        let target = r.display().to_string();
        return Ok(
            match read_report(Tool::Gitleaks, r)
                .and_then(|b| parse(&b).map_err(|e| invalid(Tool::Gitleaks, e, None)))
            {
                Ok(p) => ctx.evaluate(kind, target, p, vec![]),
                Err(e) => ctx.error(kind, target, e, vec![]),
            },
        );
    }
    let path = a.path;
    need_dir(&path, "the path to scan for secrets")?;
    let log_opts = a.log_opts;
    if let Some(opt) = log_opts.as_deref().and_then(forbidden_log_opt) {
        return Err(Error::Usage(format!(
            "--log-opts / [gates.secrets] log_opts may only choose commits, and `{opt}` would make git write or transform the history it shows (with the secrets in it) elsewhere; give a range such as origin/main..HEAD"
        )));
    }
    let no_git = a.no_git;
    let git = !no_git && path.join(".git").exists();
    let mut notes = Vec::new();
    if !git {
        if log_opts.is_some() {
            return Err(Error::Usage(format!(
                "--log-opts needs a git repository, and {} has no .git; drop it or scan the repository root",
                path.display()
            )));
        }
        if !no_git {
            // Gitleaks' git mode passes a non-repository with "0 commits scanned" and exit 0.
            notes.push(format!(
                "{} is not a git repository: scanned the files on disk, not the history",
                path.display()
            ));
        }
    }
    let target = path.display().to_string();
    let tool = match ctx.locate(Tool::Gitleaks) {
        Ok(t) => t,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    // Gitleaks also applies `<path>/.gitleaksignore`, and no flag turns that off: say so
    // wherever the result is shown, because those findings never reach the allowlist.
    let source_ignore = path.join(".gitleaksignore");
    let ignored = std::fs::read_to_string(&source_ignore)
        .ok()
        .map(|t| ignore_entries(&t))
        .filter(|n| *n > 0);
    if let Some(n) = ignored {
        notes.push(format!(
            "{} lists {n} fingerprint(s) that Gitleaks drops before shipwatch sees them, bypassing the allowlist's reason and expiry; move them to the allowlist and delete the file",
            source_ignore.display()
        ));
    }
    let tmp = tempdir()?;
    let report = tmp.path().join("gitleaks.json");
    // Gitleaks would also take `<path>/.gitleaks.toml` (or GITLEAKS_CONFIG) as it is,
    // allowlists and disabled rules included. It gets that file's rules on top of its
    // defaults, without what drops findings, through --config, which wins over both.
    let repo_config = path.join(".gitleaks.toml");
    let repo_text = match std::fs::read_to_string(&repo_config) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            let e = ToolError {
                message: format!("cannot read {}: {e}", repo_config.display()),
                stderr_tail: None,
            };
            return Ok(ctx.error(kind, target, e, notes));
        }
    };
    let safe = match safe_config(repo_text.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            let e = ToolError {
                message: format!(
                    "{} is not a usable Gitleaks config ({e}); fix it or delete it",
                    repo_config.display()
                ),
                stderr_tail: None,
            };
            return Ok(ctx.error(kind, target, e, notes));
        }
    };
    if !safe.changes.is_empty() {
        notes.push(format!(
            "{}: its rules are used, but not {}; findings are accepted only through the allowlist (reason and expiry)",
            repo_config.display(),
            safe.changes.join(", ")
        ));
    }
    let config = tmp.path().join("gitleaks.toml");
    std::fs::write(&config, &safe.toml)
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", config.display())))?;
    let inv = withhold_env(
        Invocation::new(&tool),
        ["GITLEAKS_CONFIG", "GITLEAKS_CONFIG_TOML"],
        "",
        &mut notes,
    );
    let mut inv = inv
        .arg(if git { "git" } else { "dir" })
        .arg(&path)
        .arg("--config")
        .arg(&config)
        .args(["--report-format", "json", "--report-path"])
        .arg(&report)
        .args([
            "--exit-code",
            &FINDINGS_EXIT.to_string(),
            "--redact",
            "--no-banner",
            "--no-color",
            // info: the "N commits scanned" line says how much history was read.
            "--log-level",
            "info",
            // Findings are accepted in the allowlist, with a reason and an expiry, not by
            // a comment anyone can add next to the secret.
            "--ignore-gitleaks-allow",
        ])
        // Gitleaks reads `.gitleaksignore` from the working directory unless told another
        // place; the fresh temporary directory has none.
        .arg("--gitleaks-ignore-path")
        .arg(tmp.path());
    if let Some(range) = &log_opts {
        inv = inv.arg(format!("--log-opts={range}"));
        notes.push(format!("commit range: {range}"));
    }
    let ran = match run_tool(
        Tool::Gitleaks,
        &inv,
        ctx,
        &[0, FINDINGS_EXIT],
        Some(&report),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    if git {
        // Git failing under Gitleaks still gives exit 0 and `[]`: judge its log instead.
        let errors = git_errors(&ran.stderr);
        if let Some(first) = errors
            .iter()
            .find(|e| e.starts_with("git: "))
            .or(errors.first())
        {
            let mut message = format!(
                "the git history could not be read ({first}), so whatever Gitleaks reports covers none or only part of it"
            );
            if first.contains("unknown revision") || first.contains("bad revision") {
                message.push_str("; a revision in --log-opts / [gates.secrets] log_opts is not in this clone: fetch it (a shallow clone lacks origin/main) or change the range");
            } else if first.contains("dubious ownership") {
                message.push_str("; the checkout belongs to another user: add it to git's safe.directory for the user running shipwatch");
            } else if first.contains("not a git repository") {
                message.push_str("; the .git directory is not a usable repository");
            }
            let e = ToolError {
                message,
                stderr_tail: ran.tail(),
            };
            return Ok(ctx.error(kind, target, e, notes));
        }
    }
    let mut parsed = match parse(&ran.report) {
        Ok(p) => p,
        Err(e) => {
            return Ok(ctx.error(kind, target, invalid(Tool::Gitleaks, e, ran.tail()), notes));
        }
    };
    if git {
        match commits_scanned(&ran.stderr) {
            Some(0) => notes.push(format!(
                "0 commits scanned{}: no history was checked for secrets (an empty range, or a repository without commits; files not yet committed are not scanned in git mode)",
                log_opts.as_deref().map(|r| format!(" in {r}")).unwrap_or_default()
            )),
            Some(n) => notes.push(format!("{n} commit(s) scanned")),
            None => notes.push(
                "Gitleaks did not say how many commits it scanned; the history read is unknown"
                    .into(),
            ),
        }
    }
    if !git {
        // Dir mode names files with the scanned path in front (`../repo/config/app.env`),
        // git mode relative to the repository: make both relative to the scanned path, so
        // one allowlist `path` matches either way and SARIF gets a relative URI.
        for f in &mut parsed.findings {
            if let Some(rel) = f
                .location
                .file
                .as_deref()
                .and_then(|p| relative_to(p, &path))
            {
                f.location.file = Some(rel);
            }
        }
    }
    if ran.code == FINDINGS_EXIT && parsed.findings.is_empty() {
        let e = ToolError {
            message: "gitleaks signalled findings (exit 3) but its report lists none".into(),
            stderr_tail: ran.tail(),
        };
        return Ok(ctx.error(kind, target, e, notes));
    }
    let mut r = ctx.evaluate(kind, target, parsed, notes);
    if let Some(n) = ignored {
        r.summary
            .push_str(&format!("; .gitleaksignore honoured ({n} fingerprint(s))"));
    }
    Ok(r)
}

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
                unrecognised_severity: None,
                url: None,
            }
        })
        .collect();
    Ok(Parsed {
        findings,
        ..Default::default()
    })
}

/// The git failures Gitleaks logged while reading the history, without colour codes.
///
/// Gitleaks relays every line git writes to stderr as `ERR [git] …` (it logs the harmless
/// rename-limit and auto-gc notices as warnings instead), logs `stderr is not empty`, and
/// then writes `[]` and exits 0 as if the history were clean: an unknown revision in
/// `--log-opts`, a shallow clone, "dubious ownership", a missing object. These lines are
/// the only sign that nothing, or only part of the history, was scanned.
pub fn git_errors(stderr: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stderr);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = crate::logscan::normalise::strip_ansi(line);
        // `9:14PM ERR [git] fatal: …`: the level comes right after the short timestamp.
        let Some(rest) = ["ERR ", "FTL "].iter().find_map(|level| {
            let at = line.find(level)?;
            (at <= 12).then(|| line[at + level.len()..].trim())
        }) else {
            continue;
        };
        if let Some(git) = rest.strip_prefix("[git]") {
            let git = git.trim();
            if !git.is_empty() {
                out.push(format!("git: {git}"));
            }
        } else if rest.contains("stderr is not empty")
            || rest.contains("failed to scan Git repository")
        {
            out.push(rest.to_owned());
        }
    }
    out
}

/// The options of `git log` that send its output (the patches, secrets included) or a
/// transformed history somewhere else; the first one found in `opts`.
fn forbidden_log_opt(opts: &str) -> Option<&str> {
    const FORBIDDEN: &[&str] = &["--output", "--ext-diff", "--textconv"];
    opts.split_whitespace().find(|w| {
        let name = w.trim_matches(|c| c == '"' || c == '\'');
        let name = name.split('=').next().unwrap_or(name);
        FORBIDDEN.contains(&name)
    })
}

/// Gitleaks' "N commits scanned." line (info level), in git mode.
pub fn commits_scanned(stderr: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(stderr);
    text.lines().find_map(|line| {
        let line = crate::logscan::normalise::strip_ansi(line);
        let at = line.find(" commits scanned")?;
        line[..at].rsplit(' ').next()?.trim().parse().ok()
    })
}

/// A repository's `.gitleaks.toml` as the gate runs it.
#[derive(Debug)]
pub struct SafeConfig {
    /// The config to pass with `--config`.
    pub toml: String,
    /// What was taken out or changed, for the gate's notes.
    pub changes: Vec<String>,
}

/// Keeps a repository's own rules but not what would drop findings before the allowlist
/// sees them: allowlists (top level and per rule, old and new spellings), disabled
/// rules, and configs pulled in by path or URL (they may hold either). Gitleaks' default
/// rules are always included, so a file with one harmless rule cannot replace them.
/// `None` (no file) gives the default rules alone.
pub fn safe_config(text: Option<&str>) -> Result<SafeConfig, String> {
    let mut doc: toml::Table = match text {
        Some(t) => t.parse().map_err(|e: toml::de::Error| e.to_string())?,
        None => toml::Table::new(),
    };
    let mut changes = Vec::new();
    for key in ["allowlist", "allowlists"] {
        if let Some(v) = doc.remove(key) {
            changes.push(format!("top-level {key} ({} entry(ies))", entries(&v)));
        }
    }
    let extend = doc
        .entry("extend")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or("`extend` must be a table")?;
    for key in ["disabledRules", "path", "url"] {
        if let Some(v) = extend.remove(key) {
            changes.push(format!("extend.{key} = {v}"));
        }
    }
    if text.is_some() && extend.get("useDefault").and_then(toml::Value::as_bool) != Some(true) {
        changes.push("Gitleaks' default rules added (the file did not extend them)".into());
    }
    extend.insert("useDefault".into(), true.into());
    if let Some(rules) = doc.get_mut("rules") {
        let rules = rules
            .as_array_mut()
            .ok_or("`rules` must be an array of tables ([[rules]])")?;
        for rule in rules.iter_mut().filter_map(toml::Value::as_table_mut) {
            let id = rule
                .get("id")
                .and_then(toml::Value::as_str)
                .unwrap_or("?")
                .to_owned();
            for key in ["allowlist", "allowlists"] {
                if let Some(v) = rule.remove(key) {
                    changes.push(format!("rule {id}: {key} ({} entry(ies))", entries(&v)));
                }
            }
        }
    }
    let toml = toml::to_string(&doc).map_err(|e| e.to_string())?;
    Ok(SafeConfig { toml, changes })
}

fn entries(v: &toml::Value) -> usize {
    v.as_array().map_or(1, Vec::len)
}

/// How many fingerprints a `.gitleaksignore` lists (`#` starts a comment).
pub fn ignore_entries(text: &str) -> usize {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .count()
}

/// `file` relative to `base` when it lies under it, comparing lexically cleaned paths
/// (no `.`, `dir/..` folded, as Go's `filepath.Clean` does to the path Gitleaks is given);
/// `None` when `base` is the working directory or `file` is elsewhere.
fn relative_to(file: &str, base: &std::path::Path) -> Option<String> {
    use std::path::{Component, Path};
    fn clean(p: &Path) -> Vec<Component<'_>> {
        let mut out: Vec<Component<'_>> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out
    }
    let base = clean(base);
    if base.is_empty() {
        return None;
    }
    let file = clean(Path::new(file));
    let rest = file.strip_prefix(base.as_slice())?;
    let rel: std::path::PathBuf = rest.iter().collect();
    Some(rel.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_mode_paths_become_relative_to_the_scanned_path() {
        let p = std::path::Path::new;
        assert_eq!(
            relative_to("../repo/config/app env#1.env", p("./../repo/")).as_deref(),
            Some("config/app env#1.env")
        );
        assert_eq!(
            relative_to("/abs/repo/a.env", p("/abs/repo")).as_deref(),
            Some("a.env")
        );
        assert_eq!(
            relative_to("repo/a.env", p("pipeline/./../repo/")).as_deref(),
            Some("a.env")
        );
        assert_eq!(relative_to("a.env", p(".")), None);
        assert_eq!(relative_to("other/a.env", p("repo")), None);
    }

    #[test]
    fn repository_config_keeps_rules_and_loses_what_drops_findings() {
        let text = r#"
title = "acme"
[extend]
useDefault = true
disabledRules = ["aws-access-token"]
path = "more.toml"
[allowlist]
paths = ['''config/.*''']
[[allowlists]]
regexes = ['''AKIA.*''']
[[allowlists]]
commits = ["abc"]
[[rules]]
id = "acme-token"
regex = '''acme_[a-z0-9]{20}'''
[rules.allowlist]
paths = ['''test/.*''']
[[rules]]
id = "acme-key"
regex = '''acmekey_[a-z0-9]{20}'''
[[rules.allowlists]]
stopwords = ["example"]
"#;
        let safe = safe_config(Some(text)).unwrap();
        let back: toml::Table = safe.toml.parse().unwrap();
        assert!(back.get("allowlist").is_none() && back.get("allowlists").is_none());
        let extend = back["extend"].as_table().unwrap();
        assert_eq!(
            extend.get("useDefault").and_then(toml::Value::as_bool),
            Some(true)
        );
        assert!(extend.get("disabledRules").is_none() && extend.get("path").is_none());
        let rules = back["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["regex"].as_str(), Some("acme_[a-z0-9]{20}"));
        assert!(
            rules
                .iter()
                .all(|r| r.get("allowlist").is_none() && r.get("allowlists").is_none())
        );
        assert_eq!(back["title"].as_str(), Some("acme"));
        let changes = safe.changes.join("; ");
        for want in [
            "top-level allowlist (1 entry(ies))",
            "top-level allowlists (2 entry(ies))",
            "extend.disabledRules",
            "extend.path",
            "rule acme-token: allowlist",
            "rule acme-key: allowlists (1 entry(ies))",
        ] {
            assert!(changes.contains(want), "{want}: {changes}");
        }
    }

    #[test]
    fn default_rules_are_always_in() {
        let none = safe_config(None).unwrap();
        assert!(none.changes.is_empty());
        let back: toml::Table = none.toml.parse().unwrap();
        assert_eq!(back["extend"]["useDefault"].as_bool(), Some(true));
        let own_only = safe_config(Some("[[rules]]\nid = \"x\"\nregex = '''x'''\n")).unwrap();
        assert!(
            own_only.changes[0].contains("default rules added"),
            "{:?}",
            own_only.changes
        );
        assert!(safe_config(Some("extend = 3")).is_err());
        assert!(safe_config(Some("[[rules]\n")).is_err());
    }

    #[test]
    fn git_failures_in_the_log_are_found_with_or_without_colour() {
        // As gitleaks 8.30.1 logs an unknown revision in --log-opts (exit 0, report `[]`).
        let plain = b"9:19PM ERR [git] fatal: ambiguous argument 'origin/main..HEAD': unknown revision or path not in the working tree.\n\
9:19PM ERR [git] Use '--' to separate paths from revisions, like this:\n\
9:19PM ERR error=\"stderr is not empty\"\n";
        let errs = git_errors(plain);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("git: fatal: ambiguous argument 'origin/main..HEAD'"));
        let coloured = "\u{1b}[90m9:14PM\u{1b}[0m \u{1b}[31mERR\u{1b}[0m \u{1b}[1m[git] fatal: unable to read 45b983be36b73c0788dc9cbcb76cbb80fc7bb057\u{1b}[0m\n";
        assert_eq!(
            git_errors(coloured.as_bytes()),
            ["git: fatal: unable to read 45b983be36b73c0788dc9cbcb76cbb80fc7bb057"]
        );
        assert_eq!(
            git_errors(
                b"12:00PM ERR failed to scan Git repository error=\"stderr is not empty\"\n"
            )
            .len(),
            1
        );
    }

    #[test]
    fn warnings_and_ordinary_log_lines_are_not_git_failures() {
        let log = b"9:19PM WRN leaks found: 1\n\
9:19PM WRN inexact rename detection was skipped due to too many files.\n\
9:19PM INF 2 commits scanned.\n\
9:19PM ERR [git]\n\
a file mentioning [git] ERR in passing\n";
        assert!(git_errors(log).is_empty(), "{:?}", git_errors(log));
    }

    #[test]
    fn commits_scanned_and_forbidden_log_opts() {
        assert_eq!(
            commits_scanned(b"9:19PM WRN leaks found: 1\n9:19PM INF 2 commits scanned.\n"),
            Some(2)
        );
        assert_eq!(
            commits_scanned(b"\x1b[90m9:19PM\x1b[0m INF 0 commits scanned.\n"),
            Some(0)
        );
        assert_eq!(commits_scanned(b"9:19PM INF scan completed\n"), None);
        assert_eq!(
            forbidden_log_opt("--all --output=/tmp/x"),
            Some("--output=/tmp/x")
        );
        assert_eq!(
            forbidden_log_opt("--ext-diff HEAD~3..HEAD"),
            Some("--ext-diff")
        );
        assert_eq!(forbidden_log_opt("origin/main..HEAD --first-parent"), None);
    }

    #[test]
    fn ignore_entries_skip_comments_and_blank_lines() {
        assert_eq!(
            ignore_entries(
                "# accepted\n\nabc:app.env:aws-access-token:1\napp.env:generic-api-key:3 # old\n"
            ),
            2
        );
        assert_eq!(ignore_entries("# nothing\n"), 0);
    }

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
