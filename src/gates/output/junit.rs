//! JUnit XML for Jenkins' `junit` step: one suite per gate, written by hand and streamed.

use crate::gates::policy::{Evaluated, Verdict};
use crate::gates::report::{GateReport, Status};
use std::fmt::Write;
use std::io;

/// One `<testcase>`'s outcome.
enum Case<'a> {
    Passed,
    Failed {
        message: &'a str,
        kind: &'a str,
        text: &'a str,
    },
    Skipped {
        message: &'a str,
    },
    Error {
        message: &'a str,
        kind: &'a str,
        text: Option<&'a str>,
    },
}

/// JUnit XML as a string; see [`write_junit`].
#[cfg(test)]
pub fn junit(r: &GateReport) -> String {
    let mut buf = Vec::new();
    write_junit(r, &mut buf).expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("built from UTF-8 text")
}

/// JUnit XML as Jenkins' `junit` step reads it: one suite per gate, failing findings as
/// failures, allowlisted ones as skipped, a tool error as an error. Written by hand: the
/// format is small, and a generic builder that sanitises every string one character at a
/// time made this the slowest output on large image reports. The suite's counts come first
/// in the file, so they are counted in one pass and the cases written in a second.
pub fn write_junit<W: io::Write>(r: &GateReport, x: &mut W) -> io::Result<()> {
    let classname = format!("shipwatch.gate.{}.{}", r.gate, r.tool);
    let mut lead: Option<(String, Case)> = None;
    if let Some(err) = &r.error {
        let (name, kind) = match r.status {
            Status::Usage => (
                format!("gate {} has usable settings", r.gate),
                "usage error",
            ),
            Status::Internal => (format!("shipwatch ran gate {}", r.gate), "internal error"),
            Status::Aborted => (format!("gate {} ran to the end", r.gate), "aborted"),
            _ => (
                format!("{} ran and wrote a usable report", r.tool),
                "tool error",
            ),
        };
        lead = Some((
            name,
            Case::Error {
                message: &err.message,
                kind,
                text: err.stderr_tail.as_deref(),
            },
        ));
    } else if r.findings.is_empty() {
        let name = match r.status {
            Status::Failed => format!("{}: {}", r.gate, r.summary),
            _ => format!("{}: no findings", r.gate),
        };
        lead = Some((name, Case::Passed));
    }
    // Findings below the policy's threshold are one passing case, not one each: they do not
    // fail the build, and tens of thousands of green cases would bury the red ones.
    let below = r
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Report)
        .count();
    let skipped_by =
        |f: &Evaluated| f.verdict == Verdict::Allowlisted && f.allowlisted_by.is_some();
    let (mut failures, mut skipped) = (0, 0);
    for f in r.findings.iter().filter(|f| f.verdict != Verdict::Report) {
        if skipped_by(f) {
            skipped += 1;
        } else {
            failures += 1;
        }
    }
    let errors = usize::from(matches!(lead, Some((_, Case::Error { .. }))));
    let tests = usize::from(lead.is_some()) + usize::from(below > 0) + failures + skipped;
    x.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
    writeln!(
        x,
        // No `skipped` here: the xunit plugin's junit-10.xsd allows it on <testsuite> only.
        "<testsuites name=\"shipwatch security gates\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
    )?;
    x.write_all(b"  <testsuite name=\"")?;
    escape(x, &format!("security gate: {}", r.gate))?;
    writeln!(
        x,
        "\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">"
    )?;
    if let Some((name, case)) = &lead {
        write_case(x, name, &classname, case)?;
    }
    if below > 0 {
        let name = format!(
            "{below} finding(s) below the policy's threshold (listed in {}.json)",
            r.gate
        );
        write_case(x, &name, &classname, &Case::Passed)?;
    }
    // Reused for every finding: one allocation each instead of three per case.
    let (mut name, mut message, mut text) = (String::new(), String::new(), String::new());
    for f in r.findings.iter().filter(|f| f.verdict != Verdict::Report) {
        name.clear();
        message.clear();
        let _ = write!(name, "{} {}", f.finding.rule_id, f.finding.location);
        let case = match (&f.verdict, &f.allowlisted_by) {
            (Verdict::Allowlisted, Some(e)) => {
                let _ = write!(
                    message,
                    "allowlisted until {} ({}): {}",
                    e.expires, e.at, e.reason
                );
                Case::Skipped { message: &message }
            }
            _ => {
                let _ = write!(message, "{} {}", f.finding.severity, f.finding.title);
                text.clear();
                detail(&mut text, f);
                Case::Failed {
                    message: &message,
                    kind: f.finding.severity.as_str(),
                    text: &text,
                }
            }
        };
        write_case(x, &name, &classname, &case)?;
    }
    let mut out = String::new();
    for e in &r.expired_allowlist {
        let _ = writeln!(
            out,
            "allowlist entry {} expired on {}; it no longer suppresses anything",
            e.describe(),
            e.expires
        );
    }
    for e in &r.stale_allowlist {
        let _ = writeln!(
            out,
            "allowlist entry {} matched no finding (stale)",
            e.describe()
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "{n}");
    }
    if !out.is_empty() {
        x.write_all(b"    <system-out>")?;
        escape(x, &out)?;
        x.write_all(b"</system-out>\n")?;
    }
    x.write_all(b"  </testsuite>\n</testsuites>\n")
}

fn write_case<W: io::Write>(x: &mut W, name: &str, classname: &str, case: &Case) -> io::Result<()> {
    x.write_all(b"    <testcase name=\"")?;
    escape(x, name)?;
    x.write_all(b"\" classname=\"")?;
    escape(x, classname)?;
    match case {
        Case::Passed => x.write_all(b"\"/>\n"),
        Case::Skipped { message } => {
            x.write_all(b"\">\n      <skipped message=\"")?;
            escape(x, message)?;
            x.write_all(b"\"/>\n    </testcase>\n")
        }
        Case::Failed {
            message,
            kind,
            text,
        } => write_problem(x, "failure", message, kind, text),
        Case::Error {
            message,
            kind,
            text,
        } => write_problem(x, "error", message, kind, text.unwrap_or("")),
    }
}

/// The rest of a `<testcase>` holding a `<failure>` or an `<error>`: the same shape.
fn write_problem<W: io::Write>(
    x: &mut W,
    tag: &str,
    message: &str,
    kind: &str,
    text: &str,
) -> io::Result<()> {
    write!(x, "\">\n      <{tag} message=\"")?;
    escape(x, message)?;
    x.write_all(b"\" type=\"")?;
    escape(x, kind)?;
    x.write_all(b"\">")?;
    escape(x, text)?;
    write!(x, "</{tag}>\n    </testcase>\n")
}

/// Writes `s` escaped for XML text and attributes, dropping the characters XML 1.0
/// cannot hold at all (control characters such as a tool's ANSI colour escapes, and
/// U+FFFE / U+FFFF). Byte by byte: everything it changes is ASCII except those two, whose
/// UTF-8 forms (EF BF BE, EF BF BF) cannot occur inside another character.
fn escape<W: io::Write>(out: &mut W, s: &str) -> io::Result<()> {
    let b = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        let (replacement, len): (&[u8], usize) = match b[i] {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'"' => (b"&quot;", 1),
            b'\'' => (b"&apos;", 1),
            b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            0..=0x1f => (b"", 1),
            0xef if b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)) => {
                (b"", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.write_all(&b[start..i])?;
        out.write_all(replacement)?;
        i += len;
        start = i;
    }
    out.write_all(&b[start..])
}

/// A failure's text: what, where, the fix, the link.
fn detail(s: &mut String, f: &Evaluated) {
    let _ = write!(
        s,
        "{} {} in {}",
        f.finding.tool, f.finding.rule_id, f.finding.location
    );
    if let Some(v) = &f.finding.fixed_version {
        let _ = write!(s, "; fixed in {v}");
    }
    if let Some(u) = &f.finding.url {
        let _ = write!(s, "\n{u}");
    }
    if let Some(e) = &f.expired_entry {
        let _ = write!(s, "\nallowlist entry {} expired on {}", e.at, e.expires);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::model::GateKind;
    use crate::gates::output::test_report::sample;
    use crate::gates::report::ToolError;

    #[test]
    fn junit_is_well_formed_and_counts_right() {
        let xml = junit(&sample());
        let parsed = quick_junit::Report::deserialize_from_str(&xml)
            .unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let suite = &parsed.test_suites[0];
        assert_eq!(
            suite.test_cases.len(),
            3,
            "one failure, one skipped, one summary of the finding below the threshold:\n{xml}"
        );
        assert_eq!(suite.failures, 1);
        assert_eq!(suite.tests, 3);
        assert!(
            xml.contains("amp &amp; lt &lt;") && !xml.contains('\u{1b}'),
            "{xml}"
        );
        assert!(xml.contains("R&amp;D &lt;only&gt;"), "{xml}");
    }

    #[test]
    fn junit_reports_a_tool_error_as_an_error() {
        let r = GateReport::error(
            GateKind::Iac,
            "terraform".into(),
            String::new(),
            ToolError {
                message: "checkov crashed".into(),
                stderr_tail: Some("Traceback <most recent call last>".into()),
            },
            vec![],
        );
        let parsed = quick_junit::Report::deserialize_from_str(&junit(&r)).unwrap();
        assert_eq!(parsed.test_suites[0].errors, 1);
    }
}
