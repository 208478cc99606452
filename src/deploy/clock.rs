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
}
