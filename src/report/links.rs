//! Console links: the CodeDeploy deployment, an alarm, a CloudWatch Logs Insights
//! query prefilled with the trace ids, and the Jaeger UI per trace.

use chrono::{DateTime, Utc};

fn console(region: &str) -> String {
    format!("https://{region}.console.aws.amazon.com")
}

pub fn deployment(region: &str, id: &str) -> String {
    format!(
        "{}/codesuite/codedeploy/deployments/{}?region={region}",
        console(region),
        enc(id)
    )
}

pub fn alarm(region: &str, name: &str) -> String {
    format!(
        "{}/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
        console(region),
        enc(name)
    )
}

/// The Logs Insights query for the error lines of the given trace ids.
pub fn insights_query(trace_ids: &[String]) -> String {
    format!(
        "fields @timestamp, @logStream, @message\n| filter @message like /{}/\n| sort @timestamp asc\n| limit 500",
        trace_ids
            .iter()
            .map(|t| regex_escape(t))
            .collect::<Vec<_>>()
            .join("|")
    )
}

/// A Logs Insights console link with the query, time range and log group filled in.
/// The console reads its state from the URL fragment in its own encoding: values are
/// URI-encoded with `%` written as `*`, strings start with `'`, `~` separates items.
pub fn insights(
    region: &str,
    log_group: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    query: &str,
) -> String {
    let s = |v: &str| format!("'{}", enc(v).replace('%', "*"));
    let detail = format!(
        "~(end~{}~start~{}~timeType~'ABSOLUTE~tz~'UTC~editorString~{}~source~(~{}))",
        s(&start_end(end)),
        s(&start_end(start)),
        s(query),
        s(log_group)
    );
    let frag = format!("?queryDetail={detail}");
    format!(
        "{}/cloudwatch/home?region={region}#logsV2:logs-insights{}",
        console(region),
        enc(&frag).replace('%', "$")
    )
}

fn start_end(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// encodeURIComponent.
pub fn enc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn deployment_and_alarm_links() {
        assert_eq!(
            deployment("eu-west-1", "d-ABC123"),
            "https://eu-west-1.console.aws.amazon.com/codesuite/codedeploy/deployments/d-ABC123?region=eu-west-1"
        );
        assert_eq!(
            alarm("eu-west-1", "web 5xx/high"),
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/web%205xx%2Fhigh"
        );
    }

    #[test]
    fn insights_link_carries_query_and_group() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        let q = insights_query(&[
            "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            "a3ce929d0e0e4736".into(),
        ]);
        assert!(
            q.contains("filter @message like /4bf92f3577b34da6a3ce929d0e0e4736|a3ce929d0e0e4736/"),
            "{q}"
        );
        let url = insights(
            "eu-west-1",
            "/ecs/web",
            t0,
            t0 + chrono::Duration::minutes(10),
            &q,
        );
        assert!(url.starts_with("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D~(end~'2026-01-01T10*3A10*3A00.000Z~start~'2026-01-01T10*3A00*3A00.000Z~timeType~'ABSOLUTE~tz~'UTC~editorString~'fields*20*40timestamp"), "{url}");
        assert!(url.contains("~source~(~'*2Fecs*2Fweb))"), "{url}");
        assert!(!url.contains(' '));
    }
}
