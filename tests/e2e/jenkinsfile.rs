//! Offline validation of the Jenkinsfile and pipeline/: the declarative model check
//! (tests/jenkins/DeclarativeCheck.groovy under the Groovy 2.4 that Jenkins uses), the
//! 11 stages in order, every `shipwatch …` line accepted by the built binary's own
//! argument parser, the sample config loading for each environment, the task-definition
//! template rendering to a valid task definition, and the Terraform passing the IaC gate.
//! Nothing here contacts AWS: AWS calls go to a closed local port.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::exit;

const STAGES: [&str; 11] = [
    "Secret Scan",
    "Type Check + Lint",
    "Dependency Audit",
    "Code Quality",
    "Build Images",
    "Image Scan",
    "SBOM",
    "IaC Scan",
    "ECR Push",
    "Task Definition Registration",
    "Blue/Green Deployment",
];

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
/// Nothing listens on the discard port: any AWS call fails fast with a connection error.
const DEAD_ENDPOINT: &str = "http://127.0.0.1:9";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs the Groovy model check on `jenkinsfile`; returns its exit code and JSON.
fn model_check(jenkinsfile: &Path) -> (i32, Value) {
    let groovy = on_path("groovy").unwrap_or_else(|| {
        panic!("`groovy` is not on PATH: scripts/setup.sh installs it (Debian package `groovy`, 2.4.21)")
    });
    let mut cmd = Command::new(groovy);
    cmd.arg(root().join("tests/jenkins/DeclarativeCheck.groovy"))
        .arg(jenkinsfile);
    // Debian's groovy needs JAVA_HOME; this image has no /usr/lib/jvm/default-java.
    if std::env::var_os("JAVA_HOME").is_none() {
        let java = on_path("java").expect("`java` is not on PATH (groovy needs a JDK)");
        let real = std::fs::canonicalize(java).expect("resolve java");
        cmd.env(
            "JAVA_HOME",
            real.parent().and_then(Path::parent).expect("JAVA_HOME"),
        );
    }
    let out = cmd.output().expect("run groovy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "model check printed no JSON ({e})\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn errors(json: &Value) -> Vec<String> {
    json["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .map(|e| e.as_str().unwrap_or_default().to_owned())
        .collect()
}

fn stages(json: &Value) -> Vec<String> {
    json["stages"]
        .as_array()
        .expect("stages array")
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Sample values for the variables the Jenkinsfile's sh scripts use. A variable missing
/// here fails the test, so a new one gets a deliberate sample.
fn sample_vars() -> BTreeMap<&'static str, String> {
    let ecr = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web-staging:{SHA}");
    BTreeMap::from([
        ("GATES_DIR", "shipwatch-out/gates".to_owned()),
        ("REPORT_DIR", "shipwatch-out/report".to_owned()),
        ("STATE_FILE", "shipwatch-out/deploy-state.json".to_owned()),
        ("APP_DIR", "app".to_owned()),
        ("DEPLOY_SHA", SHA.to_owned()),
        ("GIT_COMMIT", SHA.to_owned()),
        ("LOCAL_IMAGE", format!("web:{SHA}")),
        ("ECR_IMAGE", ecr),
        ("HOTFIX_REASON", "INC-123: checkout 500s".to_owned()),
        ("DEPLOY_ENV", "staging".to_owned()),
    ])
}

/// Splits a shell command into words as sh would: quotes, backslashes, `$NAME`,
/// `${NAME}` and Groovy's `${env.NAME}` / `${params.NAME}` expanded from `vars`.
fn shell_words(cmd: &str, vars: &BTreeMap<&str, String>) -> Result<Vec<String>, String> {
    let chars: Vec<char> = cmd.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    let lookup = |name: &str| -> Result<String, String> {
        let bare = name.rsplit('.').next().unwrap_or(name);
        vars.get(bare).cloned().ok_or_else(|| {
            format!("no sample value for `{name}` in `{cmd}`: add it to sample_vars()")
        })
    };
    let read_var = |i: &mut usize| -> Result<String, String> {
        // chars[*i] is '$'
        *i += 1;
        if chars.get(*i) == Some(&'{') {
            let end = chars[*i..]
                .iter()
                .position(|&c| c == '}')
                .ok_or("unclosed ${")?
                + *i;
            let name: String = chars[*i + 1..end].iter().collect();
            *i = end + 1;
            lookup(&name)
        } else {
            let start = *i;
            while *i < chars.len() && (chars[*i].is_ascii_alphanumeric() || chars[*i] == '_') {
                *i += 1;
            }
            lookup(&chars[start..*i].iter().collect::<String>())
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
            }
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or("unclosed '")?
                    + i
                    + 1;
                cur.extend(&chars[i + 1..end]);
                in_word = true;
                i = end + 1;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unclosed \" in `{cmd}`")),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if i + 1 < chars.len() => {
                            cur.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('$') => cur.push_str(&read_var(&mut i)?),
                        Some(&ch) => {
                            cur.push(ch);
                            i += 1;
                        }
                    }
                }
            }
            '$' => {
                // Unquoted: the shell splits the value into words.
                let value = read_var(&mut i)?;
                let mut parts = value.split_whitespace().peekable();
                while let Some(p) = parts.next() {
                    cur.push_str(p);
                    in_word = true;
                    if parts.peek().is_some() {
                        words.push(std::mem::take(&mut cur));
                    }
                }
            }
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    cur.push(n);
                    in_word = true;
                }
                i += 2;
            }
            _ => {
                cur.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Checks one `shipwatch …` line with the built binary's parser. The configuration is
/// pointed at a file that does not exist, so a line clap accepts stops at loading it
/// (JSON error of kind `config`) before any scanner or AWS call; a line clap rejects
/// prints clap's usage error instead, with no JSON.
fn check_command(cmd: &str, scratch: &Path) -> Result<(), String> {
    let words = shell_words(cmd, &sample_vars())?;
    if words.first().map(String::as_str) != Some("shipwatch") {
        return Err(format!("`{cmd}` does not start with shipwatch"));
    }
    let missing = scratch.join("no-such-shipwatch.toml");
    let mut args: Vec<String> = words[1..].to_vec();
    // A line with its own --config keeps the flag but loads the missing file too.
    for i in 0..args.len() {
        if args[i] == "--config" && i + 1 < args.len() {
            args[i + 1] = missing.display().to_string();
        } else if args[i].starts_with("--config=") {
            args[i] = format!("--config={}", missing.display());
        }
    }
    let mut all = vec!["--output".to_owned(), "json".to_owned()];
    all.extend(args);
    let out = shipwatch()
        .current_dir(scratch)
        .env("SHIPWATCH_CONFIG", &missing)
        .args(&all)
        .output()
        .map_err(|e| format!("cannot run shipwatch: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kind = serde_json::from_str::<Value>(stdout.trim())
        .ok()
        .and_then(|v| v["error"]["kind"].as_str().map(str::to_owned));
    match kind.as_deref() {
        Some("config") => Ok(()),
        _ => Err(format!(
            "`{cmd}` (as {all:?}) was not accepted by shipwatch's argument parser: exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
            out.status.code()
        )),
    }
}

/// The built binary with a clean environment: no inherited shipwatch settings or git
/// sha, dummy credentials, and AWS pointed at a closed port with a single attempt.
fn shipwatch() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipwatch"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("SHIPWATCH_") || k.starts_with("AWS_") || k == "GIT_COMMIT" {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ENDPOINT_URL", DEAD_ENDPOINT)
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCOUNT_ID", "123456789012")
        .env("NO_COLOR", "1");
    cmd
}

fn commands(json: &Value) -> Vec<(String, String)> {
    json["shipwatch"]
        .as_array()
        .expect("shipwatch array")
        .iter()
        .map(|c| {
            (
                c["context"].as_str().unwrap_or_default().to_owned(),
                c["command"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every failing command line, with the reason.
fn bad_commands(json: &Value) -> Vec<String> {
    let scratch = tempfile::tempdir().expect("tempdir");
    commands(json)
        .iter()
        .filter_map(|(ctx, cmd)| {
            check_command(cmd, scratch.path())
                .err()
                .map(|e| format!("{ctx}: {e}"))
        })
        .collect()
}

#[test]
fn jenkinsfile_passes_the_model_check_with_the_11_stages_in_order() {
    let (code, json) = model_check(&root().join("Jenkinsfile"));
    assert_eq!(errors(&json), Vec::<String>::new(), "model check errors");
    assert_eq!(code, 0);
    assert_eq!(stages(&json), STAGES, "stages and their order");
}

#[test]
fn every_shipwatch_line_in_the_jenkinsfile_parses_with_the_binary() {
    let (_, json) = model_check(&root().join("Jenkinsfile"));
    let cmds = commands(&json);
    let bad = bad_commands(&json);
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));

    // The shipwatch call each stage is for, found in that stage (gates first,
    // deployment last follows from the stage order asserted above).
    let expected = [
        ("stage Secret Scan", "shipwatch gate secrets"),
        ("stage Dependency Audit", "shipwatch gate deps"),
        ("stage Image Scan", "shipwatch gate image"),
        ("stage SBOM", "shipwatch gate sbom"),
        (
            "stage IaC Scan",
            "shipwatch gate iac --dir pipeline/terraform",
        ),
        ("stage Task Definition Registration", "shipwatch register"),
        ("stage Blue/Green Deployment", "shipwatch deploy"),
        ("post", "shipwatch stop --state-file"),
    ];
    for (ctx, prefix) in expected {
        assert!(
            cmds.iter()
                .any(|(c, cmd)| c == ctx && cmd.starts_with(prefix)),
            "no `{prefix} …` in {ctx}; found {cmds:?}"
        );
    }
    // The hotfix path passes its reason; every deploy records state for `stop`.
    let deploys: Vec<&String> = cmds
        .iter()
        .filter(|(_, c)| c.starts_with("shipwatch deploy"))
        .map(|(_, c)| c)
        .collect();
    assert!(
        deploys
            .iter()
            .any(|c| c.contains("--hotfix") && c.contains("--reason")),
        "{deploys:?}"
    );
    assert!(
        deploys
            .iter()
            .all(|c| c.contains("--state-file \"$STATE_FILE\"")),
        "{deploys:?}"
    );
}

#[test]
fn shell_words_expands_like_sh() {
    let v = sample_vars();
    assert_eq!(
        shell_words(
            r#"shipwatch deploy --reason "$HOTFIX_REASON" --x '$LIT' ${env.APP_DIR}"#,
            &v
        )
        .unwrap(),
        [
            "shipwatch",
            "deploy",
            "--reason",
            "INC-123: checkout 500s",
            "--x",
            "$LIT",
            "app"
        ]
    );
    assert!(shell_words("shipwatch $UNKNOWN_THING", &v).is_err());
}

/// Applies one edit to the real Jenkinsfile and returns the model check's result.
fn broken(from: &str, to: &str) -> (i32, Value) {
    let text = std::fs::read_to_string(root().join("Jenkinsfile")).expect("read Jenkinsfile");
    assert!(
        text.contains(from),
        "mutation anchor `{from}` no longer in the Jenkinsfile"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("Jenkinsfile");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write copy");
    model_check(&path)
}

fn assert_error(result: &(i32, Value), needle: &str) {
    let errs = errors(&result.1);
    assert_ne!(result.0, 0, "check passed a broken Jenkinsfile");
    assert!(
        errs.iter().any(|e| e.contains(needle)),
        "no error mentioning `{needle}`: {errs:?}"
    );
}

#[test]
fn model_check_rejects_a_bad_post_condition() {
    assert_error(
        &broken("        failure {\n", "        failed {\n"),
        "unknown condition `failed`",
    );
}

#[test]
fn model_check_rejects_a_stage_without_steps() {
    let r = broken(
        "            steps {\n                sh 'docker build",
        "            stepz {\n                sh 'docker build",
    );
    assert_error(
        &r,
        "stage 'Build Images': needs exactly one of steps, stages, parallel, matrix (found none)",
    );
    assert_error(&r, "unknown section or directive `stepz`");
}

#[test]
fn model_check_rejects_groovy_outside_script() {
    let r = broken(
        "                dir(\"${env.APP_DIR}\") {\n",
        "                def tag = env.GIT_COMMIT\n                dir(\"${env.APP_DIR}\") {\n",
    );
    assert_error(&r, "declaration `def tag");
    let r = broken(
        "                    sh 'docker push \"$ECR_IMAGE\"'\n",
        "                    sh 'docker push \"$ECR_IMAGE\"'\n                    if (params.HOTFIX) { echo 'x' }\n",
    );
    assert_error(&r, "if statement is not a step");
}

#[test]
fn model_check_rejects_duplicate_stages_options_and_missing_agent() {
    assert_error(
        &broken("stage('SBOM')", "stage('Image Scan')"),
        "duplicate stage name `Image Scan`",
    );
    assert_error(
        &broken(
            "        timestamps()\n",
            "        timestamps()\n        timestamps()\n",
        ),
        "duplicate option `timestamps`",
    );
    assert_error(
        &broken("    agent { label 'docker' }\n", ""),
        "pipeline: missing `agent`",
    );
    assert_error(
        &broken(
            "        APP_DIR = 'app'\n",
            "        APP_DIR = 'app'\n        println 'x'\n",
        ),
        "is not `NAME = value`",
    );
}

#[test]
fn model_check_reports_a_syntax_error() {
    let r = broken("    post {\n", "    post {{\n");
    assert_eq!(r.0, 2, "{:?}", r.1);
    assert!(errors(&r.1)[0].starts_with("does not parse"), "{:?}", r.1);
}

#[test]
fn a_misspelled_shipwatch_flag_is_caught_by_the_binary_parser() {
    let (code, json) = broken(
        "--state-file \"$STATE_FILE\" --report-dir",
        "--statefile \"$STATE_FILE\" --report-dir",
    );
    // The model is still fine; the binary's parser is what catches it.
    assert_eq!(code, 0, "{json}");
    let bad = bad_commands(&json);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].contains("--statefile") && bad[0].contains("unexpected argument"),
        "{}",
        bad[0]
    );
}

// ---- pipeline/shipwatch.toml and the task-definition template ----

/// Runs `deploy` against the dead endpoint: the error kind says how far it got.
fn deploy_error_kind(env: &str) -> (Option<i32>, String) {
    let out = shipwatch()
        .current_dir(root())
        .args([
            "--config",
            "pipeline/shipwatch.toml",
            "--env",
            env,
            "--output",
            "json",
            "--max-attempts",
            "1",
        ])
        // No outage to ride out: the endpoint is dead on purpose.
        .args([
            "deploy",
            "--sha",
            SHA,
            "--timeout",
            "10s",
            "--outage-budget",
            "0s",
        ])
        .output()
        .expect("run shipwatch");
    // With --output json, progress events come first, one per line; the error is last.
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let v: Value = serde_json::from_str(&last).unwrap_or_else(|_| {
        panic!(
            "no JSON from deploy: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code(),
        v["error"]["kind"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn sample_config_loads_and_validates_for_each_environment() {
    for env in ["staging", "production"] {
        // `aws`: the file parsed, validated and resolved every name the first AWS call
        // needs; a config problem would stop earlier with kind `config` or `usage`.
        assert_eq!(
            deploy_error_kind(env),
            (Some(exit::AWS_ERROR), "aws".to_owned()),
            "environment {env}"
        );
    }
    // The same probe does tell the difference.
    assert_eq!(
        deploy_error_kind("qa"),
        (Some(exit::USAGE), "config".to_owned())
    );
}

/// `section.key` for one environment: the environment's table, else the top level.
fn setting<'a>(
    cfg: &'a toml::Value,
    env: &str,
    section: &str,
    key: &str,
) -> Option<&'a toml::Value> {
    cfg.get("environments")
        .and_then(|e| e.get(env))
        .and_then(|e| e.get(section))
        .and_then(|s| s.get(key))
        .or_else(|| cfg.get(section).and_then(|s| s.get(key)))
}

fn text<'a>(cfg: &'a toml::Value, env: &str, section: &str, key: &str) -> &'a str {
    setting(cfg, env, section, key)
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("[{section}] {key} not set for {env}"))
}

/// Replaces the placeholders of src/deploy/render.rs; an unknown one is an error.
fn render(
    template: &str,
    vars: &BTreeMap<&str, String>,
    env: &BTreeMap<&str, &str>,
) -> Result<Value, String> {
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_:]*)\}").unwrap();
    let mut err = None;
    let out = re.replace_all(template, |c: &regex::Captures| {
        let name = &c[1];
        let v = match name.strip_prefix("env:") {
            Some(var) => env.get(var).map(|s| s.to_string()),
            None => vars.get(name).cloned(),
        };
        v.unwrap_or_else(|| {
            err = Some(format!(
                "unknown placeholder or unset variable `${{{name}}}`"
            ));
            String::new()
        })
    });
    if let Some(e) = err {
        return Err(e);
    }
    serde_json::from_str(&out).map_err(|e| format!("not JSON after rendering: {e}"))
}

fn memory(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

#[test]
fn task_definition_template_renders_valid_for_each_environment() {
    let cfg: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("pipeline/shipwatch.toml")).unwrap())
            .unwrap();
    let template_rel = text(&cfg, "staging", "task_definition", "template");
    let template = std::fs::read_to_string(root().join("pipeline").join(template_rel))
        .expect("template next to the config");
    for env in ["staging", "production"] {
        let container = text(&cfg, env, "service", "container");
        let port = setting(&cfg, env, "service", "port")
            .and_then(toml::Value::as_integer)
            .expect("port");
        let region = text(&cfg, env, "service", "region");
        let image = format!(
            "123456789012.dkr.ecr.{region}.amazonaws.com/{}@sha256:{}",
            text(&cfg, env, "image", "repository"),
            "a".repeat(64)
        );
        let vars = BTreeMap::from([
            ("IMAGE", image.clone()),
            ("GIT_SHA", SHA.to_owned()),
            ("GIT_SHA_SHORT", SHA[..7].to_owned()),
            ("REGION", region.to_owned()),
            ("ENVIRONMENT", env.to_owned()),
            ("CONTAINER", container.to_owned()),
            ("PORT", port.to_string()),
        ]);
        let td = render(
            &template,
            &vars,
            &BTreeMap::from([("AWS_ACCOUNT_ID", "123456789012")]),
        )
        .unwrap_or_else(|e| panic!("{env}: {e}"));
        let c = td["containerDefinitions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == container))
            .unwrap_or_else(|| panic!("{env}: no container `{container}`"));
        assert_eq!(
            c["image"],
            image.as_str(),
            "{env}: ${{IMAGE}} is the container's image"
        );
        assert!(
            c["portMappings"]
                .as_array()
                .is_some_and(|p| p.iter().any(|m| m["containerPort"] == port)),
            "{env}: no port mapping for {port}"
        );
        let task_mem = memory(&td["memory"]).expect("task memory");
        for key in ["memory", "memoryReservation"] {
            if let Some(m) = memory(&c[key]) {
                assert!(
                    m <= task_mem,
                    "{env}: container {key} {m} > task memory {task_mem}"
                );
            }
        }
        let log = &c["logConfiguration"];
        assert_eq!(log["logDriver"], "awslogs", "{env}");
        // The report reads the group named in [report]; Terraform creates /ecs/web-<env>.
        assert_eq!(
            log["options"]["awslogs-group"],
            text(&cfg, env, "report", "log_group"),
            "{env}"
        );
        assert_eq!(
            log["options"]["awslogs-group"],
            format!("/ecs/web-{env}"),
            "{env}"
        );
        assert!(
            log["options"]["awslogs-stream-prefix"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{env}"
        );
        // The deploy role may register only revisions tagged service=web (pipeline/terraform/iam.tf).
        assert!(
            td["tags"].as_array().is_some_and(|t| t
                .iter()
                .any(|t| t["key"] == "service" && t["value"] == "web")),
            "{env}"
        );
    }
    // The checks above can fail: an unknown placeholder is refused.
    assert!(render("{\"a\": \"${NOPE}\"}", &BTreeMap::new(), &BTreeMap::new()).is_err());
}

#[test]
fn config_names_match_what_terraform_creates() {
    // pipeline/terraform names everything `<service>-<environment>` (locals.name).
    let cfg: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("pipeline/shipwatch.toml")).unwrap())
            .unwrap();
    let tf = std::fs::read_to_string(root().join("pipeline/terraform/main.tf")).unwrap();
    assert!(
        tf.contains(r#"name       = "${var.service}-${var.environment}""#),
        "locals.name changed in main.tf"
    );
    for env in ["staging", "production"] {
        let name = format!("web-{env}");
        assert_eq!(text(&cfg, env, "image", "repository"), name);
        assert_eq!(text(&cfg, env, "codedeploy", "application"), name);
        assert_eq!(text(&cfg, env, "codedeploy", "deployment_group"), name);
        let alarms: Vec<&str> = setting(&cfg, env, "watch", "alarms")
            .and_then(toml::Value::as_array)
            .expect("alarms")
            .iter()
            .filter_map(toml::Value::as_str)
            .collect();
        assert_eq!(alarms, [format!("{name}-5xx")], "{env}");
    }
}

#[test]
fn terraform_passes_the_iac_gate() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = shipwatch()
        .current_dir(root())
        .args([
            "--config",
            "pipeline/shipwatch.toml",
            "--output",
            "json",
            "gate",
            "iac",
            "--dir",
            "pipeline/terraform",
            "--out-dir",
        ])
        .arg(out_dir.path())
        .output()
        .expect("run shipwatch");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(exit::TOOL_FAILED) {
        panic!(
            "checkov is missing or broken (exit {}); scripts/setup.sh installs it into .tools/bin\n{stdout}",
            exit::TOOL_FAILED
        );
    }
    assert_eq!(
        out.status.code(),
        Some(exit::OK),
        "gate iac failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("JSON summary");
    assert_eq!(v["status"], "passed", "{v}");
    assert_eq!(v["failing"], 0, "{v}");
    assert!(
        out_dir.path().join("iac.sarif").is_file(),
        "SARIF for recordIssues"
    );
    assert!(
        out_dir.path().join("iac.junit.xml").is_file(),
        "JUnit for junit"
    );
}

/// The Jenkinsfile maps exit codes to build results by number; `--help` shows the
/// table those numbers come from, so someone editing the pipeline can look them up.
#[test]
fn help_lists_every_exit_code() {
    let out = shipwatch().arg("--help").output().expect("run shipwatch");
    assert_eq!(out.status.code(), Some(exit::OK));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&exit::help_text()), "{stdout}");
}
