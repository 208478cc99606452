//! CloudWatch Logs for the rollback report: FilterLogEvents over the green tasks'
//! streams, streamed page by page into a callback.
//!
//! FilterLogEvents takes at most 100 stream names per call, so streams are read in
//! batches of 100, several batches at once, each paging with `nextToken`. All calls
//! share one rate limiter below the account's 5 TPS quota (the SDK's adaptive retry
//! covers the rest). Pages pass through a small bounded channel, so memory holds a few
//! pages whatever the volume; the consumer can stop the read at any event (caps).

use super::{Clients, sdk_error};
use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio::time::Instant as TokioInstant;

/// FilterLogEvents accepts 1–100 stream names.
pub const MAX_STREAMS_PER_CALL: usize = 100;
/// Below the published 5 TPS per account and region, leaving room for other callers.
pub const CALLS_PER_SECOND: f64 = 4.0;
/// Batches paged at the same time.
const CONCURRENT_BATCHES: usize = 3;
/// Pages waiting for the consumer; bounds memory (a page is at most 1 MB).
const PAGES_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
pub struct LogQuery {
    pub log_group: String,
    pub streams: Vec<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    /// A CloudWatch Logs filter pattern: only matching events are returned.
    pub filter_pattern: Option<String>,
}

/// One log event as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub stream: String,
    pub timestamp_ms: i64,
    pub message: String,
    /// CloudWatch's id of the event: a read that resumes where an earlier one left off
    /// skips the events it already had.
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadStats {
    pub calls: u64,
    pub events: u64,
    /// Set when the read ended early, saying why (consumer cap or deadline).
    pub stopped_early: Option<String>,
}

/// Spaces calls evenly: each caller waits for the next free slot.
#[derive(Debug)]
pub struct RateLimiter {
    next: Mutex<TokioInstant>,
    interval: Duration,
}

impl RateLimiter {
    pub fn new(per_second: f64) -> Self {
        RateLimiter {
            next: Mutex::new(TokioInstant::now()),
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.1)),
        }
    }

    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            reserve(&mut next, TokioInstant::now(), self.interval)
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// The caller's slot: the next free one, or now if none is pending.
fn reserve(next: &mut TokioInstant, now: TokioInstant, interval: Duration) -> TokioInstant {
    let slot = (*next).max(now);
    *next = slot + interval;
    slot
}

/// Reads every event of `q`, calling `on_event` in order of pages; `on_event`
/// returns false to stop. `deadline` stops the read after that instant.
pub async fn read_events(
    c: &Clients,
    q: &LogQuery,
    deadline: Option<Instant>,
    on_event: impl FnMut(&Event) -> bool,
) -> Result<ReadStats> {
    let limiter = Arc::new(RateLimiter::new(CALLS_PER_SECOND));
    read_events_limited(c, q, deadline, limiter, on_event).await
}

/// `read_events` with a rate limiter shared with other reads running at the same time
/// (the green and the blue tasks' logs), so together they stay below the quota.
pub async fn read_events_limited(
    c: &Clients,
    q: &LogQuery,
    deadline: Option<Instant>,
    limiter: Arc<RateLimiter>,
    mut on_event: impl FnMut(&Event) -> bool,
) -> Result<ReadStats> {
    let mut stats = ReadStats::default();
    if q.streams.is_empty() {
        return Ok(stats);
    }
    let (tx, mut rx) = mpsc::channel::<Result<Vec<Event>>>(PAGES_IN_FLIGHT);
    let gate = Arc::new(Semaphore::new(CONCURRENT_BATCHES));
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for batch in q.streams.chunks(MAX_STREAMS_PER_CALL) {
        let (tx, limiter, gate, calls) = (tx.clone(), limiter.clone(), gate.clone(), calls.clone());
        let client = c.logs.clone();
        let (group, batch, start, end) =
            (q.log_group.clone(), batch.to_vec(), q.start_ms, q.end_ms);
        let pattern = q.filter_pattern.clone();
        set.spawn(async move {
            let Ok(_permit) = gate.acquire_owned().await else {
                return;
            };
            let mut token: Option<String> = None;
            loop {
                limiter.wait().await;
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let res = client
                    .filter_log_events()
                    .log_group_name(&group)
                    .set_log_stream_names(Some(batch.clone()))
                    .start_time(start)
                    .end_time(end)
                    .set_filter_pattern(pattern.clone())
                    .set_next_token(token.clone())
                    .send()
                    .await;
                let out = match res {
                    Ok(o) => o,
                    Err(e) => {
                        let _ = tx.send(Err(sdk_error("logs:FilterLogEvents", e))).await;
                        return;
                    }
                };
                let events: Vec<Event> = out
                    .events()
                    .iter()
                    .map(|e| Event {
                        stream: e.log_stream_name().unwrap_or_default().to_owned(),
                        timestamp_ms: e.timestamp().unwrap_or_default(),
                        message: e.message().unwrap_or_default().to_owned(),
                        event_id: e.event_id().map(str::to_owned),
                    })
                    .collect();
                if tx.send(Ok(events)).await.is_err() {
                    return; // the consumer stopped
                }
                let next = out.next_token().map(str::to_owned);
                // A repeated token would loop forever; the API ends with no token.
                if next.is_none() || next == token {
                    return;
                }
                token = next;
            }
        });
    }
    drop(tx);
    let mut failure: Option<Error> = None;
    'pages: loop {
        let page = match deadline {
            Some(d) => match tokio::time::timeout_at(d.into(), rx.recv()).await {
                Ok(p) => p,
                Err(_) => {
                    stats.stopped_early = Some("deadline".into());
                    break;
                }
            },
            None => rx.recv().await,
        };
        let Some(page) = page else { break };
        match page {
            Ok(events) => {
                for e in &events {
                    stats.events += 1;
                    if !on_event(e) {
                        stats.stopped_early = Some("cap".into());
                        break 'pages;
                    }
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(rx);
    set.abort_all();
    while set.join_next().await.is_some() {}
    stats.calls = calls.load(std::sync::atomic::Ordering::Relaxed);
    match failure {
        Some(e) if stats.events == 0 => Err(e),
        Some(e) => {
            stats.stopped_early = Some(format!("error after {} events: {e}", stats.events));
            Ok(stats)
        }
        None => Ok(stats),
    }
}

/// The first page of `q` without its filter, at most `limit` events: what the
/// streams' lines look like, to choose a filter pattern from. One call.
pub async fn first_page(c: &Clients, q: &LogQuery, limit: i32) -> Result<Vec<String>> {
    let batch: Vec<String> = q
        .streams
        .iter()
        .take(MAX_STREAMS_PER_CALL)
        .cloned()
        .collect();
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let out = c
        .logs
        .filter_log_events()
        .log_group_name(&q.log_group)
        .set_log_stream_names(Some(batch))
        .start_time(q.start_ms)
        .end_time(q.end_ms)
        .limit(limit)
        .send()
        .await
        .map_err(|e| sdk_error("logs:FilterLogEvents", e))?;
    Ok(out
        .events()
        .iter()
        .filter_map(|e| e.message().map(str::to_owned))
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput;
    use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    /// Clients whose logs client is `logs`; the others answer nothing (unused).
    pub(crate) fn clients_with_logs(logs: aws_sdk_cloudwatchlogs::Client) -> Clients {
        Clients {
            ecs: mock_client!(aws_sdk_ecs, []),
            ecr: mock_client!(aws_sdk_ecr, []),
            codedeploy: mock_client!(aws_sdk_codedeploy, []),
            cloudwatch: mock_client!(aws_sdk_cloudwatch, []),
            logs,
            elb: mock_client!(aws_sdk_elasticloadbalancingv2, []),
            region: "eu-west-1".into(),
        }
    }

    fn ev(stream: &str, t: i64, m: &str) -> FilteredLogEvent {
        FilteredLogEvent::builder()
            .log_stream_name(stream)
            .timestamp(t)
            .message(m)
            .build()
    }

    fn query(n_streams: usize) -> LogQuery {
        LogQuery {
            log_group: "/ecs/web".into(),
            streams: (0..n_streams).map(|i| format!("web/web/task{i}")).collect(),
            start_ms: 1,
            end_ms: 2,
            filter_pattern: None,
        }
    }

    #[tokio::test]
    async fn pages_and_batches_of_at_most_100_streams() {
        // Batch 1 (100 streams) has two pages; batch 2 (the other 30) has one.
        let first = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
            .match_requests(|r| r.log_stream_names().len() == 100 && r.next_token().is_none())
            .then_output(|| {
                FilterLogEventsOutput::builder()
                    .events(ev("web/web/task0", 10, "a"))
                    .next_token("page2")
                    .build()
            });
        let second = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
            .match_requests(|r| r.next_token() == Some("page2"))
            .then_output(|| {
                FilterLogEventsOutput::builder()
                    .events(ev("web/web/task1", 11, "b"))
                    .build()
            });
        let other = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
            .match_requests(|r| {
                r.log_stream_names().len() == 30
                    && r.log_group_name() == Some("/ecs/web")
                    && r.start_time() == Some(1)
            })
            .then_output(|| {
                FilterLogEventsOutput::builder()
                    .events(ev("web/web/task120", 12, "c"))
                    .build()
            });
        let logs = mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&first, &second, &other]
        );
        let c = clients_with_logs(logs);
        let mut seen = Vec::new();
        let stats = read_events(&c, &query(130), None, |e| {
            seen.push(e.message.clone());
            true
        })
        .await
        .unwrap();
        seen.sort();
        assert_eq!(seen, vec!["a", "b", "c"]);
        assert_eq!(stats.events, 3);
        assert_eq!(stats.calls, 3);
        assert_eq!(stats.stopped_early, None);
        assert_eq!(
            (first.num_calls(), second.num_calls(), other.num_calls()),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn consumer_can_stop_the_read() {
        let endless = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events).then_output(|| {
            FilterLogEventsOutput::builder()
                .events(ev("s", 1, "x"))
                .events(ev("s", 2, "y"))
                .next_token(format!(
                    "t{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos()
                ))
                .build()
        });
        let logs = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&endless]);
        let c = clients_with_logs(logs);
        let mut n = 0;
        let stats = read_events(&c, &query(1), None, |_| {
            n += 1;
            n < 5
        })
        .await
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(stats.stopped_early.as_deref(), Some("cap"));
    }

    #[tokio::test]
    async fn an_error_before_any_event_is_an_error() {
        use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError;
        use aws_sdk_cloudwatchlogs::types::error::ResourceNotFoundException;
        let missing = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events).then_error(|| {
            FilterLogEventsError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("The specified log group does not exist.")
                    .build(),
            )
        });
        let logs = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&missing]);
        let c = clients_with_logs(logs);
        let err = read_events(&c, &query(3), None, |_| true)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("log group does not exist"),
            "{err}"
        );
    }

    #[test]
    fn rate_limiter_spaces_calls() {
        let now = TokioInstant::now();
        let mut next = now;
        let interval = Duration::from_millis(250);
        let slots: Vec<Duration> = (0..5)
            .map(|_| reserve(&mut next, now, interval) - now)
            .collect();
        assert_eq!(slots, (0..5).map(|i| interval * i).collect::<Vec<_>>());
        // After a quiet spell the next call goes at once.
        let later = now + Duration::from_secs(10);
        assert_eq!(reserve(&mut next, later, interval), later);
    }
}
