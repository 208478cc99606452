//! The one finding model every scanner's report is parsed into, and the per-gate
//! outcome the policy produces from it. Everything here is plain data: parsers build
//! it, the policy annotates it, the writers render it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The gates, in the order `gate all` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateKind {
    Secrets,
    Image,
    Sbom,
    Iac,
    Deps,
}

impl GateKind {
    pub const ALL: [GateKind; 5] = [
        GateKind::Secrets,
        GateKind::Image,
        GateKind::Sbom,
        GateKind::Iac,
        GateKind::Deps,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GateKind::Secrets => "secrets",
            GateKind::Image => "image",
            GateKind::Sbom => "sbom",
            GateKind::Iac => "iac",
            GateKind::Deps => "deps",
        }
    }

    /// The scanner behind the gate.
    pub fn tool(self) -> Tool {
        match self {
            GateKind::Secrets => Tool::Gitleaks,
            GateKind::Image => Tool::Trivy,
            GateKind::Sbom => Tool::Syft,
            GateKind::Iac => Tool::Checkov,
            GateKind::Deps => Tool::Npm,
        }
    }
}

impl fmt::Display for GateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The external tools shipwatch drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    Gitleaks,
    Trivy,
    Syft,
    Checkov,
    Npm,
}

impl Tool {
    pub const ALL: [Tool; 5] = [
        Tool::Gitleaks,
        Tool::Trivy,
        Tool::Syft,
        Tool::Checkov,
        Tool::Npm,
    ];

    /// The executable's name, also the key under `[gates.tools]` and in the allowlist.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Gitleaks => "gitleaks",
            Tool::Trivy => "trivy",
            Tool::Syft => "syft",
            Tool::Checkov => "checkov",
            Tool::Npm => "npm",
        }
    }

    pub fn from_name(s: &str) -> Option<Tool> {
        Tool::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .or(match s {
                "npm-audit" | "npm_audit" => Some(Tool::Npm),
                _ => None,
            })
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One severity scale for every tool. npm's `moderate` is `Medium`, its `info` is `Info`;
/// Gitleaks has no severities, so every leaked secret is `High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Unknown,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Highest first, for tables.
    pub const DESCENDING: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
        Severity::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Case-insensitive; accepts the spellings of every supported tool.
    pub fn parse(s: &str) -> Option<Severity> {
        // No lowercase copy: this runs once per finding on reports of tens of thousands.
        const NAMES: &[(&str, Severity)] = &[
            ("critical", Severity::Critical),
            ("high", Severity::High),
            ("medium", Severity::Medium),
            ("moderate", Severity::Medium),
            ("low", Severity::Low),
            ("info", Severity::Info),
            ("informational", Severity::Info),
            ("negligible", Severity::Info),
            ("unknown", Severity::Unknown),
            ("none", Severity::Unknown),
            ("", Severity::Unknown),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, sev)| *sev)
    }

    /// The severity and, when `s` is no known word, `s` itself (see
    /// [`Finding::unrecognised_severity`]). Trivy's and npm's own `UNKNOWN` is known.
    pub fn judge(s: &str) -> (Severity, Option<String>) {
        match Severity::parse(s) {
            Some(sev) => (sev, None),
            None => (Severity::Unknown, Some(s.to_owned())),
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Severity::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a severity; use CRITICAL, HIGH, MEDIUM, LOW, INFO or UNKNOWN"
            ))
        })
    }
}

/// A set of severities, written in the config as a list (`["CRITICAL", "HIGH"]`) or `"any"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeveritySet(u8);

impl SeveritySet {
    pub fn any() -> Self {
        SeveritySet(Severity::DESCENDING.iter().fold(0, |acc, s| acc | s.bit()))
    }

    pub fn of(list: &[Severity]) -> Self {
        SeveritySet(list.iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// `s` and every severity above it: failing on HIGH while letting CRITICAL pass is
    /// never what a policy means. UNKNOWN ranks nowhere, so it adds only itself.
    pub fn with_and_above(self, s: Severity) -> Self {
        let above = match s {
            Severity::Unknown => s.bit(),
            _ => Severity::DESCENDING
                .iter()
                .filter(|x| **x != Severity::Unknown && **x >= s)
                .fold(0, |acc, x| acc | x.bit()),
        };
        SeveritySet(self.0 | above)
    }

    pub fn contains(self, s: Severity) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn is_any(self) -> bool {
        self == Self::any()
    }

    pub fn describe(self) -> String {
        if self.is_any() {
            return "any severity".into();
        }
        let names: Vec<&str> = Severity::DESCENDING
            .iter()
            .filter(|s| self.contains(**s))
            .map(|s| s.as_str())
            .collect();
        if names.is_empty() {
            "nothing".into()
        } else {
            names.join(", ")
        }
    }
}

impl Serialize for SeveritySet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_any() {
            return s.serialize_str("any");
        }
        let names: Vec<&str> = Severity::DESCENDING
            .iter()
            .filter(|x| self.contains(**x))
            .map(|x| x.as_str())
            .collect();
        names.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SeveritySet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let list = match Raw::deserialize(d)? {
            Raw::One(s) => vec![s],
            Raw::Many(v) => v,
        };
        let mut set = SeveritySet::default();
        for s in list {
            if s.eq_ignore_ascii_case("any") {
                set = SeveritySet::any();
            } else {
                let sev = Severity::parse(&s)
                    .filter(|_| !s.trim().is_empty())
                    .ok_or_else(|| {
                        serde::de::Error::custom(format!(
                            "`{s}` is not a severity; use \"any\" or a list of CRITICAL, HIGH, MEDIUM, LOW, INFO, UNKNOWN"
                        ))
                    })?;
                set = set.with_and_above(sev);
            }
        }
        Ok(set)
    }
}

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Secret,
    Vulnerability,
    Misconfiguration,
    /// A problem with the SBOM itself (empty, formats disagree).
    Sbom,
}

/// Where a finding is: a file and line, a package and version, or both
/// (a vulnerable package found through a lockfile).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.package, &self.file) {
            // write_str rather than write!: this runs once per finding in every output.
            (Some(p), file) => {
                f.write_str(p)?;
                if let Some(v) = &self.version {
                    f.write_str("@")?;
                    f.write_str(v)?;
                }
                if let Some(file) = file {
                    f.write_str(" (")?;
                    f.write_str(file)?;
                    f.write_str(")")?;
                }
                Ok(())
            }
            (None, Some(file)) => {
                f.write_str(file)?;
                match self.line {
                    Some(l) => write!(f, ":{l}"),
                    None => Ok(()),
                }
            }
            (None, None) => f.write_str("-"),
        }
    }
}

/// One problem reported by one tool. Holds no secret value: parsers never read the
/// `Secret`/`Match` fields of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub tool: Tool,
    pub category: Category,
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    pub location: Location,
    /// Stable across runs for the same problem in the same place; SARIF's partial fingerprint.
    pub fingerprint: String,
    pub fix_available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The tool's severity word when it is none this model knows (`severity` is then
    /// `Unknown`). Such a finding fails unless the policy fails nothing of its kind: a word
    /// from a newer tool version must not turn a finding into a pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrecognised_severity: Option<String>,
}

/// What a parser got out of a report.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub findings: Vec<Finding>,
    /// Facts about the scan worth showing (e.g. "checks passed: 25", "suppressed in source: 3").
    pub notes: Vec<String>,
    /// Entries the report holds that this gate does not judge (Trivy's license findings).
    /// They still explain a tool's "findings" exit code when `findings` is empty.
    pub unjudged: usize,
}

/// A report that cannot be trusted: empty, truncated, not JSON, or an unknown shape.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidReport(pub String);

impl fmt::Display for InvalidReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Turns a serde_json error into a message that says which of the traps it was.
pub fn json_problem(bytes: &[u8], e: &serde_json::Error) -> InvalidReport {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return InvalidReport("the report is empty".into());
    }
    let what = match e.classify() {
        serde_json::error::Category::Eof => "the report is truncated",
        serde_json::error::Category::Syntax => "the report is not valid JSON",
        serde_json::error::Category::Data => "the report has an unknown shape",
        serde_json::error::Category::Io => "the report could not be read",
    };
    InvalidReport(format!("{what} ({})", plain_json_error(e)))
}

/// serde's message without what must not or need not reach a reader: a value quoted
/// from the report (a secret-like string in a mistyped field) and shipwatch's own type
/// names (`struct Leak`, `untagged enum Via`). The position stays.
fn plain_json_error(e: &serde_json::Error) -> String {
    static RULES: std::sync::LazyLock<Vec<(regex::Regex, &'static str)>> =
        std::sync::LazyLock::new(|| {
            [
                (
                    r#"(invalid (?:type|value|length)): string "(?:[^"\\]|\\.)*""#,
                    "$1: a string",
                ),
                (
                    r"(invalid (?:type|value|length)): (?:integer|floating point) `[^`]*`",
                    "$1: a number",
                ),
                (
                    r"(invalid (?:type|value|length)): (?:char|bytes?) [^,]*",
                    "$1: a value",
                ),
                (r"unknown (variant|field) `[^`]*`", "an unknown $1"),
                (r"expected struct \w+", "expected an object"),
                (
                    r"data did not match any variant of untagged enum \w+",
                    "an entry of a form this gate does not know",
                ),
                (
                    r"expected (?:u8|u16|u32|u64|usize|i32|i64)\b",
                    "expected a whole number",
                ),
                (r"expected f64\b", "expected a number"),
                (r"expected a borrowed string", "expected a string"),
            ]
            .into_iter()
            .map(|(re, to)| (regex::Regex::new(re).expect("serde message pattern"), to))
            .collect()
        });
    let mut text = e.to_string();
    for (re, to) in RULES.iter() {
        text = re.replace_all(&text, *to).into_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_quote_no_value_and_no_type_name() {
        #[derive(Debug, Deserialize)]
        #[expect(dead_code, reason = "only the error matters")]
        struct Leak {
            n: u64,
        }
        #[derive(Debug, Deserialize)]
        #[serde(untagged)]
        #[expect(dead_code, reason = "only the error matters")]
        enum Via {
            A(Leak),
            B(String),
        }
        for (bytes, hidden) in [
            (&br#"["SWLEAK-s3cr3t-value"]"#[..], "s3cr3t"),
            (br#"{"n": "SWLEAK-s3cr3t-value"}"#, "s3cr3t"),
            (br#"{"n": -3}"#, "u64"),
        ] {
            let e = serde_json::from_slice::<Vec<Leak>>(bytes)
                .map(drop)
                .or_else(|_| serde_json::from_slice::<Leak>(bytes).map(drop))
                .unwrap_err();
            let text = json_problem(bytes, &e).0;
            assert!(!text.contains(hidden) && !text.contains("Leak"), "{text}");
            assert!(text.contains("line 1"), "{text}");
        }
        let e = serde_json::from_slice::<Vec<Via>>(b"[null]").unwrap_err();
        let text = json_problem(b"[null]", &e).0;
        assert!(
            !text.contains("Via") && text.contains("does not know"),
            "{text}"
        );
    }

    #[test]
    fn severity_spellings() {
        assert_eq!(Severity::parse("moderate"), Some(Severity::Medium));
        assert_eq!(Severity::parse("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::parse("bogus"), None);
        assert_eq!(
            Severity::judge("bogus"),
            (Severity::Unknown, Some("bogus".to_owned()))
        );
        assert_eq!(Severity::judge("UNKNOWN"), (Severity::Unknown, None));
        assert!(Severity::Critical > Severity::High);
    }

    #[test]
    fn severity_set_from_toml() {
        #[derive(Deserialize)]
        struct T {
            a: SeveritySet,
            b: SeveritySet,
        }
        let t: T = toml::from_str("a = \"any\"\nb = [\"critical\", \"HIGH\"]\n").unwrap();
        assert!(t.a.is_any());
        assert!(t.b.contains(Severity::High) && t.b.contains(Severity::Critical));
        assert!(!t.b.contains(Severity::Medium));
        assert!(toml::from_str::<T>("a = \"any\"\nb = [\"severe\"]\n").is_err());
        // A severity fails with everything above it, written alone or in a list; an
        // empty name is an error, not UNKNOWN; an empty list still means "never".
        let t: T = toml::from_str("a = \"HIGH\"\nb = [\"medium\", \"unknown\"]\n").unwrap();
        assert_eq!(t.a, SeveritySet::of(&[Severity::Critical, Severity::High]));
        assert_eq!(
            t.b,
            SeveritySet::of(&[
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Unknown
            ])
        );
        assert!(toml::from_str::<T>("a = \"\"\nb = []\n").is_err());
        let t: T = toml::from_str("a = []\nb = [\"LOW\"]\n").unwrap();
        assert!(
            t.a.is_empty() && !t.b.contains(Severity::Unknown) && t.b.contains(Severity::Critical)
        );
    }

    #[test]
    fn location_display() {
        let l = Location {
            file: Some("main.tf".into()),
            line: Some(3),
            ..Default::default()
        };
        assert_eq!(l.to_string(), "main.tf:3");
        let l = Location {
            package: Some("lodash".into()),
            version: Some("4.17.15".into()),
            ..Default::default()
        };
        assert_eq!(l.to_string(), "lodash@4.17.15");
    }

    #[test]
    fn json_problems_are_told_apart() {
        let e = serde_json::from_slice::<serde_json::Value>(b"").unwrap_err();
        assert!(json_problem(b"", &e).0.contains("empty"));
        let e = serde_json::from_slice::<serde_json::Value>(b"[{\"a\":").unwrap_err();
        assert!(json_problem(b"[{\"a\":", &e).0.contains("truncated"));
        let e = serde_json::from_slice::<serde_json::Value>(b"<html>").unwrap_err();
        assert!(json_problem(b"<html>", &e).0.contains("not valid JSON"));
    }
}
