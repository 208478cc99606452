//! Precedence and the path rule, for each command's settings: flag > environment
//! variable > `[environments.<name>.<section>]` > top-level section > default, and a
//! relative path resolved against the configuration file's folder when written there,
//! against the working directory when given as a flag.

use super::*;
use crate::cli::{Cli, Command};
use crate::gates::settings::Job;
use clap::Parser;
use std::sync::Mutex;

/// The configuration sits in `<root>/pipeline/`, away from the working directory.
const FILE: &str = r#"
default_environment = "staging"

[service]
cluster = "top-cluster"
service = "web"
container = "web"
port = 8080

[image]
repository = "web"

[task_definition]
template = "taskdef.json"

[codedeploy]
application = "app"
deployment_group = "top-group"

[watch]
poll_interval = "7s"
heartbeat = "45s"
state_file = "out/state.json"

[aws]
attempt_timeout = "4s"
operation_timeout = "12s"

[report]
output_dir = "out/report"
max_traces = 3
jaeger_url = "http://top:16686"

[gates]
output_dir = "out/gates"
allowlist = "allow.toml"
[gates.iac]
dir = "terraform"
[gates.deps]
dir = "../app"

[environments.staging.service]
cluster = "staging-cluster"

[environments.staging.watch]
poll_interval = "8s"

[environments.staging.report]
max_traces = 4

[environments.staging.aws]
operation_timeout = "20s"

[environments.production.service]
cluster = "production-cluster"
"#;

fn root() -> &'static Path {
    Path::new("/srv/checkout")
}

fn sources(args: &[&str]) -> (Sources, Command) {
    let mut v = vec!["shipwatch"];
    v.extend_from_slice(args);
    let cli = Cli::try_parse_from(v).expect("arguments parse");
    let path = root().join("pipeline/shipwatch.toml");
    let file = file::from_str(FILE, &path, cli.global.config.environment.as_deref())
        .expect("configuration parses");
    (
        Sources {
            file,
            global: cli.global,
        },
        cli.command,
    )
}

fn deploy(args: &[&str]) -> DeploySettings {
    let mut v = vec!["deploy", "--sha", "1a2b3c4"];
    v.extend_from_slice(args);
    let (s, cmd) = sources(&v);
    let Command::Deploy(a) = cmd else {
        unreachable!()
    };
    s.deploy(&a).expect("deploy settings")
}

#[test]
fn deploy_values_follow_flag_then_environment_section_then_top_level_then_default() {
    let d = deploy(&[]);
    assert_eq!(
        d.target.cluster, "staging-cluster",
        "environment section over top level"
    );
    assert_eq!(
        d.group, "top-group",
        "top level when no environment sets it"
    );
    assert_eq!(d.deployment_config, defaults::DEPLOYMENT_CONFIG, "default");
    assert_eq!(d.watch.poll, Duration::from_secs(8));
    assert_eq!(d.watch.heartbeat, Duration::from_secs(45));
    assert_eq!(d.watch.alarm_poll, defaults::ALARM_POLL_INTERVAL);
    let d = deploy(&[
        "--cluster",
        "flag-cluster",
        "--deployment-group",
        "flag-group",
        "--poll-interval",
        "2s",
        "--deployment-config",
        "Linear",
    ]);
    assert_eq!(d.target.cluster, "flag-cluster");
    assert_eq!(d.group, "flag-group");
    assert_eq!(d.watch.poll, Duration::from_secs(2));
    assert_eq!(d.deployment_config, "Linear");
}

#[test]
fn deploy_paths_follow_the_path_rule() {
    let d = deploy(&[]);
    assert_eq!(d.state_file, root().join("pipeline/out/state.json"));
    let Deployable::Release(r) = &d.deployable else {
        panic!("a sha deploys a release")
    };
    assert!(
        matches!(&r.source, RenderSource::Template(p) if p == &root().join("pipeline/taskdef.json"))
    );
    let d = deploy(&["--state-file", "mine/state.json"]);
    assert_eq!(
        d.state_file,
        Path::new("mine/state.json"),
        "a flag is relative to the working directory"
    );
    // The report a deploy writes after a rollback lands where `shipwatch report` writes.
    let (s, _) = sources(&["deploy", "--sha", "1a2b3c4"]);
    let from_deploy = s.report(&Default::default(), None).unwrap();
    let (s, cmd) = sources(&["report", "d-1"]);
    let Command::Report(a) = cmd else {
        unreachable!()
    };
    let from_report = s.report(&a, None).unwrap();
    assert_eq!(from_deploy.out_dir, root().join("pipeline/out/report"));
    assert_eq!(from_deploy.out_dir, from_report.out_dir);
    let (s, _) = sources(&["deploy", "--sha", "1a2b3c4", "--report-dir", "r"]);
    assert_eq!(
        s.report(&Default::default(), Some("r".into()))
            .unwrap()
            .out_dir,
        Path::new("r")
    );
}

#[test]
fn report_values_follow_the_precedence() {
    let (s, cmd) = sources(&["report", "d-1"]);
    let Command::Report(a) = cmd else {
        unreachable!()
    };
    let r = s.report(&a, None).unwrap();
    assert_eq!(r.max_traces, 4, "environment section over top level");
    assert_eq!(r.jaeger.as_ref().unwrap().url, "http://top:16686");
    assert_eq!(r.limits.max_events, None, "no default cap");
    let (s, cmd) = sources(&[
        "--env",
        "production",
        "report",
        "d-1",
        "--max-traces",
        "9",
        "--out-dir",
        "here",
    ]);
    let Command::Report(a) = cmd else {
        unreachable!()
    };
    let r = s.report(&a, None).unwrap();
    assert_eq!(r.max_traces, 9);
    assert_eq!(r.out_dir, Path::new("here"));
    let (s, cmd) = sources(&["--env", "production", "report", "d-1"]);
    let Command::Report(a) = cmd else {
        unreachable!()
    };
    assert_eq!(
        s.report(&a, None).unwrap().max_traces,
        3,
        "top level for another environment"
    );
}

#[test]
fn gate_paths_follow_the_path_rule() {
    let (s, cmd) = sources(&["gate", "all"]);
    let Command::Gate(a) = cmd else {
        unreachable!()
    };
    let run = s.gates(&a).unwrap();
    assert_eq!(run.settings.out_dir, root().join("pipeline/out/gates"));
    assert_eq!(
        run.settings.allowlist.path,
        root().join("pipeline/allow.toml")
    );
    assert!(run.settings.allowlist.required);
    let dirs: Vec<PathBuf> = run
        .jobs
        .iter()
        .filter_map(|j| match j {
            Job::Iac(i) => Some(i.dir.clone()),
            Job::Deps(d) => Some(d.dir.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        dirs,
        vec![
            root().join("pipeline/terraform"),
            root().join("pipeline/../app")
        ]
    );
    let (s, cmd) = sources(&[
        "gate",
        "iac",
        "--dir",
        "infra",
        "--out-dir",
        "o",
        "--allowlist",
        "a.toml",
    ]);
    let Command::Gate(a) = cmd else {
        unreachable!()
    };
    let run = s.gates(&a).unwrap();
    assert_eq!(run.settings.out_dir, Path::new("o"));
    assert_eq!(run.settings.allowlist.path, Path::new("a.toml"));
    assert!(matches!(&run.jobs[..], [Job::Iac(i)] if i.dir == Path::new("infra")));
}

#[test]
fn gate_defaults_apply_without_a_file() {
    let cli = Cli::try_parse_from(["shipwatch", "gate", "secrets"]).unwrap();
    let s = Sources {
        file: file::Config::default(),
        global: cli.global,
    };
    let Command::Gate(a) = cli.command else {
        unreachable!()
    };
    let run = s.gates(&a).unwrap();
    assert_eq!(run.settings.out_dir, Path::new(defaults::GATES_DIR));
    assert_eq!(run.settings.timeout, defaults::GATE_TIMEOUT);
    assert!(
        !run.settings.allowlist.required,
        "the default allowlist may be missing"
    );
    assert!(matches!(&run.jobs[..], [Job::Secrets(j)] if j.path == Path::new(".")));
    let image = run.settings.policy(crate::gates::model::GateKind::Image);
    assert_eq!(image, &defaults::image_policy());
}

/// Environment variables are process-wide; the tests that set them take turns.
static ENV: Mutex<()> = Mutex::new(());

/// Runs `f` with `vars` set, then removes them.
fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    for (k, v) in vars {
        // SAFETY: the test runner (nextest) runs each test in its own process, and the
        // tests that touch the environment hold ENV while they do.
        unsafe { std::env::set_var(k, v) };
    }
    let out = f();
    for (k, _) in vars {
        // SAFETY: as above.
        unsafe { std::env::remove_var(k) };
    }
    out
}

#[test]
fn environment_variables_sit_between_flags_and_the_file() {
    with_env(
        &[
            ("SHIPWATCH_CLUSTER", "env-cluster"),
            ("SHIPWATCH_STATE_FILE", "env/state.json"),
            ("SHIPWATCH_JAEGER_URL", "http://env:16686"),
        ],
        || {
            let d = deploy(&[]);
            assert_eq!(
                d.target.cluster, "env-cluster",
                "environment variable over the file"
            );
            assert_eq!(
                d.state_file,
                Path::new("env/state.json"),
                "a path from the environment is relative to the working directory"
            );
            let d = deploy(&["--cluster", "flag-cluster"]);
            assert_eq!(
                d.target.cluster, "flag-cluster",
                "flag over environment variable"
            );
            let (s, cmd) = sources(&["report", "d-1"]);
            let Command::Report(a) = cmd else {
                unreachable!()
            };
            assert_eq!(
                s.report(&a, None).unwrap().jaeger.unwrap().url,
                "http://env:16686"
            );
        },
    );
}

#[test]
fn a_missing_required_value_names_the_key_and_the_flag() {
    let cli = Cli::try_parse_from(["shipwatch", "deploy", "--sha", "1a2b3c4"]).unwrap();
    let s = Sources {
        file: file::Config::default(),
        global: cli.global,
    };
    let Command::Deploy(a) = cli.command else {
        unreachable!()
    };
    let e = s.deploy(&a).unwrap_err().to_string();
    assert!(
        e.contains("`image.repository`") && e.contains("--repository"),
        "{e}"
    );
}

#[test]
fn aws_call_limits_follow_flag_then_environment_section_then_top_level_then_default() {
    let (s, _) = sources(&["deploy", "--sha", "1a2b3c4"]);
    let a = s.common().aws;
    assert_eq!(a.attempt_timeout, Duration::from_secs(4), "top-level [aws]");
    assert_eq!(
        a.operation_timeout,
        Duration::from_secs(20),
        "[environments.staging.aws] over [aws]"
    );
    assert_eq!(a.max_attempts, defaults::AWS_MAX_ATTEMPTS, "default");
    let (s, _) = sources(&["deploy", "--sha", "1a2b3c4", "--attempt-timeout", "2s"]);
    assert_eq!(
        s.common().aws.attempt_timeout,
        Duration::from_secs(2),
        "flag"
    );
}
