//! The judge's second, independent source: the green and blue target groups' requests
//! and target 5xx per minute, as the load balancer publishes them (60–90 s late). Each
//! minute is one step of its own sequential test (`judge::Evidence`), fed once when
//! both groups have published it; it is never multiplied with the task logs' evidence,
//! since both count the same requests.
//!
//! The two tests share the false-stop budget α = 1 − confidence by the union bound:
//! with the task logs readable the log test stops at 1/(0.9·α) and this one at
//! 1/(0.1·α), so the chance that either ever stops a release no worse than blue is at
//! most 0.9·α + 0.1·α = α. When the task logs could not be read at all (the log test
//! never saw a line) this test stops alone at 1/α: the log test then cannot stop
//! anything, and before the switch this test's threshold was only higher.
//!
//! Everything here is synchronous and driven by the engine's clock; the AWS read is
//! `aws::tg_metrics`.

use super::events::Event;
use super::judge::{self, Counts, Evidence, JudgeConfig, Verdict};
use crate::aws::evidence::Series;
use crate::aws::model::Target;
use crate::aws::tg_metrics::{TgCounts, TgMetrics};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The task logs' share of the false-stop budget while both sources are read.
pub const LOG_SHARE: f64 = 0.9;

/// Transient read failures in a row after which this source gives up.
const MAX_FAILURES: u32 = 5;

/// Polls to wait before the first read once green has traffic: green's first minute is
/// published only after it ends, and then a minute or so late.
const FIRST_READ_POLLS: u32 = 3;

/// Polls to wait after a read that fed a minute: the next minute is published about a
/// minute after it, so reading sooner finds nothing (this saves a call a minute).
const AFTER_FEED_POLLS: u32 = 2;

/// The configuration one test decides with when it holds `share` of the budget: the
/// same minimum sample and effect, the confidence 1 − share·(1 − confidence).
pub fn at_share(cfg: &JudgeConfig, share: f64) -> JudgeConfig {
    JudgeConfig {
        confidence: 1.0 - share * (1.0 - cfg.confidence),
        ..cfg.clone()
    }
}

/// This test's share of the budget: all of it when the task logs could not be read at
/// all, else what the log test leaves.
pub fn metric_share(logs_unreadable: bool) -> f64 {
    if logs_unreadable {
        1.0
    } else {
        1.0 - LOG_SHARE
    }
}

/// Per minute (epoch seconds of its start), the requests and 5xx of one group.
pub fn per_minute(requests: &Series, errors: &Series) -> BTreeMap<i64, Counts> {
    let mut out: BTreeMap<i64, Counts> = BTreeMap::new();
    for (t, v) in requests {
        out.entry(t.timestamp()).or_default().requests += v.max(0.0).round() as u64;
    }
    // A 5xx sum without a request sum is a minute not (fully) published: left out.
    for (t, v) in errors {
        if let Some(c) = out.get_mut(&t.timestamp()) {
            c.errors += v.max(0.0).round() as u64;
        }
    }
    out
}

/// The minutes not fed yet that both groups have published, oldest first. ALB
/// publishes no data point for a minute without requests, so a minute green did not
/// answer waits, and adds nothing; a minute one group published late is fed when the
/// other's appears.
pub fn new_minutes(
    fed: &BTreeSet<i64>,
    green: &BTreeMap<i64, Counts>,
    blue: &BTreeMap<i64, Counts>,
) -> Vec<(i64, Counts, Counts)> {
    green
        .iter()
        .filter(|(m, g)| !fed.contains(m) && g.requests > 0)
        .filter_map(|(m, g)| {
            let b = blue.get(m).filter(|b| b.requests > 0)?;
            Some((*m, *g, *b))
        })
        .collect()
}

/// "green 40 5xx in 120 requests vs blue 2 in 1 080".
pub fn counts_text(green: Counts, blue: Counts) -> String {
    format!(
        "green {} 5xx in {} requests vs blue {} in {}",
        judge::thousands(green.errors),
        judge::thousands(green.requests),
        judge::thousands(blue.errors),
        judge::thousands(blue.requests)
    )
}

/// "12:04" (UTC) for a minute's epoch seconds.
fn minute_text(m: i64) -> String {
    DateTime::<Utc>::from_timestamp(m, 0)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// What the metric test concluded, for the summary, the JSON output and the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsReport {
    #[serde(flatten)]
    pub verdict: Option<Verdict>,
    pub green: Counts,
    pub blue: Counts,
    /// Minutes fed to the test.
    pub minutes: usize,
    pub note: Option<String>,
}

#[derive(Debug)]
pub struct MetricJudging {
    pub cfg: JudgeConfig,
    /// The reader, between reads (the engine moves it into the read under way).
    reader: Option<TgMetrics>,
    reading: bool,
    next: Duration,
    pub evidence: Evidence,
    /// Minutes already fed: a minute read again is never counted twice.
    fed: BTreeSet<i64>,
    newest_fed: Option<i64>,
    verdict: Option<Verdict>,
    failures: u32,
    off: Option<String>,
    /// Set once green is judged worse: the stop's reason.
    pub stop_why: Option<String>,
    shift_over: bool,
    /// Reads in which CloudWatch did not know the groups' metrics yet.
    not_found: u32,
    /// When green was first seen with traffic (the first read waits from then).
    green_since: Option<Duration>,
}

impl MetricJudging {
    pub fn new(cfg: JudgeConfig) -> Self {
        MetricJudging {
            cfg,
            reader: None,
            reading: false,
            next: Duration::ZERO,
            evidence: Evidence::default(),
            fed: BTreeSet::new(),
            newest_fed: None,
            verdict: None,
            failures: 0,
            off: None,
            stop_why: None,
            shift_over: false,
            not_found: 0,
            green_since: None,
        }
    }

    pub fn active(&self) -> bool {
        self.off.is_none() && self.stop_why.is_none() && !self.shift_over
    }

    /// When the next read is due (when one may start).
    pub fn next_due(&self) -> Option<Duration> {
        (self.active() && !self.reading).then_some(self.next)
    }

    /// The reader for a read starting `now`, when one is due: green has traffic and
    /// both task sets' target groups are known. `start` is when the deployment was
    /// created.
    pub fn start_read(
        &mut self,
        now: Duration,
        target: Option<&Target>,
        start: Option<DateTime<Utc>>,
    ) -> Option<TgMetrics> {
        if !self.active() || self.reading || now < self.next {
            return None;
        }
        let (target, start) = (target?, start?);
        let set = |label: &str| target.task_sets.iter().find(|t| t.label == label);
        let (blue, green) = (set("Blue")?, set("Green")?);
        if green.traffic_weight <= 0.0 {
            return None;
        }
        if self.green_since.is_none() {
            self.green_since = Some(now);
            self.next = self
                .next
                .max(now + self.cfg.metrics_poll * FIRST_READ_POLLS);
            return None;
        }
        let (b, g) = (
            blue.target_group.as_deref()?,
            green.target_group.as_deref()?,
        );
        self.next = now + self.cfg.metrics_poll;
        let reader = match self.reader.take() {
            Some(r) if r.groups() == (b, g) => r,
            _ => TgMetrics::new(b, g, start),
        };
        self.reading = true;
        Some(reader)
    }

    /// Takes a finished read: feeds the minutes not fed yet, judges at this test's
    /// share of the budget, and returns what to report.
    pub fn read_done(
        &mut self,
        reader: TgMetrics,
        r: Result<TgCounts>,
        logs_unreadable: bool,
        green_percent: Option<f64>,
        alarms_fired: &[String],
    ) -> Vec<Event> {
        self.reader = Some(reader);
        self.reading = false;
        let counts = match r {
            Ok(c) => c,
            Err(e) => return self.failed(e).into_iter().collect(),
        };
        self.failures = 0;
        if !self.active() {
            return Vec::new();
        }
        if !counts.found {
            self.not_found += 1;
        }
        if self.feed(&counts) > 0 {
            self.next += self.cfg.metrics_poll * (AFTER_FEED_POLLS - 1);
        }
        let cfg = at_share(&self.cfg, metric_share(logs_unreadable));
        let verdict = judge::judge(&self.evidence, &cfg);
        let changed = self.verdict.map(|v| v.kind()) != Some(verdict.kind());
        self.verdict = Some(verdict);
        if let Verdict::Worse { odds, needed } = verdict {
            self.stop_why = Some(self.stop_sentence(odds, needed, green_percent, alarms_fired));
        }
        // Only a verdict worth saying: the waiting kinds would repeat the log test's.
        if !changed || !matches!(verdict, Verdict::Worse { .. } | Verdict::NotWorse { .. }) {
            return Vec::new();
        }
        vec![Event::Judged {
            verdict: verdict.kind().to_owned(),
            text: self.verdict_text(verdict),
            green: self.evidence.green,
            blue: self.evidence.blue,
        }]
    }

    /// Feeds each newly published minute as one step of the test; how many.
    fn feed(&mut self, counts: &TgCounts) -> usize {
        let green = per_minute(&counts.green.requests, &counts.green.errors);
        let blue = per_minute(&counts.blue.requests, &counts.blue.errors);
        let new = new_minutes(&self.fed, &green, &blue);
        for (m, g, b) in &new {
            self.fed.insert(*m);
            self.newest_fed = self.newest_fed.max(Some(*m));
            self.evidence.add(*g, *b);
        }
        new.len()
    }

    fn failed(&mut self, e: Error) -> Option<Event> {
        self.failures += 1;
        if e.is_transient() && self.failures < MAX_FAILURES {
            return None;
        }
        let why = format!("the target-group metrics could not be read: {e}");
        self.off = Some(why.clone());
        Some(Event::JudgeOff { why })
    }

    /// Traffic stopped shifting or the deployment ended: no more reads.
    pub fn shift_over(&mut self) {
        self.shift_over = true;
    }

    fn verdict_text(&self, v: Verdict) -> String {
        let counts = counts_text(self.evidence.green, self.evidence.blue);
        match v {
            Verdict::Worse { .. } => self.stop_why.clone().unwrap_or_default(),
            Verdict::NotWorse { odds, needed } => format!(
                "target-group metrics ({} minute{}): green is not shown worse than blue so far: {counts} (evidence {} that it is, {} needed)",
                self.fed.len(),
                if self.fed.len() == 1 { "" } else { "s" },
                judge::odds_text(odds),
                judge::odds_text(needed)
            ),
            _ => format!("target-group metrics: {counts}"),
        }
    }

    /// "shipwatch's judge stopped it (target-group metrics, minute 12:04): green 40 5xx
    /// in 120 requests vs blue 2 in 1 080 (…) at 30 % traffic; the alarm had not fired".
    fn stop_sentence(
        &self,
        odds: f64,
        needed: f64,
        green_percent: Option<f64>,
        alarms: &[String],
    ) -> String {
        let minute = self
            .newest_fed
            .map(|m| format!(", minute {}", minute_text(m)))
            .unwrap_or_default();
        let at = green_percent
            .map(|g| format!(" at {g:.0} % traffic"))
            .unwrap_or_default();
        let alarm = if alarms.is_empty() {
            "the alarm had not fired".to_owned()
        } else {
            format!("alarm {} had fired too", alarms.join(", "))
        };
        format!(
            "shipwatch's judge stopped it (target-group metrics{minute}): {} (evidence {} that green fails more often than blue, {} needed at {} % confidence, and {}){at}; {alarm}",
            counts_text(self.evidence.green, self.evidence.blue),
            judge::odds_text(odds),
            judge::odds_text(needed),
            judge::percent_text(self.cfg.confidence),
            judge::effect_text(&self.cfg),
        )
    }

    /// Why this source could not judge, when it could not: said in the report, where
    /// "nothing found" says where it looked.
    fn note(&self) -> Option<String> {
        if let Some(off) = &self.off {
            return Some(off.clone());
        }
        if self.stop_why.is_some() || !self.fed.is_empty() {
            return None;
        }
        Some(if self.not_found > 0 {
            "CloudWatch did not list the target groups' metrics yet; no minute was judged".into()
        } else {
            "no minute of both target groups' metrics was published while traffic shifted".into()
        })
    }

    pub fn report(&self) -> MetricsReport {
        MetricsReport {
            verdict: self.verdict,
            green: self.evidence.green,
            blue: self.evidence.blue,
            minutes: self.fed.len(),
            note: self.note(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::TargetTaskSet;
    use crate::aws::tg_metrics::GroupMinutes;
    use crate::deploy::judge::tests::{c, cfg};

    fn at(m: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(m, 0).unwrap()
    }

    /// A published minute: (minute, green counts, blue counts); a count of `None` is a
    /// minute that group has not published (yet).
    type Minute = (i64, Option<Counts>, Option<Counts>);

    fn published(minutes: &[Minute]) -> TgCounts {
        let group = |pick: &dyn Fn(&Minute) -> Option<Counts>| {
            let mut g = GroupMinutes::default();
            for m in minutes {
                if let Some(x) = pick(m) {
                    g.requests.push((at(m.0), x.requests as f64));
                    if x.errors > 0 {
                        g.errors.push((at(m.0), x.errors as f64));
                    }
                }
            }
            g
        };
        TgCounts {
            found: true,
            green: group(&|m| m.1),
            blue: group(&|m| m.2),
        }
    }

    fn target(green: f64) -> Target {
        let ts = |id: &str, label: &str, w: f64, tg: &str| TargetTaskSet {
            id: id.into(),
            label: label.into(),
            traffic_weight: w,
            desired: 2,
            running: 2,
            pending: 0,
            status: "ACTIVE".into(),
            target_group: Some(tg.into()),
        };
        Target {
            status: "InProgress".into(),
            lifecycle: Vec::new(),
            task_sets: vec![
                ts("ts-b", "Blue", 100.0 - green, "web-blue"),
                ts("ts-g", "Green", green, "web-green"),
            ],
        }
    }

    /// Runs reads on virtual time: each entry is what CloudWatch shows at that read.
    /// Returns the judge and the events of every read.
    fn run(reads: &[TgCounts], logs_unreadable: bool) -> (MetricJudging, Vec<Vec<Event>>) {
        let mut j = MetricJudging::new(cfg());
        let mut events = Vec::new();
        let mut now = Duration::ZERO;
        for counts in reads {
            // Virtual time runs a second at a time until the next read is due.
            let r = loop {
                if let Some(r) = j.start_read(now, Some(&target(10.0)), Some(at(0))) {
                    break r;
                }
                now += Duration::from_secs(1);
                assert!(now < Duration::from_secs(3600), "no read due");
            };
            events.push(j.read_done(r, Ok(counts.clone()), logs_unreadable, Some(10.0), &[]));
        }
        (j, events)
    }

    #[test]
    fn per_minute_counts_pair_requests_with_their_5xx() {
        let got = per_minute(
            &vec![(at(60), 100.0), (at(120), 50.0)],
            &vec![(at(60), 7.0), (at(180), 3.0)],
        );
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![(60, c(100, 7)), (120, c(50, 0))]
        );
    }

    /// Table: what CloudWatch shows at each of several reads → the counts fed in total.
    #[test]
    fn each_minute_is_fed_once_and_late_minutes_when_they_appear() {
        let (g, b) = (Some(c(100, 5)), Some(c(900, 4)));
        let table: &[(&str, Vec<TgCounts>, Counts, Counts, usize)] = &[
            (
                "a minute read three times is fed once",
                vec![published(&[(60, g, b)]); 3],
                c(100, 5),
                c(900, 4),
                1,
            ),
            (
                "nothing published yet, then one minute, then the next",
                vec![
                    published(&[]),
                    published(&[(60, g, b)]),
                    published(&[(60, g, b), (120, g, b)]),
                ],
                c(200, 10),
                c(1800, 8),
                2,
            ),
            (
                "blue's minute late: fed when it appears, once",
                vec![
                    published(&[(60, g, None)]),
                    published(&[(60, g, b)]),
                    published(&[(60, g, b)]),
                ],
                c(100, 5),
                c(900, 4),
                1,
            ),
            (
                "an older minute appearing after a newer one is still fed",
                vec![
                    published(&[(120, g, b)]),
                    published(&[(60, g, b), (120, g, b)]),
                ],
                c(200, 10),
                c(1800, 8),
                2,
            ),
            (
                "a minute green answered nothing adds nothing",
                vec![published(&[(60, None, b), (120, g, b)])],
                c(100, 5),
                c(900, 4),
                1,
            ),
        ];
        for (name, reads, green, blue, minutes) in table {
            let (j, _) = run(reads, false);
            let r = j.report();
            assert_eq!(
                (r.green, r.blue, r.minutes),
                (*green, *blue, *minutes),
                "{name}"
            );
        }
    }

    #[test]
    fn the_budget_is_split_and_taken_whole_when_the_logs_are_unreadable() {
        let t = |share: f64| judge::threshold(at_share(&cfg(), share).confidence);
        // α = 0.001: logs 1/(0.9·α), metrics 1/(0.1·α), metrics alone 1/α.
        assert!((t(LOG_SHARE) - 1111.11).abs() < 0.01, "{}", t(LOG_SHARE));
        assert!((t(metric_share(false)) - 10_000.0).abs() < 1e-6);
        assert!((t(metric_share(true)) - 1000.0).abs() < 1e-6);
        // Same minimum sample and effect.
        let shared = at_share(&cfg(), 0.1);
        assert_eq!((shared.min_requests, shared.min_ratio), (10, 2.0));
    }

    #[test]
    fn metrics_alone_decide_a_five_fold_regression() {
        // Blue 1 %, green 5 %, 10 % then 20 % then 30 % of 1 200 requests a minute.
        let minutes = [
            (60, Some(c(120, 6)), Some(c(1080, 11))),
            (120, Some(c(240, 12)), Some(c(960, 10))),
            (180, Some(c(360, 18)), Some(c(840, 8))),
        ];
        let reads: Vec<TgCounts> = (1..=minutes.len())
            .map(|n| published(&minutes[..n]))
            .collect();
        // The logs unreadable: two minutes are enough (odds about 4 000:1 of 1 000:1).
        let (alone, events) = run(&reads[..2], true);
        let why = alone.stop_why.clone().expect("stopped");
        assert_eq!(
            why.split(" (evidence ").next().unwrap(),
            "shipwatch's judge stopped it (target-group metrics, minute 00:02): green 18 5xx in 360 requests vs blue 21 in 2 040"
        );
        assert!(
            why.contains(":1 that green fails more often than blue, 1 000:1 needed at 99.9 % confidence, and "),
            "{why}"
        );
        assert!(
            why.ends_with(" at 10 % traffic; the alarm had not fired"),
            "{why}"
        );
        assert!(
            matches!(events.last().unwrap().as_slice(), [Event::Judged { verdict, .. }] if verdict == "worse")
        );
        assert!(!alone.active());
        // The logs readable: the same two minutes fall short of a tenth of the budget
        // (10 000:1); the third minute reaches it.
        let (shared, _) = run(&reads[..2], false);
        assert_eq!(shared.stop_why, None);
        assert!(
            matches!(shared.report().verdict, Some(Verdict::NotWorse { needed, .. }) if (needed - 10_000.0).abs() < 1e-6)
        );
        let (shared, _) = run(&reads, false);
        assert!(
            shared
                .stop_why
                .is_some_and(|w| w.contains(" 10 000:1 needed "))
        );
    }

    #[test]
    fn no_decision_below_the_minimum_sample() {
        // Every one of green's 9 requests failed: still below the 10 needed.
        let (j, events) = run(&[published(&[(60, Some(c(9, 9)), Some(c(900, 0)))])], true);
        assert_eq!(j.stop_why, None);
        assert!(matches!(
            j.report().verdict,
            Some(Verdict::TooFewRequests {
                green: 9,
                needed: 10
            })
        ));
        assert!(
            events.iter().all(Vec::is_empty),
            "waiting is the log test's to say"
        );
    }

    #[test]
    fn healthy_minutes_never_stop_it() {
        let reads: Vec<TgCounts> = (1..=10)
            .map(|n| {
                let ms: Vec<_> = (1..=n)
                    .map(|m| {
                        let share = m as u64 * 10;
                        (
                            m as i64 * 60,
                            Some(c(12 * share, share / 10)),
                            Some(c(12 * (100 - share), (100 - share) / 10)),
                        )
                    })
                    .collect();
                published(&ms)
            })
            .collect();
        let (j, _) = run(&reads, true);
        assert_eq!(j.stop_why, None);
        // The last minute, all on green, has no blue to compare with.
        assert_eq!(j.report().minutes, 9);
    }

    #[test]
    fn reads_wait_for_target_groups_green_traffic_and_the_poll() {
        let s = Duration::from_secs;
        let due =
            |j: &mut MetricJudging, t: u64| j.start_read(s(t), Some(&target(10.0)), Some(at(0)));
        let mut j = MetricJudging::new(cfg());
        assert!(
            j.start_read(s(0), Some(&target(0.0)), Some(at(0)))
                .is_none()
        );
        let mut no_tg = target(10.0);
        no_tg.task_sets[1].target_group = None;
        // Green has traffic from t = 5 s: the first read waits three polls (60 s).
        assert!(j.start_read(s(5), Some(&no_tg), Some(at(0))).is_none());
        assert!(due(&mut j, 64).is_none());
        let r = due(&mut j, 65).expect("due 60 s after green's traffic began");
        assert_eq!(r.groups(), ("web-blue", "web-green"));
        // Nothing published: the next read one poll later.
        j.read_done(r, Ok(TgCounts::default()), false, Some(10.0), &[]);
        assert!(due(&mut j, 84).is_none());
        let r = due(&mut j, 85).expect("due one poll later");
        assert_eq!(
            j.report().note.as_deref(),
            Some("CloudWatch did not list the target groups' metrics yet; no minute was judged")
        );
        // A minute fed: the next one is published about a minute later, so two polls.
        let one = published(&[(60, Some(c(60, 0)), Some(c(540, 0)))]);
        j.read_done(r, Ok(one), false, Some(10.0), &[]);
        assert!(due(&mut j, 124).is_none());
        assert!(due(&mut j, 125).is_some());
    }

    #[test]
    fn unreadable_metrics_turn_this_source_off_and_say_so() {
        let mut j = MetricJudging::new(cfg());
        j.start_read(Duration::ZERO, Some(&target(10.0)), Some(at(0)));
        let r = j
            .start_read(Duration::from_secs(60), Some(&target(10.0)), Some(at(0)))
            .unwrap();
        let e = Error::Precondition("not authorized to perform cloudwatch:GetMetricData".into());
        let events = j.read_done(r, Err(e), false, Some(10.0), &[]);
        assert!(
            matches!(&events[..], [Event::JudgeOff { why }] if why.starts_with("the target-group metrics could not be read: "))
        );
        assert!(!j.active());
    }
}
