//! The verdict on each finding: allowlisted (by a live entry), failing (the gate's policy
//! says so), or reported only. Also which allowlist entries have expired and which match
//! nothing. Pure: the date is passed in.

use super::allowlist::{Allowlist, Entry};
use super::model::{Category, Finding, Severity, Tool};
use super::settings::Policy;
use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fails the gate.
    Fail,
    /// Reported, but below the policy's threshold.
    Report,
    /// Suppressed by a live allowlist entry.
    Allowlisted,
}

/// An allowlist entry as outputs show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryRef {
    /// `file:line`.
    pub at: String,
    pub tool: Tool,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub reason: String,
    pub expires: NaiveDate,
}

impl EntryRef {
    fn new(list: &Allowlist, e: &Entry) -> Self {
        EntryRef {
            at: list.at(e),
            tool: e.tool,
            id: e.id.clone(),
            package: e.package.clone(),
            path: e.path.clone(),
            reason: e.reason.clone(),
            expires: e.expires,
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!("{} ({} {}", self.at, self.tool, self.id);
        if let Some(p) = &self.package {
            s.push_str(&format!(", package {p}"));
        }
        if let Some(p) = &self.path {
            s.push_str(&format!(", path {p}"));
        }
        s.push(')');
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluated {
    #[serde(flatten)]
    pub finding: Finding,
    pub verdict: Verdict,
    /// The live entry that suppressed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowlisted_by: Option<EntryRef>,
    /// An expired entry that would have suppressed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_entry: Option<EntryRef>,
}

#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub findings: Vec<Evaluated>,
    /// Entries for this gate's tools whose date has passed; they suppress nothing.
    pub expired: Vec<EntryRef>,
    /// Entries for this gate's tools that matched no finding.
    pub stale: Vec<EntryRef>,
}

/// Whether the policy fails `f` (allowlist aside).
pub fn fails(f: &Finding, p: &Policy) -> bool {
    if f.unrecognised_severity.is_some() {
        return match f.category {
            Category::Secret => !p.secrets_fail_on.is_empty(),
            Category::Vulnerability | Category::Misconfiguration => !p.fail_on.is_empty(),
            Category::Sbom => true,
        };
    }
    match f.category {
        Category::Secret => p.secrets_fail_on.contains(f.severity),
        Category::Vulnerability => {
            p.fail_on.contains(f.severity) && (f.fix_available || p.fail_unfixed)
        }
        Category::Misconfiguration => p.fail_on.contains(f.severity),
        Category::Sbom => true,
    }
}

/// `tools` are the tools whose findings this gate sees: only their entries can be
/// expired or stale here (an npm entry is not stale because the secrets gate ran).
pub fn evaluate(
    findings: Vec<Finding>,
    policy: &Policy,
    list: &Allowlist,
    tools: &[Tool],
    today: NaiveDate,
) -> Evaluation {
    let relevant: Vec<&Entry> = list
        .entries
        .iter()
        .filter(|e| tools.contains(&e.tool))
        .collect();
    let mut used = vec![false; relevant.len()];
    let mut out = Vec::with_capacity(findings.len());
    for f in findings {
        let mut live = None;
        let mut expired = None;
        for (i, e) in relevant.iter().enumerate() {
            if !e.matches(&f) {
                continue;
            }
            used[i] = true;
            if e.expired(today) {
                expired.get_or_insert(*e);
            } else if live.is_none() {
                live = Some(*e);
            }
        }
        let verdict = if live.is_some() {
            Verdict::Allowlisted
        } else if fails(&f, policy) {
            Verdict::Fail
        } else {
            Verdict::Report
        };
        out.push(Evaluated {
            finding: f,
            verdict,
            allowlisted_by: live.map(|e| EntryRef::new(list, e)),
            expired_entry: if live.is_none() {
                expired.map(|e| EntryRef::new(list, e))
            } else {
                None
            },
        });
    }
    Evaluation {
        findings: out,
        expired: relevant
            .iter()
            .filter(|e| e.expired(today))
            .map(|e| EntryRef::new(list, e))
            .collect(),
        stale: relevant
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(e, _)| EntryRef::new(list, e))
            .collect(),
    }
}

/// Findings per severity, highest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub unknown: usize,
}

impl Counts {
    pub fn add(&mut self, s: Severity) {
        *self.slot(s) += 1;
    }

    fn slot(&mut self, s: Severity) -> &mut usize {
        match s {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Info => &mut self.info,
            Severity::Unknown => &mut self.unknown,
        }
    }

    pub fn get(&self, s: Severity) -> usize {
        match s {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
            Severity::Unknown => self.unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::allowlist;
    use crate::gates::model::Location;
    use std::path::Path;

    fn vuln(id: &str, sev: Severity, fix: bool) -> Finding {
        Finding {
            tool: Tool::Trivy,
            category: Category::Vulnerability,
            rule_id: id.into(),
            severity: sev,
            title: id.into(),
            location: Location {
                file: Some("img".into()),
                line: None,
                package: Some("openssl".into()),
                version: Some("1".into()),
            },
            fingerprint: id.into(),
            fix_available: fix,
            fixed_version: None,
            unrecognised_severity: None,
            url: None,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    const LIST: &str = r#"
[[allow]]
tool = "trivy"
id = "CVE-LIVE"
reason = "accepted"
expires = 2027-01-01

[[allow]]
tool = "trivy"
id = "CVE-OLD"
reason = "was accepted"
expires = 2026-01-01

[[allow]]
tool = "trivy"
id = "CVE-GONE"
reason = "fixed long ago"
expires = 2027-01-01

[[allow]]
tool = "npm"
id = "GHSA-xxxx"
reason = "other gate"
expires = 2027-01-01
"#;

    #[test]
    fn image_policy_fails_fixable_high_and_critical_only() {
        let p = Policy::image_default();
        assert!(fails(&vuln("a", Severity::Critical, true), &p));
        assert!(
            !fails(&vuln("a", Severity::Critical, false), &p),
            "unfixed does not fail by default"
        );
        assert!(!fails(&vuln("a", Severity::Medium, true), &p));
        let p = Policy {
            fail_unfixed: true,
            ..p
        };
        assert!(fails(&vuln("a", Severity::High, false), &p));
    }

    #[test]
    fn live_expired_and_stale_entries() {
        let list = allowlist::parse(LIST, Path::new("allowlist.toml")).unwrap();
        let p = Policy::image_default();
        let found = vec![
            vuln("CVE-LIVE", Severity::High, true),
            vuln("CVE-OLD", Severity::High, true),
            vuln("CVE-NEW", Severity::Low, true),
        ];
        let ev = evaluate(found, &p, &list, &[Tool::Trivy], today());
        let by_id = |id: &str| {
            ev.findings
                .iter()
                .find(|e| e.finding.rule_id == id)
                .unwrap()
        };
        assert_eq!(by_id("CVE-LIVE").verdict, Verdict::Allowlisted);
        assert_eq!(
            by_id("CVE-LIVE").allowlisted_by.as_ref().unwrap().at,
            "allowlist.toml:2"
        );
        let old = by_id("CVE-OLD");
        assert_eq!(
            old.verdict,
            Verdict::Fail,
            "an expired entry stops suppressing"
        );
        assert_eq!(old.expired_entry.as_ref().unwrap().at, "allowlist.toml:8");
        assert_eq!(by_id("CVE-NEW").verdict, Verdict::Report);
        assert_eq!(
            ev.expired.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["CVE-OLD"]
        );
        assert_eq!(
            ev.stale.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["CVE-GONE"],
            "npm entry is not this gate's"
        );
        let order: Vec<&str> = ev
            .findings
            .iter()
            .map(|e| e.finding.rule_id.as_str())
            .collect();
        assert_eq!(
            order,
            ["CVE-LIVE", "CVE-OLD", "CVE-NEW"],
            "the report's order is kept"
        );
    }
}
