//! The SBOM gate's scanner, Syft: its command line (both formats from one run, kept beside
//! the gate outputs) and the two SBOMs it writes (CycloneDX JSON and SPDX JSON): check that
//! each parses and count its packages the same way, so the gate can demand they agree and
//! are not empty.
//!
//! Counting rule, measured on Syft 1.18 output: CycloneDX lists the operating system as a
//! component of type `operating-system`, SPDX does not list it as a package; SPDX adds a
//! document-root package (`SPDXRef-DocumentRoot-…`) that CycloneDX keeps in `metadata`.
//! Both are left out.

use crate::error::Result;
use crate::gates::exec::Invocation;
use crate::gates::model::{
    Category, Finding, GateKind, InvalidReport, Location, Severity, Tool, json_problem,
};
use crate::gates::policy::{self, Evaluated, Verdict};
use crate::gates::report::{GateReport, SbomSummary, ToolError};
use crate::gates::run::{
    Ctx, ImageSource, image_source, invalid, need_dir, read_report, run_tool, tempdir,
};
use crate::gates::settings::SbomJob;
use serde::Deserialize;

/// The SBOM gate: Syft over an image or a directory, or two given SBOMs.
pub async fn gate(ctx: &Ctx, a: SbomJob) -> Result<GateReport> {
    let kind = GateKind::Sbom;
    if let Some((cdx, spdx)) = &a.given {
        let target = format!("{} + {}", cdx.display(), spdx.display());
        let read = read_report(Tool::Syft, cdx)
            .and_then(|c| read_report(Tool::Syft, spdx).map(|s| (c, s)));
        return Ok(match read {
            Ok((c, s)) => judge_sbom(ctx, target, &c, &s, Vec::new(), None),
            Err(e) => ctx.error(kind, target, e, vec![]),
        });
    }
    let (image, input, dir) = (a.image, a.input, a.dir);
    let (source, name, target) = match dir {
        Some(d) => {
            need_dir(&d, "the directory for the SBOM")?;
            let name = d
                .canonicalize()
                .ok()
                .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "source".into());
            (
                format!("dir:{}", d.display()),
                name,
                d.display().to_string(),
            )
        }
        None => match image_source(image, input, "[gates.sbom]")? {
            ImageSource::Tarball(p) => {
                let name = p
                    .file_stem()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "image".into());
                (
                    format!("docker-archive:{}", p.display()),
                    name,
                    format!("{} (image tarball)", p.display()),
                )
            }
            ImageSource::Reference(r) => {
                let name = r
                    .rsplit('/')
                    .next()
                    .unwrap_or(&r)
                    .split([':', '@'])
                    .next()
                    .unwrap_or("image")
                    .to_owned();
                (r.clone(), name, r)
            }
        },
    };
    let tool = match ctx.locate(Tool::Syft) {
        Ok(t) => t,
        Err(e) => return Ok(ctx.error(kind, target, e, vec![])),
    };
    let tmp = tempdir()?;
    let cdx = tmp.path().join("sbom.cdx.json");
    let spdx = tmp.path().join("sbom.spdx.json");
    // No -q: it hides the reason when Syft fails.
    let inv = Invocation::new(&tool)
        .args(["scan", &source, "--source-name", &name])
        .arg("-o")
        .arg(format!("cyclonedx-json={}", cdx.display()))
        .arg("-o")
        .arg(format!("spdx-json={}", spdx.display()))
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false");
    let ran = match run_tool(Tool::Syft, &inv, ctx, &[0], Some(&cdx)).await {
        Ok(r) => r,
        Err(e) => return Ok(ctx.error(kind, target, e, vec![])),
    };
    let spdx_bytes = match std::fs::read(&spdx) {
        Ok(b) => b,
        Err(e) => {
            let err = ToolError {
                message: format!("syft did not write the SPDX SBOM: {e}"),
                stderr_tail: ran.tail(),
            };
            return Ok(ctx.error(kind, target, err, vec![]));
        }
    };
    // Keep the SBOMs as build artifacts beside the gate outputs.
    let mut files = Vec::new();
    for (name, bytes) in [
        ("sbom.cdx.json", &ran.report),
        ("sbom.spdx.json", &spdx_bytes),
    ] {
        let dest = ctx.out_dir.join(name);
        crate::error::write_atomic(&dest, bytes)?;
        files.push(dest.display().to_string());
    }
    Ok(judge_sbom(
        ctx,
        target,
        &ran.report,
        &spdx_bytes,
        files,
        ran.tail(),
    ))
}

fn judge_sbom(
    ctx: &Ctx,
    target: String,
    cdx: &[u8],
    spdx: &[u8],
    files: Vec<String>,
    tail: Option<String>,
) -> GateReport {
    let kind = GateKind::Sbom;
    let counts = cyclonedx(cdx)
        .map_err(|e| InvalidReport(format!("CycloneDX SBOM: {e}")))
        .and_then(|c| {
            self::spdx(spdx)
                .map_err(|e| InvalidReport(format!("SPDX SBOM: {e}")))
                .map(|s| (c, s))
        });
    let (c, s) = match counts {
        Ok(cs) => cs,
        Err(e) => return ctx.error(kind, target, invalid(Tool::Syft, e, tail), vec![]),
    };
    let summary = SbomSummary {
        cyclonedx: c.clone(),
        spdx: s.clone(),
        files,
    };
    if c.packages != s.packages {
        let err = ToolError {
            message: format!(
                "syft's SBOMs disagree: CycloneDX lists {} package(s), SPDX {}; one of them is incomplete",
                c.packages, s.packages
            ),
            stderr_tail: tail,
        };
        let mut r = ctx.error(kind, target, err, vec![]);
        r.sbom = Some(summary);
        return r;
    }
    let mut findings = Vec::new();
    if c.packages == 0 {
        findings.push(Evaluated {
            finding: Finding {
                tool: Tool::Syft,
                category: Category::Sbom,
                rule_id: "sbom-empty".into(),
                severity: Severity::High,
                title: "The SBOM lists no packages: the source has nothing Syft recognises, or the scan missed it".into(),
                // The SBOM is the artifact at fault; it is kept in the output directory.
                location: Location { file: Some("sbom.cdx.json".into()), ..Default::default() },
                fingerprint: format!("sbom-empty:{target}"),
                fix_available: false,
                fixed_version: None,
                unrecognised_severity: None,
                url: None,
            },
            verdict: Verdict::Fail,
            allowlisted_by: None,
            expired_entry: None,
        });
    }
    let ev = policy::Evaluation {
        findings,
        expired: Vec::new(),
        stale: Vec::new(),
    };
    let mut r = GateReport::from_evaluation(
        kind,
        Tool::Syft,
        target,
        ctx.policy(kind).describe(kind),
        ev,
        vec![],
    );
    r.summary = if c.packages == 0 {
        "the SBOM is empty (0 packages)".into()
    } else {
        format!("{} package(s); CycloneDX and SPDX agree", c.packages)
    };
    r.sbom = Some(summary);
    r
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SbomCount {
    pub packages: usize,
    /// The operating system named by the SBOM, if any (CycloneDX only).
    pub operating_system: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CycloneDx {
    bom_format: String,
    spec_version: String,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spdx {
    spdx_version: String,
    #[serde(default)]
    packages: Vec<SpdxPackage>,
}

#[derive(Deserialize)]
struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
}

fn count_components(list: &[Component], os: &mut Option<String>) -> usize {
    list.iter()
        .map(|c| {
            let own = if c.kind == "operating-system" {
                *os = Some(
                    format!("{} {}", c.name, c.version.as_deref().unwrap_or(""))
                        .trim()
                        .to_owned(),
                );
                0
            } else {
                1
            };
            own + count_components(&c.components, os)
        })
        .sum()
}

pub fn cyclonedx(bytes: &[u8]) -> Result<SbomCount, InvalidReport> {
    let bom: CycloneDx = serde_json::from_slice(bytes).map_err(|e| json_problem(bytes, &e))?;
    if bom.bom_format != "CycloneDX" {
        return Err(InvalidReport(format!(
            "bomFormat is `{}`, not CycloneDX",
            bom.bom_format
        )));
    }
    if !bom.spec_version.starts_with("1.") {
        return Err(InvalidReport(format!(
            "CycloneDX spec version {} is not supported",
            bom.spec_version
        )));
    }
    let mut os = None;
    let packages = count_components(&bom.components, &mut os);
    Ok(SbomCount {
        packages,
        operating_system: os,
    })
}

pub fn spdx(bytes: &[u8]) -> Result<SbomCount, InvalidReport> {
    let doc: Spdx = serde_json::from_slice(bytes).map_err(|e| json_problem(bytes, &e))?;
    if !doc.spdx_version.starts_with("SPDX-2.") {
        return Err(InvalidReport(format!(
            "SPDX version {} is not supported",
            doc.spdx_version
        )));
    }
    let packages = doc
        .packages
        .iter()
        .filter(|p| !p.spdx_id.starts_with("SPDXRef-DocumentRoot-"))
        .count();
    Ok(SbomCount {
        packages,
        operating_system: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CDX: &str = r#"{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:1","version":1,
      "metadata":{"component":{"type":"file","name":"app"}},
      "components":[{"bom-ref":"a","type":"library","name":"lodash","version":"4.17.15","purl":"pkg:npm/lodash@4.17.15"},
                    {"bom-ref":"b","type":"library","name":"minimist","version":"1.2.5"},
                    {"bom-ref":"c","type":"operating-system","name":"alpine","version":"3.19.1"}]}"#;

    const SPDX: &str = r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app",
      "packages":[{"name":"lodash","SPDXID":"SPDXRef-Package-npm-lodash-1"},{"name":"minimist","SPDXID":"SPDXRef-Package-npm-minimist-2"},
                  {"name":"/src","SPDXID":"SPDXRef-DocumentRoot-Directory--src"}]}"#;

    #[test]
    fn both_formats_count_the_same_packages() {
        let c = cyclonedx(CDX.as_bytes()).unwrap();
        assert_eq!(c.packages, 2);
        assert_eq!(c.operating_system.as_deref(), Some("alpine 3.19.1"));
        assert_eq!(spdx(SPDX.as_bytes()).unwrap().packages, 2);
    }

    #[test]
    fn empty_and_foreign_documents_are_invalid() {
        assert!(cyclonedx(b"").unwrap_err().0.contains("empty"));
        assert!(spdx(b"").unwrap_err().0.contains("empty"));
        assert!(cyclonedx(SPDX.as_bytes()).is_err());
        assert!(spdx(CDX.as_bytes()).is_err());
        assert!(
            cyclonedx(br#"{"bomFormat":"SWID","specVersion":"1.6"}"#)
                .unwrap_err()
                .0
                .contains("SWID")
        );
    }
}
