//! The judge inside the watch loop: when the task logs are read, how the counts of
//! each colour grow, what is reported when the verdict changes, and the sentence that
//! explains a stop. The AWS read itself (aws::colour_logs) is run by the engine beside
//! its other reads; everything here is synchronous and driven by the engine's clock.

use super::events::Event;
use super::judge::{self, Counts, Evidence, JudgeConfig, Verdict};
use super::judge_metrics::{self, MetricsReport};
use crate::aws::colour_logs::{Colour, ColourLogs, Line, LogSource};
use crate::aws::model::Target;
use crate::error::{Error, Result};
use serde::Serialize;
use std::time::Duration;

/// Transient read failures in a row after which the judge gives up for this deployment.
const MAX_FAILURES: u32 = 5;

/// What the judge concluded, for the summary, the JSON output and the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeReport {
    #[serde(flatten)]
    pub verdict: Option<Verdict>,
    pub green: Counts,
    pub blue: Counts,
    /// The judge stopped the deployment: why, in one sentence.
    pub stopped: Option<String>,
    /// The judge could not judge (too little traffic, logs unreadable): why.
    pub note: Option<String>,
    /// Which source stopped the deployment: `task_logs` or `target_group_metrics`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<&'static str>,
    /// The target groups' per-minute metrics, the second source, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsReport>,
}

#[derive(Debug)]
pub struct Judging {
    pub cfg: JudgeConfig,
    /// The reader, between reads (the engine moves it into the read under way).
    logs: Option<ColourLogs>,
    reading: bool,
    /// Every colour's counts so far and the test's running evidence.
    pub evidence: Evidence,
    verdict: Option<Verdict>,
    next: Duration,
    failures: u32,
    /// Set when the judge gave up; the alarms stay the guard.
    off: Option<String>,
    first_green_error_ms: Option<i64>,
    newest_ms: i64,
    /// Set once green is judged worse: the stop's reason.
    pub stop_why: Option<String>,
    shift_over: bool,
    /// The read under way only prepares the reader (green has no traffic yet).
    preparing: bool,
    /// The target groups' metrics are judged too: this test holds only its share of the
    /// false-stop budget (see `judge_metrics`).
    pub metrics: bool,
    /// Where green logs, when the deployed task definition said so (`None`: looked up).
    pub source: Option<LogSource>,
    /// The target's traffic weights are out of date (its reads keep failing or hang):
    /// green may be taking traffic unseen, so a prepared reader reads anyway.
    weights_stale: bool,
}

impl Judging {
    pub fn new(cfg: JudgeConfig) -> Self {
        Judging {
            cfg,
            logs: None,
            reading: false,
            evidence: Evidence::default(),
            verdict: None,
            next: Duration::ZERO,
            failures: 0,
            off: None,
            first_green_error_ms: None,
            newest_ms: 0,
            stop_why: None,
            shift_over: false,
            preparing: false,
            metrics: false,
            source: None,
            weights_stale: false,
        }
    }

    /// The task logs could not be read at all: the judge turned this source off before
    /// it counted a single line, so its share of the budget was never used.
    pub fn unreadable(&self) -> bool {
        self.off.is_some() && self.evidence == Evidence::default()
    }

    /// Tells the judge whether the target's traffic weights are out of date.
    pub fn set_weights_stale(&mut self, stale: bool) {
        self.weights_stale = stale;
    }

    /// Whether the judge still reads: on, not stopped yet, traffic still shifting.
    pub fn active(&self) -> bool {
        self.off.is_none() && self.stop_why.is_none() && !self.shift_over
    }

    /// When the next read is due (when one may start).
    pub fn next_due(&self) -> Option<Duration> {
        (self.active() && !self.reading).then_some(self.next)
    }

    /// The reader for a read starting `now`, when one is due: green has traffic and
    /// both task sets are known. `target_id` is `cluster:service`, `start_ms` when the
    /// deployment was created (lines before it are not this deployment's).
    pub fn start_read(
        &mut self,
        now: Duration,
        target_id: Option<&str>,
        target: Option<&Target>,
        start_ms: Option<i64>,
    ) -> Option<ColourLogs> {
        if !self.active() || self.reading || now < self.next {
            return None;
        }
        let (target_id, target, start_ms) = (target_id?, target?, start_ms?);
        let set = |label: &str| target.task_sets.iter().find(|t| t.label == label);
        let (blue, green) = (set("Blue")?, set("Green")?);
        let same = |r: &ColourLogs| r.task_sets() == (blue.id.as_str(), green.id.as_str());
        // Before green takes traffic the reader finds the log source and both colours'
        // tasks, so that under traffic a read is one FilterLogEvents call: when every
        // call takes seconds, that is what lets the judge speak before the alarm.
        let traffic = green.traffic_weight > 0.0 || self.weights_stale;
        if !traffic && self.logs.as_ref().is_some_and(|r| same(r) && r.prepared()) {
            return None;
        }
        self.next = now + self.cfg.poll;
        let mut reader = match self.logs.take() {
            Some(r) if same(&r) => r,
            _ => ColourLogs::new(target_id, &blue.id, &green.id, start_ms)
                .with_source(self.source.clone()),
        };
        reader.prepare_only(!traffic);
        self.preparing = !traffic;
        self.reading = true;
        Some(reader)
    }

    /// Takes a finished read: counts its lines, judges, and returns what to report.
    /// `green_percent` is green's share of traffic now, `alarms_fired` the alarms seen
    /// in ALARM so far.
    pub fn read_done(
        &mut self,
        logs: ColourLogs,
        r: Result<Vec<Line>>,
        green_percent: Option<f64>,
        alarms_fired: &[String],
    ) -> Vec<Event> {
        self.logs = Some(logs);
        self.reading = false;
        let preparing = std::mem::take(&mut self.preparing);
        let lines = match r {
            Ok(l) => l,
            Err(e) => return self.failed(e).into_iter().collect(),
        };
        self.failures = 0;
        if preparing {
            // Ready: the first read under traffic need not wait a whole poll.
            self.next = Duration::ZERO;
            return Vec::new();
        }
        if !self.active() {
            return Vec::new();
        }
        let (mut green, mut blue) = (Counts::default(), Counts::default());
        for l in &lines {
            let Some(error) = judge::classify(&l.message) else {
                continue;
            };
            self.newest_ms = self.newest_ms.max(l.timestamp_ms);
            match l.colour {
                Colour::Green => {
                    green.add(error);
                    if error {
                        let first = self.first_green_error_ms.get_or_insert(l.timestamp_ms);
                        *first = (*first).min(l.timestamp_ms);
                    }
                }
                Colour::Blue => blue.add(error),
            }
        }
        // One read is one step of the sequential test.
        self.evidence.add(green, blue);
        let share = if self.metrics {
            judge_metrics::LOG_SHARE
        } else {
            1.0
        };
        let verdict = judge::judge(&self.evidence, &judge_metrics::at_share(&self.cfg, share));
        let changed = self.verdict.map(|v| v.kind()) != Some(verdict.kind());
        self.verdict = Some(verdict);
        if let Verdict::Worse { odds, needed } = verdict {
            self.stop_why = Some(self.stop_sentence(odds, needed, green_percent, alarms_fired));
        }
        if !changed {
            return Vec::new();
        }
        vec![Event::Judged {
            verdict: verdict.kind().to_owned(),
            text: self.verdict_text(verdict, alarms_fired),
            green: self.evidence.green,
            blue: self.evidence.blue,
        }]
    }

    /// A failed read: access and configuration problems turn the judge off at once,
    /// transient ones after a few in a row.
    fn failed(&mut self, e: Error) -> Option<Event> {
        self.failures += 1;
        if e.is_transient() && self.failures < MAX_FAILURES {
            return None;
        }
        let mut why = format!("the task logs could not be read: {e}");
        if self.metrics && self.evidence == Evidence::default() {
            why.push_str(
                "; the judge goes on from the target groups' per-minute metrics alone, which arrive a minute or two late",
            );
        }
        self.off = Some(why.clone());
        Some(Event::JudgeOff { why })
    }

    /// Traffic stopped shifting (all on green) or the deployment ended: the judge stops
    /// reading and says so if it never had enough green requests.
    pub fn shift_over(&mut self) -> Option<Event> {
        if self.shift_over || self.stop_why.is_some() {
            return None;
        }
        self.shift_over = true;
        if self.off.is_some() {
            return None;
        }
        let note = self.cannot_judge_note()?;
        Some(Event::JudgeOff { why: note })
    }

    fn cannot_judge_note(&self) -> Option<String> {
        match self.verdict {
            None | Some(Verdict::TooFewRequests { .. }) | Some(Verdict::NoBaseline) => {
                Some(format!(
                    "cannot judge: {} green requests in the task logs (needs {}); the alarms were the only guard",
                    judge::thousands(self.evidence.green.requests),
                    judge::thousands(self.cfg.min_requests)
                ))
            }
            // Green looked worse by the effect, but the evidence was short of the
            // threshold when traffic stopped shifting or an alarm stopped it first.
            Some(Verdict::NotWorse { odds, needed })
                if judge::shows_effect(self.evidence.green, self.evidence.blue, &self.cfg) =>
            {
                Some(format!(
                    "cannot judge: {} looks worse, but the evidence ({}) was short of the {} needed; the alarms were the only guard",
                    judge::counts_text(self.evidence.green, self.evidence.blue),
                    judge::odds_text(odds),
                    judge::odds_text(needed)
                ))
            }
            _ => None,
        }
    }

    fn verdict_text(&self, v: Verdict, alarms_fired: &[String]) -> String {
        let counts = judge::counts_text(self.evidence.green, self.evidence.blue);
        match v {
            Verdict::TooFewRequests { green, needed } => format!(
                "waiting for {} green requests before judging ({} so far)",
                judge::thousands(needed),
                judge::thousands(green)
            ),
            Verdict::NoBaseline => format!("no blue requests to compare green with yet ({counts})"),
            Verdict::NotWorse { odds, needed } => format!(
                "green is not shown worse than blue so far: {counts} (evidence {} that it is, {} needed)",
                judge::odds_text(odds),
                judge::odds_text(needed)
            ),
            Verdict::Worse { .. } => self.stop_why.clone().unwrap_or_else(|| {
                format!(
                    "green is worse than blue: {counts} ({})",
                    alarms_fired.join(", ")
                )
            }),
        }
    }

    /// "shipwatch's judge stopped it (task logs): green 14 errors in 120 requests vs blue 2 in
    /// 1 080 (…) at 10 % traffic, 38 s after green's first error; the alarm had not fired".
    fn stop_sentence(
        &self,
        odds: f64,
        needed: f64,
        green_percent: Option<f64>,
        alarms: &[String],
    ) -> String {
        let at = green_percent
            .map(|g| format!(" at {g:.0} % traffic"))
            .unwrap_or_default();
        let after = self
            .first_green_error_ms
            .map(|t| {
                format!(
                    ", {} s after green's first error",
                    ((self.newest_ms - t).max(0) as f64 / 1000.0).round()
                )
            })
            .unwrap_or_default();
        let alarm = if alarms.is_empty() {
            "the alarm had not fired".to_owned()
        } else {
            format!("alarm {} had fired too", alarms.join(", "))
        };
        format!(
            "shipwatch's judge stopped it (task logs): {} (evidence {} that green fails more often than blue, {} needed at {} % confidence, and {}){at}{after}; {alarm}",
            judge::counts_text(self.evidence.green, self.evidence.blue),
            judge::odds_text(odds),
            judge::odds_text(needed),
            judge::percent_text(self.cfg.confidence),
            judge::effect_text(&self.cfg),
        )
    }

    /// The report with the metric test's: its numbers, and its stop when it stopped
    /// the deployment (the log test had not).
    pub fn report_with(&self, m: Option<&judge_metrics::MetricJudging>) -> JudgeReport {
        let mut r = self.report();
        let Some(m) = m else {
            return r;
        };
        r.metrics = Some(m.report());
        if r.stopped.is_none()
            && let Some(why) = &m.stop_why
        {
            r.stopped = Some(why.clone());
            r.decided_by = Some("target_group_metrics");
            // Whatever the log test could not judge, the metrics did.
            r.note = r.note.filter(|_| self.off.is_some());
        }
        r
    }

    pub fn report(&self) -> JudgeReport {
        JudgeReport {
            verdict: self.verdict,
            green: self.evidence.green,
            blue: self.evidence.blue,
            stopped: self.stop_why.clone(),
            decided_by: self.stop_why.is_some().then_some("task_logs"),
            metrics: None,
            note: self.off.clone().or_else(|| {
                if self.stop_why.is_none() {
                    self.cannot_judge_note()
                } else {
                    None
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::TargetTaskSet;
    use crate::deploy::judge::tests::cfg;

    fn target(green: f64) -> Target {
        let ts = |id: &str, label: &str, w: f64| TargetTaskSet {
            id: id.into(),
            label: label.into(),
            traffic_weight: w,
            desired: 2,
            running: 2,
            pending: 0,
            status: "ACTIVE".into(),
            target_group: None,
        };
        Target {
            status: "InProgress".into(),
            lifecycle: Vec::new(),
            task_sets: vec![
                ts("ts-b", "Blue", 100.0 - green),
                ts("ts-g", "Green", green),
            ],
        }
    }

    fn lines(colour: Colour, ok: usize, bad: usize, t0: i64) -> Vec<Line> {
        let line = |status: u16, i: usize| Line {
            colour,
            timestamp_ms: t0 + i as i64 * 100,
            message: format!(
                r#"{{"req":{{"url":"/api/orders"}},"res":{{"statusCode":{status}}}}}"#
            ),
        };
        (0..ok)
            .map(|i| line(200, i))
            .chain((0..bad).map(|i| line(500, ok + i)))
            .collect()
    }

    #[test]
    fn reads_wait_for_green_traffic_and_the_poll_period() {
        let mut j = Judging::new(cfg());
        let now = Duration::from_secs(1);
        assert!(
            j.start_read(now, Some("c:s"), Some(&target(10.0)), None)
                .is_none()
        );
        // Before traffic shifts, one read prepares the reader (source, tasks) …
        let r = j
            .start_read(now, Some("c:s"), Some(&target(0.0)), Some(0))
            .expect("a preparing read");
        assert!(
            j.start_read(now, Some("c:s"), Some(&target(0.0)), Some(0))
                .is_none()
        );
        j.read_done(r, Ok(Vec::new()), Some(0.0), &[]);
        assert!(j.verdict.is_none(), "a preparing read judges nothing");
        // … which, once it prepared, is not started again (the mock reader here did
        // not prepare, so it would be).
        let mut prepared = j.logs.take().unwrap();
        prepared.mark_prepared_for_tests();
        j.logs = Some(prepared);
        assert!(
            j.start_read(now, Some("c:s"), Some(&target(0.0)), Some(0))
                .is_none()
        );
        // Under traffic the first read starts at once, not a poll later.
        let r = j
            .start_read(now, Some("c:s"), Some(&target(10.0)), Some(0))
            .expect("due");
        // While the read is out, none other starts.
        assert!(
            j.start_read(now, Some("c:s"), Some(&target(10.0)), Some(0))
                .is_none()
        );
        j.read_done(r, Ok(Vec::new()), Some(10.0), &[]);
        assert!(j.verdict.is_some());
        assert!(
            j.start_read(
                now + Duration::from_secs(4),
                Some("c:s"),
                Some(&target(10.0)),
                Some(0)
            )
            .is_none()
        );
        assert!(
            j.start_read(
                now + Duration::from_secs(6),
                Some("c:s"),
                Some(&target(10.0)),
                Some(0)
            )
            .is_some()
        );
    }

    /// A prepared reader waits for green's traffic as the target shows it, unless the
    /// target's weights are out of date: then it reads (green may have traffic unseen).
    #[test]
    fn with_the_weights_out_of_date_a_prepared_reader_reads_anyway() {
        let mut j = Judging::new(cfg());
        let mut prepared = ColourLogs::new("c:s", "ts-b", "ts-g", 0);
        prepared.mark_prepared_for_tests();
        j.logs = Some(prepared);
        let now = Duration::from_secs(1);
        let start = |j: &mut Judging| j.start_read(now, Some("c:s"), Some(&target(0.0)), Some(0));
        assert!(start(&mut j).is_none(), "no traffic seen, weights fresh");
        j.set_weights_stale(true);
        let r = start(&mut j).expect("reads with the weights stale");
        let mut batch = lines(Colour::Green, 106, 14, 10_000);
        batch.extend(lines(Colour::Blue, 1078, 2, 0));
        j.read_done(r, Ok(batch), None, &[]);
        let why = j.stop_why.clone().expect("lines under traffic are judged");
        assert!(!why.contains("% traffic"), "no traffic share known: {why}");
    }

    #[test]
    fn a_bad_green_is_stopped_with_the_numbers_and_a_good_one_is_not() {
        let mut j = Judging::new(cfg());
        let r = j
            .start_read(Duration::ZERO, Some("c:s"), Some(&target(10.0)), Some(0))
            .unwrap();
        let mut batch = lines(Colour::Green, 106, 14, 10_000);
        batch.extend(lines(Colour::Blue, 1078, 2, 0));
        let events = j.read_done(r, Ok(batch), Some(10.0), &[]);
        let why = j.stop_why.clone().expect("stopped");
        assert!(why.starts_with("shipwatch's judge stopped it (task logs): green 14 errors in 120 requests vs blue 2 in 1 080 (evidence "), "{why}");
        assert!(why.contains(":1 that green fails more often than blue, 1 000:1 needed at 99.9 % confidence, and green's error rate ≥ 2× blue's"), "{why}");
        assert!(why.contains(" at 10 % traffic, "), "{why}");
        assert!(
            why.ends_with("s after green's first error; the alarm had not fired"),
            "{why}"
        );
        assert!(matches!(&events[..], [Event::Judged { verdict, .. }] if verdict == "worse"));
        assert!(!j.active());

        let mut j = Judging::new(cfg());
        let r = j
            .start_read(Duration::ZERO, Some("c:s"), Some(&target(10.0)), Some(0))
            .unwrap();
        let mut batch = lines(Colour::Green, 119, 1, 0);
        batch.extend(lines(Colour::Blue, 1070, 10, 0));
        j.read_done(r, Ok(batch), Some(10.0), &[]);
        assert_eq!(j.stop_why, None);
        assert_eq!(j.shift_over(), None, "it judged, so nothing to add");
    }

    #[test]
    fn too_little_traffic_says_it_cannot_judge() {
        let mut j = Judging::new(cfg());
        let r = j
            .start_read(Duration::ZERO, Some("c:s"), Some(&target(10.0)), Some(0))
            .unwrap();
        let mut batch = lines(Colour::Green, 0, 3, 0);
        batch.extend(lines(Colour::Blue, 30, 0, 0));
        let events = j.read_done(r, Ok(batch), Some(10.0), &[]);
        assert!(
            matches!(&events[..], [Event::Judged { verdict, .. }] if verdict == "too_few_requests")
        );
        assert_eq!(j.stop_why, None);
        let Some(Event::JudgeOff { why }) = j.shift_over() else {
            panic!("no cannot-judge event")
        };
        assert_eq!(
            why,
            "cannot judge: 3 green requests in the task logs (needs 10); the alarms were the only guard"
        );
        assert_eq!(j.report().note.as_deref(), Some(why.as_str()));
    }

    #[test]
    fn green_that_looks_worse_without_enough_evidence_says_so_when_the_shift_ends() {
        let mut j = Judging::new(cfg());
        let r = j
            .start_read(Duration::ZERO, Some("c:s"), Some(&target(10.0)), Some(0))
            .unwrap();
        let mut batch = lines(Colour::Green, 9, 3, 0);
        batch.extend(lines(Colour::Blue, 95, 0, 0));
        j.read_done(r, Ok(batch), Some(10.0), &[]);
        assert_eq!(j.stop_why, None);
        let Some(Event::JudgeOff { why }) = j.shift_over() else {
            panic!("no cannot-judge event")
        };
        assert!(
            why.starts_with("cannot judge: green 3 errors in 12 requests vs blue 0 in 95 looks worse, but the evidence ("),
            "{why}"
        );
        assert!(
            why.ends_with(":1) was short of the 1 000:1 needed; the alarms were the only guard"),
            "{why}"
        );
    }

    #[test]
    fn unreadable_logs_turn_the_judge_off_and_say_so() {
        let mut j = Judging::new(cfg());
        let r = j
            .start_read(Duration::ZERO, Some("c:s"), Some(&target(10.0)), Some(0))
            .unwrap();
        let e = Error::Precondition("no awslogs".into());
        let events = j.read_done(r, Err(e), Some(10.0), &[]);
        assert!(matches!(&events[..], [Event::JudgeOff { why }] if why.contains("no awslogs")));
        assert!(!j.active());
    }

    #[test]
    fn beside_the_metrics_the_log_test_holds_its_share_of_the_budget() {
        let mut j = Judging::new(cfg());
        j.metrics = true;
        let r = j
            .start_read(Duration::ZERO, Some("c:s"), Some(&target(10.0)), Some(0))
            .unwrap();
        let mut batch = lines(Colour::Green, 106, 14, 10_000);
        batch.extend(lines(Colour::Blue, 1078, 2, 0));
        j.read_done(r, Ok(batch), Some(10.0), &[]);
        let why = j.stop_why.clone().expect("stopped");
        assert!(
            why.contains(", 1 111:1 needed at 99.9 % confidence"),
            "{why}"
        );
        let r = j.report();
        assert_eq!(r.decided_by, Some("task_logs"));
    }

    #[test]
    fn unreadable_logs_say_once_that_the_metrics_judge_alone() {
        let mut j = Judging::new(cfg());
        j.metrics = true;
        let r = j
            .start_read(Duration::ZERO, Some("c:s"), Some(&target(10.0)), Some(0))
            .unwrap();
        let e = Error::Precondition("no awslogs".into());
        let events = j.read_done(r, Err(e), Some(10.0), &[]);
        let [Event::JudgeOff { why }] = &events[..] else {
            panic!("{events:?}")
        };
        assert!(
            why.ends_with("; the judge goes on from the target groups' per-minute metrics alone, which arrive a minute or two late"),
            "{why}"
        );
        assert!(j.unreadable());
        // The metric test's stop becomes the judge's, the note stays.
        let mut m = judge_metrics::MetricJudging::new(cfg());
        m.stop_why =
            Some("shipwatch's judge stopped it (target-group metrics, minute 12:04): …".into());
        let r = j.report_with(Some(&m));
        assert_eq!(r.decided_by, Some("target_group_metrics"));
        assert_eq!(r.stopped, m.stop_why);
        assert_eq!(r.note.as_deref(), Some(why.as_str()));
        assert_eq!(r.metrics.map(|m| m.minutes), Some(0));
    }

    #[test]
    fn logs_that_fail_after_counting_lines_keep_the_split() {
        let mut j = Judging::new(cfg());
        j.metrics = true;
        let r = j
            .start_read(Duration::ZERO, Some("c:s"), Some(&target(10.0)), Some(0))
            .unwrap();
        j.read_done(r, Ok(lines(Colour::Green, 5, 0, 0)), Some(10.0), &[]);
        let r = j
            .start_read(
                Duration::from_secs(5),
                Some("c:s"),
                Some(&target(10.0)),
                Some(0),
            )
            .unwrap();
        let events = j.read_done(
            r,
            Err(Error::Precondition("denied".into())),
            Some(10.0),
            &[],
        );
        assert!(matches!(&events[..], [Event::JudgeOff { why }] if !why.contains("metrics alone")));
        assert!(!j.unreadable());
    }
}
