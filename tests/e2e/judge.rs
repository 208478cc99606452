//! End-to-end tests of the green-vs-blue judge on the emulator's realistic timing
//! (delayed ALB metrics, alarms evaluated once a minute, awslogs batches), time scaled:
//! one emulated minute lasts 3–6 real seconds, and shipwatch's poll intervals are
//! scaled by the same factor. Each test provisions its own stack with its traffic.

use crate::exit;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

/// An emulator on realistic timing with a stack `name` provisioned from `spec`, and a
/// config whose polls are scaled to `spm` real seconds per emulated minute.
fn realistic(spm: f64, name: &str, spec: Value) -> (LocalAws, std::path::PathBuf) {
    let mut aws = LocalAws::start(spm);
    aws.control("/_localaws/config", &json!({"timing": "realistic"}));
    let mut body = json!({"name": name, "images": {"v1": "healthy"}});
    body.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    aws.stack = aws.control("/_localaws/provision", &body);
    let scale = spm / 60.0;
    let cfg = aws.write_config(&format!(
        "\n[watch.judge]\npoll_interval = \"{:.3}s\"\nmetrics_poll_interval = \"{:.3}s\"\n",
        5.0 * scale,
        20.0 * scale
    ));
    // Alarm polls every 4 emulated s, like the default.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            "alarm_poll_interval = \"0.3s\"",
            &format!("alarm_poll_interval = \"{:.3}s\"", 4.0 * scale),
        )
        .replace(
            "poll_interval = \"0.3s\"",
            &format!("poll_interval = \"{:.3}s\"", 10.0 * scale),
        );
    std::fs::write(&cfg, text).unwrap();
    (aws, cfg)
}

fn deploy(aws: &LocalAws, cfg: &std::path::Path, sha: &str) -> std::process::Output {
    let mut c = aws.shipwatch(cfg);
    c.args(["--output", "json", "deploy", "--sha", sha]);
    run(c, LIMIT)
}

/// Timeline entries of `kind` (see tests/localaws/README.md).
fn timeline(aws: &LocalAws) -> Vec<Value> {
    aws.get("/_localaws/timeline?since=0")["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Asserts that the state file gives `why` as the stop reason, and returns the rollback
/// report's trigger section.
fn stop_reason_and_trigger(aws: &LocalAws, out: &std::process::Output, why: &str) -> String {
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(aws.dir.path().join("deploy-state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["stop_reason"].as_str(), Some(why), "{state}");
    let md = std::fs::read_to_string(aws.dir.path().join("report/report.md"))
        .unwrap_or_else(|e| panic!("no report.md: {e}\n{}", text(out)));
    let trigger = md.split("## Trigger").nth(1).unwrap_or_default();
    trigger.split("\n## ").next().unwrap_or_default().to_owned()
}

fn progress_lines(o: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

#[test]
fn judge_stops_http_5xx_before_the_alarm_enters_alarm() {
    // 10 requests a second: ~60 green requests in the first 10 % minute, a fifth of
    // them failing.
    let (aws, cfg) = realistic(6.0, "judged", json!({"requests_per_minute": 600}));
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    let out = deploy(&aws, &cfg, &sha);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    let why = s["judge"]["stopped"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("shipwatch's judge stopped it (task logs): green ")
            && why.contains(" requests vs blue "),
        "{s}"
    );
    assert!(why.ends_with("the alarm had not fired"), "{s}");
    assert!(
        why.contains(" needed at 99.9 % confidence, and green's error rate "),
        "{s}"
    );
    assert_eq!(s["stop_reason"].as_str(), Some(why), "{s}");
    assert_eq!(s["alarms_fired"], json!([]), "{s}");
    // The emulator's timeline: the stop came before any alarm entered ALARM.
    let entries = timeline(&aws);
    let stop = entries
        .iter()
        .find(|e| e["kind"] == "stop_requested")
        .unwrap_or_else(|| panic!("no StopDeployment in the timeline\n{}", text(&out)));
    let alarm = entries
        .iter()
        .find(|e| e["kind"] == "alarm" && e["new_state"] == "ALARM");
    if let Some(a) = alarm {
        assert!(
            a["seq"].as_u64() > stop["seq"].as_u64(),
            "alarm {a} before stop {stop}"
        );
    }
    // The state file and the report's trigger section say why too.
    let trigger = stop_reason_and_trigger(&aws, &out, why);
    assert!(
        trigger.contains("shipwatch's judge stopped it (task logs): green "),
        "{trigger}"
    );
    // The exposure: green answered few 5xx before traffic went back to blue.
    let id = s["deployment"]["id"].as_str().unwrap();
    let exposure = aws.get(&format!("/_localaws/exposure?deployment={id}"));
    assert!(
        exposure["green"]["errors"].as_u64().unwrap() > 0,
        "{exposure}"
    );
}

#[test]
fn healthy_noisy_release_succeeds_with_the_judge() {
    // Both colours fail 0.75 % of 600 requests a minute; the alarm's threshold is
    // above that noise, as a team with such a service would set it.
    let (aws, cfg) = realistic(
        3.0,
        "noisy",
        json!({"requests_per_minute": 600, "alarm_threshold": 30}),
    );
    let sha = random_sha();
    aws.push_image(&sha, "healthy-noisy");
    let out = deploy(&aws, &cfg, &sha);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let s = summary(&out);
    assert_eq!(s["outcome"], "succeeded", "{s}");
    assert_eq!(s["judge"]["verdict"], "not_worse", "{s}");
    assert!(s["judge"]["green"]["errors"].as_u64().unwrap() > 0, "{s}");
    assert!(s["judge"]["blue"]["errors"].as_u64().unwrap() > 0, "{s}");
    assert!(s["judge"]["stopped"].is_null(), "{s}");
    // The target groups' minutes were judged too, and found green no worse.
    let m = &s["judge"]["metrics"];
    assert!(m["minutes"].as_u64() >= Some(3), "{s}");
    assert_eq!(m["verdict"], "not_worse", "{s}");
    assert!(m["green"]["requests"].as_u64() > Some(100), "{s}");
}

#[test]
fn low_traffic_falls_back_to_the_alarm_and_says_the_judge_could_not_judge() {
    let (aws, cfg) = realistic(3.0, "quiet", json!({}));
    let sha = random_sha();
    aws.push_image(&sha, "low-traffic");
    let out = deploy(&aws, &cfg, &sha);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    assert!(s["alarms_fired"][0]["alarm"].as_str().is_some(), "{s}");
    assert!(s["judge"]["stopped"].is_null(), "{s}");
    let note = s["judge"]["note"].as_str().unwrap_or_default();
    assert!(note.starts_with("cannot judge: "), "{s}");
    assert!(note.ends_with("the alarms were the only guard"), "{s}");
    let said = progress_lines(&out)
        .iter()
        .any(|e| e["event"] == "judge_off" && e["why"].as_str() == Some(note));
    assert!(
        said,
        "no progress line says the judge could not judge\n{}",
        text(&out)
    );
}

#[test]
fn with_the_task_logs_unreadable_the_target_group_metrics_stop_http_5xx() {
    // FilterLogEvents is denied, so the log test never reads a line and the metric test
    // holds the whole budget. The alarm's threshold is out of reach: what stops the
    // release here can only be the metrics judge, on minutes published 60–90 s late.
    let (aws, cfg) = realistic(
        6.0,
        "tgm",
        json!({"requests_per_minute": 600, "alarm_threshold": 100000}),
    );
    aws.faults(json!([{"service": "logs", "operation": "FilterLogEvents", "deny": 1.0}]));
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    let out = deploy(&aws, &cfg, &sha);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    let why = s["judge"]["stopped"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("shipwatch's judge stopped it (target-group metrics, minute ")
            && why.contains(" 5xx in ")
            && why.contains(" 1 000:1 needed at 99.9 % confidence"),
        "{s}"
    );
    assert_eq!(s["judge"]["decided_by"], "target_group_metrics", "{s}");
    assert!(s["judge"]["metrics"]["minutes"].as_u64() >= Some(1), "{s}");
    assert_eq!(s["stop_reason"].as_str(), Some(why), "{s}");
    assert_eq!(s["alarms_fired"], json!([]), "{s}");
    // The note says once that the logs could not be read and the metrics judged alone.
    let note = s["judge"]["note"].as_str().unwrap_or_default();
    assert!(
        note.starts_with("the task logs could not be read: ")
            && note.contains("the target groups' per-minute metrics alone"),
        "{s}"
    );
    let offs = progress_lines(&out)
        .iter()
        .filter(|e| e["event"] == "judge_off")
        .count();
    assert_eq!(offs, 1, "{}", text(&out));
    // The state file and the report's trigger section name the source too.
    let trigger = stop_reason_and_trigger(&aws, &out, why);
    assert!(
        trigger.contains("shipwatch's judge stopped it (target-group metrics, minute "),
        "{trigger}"
    );
}

#[test]
fn with_the_target_unreadable_the_judge_reads_the_logs_anyway() {
    // Once the judge has listed the tasks, every GetDeploymentTarget is throttled:
    // shipwatch never sees green take traffic. The judge reads the task logs anyway
    // (the target's weights are out of date) and stops the release; the alarm's
    // threshold is out of reach, so nothing else could.
    let (aws, cfg) = realistic(
        6.0,
        "blind",
        json!({"requests_per_minute": 600, "alarm_threshold": 100000}),
    );
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    let out = std::thread::scope(|sc| {
        sc.spawn(|| {
            aws.wait_for_call("ecs.ListTasks", LIMIT);
            aws.faults(json!([{
                "service": "codedeploy", "operation": "GetDeploymentTarget", "throttle": 1.0
            }]));
        });
        deploy(&aws, &cfg, &sha)
    });
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    assert_eq!(s["judge"]["decided_by"], "task_logs", "{s}");
    let why = s["judge"]["stopped"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("shipwatch's judge stopped it (task logs): green "),
        "{s}"
    );
    assert_eq!(s["stop_reason"].as_str(), Some(why), "{s}");
    assert_eq!(s["alarms_fired"], json!([]), "{s}");
}
