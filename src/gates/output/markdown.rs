//! The Markdown summary: status, policy, counts by severity, then the failing and
//! allowlisted findings and the allowlist's problems, for people reading the build.

use crate::gates::model::Severity;
use crate::gates::policy::{Evaluated, Verdict};
use crate::gates::report::{GateReport, Status};
use std::fmt::Write;

/// Rows in the Markdown tables before the rest is left to the JSON file.
const MARKDOWN_ROWS: usize = 500;

/// A Markdown table cell: no pipes or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn markdown(r: &GateReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Security gate `{}`: {}\n", r.gate, r.status.label());
    if r.status == Status::Aborted {
        // First, so nobody reads the rest as a verdict on the code.
        let _ = writeln!(
            s,
            "**The gate was aborted** before it had a result: this is not a pass or a fail.\n"
        );
    }
    let _ = writeln!(
        s,
        "- Tool: {}\n- Target: `{}`\n- Policy: {}\n- Result: {}\n",
        r.tool,
        cell(&r.target),
        r.policy,
        r.summary
    );
    if let Some(e) = &r.error {
        let heading = match r.status {
            Status::Usage => "Usage error",
            Status::Internal => "Internal error",
            Status::Aborted => "Aborted",
            _ => "Tool error",
        };
        let _ = writeln!(s, "## {heading}\n\n{}\n", e.message);
        if let Some(t) = &e.stderr_tail {
            let _ = writeln!(
                s,
                "Last lines of {}'s stderr:\n\n```\n{}\n```\n",
                r.tool,
                t.replace("```", "'''")
            );
        }
    }
    if let Some(sb) = &r.sbom {
        let _ = writeln!(
            s,
            "## SBOM\n\n| Format | Packages |\n|---|---:|\n| CycloneDX | {} |\n| SPDX | {} |\n",
            sb.cyclonedx.packages, sb.spdx.packages
        );
        if let Some(os) = &sb.cyclonedx.operating_system {
            let _ = writeln!(s, "Operating system: {os}\n");
        }
        for f in &sb.files {
            let _ = writeln!(s, "- `{f}`");
        }
        s.push('\n');
    }
    if r.error.is_none() && r.sbom.is_none() {
        let _ = writeln!(
            s,
            "## Findings by severity\n\n| Severity | Found | Failing | Allowlisted |\n|---|---:|---:|---:|"
        );
        for sev in Severity::DESCENDING {
            let of = |v: Verdict| {
                r.findings
                    .iter()
                    .filter(|f| f.finding.severity == sev && f.verdict == v)
                    .count()
            };
            let total = r.counts.get(sev);
            if total > 0
                || matches!(
                    sev,
                    Severity::Critical | Severity::High | Severity::Medium | Severity::Low
                )
            {
                let _ = writeln!(
                    s,
                    "| {sev} | {total} | {} | {} |",
                    of(Verdict::Fail),
                    of(Verdict::Allowlisted)
                );
            }
        }
        s.push('\n');
    }
    let mut failing: Vec<&Evaluated> = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .collect();
    // Highest severity first; the sort is stable, so ties keep the report's order.
    failing.sort_by_key(|f| std::cmp::Reverse(f.finding.severity));
    if !failing.is_empty() {
        let _ = writeln!(
            s,
            "## Failing findings ({})\n\n| Severity | Id | Location | Title | Fix |\n|---|---|---|---|---|",
            failing.len()
        );
        for f in failing.iter().take(MARKDOWN_ROWS) {
            let fix = match (&f.finding.fixed_version, f.finding.fix_available) {
                (Some(v), _) => cell(v),
                (None, true) => "yes".into(),
                (None, false) => "no".into(),
            };
            let mut title = cell(&f.finding.title);
            if let Some(e) = &f.expired_entry {
                let _ = write!(title, " (allowlist entry {} expired {})", e.at, e.expires);
            }
            let _ = writeln!(
                s,
                "| {} | `{}` | `{}` | {} | {fix} |",
                f.finding.severity,
                cell(&f.finding.rule_id),
                cell(&f.finding.location.to_string()),
                title
            );
        }
        if failing.len() > MARKDOWN_ROWS {
            let _ = writeln!(
                s,
                "\n… {} more in `{}.json`.",
                failing.len() - MARKDOWN_ROWS,
                r.gate
            );
        }
        s.push('\n');
    }
    let allowed: Vec<&Evaluated> = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Allowlisted)
        .collect();
    if !allowed.is_empty() {
        let _ = writeln!(
            s,
            "## Allowlisted ({})\n\n| Id | Location | Reason | Expires | Entry |\n|---|---|---|---|---|",
            allowed.len()
        );
        for f in allowed.iter().take(MARKDOWN_ROWS) {
            if let Some(e) = &f.allowlisted_by {
                let _ = writeln!(
                    s,
                    "| `{}` | `{}` | {} | {} | `{}` |",
                    cell(&f.finding.rule_id),
                    cell(&f.finding.location.to_string()),
                    cell(&e.reason),
                    e.expires,
                    cell(&e.at)
                );
            }
        }
        s.push('\n');
    }
    if !r.expired_allowlist.is_empty() || !r.stale_allowlist.is_empty() {
        let _ = writeln!(s, "## Allowlist problems\n");
        for e in &r.expired_allowlist {
            let _ = writeln!(
                s,
                "- Expired on {}: {} — it no longer suppresses anything. Reason was: {}",
                e.expires,
                e.describe(),
                e.reason
            );
        }
        for e in &r.stale_allowlist {
            let _ = writeln!(
                s,
                "- Stale: {} matched no finding; remove it.",
                e.describe()
            );
        }
        s.push('\n');
    }
    let reported = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Report)
        .count();
    if reported > 0 {
        let _ = writeln!(
            s,
            "{reported} finding(s) below the policy's threshold are listed in `{}.json`.\n",
            r.gate
        );
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {}", cell(n));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::output::test_report::sample;

    #[test]
    fn markdown_lists_failing_and_allowlisted_with_reasons() {
        let md = markdown(&sample());
        assert!(md.contains("# Security gate `image`: FAILED"), "{md}");
        assert!(
            md.contains("## Failing findings (1)") && md.contains("`CVE-1`"),
            "{md}"
        );
        assert!(
            md.contains("## Allowlisted (1)") && md.contains("R&D <only>"),
            "{md}"
        );
        assert!(md.contains("| CRITICAL | 1 | 1 | 0 |"), "{md}");
    }
}
