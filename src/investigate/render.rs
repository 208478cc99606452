//! investigation.md, investigation.html and the short stdout summary. Every text that
//! came from AWS or the logs is escaped for its format (Markdown code spans or escapes,
//! HTML entities); it was redacted when it entered the model.

use super::model::*;
use std::fmt::Write;

/// Markdown inline code that no backtick in `s` can end early.
fn code(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}").replace('|', "\\|")
}

/// Plain Markdown text: every character Markdown would act on is escaped.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '<' | '>' | '~' | '&' | '#' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            _ => o.push(c),
        }
    }
    o
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| "—".into())
}

/// The sections as (heading, lines); both renderers walk the same structure. Lines
/// are Markdown.
fn sections(inv: &Investigation) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let v = &inv.verdict;
    let mut verdict = vec![esc(&v.summary), String::new()];
    verdict.extend(v.evidence.iter().map(|e| format!("- {}", esc(e))));
    out.push(("Verdict".to_owned(), verdict));
    if !v.hints.is_empty() {
        out.push((
            "What to do (suggestions, nothing was changed)".to_owned(),
            v.hints.iter().map(|h| format!("- {}", esc(h))).collect(),
        ));
    }
    out.push(("Triage".to_owned(), triage(inv)));
    out.push(("Evidence".to_owned(), evidence(inv)));
    out.push((
        "What was checked".to_owned(),
        inv.checked
            .iter()
            .map(|c| format!("- {}", esc(c)))
            .collect(),
    ));
    if !inv.missing.is_empty() {
        out.push((
            "Missing evidence".to_owned(),
            inv.missing
                .iter()
                .map(|m| format!("- **{}**: {}", esc(&m.evidence), esc(&m.reason)))
                .collect(),
        ));
    }
    out
}

fn triage(inv: &Investigation) -> Vec<String> {
    let mut l = Vec::new();
    if inv.triage.alarms.is_empty() {
        l.push("- No watched or service alarm is in ALARM.".into());
    }
    for a in &inv.triage.alarms {
        let points = a
            .datapoints
            .iter()
            .map(|p| format!("{p}"))
            .collect::<Vec<_>>()
            .join(", ");
        l.push(format!(
            "- Alarm {} in ALARM since {}: {}{}",
            code(&a.name),
            time(a.since),
            esc(a.reason.as_deref().unwrap_or("")),
            if points.is_empty() {
                String::new()
            } else {
                format!(" (datapoints {points})")
            }
        ));
    }
    if let Some(s) = &inv.triage.service {
        l.push(format!(
            "- Service {}: {} running / {} desired / {} pending",
            code(&s.service),
            s.running,
            s.desired,
            s.pending
        ));
        for ts in &s.task_sets {
            l.push(format!(
                "  - task set {} ({}{}): {} running / {} desired / {} pending, {}",
                code(&ts.id),
                esc(&ts.status),
                ts.external_id
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(", deployment {}", esc(d)))
                    .unwrap_or_default(),
                ts.running,
                ts.desired,
                ts.pending,
                esc(ts.stability.as_deref().unwrap_or("")),
            ));
        }
        for d in &s.deployments {
            l.push(format!(
                "  - ECS deployment {} {} ({}), {} of {} running, created {}",
                code(&d.id),
                esc(&d.status),
                esc(d.rollout_state.as_deref().unwrap_or("")),
                d.running,
                d.desired,
                time(d.created_at)
            ));
        }
    }
    for d in &inv.triage.deployments {
        l.push(format!(
            "- CodeDeploy {} {} created {}{}",
            code(&d.id),
            esc(&d.status),
            time(d.created),
            d.error
                .as_deref()
                .map(|e| format!(": {}", esc(e)))
                .unwrap_or_default()
        ));
    }
    if let Some(s) = &inv.triage.service {
        l.push(format!(
            "- Service events since {} ({}):",
            time(Some(inv.since)),
            s.events.len()
        ));
        for e in s.events.iter().take(20) {
            l.push(format!("  - {} {}", time(Some(e.at)), esc(&e.message)));
        }
    }
    l
}

fn evidence(inv: &Investigation) -> Vec<String> {
    let e = &inv.evidence;
    let mut l = vec![format!(
        "- Stopped tasks in the window: {}{}",
        e.stopped.len(),
        if e.crash_loop {
            " — crash loop: tasks stop within a minute of starting"
        } else {
            ""
        }
    )];
    for s in e.stopped.iter().take(20) {
        l.push(format!(
            "  - {} {}: {}{}{}",
            code(&s.task_id),
            time(s.stopped_at),
            esc(&s.meaning),
            s.ran_seconds
                .map(|r| format!(", ran {r} s"))
                .unwrap_or_default(),
            match (s.peak_memory_mib, s.memory_limit_mib) {
                (Some(p), Some(m)) => format!(", memory peak {p:.0} of {m} MiB"),
                _ => String::new(),
            }
        ));
    }
    l.push(format!("- Targets: {}", e.targets.len()));
    for t in &e.targets {
        l.push(format!(
            "  - {}:{} task {}: **{}**{}",
            code(&t.id),
            t.port.unwrap_or_default(),
            code(t.task_id.as_deref().unwrap_or("unknown")),
            esc(&t.state),
            match (&t.reason, &t.description) {
                (Some(r), Some(d)) => format!(" {} — {}", code(r), esc(d)),
                (Some(r), None) => format!(" {}", code(r)),
                _ => String::new(),
            }
        ));
    }
    match e.insights.setting.as_deref() {
        Some("enabled" | "enhanced") => {
            let pts = e
                .insights
                .service_memory_percent
                .iter()
                .map(|(t, p)| format!("{} {p:.0} %", t.format("%H:%M")))
                .collect::<Vec<_>>()
                .join(", ");
            l.push(format!(
                "- Service memory (Container Insights, of reserved): {}",
                if pts.is_empty() {
                    "no data in the window".into()
                } else {
                    pts
                }
            ));
            if let Some(cpu) = e.insights.service_cpu_peak_percent {
                l.push(format!("- Service CPU peak: {cpu:.0} % of reserved"));
            }
        }
        _ => {
            l.push("- Container Insights is off for this cluster: no CPU or memory figures.".into())
        }
    }
    match &e.logs {
        Some(logs) => {
            l.push(format!(
                "- Logs: {} line(s) read from {} stream(s), {} error line(s)",
                logs.lines_read,
                logs.streams.len(),
                logs.error_lines
            ));
            for g in logs.groups.iter().take(5) {
                l.push(format!("  - {}× {}", g.count, code(&g.sample)));
                if let Some(first) = g.stack_head.first() {
                    l.push(format!("    - first stack line: {}", code(first)));
                }
            }
            let ids: Vec<String> = logs
                .traces
                .iter()
                .take(5)
                .map(|t| code(&t.trace_id))
                .collect();
            if !ids.is_empty() {
                l.push(format!(
                    "- Top trace ids of the error lines: {}",
                    ids.join(", ")
                ));
            }
            for t in e.traces.traces.iter().filter(|t| t.found) {
                let span = t.error_span.as_ref().or(t.root.as_ref());
                l.push(format!(
                    "  - trace {}: {}{}",
                    code(&t.trace_id),
                    span.map(|s| format!("{} in {}", code(&s.operation), esc(&s.service)))
                        .unwrap_or_default(),
                    span.and_then(|s| s.error_message.as_deref())
                        .map(|m| format!(" — {}", code(m)))
                        .unwrap_or_default()
                ));
            }
        }
        None => l.push("- Logs: not read (see Missing evidence)".into()),
    }
    l
}

pub fn markdown(inv: &Investigation) -> String {
    let mut o = format!(
        "# Investigation: {} in {}\n\nGenerated {} for the window since {} (region {}).\n\n",
        esc(&inv.service),
        esc(&inv.cluster),
        time(Some(inv.generated_at)),
        time(Some(inv.since)),
        esc(&inv.region)
    );
    for (h, lines) in sections(inv) {
        let _ = write!(o, "## {h}\n\n{}\n\n", lines.join("\n"));
    }
    o
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Markdown line → HTML: escapes the text, then turns the renderer's own markup
/// (code spans, bold, backslash escapes, list items) into tags.
fn html_line(line: &str) -> String {
    let (depth, body) = match line.trim_start().strip_prefix("- ") {
        Some(b) => (1 + (line.len() - line.trim_start().len()) / 2, b),
        None => (0, line),
    };
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    let mut bold = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push_str(&html_escape(&n.to_string()));
                }
            }
            '`' => {
                let mut fence = 1;
                while chars.peek() == Some(&'`') {
                    chars.next();
                    fence += 1;
                }
                let mut code = String::new();
                let mut run = 0;
                for n in chars.by_ref() {
                    if n == '`' {
                        run += 1;
                        if run == fence {
                            break;
                        }
                    } else {
                        code.extend(std::iter::repeat_n('`', run));
                        run = 0;
                        code.push(n);
                    }
                }
                out.push_str(&format!(
                    "<code>{}</code>",
                    html_escape(code.trim().replace("\\|", "|").as_str())
                ));
            }
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(if bold { "</strong>" } else { "<strong>" });
                bold = !bold;
            }
            _ => out.push_str(&html_escape(&c.to_string())),
        }
    }
    if depth > 0 {
        format!("<li class=\"d{depth}\">{out}</li>")
    } else if out.is_empty() {
        String::new()
    } else {
        format!("<p>{out}</p>")
    }
}

pub fn html(inv: &Investigation) -> String {
    let mut o = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Investigation: {}</title>\n<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}code{{background:#f3f3f3;padding:0 .2em}}li.d2{{margin-left:2rem}}li.d3{{margin-left:4rem}}</style></head><body>\n<h1>Investigation: {} in {}</h1>\n<p>Generated {} for the window since {} (region {}).</p>\n",
        html_escape(&inv.service),
        html_escape(&inv.service),
        html_escape(&inv.cluster),
        time(Some(inv.generated_at)),
        time(Some(inv.since)),
        html_escape(&inv.region)
    );
    for (h, lines) in sections(inv) {
        let _ = write!(o, "<h2>{}</h2>\n<ul>\n", html_escape(&h));
        for line in lines {
            let _ = writeln!(o, "{}", html_line(&line));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</body></html>\n");
    o
}

/// A few lines for the terminal or the Jenkins log.
pub fn summary(inv: &Investigation, paths: &[std::path::PathBuf]) -> String {
    let mut o = format!("{}\n", inv.verdict.summary);
    for e in inv.verdict.evidence.iter().take(4) {
        let _ = writeln!(o, "  - {e}");
    }
    for h in &inv.verdict.hints {
        let _ = writeln!(o, "  hint: {h}");
    }
    if !inv.missing.is_empty() {
        let _ = writeln!(
            o,
            "  missing: {}",
            inv.missing
                .iter()
                .map(|m| m.evidence.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for p in paths {
        let _ = writeln!(o, "investigation: {}", p.display());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv_with(text: &str) -> Investigation {
        let mut i = Investigation {
            service: "web".into(),
            cluster: "c".into(),
            ..Default::default()
        };
        i.verdict.summary = text.into();
        i.missing.push(Missing {
            evidence: "logs".into(),
            reason: text.into(),
        });
        i.evidence.targets.push(crate::aws::elb::TargetHealth {
            target_group_arn: "tg".into(),
            id: "10.0.0.1".into(),
            port: Some(80),
            state: "unhealthy".into(),
            reason: Some("Target.ResponseCodeMismatch".into()),
            description: Some(text.into()),
            task_id: Some("t`1".into()),
        });
        i
    }

    #[test]
    fn html_escapes_everything_from_outside() {
        let h = html(&inv_with("<script>alert('x')</script> & **b**"));
        assert!(!h.contains("<script>"), "{h}");
        assert!(h.contains("&lt;script&gt;"));
        assert!(h.contains("<code>t`1</code>"), "{h}");
    }

    #[test]
    fn markdown_keeps_outside_text_inert() {
        let m = markdown(&inv_with("[link](http://x) *em* | pipe"));
        assert!(m.contains("\\[link\\](http://x) \\*em\\* \\| pipe"), "{m}");
        assert!(m.contains("``t`1``"), "{m}");
        assert!(m.contains("Container Insights is off"));
    }
}
