//! `shipwatch investigate` against the local AWS, outside any deployment: an incident
//! is put on the running service (`/_localaws/incident`) and investigate must name
//! the cause and its evidence; a healthy service gets "nothing wrong found" with what
//! was checked; during a deployment it points to it. Every run is checked to have made
//! only read-only AWS calls (the emulator's call counts, zeroed before the run).

use crate::exit;
use crate::support::{LocalAws, random_sha, run, text};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);

fn investigate(aws: &LocalAws, cfg: &Path, extra: &[&str]) -> (Output, Value) {
    aws.control("/_localaws/calls/reset", &json!({}));
    let mut c = aws.shipwatch(cfg);
    c.args([
        "--output",
        "json",
        "--color",
        "never",
        "investigate",
        "--since",
        "6h",
    ])
    .args(extra);
    let out = run(c, LIMIT);
    assert_read_only(aws);
    let doc = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v.get("cause").is_some())
        })
        .unwrap_or_else(|| panic!("no JSON summary:\n{}", text(&out)));
    (out, doc)
}

/// Every call since the reset reads: Describe*, List*, Get*, Filter*.
fn assert_read_only(aws: &LocalAws) {
    let calls = aws.calls();
    let ops: Vec<&String> = calls
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert!(!ops.is_empty(), "no AWS call was counted");
    for op in ops {
        let name = op.rsplit('.').next().unwrap_or(op);
        assert!(
            ["Describe", "List", "Get", "Filter", "BatchGet"]
                .iter()
                .any(|p| name.starts_with(p)),
            "investigate made the mutating call {op}: {calls}"
        );
    }
}

/// Runs investigate until its cause is `want` (the incident needs emulated minutes to
/// leave its evidence), returning the last run.
fn investigate_until(aws: &LocalAws, cfg: &Path, want: &str) -> (Output, Value) {
    investigate_until_with(aws, cfg, want, |_| true)
}

/// Like [`investigate_until`], also waiting for `also` to hold of the summary.
fn investigate_until_with(
    aws: &LocalAws,
    cfg: &Path,
    want: &str,
    also: impl Fn(&Value) -> bool,
) -> (Output, Value) {
    let t0 = Instant::now();
    loop {
        let (out, doc) = investigate(aws, cfg, &[]);
        if doc["cause"] == want && also(&doc) {
            return (out, doc);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "cause never became {want}; last run:\n{}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(1500));
    }
}

fn setup(incident: &str) -> (LocalAws, PathBuf) {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    // The provisioned tasks get healthy within a second of emulated time.
    std::thread::sleep(Duration::from_secs(2));
    if incident != "healthy" {
        let r = aws.control(
            "/_localaws/incident",
            &json!({"cluster": aws.s("cluster"), "service": aws.s("service"), "incident": incident}),
        );
        assert!(r.get("task_set").is_some(), "incident not set: {r}");
    }
    (aws, cfg)
}

fn investigation(aws: &LocalAws) -> (String, Value, String) {
    let dir = aws.dir.path().join("shipwatch-out/investigation");
    let md = std::fs::read_to_string(dir.join("investigation.md")).expect("investigation.md");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("investigation.json")).unwrap())
            .unwrap();
    let html = std::fs::read_to_string(dir.join("investigation.html")).expect("investigation.html");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["schema"], "shipwatch.investigation");
    (md, json, html)
}

#[test]
fn investigate_healthy_service_finds_nothing_and_lists_what_was_checked() {
    let (aws, cfg) = setup("healthy");
    std::thread::sleep(Duration::from_secs(2));
    let (out, doc) = investigate(&aws, &cfg, &[]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    assert_eq!(doc["cause"], "nothing_found", "{doc}");
    let (md, json, _) = investigation(&aws);
    assert!(md.contains("Nothing wrong found"), "{md}");
    let checked: Vec<String> = json["checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    for what in [
        "alarms:",
        "service web: 2 running, 2 desired",
        "tasks:",
        "target health: 2 target(s)",
        "Container Insights",
        "logs:",
    ] {
        assert!(
            checked.iter().any(|c| c.contains(what)),
            "{what} not in {checked:?}"
        );
    }
    assert!(
        json["evidence"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "healthy" && t["task_id"].is_string())
    );
}

#[test]
fn investigate_oom_names_memory_exhaustion_with_the_climb_and_a_new_size() {
    let (aws, cfg) = setup("oom");
    let (out, doc) = investigate_until(&aws, &cfg, "memory_exhaustion");
    assert_eq!(
        out.status.code(),
        Some(exit::INVESTIGATE_FOUND),
        "{}",
        text(&out)
    );
    assert!(
        doc["verdict"].as_str().unwrap().contains("of 512 MiB"),
        "{doc}"
    );
    assert!(
        doc["hints"][0]
            .as_str()
            .unwrap()
            .contains("from 512 MiB to 1024 MiB"),
        "{doc}"
    );
    let (md, json, _) = investigation(&aws);
    let killed = json["evidence"]["stopped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "out_of_memory")
        .unwrap()
        .clone();
    assert_eq!(killed["exit_code"], 137);
    // The kill's own minute may not be published yet: the minute before is near the limit.
    assert!(
        killed["peak_memory_mib"].as_f64().unwrap() > 0.85 * 512.0,
        "{killed}"
    );
    let mem = json["evidence"]["insights"]["service_memory_percent"]
        .as_array()
        .unwrap();
    assert!(mem.len() >= 2, "{mem:?}");
    assert!(md.contains("% of 512 MiB"), "{md}");
}

#[test]
fn investigate_crash_loop_names_the_startup_error() {
    let (aws, cfg) = setup("crash-loop");
    let (out, doc) = investigate_until(&aws, &cfg, "startup_error");
    assert_eq!(out.status.code(), Some(exit::INVESTIGATE_FOUND));
    assert!(
        doc["verdict"].as_str().unwrap().contains("reading 'split'"),
        "{doc}"
    );
    let (md, _, _) = investigation(&aws);
    assert!(md.contains("crash loop"), "{md}");
    assert!(md.contains("exit 1"), "{md}");
}

#[test]
fn investigate_dependency_failure_names_the_host_and_port() {
    let (aws, cfg) = setup("dependency-failure");
    let (_, doc) = investigate_until(&aws, &cfg, "dependency_failure");
    assert!(
        doc["verdict"].as_str().unwrap().contains("10.0.40.12:5432"),
        "{doc}"
    );
    let (md, _, _) = investigation(&aws);
    assert!(md.contains("pass health checks meanwhile"), "{md}");
    // From Jaeger: the span that failed.
    assert!(md.contains("the failing span is pg.connect"), "{md}");
}

#[test]
fn investigate_health_path_broken_says_the_path_fails_while_routes_succeed() {
    let (aws, cfg) = setup("health-path-broken");
    // Targets are unhealthy between the failed checks and ECS replacing the task.
    let (_, doc) = investigate_until_with(&aws, &cfg, "health_check_fails", |d| {
        d["verdict"].as_str().is_some_and(|v| v.contains("[404]"))
    });
    let verdict = doc["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("answers [404]") && verdict.contains("other routes succeed"),
        "{doc}"
    );
    let (_, json, _) = investigation(&aws);
    let targets = json["evidence"]["targets"].as_array().unwrap();
    let bad = targets.iter().find(|t| t["state"] == "unhealthy");
    let stopped_hc = json["evidence"]["stopped"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["kind"] == "health_check");
    assert!(
        bad.is_some_and(
            |t| t["reason"] == "Target.ResponseCodeMismatch" && t["task_id"].is_string()
        ) || stopped_hc,
        "{targets:?}"
    );
}

#[test]
fn investigate_route_5xx_says_health_passes_while_routes_fail() {
    let (aws, cfg) = setup("route-5xx");
    let (_, doc) = investigate_until(&aws, &cfg, "health_passes_routes_fail");
    assert!(
        doc["verdict"].as_str().unwrap().contains("reading 'map'"),
        "{doc}"
    );
}

#[test]
fn investigate_during_a_deployment_points_to_it() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let mut deploy = aws.shipwatch(&cfg);
    deploy
        .args(["deploy", "--sha", &sha])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = deploy.spawn().unwrap();
    aws.wait_for_call("codedeploy.CreateDeployment", Duration::from_secs(30));
    let (out, doc) = investigate(&aws, &cfg, &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        out.status.code(),
        Some(exit::INVESTIGATE_FOUND),
        "{}",
        text(&out)
    );
    assert_eq!(doc["cause"], "deployment_in_progress", "{doc}");
    assert!(
        doc["verdict"]
            .as_str()
            .unwrap()
            .contains("shipwatch watch d-"),
        "{doc}"
    );
}

#[test]
fn investigate_says_when_container_insights_is_off() {
    let (aws, cfg) = setup("healthy");
    // The operator's switch, through the emulator's own AWS (UpdateCluster settings).
    let py = crate::support::repo_root().join(".tools/venv/bin/python");
    let st = std::process::Command::new(py)
        .arg("-c")
        .arg(format!(
            "import boto3\nboto3.client('ecs', endpoint_url={:?}, region_name={:?}, aws_access_key_id='t', aws_secret_access_key='t').update_cluster(cluster={:?}, settings=[{{'name': 'containerInsights', 'value': 'disabled'}}])",
            aws.endpoint,
            aws.s("region"),
            aws.s("cluster")
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let (_, doc) = investigate(&aws, &cfg, &["--alarm", "web-5xx"]);
    assert!(
        doc["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "Container Insights"),
        "{doc}"
    );
    let (md, _, html) = investigation(&aws);
    assert!(
        md.contains("Container Insights is off for this cluster"),
        "{md}"
    );
    assert!(html.contains("Container Insights is off"), "{html}");
    assert!(
        md.contains("web-5xx named with --alarm is not in ALARM"),
        "{md}"
    );
}

#[test]
fn investigate_unknown_service_is_a_precondition_error_and_denied_reads_are_missing_evidence() {
    let mut aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let mut c = aws.shipwatch(&cfg);
    c.args(["investigate", "--service", "nope"]);
    let out = run(c, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(exit::PRECONDITION),
        "{}",
        text(&out)
    );
    let all = text(&out);
    assert!(all.contains("no active service of that name"), "{all}");
    assert!(
        !all.contains("panicked") && !all.contains("SdkError"),
        "{all}"
    );
    // One permission missing: the rest is still read and the gap is named.
    aws.faults(json!([{"service": "elbv2", "operation": "DescribeTargetHealth", "deny": 1.0}]));
    let (_, doc) = investigate(&aws, &cfg, &[]);
    assert!(
        doc["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "target health"),
        "{doc}"
    );
    assert!(
        doc["verdict"]
            .as_str()
            .unwrap()
            .contains("not everything could be read (target health)"),
        "{doc}"
    );
    // A cluster that does not exist is exit 6 like a missing service.
    let mut c = aws.shipwatch(&cfg);
    c.args(["investigate", "--cluster", "nope"]);
    let out = run(c, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(exit::PRECONDITION),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("--cluster"), "{}", text(&out));
    // AWS out of reach is exit 9 with the cause after one read, never "nothing found".
    aws.kill();
    let mut c = aws.shipwatch(&cfg);
    c.args(["investigate"]);
    let t0 = Instant::now();
    let out = run(c, LIMIT);
    assert_eq!(out.status.code(), Some(exit::AWS_ERROR), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ecs:DescribeServices") && err.contains("refused"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Nothing wrong"));
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}

#[test]
fn investigate_stops_on_sigterm_with_143_and_changes_nothing() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    aws.faults(json!([{"service": "ecs", "operation": "DescribeTasks", "latency_ms": 5000}]));
    let mut c = aws.shipwatch(&cfg);
    c.args(["investigate"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    aws.wait_for_call("ecs.DescribeTasks", Duration::from_secs(30));
    let t0 = Instant::now();
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing was changed in AWS"),
        "{}",
        text(&out)
    );
    assert!(
        !aws.dir
            .path()
            .join("shipwatch-out/investigation/investigation.json")
            .exists()
    );
}
