//! The two SBOMs Syft writes (CycloneDX JSON and SPDX JSON): check that each parses and
//! count its packages the same way, so the gate can demand they agree and are not empty.
//!
//! Counting rule, measured on Syft 1.18 output: CycloneDX lists the operating system as a
//! component of type `operating-system`, SPDX does not list it as a package; SPDX adds a
//! document-root package (`SPDXRef-DocumentRoot-…`) that CycloneDX keeps in `metadata`.
//! Both are left out.

use super::model::{InvalidReport, json_problem};
use serde::Deserialize;

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
