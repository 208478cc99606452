//! End-to-end tests of the rollback report: bad releases deployed against the local AWS
//! emulator (one emulated minute per real second), the report written by `deploy` and
//! rebuilt after the fact by `shipwatch report <id>`; and `--logs-file` on its own.
//! The emulator is a child process killed on drop, also when a test fails.

use crate::exit;
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);

struct Outcome {
    aws: LocalAws,
    cfg: std::path::PathBuf,
    deployment_id: String,
    deploy_summary: Value,
}

/// Deploys a release whose green tasks behave as `scenario`; it must not succeed.
fn bad_release(scenario: &str) -> Outcome {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, scenario);
    let mut c = aws.shipwatch(&cfg);
    c.args(["--output", "json", "deploy", "--sha", &sha]);
    let out = run(c, LIMIT);
    let code = out.status.code();
    assert!(
        code == Some(exit::ROLLED_BACK) || code == Some(exit::FAILED),
        "{scenario}: {}",
        text(&out)
    );
    let s = summary(&out);
    let id = s["deployment"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no deployment id: {s}"))
        .to_owned();
    Outcome {
        aws,
        cfg,
        deployment_id: id,
        deploy_summary: s,
    }
}

/// `shipwatch report <id>` into `dir`; returns (report.json, report.md).
fn report(o: &Outcome, id: &str, dir: &Path, extra: &[&str]) -> (Value, String) {
    let mut c = o.aws.shipwatch(&o.cfg);
    c.args(["report", id, "--out-dir"]).arg(dir).args(extra);
    let out = run(c, LIMIT);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    read_report(dir)
}

fn read_report(dir: &Path) -> (Value, String) {
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json")).expect("report.json"),
    )
    .unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(dir.join("report.html").exists(), "report.html missing");
    (json, md)
}

fn verdict(j: &Value) -> String {
    j["verdict"]["text"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn http_5xx_report_names_alarm_route_message_and_failing_span() {
    let o = bad_release("http-5xx");
    assert_eq!(
        o.deploy_summary["outcome"], "rolled_back",
        "{}",
        o.deploy_summary
    );
    // deploy wrote the report on the rollback.
    let paths = o.deploy_summary["report"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        paths.len(),
        3,
        "deploy did not write the report: {}",
        o.deploy_summary
    );
    let (j, md) = read_report(Path::new(paths[0].as_str().unwrap()).parent().unwrap());
    let v = verdict(&j);
    assert_eq!(j["verdict"]["cause"], "errors_under_traffic", "{v}");
    assert!(v.contains("web-5xx"), "alarm not named: {v}");
    assert!(v.contains("GET /api/orders"), "route not named: {v}");
    assert!(
        v.contains("Database connection refused"),
        "message not named: {v}"
    );
    assert!(v.contains("pg.connect"), "failing span not named: {v}");
    let traced = j["traces"]["traces"].as_array().unwrap();
    assert!(
        traced
            .iter()
            .any(|t| t["error_span"]["operation"] == "pg.connect"),
        "{}",
        j["traces"]
    );
    assert!(
        j["metrics"]["totals"]["green_5xx"].as_f64().unwrap() > 0.0,
        "{}",
        j["metrics"]
    );
    assert!(md.contains("## Logs of the green tasks"));

    // After the fact, from the rollback deployment's id: the same story.
    let rollback = j["deployment"]["rollback_deployment_id"]
        .as_str()
        .expect("rollback id")
        .to_owned();
    let dir = o.aws.dir.path().join("again");
    let (j2, _) = report(&o, &rollback, &dir, &[]);
    assert_eq!(j2["deployment"]["deployment_id"], o.deployment_id.as_str());
    assert!(
        verdict(&j2).contains("Database connection refused"),
        "{}",
        verdict(&j2)
    );

    // Jaeger down: the report is still written and says why traces are missing.
    let dir = o.aws.dir.path().join("nojaeger");
    let (j3, md3) = report(
        &o,
        &o.deployment_id,
        &dir,
        &["--jaeger-url", "http://127.0.0.1:9"],
    );
    assert_eq!(j3["traces"]["status"], "unavailable", "{}", j3["traces"]);
    assert!(md3.contains("could not be reached"), "{md3}");
    assert!(
        verdict(&j3).contains("Missing evidence: traces"),
        "{}",
        verdict(&j3)
    );

    // A crash Node prints outside the logger is a text line among JSON ones: the JSON
    // filter pattern never matches it, the second pass with text terms does.
    let logs = &j["logs"];
    let group = logs["log_group"].as_str().expect("log group");
    let stream = logs["streams"][0].as_str().expect("a green stream");
    let at =
        chrono::DateTime::parse_from_rfc3339(logs["groups"][0]["first_seen"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
    let events = serde_json::json!([{"timestamp": at + 500, "message": "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"}]);
    let put = Command::new(repo_root().join(".tools/bin/aws"))
        .args([
            "logs",
            "put-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            stream,
        ])
        .arg("--log-events")
        .arg(events.to_string())
        .args([
            "--endpoint-url",
            &o.aws.endpoint,
            "--region",
            &o.aws.s("region"),
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let dir = o.aws.dir.path().join("crash");
    let (j4, _) = report(&o, &o.deployment_id, &dir, &[]);
    assert!(
        j4["logs"]["filter_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("second pass"),
        "{}",
        j4["logs"]["filter_reason"]
    );
    assert!(
        j4["logs"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["message"]
                .as_str()
                .unwrap_or_default()
                .contains("heap out of memory")),
        "{}",
        j4["logs"]["groups"]
    );
}

fn scenario_report(scenario: &str) -> (Value, String) {
    let o = bad_release(scenario);
    let dir = o.aws.dir.path().join("after");
    report(&o, &o.deployment_id, &dir, &[])
}

#[test]
fn crash_loop_report_names_the_loop_the_exit_code_and_the_stack() {
    let (j, _) = scenario_report("crash-loop");
    let v = verdict(&j);
    assert_eq!(j["verdict"]["cause"], "crash_loop", "{v}");
    assert!(v.contains("crash-looped"), "{v}");
    assert!(v.contains("exit code 1"), "{v}");
    assert!(
        v.contains("TypeError: Cannot read properties of undefined (reading 'split')"),
        "{v}"
    );
}

#[test]
fn oom_report_says_tasks_were_killed_for_memory() {
    let (j, _) = scenario_report("oom");
    let v = verdict(&j);
    assert_eq!(j["verdict"]["cause"], "out_of_memory", "{v}");
    assert!(
        v.contains("killed for exceeding their memory limit (exit 137"),
        "{v}"
    );
}

#[test]
fn health_check_fail_report_names_the_health_checks() {
    let (j, _) = scenario_report("health-check-fail");
    let v = verdict(&j);
    assert_eq!(j["verdict"]["cause"], "health_check_failed", "{v}");
    assert!(v.contains("health checks"), "{v}");
}

#[test]
fn hook_fail_report_names_the_hook() {
    let (j, md) = scenario_report("hook-fail");
    let v = verdict(&j);
    assert_eq!(j["verdict"]["cause"], "hook_failed", "{v}");
    assert!(v.contains("AfterAllowTestTraffic"), "{v}");
    assert!(
        md.contains("Lifecycle event **AfterAllowTestTraffic**"),
        "{md}"
    );
}

/// `--logs-file`: no AWS involved; stdin too.
#[test]
fn logs_file_and_stdin_give_the_same_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo_root().join("tests/fixtures/report/app.log");
    let bin = env!("CARGO_BIN_EXE_shipwatch");
    let out = Command::new(bin)
        .args([
            "--config",
            "/nonexistent/shipwatch.toml",
            "--output",
            "json",
            "report",
            "--logs-file",
        ])
        .arg(&fixture)
        .arg("--out-dir")
        .arg(dir.path().join("file"))
        .env_remove("SHIPWATCH_CONFIG")
        .output()
        .unwrap();
    // An explicit --config that does not exist is a usage error.
    assert_eq!(
        out.status.code(),
        Some(exit::USAGE),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let run_report = |sub: &str, stdin: bool| {
        let mut c = Command::new(bin);
        c.current_dir(dir.path())
            .env_remove("SHIPWATCH_CONFIG")
            .args(["--output", "json", "report", "--logs-file"]);
        if stdin {
            c.arg("-").stdin(std::fs::File::open(&fixture).unwrap());
        } else {
            c.arg(&fixture);
        }
        let out = c
            .args(["--out-dir", sub, "--sha", "1a2b3c4"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(exit::OK),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["paths"].as_array().unwrap().len(), 3, "{summary}");
        read_report(&dir.path().join(sub)).0
    };
    let a = run_report("file", false);
    let b = run_report("stdin", true);
    assert_eq!(a["logs"]["error_lines"], 12);
    assert_eq!(a["logs"]["groups"], b["logs"]["groups"]);
    assert_eq!(a["logs"]["traces"], b["logs"]["traces"]);
    assert_eq!(a["traces"]["status"], "not_configured");
    assert!(
        verdict(&a).contains("Green (sha 1a2b3c4) logged 12 error line(s)"),
        "{}",
        verdict(&a)
    );
}

/// `--logs-file -` with gzip on standard input (told by its magic bytes, as a file
/// is), and a directory, which is a usage error with a hint rather than an empty report.
#[test]
fn logs_file_gzip_on_stdin_and_directory() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_shipwatch");
    // Spring Boot console lines and nginx access lines, generated here.
    let mut log = String::new();
    for i in 0..6 {
        log += &format!(
            "2026-01-31T10:00:0{i}.000Z ERROR 1 --- [orders] [nio-8080-exec-{i}] [4bf92f3577b34da6a3ce929d0e0e473{i}-00f067aa0ba902b7] c.e.OrderService : Order {} lookup failed for user{i}@example.com\n",
            100 + i
        );
        log += &format!(
            "2026-01-31T10:00:0{i}.500Z  INFO 1 --- [orders] [nio-8080-exec-{i}] c.e.OrderService : served\n"
        );
        log += &format!(
            "10.0.0.{i} - - [31/Jan/2026:10:00:0{i} +0000] \"GET /api/orders/{} HTTP/1.1\" {} 12 \"-\" \"agent/{i}\"\n",
            100 + i,
            if i < 2 { 502 } else { 200 }
        );
    }
    let gz = dir.path().join("app.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(log.as_bytes()).unwrap();
    enc.finish().unwrap();

    let out = Command::new(bin)
        .current_dir(dir.path())
        .env_remove("SHIPWATCH_CONFIG")
        .args([
            "--output",
            "json",
            "report",
            "--logs-file",
            "-",
            "--out-dir",
            "out",
        ])
        .stdin(std::fs::File::open(&gz).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(exit::OK),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (j, md) = read_report(&dir.path().join("out"));
    let logs = &j["logs"];
    assert_eq!(logs["input"]["compression"], "gzip", "{logs}");
    assert_eq!(logs["error_lines"], 8, "{logs}");
    assert_eq!(logs["lines_read"], 18, "{logs}");
    assert_eq!(
        logs["groups"][0]["message"], "Order <n> lookup failed for <email>",
        "{logs}"
    );
    assert_eq!(logs["groups"][0]["count"], 6);
    assert_eq!(logs["groups"][1]["message"], "GET /api/orders/:id → 502");
    assert_eq!(logs["groups"][1]["count"], 2);
    assert_eq!(
        logs["groups"][0]["first_seen"], "2026-01-31T10:00:00Z",
        "{logs}"
    );
    assert!(md.contains("Order <n> lookup failed for <email>"), "{md}");

    // A directory: exit 2 and a hint, no report.
    let out = Command::new(bin)
        .current_dir(dir.path())
        .env_remove("SHIPWATCH_CONFIG")
        .args(["report", "--logs-file"])
        .arg(dir.path())
        .args(["--out-dir", "dir-out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::USAGE), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is a directory"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("dir-out/report.json").exists());
}
