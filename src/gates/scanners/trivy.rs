//! The image gate's scanner, Trivy: its command line (without ignore files, config files
//! or narrowing variables) and its JSON report (`--format json`, schema version 2) into
//! findings: vulnerabilities, secrets and failed misconfigurations alike.
//!
//! Parsed straight from the bytes with borrowed strings and without an intermediate
//! `Value`, because image reports run to tens of megabytes. Lenient on purpose: a clean
//! report has no `Results` key at all, every list inside a result is optional, and newer
//! Trivy versions add fields; only a missing `SchemaVersion` or a wrong type is an
//! unknown shape.
//!
//! Large reports are parsed on two threads: parsing is most of an image gate's time, and a
//! report is mostly the `Results` array, whose elements parse independently. A quick scan
//! finds the elements; anything it does not expect (or any parse error) falls back to the
//! one-threaded parse, so results and error messages are those of the plain parse.

use crate::error::{Error, Result};
use crate::gates::exec::Invocation;
use crate::gates::model::{
    Category, Finding, GateKind, InvalidReport, Location, Parsed, Severity, Tool, json_problem,
};
use crate::gates::report::{GateReport, ToolError};
use crate::gates::run::{
    Ctx, FINDINGS_EXIT, ImageSource, image_source, invalid, read_report, run_tool, tempdir,
    withhold_env,
};
use crate::gates::settings::ImageJob;
use serde::Deserialize;
use std::borrow::Cow;
use std::path::Path;

/// The values `[gates.image] scanners` may hold.
const TRIVY_SCANNERS: &[&str] = &["vuln", "secret", "misconfig", "license"];

/// The image gate: Trivy over an image reference or tarball, or a given report.
pub async fn gate(ctx: &Ctx, a: ImageJob) -> Result<GateReport> {
    let kind = GateKind::Image;
    if let Some(r) = &a.report {
        let target = r.display().to_string();
        return Ok(
            match read_report(Tool::Trivy, r)
                .and_then(|b| parse(&b).map_err(|e| invalid(Tool::Trivy, e, None)))
            {
                Ok(p) => ctx.evaluate(kind, target, p, vec![]),
                Err(e) => ctx.error(kind, target, e, vec![]),
            },
        );
    }
    let cfg = &ctx.settings.image;
    let source = image_source(a.image, a.input, "[gates.image]")?;
    let scanners = cfg.scanners.clone();
    if let Some(bad) = scanners
        .iter()
        .find(|s| !TRIVY_SCANNERS.contains(&s.as_str()))
    {
        return Err(Error::Usage(format!(
            "[gates.image] scanners: `{bad}` is not one of {}",
            TRIVY_SCANNERS.join(", ")
        )));
    }
    let mut notes = Vec::new();
    if !scanners.iter().any(|s| s == "vuln") {
        notes.push(
            "vulnerability scanning is off ([gates.image] scanners): CVEs were NOT checked".into(),
        );
    }
    let target = source.describe();
    let tool = match ctx.locate(Tool::Trivy) {
        Ok(t) => t,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    let tmp = tempdir()?;
    let report = tmp.path().join("trivy.json");
    // Trivy reads `.trivyignore` and `trivy.yaml` from the working directory. Either can
    // drop findings (an ignore list, a narrower severity) before shipwatch's allowlist
    // sees them, so Trivy gets empty ones; accepting a finding takes an allowlist entry.
    let no_ignores = tmp.path().join("empty.trivyignore");
    let no_config = tmp.path().join("empty-trivy.yaml");
    for p in [&no_ignores, &no_config] {
        std::fs::write(p, "")
            .map_err(|e| Error::Io(format!("cannot write {}: {e}", p.display())))?;
    }
    for name in [".trivyignore", ".trivyignore.yaml", "trivy.yaml"] {
        if Path::new(name).exists() {
            notes.push(format!(
                "./{name} was not applied: shipwatch runs Trivy without it, so findings are accepted only through the allowlist (reason and expiry)"
            ));
        }
    }
    let set = narrowing_env(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()));
    let inv = withhold_env(
        Invocation::new(&tool),
        set.iter().map(String::as_str),
        ": findings are accepted only through the allowlist",
        &mut notes,
    );
    let mut inv = inv
        .args(["image", "--format", "json", "--output"])
        .arg(&report)
        .arg("--ignorefile")
        .arg(&no_ignores)
        .arg("--config")
        .arg(&no_config)
        .args([
            "--exit-code",
            &FINDINGS_EXIT.to_string(),
            "--skip-check-update",
        ])
        // Trivy has its own 5-minute limit; make it ours so the two cannot disagree.
        .args(["--timeout", &format!("{}s", ctx.timeout.as_secs().max(1))])
        .args(["--scanners", &scanners.join(",")]);
    let config_scanners: Vec<&str> = ["misconfig", "secret"]
        .into_iter()
        .filter(|s| scanners.iter().any(|x| x == s))
        .collect();
    if !config_scanners.is_empty() {
        inv = inv.args(["--image-config-scanners", &config_scanners.join(",")]);
    }
    if let Some(dir) = &cfg.cache_dir {
        inv = inv.arg("--cache-dir").arg(dir);
    }
    if let Some(repo) = &cfg.db_repository {
        inv = inv.args(["--db-repository", repo]);
    }
    inv = match &source {
        ImageSource::Tarball(p) => inv.arg("--input").arg(p),
        ImageSource::Reference(r) => inv.arg(r),
    };
    let ran = match run_tool(Tool::Trivy, &inv, ctx, &[0, FINDINGS_EXIT], Some(&report)).await {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    let parsed = match parse(&ran.report) {
        Ok(p) => p,
        Err(e) => {
            return Ok(ctx.error(kind, target, invalid(Tool::Trivy, e, ran.tail()), notes));
        }
    };
    if ran.code == FINDINGS_EXIT && parsed.findings.is_empty() && parsed.unjudged == 0 {
        let e = ToolError {
            message: format!(
                "trivy signalled findings (exit {FINDINGS_EXIT}) but its report lists none; the report is incomplete or not this run's"
            ),
            stderr_tail: ran.tail(),
        };
        return Ok(ctx.error(kind, target, e, notes));
    }
    Ok(ctx.evaluate(kind, target, parsed, notes))
}

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
    /// `os-pkgs` for the image's distribution packages, whose target is the image's name.
    #[serde(default, borrow)]
    class: Option<Cow<'a, str>>,
    /// The OS family (`alpine`, `debian`, …) for `os-pkgs`; decides the package database.
    #[serde(rename = "Type", default, borrow)]
    kind: Option<Cow<'a, str>>,
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

/// Reports from this size on are parsed on two threads.
const PARALLEL_FROM: usize = 8 << 20;

pub fn parse(bytes: &[u8]) -> Result<Parsed, InvalidReport> {
    let parallel = bytes.len() >= PARALLEL_FROM
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    if parallel && let Some(p) = parse_split(bytes) {
        return Ok(p);
    }
    parse_serial(bytes)
}

fn parse_serial(bytes: &[u8]) -> Result<Parsed, InvalidReport> {
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
        add_result(&mut out, r);
    }
    license_note(&mut out);
    Ok(out)
}

fn license_note(out: &mut Parsed) {
    if out.unjudged > 0 {
        out.notes.push(format!(
            "{} license finding(s) in the report are not judged by this gate",
            out.unjudged
        ));
    }
}

/// The two-threaded parse; `None` sends the caller to [`parse_serial`]. Accepts exactly
/// what it accepts: the report outside `Results` (with the array replaced by `null`) and
/// every element are parsed in full, and the scan checks what lies between elements.
fn parse_split(bytes: &[u8]) -> Option<Parsed> {
    let layout = results_layout(bytes)?;
    if layout.elements.is_empty() {
        return None;
    }
    let mut head = Vec::with_capacity(bytes.len() - (layout.array.end - layout.array.start) + 4);
    head.extend_from_slice(&bytes[..layout.array.start]);
    head.extend_from_slice(b"null");
    head.extend_from_slice(&bytes[layout.array.end..]);
    let report: Report = serde_json::from_slice(&head).ok()?;
    if report.schema_version != 2 {
        return None;
    }
    // Split where half the bytes are, not half the elements: results vary in size.
    let half = layout.array.start + (layout.array.end - layout.array.start) / 2;
    let cut = layout
        .elements
        .iter()
        .position(|e| e.start >= half)
        .unwrap_or(layout.elements.len());
    let (first, second) = layout.elements.split_at(cut);
    let parse_part = |ranges: &[std::ops::Range<usize>]| -> Option<Parsed> {
        let mut out = Parsed::default();
        for r in ranges {
            let mut de = serde_json::Deserializer::from_slice(&bytes[r.clone()]);
            let result = TrivyResult::deserialize(&mut de).ok()?;
            de.end().ok()?;
            add_result(&mut out, result);
        }
        Some(out)
    };
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| parse_part(second));
        (parse_part(first), other.join().ok().flatten())
    });
    let (mut out, b) = (a?, b?);
    out.findings.extend(b.findings);
    out.unjudged += b.unjudged;
    license_note(&mut out);
    Some(out)
}

/// Where the root object's `Results` array is, and each of its elements.
struct Layout {
    /// From `[` to just past `]`.
    array: std::ops::Range<usize>,
    elements: Vec<std::ops::Range<usize>>,
}

/// Scans for the root object's `Results` key. `None` when there is none, it is not an
/// array of objects, it appears twice, or the bytes are not shaped as expected.
fn results_layout(b: &[u8]) -> Option<Layout> {
    let mut depth = 0usize;
    let mut found = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = skip_string(b, i)?;
                if depth == 1 && &b[i..end] == b"\"Results\"" {
                    let colon = skip_ws(b, end);
                    if b.get(colon) == Some(&b':') {
                        if found.is_some() {
                            return None;
                        }
                        let start = skip_ws(b, colon + 1);
                        let layout = elements(b, start)?;
                        i = layout.array.end;
                        found = Some(layout);
                        continue;
                    }
                }
                i = end;
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            _ => i += 1,
        }
    }
    found
}

/// The array of objects starting at `start` (which must be its `[`).
fn elements(b: &[u8], start: usize) -> Option<Layout> {
    if b.get(start) != Some(&b'[') {
        return None;
    }
    let mut elements = Vec::new();
    let mut i = skip_ws(b, start + 1);
    if b.get(i) == Some(&b']') {
        return Some(Layout {
            array: start..i + 1,
            elements,
        });
    }
    loop {
        if b.get(i) != Some(&b'{') {
            return None;
        }
        let end = skip_container(b, i)?;
        elements.push(i..end);
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b']') => {
                return Some(Layout {
                    array: start..i + 1,
                    elements,
                });
            }
            _ => return None,
        }
    }
}

/// Just past the object or array opening at `i`. Bracket kinds are not matched here: the
/// element's own parse rejects a mismatch.
fn skip_container(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = skip_string(b, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Just past the string whose opening quote is at `i`. Strings are most of a report's
/// bytes, so this jumps from quote or backslash to the next.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = j + memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[k] == b'\\' {
            j = k + 2;
        } else {
            return Some(k + 1);
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// Adds one result's findings (and its count of unjudged license findings) to `out`.
fn add_result(out: &mut Parsed, r: TrivyResult<'_>) {
    out.unjudged += r.licenses.as_ref().map_or(0, Vec::len);
    let target = r.target;
    // OS packages come with the image's name as their target (`web:1 (alpine 3.19.1)`),
    // which is no file: they are located at the package database that lists them.
    let os_db = (r.class.as_deref() == Some("os-pkgs"))
        .then(|| os_package_db(r.kind.as_deref().unwrap_or("")));
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
            .or_else(|| os_db.map(Cow::Borrowed))
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
            severity: Severity::judge(&v.severity).0,
            location: Location {
                file: Some(file.into_owned()),
                line: None,
                package: Some(v.pkg_name.into_owned()),
                version: Some(v.installed_version.into_owned()),
            },
            fix_available,
            fixed_version: fixed.map(Cow::into_owned),
            unrecognised_severity: Severity::judge(&v.severity).1,
            url: v.primary_url.map(Cow::into_owned),
        });
    }
    for m in r.misconfigurations.unwrap_or_default() {
        // PASS and EXCEPTION entries only appear with --include-non-failures; they are not
        // findings. Anything else (FAIL, a check that errored, no status at all) is: a
        // misconfiguration is never let through because its status was not the word FAIL.
        if ["PASS", "EXCEPTION"]
            .iter()
            .any(|s| m.status.eq_ignore_ascii_case(s))
        {
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
            severity: Severity::judge(&m.severity).0,
            title,
            location: Location {
                file: Some(target.to_string()),
                line,
                package: None,
                version: None,
            },
            fix_available: true,
            fixed_version: None,
            unrecognised_severity: Severity::judge(&m.severity).1,
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
            severity: Severity::judge(&s.severity).0,
            title: s.title.into_owned(),
            location: Location {
                file: Some(target.to_string()),
                line,
                package: None,
                version: None,
            },
            fix_available: true,
            fixed_version: None,
            unrecognised_severity: Severity::judge(&s.severity).1,
            url: None,
        });
    }
}

/// Where an OS family keeps its installed-package database inside the image, relative to
/// the image's root (what Trivy read the packages from).
fn os_package_db(family: &str) -> &'static str {
    match family {
        "alpine" | "wolfi" | "chainguard" => "lib/apk/db/installed",
        "debian" | "ubuntu" | "distroless" => "var/lib/dpkg/status",
        "opensuse"
        | "opensuse.leap"
        | "opensuse.tumbleweed"
        | "sles"
        | "suse linux enterprise micro" => "usr/lib/sysimage/rpm/Packages.db",
        "cbl-mariner" | "azurelinux" => "var/lib/rpm/rpmdb.sqlite",
        "photon" | "redhat" | "centos" | "rocky" | "alma" | "amazon" | "oracle" | "fedora" => {
            "var/lib/rpm/Packages"
        }
        // Unknown family: the directory every distribution keeps its package state under.
        _ => "var/lib",
    }
}

/// Trivy variables that say where to reach things (caches, databases, registries,
/// servers) or how much to print, and cannot change what is found.
const TRIVY_ENV_KEPT: &[&str] = &[
    "TRIVY_CACHE_DIR",
    "TRIVY_CACHE_BACKEND",
    "TRIVY_CACHE_TTL",
    "TRIVY_REDIS_CA",
    "TRIVY_REDIS_CERT",
    "TRIVY_REDIS_KEY",
    "TRIVY_REDIS_TLS",
    "TRIVY_DB_REPOSITORY",
    "TRIVY_JAVA_DB_REPOSITORY",
    "TRIVY_CHECKS_BUNDLE_REPOSITORY",
    "TRIVY_SKIP_DB_UPDATE",
    "TRIVY_SKIP_JAVA_DB_UPDATE",
    "TRIVY_SKIP_CHECK_UPDATE",
    "TRIVY_NO_PROGRESS",
    "TRIVY_QUIET",
    "TRIVY_DEBUG",
    "TRIVY_INSECURE",
    "TRIVY_USERNAME",
    "TRIVY_PASSWORD",
    "TRIVY_PASSWORD_STDIN",
    "TRIVY_REGISTRY_TOKEN",
    "TRIVY_PLATFORM",
    "TRIVY_DOCKER_HOST",
    "TRIVY_PODMAN_HOST",
    "TRIVY_IMAGE_SRC",
    "TRIVY_OFFLINE_SCAN",
    "TRIVY_SERVER",
    "TRIVY_TOKEN",
    "TRIVY_TOKEN_HEADER",
    "TRIVY_CUSTOM_HEADERS",
    "TRIVY_DISABLE_TELEMETRY",
];

/// Of the environment's variable names, the `TRIVY_*` ones to take away from Trivy:
/// every flag can also be set as a variable, so `TRIVY_SEVERITY=CRITICAL` or
/// `TRIVY_IGNORE_UNFIXED=true` in a build agent's environment would drop findings
/// before the allowlist sees them. Only the ones in `TRIVY_ENV_KEPT` stay.
pub fn narrowing_env(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("TRIVY_") && !TRIVY_ENV_KEPT.contains(&n.as_str()))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn trivy_variables_that_narrow_results_are_taken_away() {
        let names = [
            "PATH",
            "TRIVY_SEVERITY",
            "TRIVY_CACHE_DIR",
            "TRIVY_IGNORE_UNFIXED",
            "TRIVY_USERNAME",
            "TRIVY_SKIP_DIRS",
            "NOT_TRIVY_SEVERITY",
        ]
        .map(String::from);
        assert_eq!(
            super::narrowing_env(names),
            ["TRIVY_IGNORE_UNFIXED", "TRIVY_SEVERITY", "TRIVY_SKIP_DIRS"]
        );
    }

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
    fn misconfigurations_count_unless_they_passed() {
        let report = |status: &str| {
            format!(
                r#"{{"SchemaVersion":2,"Results":[{{"Target":"Dockerfile","Class":"config","Misconfigurations":[
                {{"ID":"DS002","AVDID":"AVD-DS-0002","Title":"root user","Severity":"HIGH"{status}}}]}}]}}"#
            )
        };
        for status in [r#","Status":"FAIL""#, r#","Status":"ERROR""#, ""] {
            let p = parse(report(status).as_bytes()).unwrap();
            assert_eq!(p.findings.len(), 1, "status {status:?}");
        }
        for status in [r#","Status":"PASS""#, r#","Status":"exception""#] {
            assert!(
                parse(report(status).as_bytes())
                    .unwrap()
                    .findings
                    .is_empty()
            );
        }
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
            "openssl@1.1.1c-r0 (lib/apk/db/installed)",
            "an OS package is located at the image's package database"
        );
        let unfixed = &p.findings[1];
        assert!(!unfixed.fix_available);
        assert_eq!(unfixed.title, "CVE-2019-1563");
        assert_eq!(p.findings[2].severity, Severity::High);
        assert_eq!(p.findings[3].location.to_string(), "/app/.env:2");
        assert_eq!(p.findings[3].category, Category::Secret);
    }

    #[test]
    fn split_parse_matches_the_plain_parse() {
        // Pretty-printed as Trivy writes it, with a quote, a backslash and brackets in a
        // title, and a nested `Results` key that is not the report's.
        let mut report = String::from(
            "{\n  \"SchemaVersion\": 2,\n  \"Metadata\": {\"Results\": [1]},\n  \"Results\": [\n",
        );
        for i in 0..6 {
            if i > 0 {
                report.push_str(",\n");
            }
            report.push_str(&format!(
                r#"    {{"Target": "t{i}", "Vulnerabilities": [{{"VulnerabilityID": "CVE-{i}", "PkgName": "p", "InstalledVersion": "1", "Severity": "HIGH", "Title": "a \"q\" \\ ]}}"}}], "Licenses": [{{"Name": "MIT"}}]}}"#
            ));
        }
        report.push_str("\n  ]\n}\n");
        let split = parse_split(report.as_bytes()).expect("the split parse applies");
        let serial = parse_serial(report.as_bytes()).unwrap();
        assert_eq!(split.findings, serial.findings);
        assert_eq!(split.findings[5].title, "a \"q\" \\ ]}");
        assert_eq!(split.notes, serial.notes);
        assert_eq!(split.unjudged, 6);
    }

    #[test]
    fn split_parse_leaves_anything_unexpected_to_the_plain_parse() {
        let ok = r#"{"SchemaVersion":2,"Results":[{"Target":"a"},{"Target":"b"}]}"#;
        assert!(parse_split(ok.as_bytes()).is_some());
        for other in [
            r#"{"SchemaVersion":2,"Results":[{"Target":"a"},,{"Target":"b"}]}"#,
            r#"{"SchemaVersion":2,"Results":[{"Target":"a"}]} x"#,
            r#"{"SchemaVersion":2,"Results":[{"Target":"a"}],"Results":[]}"#,
            r#"{"SchemaVersion":1,"Results":[{"Target":"a"}]}"#,
            r#"{"SchemaVersion":2,"Results":[{"Target":"a"]}"#,
            r#"{"SchemaVersion":2,"Results":[{"Target":"a"}"#,
            r#"{"SchemaVersion":2,"Results":[]}"#,
            r#"{"SchemaVersion":2,"Results":null}"#,
        ] {
            assert!(parse_split(other.as_bytes()).is_none(), "{other}");
        }
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
