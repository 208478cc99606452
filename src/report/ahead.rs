//! What lets the rollback report be gathered while the rollback still runs: a log read
//! that resumes after the end where the read ahead of it left off, and the budget the
//! reads left for after the end must keep.
//!
//! `deploy` starts the report as soon as it stops the deployment (or sees CodeDeploy
//! roll it back). Most evidence no longer changes by then; the logs do, so they are
//! read up to what exists, and after the end only the tail is fetched. What is still
//! unread when the budget runs out is reported as not read in time, never as missing.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

/// How far back the tail reaches before the newest line the earlier read saw: awslogs
/// ships lines in batches, so a line may become searchable after later ones.
pub const LATE_MS: i64 = 60_000;

/// Where a log read left off: the newest event it saw and the ids of the events close
/// to it, which the tail read skips.
#[derive(Debug, Default, Clone)]
pub struct Resume {
    newest_ms: Option<i64>,
    /// Event key → timestamp, for events within `LATE_MS` of the newest (pruned).
    recent: HashMap<String, i64>,
    /// Size of `recent` after the last pruning; it is pruned again at twice that.
    pruned_at: usize,
}

impl Resume {
    /// Records an event the earlier read fed.
    pub fn saw(&mut self, key: String, timestamp_ms: i64) {
        self.newest_ms = Some(self.newest_ms.map_or(timestamp_ms, |n| n.max(timestamp_ms)));
        self.recent.insert(key, timestamp_ms);
        if self.recent.len() > (2 * self.pruned_at).max(1024) {
            self.prune();
        }
    }

    /// Forgets events too old to be read again by the tail.
    fn prune(&mut self) {
        if let Some(newest) = self.newest_ms {
            self.recent.retain(|_, t| *t >= newest - LATE_MS);
        }
        self.pruned_at = self.recent.len();
    }

    /// Where the tail read starts: `LATE_MS` before the newest event seen, never before
    /// the window; the whole window when nothing was seen.
    pub fn tail_start(&self, window_start_ms: i64) -> i64 {
        self.newest_ms
            .map_or(window_start_ms, |n| (n - LATE_MS).max(window_start_ms))
    }

    /// Whether a tail event is new, i.e. the earlier read did not feed it already.
    pub fn is_new(&self, key: &str) -> bool {
        !self.recent.contains_key(key)
    }

    /// The newest event seen, if any.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.newest_ms?)
    }
}

/// The key an event is known by: CloudWatch's event id, else where and when it was
/// written and what it says.
pub fn event_key(id: Option<&str>, stream: &str, timestamp_ms: i64, message: &str) -> String {
    match id {
        Some(id) => id.to_owned(),
        None => format!("{stream}\u{0}{timestamp_ms}\u{0}{message}"),
    }
}

/// The time the reads still running when the rollback ends may take. Before the end
/// no read is cut short; `start` (called at the end) sets the deadline. Without a
/// budget (a report of a deployment that ended earlier) every read runs to its end.
#[derive(Clone)]
pub struct Budget {
    limit: Option<(Duration, watch::Receiver<Option<tokio::time::Instant>>)>,
}

/// Starts the budget's clock; held by whoever learns the end.
pub struct BudgetStart {
    limit: Option<(Duration, watch::Sender<Option<tokio::time::Instant>>)>,
}

impl Budget {
    /// A budget of `limit` after the end, or none.
    pub fn new(limit: Option<Duration>) -> (Budget, BudgetStart) {
        match limit {
            Some(d) => {
                let (tx, rx) = watch::channel(None);
                (
                    Budget {
                        limit: Some((d, rx)),
                    },
                    BudgetStart {
                        limit: Some((d, tx)),
                    },
                )
            }
            None => (Budget { limit: None }, BudgetStart { limit: None }),
        }
    }

    /// The budget after the end, when there is one.
    pub fn limit(&self) -> Option<Duration> {
        self.limit.as_ref().map(|(d, _)| *d)
    }

    /// Runs `fut` to its end, or until the budget after the end is spent: `None` then.
    pub async fn bounded<T>(&self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        let Some((_, rx)) = &self.limit else {
            return Some(fut.await);
        };
        let mut rx = rx.clone();
        let spent = async move {
            loop {
                let at = *rx.borrow_and_update();
                if let Some(at) = at {
                    tokio::time::sleep_until(at).await;
                    return;
                }
                if rx.changed().await.is_err() {
                    // The end will never come: nothing cuts the read short.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            biased;
            v = fut => Some(v),
            _ = spent => None,
        }
    }

    /// Why something was not read: the budget ran out (only said when there is one).
    pub fn not_in_time(&self, what: &str, id: &str) -> String {
        let secs = self.limit().map_or(0, |d| d.as_secs());
        format!(
            "{what} not read within {secs} s after the rollback ended (AWS answered slowly); `shipwatch report {id}` reads it in full"
        )
    }
}

impl BudgetStart {
    /// The end has come: the budget's clock starts now.
    pub fn start(&self) {
        if let Some((d, tx)) = &self.limit {
            let _ = tx.send(Some(tokio::time::Instant::now() + *d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_starts_late_ms_before_the_newest_event_and_skips_what_was_fed() {
        let mut r = Resume::default();
        assert_eq!(r.tail_start(1_000), 1_000, "nothing seen: the whole window");
        r.saw("a".into(), 100_000);
        r.saw("b".into(), 250_000);
        r.saw("c".into(), 200_000);
        assert_eq!(r.tail_start(1_000), 250_000 - LATE_MS);
        assert_eq!(r.tail_start(240_000), 240_000, "never before the window");
        assert!(!r.is_new("b") && !r.is_new("c"));
        assert!(r.is_new("d"));
        assert_eq!(r.newest().map(|t| t.timestamp_millis()), Some(250_000));
    }

    #[test]
    fn pruning_keeps_every_event_the_tail_can_read_again() {
        let mut r = Resume::default();
        for i in 0..5_000i64 {
            r.saw(format!("e{i}"), i * 100);
        }
        let newest = 4_999 * 100;
        // Everything the tail reads again (from newest − LATE_MS) is still known.
        for i in 0..5_000i64 {
            if i * 100 >= newest - LATE_MS {
                assert!(!r.is_new(&format!("e{i}")), "e{i}");
            }
        }
        assert!(r.recent.len() < 5_000, "old events were pruned");
    }

    #[test]
    fn event_keys_prefer_the_id() {
        assert_eq!(event_key(Some("123"), "s", 1, "m"), "123");
        assert_ne!(event_key(None, "s", 1, "m"), event_key(None, "s", 2, "m"));
    }

    #[tokio::test]
    async fn the_budget_cuts_reads_only_after_the_end() {
        let ms = Duration::from_millis;
        let (budget, start) = Budget::new(Some(ms(300)));
        // Before the end, a read longer than the budget is not cut.
        assert_eq!(budget.bounded(tokio::time::sleep(ms(500))).await, Some(()));
        start.start();
        assert_eq!(budget.bounded(tokio::time::sleep(ms(10))).await, Some(()));
        assert_eq!(budget.bounded(tokio::time::sleep(ms(5_000))).await, None);
        let (none, _) = Budget::new(None);
        assert_eq!(none.bounded(tokio::time::sleep(ms(500))).await, Some(()));
        let (five, _) = Budget::new(Some(Duration::from_secs(5)));
        assert!(five.not_in_time("blue logs", "d-1").contains("within 5 s"));
    }
}
