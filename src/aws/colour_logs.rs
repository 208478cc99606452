//! Task logs per colour, for the watch's judge: the request lines the blue and the green
//! task set of a deployment wrote since the last read.
//!
//! One read is one FilterLogEvents over the service's streams (`<prefix>/<container>/`,
//! the awslogs naming) with a server-side filter pattern that keeps request lines only,
//! split by colour here: a stream's task id says which task set started it (ListTasks
//! `startedBy` = task set id, looked up once and again when an unknown task shows up).
//! Reads overlap by `LATE_MS`, because awslogs ships lines in batches and a line may
//! become searchable after later ones; events are deduplicated by id. At one read every
//! few seconds this stays far below the 5 TPS FilterLogEvents quota.

use super::{Clients, evidence, sdk_error};
use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};

/// Request lines only: the app logs every answered request with `res.statusCode`.
pub const REQUEST_PATTERN: &str = "{ $.res.statusCode >= 100 }";
/// How far back each read reaches before the newest line seen: lines searchable late.
pub const LATE_MS: i64 = 60_000;
/// Pages per read at most; the rest is read next time (the overlap keeps it).
const MAX_PAGES: usize = 20;
/// Reads between two lookups of the tasks, when unknown streams keep showing up.
const REFRESH_EVERY: u32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Colour {
    Blue,
    Green,
}

/// One request line of a colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub colour: Colour,
    pub timestamp_ms: i64,
    pub message: String,
}

/// Where the service's containers log.
#[derive(Debug, Clone)]
struct Source {
    group: String,
    /// `<awslogs-stream-prefix>/<container>/`
    stream_prefix: String,
}

/// The reader's state between reads.
#[derive(Debug)]
pub struct ColourLogs {
    cluster: String,
    service: String,
    blue_task_set: String,
    green_task_set: String,
    source: Option<Source>,
    colour_of: HashMap<String, Colour>,
    /// Both task sets' tasks have been listed, and each had at least one.
    mapped: bool,
    prepare_only: bool,
    reads_since_refresh: u32,
    since_ms: i64,
    seen: HashMap<String, i64>,
    /// AWS calls made so far.
    pub calls: u64,
}

impl ColourLogs {
    /// A reader for the task sets of a service (`cluster:service`, as CodeDeploy names
    /// an ECS target), reading lines from `start_ms` on.
    pub fn new(target_id: &str, blue_task_set: &str, green_task_set: &str, start_ms: i64) -> Self {
        let (cluster, service) = target_id.split_once(':').unwrap_or(("", target_id));
        ColourLogs {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            blue_task_set: blue_task_set.to_owned(),
            green_task_set: green_task_set.to_owned(),
            source: None,
            colour_of: HashMap::new(),
            mapped: false,
            prepare_only: false,
            reads_since_refresh: 0,
            since_ms: start_ms,
            seen: HashMap::new(),
            calls: 0,
        }
    }

    pub fn task_sets(&self) -> (&str, &str) {
        (&self.blue_task_set, &self.green_task_set)
    }

    /// Whether the next read only finds where the task sets log and which task is which
    /// colour (before traffic shifts, so the first read under traffic is one call).
    pub fn prepare_only(&mut self, yes: bool) {
        self.prepare_only = yes;
    }

    /// Whether the log source and the tasks of both colours are known.
    pub fn prepared(&self) -> bool {
        self.source.is_some() && self.mapped
    }

    /// Marks the reader prepared without reading AWS (tests of its callers).
    #[cfg(test)]
    pub fn mark_prepared_for_tests(&mut self) {
        self.source = Some(Source {
            group: "/ecs/web".into(),
            stream_prefix: "web/web/".into(),
        });
        self.mapped = true;
    }

    /// The request lines written since the last read, each once (none when the read
    /// only prepares). What a failed read had learnt (the source, the tasks) is kept.
    pub async fn read(&mut self, c: &Clients) -> Result<Vec<Line>> {
        if self.source.is_none() {
            self.source = Some(self.find_source(c).await?);
        }
        if !self.mapped {
            self.refresh(c).await?;
        }
        if self.prepare_only {
            return Ok(Vec::new());
        }
        let source = self.source.clone().expect("set above");
        let raw = self.filter(c, &source).await?;
        let unknown = raw
            .iter()
            .any(|e| !self.colour_of.contains_key(task_id(&e.stream)));
        if unknown && self.reads_since_refresh >= REFRESH_EVERY {
            self.refresh(c).await?;
        }
        self.reads_since_refresh += 1;
        let mut newest = self.since_ms;
        let mut lines = Vec::new();
        for e in raw {
            newest = newest.max(e.timestamp_ms);
            // A line of a task not (yet) known is not marked read: once a lookup of
            // the tasks finds it, the overlap brings the line back.
            if let Some(colour) = self.colour_of.get(task_id(&e.stream)) {
                self.seen.insert(e.id, e.timestamp_ms);
                lines.push(Line {
                    colour: *colour,
                    timestamp_ms: e.timestamp_ms,
                    message: e.message,
                });
            }
        }
        self.since_ms = self.since_ms.max(newest - LATE_MS);
        let floor = self.since_ms;
        self.seen.retain(|_, ts| *ts >= floor);
        Ok(lines)
    }

    /// The awslogs group and stream prefix of the green task set's task definition.
    async fn find_source(&mut self, c: &Clients) -> Result<Source> {
        self.calls += 1;
        let out = c
            .ecs
            .describe_task_sets()
            .cluster(&self.cluster)
            .service(&self.service)
            .task_sets(&self.green_task_set)
            .send()
            .await
            .map_err(|e| sdk_error("ecs:DescribeTaskSets", e))?;
        let td = out
            .task_sets()
            .first()
            .and_then(|t| t.task_definition())
            .map(str::to_owned)
            .ok_or_else(|| {
                unsupported(format!("task set {} was not found", self.green_task_set))
            })?;
        self.calls += 1;
        let logs = evidence::task_definition_logs(c, &td)
            .await?
            .ok_or_else(|| unsupported(format!("task definition {td} was not found")))?;
        let main = logs
            .logs
            .into_iter()
            .find(|l| l.stream_prefix.is_some())
            .ok_or_else(|| {
                unsupported(format!(
                    "task definition {td} has no container logging with the awslogs driver and a stream prefix"
                ))
            })?;
        Ok(Source {
            stream_prefix: format!(
                "{}/{}/",
                main.stream_prefix.unwrap_or_default(),
                main.container
            ),
            group: main.group,
        })
    }

    /// Which task (by id) belongs to which colour: the tasks each task set started,
    /// running and stopped, listed side by side (one round of calls, not four).
    async fn refresh(&mut self, c: &Clients) -> Result<()> {
        use aws_sdk_ecs::types::DesiredStatus::{Running, Stopped};
        let list = |task_set: &str, status| {
            c.ecs
                .list_tasks()
                .cluster(&self.cluster)
                .started_by(task_set)
                .desired_status(status)
                .send()
        };
        let (blue, green) = (&self.blue_task_set, &self.green_task_set);
        let (br, bs, gr, gs) = tokio::join!(
            list(blue, Running),
            list(blue, Stopped),
            list(green, Running),
            list(green, Stopped)
        );
        self.calls += 4;
        let mut found = Vec::new();
        for (page, colour) in [
            (br, Colour::Blue),
            (bs, Colour::Blue),
            (gr, Colour::Green),
            (gs, Colour::Green),
        ] {
            let page = page.map_err(|e| sdk_error("ecs:ListTasks", e))?;
            for arn in page.task_arns() {
                found.push((arn.rsplit('/').next().unwrap_or(arn).to_owned(), colour));
            }
        }
        // Done only once both colours have tasks: prepared before green's tasks were
        // placed, the map would leave green's lines unknown for several reads.
        self.mapped = [Colour::Blue, Colour::Green]
            .iter()
            .all(|c| found.iter().any(|(_, f)| f == c));
        self.colour_of.extend(found);
        self.reads_since_refresh = 0;
        Ok(())
    }

    /// New request lines of the service's streams.
    async fn filter(&mut self, c: &Clients, source: &Source) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut fresh: HashSet<String> = HashSet::new();
        for _ in 0..MAX_PAGES {
            self.calls += 1;
            let page = c
                .logs
                .filter_log_events()
                .log_group_name(&source.group)
                .log_stream_name_prefix(&source.stream_prefix)
                .filter_pattern(REQUEST_PATTERN)
                .start_time(self.since_ms)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error("logs:FilterLogEvents", e))?;
            for e in page.events() {
                let id = e.event_id().unwrap_or_default().to_owned();
                if self.seen.contains_key(&id) || !fresh.insert(id.clone()) {
                    continue;
                }
                out.push(Event {
                    id,
                    stream: e.log_stream_name().unwrap_or_default().to_owned(),
                    timestamp_ms: e.timestamp().unwrap_or_default(),
                    message: e.message().unwrap_or_default().to_owned(),
                });
            }
            let next = page.next_token().map(str::to_owned);
            if next.is_none() || next == token {
                break;
            }
            token = next;
        }
        Ok(out)
    }
}

/// One log event as FilterLogEvents returned it.
struct Event {
    id: String,
    stream: String,
    timestamp_ms: i64,
    message: String,
}

/// The task id at the end of an awslogs stream name.
fn task_id(stream: &str) -> &str {
    stream.rsplit('/').next().unwrap_or(stream)
}

fn unsupported(why: String) -> Error {
    Error::Precondition(format!(
        "the judge cannot read the task logs: {why}. Deployments are still watched through their alarms."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput;
    use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn event(id: &str, stream: &str, ts: i64) -> FilteredLogEvent {
        FilteredLogEvent::builder()
            .event_id(id)
            .log_stream_name(stream)
            .timestamp(ts)
            .message(r#"{"res":{"statusCode":200}}"#)
            .build()
    }

    /// Listed before green's tasks were placed, the map is not done: the next read
    /// lists again, and green's tasks are then known.
    #[tokio::test]
    async fn the_tasks_are_listed_again_until_both_colours_have_some() {
        use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let placed = Arc::new(AtomicBool::new(false));
        let seen = placed.clone();
        let list = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.started_by() == Some("ts-blue"))
            .then_output(|| {
                ListTasksOutput::builder()
                    .task_arns("arn:aws:ecs:us-east-1:1:task/c/blue1")
                    .build()
            });
        let green = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.started_by() == Some("ts-green"))
            .then_output(move || {
                let b = ListTasksOutput::builder();
                if seen.load(Ordering::SeqCst) {
                    b.task_arns("arn:aws:ecs:us-east-1:1:task/c/green1").build()
                } else {
                    b.build()
                }
            });
        let mut c =
            super::super::logs::tests::clients_with_logs(mock_client!(aws_sdk_cloudwatchlogs, []));
        c.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&green, &list]);
        let mut r = ColourLogs::new("c:s", "ts-blue", "ts-green", 0);
        r.refresh(&c).await.unwrap();
        assert!(!r.mapped, "green has no task yet");
        placed.store(true, Ordering::SeqCst);
        r.refresh(&c).await.unwrap();
        assert!(r.mapped);
        assert_eq!(r.colour_of.get("green1"), Some(&Colour::Green));
        assert_eq!(r.colour_of.get("blue1"), Some(&Colour::Blue));
    }

    #[tokio::test]
    async fn lines_are_split_by_colour_and_read_once() {
        let page = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
            .match_requests(|r| {
                r.filter_pattern() == Some(REQUEST_PATTERN)
                    && r.log_stream_name_prefix() == Some("web/web/")
            })
            .then_output(|| {
                FilterLogEventsOutput::builder()
                    .events(event("1", "web/web/aaa", 1_000))
                    .events(event("2", "web/web/bbb", 2_000))
                    .events(event("3", "web/web/old", 3_000))
                    .build()
            });
        let logs = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&page]);
        let c = super::super::logs::tests::clients_with_logs(logs);
        let mut r = ColourLogs::new("web-cluster:web", "ts-blue", "ts-green", 0);
        r.source = Some(Source {
            group: "/ecs/web".into(),
            stream_prefix: "web/web/".into(),
        });
        r.colour_of.insert("aaa".into(), Colour::Blue);
        r.colour_of.insert("bbb".into(), Colour::Green);
        r.mapped = true;
        let lines = r.read(&c).await.unwrap();
        let colours: Vec<Colour> = lines.iter().map(|l| l.colour).collect();
        // The stream of another deployment's task is left out.
        assert_eq!(colours, vec![Colour::Blue, Colour::Green]);
        assert_eq!(r.cluster, "web-cluster");
        // The same events again (the overlap) are not counted twice.
        assert!(r.read(&c).await.unwrap().is_empty());
        assert_eq!(r.since_ms, 0, "the window keeps {LATE_MS} ms of overlap");
        // A task found by a later lookup brings its lines back through the overlap.
        r.colour_of.insert("old".into(), Colour::Green);
        let late = r.read(&c).await.unwrap();
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].timestamp_ms, 3_000);
        assert!(r.read(&c).await.unwrap().is_empty());
    }
}
