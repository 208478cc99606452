//! End-to-end tests of notifications: a rolled-back deployment and a failed secrets gate
//! post to the emulator's webhook receiver (`/_localaws/webhook/<name>/<token path>`),
//! which can answer 429 with Retry-After; `notify --test` reports each endpoint. The
//! token part of every webhook URL must appear in no output and no file.

use crate::exit;
use crate::support::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);
/// Stands for the secret part of a Slack incoming-webhook URL.
const SLACK_TOKEN: &str = "services/T0NOTIFY/B0NOTIFY/slacktoken1234567890";
const HOOK_TOKEN: &str = "hooks/generic-token-0987654321";

fn slack_url(aws: &LocalAws) -> String {
    format!("{}/_localaws/webhook/slack/{SLACK_TOKEN}", aws.endpoint)
}

fn received(aws: &LocalAws, name: &str) -> Vec<Value> {
    aws.get(&format!("/_localaws/webhooks?name={name}"))["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Every file under `dir`, as text, for "no token anywhere" checks.
fn all_files(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return text;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            text.push_str(&all_files(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

fn assert_no_token(what: &str, text: &str) {
    for t in [
        SLACK_TOKEN,
        "slacktoken1234567890",
        HOOK_TOKEN,
        "generic-token",
    ] {
        assert!(
            !text.contains(t),
            "a webhook token leaked into {what}:\n{text}"
        );
    }
}

#[test]
fn rolled_back_deployment_posts_one_slack_message_verdict_first_after_a_429() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("[notify]\nwebhook_url_env = \"INCIDENT_HOOK\"\n");
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    // Slack is rate-limited once (Retry-After 1 s); the generic webhook is broken.
    aws.control(
        "/_localaws/webhooks/replies",
        &json!({"name": "slack", "status": 429, "retry_after": 1, "count": 1, "body": "rate_limited"}),
    );
    aws.control(
        "/_localaws/webhooks/replies",
        &json!({"name": "hook", "status": 500, "count": 10, "body": "internal error"}),
    );
    let mut c = aws.shipwatch(&cfg);
    c.env("SHIPWATCH_SLACK_WEBHOOK_URL", slack_url(&aws))
        .env(
            "INCIDENT_HOOK",
            format!("{}/_localaws/webhook/hook/{HOOK_TOKEN}", aws.endpoint),
        )
        .env("BUILD_URL", "https://jenkins.example.com/job/web/7/")
        .args(["--output", "json", "deploy", "--sha", &sha]);
    let out = run(c, LIMIT);
    let all = text(&out);
    // The failed webhook changed nothing: the rollback's exit code stands.
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "notification sent to Slack (HTTP 200 after 1 HTTP 429 answer(s) waited out)"
        ),
        "{all}"
    );
    assert!(
        stderr.contains("warning: the webhook notification was not sent after 2 attempt(s): HTTP 500: internal error. The exit code is not affected."),
        "{all}"
    );

    let slack = received(&aws, "slack");
    assert_eq!(slack.len(), 2, "one 429, then the message: {slack:?}");
    assert_eq!(slack[0]["answered"], 429);
    assert_eq!(slack[1]["answered"], 200);
    assert_eq!(
        slack[0]["body"], slack[1]["body"],
        "the same message, retried"
    );
    let waited =
        slack[1]["received_at"].as_f64().unwrap() - slack[0]["received_at"].as_f64().unwrap();
    assert!(
        waited >= 0.95,
        "Retry-After 1 s was honoured: waited {waited:.2} s"
    );

    let msg = &slack[1]["json"];
    let blocks = msg["blocks"].as_array().expect("blocks");
    let id = summary(&out)["deployment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let header = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(
        header.contains("ROLLED BACK") && header.contains(&id),
        "{header}"
    );
    // The verdict first, and the same verdict as the report's.
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(aws.dir.path().join("report/report.json")).unwrap(),
    )
    .unwrap();
    let verdict = report["verdict"]["text"].as_str().unwrap();
    let first = blocks[1]["text"]["text"].as_str().unwrap();
    let head: String = verdict.chars().take(40).collect();
    assert!(
        first.starts_with(&format!("*Verdict:* {head}")),
        "{first}\nvs {verdict}"
    );
    let body = msg.to_string();
    assert!(body.contains("alarm `"), "the trigger is named: {body}");
    assert!(
        body.contains("*Green (new)*") && body.contains("*Blue (old)*"),
        "{body}"
    );
    assert!(
        body.contains(
            "<https://jenkins.example.com/job/web/7/artifact/report/report.html|Rollback report>"
        ),
        "the report as the build's artifact: {body}"
    );
    assert!(
        body.contains("<https://jenkins.example.com/job/web/7/|Jenkins build>"),
        "{body}"
    );
    assert!(
        body.contains(&format!("codedeploy/deployments/{id}")),
        "{body}"
    );

    // The generic webhook got the documented payload (twice: 500, then 500 again).
    let hook = received(&aws, "hook");
    assert_eq!(hook.len(), 2, "{hook:?}");
    assert_eq!(hook[0]["json"]["schema"], "shipwatch.notification");
    assert_eq!(hook[0]["json"]["event"], "deployment_rolled_back");
    assert_eq!(hook[0]["json"]["data"]["deployment_id"], id.as_str());

    assert_no_token("stdout/stderr", &all);
    assert_no_token("the output files", &all_files(aws.dir.path()));
}

#[test]
fn notify_test_reports_each_endpoint_and_its_exit_code() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("[notify]\nevents = [\"rolled_back\", \"succeeded\"]\n");

    let mut c = aws.shipwatch(&cfg);
    // -vvv: every crate's trace logging, which must not carry the URL either.
    c.env("SHIPWATCH_SLACK_WEBHOOK_URL", slack_url(&aws))
        .args(["--color", "never", "-vvv", "notify", "--test"]);
    let out = run(c, LIMIT);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(exit::OK), "{all}");
    assert!(
        all.contains("✔ Slack: test message sent (HTTP 200; URL from SHIPWATCH_SLACK_WEBHOOK_URL)"),
        "{all}"
    );
    let got = received(&aws, "slack");
    assert_eq!(got.len(), 1);
    let body = got[0]["json"].to_string();
    assert!(body.contains("shipwatch test notification"), "{body}");
    assert!(body.contains("rolled back and succeeded"), "{body}");
    assert_no_token("notify --test output", &all);

    // Rate-limited beyond the budget: not sent, exit 6, and said why.
    aws.control(
        "/_localaws/webhooks/replies",
        &json!({"name": "slack", "status": 429, "retry_after": 30, "count": 1}),
    );
    let mut c = aws.shipwatch(&cfg);
    c.env("SHIPWATCH_SLACK_WEBHOOK_URL", slack_url(&aws))
        .args(["--color", "never", "--output", "json", "notify", "--test"]);
    let out = run(c, LIMIT);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(exit::PRECONDITION), "{all}");
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect(&all);
    assert_eq!(v["notifications"][0]["sent"], false, "{v}");
    assert!(
        v["notifications"][0]["error"]
            .as_str()
            .unwrap()
            .contains("rate-limited (HTTP 429) and asked to wait 30 s"),
        "{v}"
    );
    assert_no_token("notify --test output", &all);

    // Nothing configured: a usage error that says where it looked.
    let out = run(
        {
            let mut c = aws.shipwatch(&cfg);
            c.args(["notify", "--test"]);
            c
        },
        LIMIT,
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(exit::USAGE), "{all}");
    assert!(
        all.contains("SHIPWATCH_SLACK_WEBHOOK_URL (not set)"),
        "{all}"
    );

    // A variable that holds no URL is named, never shown.
    let mut c = aws.shipwatch(&cfg);
    c.env("SHIPWATCH_SLACK_WEBHOOK_URL", "xoxb-not-a-url-secret")
        .args(["notify", "--test"]);
    let out = run(c, LIMIT);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(exit::USAGE), "{all}");
    assert!(
        all.contains("SHIPWATCH_SLACK_WEBHOOK_URL is set but does not hold an http(s) URL"),
        "{all}"
    );
    assert!(!all.contains("xoxb-not-a-url-secret"), "{all}");
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args([
            "-c",
            "user.name=Fixture",
            "-c",
            "user.email=fixture@example.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        st.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// `n` characters of an AWS key id's alphabet that differ on every run, so no key sits
/// in the repository.
fn random_key_chars(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hex = random_sha() + &random_sha();
    (0..n)
        .map(|i| {
            let byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
            ALPHABET[byte as usize % ALPHABET.len()] as char
        })
        .collect()
}

/// A workspace whose repository leaks a generated AWS key, and a `gate secrets` command
/// that notifies the emulator's Slack receiver; returns the key and the secret too.
fn leaky_gate(aws: &LocalAws) -> (Command, String, String) {
    let gitleaks = repo_root().join(".tools/bin/gitleaks");
    assert!(
        gitleaks.exists(),
        "gitleaks is not installed: run scripts/setup.sh"
    );
    let ws = aws.dir.path();
    let repo = ws.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let key = format!("AKIA{}", random_key_chars(16));
    let secret = random_sha();
    std::fs::write(
        repo.join("app.env"),
        format!("AWS_ACCESS_KEY_ID={key}\nAWS_SECRET_ACCESS_KEY={secret}\n"),
    )
    .unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "fixture"]);
    let cfg = aws.write_config(&format!(
        "[gates]\noutput_dir = \"{}/gates\"\n[gates.secrets]\npath = \"{}\"\n",
        ws.display(),
        repo.display()
    ));
    let mut c = aws.shipwatch(&cfg);
    let path = format!(
        "{}:{}",
        repo_root().join(".tools/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.env("PATH", path)
        .env("SHIPWATCH_SLACK_WEBHOOK_URL", slack_url(aws))
        .args(["--color", "never", "gate", "secrets"]);
    (c, key, secret)
}

#[test]
fn a_failed_secrets_gate_posts_counts_and_findings_but_never_the_secret() {
    let aws = LocalAws::start(1.0);
    let ws = aws.dir.path().to_path_buf();
    let (c, key, secret) = leaky_gate(&aws);
    let out = run(c, LIMIT);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(exit::GATE_FAILED), "{all}");
    assert!(
        all.contains("notification sent to Slack (HTTP 200)"),
        "{all}"
    );
    let got = received(&aws, "slack");
    assert_eq!(got.len(), 1, "{got:?}");
    let body = got[0]["body"].as_str().unwrap();
    let msg = &got[0]["json"];
    let header = msg["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        header.contains("security gate failed (secrets)"),
        "{header}"
    );
    assert!(
        body.contains("aws-access-token") && body.contains("app.env:1"),
        "{body}"
    );
    assert!(header.contains("secrets"), "{header}");
    assert!(body.contains("HIGH"), "counts by severity: {body}");
    assert!(
        !body.contains(&key) && !body.contains(&secret),
        "the secret leaked into the message: {body}"
    );
    assert!(!all.contains(&key) && !all.contains(&secret), "{all}");
    assert_no_token("gate output", &all);
    assert_no_token("the gate files", &all_files(&ws.join("gates")));
}

#[test]
fn a_succeeded_deployment_is_announced_when_enabled() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("[notify]\nevents = [\"succeeded\"]\n");
    let sha = random_sha();
    aws.push_image(&sha, "healthy");
    let mut c = aws.shipwatch(&cfg);
    c.env("SHIPWATCH_SLACK_WEBHOOK_URL", slack_url(&aws))
        .args(["--output", "json", "deploy", "--sha", &sha]);
    let out = run(c, LIMIT);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(exit::OK), "{all}");
    let got = received(&aws, "slack");
    assert_eq!(got.len(), 1, "{got:?}");
    let msg = &got[0]["json"];
    let header = msg["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(header.contains("deployment succeeded"), "{header}");
    let first = msg["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        first.starts_with("*Outcome:* Deployment d-") && first.contains("succeeded in"),
        "{first}"
    );
    let body = msg.to_string();
    assert!(
        !body.contains("Rollback report") && !body.contains("*Green reached*"),
        "{body}"
    );
    assert_no_token("deploy output", &all);
}

#[test]
fn sigterm_while_a_notification_waits_out_a_429_exits_143_at_once() {
    let aws = LocalAws::start(1.0);
    aws.control(
        "/_localaws/webhooks/replies",
        &json!({"name": "slack", "status": 429, "retry_after": 4, "count": 1}),
    );
    let (mut c, _, _) = leaky_gate(&aws);
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn shipwatch");
    let t0 = std::time::Instant::now();
    while received(&aws, "slack").is_empty() {
        assert!(t0.elapsed() < LIMIT, "no notification was attempted");
        std::thread::sleep(Duration::from_millis(50));
    }
    // shipwatch is now waiting out Retry-After: 4.
    let signalled = std::time::Instant::now();
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = {
        let deadline = signalled + Duration::from_secs(3);
        loop {
            if child.try_wait().unwrap().is_some() {
                break child.wait_with_output().unwrap();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running 3 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let all = text(&out);
    assert!(signalled.elapsed() < Duration::from_secs(2), "{all}");
    assert_eq!(out.status.code(), Some(exit::TERMINATED), "{all}");
    assert!(
        all.contains("SIGTERM arrived while the notification was being sent; it was abandoned"),
        "{all}"
    );
    assert_eq!(
        received(&aws, "slack").len(),
        1,
        "nothing sent after the signal"
    );
}
