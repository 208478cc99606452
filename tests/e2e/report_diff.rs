//! End-to-end tests of the report's green-against-blue comparison: the emulated
//! service has a background failure on every version (a shared pricing dependency
//! answering 504), and the release adds its own. The report must
//! tell the two apart and lead with the new one.

use crate::exit;
use crate::support::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(240);

fn read(dir: &Path) -> (Value, String, String) {
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    (j, md, html)
}

/// Whether a second task set (green) has answered a request.
fn green_has_traffic(aws: &LocalAws) -> bool {
    let v = aws.get("/_localaws/exposure");
    v["task_sets"]
        .as_object()
        .map(|t| {
            t.values()
                .filter(|t| t["requests"].as_u64().unwrap_or(0) > 0)
                .count()
                >= 2
        })
        .unwrap_or(false)
}

/// The comparison row whose sample contains `needle`.
fn row<'a>(j: &'a Value, needle: &str) -> &'a Value {
    j["comparison"]["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no comparison: {}", j["missing"]))
        .iter()
        .find(|g| g["sample"].as_str().unwrap_or("").contains(needle))
        .unwrap_or_else(|| panic!("no group with {needle:?}: {}", j["comparison"]))
}

#[test]
fn background_errors_are_also_in_blue_and_the_release_error_is_new_in_green() {
    let aws = LocalAws::start(1.0);
    // Enough requests that green, at 10 % of the traffic, meets the old failure too.
    aws.control(
        "/_localaws/config",
        &json!({"traffic_requests_per_minute": 600}),
    );
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    let mut c = aws.shipwatch(&cfg);
    c.args(["--output", "json", "deploy", "--sha", &sha])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("start shipwatch deploy");
    // Once green takes traffic, 10 % of all requests fail on the shared pricing
    // dependency (GET /api/products, 502), on blue and green alike. Not before: the
    // 5xx alarm would fire on blue alone and the deployment would not start.
    let started = Instant::now();
    while !green_has_traffic(&aws) {
        assert!(started.elapsed() < LIMIT, "green never took traffic");
        std::thread::sleep(Duration::from_millis(20));
    }
    aws.control(
        "/_localaws/config",
        &json!({"traffic_background_error_rate": 0.1}),
    );
    let out = child.wait_with_output().expect("shipwatch deploy");
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    let md_path = s["report"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no report: {s}"));
    let (j, md, html) = read(Path::new(md_path).parent().unwrap());

    assert_eq!(j["schema_version"], 2);
    let new = row(&j, "Database connection refused");
    assert_eq!(new["status"], "new_in_green", "{new}");
    assert_eq!(new["blue_count"], 0, "{new}");
    let old = row(&j, "status code 504");
    assert_eq!(old["status"], "also_in_blue", "{old}");
    assert!(old["blue_count"].as_u64().unwrap() > 0, "{old}");
    assert!(
        old["label"].as_str().unwrap().starts_with("also in blue ("),
        "{old}\nmetrics: {}\nmissing: {}",
        j["metrics"],
        j["missing"]
    );
    assert_eq!(
        j["comparison"]["basis"], "requests",
        "{} {} {}",
        j["comparison"], j["metrics"], j["missing"]
    );
    // Both colours fetched through the same filter pattern, chosen from pino lines.
    let pattern = j["logs"]["filter_pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", j["logs"]));
    assert_eq!(pattern, "{ $.level >= 50 || $.res.statusCode >= 500 }");
    assert_eq!(j["blue_logs"]["filter_pattern"], pattern);
    assert!(
        md.contains("Fetched with the filter pattern `{ $.level >= 50"),
        "{md}"
    );
    assert!(html.contains("Fetched with the filter pattern <code>{ $.level &gt;= 50"));

    let v = j["verdict"]["text"].as_str().unwrap();
    assert!(
        v.starts_with("New in green"),
        "verdict does not lead with the new error: {v}"
    );
    let first = v.split(". ").next().unwrap();
    assert!(first.contains("Database connection refused"), "{v}");
    assert!(v.contains("Also in blue"), "{v}");
    assert!(v.contains("status code 504"), "{v}");

    assert!(md.contains("## Green against blue"), "{md}");
    assert!(md.contains("| **new in green** |"), "{md}");
    assert!(md.contains("**also in blue ("), "{md}");
    assert!(html.contains("<h2>Green against blue</h2>"));
    assert!(html.contains("new in green"));
}
