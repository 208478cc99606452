//! The files each gate leaves in the output directory, all rendered from one
//! [`GateReport`]: JUnit XML (Jenkins `junit`), SARIF 2.1.0 (warnings-ng `recordIssues`),
//! a Markdown summary and the JSON findings, one module per format; this one writes all
//! four. Every file is written atomically.
//!
//! The large ones (SARIF, JSON, JUnit) are streamed into their files rather than built
//! in memory first: an image report with tens of thousands of findings makes tens of
//! megabytes of output, and holding it whole cost more in page faults than rendering it.
//!
//! Nothing here can leak a secret: findings never hold one (see the parsers).

pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;

use super::report::GateReport;
use crate::error::{AtomicWriter, Result, write_atomic_with};
use std::io;
use std::path::{Path, PathBuf};

/// A renderer streaming one output file into its writer.
type Render = dyn Fn(&GateReport, &mut AtomicWriter<'_>) -> io::Result<()> + Sync;

/// The four files' names of `kind`'s outputs.
const EXTENSIONS: [&str; 4] = ["junit.xml", "sarif", "md", "json"];

/// Removes `kind`'s outputs of an earlier run from `dir`, before this run can fail: a
/// run that ends in a usage error must not leave the last run's JUnit and SARIF for
/// Jenkins to publish as if they were this build's.
pub fn clear_previous(kind: crate::gates::model::GateKind, dir: &Path) {
    for ext in EXTENSIONS {
        let path = dir.join(format!("{}.{ext}", kind.name()));
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!("removed the earlier {}", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove the earlier {}: {e}", path.display()),
        }
    }
}

/// Writes all four files; returns their paths. Written two at a time: image reports can
/// hold tens of thousands of findings.
pub fn write_all(report: &GateReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let name = report.gate.name();
    let write = |ext: &str, render: &Render| -> Result<PathBuf> {
        let path = dir.join(format!("{name}.{ext}"));
        let t = std::time::Instant::now();
        write_atomic_with(&path, |w| render(report, w))?;
        tracing::debug!(
            "{}: rendered and written in {:?}",
            path.display(),
            t.elapsed()
        );
        Ok(path)
    };
    let json = |r: &GateReport, w: &mut AtomicWriter<'_>| json::write_json(r, w);
    let junit = |r: &GateReport, w: &mut AtomicWriter<'_>| junit::write_junit(r, w);
    let sarif = |r: &GateReport, w: &mut AtomicWriter<'_>| sarif::write_sarif(r, w);
    let md = |r: &GateReport, w: &mut AtomicWriter<'_>| {
        io::Write::write_all(w, markdown::markdown(r).as_bytes())
    };
    // SARIF is the largest; the other three together take about as long.
    let (sarif_path, rest) = std::thread::scope(|s| {
        let other = s.spawn(|| write("sarif", &sarif));
        let rest = (
            write("junit.xml", &junit),
            write("md", &md),
            write("json", &json),
        );
        (other.join().expect("output thread panicked"), rest)
    });
    Ok(vec![rest.0?, sarif_path?, rest.1?, rest.2?])
}

/// The report every format's tests render.
#[cfg(test)]
mod test_report {
    use crate::gates::allowlist;
    use crate::gates::model::{Category, Finding, GateKind, Location, Severity, Tool};
    use crate::gates::policy;
    use crate::gates::report::GateReport;
    use crate::gates::settings::Policy;

    fn finding(id: &str, sev: Severity, title: &str) -> Finding {
        Finding {
            tool: Tool::Trivy,
            category: Category::Vulnerability,
            rule_id: id.into(),
            severity: sev,
            title: title.into(),
            location: Location {
                file: Some("app/package-lock.json".into()),
                line: None,
                package: Some("lodash".into()),
                version: Some("4.17.15".into()),
            },
            fingerprint: format!("{id}:lodash"),
            fix_available: true,
            fixed_version: Some("4.17.21".into()),
            unrecognised_severity: None,
            url: None,
        }
    }

    pub(in crate::gates::output) fn sample() -> GateReport {
        let list = allowlist::parse(
            "[[allow]]\ntool = \"trivy\"\nid = \"CVE-3\"\nreason = \"R&D <only>\"\nexpires = 2999-01-01\n",
            std::path::Path::new("allowlist.toml"),
        )
        .unwrap();
        let policy = Policy::image_default();
        let found = vec![
            finding(
                "CVE-1",
                Severity::Critical,
                "quote \" amp & lt < \u{1b}[31mred\u{1b}[0m",
            ),
            finding("CVE-2", Severity::Low, "minor"),
            finding("CVE-3", Severity::High, "accepted"),
        ];
        let ev = policy::evaluate(
            found,
            &policy,
            &list,
            &[Tool::Trivy],
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        );
        GateReport::from_evaluation(
            GateKind::Image,
            Tool::Trivy,
            "web.tar".into(),
            policy.describe(GateKind::Image),
            ev,
            vec!["a note".into()],
        )
    }
}
