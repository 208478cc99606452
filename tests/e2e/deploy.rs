//! End-to-end tests of register, deploy, watch and stop against the local AWS emulator
//! (time scaled: one emulated minute per real second). Each test provisions its own stack.

use crate::exit;
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(240);

fn deploy_cmd(aws: &LocalAws, cfg: &std::path::Path, sha: &str) -> std::process::Command {
    let mut c = aws.shipwatch(cfg);
    c.args(["--output", "json", "deploy", "--sha", sha]);
    c
}

/// Starts `deploy` in the background (output piped) with `extra` arguments.
fn spawn_deploy(
    aws: &LocalAws,
    cfg: &std::path::Path,
    sha: &str,
    extra: &[&str],
) -> std::process::Child {
    let mut cmd = aws.shipwatch(cfg);
    cmd.args(["deploy", "--sha", sha])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().unwrap()
}

/// Starts `deploy` in the background (output piped) and returns once its state file
/// exists, i.e. once the deployment has been created.
fn deploy_until_state_file(
    aws: &LocalAws,
    cfg: &std::path::Path,
    sha: &str,
) -> (std::process::Child, std::path::PathBuf) {
    deploy_until_state_file_with(aws, cfg, sha, &[])
}

fn deploy_until_state_file_with(
    aws: &LocalAws,
    cfg: &std::path::Path,
    sha: &str,
    extra: &[&str],
) -> (std::process::Child, std::path::PathBuf) {
    let child = spawn_deploy(aws, cfg, sha, extra);
    let state = aws.dir.path().join("deploy-state.json");
    let t0 = Instant::now();
    while !state.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no state file was written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, state)
}

/// A deploy aborted (SIGTERM, exit 143) `after` its state file appeared: the deployment
/// runs on in CodeDeploy; returns its id.
fn abandoned_deployment(
    aws: &LocalAws,
    cfg: &std::path::Path,
    sha: &str,
    after: Duration,
) -> String {
    let (child, state) = deploy_until_state_file(aws, cfg, sha);
    std::thread::sleep(after);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert_eq!(
        child.wait_with_output().unwrap().status.code(),
        Some(exit::TERMINATED)
    );
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    st["deployment_id"].as_str().unwrap().to_owned()
}

#[test]
fn healthy_release_succeeds_with_all_traffic_on_green() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let out = run(deploy_cmd(&aws, &cfg, &sha), LIMIT);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let s = summary(&out);
    assert_eq!(s["outcome"], "succeeded", "{s}");
    assert_eq!(s["max_green_percent"], 100.0, "{s}");
    // The description carries the sha, so overlapping pipelines can recognise it.
    assert!(
        s["deployment"]["description"]
            .as_str()
            .unwrap()
            .contains(&sha),
        "{s}"
    );
    // Linear 10 % steps were observed on the way.
    let events = String::from_utf8_lossy(&out.stdout);
    let weights: Vec<f64> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "traffic")
        .filter_map(|v| v["green_percent"].as_f64())
        .collect();
    assert!(
        weights.len() >= 3,
        "expected several traffic steps, saw {weights:?}"
    );
    assert!(
        weights.windows(2).all(|w| w[0] <= w[1]),
        "traffic went backwards: {weights:?}"
    );
    // There is no rollback to explain: `report` says so instead of writing one.
    let id = s["deployment"]["id"].as_str().unwrap();
    let mut report = aws.shipwatch(&cfg);
    report.args(["report", id]);
    let out = run(report, LIMIT);
    assert_eq!(out.status.code(), Some(exit::USAGE), "{}", text(&out));
    assert!(
        text(&out).contains("succeeded and was not rolled back"),
        "{}",
        text(&out)
    );
    assert!(!aws.dir.path().join("report/report.md").exists());
}

#[test]
fn http_5xx_release_is_stopped_by_shipwatch_and_rolled_back() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    // CodeDeploy polls the alarms only when Install starts, so the stop can only be
    // shipwatch's. With a 3-minute poll the alarm (which fires 1–3 emulated minutes in,
    // depending on how many of green's first requests fail) sometimes flips within one
    // of shipwatch's polls of CodeDeploy's and the stop is chance; the throttling test
    // below covers that race and what shipwatch says when it loses it.
    aws.control("/_localaws/config", &json!({"alarm_poll_seconds": 100000}));
    let out = run(deploy_cmd(&aws, &cfg, &sha), LIMIT);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    assert_eq!(s["outcome"], "rolled_back", "{s}");
    assert_eq!(
        s["stopped_by_shipwatch"],
        true,
        "{}\n--- timeline\n{}",
        text(&out),
        aws.get("/_localaws/timeline?since=0")
    );
    assert_eq!(s["rollback"]["status"], "Succeeded", "{s}");
    assert!(s["alarms_fired"][0]["alarm"].as_str().is_some(), "{s}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(aws.dir.path().join("deploy-state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["rollback_deployment_id"], s["rollback"]["id"],
        "{state}"
    );
}

#[test]
fn missing_image_is_a_precondition_and_creates_nothing() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let out = run(deploy_cmd(&aws, &cfg, &random_sha()), LIMIT);
    assert_eq!(
        out.status.code(),
        Some(exit::PRECONDITION),
        "{}",
        text(&out)
    );
    let s = summary(&out);
    assert!(
        s["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no image tagged"),
        "{s}"
    );
    let calls = aws.calls();
    let count = |op: &str| calls.get(op).and_then(|v| v.as_u64()).unwrap_or(0);
    assert!(
        count("ecr.DescribeImages") > 0,
        "the image was looked up: {calls}"
    );
    assert_eq!(count("codedeploy.CreateDeployment"), 0, "{calls}");
    assert_eq!(count("ecs.RegisterTaskDefinition"), 0, "{calls}");
}

/// A state file (or report folder) that cannot be written is found before the first
/// call to AWS: exit 2, nothing registered, nothing deployed.
#[test]
fn unwritable_state_file_is_exit_2_before_any_call() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    // A file where the state file's folder should be.
    let blocker = aws.dir.path().join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let mut c = deploy_cmd(&aws, &cfg, &sha);
    c.arg("--state-file").arg(blocker.join("deploy-state.json"));
    let out = run(c, LIMIT);
    assert_eq!(out.status.code(), Some(exit::USAGE), "{}", text(&out));
    let message = summary(&out)["error"]["message"].to_string();
    assert!(
        message.contains("cannot write the state file") && message.contains("--state-file"),
        "{message}"
    );
    let calls = aws.calls();
    let count = |op: &str| calls.get(op).and_then(|v| v.as_u64()).unwrap_or(0);
    assert_eq!(count("ecs.RegisterTaskDefinition"), 0, "{calls}");
    assert_eq!(count("codedeploy.CreateDeployment"), 0, "{calls}");
}

#[test]
fn bad_config_is_exit_2_with_file_and_line() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("[watch2]\nfoo = 1\n");
    let out = run(deploy_cmd(&aws, &cfg, &random_sha()), LIMIT);
    assert_eq!(out.status.code(), Some(exit::USAGE), "{}", text(&out));
    let msg = summary(&out)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    let expected = format!("{}:", cfg.display());
    assert!(msg.starts_with(&expected), "{msg}");
    assert!(msg.contains("watch2"), "{msg}");
}

#[test]
fn bad_template_is_exit_2_with_file_and_line() {
    let aws = LocalAws::start(1.0);
    let tpl = aws.dir.path().join("taskdef.json");
    std::fs::write(
        &tpl,
        "{\n  \"family\": \"web\",\n  \"image\": \"${NOPE}\"\n}\n",
    )
    .unwrap();
    let cfg = aws.write_config("");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap().replace(
        "mode = \"current\"",
        &format!("template = \"{}\"", tpl.display()),
    );
    std::fs::write(&cfg, text_cfg).unwrap();
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let out = run(deploy_cmd(&aws, &cfg, &sha), LIMIT);
    assert_eq!(out.status.code(), Some(exit::USAGE), "{}", text(&out));
    let msg = summary(&out)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.starts_with(&format!("{}:3:", tpl.display())), "{msg}");
}

#[test]
fn concurrent_deploy_of_another_sha_is_refused_and_same_sha_attaches() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let (a, b) = (random_sha(), random_sha());
    aws.push_image(&a, "healthy");
    aws.push_image(&b, "healthy");
    let mut first = deploy_cmd(&aws, &cfg, &a);
    let first = first
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first deployment exists.
    let t0 = Instant::now();
    while aws
        .calls()
        .get("codedeploy.CreateDeployment")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
        == 0
    {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the first deploy never created a deployment"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let other = run(deploy_cmd(&aws, &cfg, &b), LIMIT);
    assert_eq!(
        other.status.code(),
        Some(exit::PRECONDITION),
        "{}",
        text(&other)
    );
    assert!(
        summary(&other)["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&a),
        "names the running deployment's sha: {}",
        text(&other)
    );
    let same = run(deploy_cmd(&aws, &cfg, &a), LIMIT);
    assert_eq!(same.status.code(), Some(exit::OK), "{}", text(&same));
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("\"attached\""),
        "{}",
        text(&same)
    );
    let mut first = first;
    assert_eq!(first.wait().unwrap().code(), Some(exit::OK));
    assert_eq!(
        aws.calls()["codedeploy.CreateDeployment"],
        1,
        "exactly one deployment was created"
    );
}

/// Another deployment starts while this deploy's RegisterTaskDefinition is in flight
/// (4 s of latency): the check after registration sees it, the deploy exits 6 and takes
/// back the revision it registered, so nothing it registered stays active.
#[test]
fn a_deploy_that_loses_the_race_after_registering_leaves_nothing_registered() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    aws.faults(
        json!([{"service": "ecs", "operation": "RegisterTaskDefinition", "latency_ms": 4000}]),
    );
    let loser = {
        let mut c = deploy_cmd(&aws, &cfg, &sha);
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    aws.wait_for_call("ecs.RegisterTaskDefinition", Duration::from_secs(60));
    // The winner deploys the current revision as it is: it registers nothing, so it
    // creates its deployment while the loser's registration is still in flight.
    let winner = {
        let mut c = aws.shipwatch(&cfg);
        c.args([
            "deploy",
            "--task-definition",
            &aws.s("task_definition_arn"),
            "--state-file",
            aws.dir.path().join("winner-state.json").to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        c.spawn().unwrap()
    };
    let out = loser.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(exit::PRECONDITION),
        "{}",
        text(&out)
    );
    assert_eq!(
        aws.count("codedeploy.CreateDeployment"),
        1,
        "only the winner created one"
    );
    let message = summary(&out)["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("deregistered it again"), "{message}");
    let arn = message
        .split_whitespace()
        .find(|w| w.starts_with("arn:aws:ecs:") && w.contains(":task-definition/"))
        .unwrap_or_else(|| panic!("the message names no revision: {message}"))
        .to_owned();
    let described = std::process::Command::new(repo_root().join(".tools/venv/bin/aws"))
        .args([
            "ecs",
            "describe-task-definition",
            "--task-definition",
            &arn,
            "--endpoint-url",
            &aws.endpoint,
            "--region",
            &aws.s("region"),
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    let td: serde_json::Value = serde_json::from_slice(&described.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&described.stderr)));
    assert_eq!(td["taskDefinition"]["status"], "INACTIVE", "{td}");
    let mut winner = winner;
    let _ = winner.kill();
    let _ = winner.wait();
}

#[test]
fn sigterm_mid_deploy_exits_143_saves_state_and_stop_rolls_back() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let (child, state) = deploy_until_state_file(&aws, &cfg, &sha);
    std::thread::sleep(Duration::from_millis(1500));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let sent = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{}", text(&out));
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} to exit after SIGTERM"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shipwatch stop"), "{err}");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["status"], "interrupted");
    // A report of the still-running deployment says so and writes nothing.
    let id = st["deployment_id"].as_str().unwrap();
    let mut report = aws.shipwatch(&cfg);
    report.args(["report", id]);
    let out = run(report, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(exit::PRECONDITION),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("shipwatch watch {id}")),
        "{}",
        text(&out)
    );
    assert!(!aws.dir.path().join("report/report.md").exists());
    let mut stop = aws.shipwatch(&cfg);
    stop.args(["stop", "--state-file", state.to_str().unwrap()]);
    let out = run(stop, LIMIT);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("back on the original task set"),
        "{}",
        text(&out)
    );
}

/// A failing release ends with exit 3 (rolled back) or 4 and names what triggered it.
/// Each scenario gets its own stack: after one, the 5xx alarms stay in ALARM for a while,
/// which `deploy` rightly refuses as a precondition.
fn failing_scenario(scenario: &str) {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, scenario);
    let out = run(deploy_cmd(&aws, &cfg, &sha), LIMIT);
    let code = out.status.code();
    assert!(
        code == Some(exit::ROLLED_BACK) || code == Some(exit::FAILED),
        "{scenario}: {}",
        text(&out)
    );
    let s = summary(&out);
    let named = !s["alarms_fired"].as_array().unwrap().is_empty()
        || s["deployment"]["error_code"].is_string();
    assert!(named, "{scenario}: no trigger named: {s}");
}

#[test]
fn crash_loop_release_fails_and_names_the_trigger() {
    failing_scenario("crash-loop");
}

#[test]
fn oom_release_fails_and_names_the_trigger() {
    failing_scenario("oom");
}

#[test]
fn health_check_fail_release_fails_and_names_the_trigger() {
    failing_scenario("health-check-fail");
}

#[test]
fn hook_fail_release_fails_and_names_the_trigger() {
    failing_scenario("hook-fail");
}

/// 30 % throttling and 10 % 5xx on every call: the outcomes are unchanged, shipwatch
/// (not CodeDeploy's slower alarm poll) stops the bad release, and the exit follows
/// the terminal state closely. `scripts/soak-faults.sh` runs this 20 times with 2 s
/// latency on top.
#[test]
fn throttling_and_server_errors_do_not_change_outcomes() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let (good, bad) = (random_sha(), random_sha());
    aws.push_image(&good, "healthy");
    aws.push_image(&bad, "http-5xx");
    aws.control("/_localaws/config", &json!({"alarm_poll_seconds": 180}));
    aws.faults(json!([{"service": "*", "operation": "*", "throttle": 0.3, "error5xx": 0.1}]));
    let t0 = Instant::now();
    let out = run(deploy_cmd(&aws, &cfg, &good), LIMIT);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let out = run(deploy_cmd(&aws, &cfg, &bad), LIMIT);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    // Under throttling the alarm poll keeps its cadence: shipwatch's StopDeployment
    // reaches CodeDeploy within a couple of seconds of the alarm. Whether CodeDeploy's
    // own poll (every 3 real s here) lands in those seconds first is chance; when it
    // does, shipwatch must say so rather than claim the stop.
    let timeline = aws.get("/_localaws/timeline?since=0")["entries"].clone();
    let first = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        timeline
            .as_array()
            .unwrap()
            .iter()
            .find(|e| pred(e))
            .and_then(|e| e["real"].as_f64())
    };
    let alarm = first(&|e| e["kind"] == "alarm" && e["new_state"] == "ALARM").expect("alarm");
    let stop = first(&|e| e["kind"] == "call" && e["operation"] == "codedeploy.StopDeployment")
        .expect("shipwatch asked to stop");
    assert!(
        stop - alarm < 2.5,
        "StopDeployment {:.1} s after the alarm",
        stop - alarm
    );
    if s["stopped_by_shipwatch"] != true {
        assert!(text(&out).contains("already"), "{}", text(&out));
    }
    let verdict = s["verdict"].to_string();
    assert!(!verdict.contains("no awslogs"), "{verdict}");
    assert!(
        t0.elapsed() < Duration::from_secs(120),
        "two deployments under faults took {:?}",
        t0.elapsed()
    );
}

/// SIGTERM while CreateDeployment is in flight (3 s of latency): the call is given its
/// grace, the state file names the deployment it created, and `stop --state-file`
/// rolls it back; nothing is left running.
#[test]
fn sigterm_during_create_deployment_saves_what_was_created_and_stop_rolls_it_back() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    aws.faults(
        json!([{"service": "codedeploy", "operation": "CreateDeployment", "latency_ms": 3000}]),
    );
    let child = spawn_deploy(&aws, &cfg, &sha, &[]);
    aws.wait_for_call("codedeploy.CreateDeployment", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let sent = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{}", text(&out));
    assert!(
        sent.elapsed() < Duration::from_secs(9),
        "{:?}",
        sent.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("nothing was started"), "{err}");
    let state = aws.dir.path().join("deploy-state.json");
    let st: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&state).unwrap_or_else(|e| panic!("no state file ({e}): {err}")),
    )
    .unwrap();
    let id = st["deployment_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("d-"), "{st}");
    assert!(err.contains(&id) && err.contains("shipwatch stop"), "{err}");
    aws.faults(json!([]));
    let mut stop = aws.shipwatch(&cfg);
    stop.args(["stop", "--state-file", state.to_str().unwrap()]);
    let out = run(stop, LIMIT);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let mut watch = aws.shipwatch(&cfg);
    watch.args(["--output", "json", "watch", &id, "--timeout", "30s"]);
    let out = run(watch, LIMIT);
    let s = summary(&out);
    assert_ne!(s["deployment"]["status"], "InProgress", "{s}");
}

/// SIGTERM while the StopDeployment shipwatch sends on the alarm is in flight (3 s of
/// latency): the call is given its grace, the message says the deployment was stopped
/// with rollback and how to follow it, and following it ends rolled back.
#[test]
fn sigterm_during_stop_deployment_lets_it_finish_and_says_how_to_follow_the_rollback() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    // CodeDeploy's own alarm poll is off, so the stop is shipwatch's: a poll landing
    // during the call's latency would end the deployment before the call is served.
    aws.control("/_localaws/config", &json!({"alarm_poll_seconds": 100000}));
    aws.faults(
        json!([{"service": "codedeploy", "operation": "StopDeployment", "latency_ms": 3000}]),
    );
    let child = spawn_deploy(&aws, &cfg, &sha, &[]);
    aws.wait_for_call("codedeploy.StopDeployment", Duration::from_secs(120));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let sent = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{}", text(&out));
    assert!(
        sent.elapsed() < Duration::from_secs(9),
        "{:?}",
        sent.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let state = aws.dir.path().join("deploy-state.json");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let id = st["deployment_id"].as_str().unwrap().to_owned();
    assert_eq!(st["status"], "interrupted", "{st}");
    assert!(
        err.contains(&format!("stopped deployment {id} with rollback"))
            && err.contains(&format!("shipwatch watch {id}")),
        "{err}"
    );
    aws.faults(json!([]));
    let mut watch = aws.shipwatch(&cfg);
    watch.args(["--output", "json", "watch", &id, "--timeout", "60s"]);
    let out = run(watch, LIMIT);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    assert_eq!(summary(&out)["deployment"]["status"], "Stopped");
}

/// `stop` itself: SIGTERM while its StopDeployment is under way lets the call finish and
/// says CodeDeploy accepted it; a second `stop` finds the deployment ended and follows
/// its rollback to the end (JSON with `--output json`); `stop` of the rollback's own id
/// follows it and never stops it (a rollback of the rollback).
#[test]
fn stop_survives_sigterm_and_follows_rollbacks_instead_of_stopping_them() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let id = abandoned_deployment(&aws, &cfg, &sha, Duration::from_millis(1500));
    aws.faults(
        json!([{"service": "codedeploy", "operation": "StopDeployment", "latency_ms": 3000}]),
    );
    let mut stop = aws.shipwatch(&cfg);
    stop.args(["stop", &id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = stop.spawn().unwrap();
    let out = aws.sigterm_during(child, "codedeploy.StopDeployment", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("accepted the stop of {id}"))
            && err.contains(&format!("shipwatch stop {id}")),
        "{err}"
    );
    aws.faults(json!([]));
    let follow = |target: &str| {
        let mut c = aws.shipwatch(&cfg);
        c.args(["--output", "json", "stop", target]);
        let out = run(c, LIMIT);
        assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
        summary(&out)
    };
    let s = follow(&id);
    assert_eq!(s["outcome"], "rolled_back", "{s}");
    let rollback = s["rollback_deployment_id"].as_str().unwrap().to_owned();
    let s = follow(&rollback);
    assert_eq!(s["outcome"], "rolled_back", "{s}");
    let calls = aws.calls();
    assert_eq!(calls["codedeploy.StopDeployment"], 1, "{calls}");
}

/// SIGTERM while shipwatch's StopDeployment waits (6 s of latency) and the deployment
/// was stopped meanwhile by someone else (standing in for CodeDeploy's own alarm check:
/// a stop served at once through the AWS CLI): StopDeployment answers "already
/// completed", and the message says the deployment had already ended and how to
/// follow it, never that it is still running.
#[test]
fn sigterm_while_a_stop_finds_the_deployment_already_ended_says_so() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    aws.control("/_localaws/config", &json!({"alarm_poll_seconds": 100000}));
    aws.faults(
        json!([{"service": "codedeploy", "operation": "StopDeployment", "latency_ms": 6000}]),
    );
    let child = spawn_deploy(&aws, &cfg, &sha, &[]);
    aws.wait_for_call("codedeploy.StopDeployment", Duration::from_secs(120));
    // shipwatch's call is already waiting out its latency; the next one is served now.
    aws.faults(json!([]));
    let state = aws.dir.path().join("deploy-state.json");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let id = st["deployment_id"].as_str().unwrap().to_owned();
    let stopped = std::process::Command::new(repo_root().join(".tools/venv/bin/aws"))
        .args(["deploy", "stop-deployment", "--deployment-id", &id])
        .args(["--auto-rollback-enabled", "--endpoint-url", &aws.endpoint])
        .args(["--region", &aws.s("region"), "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    assert_eq!(aws.count("codedeploy.StopDeployment"), 2);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("still running"), "{err}");
    assert!(
        err.contains(&format!("found deployment {id} already ended"))
            && err.contains(&format!("shipwatch watch {id}")),
        "{err}"
    );
}

/// SIGTERM while RegisterTaskDefinition is in flight: the registration finishes, no
/// deployment is created after the signal, and the message names the revision.
#[test]
fn sigterm_during_registration_names_the_revision_and_creates_no_deployment() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    aws.faults(
        json!([{"service": "ecs", "operation": "RegisterTaskDefinition", "latency_ms": 2000}]),
    );
    let child = spawn_deploy(&aws, &cfg, &sha, &[]);
    let out = aws.sigterm_during(child, "ecs.RegisterTaskDefinition", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("registered task definition arn:"), "{err}");
    assert!(err.contains("no deployment was started"), "{err}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(aws.count("codedeploy.CreateDeployment"), 0);
    assert!(!aws.dir.path().join("deploy-state.json").exists());
}

/// The endpoint dies mid-watch: exit 9 within the outage budget, one plain paragraph
/// with the deployment id, that it still runs, the state file and both commands.
#[test]
fn endpoint_killed_mid_watch_exits_9_within_the_outage_budget() {
    let mut aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let (child, state) =
        deploy_until_state_file_with(&aws, &cfg, &sha, &["--outage-budget", "10s"]);
    let id = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&state).unwrap())
        .unwrap()["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    aws.kill();
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = killed.elapsed();
    assert_eq!(out.status.code(), Some(exit::AWS_ERROR), "{}", text(&out));
    assert!(took < Duration::from_secs(25), "exit 9 after {took:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        format!("{id} is still running in CodeDeploy"),
        format!("shipwatch watch {id}"),
        format!("shipwatch stop {id}"),
        state.display().to_string(),
        "connection refused".to_owned(),
    ] {
        assert!(err.contains(&needle), "{needle:?} missing:\n{err}");
    }
    assert!(
        !err.contains("DispatchFailure") && !err.contains("{ "),
        "{err}"
    );
}

/// The endpoint hangs (accepts, never answers): the attempt timeout turns each call
/// into a retried error, a line says what is being waited for, and exit 9 comes
/// within the outage budget.
#[test]
fn hung_endpoint_exits_9_within_the_outage_budget() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let flags = [
        "--outage-budget",
        "8s",
        "--attempt-timeout",
        "1s",
        "--operation-timeout",
        "3s",
    ];
    let (child, _state) = deploy_until_state_file_with(&aws, &cfg, &sha, &flags);
    aws.faults(json!([{"service": "*", "operation": "*", "hang": 1.0, "hang_seconds": 60}]));
    let hung = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = hung.elapsed();
    aws.faults(json!([]));
    assert_eq!(out.status.code(), Some(exit::AWS_ERROR), "{}", text(&out));
    assert!(took < Duration::from_secs(20), "exit 9 after {took:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is still running in CodeDeploy"), "{err}");
    assert!(err.contains("no answer within"), "{err}");
}

/// A hung endpoint does not hold up the deployment timeout: exit 5 at --timeout.
#[test]
fn hung_endpoint_does_not_hold_up_the_timeout() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let flags = ["--timeout", "6s", "--outage-budget", "5m"];
    let t0 = Instant::now();
    let (child, _state) = deploy_until_state_file_with(&aws, &cfg, &sha, &flags);
    aws.faults(json!([{"service": "*", "operation": "*", "hang": 1.0, "hang_seconds": 60}]));
    let out = child.wait_with_output().unwrap();
    let took = t0.elapsed();
    aws.faults(json!([]));
    assert_eq!(out.status.code(), Some(exit::TIMED_OUT), "{}", text(&out));
    assert!(took < Duration::from_secs(12), "exit 5 after {took:?}");
}

/// SIGTERM while RegisterTaskDefinition is in flight (3 s of latency): the call gets
/// its grace and the message names the revision it registered.
#[test]
fn sigterm_during_register_names_the_revision() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    aws.faults(
        json!([{"service": "ecs", "operation": "RegisterTaskDefinition", "latency_ms": 3000}]),
    );
    let mut c = aws.shipwatch(&cfg);
    c.args(["register", "--sha", &sha])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let out = aws.sigterm_during(child, "ecs.RegisterTaskDefinition", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is registered, and nothing is deployed with it")
            && err.contains(":task-definition/"),
        "{err}"
    );
}

#[test]
fn register_pins_the_digest_and_is_idempotent() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let reg = |extra: &[&str]| {
        let mut c = aws.shipwatch(&cfg);
        c.args(["--output", "json", "register", "--sha", &sha])
            .args(extra);
        run(c, LIMIT)
    };
    let dry = reg(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(exit::OK), "{}", text(&dry));
    let first = reg(&[]);
    assert_eq!(first.status.code(), Some(exit::OK), "{}", text(&first));
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert!(v["image"].as_str().unwrap().contains("@sha256:"), "{v}");
    assert_eq!(v["reused"], false);
    let second = reg(&[]);
    let w: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(w["reused"], true, "{w}");
    assert_eq!(w["task_definition_arn"], v["task_definition_arn"]);
}

/// `watch` attaches to a deployment another process started (here one whose build was
/// aborted) and behaves as `deploy` would: it sees the 5xx alarm, stops the deployment
/// itself, follows the rollback and exits 3 with the report.
#[test]
fn watch_attaches_to_a_running_deployment_and_stops_it_on_the_alarm() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    // CodeDeploy's own alarm poll is off, so the stop is the attached watch's: at one
    // real second per emulated minute a poll can land between the alarm and the
    // watch's StopDeployment, which then (truthfully) reports the stop as not its own.
    aws.control("/_localaws/config", &json!({"alarm_poll_seconds": 100000}));
    let id = abandoned_deployment(&aws, &cfg, &sha, Duration::ZERO);

    let mut watch = aws.shipwatch(&cfg);
    watch.args(["--output", "json", "watch", &id]);
    let out = run(watch, LIMIT);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(events.contains("\"attached\""), "{}", text(&out));
    let s = summary(&out);
    assert_eq!(s["deployment"]["id"], id.as_str(), "{s}");
    assert_eq!(s["outcome"], "rolled_back", "{s}");
    assert_eq!(s["stopped_by_shipwatch"], true, "{s}");
    assert_eq!(s["rollback"]["status"], "Succeeded", "{s}");
    assert!(!s["report"].as_array().unwrap().is_empty(), "{s}");
}

/// SIGTERM to an attached `watch`: exit 143 naming the deployment it watched, which is
/// still running, and its own state file, with which `stop` rolls it back.
#[test]
fn sigterm_to_watch_names_the_watched_deployment_and_its_state_file() {
    let aws = LocalAws::start(2.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let id = abandoned_deployment(&aws, &cfg, &sha, Duration::ZERO);
    let watch_state = aws.dir.path().join("watch-state.json");
    let mut watch = aws.shipwatch(&cfg);
    watch
        .args(["watch", &id, "--state-file"])
        .arg(&watch_state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = watch.spawn().unwrap();
    let t0 = Instant::now();
    while !watch_state.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "watch wrote no state file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("while watching deployment {id}"))
            && !err.contains("no deployment was started"),
        "{err}"
    );
    assert!(err.contains(&watch_state.display().to_string()), "{err}");
    let mut stop = aws.shipwatch(&cfg);
    stop.args(["stop", "--state-file"]).arg(&watch_state);
    let out = run(stop, LIMIT);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
}

/// Logs that answer slowly (5 s per FilterLogEvents) against a 1 s budget after the
/// rollback: the deploy writes its report without waiting, the logs are reported as
/// not read in time (never as missing settings) with the command that reads them, and
/// `shipwatch report <id>` afterwards reads them in full.
#[test]
fn logs_too_slow_for_the_budget_after_the_rollback_are_reported_as_not_read_in_time() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("after_rollback_budget = \"1s\"");
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    aws.control("/_localaws/config", &json!({"alarm_poll_seconds": 100000}));
    aws.faults(json!([{"service": "logs", "operation": "FilterLogEvents", "latency_ms": 5000}]));
    let out = run(deploy_cmd(&aws, &cfg, &sha), LIMIT);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    let id = s["deployment"]["id"].as_str().unwrap().to_owned();
    let dir = aws.dir.path().join("report");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let said = format!("{}{}", j["missing"], j["logs"]["caps_hit"]);
    assert!(
        said.contains("not read within 1 s after the rollback ended")
            && said.contains(&format!("shipwatch report {id}")),
        "{said}"
    );
    assert!(!s["verdict"].to_string().contains("no awslogs"), "{s}");
    aws.faults(json!([]));
    let mut again = aws.shipwatch(&cfg);
    let full = aws.dir.path().join("full");
    again.args(["report", &id, "--out-dir"]).arg(&full);
    let out = run(again, LIMIT);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("report.json")).unwrap()).unwrap();
    assert!(
        !j["missing"].to_string().contains("not read within"),
        "{}",
        j["missing"]
    );
    assert!(
        j["logs"]["groups"]
            .as_array()
            .is_some_and(|g| !g.is_empty()),
        "{}",
        j["logs"]
    );
}

/// The soak behind `scripts/soak-faults.sh` (ignored in the suite): SHIPWATCH_SOAK_RUNS
/// deployments (default 20), alternating healthy and 5xx releases, each on its own
/// stack under 30 % throttling + 10 % 5xx + SHIPWATCH_SOAK_LATENCY_MS (default 2000)
/// on every call. Prints one line per run (exit, who stopped it, terminal state → exit,
/// and for a 5xx release the AWS calls after the terminal state) and fails on any wrong
/// outcome. SHIPWATCH_SOAK_KIND=http-5xx (or healthy) runs only that kind of release.
#[test]
#[ignore]
fn soak_under_faults() {
    let runs: usize = soak_setting("SHIPWATCH_SOAK_RUNS", 20);
    let latency: u64 = soak_setting("SHIPWATCH_SOAK_LATENCY_MS", 2000);
    // 10 s per emulated minute: at 2 s a call's 2 s of latency would span an
    // emulated minute, and CodeDeploy's 3-minute alarm poll would come every 6 s.
    let spm: f64 = soak_setting("SHIPWATCH_SOAK_SECONDS_PER_MINUTE", 10.0);
    // SHIPWATCH_SOAK_KIND=healthy or http-5xx: only that kind of release.
    let kind = std::env::var("SHIPWATCH_SOAK_KIND").ok();
    // AWS's signal timing (alarms evaluated once a minute on metrics 1–1.5 minutes
    // late, logs searchable seconds after they are written) and a service's traffic,
    // unless told otherwise.
    let timing = std::env::var("SHIPWATCH_SOAK_TIMING").unwrap_or_else(|_| "realistic".into());
    let rpm: f64 = soak_setting("SHIPWATCH_SOAK_REQUESTS_PER_MINUTE", 600.0);
    let mut bad = Vec::new();
    let mut lags = Vec::new();
    // The judge's polls scaled like the watch's (their defaults in emulated seconds).
    let judge = format!(
        "\n[watch.judge]\npoll_interval = \"{:.3}s\"\nmetrics_poll_interval = \"{:.3}s\"\n",
        5.0 * spm / 60.0,
        20.0 * spm / 60.0
    );
    for i in 0..runs {
        let mut aws = LocalAws::start(spm);
        // shipwatch reads the group's termination wait in real minutes, which the
        // time-scaled emulator runs through several times faster: a stack without the
        // wait keeps "the end is near" (reads side by side) where it is on AWS.
        aws.stack = aws.control(
            "/_localaws/provision",
            &json!({"name": "soak", "images": {"v1": "healthy"}, "termination_wait_minutes": 0,
                    "requests_per_minute": rpm}),
        );
        let cfg = aws.write_config(&judge);
        let sha = random_sha();
        let healthy = match kind.as_deref() {
            Some("http-5xx") => false,
            Some(_) => true,
            None => i % 2 == 0,
        };
        aws.push_image(&sha, if healthy { "healthy" } else { "http-5xx" });
        aws.control(
            "/_localaws/config",
            &json!({"alarm_poll_seconds": 180, "timing": timing}),
        );
        aws.control(
            "/_localaws/faults",
            &json!({"rules": [{"service": "*", "operation": "*", "throttle": 0.3, "error5xx": 0.1, "latency_ms": latency}], "seed": i}),
        );
        let t0 = Instant::now();
        let out = run(deploy_cmd(&aws, &cfg, &sha), Duration::from_secs(600));
        let exited = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let code = out.status.code();
        let s = summary(&out);
        let timeline = aws.get("/_localaws/timeline?since=0")["entries"].clone();
        let terminal = timeline
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["kind"] == "deployment"
                    && matches!(
                        e["status"].as_str(),
                        Some("Succeeded" | "Failed" | "Stopped")
                    )
            })
            .filter_map(|e| e["real"].as_f64())
            .fold(0.0_f64, f64::max);
        let lag = if terminal > 0.0 {
            exited - terminal
        } else {
            f64::NAN
        };
        lags.push(lag);
        let by_us = s["stopped_by_shipwatch"] == true;
        let verdict = s["verdict"].to_string();
        let ok = if healthy {
            code == Some(exit::OK)
        } else {
            code == Some(exit::ROLLED_BACK) && by_us && !verdict.contains("no awslogs")
        };
        println!(
            "run {i:2} {:8} exit {code:?} stopped_by_shipwatch {by_us} took {:5.1}s terminal→exit {lag:5.1}s {}",
            if healthy { "healthy" } else { "http-5xx" },
            t0.elapsed().as_secs_f64(),
            if ok { "ok" } else { "WRONG" }
        );
        if !healthy {
            println!("         {}", what_decided(&timeline, &s));
            println!("         {}", calls_from_the_stop(&timeline, terminal));
        }
        println!("         {}", calls_after(&timeline, terminal));
        if !healthy {
            println!(
                "         {}",
                late_in_report(&aws.dir.path().join("report"))
            );
        }
        if std::env::var_os("SHIPWATCH_SOAK_SHOW").is_some() {
            println!("{}", text(&out));
        }
        if !ok || lag > 10.0 {
            bad.push(format!("run {i}: {}", text(&out)));
        }
    }
    let max = lags.iter().cloned().fold(0.0_f64, f64::max);
    println!(
        "{runs} runs, {} wrong or late, max terminal→exit {max:.1}s",
        bad.len()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

/// A soak setting from the environment: its value when set and parsable, else `default`.
fn soak_setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The AWS calls the emulator received after the terminal state (real time), as
/// `+seconds operation` in arrival order: the chain that stands between the end of
/// the deployment and shipwatch's exit.
fn calls_after(timeline: &serde_json::Value, terminal: f64) -> String {
    let calls: Vec<String> = timeline
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "call" && e["real"].as_f64().is_some_and(|t| t >= terminal))
        .map(|e| {
            format!(
                "+{:.1} {}",
                e["real"].as_f64().unwrap_or_default() - terminal,
                e["operation"].as_str().unwrap_or("?")
            )
        })
        .collect();
    format!("after the terminal state: {}", calls.join(", "))
}

/// What the report written by `deploy` says was not read in time after the rollback.
fn late_in_report(dir: &std::path::Path) -> String {
    let Ok(text) = std::fs::read_to_string(dir.join("report.json")) else {
        return "no report.json".into();
    };
    let j: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut late: Vec<String> = j["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["reason"]
                .as_str()
                .is_some_and(|r| r.contains("not read within"))
        })
        .map(|m| m["evidence"].as_str().unwrap_or("?").to_owned())
        .collect();
    for colour in ["logs", "blue_logs"] {
        let cut = j[colour]["caps_hit"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c.as_str().is_some_and(|c| c.contains("not read within")));
        if cut {
            late.push(format!("{colour} (in part)"));
        }
    }
    if late.is_empty() {
        "report: everything read in time".into()
    } else {
        format!("report: not read in time: {}", late.join(", "))
    }
}

/// What stopped a bad release and when, in real seconds from the deployment's creation:
/// shipwatch's stated reason, its first StopDeployment, and the first alarm to enter
/// ALARM (CodeDeploy's own poll can stop the deployment from then on).
fn what_decided(timeline: &serde_json::Value, s: &serde_json::Value) -> String {
    let entries: Vec<&serde_json::Value> = timeline.as_array().into_iter().flatten().collect();
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        entries
            .iter()
            .find(|e| pred(e))
            .and_then(|e| e["real"].as_f64())
    };
    let created = at(&|e| e["kind"] == "call" && e["operation"] == "codedeploy.CreateDeployment");
    let rel = |t: Option<f64>| match (t, created) {
        (Some(t), Some(c)) => format!("{:.1} s", t - c),
        _ => "never".into(),
    };
    let stop = at(&|e| e["kind"] == "call" && e["operation"] == "codedeploy.StopDeployment");
    // The judge's calls up to the stop, with the fault each got: why it spoke late.
    let judge_ops = [
        "ecs.DescribeTaskSets",
        "ecs.DescribeTaskDefinition",
        "ecs.ListTasks",
        "logs.FilterLogEvents",
    ];
    let judge_calls: Vec<String> = entries
        .iter()
        .filter(|e| e["kind"] == "call")
        .filter(|e| judge_ops.iter().any(|op| e["operation"] == *op))
        .filter_map(|e| {
            let t = e["real"].as_f64()?;
            if stop.is_some_and(|s| t > s) {
                return None;
            }
            let op = e["operation"].as_str()?.split('.').nth(1)?;
            let fault = e["fault"]
                .as_str()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default();
            Some(format!("{} {op}{fault}", rel(Some(t))))
        })
        .collect();
    format!(
        "decided: {}; judge: {}; StopDeployment at {}, alarm in ALARM at {}; judge's calls before the stop: {}",
        s["stop_reason"].as_str().unwrap_or("(no stop reason)"),
        s["judge"],
        rel(stop),
        rel(at(&|e| e["kind"] == "alarm" && e["new_state"] == "ALARM")),
        judge_calls.join(", "),
    )
}

/// The AWS calls between shipwatch's first StopDeployment and the terminal state, as
/// `+seconds operation` from the stop: what the report could read ahead of the end.
fn calls_from_the_stop(timeline: &serde_json::Value, terminal: f64) -> String {
    let calls: Vec<(f64, &str)> = timeline
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "call")
        .filter_map(|e| Some((e["real"].as_f64()?, e["operation"].as_str()?)))
        .collect();
    let Some(stop) = calls
        .iter()
        .find(|(_, op)| *op == "codedeploy.StopDeployment")
        .map(|(t, _)| *t)
    else {
        return "no StopDeployment".into();
    };
    let list: Vec<String> = calls
        .iter()
        .filter(|(t, _)| *t >= stop && *t < terminal)
        .map(|(t, op)| format!("+{:.1} {op}", t - stop))
        .collect();
    format!(
        "from the stop ({:.1} s before the terminal state): {}",
        terminal - stop,
        list.join(", ")
    )
}
