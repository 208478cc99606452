//! Reporters for deploy events: an indicatif bar on a terminal, plain lines plus a
//! heartbeat for Jenkins (no TTY), or JSON lines for machines.

use super::events::{Event, Sink};
use std::io::Write;
use std::time::Duration;

/// Which reporter to use. A bar only on a real terminal outside CI: some CI systems
/// pretend to be terminals, and Jenkins logs would fill with redraws.
pub fn choose(json: bool, stderr_is_tty: bool, in_ci: bool) -> Kind {
    if json {
        Kind::Json
    } else if stderr_is_tty && !in_ci {
        Kind::Bar
    } else {
        Kind::Plain
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bar,
    Plain,
    Json,
}

/// Builds the reporter for this run (bar, plain lines or JSON lines).
pub fn reporter(json: bool, heartbeat: Duration) -> Box<dyn Sink + Send> {
    use std::io::IsTerminal;
    match choose(json, std::io::stderr().is_terminal(), in_ci()) {
        Kind::Json => Box::new(Json(std::io::stdout())),
        Kind::Bar => Box::new(Bar::new()),
        Kind::Plain => Box::new(Plain::new(std::io::stderr(), heartbeat)),
    }
}

/// Jenkins sets JENKINS_URL/BUILD_URL (it has no `CI` variable); other systems set CI.
pub fn in_ci() -> bool {
    ["CI", "JENKINS_URL", "BUILD_URL", "BUILD_ID"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

pub fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// One human line for an event, or `None` for events that only feed the heartbeat.
pub fn line(e: &Event) -> Option<String> {
    Some(match e {
        Event::TaskDefinition { arn, reused: true } => {
            format!("task definition {arn} (unchanged, reused)")
        }
        Event::TaskDefinition { arn, reused: false } => format!("registered task definition {arn}"),
        Event::Created {
            deployment_id,
            config,
            task_definition,
        } => {
            format!("created deployment {deployment_id} ({config}) for {task_definition}")
        }
        Event::Attached { deployment_id } => format!("watching deployment {deployment_id}"),
        Event::Status {
            deployment_id,
            status,
        } => format!("{deployment_id} status {status}"),
        Event::Lifecycle {
            deployment_id,
            name,
            status,
        } => format!("{deployment_id} {name} {status}"),
        Event::Traffic {
            deployment_id,
            green_percent,
        } => {
            format!(
                "{deployment_id} traffic {:.0}% green / {:.0}% blue",
                green_percent,
                100.0 - green_percent
            )
        }
        Event::AlarmFired { alarm, reason } => match reason {
            Some(r) => format!("ALARM {alarm}: {r}"),
            None => format!("ALARM {alarm}"),
        },
        Event::StopRequested {
            deployment_id,
            rollback,
            why,
        } => {
            format!(
                "stopping {deployment_id}{} because {why}",
                if *rollback { " with rollback" } else { "" }
            )
        }
        Event::AlreadyEnded {
            deployment_id,
            message,
        } => format!(
            "{deployment_id} had already ended when shipwatch's stop reached it, so shipwatch did not stop it{}",
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        ),
        Event::RollbackStarted {
            deployment_id,
            rollback_id,
        } => {
            format!("{deployment_id} is rolling back in deployment {rollback_id}")
        }
        Event::Retrying {
            operation,
            message,
            failing_for,
            budget,
        } => {
            if failing_for.is_zero() {
                format!("{operation} failed, retrying at the next poll: {message}")
            } else {
                format!(
                    "{operation} failed, retrying at the next poll: {message} (reads failing for {}, giving up after {})",
                    fmt_elapsed(*failing_for),
                    fmt_elapsed(*budget)
                )
            }
        }
        Event::Waiting { operation, waited } => {
            format!(
                "still waiting for {operation} to answer ({})",
                fmt_elapsed(*waited)
            )
        }
        Event::Judged { text, .. } => format!("judge: {text}"),
        Event::JudgeOff { why } => format!("judge: {why}"),
        Event::Tick { .. } => return None,
    })
}

/// The heartbeat line for a tick.
pub fn heartbeat(e: &Event) -> Option<String> {
    if let Event::Tick {
        deployment_id,
        status,
        green_percent,
        lifecycle,
        elapsed,
    } = e
    {
        let mut s = format!(
            "still watching {deployment_id}: {}",
            if status.is_empty() {
                "starting"
            } else {
                status
            }
        );
        if let Some(g) = green_percent {
            s.push_str(&format!(", {g:.0}% green"));
        }
        if let Some(l) = lifecycle {
            s.push_str(&format!(", {l}"));
        }
        s.push_str(&format!(" ({} elapsed)", fmt_elapsed(*elapsed)));
        Some(s)
    } else {
        None
    }
}

/// Plain lines for logs: one per change, and a heartbeat when nothing changed for a while.
pub struct Plain<W: Write> {
    out: W,
    heartbeat: Duration,
    last: Option<Duration>,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W, heartbeat: Duration) -> Self {
        Plain {
            out,
            heartbeat,
            last: None,
        }
    }
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for Plain<W> {
    fn emit(&mut self, elapsed: Duration, e: &Event) {
        let text = match line(e) {
            Some(l) => Some(l),
            None if self
                .last
                .is_none_or(|t| elapsed.saturating_sub(t) >= self.heartbeat) =>
            {
                heartbeat(e)
            }
            None => None,
        };
        if let Some(t) = text {
            let _ = writeln!(self.out, "[shipwatch {:>7}] {t}", fmt_elapsed(elapsed));
            let _ = self.out.flush();
            self.last = Some(elapsed);
        }
    }
}

/// JSON lines, one object per event, with the elapsed time in milliseconds.
pub struct Json<W: Write>(pub W);

impl<W: Write> Sink for Json<W> {
    fn emit(&mut self, elapsed: Duration, e: &Event) {
        let mut v = serde_json::to_value(e).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "elapsed_ms".into(),
                serde_json::json!(elapsed.as_millis() as u64),
            );
        }
        let _ = writeln!(self.0, "{v}");
        let _ = self.0.flush();
    }
}

/// A progress bar of green traffic with the lifecycle event as its message.
pub struct Bar {
    bar: indicatif::ProgressBar,
}

impl Bar {
    pub fn new() -> Self {
        let bar = indicatif::ProgressBar::new(100);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:30}] {pos:>3}% green  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar { bar }
    }
}

impl Sink for Bar {
    fn emit(&mut self, _elapsed: Duration, e: &Event) {
        match e {
            Event::Traffic { green_percent, .. } => {
                self.bar.set_position(green_percent.round() as u64)
            }
            Event::Lifecycle { name, status, .. } => {
                self.bar.set_message(format!("{name} {status}"))
            }
            Event::Tick { .. } => {}
            other => {
                if let Some(l) = line(other) {
                    self.bar.println(l);
                }
            }
        }
    }
    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Sends every event to several sinks (e.g. the reporter and the state-file keeper).
pub struct Fan<'a>(pub Vec<&'a mut dyn Sink>);

impl Sink for Fan<'_> {
    fn emit(&mut self, elapsed: Duration, e: &Event) {
        for s in self.0.iter_mut() {
            s.emit(elapsed, e);
        }
    }
    fn finish(&mut self) {
        for s in self.0.iter_mut() {
            s.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(secs: u64) -> Event {
        Event::Tick {
            deployment_id: "d-1".into(),
            status: "InProgress".into(),
            green_percent: Some(20.0),
            lifecycle: Some("AllowTraffic InProgress".into()),
            elapsed: Duration::from_secs(secs),
        }
    }

    #[test]
    fn plain_prints_changes_and_heartbeats_every_30s() {
        let mut p = Plain::new(Vec::new(), Duration::from_secs(30));
        p.emit(
            Duration::from_secs(0),
            &Event::Status {
                deployment_id: "d-1".into(),
                status: "InProgress".into(),
            },
        );
        p.emit(Duration::from_secs(10), &tick(10));
        p.emit(Duration::from_secs(31), &tick(31));
        p.emit(
            Duration::from_secs(40),
            &Event::Traffic {
                deployment_id: "d-1".into(),
                green_percent: 30.0,
            },
        );
        p.emit(Duration::from_secs(50), &tick(50));
        p.emit(Duration::from_secs(71), &tick(71));
        let out = String::from_utf8(p.into_inner()).unwrap();
        insta::assert_snapshot!(out, @r"
        [shipwatch      0s] d-1 status InProgress
        [shipwatch     31s] still watching d-1: InProgress, 20% green, AllowTraffic InProgress (31s elapsed)
        [shipwatch     40s] d-1 traffic 30% green / 70% blue
        [shipwatch   1m11s] still watching d-1: InProgress, 20% green, AllowTraffic InProgress (1m11s elapsed)
        ");
    }

    #[test]
    fn json_lines_carry_event_and_elapsed() {
        let mut j = Json(Vec::new());
        j.emit(
            Duration::from_millis(1500),
            &Event::AlarmFired {
                alarm: "web-5xx".into(),
                reason: Some("Threshold Crossed".into()),
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&j.0).unwrap();
        assert_eq!(v["event"], "alarm_fired");
        assert_eq!(v["alarm"], "web-5xx");
        assert_eq!(v["elapsed_ms"], 1500);
    }

    #[test]
    fn bar_only_on_a_terminal_outside_ci() {
        assert_eq!(choose(false, true, false), Kind::Bar);
        assert_eq!(choose(false, true, true), Kind::Plain);
        assert_eq!(choose(false, false, false), Kind::Plain);
        assert_eq!(choose(true, true, false), Kind::Json);
    }
}
