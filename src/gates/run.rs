//! Running each gate: settings from flags and `[gates]`, the scanner's safe command line,
//! the checks that tell a clean run from a broken one, then policy and allowlist.
//!
//! Every scanner writes to a fresh file in a temporary directory (Gitleaks deletes and
//! recreates its report path, so it must never be a shared or special file), exits with a
//! findings code distinct from its error code where it has one, and has update checks off.
//! A gate returns a [`GateReport`] even when its tool failed; only usage mistakes are `Err`.

use super::allowlist::Allowlist;
use super::checkov;
use super::exec::{self, Invocation, RunError};
use super::model::{Category, Finding, GateKind, InvalidReport, Location, Parsed, Severity, Tool};
use super::policy::{self, Evaluated, Verdict};
use super::report::{GateReport, SbomSummary, Status, ToolError};
use super::settings::{DepsJob, IacJob, ImageJob, Policy, SbomJob, SecretsJob, Settings};
use super::{gitleaks, npm, syft, tools, trivy};
use crate::error::{Error, Result};
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The exit code shipwatch asks Gitleaks and Trivy to use for findings; their own
/// errors exit 1, so 0 / 3 / anything else are clean / findings / broken.
const FINDINGS_EXIT: i32 = 3;

/// Everything a gate needs besides its own flags.
pub struct Ctx {
    pub settings: Settings,
    pub timeout: Duration,
    pub allowlist: Allowlist,
    pub today: NaiveDate,
    /// Where outputs go; the SBOM gate also copies its SBOMs here.
    pub out_dir: PathBuf,
}

impl Ctx {
    fn policy(&self, kind: GateKind) -> &Policy {
        self.settings.policy(kind)
    }

    fn locate(&self, tool: Tool) -> std::result::Result<PathBuf, ToolError> {
        tools::locate(tool, &self.settings.tools)
            .map(|l| l.path)
            .map_err(|message| ToolError {
                message: format!("tool missing: {message}"),
                stderr_tail: None,
            })
    }

    fn evaluate(
        &self,
        kind: GateKind,
        target: String,
        parsed: Parsed,
        extra_notes: Vec<String>,
    ) -> GateReport {
        tracing::debug!("{kind}: {} finding(s) parsed", parsed.findings.len());
        let policy = self.policy(kind);
        let tool = kind.tool();
        let ev = policy::evaluate(
            parsed.findings,
            policy,
            &self.allowlist,
            &[tool],
            self.today,
        );
        let mut notes = extra_notes;
        notes.extend(parsed.notes);
        GateReport::from_evaluation(kind, tool, target, policy.describe(kind), ev, notes)
    }

    fn error(
        &self,
        kind: GateKind,
        target: String,
        err: ToolError,
        notes: Vec<String>,
    ) -> GateReport {
        GateReport::error(kind, target, self.policy(kind).describe(kind), err, notes)
    }
}

/// What a finished scanner run produced.
struct Ran {
    code: i32,
    report: Vec<u8>,
    stderr: Vec<u8>,
}

impl Ran {
    fn tail(&self) -> Option<String> {
        exec::tail(&self.stderr, exec::TAIL_LINES)
    }
}

/// Runs `inv`; `ok_codes` are the exit codes after which a report is expected. The report
/// is `report_file` when given (it must exist and be non-empty), else stdout.
async fn run_tool(
    tool: Tool,
    inv: &Invocation,
    timeout: Duration,
    ok_codes: &[i32],
    report_file: Option<&Path>,
) -> std::result::Result<Ran, ToolError> {
    let out = match exec::run(inv, timeout).await {
        Ok(out) => out,
        Err(RunError::Spawn(e)) => {
            return Err(ToolError {
                message: format!("tool missing: cannot start {}: {e}", inv.program.display()),
                stderr_tail: None,
            });
        }
        Err(RunError::TimedOut { after, stderr }) => {
            return Err(ToolError {
                message: format!(
                    "{tool} did not finish within {} and was killed; raise --timeout or [gates] timeout if the scan is legitimately slow",
                    humantime::format_duration(after)
                ),
                stderr_tail: exec::tail(&stderr, exec::TAIL_LINES),
            });
        }
        Err(RunError::Io(e)) => {
            return Err(ToolError {
                message: format!("running {tool} failed: {e}"),
                stderr_tail: None,
            });
        }
    };
    let tail = out.stderr_tail();
    let code = match out.code {
        Some(c) => c,
        None => {
            return Err(ToolError {
                message: format!("{tool} was killed by a signal"),
                stderr_tail: tail,
            });
        }
    };
    if !ok_codes.contains(&code) {
        let message = hint(tool, &out.stderr).unwrap_or_else(|| {
            format!("{tool} crashed or failed (exit code {code}); no result can be trusted")
        });
        return Err(ToolError {
            message,
            stderr_tail: tail,
        });
    }
    let report = match report_file {
        Some(p) => match std::fs::read(p) {
            Ok(b) => b,
            Err(e) => {
                return Err(ToolError {
                    message: format!(
                        "{tool} exited {code} but did not write its report ({}: {e})",
                        p.display()
                    ),
                    stderr_tail: tail,
                });
            }
        },
        None => out.stdout,
    };
    Ok(Ran {
        code,
        report,
        stderr: out.stderr,
    })
}

/// A clearer message for failures whose stderr is recognisable.
fn hint(tool: Tool, stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    match tool {
        Tool::Trivy if text.contains("DB error") || text.contains("vulnerability DB") || text.contains("cannot skip downloading DB") => Some(
            "Trivy could not load its vulnerability database, so no vulnerability was checked (this is not \"0 vulnerabilities\"). \
             On an offline agent, pre-seed a Trivy cache and set [gates.image] cache_dir, or point [gates.image] db_repository at a reachable mirror; \
             to check only secrets and misconfigurations, set [gates.image] scanners = [\"secret\", \"misconfig\"]"
                .into(),
        ),
        Tool::Trivy if text.contains("unable to initialize") && text.contains("image") => Some(
            "Trivy could not open the image: no registry or daemon has it, or the tarball is not `docker save` output; on agents without either, pass --input <tarball>"
                .into(),
        ),
        Tool::Syft if text.contains("could not determine source") || text.contains("unable to") => {
            Some("Syft could not read the source (image not in a reachable registry or daemon, or a bad path); on agents without either, pass --input <tarball>".into())
        }
        _ => None,
    }
}

fn invalid(tool: Tool, e: InvalidReport, tail: Option<String>) -> ToolError {
    ToolError {
        message: format!("{tool}'s report is unusable: {e}"),
        stderr_tail: tail,
    }
}

/// Reads a report named with `--report`; a missing or unreadable file is the tool's
/// failure (the pipeline step that should have written it did not).
fn read_report(tool: Tool, p: &Path) -> std::result::Result<ReportBytes, ToolError> {
    tracing::debug!("reading {}", p.display());
    let t = std::time::Instant::now();
    let bytes = ReportBytes::open(p).map_err(|e| ToolError {
        message: format!("cannot read the {tool} report {}: {e}", p.display()),
        stderr_tail: None,
    })?;
    tracing::debug!("read {} bytes in {:?}", bytes.len(), t.elapsed());
    Ok(bytes)
}

/// A report file's bytes: mapped into memory when it is large, read otherwise.
///
/// Mapped because reading a 50 MB image report into a fresh buffer cost more in page
/// faults (each page zeroed, then copied into) than parsing it: the mapping shares the
/// page cache's pages instead, populated in one call. The parsers copy everything they
/// keep, so the mapping lives only while the report is parsed. Like any reader of a
/// mapped file, this assumes nobody rewrites the report while the gate parses it (it was
/// finished by the step that wrote it); a truncated file is one the gate cannot judge
/// anyway.
enum ReportBytes {
    Read(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl ReportBytes {
    /// Below this, reading is as fast as mapping.
    const MAP_FROM: u64 = 4 << 20;

    fn open(p: &Path) -> std::io::Result<ReportBytes> {
        let file = std::fs::File::open(p)?;
        let meta = file.metadata()?;
        if meta.is_file() && meta.len() >= Self::MAP_FROM {
            // SAFETY: the report is a file the scanner has finished writing (or one the
            // pipeline handed over); nothing truncates it while the gate parses it, and
            // the parsers copy whatever they keep before the mapping is dropped.
            // Populating up front turns a fault per page into one call.
            if let Ok(m) = unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
                return Ok(ReportBytes::Mapped(m));
            }
        }
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        std::io::Read::read_to_end(&mut &file, &mut buf)?;
        Ok(ReportBytes::Read(buf))
    }
}

impl std::ops::Deref for ReportBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ReportBytes::Read(v) => v,
            ReportBytes::Mapped(m) => m,
        }
    }
}

fn need_dir(p: &Path, what: &str) -> Result<()> {
    if p.is_dir() {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{what} {} does not exist or is not a directory",
            p.display()
        )))
    }
}

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("shipwatch-gate-")
        .tempdir()
        .map_err(|e| Error::Io(format!("cannot create a temporary directory: {e}")))
}

pub async fn secrets(ctx: &Ctx, a: SecretsJob) -> Result<GateReport> {
    let kind = GateKind::Secrets;
    if let Some(r) = &a.report {
        let target = r.display().to_string();
        return Ok(
            match read_report(Tool::Gitleaks, r)
                .and_then(|b| gitleaks::parse(&b).map_err(|e| invalid(Tool::Gitleaks, e, None)))
            {
                Ok(p) => ctx.evaluate(kind, target, p, vec![]),
                Err(e) => ctx.error(kind, target, e, vec![]),
            },
        );
    }
    let path = a.path;
    need_dir(&path, "the path to scan for secrets")?;
    let log_opts = a.log_opts;
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
        .map(|t| gitleaks::ignore_entries(&t))
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
    let safe = match gitleaks::safe_config(repo_text.as_deref()) {
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
            "--log-level",
            "warn",
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
        ctx.timeout,
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
        let errors = gitleaks::git_errors(&ran.stderr);
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
    let parsed = match gitleaks::parse(&ran.report) {
        Ok(p) => p,
        Err(e) => {
            return Ok(ctx.error(kind, target, invalid(Tool::Gitleaks, e, ran.tail()), notes));
        }
    };
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

const TRIVY_SCANNERS: &[&str] = &["vuln", "secret", "misconfig", "license"];

pub async fn image(ctx: &Ctx, a: ImageJob) -> Result<GateReport> {
    let kind = GateKind::Image;
    if let Some(r) = &a.report {
        let target = r.display().to_string();
        return Ok(
            match read_report(Tool::Trivy, r)
                .and_then(|b| trivy::parse(&b).map_err(|e| invalid(Tool::Trivy, e, None)))
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
    let set = trivy::narrowing_env(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()));
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
    let ran = match run_tool(
        Tool::Trivy,
        &inv,
        ctx.timeout,
        &[0, FINDINGS_EXIT],
        Some(&report),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    let parsed = match trivy::parse(&ran.report) {
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

enum ImageSource {
    Reference(String),
    Tarball(PathBuf),
}

impl ImageSource {
    fn describe(&self) -> String {
        match self {
            ImageSource::Reference(r) => r.clone(),
            ImageSource::Tarball(p) => format!("{} (image tarball)", p.display()),
        }
    }
}

fn image_source(
    image: Option<String>,
    input: Option<PathBuf>,
    section: &str,
) -> Result<ImageSource> {
    match (image, input) {
        (_, Some(p)) => {
            if !p.is_file() {
                return Err(Error::Usage(format!(
                    "image tarball {} does not exist",
                    p.display()
                )));
            }
            Ok(ImageSource::Tarball(p))
        }
        (Some(r), None) => Ok(ImageSource::Reference(r)),
        (None, None) => Err(Error::Usage(format!(
            "no image to scan: pass --image REF or --input TAR, or set image or input in {section}"
        ))),
    }
}

pub async fn sbom(ctx: &Ctx, a: SbomJob) -> Result<GateReport> {
    let kind = GateKind::Sbom;
    if let Some((cdx, spdx)) = &a.given {
        let target = format!("{} + {}", cdx.display(), spdx.display());
        let read = read_report(Tool::Syft, cdx)
            .and_then(|c| read_report(Tool::Syft, spdx).map(|s| (c, s)));
        return Ok(match read {
            Ok((c, s)) => judge_sbom(ctx, target, &c, &s, Vec::new(), None),
            Err(e) => ctx.error(kind, target, e, vec![]),
        });
    }
    let (image, input, dir) = (a.image, a.input, a.dir);
    let (source, name, target) = match dir {
        Some(d) => {
            need_dir(&d, "the directory for the SBOM")?;
            let name = d
                .canonicalize()
                .ok()
                .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "source".into());
            (
                format!("dir:{}", d.display()),
                name,
                d.display().to_string(),
            )
        }
        None => match image_source(image, input, "[gates.sbom]")? {
            ImageSource::Tarball(p) => {
                let name = p
                    .file_stem()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "image".into());
                (
                    format!("docker-archive:{}", p.display()),
                    name,
                    format!("{} (image tarball)", p.display()),
                )
            }
            ImageSource::Reference(r) => {
                let name = r
                    .rsplit('/')
                    .next()
                    .unwrap_or(&r)
                    .split([':', '@'])
                    .next()
                    .unwrap_or("image")
                    .to_owned();
                (r.clone(), name, r)
            }
        },
    };
    let tool = match ctx.locate(Tool::Syft) {
        Ok(t) => t,
        Err(e) => return Ok(ctx.error(kind, target, e, vec![])),
    };
    let tmp = tempdir()?;
    let cdx = tmp.path().join("sbom.cdx.json");
    let spdx = tmp.path().join("sbom.spdx.json");
    // No -q: it hides the reason when Syft fails.
    let inv = Invocation::new(&tool)
        .args(["scan", &source, "--source-name", &name])
        .arg("-o")
        .arg(format!("cyclonedx-json={}", cdx.display()))
        .arg("-o")
        .arg(format!("spdx-json={}", spdx.display()))
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false");
    let ran = match run_tool(Tool::Syft, &inv, ctx.timeout, &[0], Some(&cdx)).await {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, vec![])),
    };
    let spdx_bytes = match std::fs::read(&spdx) {
        Ok(b) => b,
        Err(e) => {
            let err = ToolError {
                message: format!("syft did not write the SPDX SBOM: {e}"),
                stderr_tail: ran.tail(),
            };
            return Ok(ctx.error(kind, target, err, vec![]));
        }
    };
    // Keep the SBOMs as build artifacts beside the gate outputs.
    let mut files = Vec::new();
    for (name, bytes) in [
        ("sbom.cdx.json", &ran.report),
        ("sbom.spdx.json", &spdx_bytes),
    ] {
        let dest = ctx.out_dir.join(name);
        crate::error::write_atomic(&dest, bytes)?;
        files.push(dest.display().to_string());
    }
    Ok(judge_sbom(
        ctx,
        target,
        &ran.report,
        &spdx_bytes,
        files,
        ran.tail(),
    ))
}

fn judge_sbom(
    ctx: &Ctx,
    target: String,
    cdx: &[u8],
    spdx: &[u8],
    files: Vec<String>,
    tail: Option<String>,
) -> GateReport {
    let kind = GateKind::Sbom;
    let counts = syft::cyclonedx(cdx)
        .map_err(|e| InvalidReport(format!("CycloneDX SBOM: {e}")))
        .and_then(|c| {
            syft::spdx(spdx)
                .map_err(|e| InvalidReport(format!("SPDX SBOM: {e}")))
                .map(|s| (c, s))
        });
    let (c, s) = match counts {
        Ok(cs) => cs,
        Err(e) => return ctx.error(kind, target, invalid(Tool::Syft, e, tail), vec![]),
    };
    let summary = SbomSummary {
        cyclonedx: c.clone(),
        spdx: s.clone(),
        files,
    };
    if c.packages != s.packages {
        let err = ToolError {
            message: format!(
                "syft's SBOMs disagree: CycloneDX lists {} package(s), SPDX {}; one of them is incomplete",
                c.packages, s.packages
            ),
            stderr_tail: tail,
        };
        let mut r = ctx.error(kind, target, err, vec![]);
        r.sbom = Some(summary);
        return r;
    }
    let mut findings = Vec::new();
    if c.packages == 0 {
        findings.push(Evaluated {
            finding: Finding {
                tool: Tool::Syft,
                category: Category::Sbom,
                rule_id: "sbom-empty".into(),
                severity: Severity::High,
                title: "The SBOM lists no packages: the source has nothing Syft recognises, or the scan missed it".into(),
                location: Location { file: Some(target.clone()), ..Default::default() },
                fingerprint: format!("sbom-empty:{target}"),
                fix_available: false,
                fixed_version: None,
                url: None,
            },
            verdict: Verdict::Fail,
            allowlisted_by: None,
            expired_entry: None,
        });
    }
    let ev = policy::Evaluation {
        findings,
        expired: Vec::new(),
        stale: Vec::new(),
    };
    let mut r = GateReport::from_evaluation(
        kind,
        Tool::Syft,
        target,
        ctx.policy(kind).describe(kind),
        ev,
        vec![],
    );
    r.summary = if c.packages == 0 {
        "the SBOM is empty (0 packages)".into()
    } else {
        format!("{} package(s); CycloneDX and SPDX agree", c.packages)
    };
    r.sbom = Some(summary);
    r
}

/// Takes away from a tool each of `vars` that is set in shipwatch's environment, with a
/// note naming it (`why` is appended): each would change what the tool reports without
/// an allowlist entry.
fn withhold_env<'a>(
    mut inv: Invocation,
    vars: impl IntoIterator<Item = &'a str>,
    why: &str,
    notes: &mut Vec<String>,
) -> Invocation {
    for var in vars {
        if std::env::var_os(var).is_some() {
            notes.push(format!("{var} is set and was not applied{why}"));
            inv = inv.env_remove(var);
        }
    }
    inv
}

/// Checkov variables that choose which checks run (or which results count).
const CHECKOV_NARROWING_ENV: &[&str] = &[
    "CKV_CHECK",
    "CKV_SKIP_CHECK",
    "CKV_POLICY_METADATA_FILTER",
    "CKV_POLICY_METADATA_FILTER_EXCEPTION",
];

pub async fn iac(ctx: &Ctx, a: IacJob) -> Result<GateReport> {
    let kind = GateKind::Iac;
    let cfg = &ctx.settings.iac;
    let severities = checkov::Severities {
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
            match read_report(Tool::Checkov, r).and_then(|b| {
                checkov::parse(&b, &severities).map_err(|e| invalid(Tool::Checkov, e, None))
            }) {
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
    let ran = match run_tool(Tool::Checkov, &inv, ctx.timeout, &[0, 1], None).await {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, notes)),
    };
    let bytes = match std::fs::read(&report) {
        Ok(b) if !b.is_empty() => b,
        _ => ran.report.clone(),
    };
    Ok(match checkov::parse(&bytes, &severities) {
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

pub async fn deps(ctx: &Ctx, a: DepsJob) -> Result<GateReport> {
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
    if let Some(r) = &a.report {
        let target = r.display().to_string();
        let parsed = read_report(Tool::Npm, r).and_then(|b| {
            npm::parse(&b, lock_bytes.as_deref(), &lock_name)
                .map_err(|e| invalid(Tool::Npm, e, None))
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
    let inv = Invocation::new(&tool)
        .args(["audit", "--json"])
        .cwd(&dir)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false");
    // npm exits 1 for "vulnerabilities found" and for "could not audit": the JSON decides.
    let ran = match run_tool(Tool::Npm, &inv, ctx.timeout, &[0, 1], None).await {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, vec![])),
    };
    Ok(
        match npm::parse(&ran.report, lock_bytes.as_deref(), &lock_name) {
            Ok(p) => ctx.evaluate(kind, target, p, vec![]),
            Err(e) => ctx.error(kind, target, invalid(Tool::Npm, e, ran.tail()), vec![]),
        },
    )
}

/// The overall status of several gates: the most severe one (see [`Status::severity`]).
pub fn worst(reports: &[GateReport]) -> Status {
    reports
        .iter()
        .map(|r| r.status)
        .max_by_key(|s| s.severity())
        .unwrap_or(Status::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::policy::Evaluation;

    fn report(status: Status) -> GateReport {
        let mut r = GateReport::from_evaluation(
            GateKind::Secrets,
            Tool::Gitleaks,
            "repo".into(),
            String::new(),
            Evaluation {
                findings: Vec::new(),
                expired: Vec::new(),
                stale: Vec::new(),
            },
            Vec::new(),
        );
        r.status = status;
        r
    }

    #[test]
    fn worst_is_the_most_severe_outcome() {
        let all = |s: &[Status]| worst(&s.iter().map(|s| report(*s)).collect::<Vec<_>>());
        assert_eq!(all(&[]), Status::Passed);
        assert_eq!(all(&[Status::Passed, Status::Failed]), Status::Failed);
        assert_eq!(
            all(&[Status::Failed, Status::Error, Status::Passed]),
            Status::Error
        );
        assert_eq!(
            all(&[Status::Error, Status::Usage, Status::Failed]),
            Status::Usage
        );
        assert_eq!(
            all(&[Status::Usage, Status::Internal, Status::Error]),
            Status::Internal
        );
        assert_eq!(
            all(&[Status::Usage, Status::Failed]).exit_code(),
            crate::exit::USAGE
        );
    }

    #[test]
    fn a_gate_that_returned_an_error_keeps_the_error_and_its_exit_code() {
        let r = GateReport::not_run(
            GateKind::Iac,
            String::new(),
            &Error::Usage("the Terraform directory terrafrom does not exist".into()),
        );
        assert_eq!(r.status, Status::Usage);
        assert_eq!(r.status.exit_code(), crate::exit::USAGE);
        assert!(r.error.unwrap().message.contains("terrafrom"));
        let r = GateReport::not_run(
            GateKind::Sbom,
            String::new(),
            &Error::Io("cannot create a temporary directory".into()),
        );
        assert_eq!(r.status.exit_code(), crate::exit::INTERNAL);
    }
}
