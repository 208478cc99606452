//! `shipwatch remediate` and its Lambda function against the local AWS: one bad task
//! among healthy ones is stopped exactly once however often (and however concurrently)
//! the same alarm state change asks, its replacement is reported, the guards hold with
//! their exit codes, and the Lambda path runs through the local Lambda Runtime API
//! with both alarm event shapes.

use crate::exit;
use crate::support::{LocalAws, repo_root, run, text};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

/// The stack's configuration with `[remediate]` settings for fast tests.
fn config(aws: &LocalAws, cool_down: &str) -> PathBuf {
    aws.write_config(&format!(
        "\n[remediate]\ncool_down = \"{cool_down}\"\nreplacement_wait = \"60s\"\npoll_interval = \"0.3s\"\nlog_window = \"5m\"\n"
    ))
}

/// Runs Python with boto3 against the emulator; `code` prints one JSON value.
fn boto(aws: &LocalAws, code: &str) -> Value {
    let out = Command::new(repo_root().join(".tools/venv/bin/python"))
        .arg("-c")
        .arg(format!(
            "import boto3, json\nkw = dict(endpoint_url={ep:?}, region_name={region:?}, aws_access_key_id='t', aws_secret_access_key='t')\necs = boto3.client('ecs', **kw)\n{code}",
            ep = aws.endpoint,
            region = aws.s("region"),
        ))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "boto3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Every task of the service (running and stopped) as DescribeTasks shows it.
fn tasks(aws: &LocalAws) -> Vec<Value> {
    let v = boto(
        aws,
        &format!(
            "c, s = {c:?}, {s:?}\narns = []\nfor st in ('RUNNING', 'STOPPED'):\n    arns += ecs.list_tasks(cluster=c, serviceName=s, desiredStatus=st)['taskArns']\nts = ecs.describe_tasks(cluster=c, tasks=arns)['tasks'] if arns else []\nprint(json.dumps(ts, default=str))",
            c = aws.s("cluster"),
            s = aws.s("service"),
        ),
    );
    v.as_array().cloned().unwrap_or_default()
}

fn id(t: &Value) -> String {
    t["taskArn"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn running_ids(aws: &LocalAws) -> Vec<String> {
    let mut v: Vec<String> = tasks(aws)
        .iter()
        .filter(|t| t["lastStatus"] == "RUNNING" && t["desiredStatus"] == "RUNNING")
        .map(id)
        .collect();
    v.sort();
    v
}

/// Tasks stopped by shipwatch (their stoppedReason carries the marker).
fn stopped_by_us(aws: &LocalAws) -> Vec<Value> {
    tasks(aws)
        .into_iter()
        .filter(|t| {
            t["stoppedReason"]
                .as_str()
                .is_some_and(|r| r.starts_with("shipwatch remediate"))
        })
        .collect()
}

/// Waits until the service has `n` running tasks.
fn wait_running(aws: &LocalAws, n: usize) -> Vec<String> {
    let t0 = Instant::now();
    loop {
        let ids = running_ids(aws);
        if ids.len() >= n {
            return ids;
        }
        assert!(t0.elapsed() < LIMIT, "never {n} running tasks: {ids:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Makes one task's target fail its health checks and waits until the load balancer says so.
fn break_task(aws: &LocalAws, task: &str) {
    aws.control(
        "/_localaws/task-incident",
        &json!({"cluster": aws.s("cluster"), "task": task, "incident": "health-path-broken"}),
    );
    let tg = aws.stack["target_groups"]["blue"]["arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let t0 = Instant::now();
    loop {
        let v = boto(
            aws,
            &format!(
                "elb = boto3.client('elbv2', **kw)\nprint(json.dumps(elb.describe_target_health(TargetGroupArn={tg:?})['TargetHealthDescriptions']))"
            ),
        );
        if v.as_array()
            .is_some_and(|a| a.iter().any(|d| d["TargetHealth"]["State"] == "unhealthy"))
        {
            return;
        }
        assert!(
            t0.elapsed() < LIMIT,
            "target of {task} never unhealthy: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn remediate(aws: &LocalAws, cfg: &Path, args: &[&str]) -> Command {
    let mut c = aws.shipwatch(cfg);
    c.args(["remediate", "--output", "json", "--color", "never"])
        .args(args);
    c
}

fn result(o: &Output) -> Value {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v.get("outcome").is_some())
        })
        .unwrap_or_else(|| panic!("no remediate result on stdout:\n{}", text(o)))
}

fn alarm(aws: &LocalAws) -> String {
    aws.stack["alarms"][0]
        .as_str()
        .expect("an alarm in the stack")
        .to_owned()
}

#[test]
fn the_same_state_change_stops_exactly_one_task_however_often_it_asks() {
    let aws = LocalAws::start(1.0);
    let cfg = config(&aws, "1h");
    let before = wait_running(&aws, 2);
    let bad = before[0].clone();
    break_task(&aws, &bad);
    let alarm = alarm(&aws);

    // Three at once.
    let children: Vec<_> = (0..3)
        .map(|_| {
            let mut c = remediate(&aws, &cfg, &["--alarm", &alarm]);
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().expect("spawn")
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    let all: String = outs.iter().map(text).collect();
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == Some(exit::REMEDIATED))
            .count(),
        1,
        "{codes:?}\n{all}"
    );
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == Some(exit::REMEDIATE_SKIPPED))
            .count(),
        2,
        "{codes:?}\n{all}"
    );
    let winner = outs
        .iter()
        .map(result)
        .find(|r| r["outcome"] == "remediated")
        .unwrap();
    assert_eq!(winner["task"]["id"], bad.as_str(), "{winner}");
    assert_eq!(winner["why"]["kind"], "unhealthy_target", "{winner}");
    let replacement = winner["replacement"]["task"]
        .as_str()
        .expect("a replacement");
    assert!(!before.contains(&replacement.to_owned()), "{winner}");
    assert_eq!(winner["replacement"]["healthy"], true, "{winner}");
    for r in outs
        .iter()
        .map(result)
        .filter(|r| r["outcome"] == "skipped")
    {
        assert_eq!(r["guard"]["guard"], "alarm_state_change", "{r}");
    }

    // Ten more, one after the other.
    for i in 0..10 {
        let o = run(remediate(&aws, &cfg, &["--alarm", &alarm]), LIMIT);
        assert_eq!(
            o.status.code(),
            Some(exit::REMEDIATE_SKIPPED),
            "run {i}:\n{}",
            text(&o)
        );
        assert_eq!(result(&o)["guard"]["guard"], "alarm_state_change");
    }
    let ours = stopped_by_us(&aws);
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(id(&ours[0]), bad);
    assert!(running_ids(&aws).contains(&replacement.to_owned()));
}

#[test]
fn guards_refuse_skip_and_find_nothing_with_their_codes() {
    let aws = LocalAws::start(1.0);
    let cfg = config(&aws, "10m");
    let ids = wait_running(&aws, 2);

    // Healthy service: nothing unhealthy, nothing stopped.
    let o = run(remediate(&aws, &cfg, &[]), LIMIT);
    assert_eq!(
        o.status.code(),
        Some(exit::NOTHING_UNHEALTHY),
        "{}",
        text(&o)
    );
    assert_eq!(result(&o)["outcome"], "nothing_unhealthy");

    // One bad task, but the minimum asks for more healthy tasks than would remain.
    break_task(&aws, &ids[1]);
    let o = run(remediate(&aws, &cfg, &["--min-healthy", "2"]), LIMIT);
    assert_eq!(
        o.status.code(),
        Some(exit::REMEDIATE_SKIPPED),
        "{}",
        text(&o)
    );
    let r = result(&o);
    assert_eq!(r["guard"]["guard"], "min_healthy", "{r}");
    assert_eq!(r["task"]["id"], ids[1].as_str(), "{r}");

    // Dry run: names the task, stops nothing.
    let o = run(remediate(&aws, &cfg, &["--dry-run"]), LIMIT);
    assert_eq!(o.status.code(), Some(exit::OK), "{}", text(&o));
    assert_eq!(result(&o)["outcome"], "would_stop");

    // A second task set (what a blue/green deployment creates): refused.
    boto(
        &aws,
        &format!(
            "ts = ecs.create_task_set(cluster={c:?}, service={s:?}, taskDefinition={td:?}, externalId='d-TEST', launchType='FARGATE', networkConfiguration={{'awsvpcConfiguration': {{'subnets': {sub:?}, 'securityGroups': {sg:?}}}}}, scale={{'value': 0, 'unit': 'PERCENT'}})\nprint(json.dumps(ts['taskSet']['id']))",
            c = aws.s("cluster"),
            s = aws.s("service"),
            td = aws.s("task_definition_arn"),
            sub = aws.stack["subnets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
            sg = aws.stack["security_groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
        ),
    );
    let o = run(remediate(&aws, &cfg, &[]), LIMIT);
    assert_eq!(
        o.status.code(),
        Some(exit::REMEDIATE_REFUSED),
        "{}",
        text(&o)
    );
    let r = result(&o);
    assert_eq!(r["guard"]["guard"], "deployment_active", "{r}");
    assert!(stopped_by_us(&aws).is_empty());

    // Plain text: one line per step and the summary with its exit code.
    let mut c = aws.shipwatch(&cfg);
    c.args(["remediate", "--color", "never"]);
    let o = run(c, LIMIT);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("✘ guard"), "{out}");
    assert!(out.contains("shipwatch watch"), "{out}");
    assert!(out.contains("(exit 13)"), "{out}");
}

#[test]
fn with_every_target_healthy_the_task_logging_most_errors_is_chosen() {
    let aws = LocalAws::start(1.0);
    let cfg = config(&aws, "10m");
    let ids = wait_running(&aws, 2);
    // Health checks pass, the routes fail with 500: only the logs tell.
    aws.control(
        "/_localaws/task-incident",
        &json!({"cluster": aws.s("cluster"), "task": ids[1], "incident": "route-5xx"}),
    );
    let t0 = Instant::now();
    let r = loop {
        let o = run(remediate(&aws, &cfg, &["--dry-run"]), LIMIT);
        let r = result(&o);
        if r["outcome"] == "would_stop" {
            assert_eq!(o.status.code(), Some(exit::OK), "{}", text(&o));
            break r;
        }
        assert_eq!(r["outcome"], "nothing_unhealthy", "{}", text(&o));
        assert!(t0.elapsed() < LIMIT, "no errors ever counted: {r}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(r["task"]["id"], ids[1].as_str(), "{r}");
    assert_eq!(r["why"]["kind"], "most_errors", "{r}");
    assert!(r["why"]["errors"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["unhealthy_targets"], 0, "{r}");
    assert!(stopped_by_us(&aws).is_empty(), "a dry run stops nothing");
}

#[test]
fn a_codedeploy_deployment_in_flight_refuses_remediation() {
    let aws = LocalAws::start(1.0);
    let cfg = config(&aws, "10m");
    let ids = wait_running(&aws, 2);
    break_task(&aws, &ids[0]);
    let sha = crate::support::random_sha();
    aws.push_image(&sha, "healthy");
    let mut deploy = aws.shipwatch(&cfg);
    deploy
        .args(["deploy", "--sha", &sha, "--output", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = deploy.spawn().expect("start deploy");
    let state = aws.dir.path().join("deploy-state.json");
    let t0 = Instant::now();
    while !state.exists() {
        assert!(t0.elapsed() < LIMIT, "the deployment was never created");
        std::thread::sleep(Duration::from_millis(50));
    }
    let id = serde_json::from_str::<Value>(&std::fs::read_to_string(&state).unwrap()).unwrap()
        ["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = run(remediate(&aws, &cfg, &[]), LIMIT);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        o.status.code(),
        Some(exit::REMEDIATE_REFUSED),
        "{}",
        text(&o)
    );
    let r = result(&o);
    assert_eq!(r["guard"]["guard"], "deployment_active", "{r}");
    assert!(r["guard"]["detail"].as_str().unwrap().contains(&id), "{r}");
    assert!(stopped_by_us(&aws).is_empty());
}

#[test]
fn sigterm_while_waiting_for_the_replacement_says_what_was_stopped() {
    let aws = real_time_stack();
    let cfg = config(&aws, "10m");
    let ids = wait_running(&aws, 2);
    break_task(&aws, &ids[0]);
    // The replacement now takes 20 s to start: long enough to interrupt the wait.
    aws.control("/_localaws/config", &json!({"task_running_seconds": 20}));
    let mut c = aws.shipwatch(&cfg);
    c.args(["remediate", "--color", "never"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("spawn");
    let t0 = Instant::now();
    while stopped_by_us(&aws).is_empty() {
        assert!(t0.elapsed() < LIMIT, "nothing was stopped");
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let sent = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(o.status.code(), Some(exit::TERMINATED), "{}", text(&o));
    let all = text(&o);
    assert!(
        all.contains(&format!("Task {} was stopped", ids[0])),
        "{all}"
    );
    assert!(all.contains("aws ecs list-tasks"), "{all}");
}

/// The alarm → Lambda action payload.
fn action_event(alarm: &str, state: &str, previous: &str, at: &str) -> Value {
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"),
        "accountId": "123456789012",
        "time": at,
        "region": "us-east-1",
        "alarmData": {
            "alarmName": alarm,
            "state": {"value": state, "reason": "Threshold Crossed: 1 out of the last 1 datapoints [7.0] was greater than the threshold (5.0).",
                      "reasonData": "{\"version\":\"1.0\",\"statistic\":\"Sum\",\"period\":60,\"threshold\":5.0}", "timestamp": at},
            "previousState": {"value": previous, "reason": "Threshold Crossed", "timestamp": "2026-01-01T00:00:00.000+0000"},
            "configuration": {"description": "5xx from targets", "metrics": [{"id": "m1", "metricStat": {"metric": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count", "dimensions": {"LoadBalancer": "app/web/1"}}, "period": 60, "stat": "Sum"}, "returnData": true}]}
        }
    })
}

/// The EventBridge "CloudWatch Alarm State Change" event.
fn bridge_event(alarm: &str, state: &str, previous: &str, at: &str) -> Value {
    json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": at,
        "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}")],
        "detail": {
            "alarmName": alarm,
            "state": {"value": state, "reason": "Threshold Crossed", "reasonData": "{\"version\":\"1.0\"}", "timestamp": at},
            "previousState": {"value": previous, "reason": "Threshold Crossed", "timestamp": "2026-01-01T00:00:00.000+0000"},
            "configuration": {"metrics": [], "description": "5xx from targets"}
        }
    })
}

/// A `bootstrap` process polling the local Runtime API, configured like the function
/// in pipeline/terraform/remediate.tf (environment only).
fn bootstrap(aws: &LocalAws) -> std::process::Child {
    let dir = aws.dir.path().join("lambda");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("bootstrap");
    if !exe.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_shipwatch"), &exe).unwrap();
    }
    let mut c = Command::new(&exe);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            aws.endpoint.trim_start_matches("http://"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "shipwatch-remediate")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", &aws.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", aws.s("region"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SHIPWATCH_CLUSTER", aws.s("cluster"))
        .env("SHIPWATCH_SERVICE", aws.s("service"))
        .env("SHIPWATCH_REMEDIATE_COOL_DOWN", "20s")
        .env("SHIPWATCH_REMEDIATE_REPLACEMENT_WAIT", "60s")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("start bootstrap")
}

fn invoke(aws: &LocalAws, event: &Value) -> String {
    aws.control("/_localaws/lambda/invoke", &json!({"event": event}))["request_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn invocation(aws: &LocalAws, request_id: &str) -> Value {
    let t0 = Instant::now();
    loop {
        let v = aws.get(&format!("/_localaws/lambda/invocations/{request_id}"));
        if v["state"] == "succeeded" || v["state"] == "failed" {
            return v;
        }
        assert!(
            t0.elapsed() < LIMIT,
            "invocation {request_id} never finished: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Real time (the cool-down is measured on AWS's clock, which a faster emulated clock
/// would run ahead of), with fast task starts and health checks every 5 s.
fn real_time_stack() -> LocalAws {
    let aws = LocalAws::start(60.0);
    aws.control(
        "/_localaws/config",
        &json!({"task_pending_seconds": 1, "task_running_seconds": 2}),
    );
    let tg = aws.stack["target_groups"]["blue"]["arn"]
        .as_str()
        .unwrap()
        .to_owned();
    boto(
        &aws,
        &format!(
            "elb = boto3.client('elbv2', **kw)\nelb.modify_target_group(TargetGroupArn={tg:?}, HealthCheckIntervalSeconds=5, HealthyThresholdCount=2, UnhealthyThresholdCount=2)\nprint('null')"
        ),
    );
    aws
}

#[test]
fn lambda_acts_once_per_alarm_state_change_through_the_runtime_api() {
    let aws = real_time_stack();
    // No configuration file: the function is configured by its environment alone.
    let ids = wait_running(&aws, 2);
    break_task(&aws, &ids[0]);
    let name = alarm(&aws);
    let mut fns: Vec<std::process::Child> = (0..3).map(|_| bootstrap(&aws)).collect();

    // The same state change, three times at once, to three execution environments.
    let t1 = "2026-03-01T10:00:00.000+0000";
    let reqs: Vec<String> = (0..3)
        .map(|_| invoke(&aws, &action_event(&name, "ALARM", "OK", t1)))
        .collect();
    let results: Vec<Value> = reqs.iter().map(|r| invocation(&aws, r)).collect();
    let outcomes: Vec<&str> = results
        .iter()
        .map(|v| v["response"]["outcome"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "remediated").count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "skipped").count(),
        2,
        "{results:?}"
    );
    let stopped = stopped_by_us(&aws);
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert_eq!(id(&stopped[0]), ids[0]);

    // A new state change within the cool-down: held back.
    let r = invocation(
        &aws,
        &invoke(
            &aws,
            &action_event(&name, "ALARM", "OK", "2026-03-01T10:01:00.000+0000"),
        ),
    );
    assert_eq!(r["response"]["outcome"], "skipped", "{r}");
    assert_eq!(r["response"]["guard"]["guard"], "cool_down", "{r}");

    // Back to OK: nothing to do.
    let r = invocation(
        &aws,
        &invoke(
            &aws,
            &bridge_event(&name, "OK", "ALARM", "2026-03-01T10:05:00.000+0000"),
        ),
    );
    assert_eq!(r["response"]["outcome"], "ignored", "{r}");

    // A new state change into ALARM after the cool-down, through EventBridge: one more stop.
    let stopped_at = Instant::now();
    let now_running = wait_running(&aws, 2);
    let second = now_running.iter().find(|t| **t != ids[0]).unwrap().clone();
    break_task(&aws, &second);
    if let Some(left) = Duration::from_secs(21).checked_sub(stopped_at.elapsed()) {
        std::thread::sleep(left);
    }
    let r = invocation(
        &aws,
        &invoke(
            &aws,
            &bridge_event(&name, "ALARM", "OK", "2026-03-01T10:10:00.000+0000"),
        ),
    );
    assert_eq!(r["response"]["outcome"], "remediated", "{r}");
    assert_eq!(r["response"]["trigger"]["source"], "EventBridge", "{r}");
    assert!(r["response"]["replacement"]["task"].is_string(), "{r}");
    assert_eq!(stopped_by_us(&aws).len(), 2);

    // An event of another kind is the invocation's error, in words.
    let r = invocation(
        &aws,
        &invoke(
            &aws,
            &json!({"detail-type": "ECS Task State Change", "detail": {}}),
        ),
    );
    assert_eq!(r["state"], "failed", "{r}");
    assert!(
        r["error"]["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("ECS Task State Change"),
        "{r}"
    );

    for f in &mut fns {
        let _ = f.kill();
        let _ = f.wait();
    }
    // One structured JSON line per invocation on stdout (what CloudWatch Logs keeps).
    let mut lines = 0;
    for f in fns {
        let out = f.wait_with_output().unwrap();
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
            assert!(v.get("message").is_some(), "{v}");
            lines += 1;
        }
    }
    assert!(lines >= 6, "{lines} log lines");
}

/// A remediation that stopped a task posts one Slack message naming the task, why it was
/// chosen and the alarm; a second run held back by the guard posts one saying so.
#[test]
fn a_remediation_and_its_guard_are_each_announced_on_slack() {
    let aws = LocalAws::start(1.0);
    let cfg = config(&aws, "1h");
    let bad = wait_running(&aws, 2)[0].clone();
    break_task(&aws, &bad);
    let alarm = alarm(&aws);
    let slack = format!(
        "{}/_localaws/webhook/slack/services/T0/B0/remediate",
        aws.endpoint
    );
    let mut first = remediate(&aws, &cfg, &["--alarm", &alarm]);
    first.env("SHIPWATCH_SLACK_WEBHOOK_URL", &slack);
    let out = run(first, LIMIT);
    assert_eq!(out.status.code(), Some(exit::REMEDIATED), "{}", text(&out));
    let mut again = remediate(&aws, &cfg, &["--alarm", &alarm]);
    again.env("SHIPWATCH_SLACK_WEBHOOK_URL", &slack);
    let out = run(again, LIMIT);
    assert_eq!(
        out.status.code(),
        Some(exit::REMEDIATE_SKIPPED),
        "{}",
        text(&out)
    );
    let posts = aws.get("/_localaws/webhooks?name=slack")["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let body = |i: usize| posts[i]["body"].to_string();
    assert!(
        body(0).contains(&bad) && body(0).contains(&alarm),
        "{}",
        body(0)
    );
    assert!(body(1).contains("alarm state change"), "{}", body(1));
    assert!(
        !text(&out).contains("services/T0/B0/remediate"),
        "{}",
        text(&out)
    );
}
