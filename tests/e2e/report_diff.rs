//! End-to-end tests of the report's green-against-blue comparison: the emulated
//! service has a background failure on every version (a recommendations call that
//! times out, logged as an error), and the release adds its own. The report must
//! tell the two apart and lead with the new one.

use crate::exit;
use crate::support::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);

fn read(dir: &Path) -> (Value, String, String) {
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    (j, md, html)
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
    // A third of GET /api/products calls hit the old recommendations timeout, on
    // blue and green alike (handled: logged as an error, answered 200).
    aws.control("/_localaws/config", &json!({"background_error_rate": 0.35}));
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "http-5xx");
    let mut c = aws.shipwatch(&cfg);
    c.args(["--output", "json", "deploy", "--sha", &sha]);
    let out = run(c, LIMIT);
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
    let old = row(&j, "recommendations unavailable");
    assert_eq!(old["status"], "also_in_blue", "{old}");
    assert!(old["blue_count"].as_u64().unwrap() > 0, "{old}");
    assert!(
        old["label"].as_str().unwrap().starts_with("also in blue ("),
        "{old}"
    );
    assert_eq!(j["comparison"]["basis"], "requests", "{}", j["comparison"]);
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
    assert!(v.contains("recommendations unavailable"), "{v}");

    assert!(md.contains("## Green against blue"), "{md}");
    assert!(md.contains("| **new in green** |"), "{md}");
    assert!(md.contains("**also in blue ("), "{md}");
    assert!(html.contains("<h2>Green against blue</h2>"));
    assert!(html.contains("new in green"));
}
