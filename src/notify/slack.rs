//! Slack Block Kit messages for an incoming webhook: a pure function from an event to
//! the JSON payload.
//!
//! Slack rejects a message over its limits (50 blocks, 3000 characters of section text,
//! 150 of header, 10 fields of 2000) and, undocumented, a message whose blocks run to
//! about 13 200 characters (`msg_blocks_too_long`). Every piece is therefore cut to its
//! own budget here, lists end with "…and N more" and the report link, and a last pass
//! shortens the longest sections until the whole payload is under [`MESSAGE_BUDGET`].
//! Text from outside (verdicts, alarm reasons, log messages, finding titles) is
//! escaped, so it can neither mention `@channel` nor forge a link.

use super::model::*;
use super::text;
use serde_json::{Value, json};

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_HEADER: usize = 150;
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD_TEXT: usize = 2000;
/// The whole payload as JSON, in characters: well under Slack's ≈13 200 for blocks.
pub const MESSAGE_BUDGET: usize = 11_000;
/// The notification preview (`text`), shown where blocks are not.
const FALLBACK: usize = 400;
const VERDICT: usize = 1500;
const TRIGGER: usize = 1200;
const LIST: usize = 2500;
/// Most error groups or findings listed before "…and N more".
const LIST_ITEMS: usize = 10;

/// The payload to POST to the incoming webhook.
pub fn render(e: &Event) -> Value {
    let mut blocks = vec![header(&text::title(e))];
    match e {
        Event::Deployment(d) => deployment(d, &mut blocks),
        Event::Remediation(r) => remediation(r, &mut blocks),
        Event::GateFailed(g) => gates(g, &mut blocks),
        Event::Test(t) => test(t, &mut blocks),
    }
    blocks.truncate(MAX_BLOCKS);
    let fallback = fit(&text::summary(e), FALLBACK);
    let mut msg = json!({ "text": fallback, "blocks": blocks });
    shrink(&mut msg);
    msg
}

fn deployment(d: &DeploymentEvent, b: &mut Vec<Value>) {
    // "Verdict" only for the report's: what stands in for it is an outcome.
    let label = if d.verdict.as_deref().is_some_and(|v| !v.trim().is_empty()) {
        "Verdict"
    } else {
        "Outcome"
    };
    b.push(section(&format!(
        "*{label}:* {}",
        fit(&text::verdict(d), VERDICT)
    )));
    if let Some(t) = trigger(d) {
        b.push(section(&t));
    }
    b.push(fields(&deployment_fields(d)));
    if !d.error_groups.is_empty() {
        let lines: Vec<String> = d
            .error_groups
            .iter()
            .map(|g| {
                format!(
                    "• {}× {}{}",
                    g.count,
                    code(&g.message, 300),
                    g.route
                        .as_deref()
                        .map(|r| format!(" on {}", code(r, 120)))
                        .unwrap_or_default()
                )
            })
            .collect();
        let head = format!(
            "*Errors in green's logs* ({} group{}, most frequent first)",
            d.error_groups.len(),
            plural(d.error_groups.len())
        );
        b.push(section(&list(&head, &lines, &more_hint(&d.links))));
    }
    b.extend(links(&d.links));
    b.push(context(&format!(
        "shipwatch · {} · exit {}",
        esc(&format!("{} / {}", d.application, d.deployment_group)),
        d.exit_code
    )));
}

/// The trigger lines: alarms (the first with green's share when it fired) and
/// CodeDeploy's own error.
fn trigger(d: &DeploymentEvent) -> Option<String> {
    let mut lines = Vec::new();
    for (i, a) in d.alarms.iter().enumerate() {
        let mut l = format!("alarm {} entered ALARM", code(&a.alarm, 255));
        if i == 0 {
            if let Some(g) = d.green_percent_at_alarm {
                l.push_str(&format!(" at {}% green traffic", text::pct(g)));
            }
            if d.stopped_by_shipwatch {
                l.push_str("; shipwatch stopped the deployment");
            }
        }
        if let Some(r) = a.reason.as_deref().filter(|r| !r.is_empty()) {
            l.push_str(&format!(". {}", fit(r.trim_end_matches('.'), 400)));
        }
        lines.push(l);
    }
    if let Some(c) = &d.codedeploy_error {
        lines.push(format!("CodeDeploy: {}", fit(c, 400)));
    }
    if lines.is_empty() {
        return None;
    }
    let body = lines
        .iter()
        .map(|l| format!("• {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    Some(cut_lines(&format!("*Trigger*\n{body}"), TRIGGER))
}

fn deployment_fields(d: &DeploymentEvent) -> Vec<String> {
    let mut f = Vec::new();
    if let Some(n) = &d.green_vs_blue {
        f.push(format!(
            "*Green (new)*\n{}",
            esc(&text::rate(n.green_5xx, n.green_requests))
        ));
        f.push(format!(
            "*Blue (old)*\n{}",
            esc(&text::rate(n.blue_5xx, n.blue_requests))
        ));
    }
    f.push(format!(
        "*Deployment*\n{} ({})",
        code(&d.deployment_id, 64),
        fit(&d.application, 200)
    ));
    if let Some(r) = &d.release {
        f.push(format!("*Release*\n{}", code(r, 100)));
    }
    if d.outcome != DeployOutcome::Succeeded {
        f.push(format!(
            "*Green reached*\n{}% of traffic",
            text::pct(d.max_green_percent)
        ));
    }
    f.push(format!("*Duration*\n{}", text::elapsed(d.elapsed_seconds)));
    f
}

fn remediation(r: &RemediationEvent, b: &mut Vec<Value>) {
    let what = match &r.stopped_task {
        Some(t) => format!(
            "*Stopped task* {}\n*Why:* {}",
            code(t, 200),
            fit(&r.why, VERDICT)
        ),
        None => format!("*Nothing was stopped:* {}", fit(&r.why, VERDICT)),
    };
    b.push(section(&what));
    if let Some(g) = &r.guard {
        b.push(section(&format!("*Guard:* {}", fit(g, TRIGGER))));
    }
    let mut f = Vec::new();
    if let Some(a) = &r.alarm {
        f.push(format!("*Alarm*\n{}", code(a, 255)));
    }
    if let Some(t) = &r.replacement_task {
        f.push(format!("*Replacement*\n{} is running", code(t, 200)));
    }
    if !f.is_empty() {
        b.push(fields(&f));
    }
    b.extend(links(&r.links));
    b.push(context(&format!(
        "shipwatch remediate · exit {}",
        r.exit_code
    )));
}

fn gates(g: &GateEvent, b: &mut Vec<Value>) {
    let lines: Vec<String> = g
        .gates
        .iter()
        .map(|x| {
            format!(
                "• *{}* ({} on {}): {} failing; {}. {}",
                esc(&x.gate),
                esc(&x.tool),
                code(&x.target, 200),
                x.failing,
                esc(&text::counts(&x.counts)),
                fit(&x.summary, 300)
            )
        })
        .collect();
    b.push(section(&list("*Failed gates*", &lines, "")));
    if !g.findings.is_empty() {
        let lines: Vec<String> = g
            .findings
            .iter()
            .map(|f| {
                format!(
                    "• {} {} {} — {}",
                    esc(&f.severity),
                    code(&f.rule_id, 100),
                    fit(&f.title, 200),
                    code(&f.location, 200)
                )
            })
            .collect();
        let hint = match &g.report_dir {
            Some(d) => format!("see the gate reports in {}", code(d, 200)),
            None => more_hint(&g.links),
        };
        let head = format!(
            "*Failing findings* ({}, most severe first)",
            g.findings.len()
        );
        b.push(section(&list(&head, &lines, &hint)));
    }
    b.extend(links(&g.links));
    b.push(context(&format!("shipwatch gate · exit {}", g.exit_code)));
}

fn test(t: &TestEvent, b: &mut Vec<Value>) {
    b.push(section(&fit(
        &text::summary(&Event::Test(t.clone())),
        VERDICT,
    )));
    b.extend(links(&t.links));
}

/// "<url|Rollback report> · <url|Jenkins build> · …"; no block when nothing is known.
fn links(l: &Links) -> Option<Value> {
    let mut parts = Vec::new();
    if let Some(u) = &l.report {
        parts.push(link(u, "Rollback report"));
    } else if let Some(p) = &l.report_path {
        parts.push(format!("Report: {}", code(p, 300)));
    }
    if let Some(u) = &l.build {
        parts.push(link(u, "Jenkins build"));
    }
    if let Some(u) = &l.console {
        parts.push(link(u, "CodeDeploy console"));
    }
    (!parts.is_empty()).then(|| section(&parts.join("  ·  ")))
}

/// Where the rest of a cut list is.
fn more_hint(l: &Links) -> String {
    match (&l.report, &l.report_path) {
        (Some(u), _) => format!("see the {}", link(u, "report")),
        (None, Some(p)) => format!("see the report ({})", code(p, 300)),
        _ => "see the report".into(),
    }
}

/// A heading and bullet lines, as many as fit in [`LIST`] characters and
/// [`LIST_ITEMS`] items; the rest is counted in "…and N more".
fn list(head: &str, lines: &[String], hint: &str) -> String {
    let mut out = head.to_owned();
    let tail = |n: usize| {
        let sep = if hint.is_empty() { "" } else { " — " };
        format!("\n…and {n} more{sep}{hint}")
    };
    let reserve = tail(lines.len()).chars().count();
    let mut shown = 0;
    for l in lines {
        if shown == LIST_ITEMS
            || out.chars().count() + 1 + l.chars().count() + reserve > LIST.min(MAX_SECTION_TEXT)
        {
            break;
        }
        out.push('\n');
        out.push_str(l);
        shown += 1;
    }
    if shown < lines.len() {
        out.push_str(&tail(lines.len() - shown));
    }
    out
}

fn header(t: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": cut(t, MAX_HEADER), "emoji": false}})
}

fn section(mrkdwn: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut_lines(mrkdwn, MAX_SECTION_TEXT)}})
}

fn fields(items: &[String]) -> Value {
    let f: Vec<Value> = items
        .iter()
        .take(MAX_FIELDS)
        .map(|t| json!({"type": "mrkdwn", "text": cut_lines(t, MAX_FIELD_TEXT)}))
        .collect();
    json!({"type": "section", "fields": f})
}

fn context(mrkdwn: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut_lines(mrkdwn, MAX_SECTION_TEXT)}]})
}

/// The longest URL linked: three fit in one section. A longer one (no console or
/// Jenkins URL is) is named, not cut, since a cut URL leads nowhere.
const MAX_URL: usize = 900;

/// A link; `<`, `>` and `|` cannot appear in a URL Slack parses, so they are encoded.
fn link(url: &str, label: &str) -> String {
    if url.chars().count() > MAX_URL {
        return format!("{} (its URL is too long to show)", esc(label));
    }
    let u: String = url
        .chars()
        .map(|c| match c {
            '<' => "%3C".to_owned(),
            '>' => "%3E".to_owned(),
            '|' => "%7C".to_owned(),
            ' ' => "%20".to_owned(),
            c => c.to_string(),
        })
        .collect();
    format!("<{u}|{}>", esc(label))
}

/// Text in a code span: escaped, backticks replaced (they would end the span), cut.
fn code(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", fit(&clean, max))
}

/// Slack's three control characters escaped; also keeps `<!channel>` from pinging.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes `s` and cuts it so the escaped text has at most `max` characters, ending
/// with "…" when cut; an escape is never split.
pub fn fit(s: &str, max: usize) -> String {
    let full = esc(s);
    if full.chars().count() <= max {
        return full;
    }
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        let piece = esc(c.encode_utf8(&mut [0; 4]));
        let w = piece.chars().count();
        if n + w + 1 > max {
            break;
        }
        out.push_str(&piece);
        n += w;
    }
    out.push('…');
    out
}

/// Cuts plain text to `max` characters with "…".
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cuts already-formatted mrkdwn to `max` characters at a line end, so no link, code
/// span or escape is split; a single over-long line is cut by characters.
fn cut_lines(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    for line in s.lines() {
        let extra = if out.is_empty() { 0 } else { 1 };
        if out.chars().count() + extra + line.chars().count() + 2 > max {
            break;
        }
        if extra == 1 {
            out.push('\n');
        }
        out.push_str(line);
    }
    if out.is_empty() {
        return cut(s, max);
    }
    out.push_str("\n…");
    out
}

/// The last guard: while the payload is over [`MESSAGE_BUDGET`], halve the longest
/// section text (at line ends).
pub(super) fn shrink(msg: &mut Value) {
    let len = |b: &Value| {
        b.pointer("/text/text")
            .and_then(Value::as_str)
            .map(|s| s.chars().count())
            .unwrap_or(0)
    };
    for _ in 0..20 {
        if msg.to_string().chars().count() <= MESSAGE_BUDGET {
            return;
        }
        let Some(blocks) = msg["blocks"].as_array_mut() else {
            return;
        };
        let Some(i) = (0..blocks.len())
            .filter(|&i| blocks[i]["type"] == "section" && len(&blocks[i]) > 0)
            .max_by_key(|&i| len(&blocks[i]))
        else {
            return;
        };
        let s = blocks[i]["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        blocks[i]["text"]["text"] = Value::String(cut_lines(&s, s.chars().count() / 2));
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
