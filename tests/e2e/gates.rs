//! End-to-end tests of `shipwatch gate`: the built binary runs the real Gitleaks, Trivy,
//! Syft, Checkov and npm on fixtures made here at run time (a git repository holding a
//! freshly generated fake key, a `docker save` tarball, Terraform with known
//! misconfigurations, an npm lockfile with known advisories), plus fake tools for the
//! failure modes a real tool cannot be made to show on demand.
//!
//! The scanners come from `scripts/setup.sh` (.tools/bin); a missing one fails the test
//! with a message saying so. Exit codes are compared with the constants of src/exit.rs.

use std::hash::{BuildHasher, RandomState};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::exit::{GATE_FAILED, OK, TOOL_FAILED, USAGE};

fn tools_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools")
        .join("bin")
}

/// The scanner's path; panics (fails the test) when it is not installed.
fn require(tool: &str) -> PathBuf {
    let p = tools_bin().join(tool);
    if p.exists() {
        return p;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| panic!("{tool} is not installed: run scripts/setup.sh, which installs the pinned scanners into .tools/bin"))
}

/// `n` random characters from `alphabet`, different on every run.
fn random_chars(alphabet: &[u8], n: usize) -> String {
    let state = RandomState::new();
    (0..n)
        .map(|i| alphabet[(state.hash_one(i) % alphabet.len() as u64) as usize] as char)
        .collect()
}

/// A fake AWS access key id in the shape Gitleaks and Trivy detect (not the documented
/// example key, which Gitleaks ignores). Built at run time so no key sits in the repository.
fn fake_aws_key() -> String {
    format!(
        "AKIA{}",
        random_chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    )
}

fn fake_aws_secret() -> String {
    random_chars(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        40,
    )
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A temporary workspace: `pipeline/shipwatch.toml`, outputs in `shipwatch-out/gates`.
/// Every JUnit file a run writes is checked against junit-10.xsd's rules at once, and every
/// SARIF file is kept and validated with the SARIF multitool (GitHub's rules) when the
/// workspace is dropped.
struct Ws {
    dir: tempfile::TempDir,
    sarif_seen: std::cell::Cell<usize>,
}

impl Ws {
    fn new(config: &str) -> Ws {
        let ws = Ws {
            dir: tempfile::tempdir().unwrap(),
            sarif_seen: std::cell::Cell::new(0),
        };
        ws.write("pipeline/shipwatch.toml", config);
        ws
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn script(&self, rel: &str, body: &str) -> PathBuf {
        let p = self.write(rel, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with_path(
            args,
            &format!(
                "{}:{}",
                tools_bin().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
    }

    fn run_with_path(&self, args: &[&str], path: &str) -> Run {
        self.run_with_env(args, path, &[])
    }

    /// With extra variables in shipwatch's environment (which the tools inherit).
    fn run_with_env(&self, args: &[&str], path: &str, env: &[(&str, &str)]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_shipwatch"))
            .args(["--config", "pipeline/shipwatch.toml", "--color", "never"])
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env_remove("SHIPWATCH_ENV")
            .env_remove("SHIPWATCH_CONFIG")
            .envs(env.iter().copied())
            .output()
            .expect("run shipwatch");
        self.check_outputs();
        Run {
            code: out.status.code().expect("exited normally"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Checks each JUnit file in the output directory and keeps a copy of each SARIF file
    /// for [`validate_sarif`] (runs overwrite them).
    fn check_outputs(&self) {
        let Ok(entries) = std::fs::read_dir(self.path("shipwatch-out/gates")) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".junit.xml") {
                let xml = std::fs::read_to_string(&p).unwrap();
                if let Err(e) = junit10(&xml) {
                    panic!("{name} breaks junit-10.xsd: {e}\n{xml}");
                }
            } else if name.ends_with(".sarif") {
                let n = self.sarif_seen.get() + 1;
                self.sarif_seen.set(n);
                let keep = self.path(&format!("sarif-seen/{n}-{name}"));
                std::fs::create_dir_all(keep.parent().unwrap()).unwrap();
                std::fs::copy(&p, keep).unwrap();
            }
        }
    }

    /// `<gate>.json` from the output directory.
    fn findings(&self, gate: &str) -> serde_json::Value {
        let p = self.path(&format!("shipwatch-out/gates/{gate}.json"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap()
    }

    fn rule_ids(&self, gate: &str) -> Vec<String> {
        self.findings(gate)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every output file's text, for "no secret anywhere" checks.
    fn all_outputs(&self) -> String {
        let mut text = String::new();
        for e in std::fs::read_dir(self.path("shipwatch-out/gates")).unwrap() {
            text.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
        text
    }

    fn git(&self, args: &[&str]) {
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
            .current_dir(self.path("repo"))
            .output()
            .expect("git");
        assert!(
            st.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }

    /// A git repository at `repo/` with one commit of `files`.
    fn repo(&self, files: &[(&str, &str)]) {
        std::fs::create_dir_all(self.path("repo")).unwrap();
        self.git(&["init", "-q"]);
        for (name, text) in files {
            self.write(&format!("repo/{name}"), text);
        }
        self.git(&["add", "."]);
        self.git(&["commit", "-q", "-m", "fixture"]);
    }

    /// A `docker save` tarball holding one layer with `files`, built with tar and sha256sum.
    /// `image_tar` of owned file texts (what `image_files` returns).
    fn image_tar_of(&self, files: &[(&str, String)]) -> PathBuf {
        let borrowed: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        self.image_tar(&borrowed)
    }

    fn image_tar(&self, files: &[(&str, &str)]) -> PathBuf {
        let build = self.path("image-build");
        for (name, text) in files {
            self.write(&format!("image-build/rootfs/{name}"), text);
        }
        let sh = |script: &str| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(&build)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        sh("tar -C rootfs -cf layer.tar .");
        let diff = sh("sha256sum layer.tar | cut -d' ' -f1");
        std::fs::create_dir_all(build.join(&diff)).unwrap();
        std::fs::rename(build.join("layer.tar"), build.join(&diff).join("layer.tar")).unwrap();
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/usr/bin"],"Cmd":["node","/app/server.js"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff}"]}},"history":[{{"created_by":"COPY rootfs /"}}]}}"#
        );
        std::fs::write(build.join("config.json"), &config).unwrap();
        let cfg = sh("sha256sum config.json | cut -d' ' -f1");
        std::fs::rename(build.join("config.json"), build.join(format!("{cfg}.json"))).unwrap();
        std::fs::write(
            build.join("manifest.json"),
            format!(r#"[{{"Config":"{cfg}.json","RepoTags":["fixture/web:test"],"Layers":["{diff}/layer.tar"]}}]"#),
        )
        .unwrap();
        sh(&format!(
            "tar -cf ../web.tar manifest.json {cfg}.json {diff}/layer.tar"
        ));
        self.path("web.tar")
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        // A failing test has already said why; a second panic would abort the process.
        if !std::thread::panicking() && self.sarif_seen.get() > 0 {
            validate_sarif(&self.path("sarif-seen"), self.sarif_seen.get());
        }
    }
}

/// Runs Microsoft's SARIF multitool (`validate` with the SARIF and GitHub rule sets, the
/// ones GitHub code scanning applies on upload) over every `*.sarif` in `dir`; any error
/// fails the test. Each validated count is appended to `sarif-validated.log` in Cargo's
/// test temporary directory.
fn validate_sarif(dir: &Path, count: usize) {
    let tool = tools_bin().join("sarif-multitool");
    assert!(
        tool.exists(),
        "the SARIF multitool is not installed: run scripts/setup.sh, which installs it into .tools/bin"
    );
    let log = dir.join("validation.sarif.json");
    let out = Command::new(&tool)
        .args(["validate", "--rule-kind", "Gh;Sarif", "-o"])
        .arg(&log)
        .arg(dir.join("*.sarif"))
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .output()
        .expect("run the SARIF multitool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error ")).collect();
    assert!(
        out.status.success()
            && errors.is_empty()
            && stdout.contains("Analysis completed successfully"),
        "SARIF validation failed ({count} file(s)):\n{}\n--- full output ---\n{stdout}\n{}",
        errors.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    let scanned = stdout.lines().find_map(|l| {
        l.strip_prefix("Done. ")?
            .strip_suffix(" files scanned.")?
            .parse::<usize>()
            .ok()
    });
    assert_eq!(scanned, Some(count), "{stdout}");
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(env!("CARGO_TARGET_TMPDIR")).join("sarif-validated.log"))
        .unwrap();
    writeln!(f, "{count}").unwrap();
}

/// The rules of the Jenkins xunit plugin's junit-10.xsd that a file can break: which
/// elements may appear where, which attributes each may have (`skipped` only on
/// `<testsuite>`), and the required ones. A small reader for the XML shipwatch writes
/// (no comments, CDATA or DTD).
fn junit10(xml: &str) -> Result<(), String> {
    let allowed = |el: &str| -> Option<(&[&str], &[&str], &[&str])> {
        // (attributes, required attributes, child elements)
        Some(match el {
            "testsuites" => (
                &["name", "time", "tests", "failures", "errors"],
                &[],
                &["testsuite"],
            ),
            "testsuite" => (
                &[
                    "name",
                    "tests",
                    "failures",
                    "errors",
                    "group",
                    "time",
                    "skipped",
                    "timestamp",
                    "hostname",
                    "id",
                    "package",
                    "file",
                    "log",
                    "url",
                ],
                &["name", "tests", "failures", "errors"],
                &[
                    "testsuite",
                    "properties",
                    "testcase",
                    "system-out",
                    "system-err",
                ],
            ),
            "testcase" => (
                &["name", "time", "classname", "group"],
                &["name"],
                &["skipped", "error", "failure", "system-out", "system-err"],
            ),
            "failure" | "error" | "skipped" => (&["type", "message"], &[], &[]),
            "system-out" | "system-err" => (&[], &[], &[]),
            "properties" => (&[], &[], &["property"]),
            "property" => (&["name", "value"], &["name", "value"], &[]),
            _ => return None,
        })
    };
    let body = xml
        .trim_start()
        .strip_prefix("<?xml")
        .and_then(|r| r.split_once("?>"))
        .map(|(_, rest)| rest)
        .ok_or("no XML declaration")?;
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    let mut roots = 0;
    while let Some(i) = rest.find('<') {
        if !stack.is_empty() && rest[..i].contains(['<', '>']) {
            return Err("a raw < or > in text".into());
        }
        let end = rest[i..].find('>').ok_or("an unclosed tag")? + i;
        let tag = &rest[i + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name.trim()) {
                return Err(format!("</{name}> closes nothing open"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let (allowed_attrs, required, _) =
            allowed(name).ok_or(format!("<{name}> is not in the schema"))?;
        match stack.last() {
            None if name == "testsuites" => roots += 1,
            None => return Err(format!("<{name}> at the top level")),
            Some(parent) => {
                let (_, _, children) = allowed(parent).unwrap();
                if !children.contains(&name) {
                    return Err(format!("<{name}> inside <{parent}>"));
                }
            }
        }
        let mut seen = Vec::new();
        loop {
            attrs = attrs.trim_start();
            if attrs.is_empty() {
                break;
            }
            let (key, after) = attrs
                .split_once("=\"")
                .ok_or(format!("<{name}>: bad attributes"))?;
            let (value, after) = after
                .split_once('"')
                .ok_or(format!("<{name}>: unclosed value"))?;
            if value.contains(['<', '&'])
                && !value.contains("&amp;")
                && !value.contains("&lt;")
                && !value.contains("&quot;")
                && !value.contains("&gt;")
                && !value.contains("&apos;")
            {
                return Err(format!("<{name} {key}>: unescaped value"));
            }
            let key = key.trim();
            if !allowed_attrs.contains(&key) {
                return Err(format!("attribute `{key}` is not allowed on <{name}>"));
            }
            seen.push(key.to_owned());
            attrs = after;
        }
        if let Some(missing) = required.iter().find(|r| !seen.iter().any(|s| s == *r)) {
            return Err(format!("<{name}> lacks its required `{missing}`"));
        }
        if !self_closing {
            stack.push(name.to_owned());
        }
    }
    if !stack.is_empty() || roots != 1 || !rest.trim().is_empty() {
        return Err(format!("unbalanced document (open: {stack:?})"));
    }
    Ok(())
}

#[test]
fn the_junit_check_rejects_what_junit_10_xsd_rejects() {
    let ok = "<?xml version=\"1.0\"?>\n<testsuites tests=\"1\"><testsuite name=\"a\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\"><testcase name=\"x\"/></testsuite></testsuites>\n";
    junit10(ok).unwrap();
    let skipped_on_suites = ok.replace(
        "<testsuites tests=\"1\"",
        "<testsuites tests=\"1\" skipped=\"0\"",
    );
    assert!(junit10(&skipped_on_suites).unwrap_err().contains("skipped"));
    let no_errors = ok.replace(" errors=\"0\" skipped", " skipped");
    assert!(junit10(&no_errors).unwrap_err().contains("errors"));
}

const TERRAFORM: &str = r#"
resource "aws_security_group" "web" {
  name        = "web"
  description = "web"
  ingress {
    description = "ssh from anywhere"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_s3_bucket" "data" {
  bucket = "data"
  acl    = "public-read"
}
"#;

// ---- secrets (Gitleaks) ----

#[test]
fn secrets_gate_finds_a_generated_key_in_history_and_never_prints_it() {
    require("gitleaks");
    let key = fake_aws_key();
    let secret = fake_aws_secret();
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.repo(&[
        ("README.md", "fixture\n"),
        (
            "config/app.env",
            &format!("AWS_ACCESS_KEY_ID={key}\nAWS_SECRET_ACCESS_KEY={secret}\n"),
        ),
    ]);
    let run = ws.run(&["gate", "secrets"]);
    run.expect(GATE_FAILED);
    assert!(
        ws.rule_ids("secrets")
            .contains(&"aws-access-token".to_owned()),
        "{:?}",
        ws.rule_ids("secrets")
    );
    let f = &ws.findings("secrets")["findings"][0];
    assert_eq!(f["location"]["file"], "config/app.env");
    assert_eq!(f["verdict"], "fail");
    let everything = format!("{}{}", run.all(), ws.all_outputs());
    assert!(!everything.contains(&key), "the key leaked into an output");
    assert!(
        !everything.contains(&secret),
        "the secret leaked into an output"
    );
    // Each output is there and has the right shape.
    let junit = std::fs::read_to_string(ws.path("shipwatch-out/gates/secrets.junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuites") && junit.contains("<failure"),
        "{junit}"
    );
    let sarif: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("shipwatch-out/gates/secrets.sarif")).unwrap(),
    )
    .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "gitleaks");
    assert!(
        sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ruleId"] == "aws-access-token")
    );
    let md = std::fs::read_to_string(ws.path("shipwatch-out/gates/secrets.md")).unwrap();
    assert!(
        md.contains("FAILED") && md.contains("aws-access-token"),
        "{md}"
    );
}

#[test]
fn secrets_gate_passes_a_clean_repository() {
    require("gitleaks");
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.repo(&[("README.md", "nothing to see\n")]);
    ws.run(&["gate", "secrets"]).expect(OK);
    assert_eq!(ws.findings("secrets")["status"], "passed");
}

#[test]
fn secrets_gate_with_a_commit_range_scans_only_that_range() {
    require("gitleaks");
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.repo(&[(
        "old.env",
        &format!("AWS_ACCESS_KEY_ID={}\n", fake_aws_key()),
    )]);
    ws.write("repo/new.txt", "harmless\n");
    ws.git(&["add", "."]);
    ws.git(&["commit", "-q", "-m", "second"]);
    ws.run(&["gate", "secrets", "--log-opts", "HEAD~1..HEAD"])
        .expect(OK);
    ws.run(&["gate", "secrets"]).expect(GATE_FAILED);
}

#[test]
fn secrets_gate_fails_when_git_cannot_read_the_history() {
    require("gitleaks");
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.repo(&[(
        "config/app.env",
        &format!("AWS_ACCESS_KEY_ID={}\n", fake_aws_key()),
    )]);
    // A range whose base this clone does not have, as in a shallow CI checkout: Gitleaks
    // itself exits 0 with `[]` here.
    let run = ws.run(&["gate", "secrets", "--log-opts", "origin/main..HEAD"]);
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr.contains("git history could not be read")
            && run.stderr.contains("unknown revision")
            && run.stderr.contains("origin/main"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.findings("secrets")["status"], "error");

    // A repository with a missing object: no range involved, same silent `[]` from Gitleaks.
    let out = Command::new("git")
        .args(["rev-parse", "HEAD:config/app.env"])
        .current_dir(ws.path("repo"))
        .output()
        .unwrap();
    let blob = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    std::fs::remove_file(ws.path(&format!("repo/.git/objects/{}/{}", &blob[..2], &blob[2..])))
        .unwrap();
    let run = ws.run(&["gate", "secrets"]);
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr.contains("git history could not be read") && run.stderr.contains(&blob),
        "{}",
        run.stderr
    );
}

#[test]
fn gitleaks_allow_comments_and_ignore_files_do_not_bypass_the_allowlist() {
    require("gitleaks");
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.repo(&[(
        "config/app.env",
        &format!("AWS_ACCESS_KEY_ID={} # gitleaks:allow\n", fake_aws_key()),
    )]);
    ws.run(&["gate", "secrets"]).expect(GATE_FAILED);
    let fingerprint = ws.findings("secrets")["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    // A .gitleaksignore in the working directory is not read.
    ws.write(".gitleaksignore", &format!("{fingerprint}\n"));
    ws.run(&["gate", "secrets"]).expect(GATE_FAILED);
    std::fs::remove_file(ws.path(".gitleaksignore")).unwrap();
    // One in the scanned repository is applied by Gitleaks whatever it is told; the gate
    // says so in its summary, its notes and every output.
    ws.write(
        "repo/.gitleaksignore",
        &format!("# accepted\n{fingerprint}\n"),
    );
    let run = ws.run(&["gate", "secrets"]);
    run.expect(OK);
    let report = ws.findings("secrets");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains(".gitleaksignore honoured (1 fingerprint(s))"),
        "{report}"
    );
    assert!(
        report["notes"].to_string().contains("repo/.gitleaksignore"),
        "{report}"
    );
    assert!(run.stdout.contains(".gitleaksignore"), "{}", run.stdout);
    let md = std::fs::read_to_string(ws.path("shipwatch-out/gates/secrets.md")).unwrap();
    assert!(md.contains("bypassing the allowlist"), "{md}");
}

fn tools_path() -> String {
    format!(
        "{}:{}",
        tools_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_repository_gitleaks_config_adds_rules_but_cannot_allow_or_disable_any() {
    require("gitleaks");
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    let token = format!(
        "acme_{}",
        random_chars(b"abcdefghijklmnopqrstuvwxyz0123456789", 24)
    );
    let config = r#"[extend]
useDefault = true
disabledRules = ["aws-access-token"]
[allowlist]
paths = ['''config/.*''']
[[rules]]
id = "acme-token"
regex = '''acme_[a-z0-9]{24}'''
"#;
    ws.repo(&[
        (".gitleaks.toml", config),
        (
            "config/app.env",
            &format!("AWS_ACCESS_KEY_ID={}\nACME_TOKEN={token}\n", fake_aws_key()),
        ),
    ]);
    // A config named by the environment, allowing everything, is not applied either.
    let all = ws.write(
        "allow-all.toml",
        "[extend]\nuseDefault = true\n[allowlist]\npaths = ['''.*''']\n",
    );
    let run = ws.run_with_env(
        &["gate", "secrets"],
        &tools_path(),
        &[("GITLEAKS_CONFIG", all.to_str().unwrap())],
    );
    run.expect(GATE_FAILED);
    let ids = ws.rule_ids("secrets");
    assert!(ids.contains(&"aws-access-token".to_owned()), "{ids:?}");
    assert!(
        ids.contains(&"acme-token".to_owned()),
        "the repository's own rule: {ids:?}"
    );
    let notes = ws.findings("secrets")["notes"].to_string();
    for want in [
        "repo/.gitleaks.toml: its rules are used, but not",
        "top-level allowlist",
        "extend.disabledRules",
        "GITLEAKS_CONFIG is set and was not applied",
    ] {
        assert!(notes.contains(want), "{want}: {notes}");
    }
    assert!(!format!("{}{}", run.all(), ws.all_outputs()).contains(&token));
    // A config that cannot be read as one is a tool failure naming the file.
    ws.write("repo/.gitleaks.toml", "[[rules]\n");
    let run = ws.run(&["gate", "secrets"]);
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr
            .contains(".gitleaks.toml is not a usable Gitleaks config"),
        "{}",
        run.stderr
    );
}

/// A fake Gitleaks that does what the real one does to its `--report-path` (deletes and
/// recreates it), records the path it was given in `paths.txt`, and reports no leaks. It
/// refuses to touch a path under /dev: should shipwatch regress, the test must fail, not
/// delete /dev/null the way the real tool does.
fn fake_gitleaks_recording_its_report_path(ws: &Ws) {
    ws.script(
        "pipeline/fake/gitleaks",
        "out=''; prev=''\nfor a in \"$@\"; do [ \"$prev\" = --report-path ] && out=$a; prev=$a; done\n\
         echo \"$out\" >> \"$(dirname \"$0\")/paths.txt\"\n\
         case \"$out\" in ''|/dev/*) exit 9;; esac\n\
         rm -f \"$out\" && : > \"$out\" && rm -f \"$out\"\n\
         echo '[]' > \"$out\"\nexit 0",
    );
}

#[test]
fn gitleaks_gets_a_fresh_temporary_report_path_never_a_shared_or_special_file() {
    use std::os::unix::fs::FileTypeExt;
    let ws = Ws::new(
        "[gates.tools]\ngitleaks = \"fake/gitleaks\"\n[gates.secrets]\npath = \"../repo\"\n",
    );
    ws.repo(&[("README.md", "x\n")]);
    fake_gitleaks_recording_its_report_path(&ws);
    ws.run(&["gate", "secrets"]).expect(OK);
    ws.run(&["gate", "secrets"]).expect(OK);
    assert_eq!(ws.findings("secrets")["status"], "passed");
    let recorded = std::fs::read_to_string(ws.path("pipeline/fake/paths.txt")).unwrap();
    let paths: Vec<PathBuf> = recorded.lines().map(PathBuf::from).collect();
    assert_eq!(paths.len(), 2, "{recorded}");
    for p in &paths {
        assert!(p.is_absolute(), "{}", p.display());
        assert!(!p.starts_with("/dev"), "{}", p.display());
        assert!(
            p.starts_with(std::env::temp_dir()),
            "not in the temporary directory: {}",
            p.display()
        );
        assert!(
            !p.starts_with(ws.dir.path()),
            "inside the workspace or repository: {}",
            p.display()
        );
        assert!(
            !p.parent().unwrap().exists(),
            "left behind: {}",
            p.display()
        );
    }
    assert_ne!(paths[0], paths[1], "each run gets its own path");
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn allowlist_suppresses_until_expiry_and_reports_stale_entries() {
    require("gitleaks");
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.repo(&[(
        "config/app.env",
        &format!("AWS_ACCESS_KEY_ID={}\n", fake_aws_key()),
    )]);
    let allow = |expires: &str| {
        format!(
            "[[allow]]\ntool = \"gitleaks\"\nid = \"aws-access-token\"\npath = \"config/*.env\"\nreason = \"throwaway key of a deleted test account\"\nexpires = {expires}\n\n\
             [[allow]]\ntool = \"gitleaks\"\nid = \"slack-webhook-url\"\nreason = \"webhook removed\"\nexpires = 2999-12-31\n\n\
             [[allow]]\ntool = \"npm\"\nid = \"GHSA-0000-0000-0000\"\nreason = \"another gate's entry\"\nexpires = 2999-12-31\n"
        )
    };
    ws.write("pipeline/allowlist.toml", &allow("2999-12-31"));
    let run = ws.run(&["gate", "secrets"]);
    run.expect(OK);
    let report = ws.findings("secrets");
    assert_eq!(report["allowlisted"], 1);
    assert_eq!(
        report["findings"][0]["allowlisted_by"]["reason"],
        "throwaway key of a deleted test account"
    );
    let stale: Vec<&str> = report["stale_allowlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        stale,
        ["slack-webhook-url"],
        "only this gate's tool's entries can be stale"
    );
    assert!(
        run.stdout.contains("allowlist.toml:8") && run.stdout.contains("stale"),
        "{}",
        run.stdout
    );
    let md = std::fs::read_to_string(ws.path("shipwatch-out/gates/secrets.md")).unwrap();
    assert!(
        md.contains("throwaway key of a deleted test account"),
        "Markdown says what was allowlisted and why:\n{md}"
    );

    // The same entry, expired: it no longer suppresses, and the gate names it.
    ws.write("pipeline/allowlist.toml", &allow("2000-01-01"));
    let run = ws.run(&["gate", "secrets"]);
    run.expect(GATE_FAILED);
    let report = ws.findings("secrets");
    assert_eq!(
        report["expired_allowlist"][0]["at"],
        "pipeline/allowlist.toml:1"
    );
    assert_eq!(
        report["findings"][0]["expired_entry"]["expires"],
        "2000-01-01"
    );
    assert!(
        run.stdout.contains("expired on 2000-01-01"),
        "{}",
        run.stdout
    );
}

#[test]
fn allowlist_errors_name_file_and_line() {
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.write(
        "pipeline/allowlist.toml",
        "[[allow]]\ntool = \"gitleaks\"\nid = \"x\"\nreason = \"\"\nexpires = 2999-01-01\n",
    );
    let run = ws.run(&["gate", "secrets"]);
    run.expect(USAGE);
    assert!(run.stderr.contains("allowlist.toml:4"), "{}", run.stderr);
}

// ---- tool failures: missing, crashing, timing out, broken reports ----

#[test]
fn a_missing_tool_is_exit_8_and_says_how_to_install_it() {
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.repo(&[("README.md", "x\n")]);
    // PATH without the tools folder, and no .tools beside this workspace's config.
    let run = ws.run_with_path(&["gate", "secrets"], "/usr/bin:/bin");
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr.contains("gitleaks was not found") && run.stderr.contains("scripts/setup.sh"),
        "{}",
        run.stderr
    );
    assert_eq!(ws.findings("secrets")["status"], "error");
    let junit = std::fs::read_to_string(ws.path("shipwatch-out/gates/secrets.junit.xml")).unwrap();
    assert!(
        junit.contains("<error"),
        "Jenkins sees the tool error:\n{junit}"
    );
}

#[test]
fn a_configured_tool_path_that_does_not_exist_is_exit_8() {
    let ws = Ws::new(
        "[gates.tools]\ngitleaks = \"/nonexistent/gitleaks\"\n[gates.secrets]\npath = \"../repo\"\n",
    );
    ws.repo(&[("README.md", "x\n")]);
    let run = ws.run(&["gate", "secrets"]);
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr.contains("/nonexistent/gitleaks"),
        "{}",
        run.stderr
    );
}

/// What narrows npm audit to production dependencies (NODE_ENV=production, an omit
/// setting) is withheld, every dependency type is asked for, and the notes say so.
#[test]
fn npm_audit_is_never_narrowed_to_production_dependencies() {
    let ws = Ws::new("[gates.tools]\nnpm = \"fake/npm\"\n[gates.deps]\ndir = \"../app\"\n");
    ws.write("app/package.json", "{}");
    ws.write("app/package-lock.json", "{}");
    // The fake npm finds a vulnerable dev dependency unless the audit was narrowed.
    ws.script(
        "pipeline/fake/npm",
        r#"case "$*" in *--include=dev*) ;; *) echo '{"auditReportVersion":2,"vulnerabilities":{},"metadata":{"vulnerabilities":{"total":0}}}'; exit 0;; esac
if [ -n "$NODE_ENV$npm_config_omit" ]; then echo '{"auditReportVersion":2,"vulnerabilities":{},"metadata":{"vulnerabilities":{"total":0}}}'; exit 0; fi
echo '{"auditReportVersion":2,"vulnerabilities":{"minimist":{"name":"minimist","severity":"critical","via":[{"source":1,"name":"minimist","title":"Prototype Pollution","url":"https://github.com/advisories/GHSA-xvch-5gv4-984h","severity":"critical","range":"<1.2.6"}],"nodes":["node_modules/minimist"],"fixAvailable":true}},"metadata":{"vulnerabilities":{"critical":1,"total":1}}}'
exit 1"#,
    );
    let path = std::env::var("PATH").unwrap_or_default();
    let run = ws.run_with_env(
        &["gate", "deps"],
        &path,
        &[("NODE_ENV", "production"), ("npm_config_omit", "dev")],
    );
    run.expect(GATE_FAILED);
    let notes = ws.findings("deps")["notes"].to_string();
    assert!(
        notes.contains("NODE_ENV is set and was not applied"),
        "{notes}"
    );
    assert!(notes.contains("npm_config_omit"), "{notes}");
}

#[test]
fn a_crashing_tool_is_exit_8_with_its_stderr_tail() {
    let ws = Ws::new(
        "[gates.tools]\ngitleaks = \"fake/gitleaks\"\n[gates.secrets]\npath = \"../repo\"\n",
    );
    ws.script(
        "pipeline/fake/gitleaks",
        "echo 'scanning...' >&2\necho 'panic: runtime error: index out of range [3]' >&2\nexit 2",
    );
    ws.repo(&[("README.md", "x\n")]);
    let run = ws.run(&["gate", "secrets"]);
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr.contains("exit code 2") && run.stderr.contains("panic: runtime error"),
        "{}",
        run.stderr
    );
    assert!(
        ws.findings("secrets")["error"]["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("index out of range")
    );
}

/// A fake Trivy that writes `report` to its `--output` file and exits `code`.
fn fake_trivy(ws: &Ws, report: &str, code: i32) {
    ws.write("pipeline/fake/report.txt", report);
    ws.script(
        "pipeline/fake/trivy",
        &format!(
            "out=''; prev=''\nfor a in \"$@\"; do [ \"$prev\" = --output ] && out=$a; prev=$a; done\n\
             cat \"$(dirname \"$0\")/report.txt\" > \"$out\"\nexit {code}"
        ),
    );
}

#[test]
fn empty_truncated_and_non_json_reports_are_exit_8_never_a_pass() {
    let ws = Ws::new("[gates.tools]\ntrivy = \"fake/trivy\"\n");
    ws.write(
        "web.tar",
        "not really an image; the fake trivy does not read it",
    );
    let cases = [
        ("", "empty"),
        (
            r#"{"SchemaVersion":2,"ArtifactName":"web.tar","Results":[{"Target":"x","Vulnerabilities":[{"VulnerabilityID":"CVE-1""#,
            "truncated",
        ),
        ("<html>rate limited</html>", "not valid JSON"),
        (r#"{"findings":[]}"#, "unknown shape"),
    ];
    for (report, word) in cases {
        fake_trivy(&ws, report, 0);
        let run = ws.run(&["gate", "image", "--input", "web.tar"]);
        run.expect(TOOL_FAILED);
        assert!(run.stderr.contains(word), "{word}: {}", run.stderr);
    }
}

#[test]
fn trivy_signalling_findings_with_an_empty_report_is_exit_8() {
    let ws = Ws::new("[gates.tools]\ntrivy = \"fake/trivy\"\n");
    ws.write("web.tar", "x");
    let clean = r#"{"SchemaVersion":2,"ArtifactName":"web.tar","ArtifactType":"container_image","Metadata":{}}"#;
    fake_trivy(&ws, clean, 3);
    let run = ws.run(&["gate", "image", "--input", "web.tar"]);
    run.expect(TOOL_FAILED);
    assert!(run.stderr.contains("lists none"), "{}", run.stderr);
    // The same report with Trivy's "clean" exit code passes.
    fake_trivy(&ws, clean, 0);
    ws.run(&["gate", "image", "--input", "web.tar"]).expect(OK);
}

#[test]
fn a_tool_that_hangs_is_killed_at_the_timeout() {
    let ws = Ws::new("[gates.tools]\ntrivy = \"fake/trivy\"\n");
    ws.script(
        "pipeline/fake/trivy",
        "echo 'downloading DB...' >&2\nsleep 120",
    );
    ws.write("web.tar", "x");
    let run = ws.run(&["gate", "image", "--input", "web.tar", "--timeout", "1s"]);
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr.contains("did not finish within 1s"),
        "{}",
        run.stderr
    );
}

/// A run that ends in a usage error leaves none of the last run's outputs behind for
/// Jenkins to publish as this build's.
#[test]
fn a_usage_error_leaves_no_earlier_outputs() {
    let ws = Ws::new("");
    ws.write(
        "clean.json",
        r#"{"SchemaVersion":2,"ArtifactName":"web.tar","ArtifactType":"container_image"}"#,
    );
    ws.run(&["gate", "image", "--report", "clean.json"])
        .expect(OK);
    let junit = ws.path("shipwatch-out/gates/image.junit.xml");
    assert!(junit.exists());
    ws.run(&[
        "gate",
        "image",
        "--report",
        "clean.json",
        "--allowlist",
        "missing.toml",
    ])
    .expect(USAGE);
    for ext in ["junit.xml", "sarif", "md", "json"] {
        let p = ws.path(&format!("shipwatch-out/gates/image.{ext}"));
        assert!(!p.exists(), "{} survived a usage error", p.display());
    }
}

#[test]
fn evaluating_reports_from_the_pipeline() {
    let ws = Ws::new("");
    // Trivy's clean report has no Results key at all.
    ws.write("clean.json", r#"{"SchemaVersion":2,"CreatedAt":"2026-11-22T03:00:00Z","ArtifactName":"web.tar","ArtifactType":"container_image","Metadata":{"OS":{"Family":"alpine","Name":"3.19.1"}}}"#);
    ws.run(&["gate", "image", "--report", "clean.json"])
        .expect(OK);
    ws.write(
        "vulns.json",
        r#"{"SchemaVersion":2,"ArtifactName":"web:1","Results":[{"Target":"web:1 (alpine 3.10.2)","Class":"os-pkgs","Type":"alpine","Vulnerabilities":[
          {"VulnerabilityID":"CVE-2019-1549","PkgName":"openssl","InstalledVersion":"1.1.1c-r0","FixedVersion":"1.1.1d-r0","Severity":"MEDIUM","Title":"fork"},
          {"VulnerabilityID":"CVE-2019-1563","PkgName":"openssl","InstalledVersion":"1.1.1c-r0","Severity":"HIGH","Title":"no fix yet"}]}]}"#,
    );
    // MEDIUM with a fix and HIGH without one: neither fails the default image policy.
    ws.run(&["gate", "image", "--report", "vulns.json"])
        .expect(OK);
    let ws2 = Ws::new("[gates.image]\nfail_unfixed = true\n");
    std::fs::copy(ws.path("vulns.json"), ws2.path("vulns.json")).unwrap();
    let run = ws2.run(&[
        "--output",
        "json",
        "gate",
        "image",
        "--report",
        "vulns.json",
    ]);
    run.expect(GATE_FAILED);
    let printed: serde_json::Value =
        serde_json::from_str(&run.stdout).expect("--output json prints the findings");
    assert_eq!(printed["failing"], 1);
    let failing: Vec<&serde_json::Value> = printed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "fail")
        .collect();
    assert_eq!(
        failing[0]["rule_id"], "CVE-2019-1563",
        "the unfixed HIGH one"
    );
    ws.run(&["gate", "image", "--report", "missing.json"])
        .expect(TOOL_FAILED);
}

// ---- image (Trivy) ----

fn image_files(key: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "etc/os-release",
            "ID=alpine\nVERSION_ID=3.19.1\nNAME=\"Alpine Linux\"\n".into(),
        ),
        ("app/server.js", "require('lodash');\n".into()),
        (
            "app/node_modules/lodash/package.json",
            r#"{"name":"lodash","version":"4.17.15","license":"MIT"}"#.into(),
        ),
        (
            "app/.aws/credentials",
            format!("[default]\naws_access_key_id = {key}\n"),
        ),
    ]
}

#[test]
fn image_gate_never_reports_zero_vulnerabilities_without_a_database() {
    require("trivy");
    let ws = Ws::new("");
    let key = fake_aws_key();
    let files = image_files(&key);
    let tar = ws.image_tar_of(&files);
    // A short limit: on a network that drops packets instead of refusing them, the database
    // download would otherwise hang for Trivy's default five minutes.
    let run = ws.run(&[
        "gate",
        "image",
        "--input",
        tar.to_str().unwrap(),
        "--timeout",
        "30s",
    ]);
    // With a vulnerability database the secret in the image fails the gate (7); without one
    // (an offline agent, or a download that did not finish in time) the gate must say so (8).
    // It must never pass.
    match run.code {
        TOOL_FAILED => assert!(
            run.stderr.contains("vulnerability database")
                || run.stderr.contains("did not finish within 30s"),
            "{}",
            run.stderr
        ),
        GATE_FAILED => assert!(
            ws.rule_ids("image")
                .contains(&"aws-access-key-id".to_owned())
        ),
        _ => panic!("expected {GATE_FAILED} or {TOOL_FAILED}\n{}", run.all()),
    }
    assert!(!format!("{}{}", run.all(), ws.all_outputs()).contains(&key));
}

#[test]
fn image_gate_counts_secrets_and_misconfigurations_in_the_image() {
    require("trivy");
    let ws = Ws::new("[gates.image]\nscanners = [\"secret\", \"misconfig\"]\n");
    let key = fake_aws_key();
    let files = image_files(&key);
    let tar = ws.image_tar_of(&files);
    let run = ws.run(&["gate", "image", "--input", tar.to_str().unwrap()]);
    run.expect(GATE_FAILED);
    let ids = ws.rule_ids("image");
    assert!(ids.contains(&"aws-access-key-id".to_owned()), "{ids:?}");
    assert!(
        ids.contains(&"AVD-DS-0002".to_owned()),
        "image runs as root: {ids:?}"
    );
    assert!(
        run.stdout.contains("CVEs were NOT checked"),
        "{}",
        run.stdout
    );
    assert!(!format!("{}{}", run.all(), ws.all_outputs()).contains(&key));
}

#[test]
fn trivy_ignore_and_config_files_in_the_working_directory_do_not_bypass_the_allowlist() {
    require("trivy");
    let ws = Ws::new("[gates.image]\nscanners = [\"secret\"]\n");
    let key = fake_aws_key();
    let files = image_files(&key);
    let tar = ws.image_tar_of(&files);
    // The key is still found, and the notes name what was not applied.
    let found_despite = |run: Run, named: &[&str]| {
        run.expect(GATE_FAILED);
        let ids = ws.rule_ids("image");
        assert!(ids.contains(&"aws-access-key-id".to_owned()), "{ids:?}");
        let notes = ws.findings("image")["notes"].to_string();
        for n in named {
            assert!(notes.contains(n), "{n}: {notes}");
        }
    };
    // Each of these alone makes Trivy drop the key before shipwatch sees it.
    ws.write(".trivyignore", "aws-access-key-id\n");
    ws.write("trivy.yaml", "severity:\n  - LOW\n");
    found_despite(
        ws.run(&["gate", "image", "--input", tar.to_str().unwrap()]),
        &["./.trivyignore was not applied", "./trivy.yaml"],
    );
    // Nor do Trivy's variables in the environment (every flag has one).
    found_despite(
        ws.run_with_env(
            &["gate", "image", "--input", tar.to_str().unwrap()],
            &tools_path(),
            &[
                ("TRIVY_SEVERITY", "LOW"),
                ("TRIVY_SKIP_FILES", "/app/.aws/credentials"),
            ],
        ),
        &[
            "TRIVY_SEVERITY is set and was not applied",
            "TRIVY_SKIP_FILES",
        ],
    );
    // The allowlist, with a reason and an expiry, is the way to accept it; Trivy reports
    // files inside the image with a leading slash.
    ws.write(
        "pipeline/allowlist.toml",
        "[[allow]]\ntool = \"trivy\"\nid = \"aws-access-key-id\"\npath = \"app/**\"\nreason = \"fixture key\"\nexpires = 2999-12-31\n",
    );
    ws.run(&["gate", "image", "--input", tar.to_str().unwrap()])
        .expect(OK);
    assert_eq!(ws.findings("image")["allowlisted"], 1);
}

// ---- sbom (Syft) ----

#[test]
fn sbom_gate_writes_both_formats_that_agree() {
    require("syft");
    let ws = Ws::new("");
    let files = image_files(&fake_aws_key());
    let tar = ws.image_tar_of(&files);
    let run = ws.run(&["gate", "sbom", "--input", tar.to_str().unwrap()]);
    run.expect(OK);
    let report = ws.findings("sbom");
    assert_eq!(report["sbom"]["cyclonedx"]["packages"], 1, "lodash");
    assert_eq!(report["sbom"]["spdx"]["packages"], 1);
    let cdx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("shipwatch-out/gates/sbom.cdx.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    assert!(ws.path("shipwatch-out/gates/sbom.spdx.json").is_file());
}

#[test]
fn sbom_gate_fails_on_an_empty_sbom() {
    require("syft");
    let ws = Ws::new("");
    ws.write("empty/README.txt", "no packages here\n");
    let run = ws.run(&["gate", "sbom", "--dir", "empty"]);
    run.expect(GATE_FAILED);
    assert!(run.stderr.contains("empty"), "{}", run.stderr);
}

#[test]
fn sbom_gate_rejects_sboms_that_disagree() {
    let ws = Ws::new("");
    ws.write("a.cdx.json", r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a"},{"type":"library","name":"b"}]}"#);
    ws.write(
        "a.spdx.json",
        r#"{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","SPDXID":"SPDXRef-Package-a"}]}"#,
    );
    let run = ws.run(&[
        "gate",
        "sbom",
        "--cyclonedx",
        "a.cdx.json",
        "--spdx",
        "a.spdx.json",
    ]);
    run.expect(TOOL_FAILED);
    assert!(run.stderr.contains("disagree"), "{}", run.stderr);
}

// ---- iac (Checkov) ----

#[test]
fn iac_gate_maps_severities_from_the_table() {
    require("checkov");
    let ws = Ws::new(
        "[gates.iac]\ndir = \"../terraform\"\nfail_on = [\"CRITICAL\"]\ndefault_severity = \"LOW\"\n[gates.iac.severity]\nCKV_AWS_24 = \"CRITICAL\"\nCKV_AWS_20 = \"CRITICAL\"\n",
    );
    ws.write("terraform/main.tf", TERRAFORM);
    let run = ws.run(&["gate", "iac"]);
    run.expect(GATE_FAILED);
    let report = ws.findings("iac");
    let failing: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "fail")
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    let mut sorted = failing.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["CKV_AWS_20", "CKV_AWS_24"],
        "only the checks the table makes CRITICAL fail"
    );
    assert!(
        report["counts"]["low"].as_u64().unwrap() > 0,
        "the rest got the default severity"
    );
    let ssh = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "CKV_AWS_24")
        .unwrap();
    assert_eq!(ssh["location"]["file"], "terraform/main.tf");
    assert_eq!(ssh["location"]["line"], 2);
    // Checks skipped or chosen through Checkov's variables still run, and it is said.
    let run = ws.run_with_env(
        &["gate", "iac"],
        &tools_path(),
        &[
            ("CKV_SKIP_CHECK", "CKV_AWS_24,CKV_AWS_20"),
            ("CKV_CHECK", "CKV_AWS_1"),
        ],
    );
    run.expect(GATE_FAILED);
    let ids = ws.rule_ids("iac");
    assert!(ids.contains(&"CKV_AWS_24".to_owned()), "{ids:?}");
    let notes = ws.findings("iac")["notes"].to_string();
    assert!(
        notes.contains("CKV_SKIP_CHECK is set and was not applied") && notes.contains("CKV_CHECK"),
        "{notes}"
    );
    // A config file in the working directory is named.
    ws.write(".checkov.yaml", "skip-check:\n  - CKV_AWS_24\n");
    ws.run(&["gate", "iac"]);
    let notes = ws.findings("iac")["notes"].to_string();
    assert!(
        notes.contains(".checkov.yaml is applied by Checkov"),
        "{notes}"
    );
}

#[test]
fn iac_gate_treats_hcl_parse_errors_as_a_tool_failure() {
    require("checkov");
    let ws = Ws::new("[gates.iac]\ndir = \"../terraform\"\n");
    ws.write(
        "terraform/main.tf",
        "resource \"aws_s3_bucket\" \"x\" {\n  bucket = \n",
    );
    let run = ws.run(&["gate", "iac"]);
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr.contains("could not parse") && run.stderr.contains("main.tf"),
        "{}",
        run.stderr
    );
}

#[test]
fn iac_gate_reads_the_list_shape_of_several_frameworks() {
    require("checkov");
    let ws =
        Ws::new("[gates.iac]\ndir = \"../infra\"\nframeworks = [\"terraform\", \"dockerfile\"]\n");
    ws.write("infra/main.tf", TERRAFORM);
    ws.write("infra/Dockerfile", "FROM alpine:3.19\nRUN apk add curl\n");
    ws.run(&["gate", "iac"]).expect(GATE_FAILED);
    let ids = ws.rule_ids("iac");
    assert!(ids.iter().any(|i| i.starts_with("CKV_DOCKER_")), "{ids:?}");
    assert!(ids.contains(&"CKV_AWS_24".to_owned()), "{ids:?}");
}

#[test]
fn iac_gate_passes_terraform_with_nothing_to_check() {
    require("checkov");
    // No resources: Checkov prints only a bare summary object.
    let ws = Ws::new("[gates.iac]\ndir = \"../terraform\"\n");
    ws.write(
        "terraform/variables.tf",
        "variable \"name\" {\n  type = string\n}\n",
    );
    ws.run(&["gate", "iac"]).expect(OK);
    assert!(
        ws.findings("iac")["notes"]
            .to_string()
            .contains("nothing to scan")
    );
}

#[test]
fn iac_gate_refuses_a_missing_directory() {
    // Checkov itself exits 0 with empty output here.
    let ws = Ws::new("[gates.iac]\ndir = \"../terrafrom\"\n");
    let run = ws.run(&["gate", "iac"]);
    run.expect(USAGE);
    assert!(run.stderr.contains("terrafrom"), "{}", run.stderr);
    // And empty Checkov output handed over by a pipeline is a tool failure.
    ws.write("checkov.json", "");
    ws.run(&["gate", "iac", "--report", "checkov.json"])
        .expect(TOOL_FAILED);
}

// ---- deps (npm audit) ----

const PACKAGE_JSON: &str = r#"{"name":"fixture-app","version":"1.0.0","dependencies":{"lodash":"4.17.15","minimist":"1.2.5"}}"#;
const LOCKFILE: &str = r#"{
  "name": "fixture-app", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": {"name": "fixture-app", "version": "1.0.0", "dependencies": {"lodash": "4.17.15", "minimist": "1.2.5"}},
    "node_modules/lodash": {"version": "4.17.15", "resolved": "https://example.invalid/lodash/-/lodash-4.17.15.tgz",
      "integrity": "sha512-8xOcRHvCjnocdS5cpwXQXVzmmh5e5+saE2QGoeQmbKmRS6J3VQppPOIt0MnmE+4xlZoumy0GPG0D0MVIQbNA1A=="},
    "node_modules/minimist": {"version": "1.2.5", "resolved": "https://example.invalid/minimist/-/minimist-1.2.5.tgz",
      "integrity": "sha512-FM9nNUYrRBAELZQT3xeZQ7fmMOBg6nWNmJKTcgsJeaLstP/UODVpGsr5OhXhhXg6f+qtJ8uiZ+PUxkDWcgIXLw=="}
  }
}"#;

#[test]
fn deps_gate_on_a_lockfile_with_known_advisories() {
    require("npm");
    let ws = Ws::new("[gates.deps]\ndir = \"../app\"\n");
    ws.write("app/package.json", PACKAGE_JSON);
    ws.write("app/package-lock.json", LOCKFILE);
    let run = ws.run(&["gate", "deps"]);
    match run.code {
        GATE_FAILED => {}
        // The advisory endpoint is not reachable from here: that must be a tool failure,
        // never a pass. Then judge a recorded report of the same lockfile instead.
        TOOL_FAILED => {
            assert!(run.stderr.contains("npm could not audit"), "{}", run.stderr);
            let recorded = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/gates/npm-audit-v2.json");
            ws.run(&["gate", "deps", "--report", recorded.to_str().unwrap()])
                .expect(GATE_FAILED);
        }
        _ => panic!(
            "npm audit on a lockfile with known advisories must not pass\n{}",
            run.all()
        ),
    }
    let report = ws.findings("deps");
    let ids = ws.rule_ids("deps");
    assert!(
        ids.contains(&"GHSA-xvch-5gv4-984h".to_owned()),
        "minimist prototype pollution: {ids:?}"
    );
    assert!(
        ids.contains(&"GHSA-35jh-r3h4-6jhm".to_owned()),
        "lodash command injection: {ids:?}"
    );
    let minimist = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "GHSA-xvch-5gv4-984h")
        .unwrap();
    assert_eq!(
        minimist["location"]["version"], "1.2.5",
        "version from the lockfile"
    );
    assert_eq!(minimist["verdict"], "fail");
}

#[test]
fn deps_gate_needs_a_lockfile() {
    let ws = Ws::new("[gates.deps]\ndir = \"../app\"\n");
    ws.write("app/package.json", PACKAGE_JSON);
    let run = ws.run(&["gate", "deps"]);
    run.expect(USAGE);
    assert!(run.stderr.contains("package-lock.json"), "{}", run.stderr);
}

// ---- all, check-tools ----

#[test]
fn gate_all_runs_the_configured_gates() {
    require("gitleaks");
    require("checkov");
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n[gates.iac]\ndir = \"../terraform\"\n");
    ws.repo(&[("README.md", "clean\n")]);
    ws.write("terraform/main.tf", TERRAFORM);
    let run = ws.run(&["--output", "json", "gate", "all"]);
    run.expect(GATE_FAILED);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let statuses = gate_statuses(&doc);
    assert_eq!(statuses, [("secrets", "passed"), ("iac", "failed")]);
    for f in ["secrets.junit.xml", "secrets.sarif", "iac.md", "iac.json"] {
        assert!(
            ws.path(&format!("shipwatch-out/gates/{f}")).is_file(),
            "{f}"
        );
    }
}

/// (gate, status) of each gate in `gate all --output json`, in order.
fn gate_statuses(doc: &serde_json::Value) -> Vec<(&str, &str)> {
    doc["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["gate"].as_str().unwrap(), g["status"].as_str().unwrap()))
        .collect()
}

#[test]
fn gate_all_runs_every_gate_and_exits_with_the_most_severe_outcome() {
    require("gitleaks");
    // secrets: a leaked key (7); image: a Trivy that crashes (8); iac: a directory that does
    // not exist (2). iac comes last, so nothing may be lost to its error.
    let config = |iac: bool| {
        let mut c = String::from(
            "[gates.tools]\ntrivy = \"fake/trivy\"\n[gates.secrets]\npath = \"../repo\"\n[gates.image]\ninput = \"../web.tar\"\n",
        );
        if iac {
            c.push_str("[gates.iac]\ndir = \"../terrafrom\"\n");
        }
        c
    };
    let ws = Ws::new(&config(true));
    ws.repo(&[(
        "config/app.env",
        &format!("AWS_ACCESS_KEY_ID={}\n", fake_aws_key()),
    )]);
    ws.write("web.tar", "x");
    ws.script(
        "pipeline/fake/trivy",
        "echo 'FATAL unexpected failure' >&2\nexit 1",
    );
    let run = ws.run(&["--output", "json", "gate", "all"]);
    run.expect(USAGE);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let statuses = gate_statuses(&doc);
    assert_eq!(
        statuses,
        [("secrets", "failed"), ("image", "error"), ("iac", "usage")]
    );
    assert_eq!(doc["exit_code"], USAGE);
    for gate in ["secrets", "image", "iac"] {
        for ext in ["junit.xml", "sarif", "md", "json"] {
            let f = format!("shipwatch-out/gates/{gate}.{ext}");
            assert!(ws.path(&f).is_file(), "{f}");
        }
    }
    let junit = std::fs::read_to_string(ws.path("shipwatch-out/gates/iac.junit.xml")).unwrap();
    assert!(
        junit.contains("type=\"usage error\"") && junit.contains("terrafrom"),
        "{junit}"
    );
    // Text mode: every gate's summary, then the worst problem with the code it exits with.
    let run = ws.run(&["gate", "all"]);
    run.expect(USAGE);
    for line in ["gate secrets", "gate image", "gate iac"] {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }
    assert!(
        run.stderr.contains("terrafrom") && run.stderr.contains(&format!("(exit {USAGE})")),
        "{}",
        run.stderr
    );
    // Without the bad setting, the broken tool outranks the findings.
    ws.write("pipeline/shipwatch.toml", &config(false));
    let run = ws.run(&["gate", "all"]);
    run.expect(TOOL_FAILED);
    assert!(
        run.stderr.contains(&format!("(exit {TOOL_FAILED})")),
        "{}",
        run.stderr
    );
    assert_eq!(ws.findings("secrets")["status"], "failed");
}

#[test]
fn check_tools_prints_versions_and_locations() {
    for t in ["gitleaks", "trivy", "syft", "checkov"] {
        require(t);
    }
    let ws = Ws::new("[gates]\nrun = [\"secrets\", \"image\", \"sbom\", \"iac\"]\n");
    let run = ws.run(&["gate", "--check-tools"]);
    run.expect(OK);
    for (tool, version) in [
        ("gitleaks", "8.30.1"),
        ("trivy", "0.59.1"),
        ("syft", "1.18.1"),
        ("checkov", "3.3.30"),
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(tool))
            .unwrap_or_else(|| panic!("{tool}: {}", run.stdout));
        assert!(
            line.contains(version) && line.contains(".tools/bin"),
            "{line}"
        );
    }
    let missing = ws.run_with_path(&["gate", "--check-tools"], "/usr/bin:/bin");
    missing.expect(TOOL_FAILED);
    assert!(missing.stdout.contains("MISSING"), "{}", missing.stdout);
}

// ---- aborts: SIGTERM / SIGINT while a scanner runs ----

/// A fake scanner that records its pid and its background child's in `pids.<tool>`, then
/// waits; with `ignore_term` both ignore SIGTERM (as a tool busy in native code may), so
/// only the SIGKILL after the grace period ends them.
fn fake_hanging_tool(ws: &Ws, tool: &str, ignore_term: bool) {
    ws.script(
        &format!("pipeline/fake/{tool}"),
        &format!(
            "{}sleep 300 &\necho \"$$ $!\" > \"$(dirname \"$0\")/pids.{tool}.tmp\"\n\
             mv \"$(dirname \"$0\")/pids.{tool}.tmp\" \"$(dirname \"$0\")/pids.{tool}\"\nwait",
            if ignore_term { "trap '' TERM\n" } else { "" }
        ),
    );
}

/// Whether `pid` is still a live process (a zombie awaiting its reaper is not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next()
                != Some("Z")
        })
        .unwrap_or(false)
}

/// Starts shipwatch with `args`, waits until the fake `tool` runs, sends `signal`, and
/// returns the run; `tmp` is shipwatch's TMPDIR. Also checks that nothing survived.
fn abort_during(ws: &Ws, tool: &str, args: &[&str], signal: &str, tmp: &Path) -> Run {
    std::fs::create_dir_all(tmp).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_shipwatch"))
        .args(["--config", "pipeline/shipwatch.toml", "--color", "never"])
        .args(args)
        .current_dir(ws.dir.path())
        .env("PATH", tools_path())
        .env("TMPDIR", tmp)
        .env_remove("SHIPWATCH_ENV")
        .env_remove("SHIPWATCH_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run shipwatch");
    let pids_file = ws.path(&format!("pipeline/fake/pids.{tool}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !pids_file.exists() {
        assert!(std::time::Instant::now() < deadline, "{tool} never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let st = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    ws.check_outputs();
    let run = Run {
        code: out
            .status
            .code()
            .expect("shipwatch exited, not killed by the signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let pids = std::fs::read_to_string(&pids_file).unwrap();
    for pid in pids.split_whitespace() {
        assert!(
            !alive(pid),
            "{tool}: process {pid} outlived shipwatch\n{}",
            run.all()
        );
    }
    std::fs::remove_file(&pids_file).unwrap();
    let left: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("shipwatch-gate-"))
        .collect();
    assert!(left.is_empty(), "{tool}: temporary files left: {left:?}");
    run
}

#[test]
fn sigterm_during_each_gate_stops_the_scanner_cleans_up_and_writes_the_outputs() {
    let ws = Ws::new(
        "[gates.tools]\ngitleaks = \"fake/gitleaks\"\ntrivy = \"fake/trivy\"\nsyft = \"fake/syft\"\ncheckov = \"fake/checkov\"\nnpm = \"fake/npm\"\n\
         [gates.secrets]\npath = \"../repo\"\n[gates.image]\ninput = \"../web.tar\"\n[gates.sbom]\ninput = \"../web.tar\"\n\
         [gates.iac]\ndir = \"../terraform\"\n[gates.deps]\ndir = \"../app\"\n",
    );
    ws.write("repo/README.md", "x\n");
    ws.write("web.tar", "x");
    ws.write("terraform/main.tf", TERRAFORM);
    ws.write("app/package.json", PACKAGE_JSON);
    ws.write("app/package-lock.json", LOCKFILE);
    let tmp = ws.path("tmp");
    for (gate, tool) in [
        ("secrets", "gitleaks"),
        ("image", "trivy"),
        ("sbom", "syft"),
        ("iac", "checkov"),
        ("deps", "npm"),
    ] {
        // Checkov's pip shim is the kind of tool that may not stop on SIGTERM.
        fake_hanging_tool(&ws, tool, tool == "checkov");
        let run = abort_during(&ws, tool, &["gate", gate], "TERM", &tmp);
        run.expect(143);
        assert!(run.stderr.contains("aborted"), "{}", run.stderr);
        let report = ws.findings(gate);
        assert_eq!(report["status"], "aborted", "{report}");
        assert!(
            report["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("while {tool} was running")),
            "{report}"
        );
        let junit =
            std::fs::read_to_string(ws.path(&format!("shipwatch-out/gates/{gate}.junit.xml")))
                .unwrap();
        assert!(
            junit.contains("<error") && junit.contains("type=\"aborted\""),
            "{junit}"
        );
        let md =
            std::fs::read_to_string(ws.path(&format!("shipwatch-out/gates/{gate}.md"))).unwrap();
        assert!(md.contains("The gate was aborted"), "{md}");
        assert!(
            ws.path(&format!("shipwatch-out/gates/{gate}.sarif"))
                .is_file()
        );
    }
}

#[test]
fn sigint_during_gate_all_keeps_finished_gates_and_marks_the_rest_aborted() {
    require("gitleaks");
    let ws = Ws::new(
        "[gates.tools]\ntrivy = \"fake/trivy\"\n[gates.secrets]\npath = \"../repo\"\n\
         [gates.image]\ninput = \"../web.tar\"\n[gates.iac]\ndir = \"../terraform\"\n",
    );
    ws.repo(&[("README.md", "clean\n")]);
    ws.write("web.tar", "x");
    ws.write("terraform/main.tf", TERRAFORM);
    fake_hanging_tool(&ws, "trivy", false);
    let run = abort_during(
        &ws,
        "trivy",
        &["--output", "json", "gate", "all"],
        "INT",
        &ws.path("tmp"),
    );
    run.expect(130);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        gate_statuses(&doc),
        [
            ("secrets", "passed"),
            ("image", "aborted"),
            ("iac", "aborted")
        ]
    );
    assert_eq!(doc["exit_code"], 130);
    for gate in ["secrets", "image", "iac"] {
        for ext in ["junit.xml", "sarif", "md", "json"] {
            let f = format!("shipwatch-out/gates/{gate}.{ext}");
            assert!(ws.path(&f).is_file(), "{f}");
        }
    }
}

// ---- reports that must never pass; allowlist consistency ----

#[test]
fn broken_checkov_reports_are_exit_8() {
    let ws = Ws::new("[gates.iac]\ndir = \"../terraform\"\n");
    let framework = |failed: u32, listed: &str| {
        format!(
            r#"{{"check_type":"terraform","results":{{"passed_checks":[],"failed_checks":[{listed}],"skipped_checks":[],"parsing_errors":[]}},"summary":{{"passed":0,"failed":{failed},"skipped":0,"parsing_errors":0,"resource_count":2,"checkov_version":"3.3.30"}}}}"#
        )
    };
    let check = r#"{"check_id":"CKV_AWS_24","check_name":"ssh","file_path":"/main.tf","repo_file_path":"/terraform/main.tf","file_line_range":[2,9],"resource":"aws_security_group.web"}"#;
    let cases = [
        // The summary says 19 failed, the list holds none: one framework, then several.
        ("one.json", framework(19, ""), "counts 19 failed"),
        (
            "several.json",
            format!("[{},{}]", framework(1, check), framework(19, "")),
            "counts 19 failed",
        ),
        ("bare.json", r#"{"passed":0,"failed":19,"skipped":0,"parsing_errors":0,"resource_count":0,"checkov_version":"3.3.30"}"#.into(), "lists none"),
        ("empty-list.json", "[]".into(), "empty list"),
        ("gitleaks.json", r#"[{"RuleID":"aws-access-token","File":"a.env","StartLine":1}]"#.into(), "unknown shape"),
    ];
    for (name, text, word) in cases {
        ws.write(name, &text);
        let run = ws.run(&["gate", "iac", "--report", name]);
        run.expect(TOOL_FAILED);
        assert!(run.stderr.contains(word), "{name}: {word}: {}", run.stderr);
    }
    // The consistent report still passes judgement (and fails on its finding).
    ws.write("ok.json", &framework(1, check));
    ws.run(&["gate", "iac", "--report", "ok.json"])
        .expect(GATE_FAILED);
}

#[test]
fn an_unknown_severity_word_fails_with_a_note_unless_the_policy_fails_nothing() {
    let ws = Ws::new("");
    ws.write(
        "trivy.json",
        r#"{"SchemaVersion":2,"ArtifactName":"web:1","Results":[{"Target":"web:1 (alpine 3.10.2)","Class":"os-pkgs","Type":"alpine","Vulnerabilities":[
          {"VulnerabilityID":"CVE-2099-0001","PkgName":"openssl","InstalledVersion":"1.1.1c-r0","FixedVersion":"1.1.1d-r0","Severity":"SEVERE","Title":"new scale"},
          {"VulnerabilityID":"CVE-2099-0002","PkgName":"musl","InstalledVersion":"1.1.22-r3","FixedVersion":"1.1.22-r4","Severity":"UNKNOWN","Title":"no score yet"}]}]}"#,
    );
    let run = ws.run(&["gate", "image", "--report", "trivy.json"]);
    run.expect(GATE_FAILED);
    let report = ws.findings("image");
    assert_eq!(report["failing"], 1, "only the unrecognised word: {report}");
    assert_eq!(report["findings"][0]["unrecognised_severity"], "SEVERE");
    assert!(report["notes"].to_string().contains("`SEVERE`"), "{report}");
    // The OS package is located at the image's package database, in every output.
    assert_eq!(
        report["findings"][0]["location"]["file"],
        "lib/apk/db/installed"
    );
    let sarif: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path("shipwatch-out/gates/image.sarif")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "lib/apk/db/installed"
    );
    // A policy that fails on nothing says otherwise.
    ws.write("pipeline/shipwatch.toml", "[gates.image]\nfail_on = []\n");
    ws.run(&["gate", "image", "--report", "trivy.json"])
        .expect(OK);
}

#[test]
fn a_duplicate_allowlist_entry_is_exit_2_naming_both_lines() {
    let ws = Ws::new("[gates.secrets]\npath = \"../repo\"\n");
    ws.repo(&[("README.md", "x\n")]);
    let entry = "[[allow]]\ntool = \"gitleaks\"\nid = \"aws-access-token\"\npath = \"config/*\"\nreason = \"test key\"\nexpires = 2999-12-31\n";
    ws.write("pipeline/allowlist.toml", &format!("{entry}\n{entry}"));
    let run = ws.run(&["gate", "secrets"]);
    run.expect(USAGE);
    assert!(
        run.stderr.contains("allowlist.toml:8") && run.stderr.contains("lines 1 and 8"),
        "{}",
        run.stderr
    );
}

#[test]
fn one_allowlist_matches_in_git_and_no_git_modes_and_odd_file_names_keep_their_location() {
    require("gitleaks");
    let ws = Ws::new("[gates.secrets]\npath = \"./../repo/\"\n");
    // A space, `#` and `%` in the name: SARIF must percent-encode, never drop, the location.
    let file = "config/app env#1%.env";
    ws.repo(&[(file, &format!("AWS_ACCESS_KEY_ID={}\n", fake_aws_key()))]);
    for mode in [
        &["gate", "secrets"][..],
        &["gate", "secrets", "--no-git"][..],
    ] {
        ws.write("pipeline/allowlist.toml", "");
        ws.run(mode).expect(GATE_FAILED);
        let report = ws.findings("secrets");
        assert_eq!(report["findings"][0]["location"]["file"], file, "{mode:?}");
        let sarif: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(ws.path("shipwatch-out/gates/secrets.sarif")).unwrap(),
        )
        .unwrap();
        let loc = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(
            loc["artifactLocation"]["uri"], "config/app%20env%231%25.env",
            "{mode:?}"
        );
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        ws.write(
            "pipeline/allowlist.toml",
            "[[allow]]\ntool = \"gitleaks\"\nid = \"aws-access-token\"\npath = \"config/*.env\"\nreason = \"fixture key\"\nexpires = 2999-12-31\n",
        );
        ws.run(mode).expect(OK);
        assert_eq!(ws.findings("secrets")["allowlisted"], 1, "{mode:?}");
    }
}

#[test]
fn text_output_lists_failing_findings_in_the_json_order() {
    let ws = Ws::new("[gates.image]\nfail_unfixed = true\nfail_on = \"any\"\n");
    ws.write(
        "trivy.json",
        r#"{"SchemaVersion":2,"ArtifactName":"web:1","Results":[{"Target":"app/package-lock.json","Class":"lang-pkgs","Type":"npm","Vulnerabilities":[
          {"VulnerabilityID":"CVE-2099-0003","PkgName":"a","InstalledVersion":"1","Severity":"LOW","Title":"low first"},
          {"VulnerabilityID":"CVE-2099-0004","PkgName":"b","InstalledVersion":"1","Severity":"CRITICAL","Title":"critical second"}]}]}"#,
    );
    let run = ws.run(&["gate", "image", "--report", "trivy.json"]);
    run.expect(GATE_FAILED);
    let json_order = ws.rule_ids("image");
    let text_order: Vec<String> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("CVE-")))
        .map(str::to_owned)
        .collect();
    assert_eq!(text_order, json_order, "{}", run.stdout);
}
