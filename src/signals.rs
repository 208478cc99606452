//! SIGTERM and SIGINT as a value a long-running command can watch, instead of the default
//! action that kills shipwatch on the spot.
//!
//! Jenkins aborts a build with SIGTERM. Dying by the default action leaves behind whatever
//! shipwatch started (a scanner in its own process group keeps running), its temporary files,
//! and no report; a command that listens instead can stop its work, clean up, write what it
//! knows and exit 128 + the signal number. Only the first signal counts: the command is
//! already stopping when a second one comes.

use tokio::sync::watch;

/// SIGINT's number: Ctrl-C, exit 130.
pub const SIGINT: i32 = 2;
/// SIGTERM's number: a Jenkins abort, exit 143.
pub const SIGTERM: i32 = 15;

/// Whether (and by which signal) the command has been asked to stop. Cheap to clone; every
/// clone sees the same signal.
#[derive(Clone, Debug)]
pub struct Abort {
    rx: watch::Receiver<Option<i32>>,
}

impl Abort {
    /// Starts listening for SIGTERM and SIGINT; from now on neither kills the process, so
    /// the caller must look at [`Abort::signal`] and stop. Needs a Tokio runtime.
    pub fn listen() -> std::io::Result<Abort> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let signo = tokio::select! {
                _ = term.recv() => SIGTERM,
                _ = int.recv() => SIGINT,
            };
            tracing::debug!("received signal {signo}");
            let _ = tx.send(Some(signo));
            // Keep both streams registered: later signals are absorbed instead of
            // falling back to the default action halfway through the cleanup.
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
        });
        Ok(Abort { rx })
    }

    /// [`Abort::listen`] for a command: failing to listen is an I/O error of the run.
    pub fn start() -> crate::error::Result<Abort> {
        Abort::listen()
            .map_err(|e| crate::error::Error::Io(format!("cannot listen for SIGTERM/SIGINT: {e}")))
    }

    /// An abort that never fires, for callers (and tests) that do not listen.
    pub fn never() -> Abort {
        let (tx, rx) = watch::channel(None);
        // The sender is leaked on purpose: with it dropped, `wait` would return at once.
        std::mem::forget(tx);
        Abort { rx }
    }

    /// The signal received so far, if any.
    pub fn signal(&self) -> Option<i32> {
        *self.rx.borrow()
    }

    /// Resolves with the signal number once one has arrived (at once if it already has).
    /// Cancel-safe, so it can sit in a `select!` next to the work it interrupts.
    pub async fn wait(&self) -> i32 {
        let mut rx = self.rx.clone();
        loop {
            if let Some(s) = *rx.borrow_and_update() {
                return s;
            }
            if rx.changed().await.is_err() {
                // The listener is gone; no signal will come.
                std::future::pending::<()>().await;
            }
        }
    }

    /// A test's abort, fired by sending on the returned sender.
    #[cfg(test)]
    pub fn manual() -> (watch::Sender<Option<i32>>, Abort) {
        let (tx, rx) = watch::channel(None);
        (tx, Abort { rx })
    }
}

/// After a signal: polls `work` (a command's run, its mutating call in flight) while
/// `busy` says that call is still out, for at most `grace`, so the message can say how
/// it ended. Returns early when `work` itself finishes.
pub async fn let_finish<F: std::future::Future>(
    mut work: std::pin::Pin<&mut F>,
    grace: std::time::Duration,
    busy: impl Fn() -> bool,
) {
    let until = tokio::time::Instant::now() + grace;
    while busy() && tokio::time::Instant::now() < until {
        tokio::select! {
            _ = work.as_mut() => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
        }
    }
}

/// The signal's usual name, for messages.
pub fn name(signo: i32) -> &'static str {
    match signo {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_returns_the_first_signal() {
        let (tx, abort) = Abort::manual();
        assert_eq!(abort.signal(), None);
        tx.send(Some(SIGTERM)).unwrap();
        assert_eq!(abort.clone().wait().await, SIGTERM);
        assert_eq!(abort.signal(), Some(SIGTERM));
    }

    #[tokio::test]
    async fn never_does_not_fire() {
        let abort = Abort::never();
        let r = tokio::time::timeout(std::time::Duration::from_millis(50), abort.wait()).await;
        assert!(r.is_err());
        assert_eq!(abort.signal(), None);
    }
}
