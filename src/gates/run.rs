//! What every gate shares: the context, running a scanner and the checks that tell a
//! clean run from a broken one, reading a report handed over with `--report`, then policy
//! and allowlist. Each scanner's own command line and parser are in [`super::scanners`].
//!
//! Every scanner writes to a fresh file in a temporary directory (Gitleaks deletes and
//! recreates its report path, so it must never be a shared or special file), exits with a
//! findings code distinct from its error code where it has one, and has update checks off.
//! A gate returns a [`GateReport`] even when its tool failed; only usage mistakes are `Err`.

use super::allowlist::Allowlist;
use super::exec::{self, Invocation, RunError};
use super::model::{GateKind, InvalidReport, Parsed, Tool};
use super::policy;
use super::report::{GateReport, Status, ToolError};
use super::settings::{Policy, Settings};
use super::tools;
use crate::error::{Error, Result};
use crate::signals::Abort;
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The exit code shipwatch asks Gitleaks and Trivy to use for findings; their own
/// errors exit 1, so 0 / 3 / anything else are clean / findings / broken.
pub(super) const FINDINGS_EXIT: i32 = 3;

/// Everything a gate needs besides its own flags.
pub struct Ctx {
    pub settings: Settings,
    pub timeout: Duration,
    pub allowlist: Allowlist,
    pub today: NaiveDate,
    /// Where outputs go; the SBOM gate also copies its SBOMs here.
    pub out_dir: PathBuf,
    /// SIGTERM/SIGINT: stops the running tool's process group.
    pub abort: Abort,
}

impl Ctx {
    pub(super) fn policy(&self, kind: GateKind) -> &Policy {
        self.settings.policy(kind)
    }

    pub(super) fn locate(&self, tool: Tool) -> std::result::Result<PathBuf, ToolError> {
        tools::locate(tool, &self.settings.tools)
            .map(|l| l.path)
            .map_err(|message| ToolError {
                message: format!("tool missing: {message}"),
                stderr_tail: None,
            })
    }

    pub(super) fn evaluate(
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
        let mut words: Vec<&str> = ev
            .findings
            .iter()
            .map(|e| &e.finding)
            .filter_map(|f| f.unrecognised_severity.as_deref())
            .collect();
        if !words.is_empty() {
            let n = words.len();
            words.sort_unstable();
            words.dedup();
            notes.push(format!(
                "{n} finding(s) have a severity {tool} does not define ({}): they count as UNKNOWN and fail unless the policy fails nothing of their kind",
                words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        GateReport::from_evaluation(kind, tool, target, policy.describe(kind), ev, notes)
    }

    pub(super) fn error(
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
pub(super) struct Ran {
    pub(super) code: i32,
    pub(super) report: Vec<u8>,
    pub(super) stderr: Vec<u8>,
}

impl Ran {
    pub(super) fn tail(&self) -> Option<String> {
        exec::tail(&self.stderr, exec::TAIL_LINES)
    }
}

/// Runs `inv`; `ok_codes` are the exit codes after which a report is expected. The report
/// is `report_file` when given (it must exist and be non-empty), else stdout.
pub(super) async fn run_tool(
    tool: Tool,
    inv: &Invocation,
    ctx: &Ctx,
    ok_codes: &[i32],
    report_file: Option<&Path>,
) -> std::result::Result<Ran, ToolError> {
    let out = match exec::run(inv, ctx.timeout, &ctx.abort).await {
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
        Err(RunError::Aborted { signal, stderr }) => {
            return Err(ToolError {
                message: aborted_message(signal, Some(tool)),
                stderr_tail: exec::tail(&stderr, exec::TAIL_LINES),
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

/// What an aborted gate says; `tool` when it was running one.
pub fn aborted_message(signal: i32, tool: Option<Tool>) -> String {
    let name = crate::signals::name(signal);
    match tool {
        Some(t) => format!(
            "the gate was aborted ({name}, signal {signal}) while {t} was running; {t}'s processes were stopped and no result can be trusted"
        ),
        None => format!("the gate was aborted ({name}, signal {signal}); no result can be trusted"),
    }
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

pub(super) fn invalid(tool: Tool, e: InvalidReport, tail: Option<String>) -> ToolError {
    ToolError {
        message: format!("{tool}'s report is unusable: {e}"),
        stderr_tail: tail,
    }
}

/// Reads a report named with `--report`; a missing or unreadable file is the tool's
/// failure (the pipeline step that should have written it did not).
pub(super) fn read_report(tool: Tool, p: &Path) -> std::result::Result<ReportBytes, ToolError> {
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
pub(super) enum ReportBytes {
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

pub(super) fn need_dir(p: &Path, what: &str) -> Result<()> {
    if p.is_dir() {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{what} {} does not exist or is not a directory",
            p.display()
        )))
    }
}

pub(super) fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("shipwatch-gate-")
        .tempdir()
        .map_err(|e| Error::Io(format!("cannot create a temporary directory: {e}")))
}

/// What the image and SBOM gates scan: an image by reference, or a `docker save` tarball.
pub(super) enum ImageSource {
    Reference(String),
    Tarball(PathBuf),
}

impl ImageSource {
    pub(super) fn describe(&self) -> String {
        match self {
            ImageSource::Reference(r) => r.clone(),
            ImageSource::Tarball(p) => format!("{} (image tarball)", p.display()),
        }
    }
}

pub(super) fn image_source(
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

/// Takes away from a tool each of `vars` that is set in shipwatch's environment, with a
/// note naming it (`why` is appended): each would change what the tool reports without
/// an allowlist entry.
pub(super) fn withhold_env<'a>(
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
