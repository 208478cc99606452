//! Time behind a seam: the engine asks a `Clock` for the time and to wait, so tests
//! run whole deployments on virtual time without waiting.

#[cfg(test)]
use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub trait Clock: Send + Sync {
    /// Time since the clock started.
    fn elapsed(&self) -> Duration;
    /// Runs `f` for at most `d`: `None` when the time ran out first. This is what keeps
    /// the deadline and the heartbeat going while an AWS call hangs.
    fn within<F: std::future::Future + Send>(
        &self,
        d: Duration,
        f: F,
    ) -> impl std::future::Future<Output = Option<F::Output>> + Send;
}

/// Wall-clock time (monotonic).
pub struct RealClock(Instant);

impl RealClock {
    pub fn new() -> Self {
        RealClock(Instant::now())
    }
}

impl Clock for RealClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
    async fn within<F: std::future::Future + Send>(&self, d: Duration, f: F) -> Option<F::Output> {
        tokio::time::timeout(d, f).await.ok()
    }
}

/// Virtual time: `sleep` advances the clock at once.
#[cfg(test)]
#[derive(Clone, Default)]
pub struct FakeClock(Arc<AtomicU64>);

#[cfg(test)]
impl FakeClock {
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
}

#[cfg(test)]
impl Clock for FakeClock {
    fn elapsed(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
    /// Mock calls answer after a few polls at most: `f` is given many turns, and only
    /// when it is still pending (nothing under way, or a read that never answers) does
    /// virtual time run out, by advancing the clock `d`.
    async fn within<F: std::future::Future + Send>(&self, d: Duration, f: F) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        for _ in 0..64 {
            if let Some(v) = std::future::poll_fn(|cx| match f.as_mut().poll(cx) {
                std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
                std::task::Poll::Pending => std::task::Poll::Ready(None),
            })
            .await
            {
                return Some(v);
            }
            tokio::task::yield_now().await;
        }
        self.advance(d);
        None
    }
}
