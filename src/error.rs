//! The one error type: each failure outside shipwatch's control maps to a documented
//! exit code, and renders as a short paragraph saying what is wrong and what to do.

use crate::exit;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or values that clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// A configuration or template file is wrong; `line` points at the culprit when known.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{0}")]
    Precondition(String),
    #[error("{0}")]
    GateFailed(String),
    /// An external tool is missing, crashed, or wrote a report that cannot be trusted.
    #[error("{tool}: {message}{}", stderr_tail.as_ref().map(|t| format!("\n--- last lines of {tool}'s stderr ---\n{t}")).unwrap_or_default())]
    Tool {
        tool: String,
        message: String,
        stderr_tail: Option<String>,
    },
    /// An AWS call failed. `message` is the whole paragraph (what shipwatch was doing,
    /// the operation, the cause, what to do); `cause` the cause in a few words for
    /// retry lines; `transient` whether waiting may help (network, timeouts,
    /// throttling, 5xx), which decides whether a poll is tried again.
    #[error("{message}")]
    Aws {
        operation: String,
        cause: String,
        message: String,
        transient: bool,
        /// AWS was not reached or would not accept the caller at all (network,
        /// timeouts, throttling or server errors past the retries, no or bad
        /// credentials), as opposed to this one call being refused.
        unreachable: bool,
    },
    #[error("{message}")]
    Interrupted { signal: i32, message: String },
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Config { .. } => exit::USAGE,
            Error::Precondition(_) => exit::PRECONDITION,
            Error::GateFailed(_) => exit::GATE_FAILED,
            Error::Tool { .. } => exit::TOOL_FAILED,
            Error::Aws { .. } => exit::AWS_ERROR,
            Error::Interrupted { signal, .. } => {
                if *signal == 2 {
                    exit::INTERRUPTED
                } else {
                    exit::TERMINATED
                }
            }
            Error::Io(_) | Error::Internal(_) => exit::INTERNAL,
        }
    }

    /// Whether AWS could not be reached (or would not accept the caller) at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                unreachable: true,
                ..
            }
        )
    }

    /// Whether this is an AWS failure that may go away by waiting.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                transient: true,
                ..
            }
        )
    }

    pub fn config(
        path: impl Into<PathBuf>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Config {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// A one-word label for JSON output and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Config { .. } => "config",
            Error::Precondition(_) => "precondition",
            Error::GateFailed(_) => "gate_failed",
            Error::Tool { .. } => "tool",
            Error::Aws { .. } => "aws",
            Error::Interrupted { .. } => "interrupted",
            Error::Io(_) => "io",
            Error::Internal(_) => "internal",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks, before any work (and before anything changes in AWS), that `dir` exists or
/// can be created and that this user can write in it; `what` names the output and
/// `change` how to choose another folder. A bad folder is a usage error (exit 2), found
/// before the run rather than after it.
pub fn check_output_dir(dir: &std::path::Path, what: &str, change: &str) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    std::fs::create_dir_all(dir)
        .and_then(|_| tempfile::NamedTempFile::new_in(dir).map(drop))
        .map_err(|e| {
            Error::Usage(format!(
                "cannot write the {what} in {}: {}. Nothing was done; choose a folder this user can write with {change}.",
                dir.display(),
                io_cause(&e)
            ))
        })
}

/// An I/O error in words, without the "(os error N)" suffix.
pub fn io_cause(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, then
/// a rename, so a reader (or a Jenkins archive step after an abort) never sees half a file.
pub fn write_atomic(path: &std::path::Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    write_atomic_with(path, |w| w.write_all(contents))
}

/// What [`write_atomic_with`] hands its writer: buffered, over the temporary file.
pub type AtomicWriter<'a> = std::io::BufWriter<&'a mut std::fs::File>;

/// Like [`write_atomic`], but `write` streams the contents into the temporary file, so
/// large outputs (gate reports run to tens of megabytes) are never held in memory whole.
/// Nothing appears at `path` unless `write` succeeds; the file is synced, then renamed.
pub fn write_atomic_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut AtomicWriter<'_>) -> std::io::Result<()>,
) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Io(format!("cannot create directory {}: {e}", dir.display())))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        Error::Io(format!(
            "cannot create a temporary file in {}: {e}",
            dir.display()
        ))
    })?;
    // 256 KiB: few enough write calls for multi-megabyte files, small enough to stay in cache.
    let written = {
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        write(&mut w).and_then(|_| w.flush())
    };
    written
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))?;
    // A temporary file is created 0600; the report is an ordinary output file, so it
    // gets the mode a plain `File::create` would: 0666 less the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = 0o666 & !current_umask();
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))?;
    }
    tmp.persist(path)
        .map_err(|e| Error::Io(format!("cannot write {}: {}", path.display(), e.error)))?;
    Ok(())
}

/// The process umask: from /proc (no side effect), else by setting and restoring it.
#[cfg(unix)]
fn current_umask() -> u32 {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(m) = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
    {
        return m;
    }
    // SAFETY: umask only swaps the process's mask; it is put back at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_dirs_are_created_or_refused_in_words() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("a/b");
        check_output_dir(&fresh, "report", "--out-dir").unwrap();
        assert!(fresh.is_dir());
        assert_eq!(
            std::fs::read_dir(&fresh).unwrap().count(),
            0,
            "probe left behind"
        );
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        let e = check_output_dir(&file.join("x"), "report", "--out-dir").unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        let text = e.to_string();
        assert!(text.contains("cannot write the report in"), "{text}");
        assert!(!text.contains("os error"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_honours_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.md");
        write_atomic(&p, b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !current_umask());
    }

    #[test]
    fn config_error_names_file_and_line() {
        let e = Error::config("pipeline/shipwatch.toml", Some(7), "unknown key `clustr`");
        assert_eq!(
            e.to_string(),
            "pipeline/shipwatch.toml:7: unknown key `clustr`"
        );
        assert_eq!(e.exit_code(), exit::USAGE);
    }

    #[test]
    fn signals_map_to_130_and_143() {
        let int = Error::Interrupted {
            signal: 2,
            message: String::new(),
        };
        let term = Error::Interrupted {
            signal: 15,
            message: String::new(),
        };
        assert_eq!(int.exit_code(), 130);
        assert_eq!(term.exit_code(), 143);
    }

    #[test]
    fn write_atomic_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "second");
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }
}
