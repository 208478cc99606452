//! `shipwatch doctor` against the local AWS: all ✔ on the provisioned stack, and each
//! broken resource (a missing alarm or log group, a group without auto-rollback, a
//! service not on CODE_DEPLOY, no credentials, one permission denied) a ✘ line naming
//! it and the fix, with the documented exit code and no backtrace. Resources are broken
//! with boto3 from the emulator's own virtualenv, as an operator would with the AWS CLI.

use crate::exit;
use crate::support::{LocalAws, repo_root, run, text};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// The sample stack's configuration, watching the stack's 5xx alarm; `watch_alarms`
/// replaces the watched list, `report_extra` is added to [report].
fn config(aws: &LocalAws, watch_alarms: &str, report_extra: &str) -> PathBuf {
    let path = aws.write_config(report_extra);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[watch]\n", &format!("[watch]\nalarms = {watch_alarms}\n"));
    std::fs::write(&path, text).unwrap();
    path
}

fn doctor(aws: &LocalAws, cfg: &Path, args: &[&str]) -> Output {
    let mut c = aws.shipwatch(cfg);
    c.arg("doctor").arg("--color").arg("never").args(args);
    run(c, LIMIT)
}

/// Runs Python with boto3 against the emulator (`ep` is the endpoint, `region` set).
fn boto(aws: &LocalAws, code: &str) {
    let out = Command::new(repo_root().join(".tools/venv/bin/python"))
        .arg("-c")
        .arg(format!(
            "import boto3\nkw = dict(endpoint_url={ep:?}, region_name={region:?}, aws_access_key_id='t', aws_secret_access_key='t')\n{code}",
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
}

/// Stdout and stderr never carry a panic or a Rust debug dump.
fn assert_no_trace(o: &Output) {
    let all = text(o);
    for bad in [
        "panicked",
        "stack backtrace",
        "RUST_BACKTRACE",
        "SdkError",
        "ServiceError {",
    ] {
        assert!(!all.contains(bad), "`{bad}` in the output:\n{all}");
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The line of the check whose name starts with `name`, and the fix line below it.
fn line<'a>(out: &'a str, name: &str) -> (&'a str, &'a str) {
    let lines: Vec<&str> = out.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.get(4..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no check `{name}` in:\n{out}"));
    let fix = lines
        .get(i + 1)
        .filter(|l| l.starts_with("    fix: "))
        .copied()
        .unwrap_or("");
    (lines[i], fix)
}

fn assert_fails(o: &Output, name: &str, detail: &str, fix: &str) {
    assert_eq!(o.status.code(), Some(exit::PRECONDITION), "{}", text(o));
    assert_no_trace(o);
    let out = stdout(o);
    let (l, f) = line(&out, name);
    assert!(l.starts_with("✘ "), "not a failure: {l}\n{out}");
    assert!(l.contains(detail), "`{detail}` not in: {l}");
    assert!(f.contains(fix), "`{fix}` not in the fix: {f:?}\n{out}");
}

fn tools_path() -> std::ffi::OsString {
    let mut paths = vec![repo_root().join(".tools/bin")];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

#[test]
fn doctor_passes_every_check_on_the_sample_stack() {
    let aws = LocalAws::start(1.0);
    let cfg = config(&aws, r#"["web-5xx"]"#, "");
    let mut c = aws.shipwatch(&cfg);
    c.env("PATH", tools_path())
        .args(["doctor", "--color", "never"]);
    let o = run(c, LIMIT);
    assert_eq!(o.status.code(), Some(exit::OK), "{}", text(&o));
    assert_no_trace(&o);
    let out = stdout(&o);
    let checks: Vec<&str> = out.lines().filter(|l| !l.contains(" passed, ")).collect();
    assert!(checks.iter().all(|l| l.starts_with("✔ ")), "{out}");
    for name in [
        "configuration",
        "scanner gitleaks",
        "scanner trivy",
        "AWS credentials: from environment variables",
        "ECS cluster",
        "ECS service web deployment controller: CODE_DEPLOY",
        "CodeDeploy application",
        "CodeDeploy deployment group",
        "alarm web-5xx",
        "alarm web-elb-5xx",
        "ECR repository",
        "log group /ecs/web",
        "Jaeger",
    ] {
        assert!(
            out.lines()
                .any(|l| l.get(4..).is_some_and(|r| r.starts_with(name))),
            "no `{name}` in:\n{out}"
        );
    }
    // The secret never appears, whatever the source.
    assert!(!out.contains("testing"), "{out}");

    // The same as JSON: one document, every check ok.
    let o = doctor(&aws, &cfg, &["--skip-tools", "--output", "json"]);
    assert_eq!(o.status.code(), Some(exit::OK), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["exit_code"], 0);
    let checks = doc["checks"].as_array().unwrap();
    assert!(checks.len() > 10);
    assert!(
        checks
            .iter()
            .all(|c| c["status"] == "ok" && c.get("fix").is_none()),
        "{doc}"
    );
}

#[test]
fn doctor_names_each_broken_resource_and_the_fix() {
    let aws = LocalAws::start(1.0);

    // A watched alarm that does not exist.
    let cfg = config(&aws, r#"["web-5xx", "web-latency"]"#, "");
    let o = doctor(&aws, &cfg, &["--skip-tools"]);
    assert_fails(
        &o,
        "alarm web-latency",
        "does not exist",
        "create the alarm",
    );

    // The report's log group is missing.
    let cfg = config(&aws, r#"["web-5xx"]"#, r#"log_group = "/ecs/web-gone""#);
    let o = doctor(&aws, &cfg, &["--skip-tools"]);
    assert_fails(
        &o,
        "log group /ecs/web-gone",
        "does not exist",
        "create the log group",
    );

    // The identity may not read the service: the permission is named.
    let cfg = config(&aws, r#"["web-5xx"]"#, "");
    aws.faults(
        serde_json::json!([{"service": "ecs", "operation": "DescribeServices", "deny": 1.0}]),
    );
    let o = doctor(&aws, &cfg, &["--skip-tools"]);
    assert_fails(
        &o,
        "ECS service web",
        "access denied for ecs:DescribeServices",
        "grant ecs:DescribeServices",
    );
    // Every other read still ran and passed.
    assert!(
        line(&stdout(&o), "ECR repository").0.starts_with("✔ "),
        "{}",
        text(&o)
    );
    aws.faults(serde_json::json!([]));

    // The same in JSON: the failing check carries its fix.
    aws.faults(
        serde_json::json!([{"service": "cloudwatch", "operation": "DescribeAlarms", "deny": 1.0}]),
    );
    let o = doctor(&aws, &cfg, &["--skip-tools", "--output", "json"]);
    assert_eq!(o.status.code(), Some(exit::PRECONDITION), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["status"], "fail");
    assert_eq!(doc["exit_code"], exit::PRECONDITION);
    let failed: Vec<&Value> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{doc}");
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("cloudwatch:DescribeAlarms"),
        "{doc}"
    );
    assert!(
        failed[0]["fix"]
            .as_str()
            .unwrap()
            .contains("grant cloudwatch:DescribeAlarms"),
        "{doc}"
    );
    aws.faults(serde_json::json!([]));

    // No credentials anywhere: said once, with where to set them.
    let mut c = aws.shipwatch(&cfg);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["doctor", "--color", "never", "--skip-tools"]);
    let o = run(c, LIMIT);
    assert_fails(
        &o,
        "AWS credentials",
        "no AWS credentials were found",
        "AWS_PROFILE",
    );

    // A group without auto-rollback.
    boto(
        &aws,
        &format!(
            "boto3.client('codedeploy', **kw).update_deployment_group(applicationName={app:?}, currentDeploymentGroupName={group:?}, autoRollbackConfiguration={{'enabled': False, 'events': []}})",
            app = aws.s("application"),
            group = aws.s("deployment_group"),
        ),
    );
    let o = doctor(&aws, &cfg, &["--skip-tools"]);
    assert_fails(
        &o,
        &format!(
            "CodeDeploy deployment group {} auto-rollback",
            aws.s("deployment_group")
        ),
        "auto-rollback is off",
        "enable auto-rollback",
    );

    // A service on the ECS (rolling) controller.
    boto(
        &aws,
        &format!(
            "boto3.client('ecs', **kw).create_service(cluster={cluster:?}, serviceName='web-rolling', taskDefinition={td:?}, desiredCount=0)",
            cluster = aws.s("cluster"),
            td = aws.s("task_definition_arn"),
        ),
    );
    let mut c = aws.shipwatch(&cfg);
    c.env("SHIPWATCH_SERVICE", "web-rolling")
        .args(["doctor", "--color", "never", "--skip-tools"]);
    let o = run(c, LIMIT);
    assert_fails(
        &o,
        "ECS service web-rolling deployment controller",
        "uses the ECS controller",
        "CODE_DEPLOY",
    );
}

#[test]
fn doctor_warns_about_settings_that_let_a_bad_release_through() {
    let aws = LocalAws::start(1.0);
    boto(
        &aws,
        &format!(
            "cd = boto3.client('codedeploy', **kw)\n\
             cd.update_deployment_group(applicationName={app:?}, currentDeploymentGroupName={group:?}, \
               autoRollbackConfiguration={{'enabled': True, 'events': ['DEPLOYMENT_FAILURE']}}, \
               blueGreenDeploymentConfiguration={{'terminateBlueInstancesOnDeploymentSuccess': {{'action': 'TERMINATE', 'terminationWaitTimeInMinutes': 0}}, \
                 'deploymentReadyOption': {{'actionOnTimeout': 'CONTINUE_DEPLOYMENT', 'waitTimeInMinutes': 0}}}})\n\
             boto3.client('logs', **kw).delete_retention_policy(logGroupName={lg:?})\n\
             boto3.client('cloudwatch', **kw).put_metric_alarm(AlarmName='web-target-5xx', Namespace='AWS/ApplicationELB', \
               MetricName='HTTPCode_Target_5XX_Count', Statistic='Sum', Period=60, EvaluationPeriods=1, Threshold=1, \
               ComparisonOperator='GreaterThanOrEqualToThreshold')",
            app = aws.s("application"),
            group = aws.s("deployment_group"),
            lg = aws.s("log_group"),
        ),
    );
    let path = config(&aws, r#"["web-5xx", "web-target-5xx"]"#, "");
    let text_cfg = std::fs::read_to_string(&path).unwrap().replace(
        "[codedeploy]\n",
        "[codedeploy]\ndeployment_config = \"CodeDeployDefault.ECSAllAtOnce\"\n",
    );
    std::fs::write(&path, text_cfg).unwrap();
    let o = doctor(&aws, &path, &["--skip-tools"]);
    // Warnings alone pass.
    assert_eq!(o.status.code(), Some(exit::OK), "{}", text(&o));
    assert_no_trace(&o);
    let out = stdout(&o);
    for (name, detail) in [
        (
            "deployment configuration CodeDeployDefault.ECSAllAtOnce",
            "'succeeds'",
        ),
        ("alarm web-target-5xx", "missing data is treated as missing"),
        ("CodeDeploy deployment group", "no DEPLOYMENT_STOP_ON_ALARM"),
        ("log group /ecs/web", "no retention"),
    ] {
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.get(4..).is_some_and(|r| r.starts_with(name)) && l.contains(detail))
            .collect();
        assert_eq!(lines.len(), 1, "no ⚠ `{name}` … `{detail}` in:\n{out}");
        assert!(lines[0].starts_with("⚠ "), "{}", lines[0]);
    }
    assert!(!out.contains("✘"), "{out}");
}
