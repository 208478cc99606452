//! `report.html`: one self-contained file (inline CSS and SVG, no script, no external
//! asset). Rendered with minijinja, whose HTML auto-escaping applies to every value
//! from the model, so log text full of markup shows as text. Only the chart, which
//! this crate draws from numbers, is inserted as markup.

use crate::report::model::{Report, SourceKind, TraceStatus};
use crate::report::verdict::{num, weight_at};
use minijinja::value::{Serde, Value};
use minijinja::{Environment, context};

const TEMPLATE: &str = include_str!("templates/report.html");

pub fn render(r: &Report) -> crate::error::Result<String> {
    let mut env = Environment::new();
    // The name ends in .html, so auto-escaping is on for every expression.
    // Counts arrive as f64 (CloudWatch sums); `80.0` reads as a measurement, `80` as a count.
    env.add_filter("num", |v: f64| num(v));
    env.add_template("report.html", TEMPLATE)
        .map_err(internal)?;
    let tmpl = env.get_template("report.html").map_err(internal)?;
    let title = match (&r.deployment, r.source.kind) {
        (Some(d), _) => format!("Rollback report: {}", d.deployment_id),
        (None, SourceKind::LogsFile) => format!("Log report: {}", r.source.input),
        (None, SourceKind::Aws) => format!("Rollback report: {}", r.source.input),
    };
    let timeline: Vec<Value> = r
        .timeline
        .iter()
        .map(|e| {
            let weight = weight_at(&r.traffic, e.at).map(|p| format!("{} %", num(p))).unwrap_or_default();
            context! { time => e.at.format("%H:%M:%S").to_string(), weight => weight, text => e.text.clone() }
        })
        .collect();
    let trace_status = match r.traces.status {
        TraceStatus::NotConfigured => "not looked up",
        TraceStatus::NoTraceIds => "no trace ids to look up",
        TraceStatus::Ok => "all looked-up traces read",
        TraceStatus::Partial => "some traces could not be read",
        TraceStatus::Unavailable => "unavailable",
    };
    let chart = crate::report::chart::svg(r).map(Value::from_safe_string);
    tmpl.render(context! {
        title => title,
        r => Value::from(Serde(r)),
        facts => facts(r),
        timeline => timeline,
        chart => chart,
        trace_status => trace_status,
        input_summary => r.logs.as_ref().map(|l| l.input.describe()).unwrap_or_default(),
        blue_input => r.blue_logs.as_ref().map(|l| l.input.describe()).unwrap_or_default(),
        rate_basis => r.comparison.as_ref().map(|c| c.basis.describe()).unwrap_or_default(),
    })
    .map_err(internal)
}

fn facts(r: &Report) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Some(d) = &r.deployment {
        let mut dep = d.deployment_id.clone();
        if let Some(rb) = &d.rollback_deployment_id {
            dep.push_str(&format!(" → rolled back by {rb}"));
        }
        rows.push(("Deployment".into(), dep));
        rows.push((
            "Application / group".into(),
            format!("{} / {}", d.application, d.deployment_group),
        ));
        let mut st = d.status.clone();
        if let Some(c) = &d.error_code {
            st.push_str(&format!(" ({c})"));
        }
        rows.push(("Status".into(), st));
        if let Some(t) = &d.green_task_definition {
            rows.push(("Green task definition".into(), t.clone()));
        }
        if let Some(s) = &d.sha {
            rows.push(("Release".into(), s.clone()));
        }
    }
    if let Some(w) = &r.window {
        rows.push((
            "Evidence window".into(),
            format!(
                "{} → {}",
                w.start.format("%Y-%m-%d %H:%M:%SZ"),
                w.end.format("%Y-%m-%d %H:%M:%SZ")
            ),
        ));
    }
    rows
}

fn internal(e: minijinja::Error) -> crate::error::Error {
    crate::error::Error::Internal(anyhow::anyhow!("rendering report.html: {e:#}"))
}
