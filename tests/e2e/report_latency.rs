//! End to end: a release whose green tasks answer one route slowly (a slow downstream
//! call) trips the latency alarm; the report shows latency blue vs green, the slow
//! route from the log lines' response times and the slow span from the traces, and
//! its verdict names both.

use crate::exit;
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn latency_report_names_the_slow_route_and_span() {
    let aws = LocalAws::start(1.0);
    let cfg = aws.write_config("");
    let sha = random_sha();
    aws.push_image(&sha, "latency");
    let mut c = aws.shipwatch(&cfg);
    c.args(["--output", "json", "deploy", "--sha", &sha]);
    let out = run(c, LIMIT);
    assert_eq!(out.status.code(), Some(exit::ROLLED_BACK), "{}", text(&out));
    let s = summary(&out);
    let md_path = s["report"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no report: {s}"));
    let dir = Path::new(md_path).parent().unwrap();
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();

    let l = &j["latency"];
    assert_eq!(l["alarm"], "web-response-time", "{}", j["trigger"]);
    assert_eq!(l["metric"], "TargetResponseTime", "{l}");
    let points = l["points"].as_array().unwrap();
    assert!(
        points
            .iter()
            .any(|p| p["green_seconds"].as_f64().unwrap_or(0.0) >= 6.0),
        "no slow green minute: {l}"
    );
    assert!(
        points
            .iter()
            .all(|p| p["blue_seconds"].as_f64().unwrap_or(0.0) < 6.0),
        "blue was slow too: {l}"
    );
    let route = &l["slow_routes"][0];
    assert_eq!(route["route"], "GET /api/orders", "{l}");
    assert!(route["green_slow"].as_u64().unwrap() > 0, "{l}");
    assert_eq!(route["blue_slow"], 0, "{l}");
    let span = &l["slow_spans"][0];
    assert_eq!(span["operation"], "GET", "{l}");
    assert!(
        span["downstream_url"]
            .as_str()
            .unwrap_or("")
            .contains("inventory.internal"),
        "{l}"
    );
    assert!(span["self_ms"].as_f64().unwrap() >= 6000.0, "{l}");

    assert_eq!(j["verdict"]["cause"], "slow_responses", "{}", j["verdict"]);
    let v = j["verdict"]["text"].as_str().unwrap();
    assert!(v.contains("GET /api/orders"), "route not named: {v}");
    assert!(v.contains("span `GET`"), "span not named: {v}");
    assert!(v.contains("inventory.internal"), "{v}");
    assert!(md.contains("## Latency"), "{md}");
    assert!(html.contains("<h2>Latency</h2>"));

    // `report <id>` again: the metrics and the latency sections share one lookup of the
    // target groups' metric dimensions.
    let id = s["deployment"]["id"].as_str().unwrap();
    aws.control("/_localaws/calls/reset", &serde_json::json!({}));
    let again = tempfile::tempdir().unwrap();
    let mut c = aws.shipwatch(&cfg);
    c.args(["report", id, "--out-dir"]).arg(again.path());
    let out = run(c, LIMIT);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(again.path().join("report.json")).unwrap())
            .unwrap();
    assert!(
        !j["latency"]["points"].as_array().unwrap().is_empty(),
        "{}",
        j["latency"]
    );
    assert_eq!(
        aws.count("elbv2.DescribeTargetGroups"),
        1,
        "{}",
        aws.calls()
    );
}
