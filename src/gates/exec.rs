//! Running a scanner: a time limit, both pipes drained while it runs, and the tail of
//! its stderr kept for error messages. Knows nothing about reports.
//!
//! The scanner runs in a process group of its own so a timeout can kill the whole tree:
//! the pip-installed tools are Python shims that start the real binary as a child, and a
//! surviving grandchild would hold the pipes open forever. The same group is what an abort
//! (SIGTERM or SIGINT to shipwatch) stops: TERM first so the tool can clean up, KILL after
//! [`ABORT_GRACE`], so no scanner outlives shipwatch.

use crate::signals::Abort;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How many stderr lines error messages quote.
pub const TAIL_LINES: usize = 20;

/// How long an aborted tool's process group has between SIGTERM and SIGKILL. Short: Jenkins
/// follows its own SIGTERM with SIGKILL, and the outputs must be written before that.
pub const ABORT_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub struct Output {
    /// `None` when the process was killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stderr_tail(&self) -> Option<String> {
        tail(&self.stderr, TAIL_LINES)
    }
}

#[derive(Debug)]
pub enum RunError {
    /// The executable could not be started (missing, not executable).
    Spawn(std::io::Error),
    /// Still running at the deadline; killed. Holds what it had written to stderr.
    TimedOut { after: Duration, stderr: Vec<u8> },
    /// Reading its pipes failed.
    Io(std::io::Error),
    /// shipwatch received `signal` (SIGTERM, SIGINT); the tool's process group was stopped
    /// (or the tool never started). Holds what it had written to stderr.
    Aborted { signal: i32, stderr: Vec<u8> },
}

#[derive(Debug, Clone)]
pub struct Invocation {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Inherited variables the tool must not see.
    pub env_remove: Vec<String>,
    pub cwd: Option<PathBuf>,
}

impl Invocation {
    pub fn new(program: &Path) -> Self {
        Invocation {
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            cwd: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(a.as_ref().to_string_lossy().into_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, items: I) -> Self {
        for a in items {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.env_remove.push(k.to_owned());
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// The command line as a person would type it, for logs.
    pub fn display(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Runs `inv` to completion, until `timeout`, or until `abort` fires, whichever is first.
pub async fn run(inv: &Invocation, timeout: Duration, abort: &Abort) -> Result<Output, RunError> {
    if let Some(signal) = abort.signal() {
        return Err(RunError::Aborted {
            signal,
            stderr: Vec::new(),
        });
    }
    tracing::info!("running {}", inv.display());
    let mut cmd = tokio::process::Command::new(&inv.program);
    cmd.args(&inv.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for k in &inv.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &inv.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &inv.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    let pgid = child.id();
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    // Both pipes are read concurrently with the wait: a scanner that fills one pipe while
    // the other is not read would block forever.
    let stdout_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        out_pipe.read_to_end(&mut buf).await.map(|_| buf)
    });
    let (err_tx, mut err_rx) = tokio::sync::watch::channel(Vec::<u8>::new());
    let stderr_task = tokio::spawn(async move {
        let mut all = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match err_pipe.read(&mut chunk).await {
                Ok(0) => break Ok(all),
                Ok(n) => {
                    all.extend_from_slice(&chunk[..n]);
                    // Keep a copy of the recent part for the timeout message.
                    let keep = all.len().saturating_sub(64 * 1024);
                    let _ = err_tx.send(all[keep..].to_vec());
                }
                Err(e) => break Err(e),
            }
        }
    });
    let waited = tokio::select! {
        r = tokio::time::timeout(timeout, child.wait()) => Ok(r),
        signal = abort.wait() => Err(signal),
    };
    let status = match waited {
        Ok(Ok(status)) => status.map_err(RunError::Io)?,
        Ok(Err(_)) => {
            if let Some(pid) = pgid {
                kill_group(pid, libc::SIGKILL);
            }
            let _ = child.kill().await;
            let stderr = err_rx.borrow_and_update().clone();
            stdout_task.abort();
            stderr_task.abort();
            return Err(RunError::TimedOut {
                after: timeout,
                stderr,
            });
        }
        Err(signal) => {
            // TERM lets the tool remove what it created; the KILL after the grace period
            // (also sent when the leader did exit) catches whatever ignored it or was left.
            if let Some(pid) = pgid {
                kill_group(pid, libc::SIGTERM);
                if tokio::time::timeout(ABORT_GRACE, child.wait())
                    .await
                    .is_err()
                {
                    tracing::debug!("{}: still running after SIGTERM", inv.program.display());
                }
                kill_group(pid, libc::SIGKILL);
                // SIGKILL is delivered at once but a process takes a moment to exit; the
                // abort message says the tool's processes were stopped, so make it so.
                wait_group_gone(pid, Duration::from_secs(2)).await;
            }
            let _ = child.kill().await;
            let stderr = err_rx.borrow_and_update().clone();
            stdout_task.abort();
            stderr_task.abort();
            return Err(RunError::Aborted { signal, stderr });
        }
    };
    // The tool has exited; a child it left behind may still hold the pipes. Give the
    // readers a moment, then take the process group down too.
    let grace = Duration::from_secs(5);
    let (stdout, stderr) =
        match tokio::time::timeout(grace, async { (stdout_task.await, stderr_task.await) }).await {
            Ok((o, e)) => (flatten(o)?, flatten(e)?),
            Err(_) => {
                if let Some(pid) = pgid {
                    kill_group(pid, libc::SIGKILL);
                }
                return Err(RunError::Io(std::io::Error::other(
                    "the tool exited but a process it started kept its output open; it was killed",
                )));
            }
        };
    Ok(Output {
        code: status.code(),
        stdout,
        stderr,
    })
}

fn flatten(
    r: Result<std::io::Result<Vec<u8>>, tokio::task::JoinError>,
) -> Result<Vec<u8>, RunError> {
    r.map_err(|e| RunError::Io(std::io::Error::other(e.to_string())))?
        .map_err(RunError::Io)
}

/// Waits until no live process (zombies aside) is left in group `pgid`, or `limit` passes.
async fn wait_group_gone(pgid: u32, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while group_alive(pgid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether any process of group `pgid` is still running (read from /proc; a zombie only
/// waits to be reaped and holds nothing).
fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .any(|stat| {
            // Fields after the command name (which may contain spaces): state, ppid, pgrp.
            let mut rest = stat.rsplit(')').next().unwrap_or("").split_whitespace();
            let state = rest.next();
            let pgrp = rest.nth(1);
            state != Some("Z") && pgrp == Some(&pgid.to_string())
        })
}

fn kill_group(pgid: u32, signal: libc::c_int) {
    // SAFETY: killpg has no memory-safety preconditions; the group is the one the child leads.
    unsafe {
        libc::killpg(pgid as libc::pid_t, signal);
    }
}

/// The last `n` non-empty lines of `bytes`, lossily decoded; `None` when there are none.
pub fn tail(bytes: &[u8], n: usize) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    Some(lines[lines.len().saturating_sub(n)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Invocation {
        Invocation::new(Path::new("/bin/sh")).arg("-c").arg(script)
    }

    #[tokio::test]
    async fn captures_both_pipes_and_exit_code() {
        let out = run(
            &sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(30),
            &Abort::never(),
        )
        .await
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr_tail().as_deref(), Some("err"));
    }

    #[tokio::test]
    async fn large_output_on_both_pipes_does_not_deadlock() {
        // 1 MiB on each pipe: far beyond the 64 KiB a pipe buffers.
        let script =
            "head -c 1048576 /dev/zero | tr '\\0' a; head -c 1048576 /dev/zero | tr '\\0' b >&2";
        let out = run(&sh(script), Duration::from_secs(60), &Abort::never())
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), 1 << 20);
        assert_eq!(out.stderr.len(), 1 << 20);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_tree() {
        // The grandchild keeps stdout open; only killing the group ends the read.
        let r = run(
            &sh("echo started >&2; sleep 300 & sleep 300"),
            Duration::from_millis(500),
            &Abort::never(),
        )
        .await;
        assert!(
            matches!(r, Err(RunError::TimedOut { .. })),
            "expected a timeout, got {r:?}"
        );
    }

    #[tokio::test]
    async fn missing_program_is_a_spawn_error() {
        let r = run(
            &Invocation::new(Path::new("/nonexistent/scanner")),
            Duration::from_secs(5),
            &Abort::never(),
        )
        .await;
        assert!(matches!(r, Err(RunError::Spawn(_))));
    }

    #[tokio::test]
    async fn an_abort_stops_the_whole_group_even_when_it_ignores_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // Both the shell and its background child ignore TERM: only the KILL ends them.
        let script = format!(
            "trap '' TERM; sleep 300 & echo $$ $! > {}; wait",
            pids.display()
        );
        let (tx, abort) = Abort::manual();
        let run =
            tokio::spawn(async move { run(&sh(&script), Duration::from_secs(60), &abort).await });
        while !std::fs::read_to_string(&pids).is_ok_and(|t| t.ends_with('\n')) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.send(Some(crate::signals::SIGTERM)).unwrap();
        let r = run.await.unwrap();
        assert!(
            matches!(r, Err(RunError::Aborted { signal: 15, .. })),
            "{r:?}"
        );
        for pid in std::fs::read_to_string(&pids).unwrap().split_whitespace() {
            // Gone, or a zombie waiting for init to reap it. A process that was just sent
            // SIGKILL on a busy machine may still be running its exit for a moment.
            let stat = || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ended = |s: &str| s.is_empty() || s.split_whitespace().nth(2) == Some("Z");
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !ended(&stat()) && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let last = stat();
            assert!(ended(&last), "{pid} survived: {last}");
        }
    }

    #[tokio::test]
    async fn an_earlier_abort_starts_nothing() {
        let (tx, abort) = Abort::manual();
        tx.send(Some(crate::signals::SIGINT)).unwrap();
        let r = run(&sh("exit 0"), Duration::from_secs(5), &abort).await;
        assert!(matches!(r, Err(RunError::Aborted { signal: 2, .. })));
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail(b"a\nb\n\nc\n", 2).as_deref(), Some("b\nc"));
        assert_eq!(tail(b"\n \n", 2), None);
    }
}
