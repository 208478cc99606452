//! Golden payloads per event (insta), Slack's limits under oversized input, escaping,
//! the event filter and the report link.

use super::model::*;
use super::*;
use serde_json::Value;

fn subject() -> Subject {
    Subject {
        environment: Some("production".into()),
        cluster: Some("prod".into()),
        service: Some("web".into()),
    }
}

fn links() -> Links {
    Links {
        report: Some("https://jenkins.example.com/job/web/42/artifact/shipwatch-out/report/report.html".into()),
        report_path: None,
        build: Some("https://jenkins.example.com/job/web/42/".into()),
        console: Some("https://eu-west-1.console.aws.amazon.com/codesuite/codedeploy/deployments/d-ABC123XYZ?region=eu-west-1".into()),
    }
}

fn rolled_back(groups: usize) -> DeploymentEvent {
    DeploymentEvent {
        outcome: DeployOutcome::RolledBack,
        deployment_id: "d-ABC123XYZ".into(),
        application: "web-production".into(),
        deployment_group: "web-production".into(),
        subject: subject(),
        release: Some("1a2b3c4d5e6f".into()),
        verdict: Some("Release 1a2b3c4 answered 5xx under traffic: 184 of 2 310 requests to green failed; 92% of its error lines are `TypeError: Cannot read properties of undefined (reading 'id')` on GET /api/orders/:id.".into()),
        alarms: vec![AlarmTrigger {
            alarm: "web-production-5xx".into(),
            reason: Some("Threshold Crossed: 1 datapoint [12.0 (06/12/26 21:03:00)] was greater than or equal to the threshold (5.0).".into()),
        }],
        green_percent_at_alarm: Some(30.0),
        max_green_percent: 40.0,
        stopped_by_shipwatch: true,
        codedeploy_error: None,
        green_vs_blue: Some(GreenBlue {
            green_5xx: 184.0,
            green_requests: 2310.0,
            blue_5xx: 2.0,
            blue_requests: 5390.0,
        }),
        error_groups: (0..groups)
            .map(|i| ErrorGroupLine {
                count: 1000 - i as u64,
                message: format!("TypeError: Cannot read properties of undefined (reading 'id') in handler <n> variant {i} <!channel> & `tick`"),
                route: Some(format!("GET /api/orders/:id/{i}")),
            })
            .collect(),
        elapsed_seconds: 262.0,
        exit_code: 3,
        links: links(),
    }
}

fn remediation(stopped: bool) -> RemediationEvent {
    RemediationEvent {
        subject: subject(),
        alarm: Some("web-production-5xx".into()),
        stopped_task: stopped.then(|| "arn:aws:ecs:eu-west-1:123456789012:task/prod/0f1e2d3c4b5a".into()),
        why: if stopped {
            "its target is unhealthy (Target.ResponseCodeMismatch) and it logged 412 error lines in the last 5 minutes, the most of 3 running tasks.".into()
        } else {
            "one task was already stopped for this alarm state change.".into()
        },
        guard: (!stopped).then(|| "cool-down: task 9a8b7c stopped 4 min ago with key web-production-5xx@2026-12-06T21:03:00Z; next stop allowed after 21:13 UTC".into()),
        replacement_task: stopped.then(|| "arn:aws:ecs:eu-west-1:123456789012:task/prod/77aa88bb99cc".into()),
        exit_code: if stopped { 10 } else { 11 },
        links: Links {
            build: None,
            ..Links::default()
        },
    }
}

fn gate_failed(findings: usize) -> GateEvent {
    GateEvent {
        subject: subject(),
        gates: vec![
            FailedGate {
                gate: "secrets".into(),
                tool: "gitleaks".into(),
                target: ".".into(),
                summary: "2 secrets found".into(),
                counts: SeverityCounts {
                    high: 2,
                    ..Default::default()
                },
                failing: 2,
            },
            FailedGate {
                gate: "image".into(),
                tool: "trivy".into(),
                target: "web:1a2b3c4".into(),
                summary: "1 CRITICAL, 3 HIGH with a fix".into(),
                counts: SeverityCounts {
                    critical: 1,
                    high: 3,
                    medium: 7,
                    ..Default::default()
                },
                failing: 4,
            },
        ],
        findings: (0..findings)
            .map(|i| FindingLine {
                gate: "secrets".into(),
                severity: "HIGH".into(),
                rule_id: "aws-access-token".into(),
                title: format!("AWS access key (commit 0123456789ab) #{i}"),
                location: format!("src/config/{i}.js:12"),
            })
            .collect(),
        report_dir: Some("shipwatch-out/gates".into()),
        exit_code: 7,
        links: Links {
            build: Some("https://jenkins.example.com/job/web/42/".into()),
            ..Links::default()
        },
    }
}

/// Every limit Slack enforces, as violations.
fn violations(msg: &Value) -> Vec<String> {
    let mut v = Vec::new();
    let blocks = msg["blocks"].as_array().expect("blocks");
    if blocks.len() > slack::MAX_BLOCKS {
        v.push(format!("{} blocks", blocks.len()));
    }
    let len = |x: &Value| x.as_str().map(|s| s.chars().count()).unwrap_or(0);
    for b in blocks {
        match b["type"].as_str() {
            Some("header") if len(&b["text"]["text"]) > slack::MAX_HEADER => {
                v.push(format!("header {}", len(&b["text"]["text"])))
            }
            Some("section") => {
                if len(&b["text"]["text"]) > slack::MAX_SECTION_TEXT {
                    v.push(format!("section {}", len(&b["text"]["text"])));
                }
                if let Some(f) = b["fields"].as_array() {
                    if f.len() > slack::MAX_FIELDS {
                        v.push(format!("{} fields", f.len()));
                    }
                    for x in f {
                        if len(&x["text"]) > slack::MAX_FIELD_TEXT {
                            v.push(format!("field {}", len(&x["text"])));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let total = msg.to_string().chars().count();
    if total >= 12_000 {
        v.push(format!("message {total} characters"));
    }
    v
}

#[test]
fn rolled_back_golden() {
    let e = Event::Deployment(rolled_back(3));
    let msg = slack::render(&e);
    assert!(violations(&msg).is_empty(), "{:?}", violations(&msg));
    insta::assert_json_snapshot!("slack_rolled_back", msg);
    insta::assert_json_snapshot!("webhook_rolled_back", webhook::render(&e));
}

#[test]
fn the_verdict_comes_first() {
    let msg = slack::render(&Event::Deployment(rolled_back(3)));
    let blocks = msg["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    let first = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        first.starts_with("*Verdict:* Release 1a2b3c4 answered 5xx"),
        "{first}"
    );
    assert!(
        msg["text"].as_str().unwrap().starts_with("Release 1a2b3c4"),
        "{msg}"
    );
}

#[test]
fn succeeded_golden() {
    let mut d = rolled_back(0);
    d.outcome = DeployOutcome::Succeeded;
    d.verdict = None;
    d.alarms.clear();
    d.green_percent_at_alarm = None;
    d.stopped_by_shipwatch = false;
    d.green_vs_blue = None;
    d.max_green_percent = 100.0;
    d.exit_code = 0;
    d.links.report = None;
    insta::assert_json_snapshot!("slack_succeeded", slack::render(&Event::Deployment(d)));
}

#[test]
fn failed_without_report_says_so() {
    let mut d = rolled_back(0);
    d.outcome = DeployOutcome::Failed;
    d.verdict = None;
    d.codedeploy_error = Some("HEALTH_CONSTRAINTS: The overall deployment failed".into());
    d.links.report = None;
    let msg = slack::render(&Event::Deployment(d));
    let s = msg.to_string();
    assert!(
        s.contains("No verdict: the rollback report could not be written"),
        "{s}"
    );
    assert!(s.contains("CodeDeploy: HEALTH_CONSTRAINTS"), "{s}");
    assert!(s.contains("deployment FAILED"), "{s}");
}

#[test]
fn remediation_goldens() {
    insta::assert_json_snapshot!(
        "slack_remediation_done",
        slack::render(&Event::Remediation(remediation(true)))
    );
    insta::assert_json_snapshot!(
        "slack_remediation_skipped",
        slack::render(&Event::Remediation(remediation(false)))
    );
    insta::assert_json_snapshot!(
        "webhook_remediation_skipped",
        webhook::render(&Event::Remediation(remediation(false)))
    );
}

#[test]
fn gate_failed_golden() {
    let e = Event::GateFailed(gate_failed(14));
    let msg = slack::render(&e);
    assert!(violations(&msg).is_empty(), "{:?}", violations(&msg));
    insta::assert_json_snapshot!("slack_gate_failed", msg);
}

#[test]
fn test_message_golden() {
    let e = Event::Test(TestEvent {
        subject: subject(),
        enabled: vec![
            EventKind::RolledBack,
            EventKind::Failed,
            EventKind::GateFailed,
        ],
        links: Links::default(),
    });
    insta::assert_json_snapshot!("slack_test", slack::render(&e));
    insta::assert_json_snapshot!("webhook_test", webhook::render(&e));
}

#[test]
fn a_thousand_error_groups_stay_within_every_limit() {
    let mut d = rolled_back(1000);
    d.verdict = Some("x".repeat(20_000));
    d.alarms = (0..60)
        .map(|i| AlarmTrigger {
            alarm: format!("alarm-{i}-{}", "n".repeat(300)),
            reason: Some("r".repeat(5000)),
        })
        .collect();
    d.codedeploy_error = Some("e".repeat(5000));
    let msg = slack::render(&Event::Deployment(d));
    assert!(violations(&msg).is_empty(), "{:?}", violations(&msg));
    let s = msg.to_string();
    assert!(s.contains("more — see the <https://jenkins.example.com/job/web/42/artifact/shipwatch-out/report/report.html|report>"), "{s}");
    // 1 000 groups, at most 10 listed, the rest counted.
    let listed = s.matches("• ").count();
    assert!(listed < 80, "{listed}");
    assert!(
        s.contains("…and 99"),
        "the cut says how many were left out: {s}"
    );
}

#[test]
fn many_findings_stay_within_every_limit() {
    let mut g = gate_failed(5000);
    for f in &mut g.findings {
        f.title = "t".repeat(3000);
    }
    let msg = slack::render(&Event::GateFailed(g));
    assert!(violations(&msg).is_empty(), "{:?}", violations(&msg));
    assert!(msg.to_string().contains("…and 49"), "{msg}");
}

#[test]
fn outside_text_cannot_mention_or_forge_links() {
    let mut d = rolled_back(1);
    d.verdict = Some("<!channel> see <https://evil.example|the report> & more".into());
    let s = slack::render(&Event::Deployment(d)).to_string();
    assert!(!s.contains("<!channel>"), "{s}");
    assert!(!s.contains("<https://evil"), "{s}");
    assert!(s.contains("&lt;!channel&gt;"), "{s}");
}

#[test]
fn fit_never_splits_an_escape() {
    assert_eq!(slack::fit("a&b", 10), "a&amp;b");
    let cut = slack::fit("&&&&&&", 8);
    assert_eq!(cut, "&amp;…");
}

#[test]
fn events_not_enabled_are_not_sent() {
    let s = Settings {
        events: vec![EventKind::RolledBack],
        ..Settings::default()
    };
    assert!(s.wants(&Event::Deployment(rolled_back(0))));
    let mut ok = rolled_back(0);
    ok.outcome = DeployOutcome::Succeeded;
    assert!(!s.wants(&Event::Deployment(ok)));
    assert!(!s.wants(&Event::GateFailed(gate_failed(0))));
    assert!(s.wants(&Event::Test(TestEvent {
        subject: subject(),
        enabled: vec![],
        links: Links::default()
    })));
}

#[test]
fn report_link_prefers_the_configured_url_then_the_jenkins_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("shipwatch-out/report/report.html");
    std::fs::create_dir_all(html.parent().unwrap()).unwrap();
    std::fs::write(&html, "x").unwrap();
    assert_eq!(
        report_link(
            Some("https://r.example/web/report.html"),
            Some("https://j/job/1/"),
            Some(dir.path()),
            &html
        ),
        (Some("https://r.example/web/report.html".into()), None)
    );
    assert_eq!(
        report_link(
            None,
            Some("https://j.example/job/web/42/"),
            Some(dir.path()),
            &html
        ),
        (
            Some("https://j.example/job/web/42/artifact/shipwatch-out/report/report.html".into()),
            None
        )
    );
    let (url, path) = report_link(None, None, Some(dir.path()), &html);
    assert_eq!(url, None);
    assert!(path.unwrap().ends_with("shipwatch-out/report/report.html"));
    // Outside the workspace Jenkins archives nothing: the path, not a broken URL.
    let other = tempfile::tempdir().unwrap();
    let (url, path) = report_link(None, Some("https://j/job/1/"), Some(other.path()), &html);
    assert_eq!(url, None);
    assert!(path.is_some());
}

#[test]
fn every_piece_at_its_cap_stays_within_every_limit_with_whole_links() {
    let mut d = rolled_back(1000);
    d.verdict = Some("v".repeat(5000));
    d.alarms = vec![AlarmTrigger {
        alarm: "a".repeat(300),
        reason: Some("r ".repeat(3000)),
    }];
    d.codedeploy_error = Some("e".repeat(2000));
    d.application = "p".repeat(1000);
    d.release = Some("s".repeat(1000));
    let url = |tag: &str, n: usize| format!("https://example.com/{tag}/{}", "x".repeat(n));
    d.links = Links {
        report: Some(url("report", 870)),
        report_path: None,
        build: Some(url("build", 870)),
        console: Some(url("console", 5000)),
    };
    let msg = slack::render(&Event::Deployment(d));
    assert!(violations(&msg).is_empty(), "{:?}", violations(&msg));
    let links = msg["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .find(|t| t.contains("|Rollback report>"))
        .expect("the links section");
    assert!(
        links.contains(&format!("<{}|Rollback report>", url("report", 870))),
        "{links}"
    );
    assert!(
        links.contains(&format!("<{}|Jenkins build>", url("build", 870))),
        "{links}"
    );
    assert!(
        links.contains("CodeDeploy console (its URL is too long to show)"),
        "{links}"
    );
}

#[test]
fn the_last_guard_halves_the_longest_sections_until_the_message_fits() {
    let line = "y".repeat(99);
    let text = vec![line; 29].join("\n");
    let mut msg = serde_json::json!({
        "text": "t",
        "blocks": (0..5).map(|_| serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})).collect::<Vec<_>>(),
    });
    assert!(msg.to_string().chars().count() > slack::MESSAGE_BUDGET);
    slack::shrink(&mut msg);
    assert!(
        msg.to_string().chars().count() <= slack::MESSAGE_BUDGET,
        "{msg}"
    );
    assert!(violations(&msg).is_empty(), "{:?}", violations(&msg));
    for b in msg["blocks"].as_array().unwrap() {
        let t = b["text"]["text"].as_str().unwrap();
        assert!(
            t.lines().all(|l| l.len() == 99 || l == "…"),
            "cut at line ends: {t}"
        );
    }
}
