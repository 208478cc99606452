//! `report.md`: the report for a Jenkins build page or a chat message. Log text is
//! always inside code spans or blocks (so markup in it is shown, not rendered) and
//! table cells escape `|`.

use crate::report::model::*;
use crate::report::verdict::{exit_meaning, num};
use chrono::{DateTime, Utc};
use std::fmt::Write;

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let title = match (&r.deployment, r.source.kind) {
        (Some(d), _) => format!("Rollback report: {}", d.deployment_id),
        (None, SourceKind::LogsFile) => format!("Log report: {}", r.source.input),
        (None, SourceKind::Aws) => format!("Rollback report: {}", r.source.input),
    };
    let _ = writeln!(o, "# {title}\n");
    let _ = writeln!(o, "> **Verdict.** {}\n", r.verdict.text);
    facts(&mut o, r);
    trigger(&mut o, r);
    timeline(&mut o, r);
    metrics(&mut o, r);
    ecs(&mut o, r);
    logs(&mut o, r);
    comparison(&mut o, r);
    latency(&mut o, r);
    traces(&mut o, r);
    if !r.missing.is_empty() {
        let _ = writeln!(o, "## Missing evidence\n");
        for m in &r.missing {
            let _ = writeln!(o, "- **{}**: {}", m.evidence, m.reason);
        }
        o.push('\n');
    }
    if !r.links.is_empty() {
        let _ = writeln!(o, "## Links\n");
        for l in &r.links {
            let _ = writeln!(o, "- [{}]({})", l.label, l.url);
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "<sub>{} · {} · schema {} v{}</sub>",
        r.generator,
        ts(r.generated_at),
        r.schema,
        r.schema_version
    );
    o
}

fn facts(o: &mut String, r: &Report) {
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(d) = &r.deployment {
        let mut dep = d.deployment_id.clone();
        if let Some(rb) = &d.rollback_deployment_id {
            dep.push_str(&format!(" → rolled back by {rb}"));
        }
        rows.push(("Deployment".into(), dep));
        rows.push((
            "Application / group".into(),
            format!("{} / {}", d.application, d.deployment_group),
        ));
        let mut st = d.status.clone();
        if let Some(c) = &d.error_code {
            st.push_str(&format!(" ({c})"));
        }
        if let Some(rs) = &d.rollback_status {
            st.push_str(&format!("; rollback {rs}"));
        }
        rows.push(("Status".into(), st));
        if let Some(t) = &d.green_task_definition {
            let blue = d
                .blue_task_definition
                .as_deref()
                .map(|b| format!(" (blue: {b})"))
                .unwrap_or_default();
            rows.push(("Green task definition".into(), format!("{t}{blue}")));
        }
        if let Some(s) = &d.sha {
            rows.push(("Release".into(), s.clone()));
        }
        if let Some(c) = &d.deployment_config {
            rows.push(("Deployment config".into(), c.clone()));
        }
    }
    if let Some(w) = &r.window {
        rows.push((
            "Evidence window".into(),
            format!("{} → {}", ts(w.start), ts(w.end)),
        ));
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(o, "| | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(o, "| {k} | {} |", cell(&v));
    }
    o.push('\n');
}

fn trigger(o: &mut String, r: &Report) {
    let Some(t) = &r.trigger else { return };
    let _ = writeln!(o, "## Trigger\n\n{}\n", t.summary);
    if let (Some(c), Some(m)) = (&t.error_code, &t.error_message) {
        let _ = writeln!(o, "CodeDeploy: **{c}** {}\n", code(m));
    }
    for a in &t.alarms {
        let _ = write!(o, "- Alarm **{}**", a.name);
        if let Some(f) = a.flipped_at {
            let _ = write!(o, " went to ALARM at {}", ts(f));
        }
        o.push('\n');
        if let Some(reason) = &a.state_reason {
            let _ = writeln!(o, "  - reason: {}", code(reason));
        }
        if !a.datapoints.is_empty() {
            let dps: Vec<String> = a
                .datapoints
                .iter()
                .map(|d| format!("{} at {}", num(d.value), hm(d.at)))
                .collect();
            let _ = writeln!(o, "  - evaluated datapoints: {}", dps.join(", "));
        }
        if let Some(u) = &a.url {
            let _ = writeln!(o, "  - [open the alarm]({u})");
        }
    }
    if let Some(h) = &t.lifecycle_event {
        let _ = writeln!(o, "- Lifecycle event **{}**: {}", h.name, h.status);
        if let Some(s) = &h.script_name {
            let _ = writeln!(o, "  - hook: {}", code(s));
        }
        if let Some(c) = &h.diagnostics_code {
            let _ = writeln!(o, "  - diagnostics: {c}");
        }
        if let Some(m) = &h.message {
            let _ = writeln!(o, "  - message: {}", code(m));
        }
        if let Some(tail) = &h.log_tail {
            let _ = writeln!(o, "\n{}", block(tail));
        }
    }
    o.push('\n');
}

fn timeline(o: &mut String, r: &Report) {
    if r.timeline.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "## Timeline\n\n| time (UTC) | green traffic | event |\n|---|---|---|"
    );
    for e in &r.timeline {
        let w = crate::report::verdict::weight_at(&r.traffic, e.at)
            .map(|p| format!("{} %", num(p)))
            .unwrap_or_default();
        let _ = writeln!(o, "| {} | {w} | {} |", hms(e.at), cell(&e.text));
    }
    o.push('\n');
}

fn metrics(o: &mut String, r: &Report) {
    let Some(m) = &r.metrics else { return };
    let _ = writeln!(
        o,
        "## Load balancer metrics\n\nPer {} s; blue = `{}`, green = `{}`.\n",
        m.period_seconds, m.blue_target_group, m.green_target_group
    );
    let _ = writeln!(
        o,
        "| minute (UTC) | blue 5xx | blue requests | green 5xx | green requests | green error rate |\n|---|---:|---:|---:|---:|---:|"
    );
    for p in &m.points {
        let rate = if p.green_requests > 0.0 {
            format!("{:.1} %", 100.0 * p.green_5xx / p.green_requests)
        } else {
            "–".into()
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {rate} |",
            hm(p.at),
            num(p.blue_5xx),
            num(p.blue_requests),
            num(p.green_5xx),
            num(p.green_requests)
        );
    }
    let t = &m.totals;
    let _ = writeln!(
        o,
        "| **total** | **{}** | **{}** | **{}** | **{}** | |\n",
        num(t.blue_5xx),
        num(t.blue_requests),
        num(t.green_5xx),
        num(t.green_requests)
    );
}

fn ecs(o: &mut String, r: &Report) {
    let Some(e) = &r.ecs else { return };
    let set = e
        .task_set_id
        .as_deref()
        .map(|s| format!(" (task set `{s}`)"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "## Green tasks{set}\n\n{} task(s) seen, {} stopped.\n",
        e.tasks_seen, e.tasks_stopped
    );
    if let Some(c) = &e.crash_loop {
        let code = c
            .exit_code
            .map(|x| format!(", exit code {x}{}", exit_meaning(x)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "**Crash loop:** {} start(s) and {} stop(s) within {} s; median lifetime {} s{code}.\n",
            c.starts, c.stops, c.window_seconds, c.median_lifetime_seconds
        );
    }
    if !e.findings.is_empty() {
        let _ = writeln!(
            o,
            "| stops | meaning | exit code | stop code | reason |\n|---:|---|---:|---|---|"
        );
        for f in &e.findings {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                f.count,
                cell(&f.explanation),
                f.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                f.stop_code.as_deref().unwrap_or(""),
                f.reason.as_deref().map(code_cell).unwrap_or_default()
            );
        }
        o.push('\n');
    }
    if !e.service_events.is_empty() {
        let _ = writeln!(o, "Service events in the window:\n");
        for ev in e.service_events.iter().take(20) {
            let _ = writeln!(o, "- {} {}", hms(ev.at), code(&ev.message));
        }
        if e.service_events.len() > 20 {
            let _ = writeln!(o, "- … {} more", e.service_events.len() - 20);
        }
        o.push('\n');
    }
}

fn logs(o: &mut String, r: &Report) {
    let Some(l) = &r.logs else { return };
    let _ = writeln!(o, "## Logs of the green tasks\n");
    let _ = writeln!(
        o,
        "{}: {} line(s) read ({}), {} error line(s).{}\n\n{}\n",
        code(&l.source),
        l.lines_read,
        bytes(l.bytes_read),
        l.error_lines,
        if l.error_lines_outside_window > 0 {
            format!(
                " {} error line(s) outside the window were left out.",
                l.error_lines_outside_window
            )
        } else {
            String::new()
        },
        escape(&l.input.describe())
    );
    filter_note(o, l);
    for c in &l.caps_hit {
        let _ = writeln!(o, "> **Partial:** cap hit, {c}.\n");
    }
    if l.groups.is_empty() {
        // "Nothing found" says where it looked.
        let looked = if l.streams.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = l.streams.iter().take(10).map(|s| code(s)).collect();
            format!(
                " Looked in {}{}.",
                names.join(", "),
                if l.streams.len() > 10 {
                    format!(" and {} more", l.streams.len() - 10)
                } else {
                    String::new()
                }
            )
        };
        let _ = writeln!(o, "No error lines.{looked}\n");
    } else {
        let _ = writeln!(
            o,
            "| # | message (normalised) | lines | share | first | last | top routes |\n|---:|---|---:|---:|---|---|---|"
        );
        for (i, g) in l.groups.iter().enumerate() {
            let routes: Vec<String> = g
                .routes
                .iter()
                .take(3)
                // Routes come from the input: code spans, so no Markdown in them acts.
                .map(|c| format!("{} ({})", code(&c.value), c.count))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.0} % | {} | {} | {} |",
                i + 1,
                code_cell(&g.message),
                g.count,
                g.share * 100.0,
                g.first_seen.map(hms).unwrap_or_default(),
                g.last_seen.map(hms).unwrap_or_default(),
                cell(&routes.join(", "))
            );
        }
        if l.ungrouped_error_lines > 0 {
            let _ = writeln!(
                o,
                "\n{} more error line(s) had messages beyond the group cap.",
                l.ungrouped_error_lines
            );
        }
        o.push('\n');
        for (i, g) in l.groups.iter().take(3).enumerate() {
            let _ = writeln!(o, "**#{}** sample: {}", i + 1, code(&g.sample));
            if let Some(t) = &g.error_type {
                let _ = writeln!(o, "error type: {}", code(t));
            }
            if !g.stack_head.is_empty() {
                let _ = writeln!(o, "\n{}", block(&g.stack_head.join("\n")));
            }
            o.push('\n');
        }
    }
    if !l.traces.is_empty() {
        let approx = if l.trace_counts_approximate {
            " (counts approximate: the trace table overflowed)"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "Trace ids by error lines ({} distinct){approx}:\n",
            l.distinct_trace_ids
        );
        for t in l.traces.iter().take(10) {
            let g = t
                .group
                .as_deref()
                .map(|g| format!(" — {}", code(g)))
                .unwrap_or_default();
            let _ = writeln!(o, "- {} × {}{g}", code(&t.trace_id), t.error_lines);
        }
        o.push('\n');
    }
}

/// Which CloudWatch Logs filter pattern the lines were fetched with, and why.
fn filter_note(o: &mut String, l: &LogEvidence) {
    let why = l
        .filter_reason
        .as_deref()
        .map(|w| format!(" ({})", escape(w)))
        .unwrap_or_default();
    match &l.filter_pattern {
        Some(p) => {
            let _ = writeln!(
                o,
                "Fetched with the filter pattern {}{why}: the lines read are the ones it matched.\n",
                code(p)
            );
        }
        None if l.filter_reason.is_some() => {
            let _ = writeln!(o, "Fetched without a filter pattern{why}.\n");
        }
        None => {}
    }
}

/// Green's error groups against blue's over the same window.
fn comparison(o: &mut String, r: &Report) {
    let (Some(c), Some(b)) = (&r.comparison, &r.blue_logs) else {
        return;
    };
    let _ = writeln!(o, "## Green against blue\n");
    let _ = writeln!(
        o,
        "Blue, same window and analysis: {}: {} line(s) read ({}), {} error line(s). {}\n",
        code(&b.source),
        b.lines_read,
        bytes(b.bytes_read),
        b.error_lines,
        escape(&b.input.describe())
    );
    filter_note(o, b);
    let _ = writeln!(o, "Rates: {}.\n", c.basis.describe());
    if c.groups.is_empty() {
        let _ = writeln!(o, "Neither colour logged an error line.\n");
        return;
    }
    let _ = writeln!(
        o,
        "| | message (normalised) | green lines | blue lines | green rate | blue rate | route |\n|---|---|---:|---:|---:|---:|---|"
    );
    for g in &c.groups {
        let _ = writeln!(
            o,
            "| **{}** | {} | {} | {} | {} | {} | {} |",
            g.label,
            code_cell(&g.message),
            g.green_count,
            g.blue_count,
            g.green_rate.map(rate).unwrap_or_default(),
            g.blue_rate.map(rate).unwrap_or_default(),
            g.top_route.as_deref().map(code_cell).unwrap_or_default()
        );
    }
    o.push('\n');
    if let Some(cv) = &c.caveat {
        let _ = writeln!(o, "> **Note:** {}.\n", escape(cv));
    }
}

/// A rate (0–1) as a percentage with enough digits for rare errors.
fn rate(x: f64) -> String {
    if x >= 0.1 {
        format!("{:.0} %", x * 100.0)
    } else {
        format!("{:.2} %", x * 100.0)
    }
}

/// Latency per minute, slow routes and slow spans, when the alarm watched latency.
fn latency(o: &mut String, r: &Report) {
    let Some(l) = &r.latency else { return };
    let _ = writeln!(o, "## Latency\n");
    let threshold = l
        .threshold_seconds
        .map(|t| format!(", threshold {} ms", num(t * 1000.0)))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "Alarm {} watches {} ({}{threshold}).\n",
        code(&l.alarm),
        code(&l.metric),
        escape(&l.statistic)
    );
    if !l.points.is_empty() {
        let _ = writeln!(o, "| minute | blue (ms) | green (ms) |\n|---|---:|---:|");
        let ms = |v: Option<f64>| v.map(|s| num((s * 1000.0).round())).unwrap_or_default();
        for p in &l.points {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                hm(p.at),
                ms(p.blue_seconds),
                ms(p.green_seconds)
            );
        }
        o.push('\n');
    }
    if !l.slow_routes.is_empty() {
        let _ = writeln!(
            o,
            "Requests of {} ms or more, by route (from the log lines' response times):\n\n| route | green slow | green median | green max | blue slow | blue median |\n|---|---:|---:|---:|---:|---:|",
            num(l.slow_ms)
        );
        for s in &l.slow_routes {
            let _ = writeln!(
                o,
                "| {} | {} | {} ms | {} ms | {} | {} |",
                code_cell(&s.route),
                s.green_slow,
                num(s.green_median_ms.round()),
                num(s.green_max_ms.round()),
                s.blue_slow,
                s.blue_median_ms
                    .map(|m| format!("{} ms", num(m.round())))
                    .unwrap_or_default()
            );
        }
        o.push('\n');
    }
    if !l.slow_spans.is_empty() {
        let _ = writeln!(o, "Where the slowest requests spent their time (traces):\n");
        for s in &l.slow_spans {
            let url = s
                .downstream_url
                .as_deref()
                .map(|u| format!(" → {}", code(u)))
                .unwrap_or_default();
            let trace = s
                .trace_ms
                .map(|t| format!(" of {} ms", num(t.round())))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "- {} span {} of {}: {} ms{trace}{url}",
                code(&s.trace_id),
                code(&s.operation),
                escape(&s.service),
                num(s.self_ms.round())
            );
        }
        o.push('\n');
    }
    for n in &l.notes {
        let _ = writeln!(o, "> {}\n", escape(n));
    }
}

fn traces(o: &mut String, r: &Report) {
    let t = &r.traces;
    let _ = writeln!(o, "## Traces\n");
    let status = match t.status {
        TraceStatus::NotConfigured => "not looked up",
        TraceStatus::NoTraceIds => "no trace ids to look up",
        TraceStatus::Ok => "all looked-up traces read",
        TraceStatus::Partial => "some traces could not be read",
        TraceStatus::Unavailable => "unavailable",
    };
    let reason = t
        .reason
        .as_deref()
        .map(|x| format!(": {x}"))
        .unwrap_or_default();
    let _ = writeln!(o, "Jaeger: {status}{reason}.\n");
    for s in &t.traces {
        let link = s
            .ui_url
            .as_deref()
            .map(|u| format!(" ([Jaeger]({u}))"))
            .unwrap_or_default();
        if !s.found {
            // Trace ids come from the logs and reasons from Jaeger's answers: neither
            // may act as Markdown.
            let _ = writeln!(
                o,
                "- {} × {} error line(s): {}{link}",
                code(&s.trace_id),
                s.error_lines,
                escape(s.reason.as_deref().unwrap_or("not found"))
            );
            continue;
        }
        let root = s
            .root
            .as_ref()
            .map(|r| format!("{} {}", escape(&r.service), code(&r.operation)))
            .unwrap_or_default();
        let dur = s
            .duration_ms
            .map(|d| format!(", {} ms", num((d * 10.0).round() / 10.0)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "- {} × {} error line(s): {root}{dur}, {} span(s){link}",
            code(&s.trace_id),
            s.error_lines,
            s.span_count
        );
        if let Some(e) = &s.error_span {
            let st = e
                .status
                .as_deref()
                .map(|x| format!(" [{x}]"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  - fails in {} of {}{st}, {} ms",
                code(&e.operation),
                escape(&e.service),
                num((e.duration_ms * 10.0).round() / 10.0)
            );
            if let Some(m) = &e.error_message {
                let _ = writeln!(o, "  - error: {}", code(m));
            }
            if let Some(d) = &e.db_statement {
                let _ = writeln!(o, "  - statement: {}", code(d));
            }
            if let Some(u) = &e.downstream_url {
                let _ = writeln!(o, "  - downstream: {}", code(u));
            }
        }
    }
    o.push('\n');
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

fn hm(t: DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{n} B")
    }
}

/// Inline code with a fence longer than any backtick run inside; one line.
pub fn code(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Inline code inside a table cell: `|` must be escaped even there (GFM).
fn code_cell(s: &str) -> String {
    code(s).replace('|', "\\|")
}

/// Plain text inside a paragraph: every character Markdown (or GFM's autolinks and HTML)
/// would act on there is escaped, so input text renders as the text it is.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '<' | '>' | '~' | '&' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            _ => o.push(c),
        }
    }
    o
}

/// Plain text in a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A fenced block longer than any backtick run inside.
fn block(s: &str) -> String {
    let longest = s
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0)
        .max(2);
    let fence = "`".repeat(longest + 1);
    format!("{fence}text\n{s}\n{fence}")
}
