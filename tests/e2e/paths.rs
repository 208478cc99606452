//! The path rule end to end: shipwatch run from a working directory that is not the
//! configuration file's folder. Relative paths in the file resolve against the file's
//! folder; relative paths given as flags resolve against the working directory.

use std::path::Path;
use std::process::Command;

fn shipwatch(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shipwatch"))
        .args(["--color", "never"])
        .args(args)
        .current_dir(cwd)
        .env_remove("SHIPWATCH_ENV")
        .env_remove("SHIPWATCH_CONFIG")
        .env_remove("SHIPWATCH_JAEGER_URL")
        .output()
        .expect("run shipwatch")
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

/// `<tmp>/repo/pipeline/shipwatch.toml`, run from `<tmp>/elsewhere`.
fn layout(config: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("repo/pipeline/shipwatch.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(&cfg, config).unwrap();
    let cwd = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    (tmp, cfg, cwd)
}

#[test]
fn report_output_dir_from_the_file_is_beside_the_file() {
    let (tmp, cfg, cwd) = layout("[report]\noutput_dir = \"../out/report\"\n");
    let out = shipwatch(
        &cwd,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "report",
            "--logs-file",
            &fixture("report/app.log"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("repo/out/report/report.json").is_file());
    assert!(
        !cwd.join("out").exists(),
        "nothing under the working directory"
    );

    // A flag is relative to the working directory.
    let out = shipwatch(
        &cwd,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "report",
            "--logs-file",
            &fixture("report/app.log"),
            "--out-dir",
            "mine",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cwd.join("mine/report.md").is_file());
}

#[test]
fn gate_output_dir_and_allowlist_from_the_file_are_beside_the_file() {
    let (tmp, cfg, cwd) = layout(
        "[gates]\noutput_dir = \"../out/gates\"\nallowlist = \"allow.toml\"\n[gates.deps]\ndir = \"../app\"\n",
    );
    std::fs::write(cfg.parent().unwrap().join("allow.toml"), "").unwrap();
    std::fs::create_dir_all(tmp.path().join("repo/app")).unwrap();
    let report = fixture("gates/npm-audit-v2.json");
    let gate = || {
        shipwatch(
            &cwd,
            &[
                "--config",
                cfg.to_str().unwrap(),
                "gate",
                "deps",
                "--report",
                &report,
            ],
        )
    };
    let out = gate();
    let code = out.status.code();
    assert!(
        code == Some(crate::exit::OK) || code == Some(crate::exit::GATE_FAILED),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("repo/out/gates/deps.json").is_file());
    assert!(
        !cwd.join("out").exists(),
        "nothing under the working directory"
    );

    // A named allowlist that is missing is an error naming the resolved path.
    std::fs::remove_file(cfg.parent().unwrap().join("allow.toml")).unwrap();
    let out = gate();
    assert_eq!(out.status.code(), Some(crate::exit::USAGE));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pipeline/allow.toml"), "{err}");
}
