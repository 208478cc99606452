//! Whole-report tests: a fixed report (fixture log file plus AWS evidence written by
//! hand) rendered to Markdown and JSON and compared with reviewed snapshots; the HTML
//! checked for escaping; secrets checked absent from every output.

use super::model::*;
use crate::logscan::analyse::{Analyser, Limits};
use chrono::{DateTime, TimeZone, Utc};

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

const LOG: &str = include_str!("../../tests/fixtures/report/app.log");

fn sample() -> Report {
    let mut a = Analyser::new(None, Limits::default());
    a.read_all(LOG.as_bytes()).unwrap();
    let logs = a.finish("file tests/fixtures/report/app.log".into());
    let mut r = Report::new(
        Source {
            kind: SourceKind::Aws,
            input: "d-ABC123".into(),
            region: Some("eu-west-1".into()),
            release: None,
        },
        t(600),
    );
    r.deployment = Some(DeploymentFacts {
        deployment_id: "d-ABC123".into(),
        rollback_deployment_id: Some("d-ROLL456".into()),
        application: "web".into(),
        deployment_group: "web-dg".into(),
        status: "Stopped".into(),
        rollback_status: Some("Succeeded".into()),
        error_code: Some("ALARM_ACTIVE".into()),
        green_task_definition: Some("web:42".into()),
        blue_task_definition: Some("web:41".into()),
        sha: Some("1a2b3c4".into()),
        deployment_config: Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes".into()),
        ..Default::default()
    });
    r.window = Some(Window {
        start: t(-120),
        end: t(300),
    });
    r.traffic = vec![
        TrafficStep {
            at: t(59),
            green_percent: 0.0,
        },
        TrafficStep {
            at: t(60),
            green_percent: 10.0,
        },
        TrafficStep {
            at: t(120),
            green_percent: 20.0,
        },
        TrafficStep {
            at: t(181),
            green_percent: 0.0,
        },
    ];
    r.trigger = Some(Trigger {
        kind: TriggerKind::Alarm,
        summary: "CodeDeploy stopped the deployment because alarm(s) went to ALARM: web-5xx.".into(),
        alarms: vec![AlarmEvidence {
            name: "web-5xx".into(),
            flipped_at: Some(t(140)),
            state_reason: Some("Threshold Crossed: 1 datapoint [9.0 (01/01/26 10:02:00)] was greater than or equal to the threshold (1.0).".into()),
            threshold: Some(1.0),
            datapoints: vec![Datapoint { at: t(120), value: 9.0 }],
            url: Some(super::links::alarm("eu-west-1", "web-5xx")),
        }],
        lifecycle_event: None,
        error_code: Some("ALARM_ACTIVE".into()),
        error_message: Some("One or more alarms have been activated. Activated alarms: web-5xx".into()),
    });
    r.timeline = vec![
        TimelineEntry {
            at: t(0),
            kind: "deployment_created".into(),
            text: "Deployment d-ABC123 created".into(),
        },
        TimelineEntry {
            at: t(60),
            kind: "traffic_shift".into(),
            text: "green traffic 10 %".into(),
        },
        TimelineEntry {
            at: t(140),
            kind: "alarm".into(),
            text: "alarm web-5xx went to ALARM".into(),
        },
        TimelineEntry {
            at: t(181),
            kind: "back_on_blue".into(),
            text: "traffic back on blue".into(),
        },
    ];
    r.metrics = Some(super::collect::build_metrics(
        "web-blue",
        "web-green",
        &(vec![], vec![(t(60), 120.0), (t(120), 110.0)]),
        &(
            vec![(t(60), 4.0), (t(120), 5.0)],
            vec![(t(60), 12.0), (t(120), 14.0)],
        ),
        t(60),
        t(180),
        60,
    ));
    r.ecs = Some(EcsEvidence {
        task_set_id: Some("ecs-svc/123".into()),
        tasks_seen: 2,
        ..Default::default()
    });
    r.traces = TraceEvidence {
        status: TraceStatus::Ok,
        reason: None,
        jaeger_url: Some("http://jaeger:16686".into()),
        traces: vec![{
            let v: serde_json::Value = serde_json::from_str(include_str!(
                "../../tests/fixtures/report/jaeger-trace.json"
            ))
            .unwrap();
            let mut s = super::jaeger::summarise(&v, "4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
            s.error_lines = 5;
            s.ui_url = Some("http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736".into());
            s
        }],
    };
    r.logs = Some(logs);
    r.links.push(Link {
        label: "CodeDeploy deployment d-ABC123".into(),
        url: super::links::deployment("eu-west-1", "d-ABC123"),
    });
    r.verdict = super::verdict::verdict(&r);
    r
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("report_md", super::markdown::render(&sample()));
}

#[test]
fn json_snapshot() {
    let json = serde_json::to_string_pretty(&sample()).unwrap();
    insta::assert_snapshot!("report_json", json);
    // The JSON reads back into the model: the schema is the model.
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sample());
}

#[test]
fn html_escapes_log_text() {
    let html = super::html::render(&sample()).unwrap();
    // The fixture's line carries <script> and an <img onerror>; neither may survive as markup.
    assert!(!html.contains("<script"), "raw <script> in report.html");
    assert!(!html.contains("<img"), "raw <img> in report.html");
    assert!(
        html.contains("&lt;script&gt;alert("),
        "escaped script text missing"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"//"),
        "external asset referenced"
    );
    assert!(html.contains("<svg"), "chart missing");
    assert!(html.contains("pg.connect"));
}

#[test]
fn no_secret_reaches_any_output() {
    let r = sample();
    let outputs = [
        super::markdown::render(&r),
        super::html::render(&r).unwrap(),
        serde_json::to_string(&r).unwrap(),
    ];
    for out in outputs {
        for secret in ["hunter2", "AKIAIOSFODNN7EXAMPLE", "abc.def.ghi"] {
            assert!(!out.contains(secret), "{secret} leaked");
        }
    }
}

#[test]
fn verdict_of_the_sample() {
    let r = sample();
    assert_eq!(r.verdict.cause, Cause::ErrorsUnderTraffic);
    let v = &r.verdict.text;
    assert!(v.contains("Green (web:42, sha 1a2b3c4) answered 9 request(s) with 5xx in 2 min while blue answered 0"), "{v}");
    assert!(
        v.contains("`Database connection refused` on `GET /api/orders`"),
        "{v}"
    );
    assert!(
        v.contains("fails in span `pg.connect` of orders-api"),
        "{v}"
    );
    assert!(
        v.contains("Alarm web-5xx fired at 20 % traffic; traffic was back on blue 41 s later."),
        "{v}"
    );
}

/// A private key logged inside a stack trace, in the three ways one reaches the
/// analyser (plain text with frames, a JSON `err.stack`, a multi-line CloudWatch event):
/// no line of its body may reach any output, not only its first line.
#[test]
fn private_key_in_a_stack_reaches_no_output() {
    const BODY: [&str; 3] = [
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
        "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
        "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ",
    ];
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
        BODY.join("\n")
    );
    let text = format!(
        "2026-01-01T10:01:00Z ERROR key load failed\n\
         java.security.InvalidKeyException: cannot parse {pem}\n\
         \tat com.example.Keys.load(Keys.java:42)\n\
         \tat com.example.Main.main(Main.java:7)\n\
         2026-01-01T10:01:01Z ERROR key dump\n\
         \tkey material follows\n\
         \t{}\n\
         \tat com.example.Keys.dump(Keys.java:9)\n\
         {}\n",
        pem.replace('\n', "\n\t"),
        serde_json::json!({"level": 50, "time": 1767261662000_i64, "msg": "boom",
            "err": {"type": "Error", "message": format!("bad key {pem}"),
                    "stack": format!("Error: bad key {pem}\n    at load (/app/k.js:1:1)")}})
    );
    let mut a = Analyser::new(None, Limits::default());
    a.read_all(text.as_bytes()).unwrap();
    a.feed_event(
        "web/1",
        1767261663000,
        &format!("Error: key rejected\n    at x (/a.js:1:1)\n{pem}\n    at y (/b.js:2:2)"),
    );
    a.finish_events();
    let mut r = sample();
    r.logs = Some(a.finish("pem test".into()));
    let logs = r.logs.as_ref().unwrap();
    assert!(logs.error_lines >= 4, "{logs:#?}");
    assert!(
        serde_json::to_string(logs)
            .unwrap()
            .contains("[REDACTED PRIVATE KEY]"),
        "the key was not seen at all: {logs:#?}"
    );
    let outputs = [
        ("md", super::markdown::render(&r)),
        ("html", super::html::render(&r).unwrap()),
        ("json", serde_json::to_string_pretty(&r).unwrap()),
    ];
    for (kind, out) in outputs {
        for line in BODY {
            // Any 16-character piece of the body counts as a leak.
            for piece in line.as_bytes().chunks(16) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(!out.contains(piece), "{kind}: {piece} leaked\n{out}");
            }
        }
    }
}

/// No error line: the report names the streams it looked in, and an input of no line
/// at all says so rather than "no recognised shape".
#[test]
fn nothing_found_in_the_logs_says_where_it_looked() {
    let mut r = sample();
    let logs = r.logs.as_mut().unwrap();
    logs.groups.clear();
    logs.streams = vec!["web/web/abc".into(), "web/web/def".into()];
    logs.input = Default::default();
    let md = super::markdown::render(&r);
    assert!(
        md.contains("No error lines. Looked in `web/web/abc`, `web/web/def`."),
        "{md}"
    );
    assert!(md.contains("Input: no line was read."), "{md}");
}

/// What the green logs' input was (understood, dropped and why) is in the HTML too,
/// not only in the Markdown and JSON.
#[test]
fn html_says_what_the_green_input_was() {
    let r = sample();
    let described = r.logs.as_ref().expect("sample logs").input.describe();
    assert!(!described.is_empty());
    let html = super::html::render(&r).unwrap();
    let escaped = described
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(html.contains(&escaped), "{described}\n{html}");
}

/// Log-derived text with Markdown in it (a route, a message, a trace id of another
/// scheme) reaches report.md only inside code spans or escaped.
#[test]
fn markdown_shows_log_text_as_text() {
    let line = serde_json::json!({"level": 50, "time": 1767261660000_i64,
        "msg": "[click](http://evil.example) *now*",
        "req": {"method": "GET", "url": "/api/**bold**/_x_"},
        "res": {"statusCode": 500}, "trace_id": "abc_def_ghi_jkl"});
    let mut a = Analyser::new(None, Limits::default());
    a.read_all(format!("{line}\n").as_bytes()).unwrap();
    let mut r = sample();
    r.logs = Some(a.finish("md test".into()));
    r.verdict = super::verdict::verdict(&r);
    let md = super::markdown::render(&r);
    assert!(md.contains("`GET /api/**bold**/_x_` (1)"), "{md}");
    assert!(md.contains("`[click](http://evil.example) *now*`"), "{md}");
    assert!(md.contains("`abc_def_ghi_jkl` × 1"), "{md}");
    // Outside code spans none of it appears as it was.
    let outside: String = md
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, s)| s)
        .collect();
    for raw in ["**bold**", "[click](", "*now*", "_x_", "abc_def"] {
        assert!(!outside.contains(raw), "{raw} outside a code span:\n{md}");
    }
}

/// The sample with blue's logs, the comparison, a filter pattern and a latency section.
fn with_diff_and_latency() -> Report {
    use crate::report::latency::{Latency, LatencyPoint, SlowRoute, SlowSpan};
    let mut r = sample();
    let mut blue = r.logs.clone().unwrap();
    blue.groups.retain(|g| !g.message.contains("Database"));
    blue.groups.push(crate::logscan::model::ErrorGroup {
        message: "Only | in <blue>".into(),
        sample: "Only | in <blue>".into(),
        count: 2,
        ..Default::default()
    });
    blue.filter_pattern = Some("{ $.level >= 50 || $.res.statusCode >= 500 }".into());
    blue.filter_reason = Some("JSON lines: level field `level`".into());
    if let Some(l) = r.logs.as_mut() {
        l.filter_pattern = blue.filter_pattern.clone();
        l.filter_reason = blue.filter_reason.clone();
    }
    r.comparison = Some(super::compare::compare(
        r.logs.as_ref().unwrap(),
        &blue,
        r.metrics.as_ref(),
    ));
    r.blue_logs = Some(blue);
    r.latency = Some(Latency {
        alarm: "web-response-time".into(),
        metric: "TargetResponseTime".into(),
        statistic: "p99".into(),
        threshold_seconds: Some(1.5),
        period_seconds: 60,
        points: vec![LatencyPoint {
            at: t(60),
            blue_seconds: Some(0.05),
            green_seconds: Some(2.25),
        }],
        slow_ms: 1500.0,
        slow_routes: vec![SlowRoute {
            route: "GET /api/<orders>".into(),
            green_slow: 12,
            blue_slow: 1,
            green_median_ms: 2200.0,
            green_max_ms: 2600.0,
            blue_median_ms: Some(1600.0),
        }],
        slow_spans: vec![SlowSpan {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            service: "web".into(),
            operation: "GET <inventory>".into(),
            self_ms: 2100.0,
            duration_ms: 2100.0,
            trace_ms: Some(2240.0),
            downstream_url: Some("http://inventory.internal/v1/stock".into()),
            route: Some("GET /api/<orders>".into()),
        }],
        notes: vec![],
    });
    r
}

#[test]
fn green_against_blue_and_latency_in_every_format() {
    let r = with_diff_and_latency();
    let md = super::markdown::render(&r);
    assert!(md.contains("## Green against blue"), "{md}");
    assert!(
        md.contains("| **new in green** | `Database connection refused"),
        "{md}"
    );
    assert!(
        md.contains("| **only in blue** | `Only \\| in <blue>`"),
        "{md}"
    );
    assert!(md.contains("Rates: error lines per request"), "{md}");
    assert!(
        md.contains(
            "Fetched with the filter pattern `{ $.level >= 50 || $.res.statusCode >= 500 }`"
        ),
        "{md}"
    );
    assert!(md.contains("## Latency"), "{md}");
    assert!(md.contains("| 10:01 | 50 | 2250 |"), "{md}");
    assert!(
        md.contains("| `GET /api/<orders>` | 12 | 2200 ms | 2600 ms | 1 | 1600 ms |"),
        "{md}"
    );
    assert!(
        md.contains("span `GET <inventory>` of web: 2100 ms of 2240 ms"),
        "{md}"
    );

    let html = super::html::render(&r).unwrap();
    assert!(html.contains("<h2>Green against blue</h2>"));
    assert!(
        html.contains("<code>Only | in &lt;blue&gt;</code>"),
        "not escaped"
    );
    assert!(html.contains("<h2>Latency</h2>"));
    assert!(html.contains("<code>GET &lt;inventory&gt;</code>"));
    assert!(html.contains("threshold 1500 ms"));
    assert!(!html.contains("<blue>") && !html.contains("<inventory>"));

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["comparison"]["groups"][0]["status"], "new_in_green");
    assert_eq!(json["latency"]["slow_routes"][0]["green_slow"], 12);
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}
