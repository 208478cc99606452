//! Time behind a seam: the engine asks a `Clock` for the time and to sleep, so tests
//! run whole deployments on virtual time without waiting.

#[cfg(test)]
use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub trait Clock: Send + Sync {
    /// Time since the clock started.
    fn elapsed(&self) -> Duration;
    fn sleep(&self, d: Duration) -> impl std::future::Future<Output = ()> + Send;
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
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
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
    async fn sleep(&self, d: Duration) {
        self.advance(d);
        tokio::task::yield_now().await;
    }
    /// Mock calls answer at once, so virtual time never runs out during one.
    async fn within<F: std::future::Future + Send>(&self, _d: Duration, f: F) -> Option<F::Output> {
        Some(f.await)
    }
}
