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
#[derive(Debug, Clone, PartialEq)]
pub struct LogSource {
    group: String,
    /// `<awslogs-stream-prefix>/<container>/`
    stream_prefix: String,
}

impl LogSource {
    /// The log source of a task definition as registered or described (its JSON): the
    /// first container logging through awslogs with a stream prefix, as `find_source`
    /// picks it. Known before the deployment starts, it spares the judge two calls
    /// while green's first requests are already being answered.
    pub fn of_task_definition(td: &serde_json::Value) -> Option<LogSource> {
        td["containerDefinitions"]
            .as_array()?
            .iter()
            .find_map(|cd| {
                let lc = &cd["logConfiguration"];
                if lc["logDriver"] != "awslogs" {
                    return None;
                }
                let opt = |k: &str| lc["options"][k].as_str();
                Some(LogSource {
                    group: opt("awslogs-group")?.to_owned(),
                    stream_prefix: format!(
                        "{}/{}/",
                        opt("awslogs-stream-prefix")?,
                        cd["name"].as_str()?
                    ),
                })
            })
    }
}

/// The reader's state between reads.
#[derive(Debug)]
pub struct ColourLogs {
    cluster: String,
    service: String,
    blue_task_set: String,
    green_task_set: String,
    source: Option<LogSource>,
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

    /// Where the task sets log, when the caller already knows it (the deployed task
    /// definition's awslogs settings): the reader then does not look it up.
    pub fn with_source(mut self, source: Option<LogSource>) -> Self {
        if source.is_some() {
            self.source = source;
        }
        self
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
        self.source = Some(LogSource {
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
        if self.prepare_only {
            if !self.mapped {
                self.refresh(c).await?;
            }
            return Ok(Vec::new());
        }
        let source = self.source.clone().expect("set above");
        let raw = if self.mapped {
            let (calls, read) = self.filter(c, &source).await;
            self.calls += calls;
            read?
        } else {
            // Under traffic with the tasks not yet known: listed beside the read, one
            // round of calls instead of two.
            let (listed, (calls, read)) = tokio::join!(self.list_tasks(c), self.filter(c, &source));
            self.calls += calls;
            let mapped = self.map_tasks(listed);
            let read = read?;
            mapped?;
            read
        };
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
    async fn find_source(&mut self, c: &Clients) -> Result<LogSource> {
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
        Ok(LogSource {
            stream_prefix: format!(
                "{}/{}/",
                main.stream_prefix.unwrap_or_default(),
                main.container
            ),
            group: main.group,
        })
    }

    /// Lists the tasks of both colours again and maps them.
    async fn refresh(&mut self, c: &Clients) -> Result<()> {
        let listed = self.list_tasks(c).await;
        self.map_tasks(listed)
    }

    /// Which task (by id) belongs to which colour: the tasks each task set started,
    /// running and stopped, listed side by side (one round of calls, not four). Each
    /// listing stands on its own: one that failed does not void the others.
    async fn list_tasks(&self, c: &Clients) -> Listing {
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
        let mut listing = Listing::default();
        for (page, colour) in [
            (br, Colour::Blue),
            (bs, Colour::Blue),
            (gr, Colour::Green),
            (gs, Colour::Green),
        ] {
            match page {
                Ok(page) => listing.found.extend(
                    page.task_arns()
                        .iter()
                        .map(|arn| (arn.rsplit('/').next().unwrap_or(arn).to_owned(), colour)),
                ),
                Err(e) => listing.failed = Some(sdk_error("ecs:ListTasks", e)),
            }
        }
        listing
    }

    /// Takes a listing of the tasks. A failed listing matters only while the map is
    /// not done: afterwards a task it missed shows up as an unknown stream, and a later
    /// lookup finds it.
    fn map_tasks(&mut self, listing: Listing) -> Result<()> {
        self.calls += 4;
        self.colour_of.extend(listing.found);
        // Done only once both colours have tasks: prepared before green's tasks were
        // placed, the map would leave green's lines unknown for several reads.
        self.mapped = [Colour::Blue, Colour::Green]
            .iter()
            .all(|c| self.colour_of.values().any(|f| f == c));
        self.reads_since_refresh = 0;
        match listing.failed {
            Some(e) if !self.mapped => Err(e),
            _ => Ok(()),
        }
    }

    /// New request lines of the service's streams.
    /// Returns the calls made beside the result (it runs beside the task listing, so it
    /// cannot count them on the reader itself).
    async fn filter(&self, c: &Clients, source: &LogSource) -> (u64, Result<Vec<Event>>) {
        let mut calls = 0;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut fresh: HashSet<String> = HashSet::new();
        for _ in 0..MAX_PAGES {
            calls += 1;
            let page = match c
                .logs
                .filter_log_events()
                .log_group_name(&source.group)
                .log_stream_name_prefix(&source.stream_prefix)
                .filter_pattern(REQUEST_PATTERN)
                .start_time(self.since_ms)
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) => return (calls, Err(sdk_error("logs:FilterLogEvents", e))),
            };
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
        (calls, Ok(out))
    }
}

/// The tasks the four listings found, and the error of one that failed.
#[derive(Default)]
struct Listing {
    found: Vec<(String, Colour)>,
    failed: Option<Error>,
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

    #[test]
    fn the_log_source_is_the_first_awslogs_container_with_a_stream_prefix() {
        let td = serde_json::json!({"containerDefinitions": [
            {"name": "envoy", "logConfiguration": {"logDriver": "json-file"}},
            {"name": "xray", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/xray"}}},
            {"name": "web", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "svc"}}}
        ]});
        assert_eq!(
            LogSource::of_task_definition(&td),
            Some(LogSource {
                group: "/ecs/web".into(),
                stream_prefix: "svc/web/".into(),
            })
        );
        let none = serde_json::json!({"containerDefinitions": [{"name": "web"}]});
        assert_eq!(LogSource::of_task_definition(&none), None);
        assert_eq!(LogSource::of_task_definition(&serde_json::json!({})), None);
    }

    fn listed(arn: &'static str) -> aws_sdk_ecs::operation::list_tasks::ListTasksOutput {
        aws_sdk_ecs::operation::list_tasks::ListTasksOutput::builder()
            .task_arns(arn)
            .build()
    }

    /// A listing refused (not retried, so the test does not wait on backoff).
    fn refused() -> aws_sdk_ecs::operation::list_tasks::ListTasksError {
        aws_sdk_ecs::operation::list_tasks::ListTasksError::generic(
            aws_sdk_ecs::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not allowed")
                .build(),
        )
    }

    /// A listing that failed does not void the others: the running tasks of both
    /// colours are enough to map; without green's, the read fails and says why.
    #[tokio::test]
    async fn one_failed_listing_does_not_void_the_others() {
        use aws_sdk_ecs::types::DesiredStatus;
        let running = |set: &'static str, arn: &'static str| {
            mock!(aws_sdk_ecs::Client::list_tasks)
                .match_requests(move |r| {
                    r.started_by() == Some(set)
                        && r.desired_status() == Some(&DesiredStatus::Running)
                })
                .then_output(move || listed(arn))
        };
        let stopped_fails = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.desired_status() == Some(&DesiredStatus::Stopped))
            .sequence()
            .error(refused)
            .repeatedly()
            .build();
        let blue = running("ts-blue", "arn:aws:ecs:us-east-1:1:task/c/blue1");
        let green = running("ts-green", "arn:aws:ecs:us-east-1:1:task/c/green1");
        let mut c =
            super::super::logs::tests::clients_with_logs(mock_client!(aws_sdk_cloudwatchlogs, []));
        c.ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&stopped_fails, &blue, &green]
        );
        let mut r = ColourLogs::new("c:s", "ts-blue", "ts-green", 0);
        r.refresh(&c).await.unwrap();
        assert!(r.mapped);
        assert_eq!(r.colour_of.get("green1"), Some(&Colour::Green));

        let green_fails = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.started_by() == Some("ts-green"))
            .sequence()
            .error(refused)
            .repeatedly()
            .build();
        let blue = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.started_by() == Some("ts-blue"))
            .then_output(|| listed("arn:aws:ecs:us-east-1:1:task/c/blue1"));
        c.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&green_fails, &blue]);
        let mut r = ColourLogs::new("c:s", "ts-blue", "ts-green", 0);
        let e = r.refresh(&c).await.unwrap_err();
        assert!(!r.mapped);
        assert!(e.to_string().contains("ListTasks"), "{e}");
        assert_eq!(r.colour_of.get("blue1"), Some(&Colour::Blue), "kept");
    }

    /// With the log source given (the deployed task definition's) and green taking
    /// traffic before the tasks were mapped, the first read is one round: the tasks
    /// listed beside FilterLogEvents, no task set or task definition described.
    #[tokio::test]
    async fn the_first_read_under_traffic_lists_the_tasks_beside_the_logs() {
        let page = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events)
            .match_requests(|r| r.log_group_name() == Some("/ecs/web"))
            .then_output(|| {
                FilterLogEventsOutput::builder()
                    .events(event("1", "web/web/blue1", 1_000))
                    .events(event("2", "web/web/green1", 2_000))
                    .build()
            });
        let blue = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.started_by() == Some("ts-blue"))
            .then_output(|| listed("arn:aws:ecs:us-east-1:1:task/c/blue1"));
        let green = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.started_by() == Some("ts-green"))
            .then_output(|| listed("arn:aws:ecs:us-east-1:1:task/c/green1"));
        let mut c = super::super::logs::tests::clients_with_logs(mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&page]
        ));
        // No rule for DescribeTaskSets: describing would fail the read.
        c.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&blue, &green]);
        let source = LogSource::of_task_definition(&serde_json::json!({"containerDefinitions": [
            {"name": "web", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web"}}}
        ]}));
        let mut r = ColourLogs::new("c:s", "ts-blue", "ts-green", 0).with_source(source);
        let lines = r.read(&c).await.unwrap();
        let colours: Vec<Colour> = lines.iter().map(|l| l.colour).collect();
        assert_eq!(colours, vec![Colour::Blue, Colour::Green]);
        assert!(r.prepared());
        assert_eq!(r.calls, 5, "four listings and one page");
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
        r.source = Some(LogSource {
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
