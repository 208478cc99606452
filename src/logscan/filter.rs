//! CloudWatch Logs filter patterns that fetch only the lines that can be errors.
//!
//! A busy service writes thousands of lines a second, nearly all of them fine;
//! FilterLogEvents is limited to 5 calls a second per account, and each page holds at
//! most 10,000 events, so reading everything can take longer than anyone waits for a
//! report. A filter pattern lets CloudWatch drop the fine lines on its side. The
//! pattern is generated for the shape the first (unfiltered) page shows:
//!
//! - JSON lines: a JSON pattern on the level field found (numeric `>= 50` for pino and
//!   bunyan, the error words for string levels) or'ed with every 5xx status field found;
//! - text lines: `?` terms for the error words, exception markers and 5xx statuses;
//! - a mix of both, or nothing recognisable: no pattern, and the report says why.
//!
//! Patterns are a superset of what the analysis counts as an error where CloudWatch's
//! syntax allows; what it cannot express (an error word inside a longer word in a text
//! line) is said in the reason. Extra clauses (the latency section's slow requests)
//! are or'ed into a JSON pattern.

use crate::logscan::json::Json;
use crate::logscan::logline::lookup;

/// The chosen pattern (None: read everything) and why, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterChoice {
    pub pattern: Option<String>,
    pub reason: String,
    /// With a JSON pattern: the text pattern of a second pass for the text lines a
    /// JSON pattern never matches (a crash Node prints outside the logger, `FATAL
    /// ERROR … heap out of memory`); that pass feeds only the lines that are not JSON.
    pub companion: Option<String>,
}

/// Fields whose numeric value is a level where ≥ 50 is error (pino, bunyan).
const LEVEL_KEYS: &[&str] = &[
    "level",
    "lvl",
    "severity",
    "levelname",
    "level_name",
    "loglevel",
    "log_level",
    "severityText",
    "severity_text",
];
const STATUS_KEYS: &[&str] = &[
    "res.statusCode",
    "res.status",
    "statusCode",
    "status_code",
    "status",
    "http.status_code",
    "http.response.status_code",
    "response.status",
    "response.statusCode",
    "httpRequest.status",
];
const ERROR_WORDS: &[&str] = &[
    "error", "ERROR", "Error", "fatal", "FATAL", "Fatal", "critical", "CRITICAL", "panic", "PANIC",
    "emerg", "alert", "crit",
];
/// CloudWatch's limit on a filter pattern's length.
const MAX_PATTERN: usize = 1024;

/// The filter for lines like `sample` (the first page, unfiltered); `extra_json` are
/// JSON conditions or'ed in (without braces), e.g. `$.responseTime >= 1000`.
pub fn choose(sample: &[&str], extra_json: &[String]) -> FilterChoice {
    let lines: Vec<&str> = sample
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return none("the first page held no line to learn the shape from");
    }
    let json: Vec<Json> = lines
        .iter()
        .filter_map(|l| Json::parse(l).filter(Json::is_object))
        .collect();
    let text = lines.len() - json.len();
    if !json.is_empty() && text * 10 > lines.len() {
        return none(&format!(
            "the first page mixes JSON ({}) and text ({text}) lines, which one pattern cannot cover",
            json.len()
        ));
    }
    if json.is_empty() {
        return text_pattern();
    }
    json_pattern(&json, extra_json)
}

fn none(why: &str) -> FilterChoice {
    FilterChoice {
        pattern: None,
        reason: format!("no filter pattern: {why}; every line was read"),
        companion: None,
    }
}

/// `?term` for each error word, exception marker and 5xx status in text lines.
fn text_terms() -> String {
    let mut terms: Vec<String> = ERROR_WORDS.iter().map(|w| format!("?{w}")).collect();
    for m in ["Exception", "Traceback", "panic:", "\"Caused by\""] {
        terms.push(format!("?{m}"));
    }
    for s in 500..=504 {
        terms.push(format!("?\" {s} \""));
    }
    terms.join(" ")
}

fn text_pattern() -> FilterChoice {
    FilterChoice {
        pattern: Some(text_terms()),
        reason: "text lines: error words, exception markers and 5xx statuses as terms (CloudWatch matches whole terms, so an exception name inside a longer word is only found through the line's level)".into(),
        companion: None,
    }
}

/// A JSON pattern on the level and status fields the sample carries.
fn json_pattern(sample: &[Json], extra: &[String]) -> FilterChoice {
    let mut clauses: Vec<String> = Vec::new();
    let mut said: Vec<String> = Vec::new();
    if let Some((key, numeric)) = level_key(sample) {
        if numeric {
            clauses.push(format!("$.{key} >= 50"));
        } else {
            for w in ERROR_WORDS {
                clauses.push(format!("$.{key} = \"{w}\""));
            }
        }
        said.push(format!("level field `{key}`"));
    }
    let statuses: Vec<&str> = STATUS_KEYS
        .iter()
        .copied()
        .filter(|k| {
            sample
                .iter()
                .any(|v| selectable(v, k) && lookup(v, k).and_then(number).is_some())
        })
        .collect();
    for k in &statuses {
        clauses.push(format!("$.{k} >= 500"));
    }
    if !statuses.is_empty() {
        said.push(format!(
            "5xx in {}",
            statuses
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if clauses.is_empty() {
        return none(
            "the JSON lines of the first page carry no level or status field a pattern can select on",
        );
    }
    for e in extra {
        clauses.push(e.clone());
        said.push(e.clone());
    }
    let pattern = format!("{{ {} }}", clauses.join(" || "));
    if pattern.len() > MAX_PATTERN {
        return none("the generated pattern is longer than CloudWatch's 1,024 characters");
    }
    FilterChoice {
        pattern: Some(pattern),
        reason: format!(
            "JSON lines: {}; text lines (a crash printed outside the logger) through a second pass with the error words as terms",
            said.join("; ")
        ),
        companion: Some(text_terms()),
    }
}

/// The level field most sample lines carry, and whether its values are numbers.
fn level_key(sample: &[Json]) -> Option<(&'static str, bool)> {
    LEVEL_KEYS.iter().find_map(|k| {
        let vals: Vec<&Json> = sample.iter().filter_map(|v| field(v, k)).collect();
        (vals.len() * 2 >= sample.len())
            .then(|| (*k, vals.iter().all(|v| matches!(v, Json::Number(_)))))
    })
}

/// Whether CloudWatch's `$.a.b` selector reaches the value: nested objects all the
/// way (a literal dotted key such as `"http.status_code"` is not selectable).
fn selectable(v: &Json, path: &str) -> bool {
    let mut cur = v;
    for part in path.split('.') {
        match field(cur, part) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    true
}

/// The value of `key` in an object (the last one when repeated).
fn field<'a, 'j>(v: &'a Json<'j>, key: &str) -> Option<&'a Json<'j>> {
    v.as_object()?
        .iter()
        .rev()
        .find(|(k, _)| k.as_ref() == key)
        .map(|(_, v)| v)
}

fn number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(_) => v.as_f64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_pattern_brings_a_text_pass_for_the_lines_it_cannot_match() {
        let json = choose(
            &[r#"{"level":30,"msg":"ok"}"#, r#"{"level":50,"msg":"x"}"#],
            &[],
        );
        assert!(json.pattern.as_deref().is_some_and(|p| p.starts_with('{')));
        let companion = json.companion.expect("companion");
        assert!(
            companion.contains("?FATAL") && !companion.starts_with('{'),
            "{companion}"
        );
        let text = choose(
            &[
                "2026-01-01 10:00:00 ERROR boom",
                "2026-01-01 10:00:01 INFO ok",
            ],
            &[],
        );
        assert!(text.companion.is_none());
    }

    const PINO: &str = r#"{"level":30,"time":1,"pid":1,"hostname":"h","req":{"id":1,"method":"GET","url":"/a"},"res":{"statusCode":200},"responseTime":12,"msg":"request completed"}"#;

    #[test]
    fn pino_lines_get_a_numeric_level_and_their_status_field() {
        let c = choose(&[PINO, PINO], &[]);
        assert_eq!(
            c.pattern.as_deref(),
            Some("{ $.level >= 50 || $.res.statusCode >= 500 }"),
            "{c:?}"
        );
        let c = choose(&[PINO], &["$.responseTime >= 1000".into()]);
        assert!(c.pattern.unwrap().ends_with("|| $.responseTime >= 1000 }"));
    }

    #[test]
    fn string_levels_list_the_error_words() {
        let line = r#"{"level":"info","msg":"ok","status":200}"#;
        let p = choose(&[line], &[]).pattern.unwrap();
        assert!(p.contains(r#"$.level = "error""#), "{p}");
        assert!(p.contains(r#"$.level = "FATAL""#), "{p}");
        assert!(p.contains("$.status >= 500"), "{p}");
        assert!(!p.contains("statusCode"), "{p}");
    }

    #[test]
    fn a_literal_dotted_key_is_not_selected() {
        let line = r#"{"level":30,"http.status_code":200}"#;
        assert_eq!(
            choose(&[line], &[]).pattern.as_deref(),
            Some("{ $.level >= 50 }")
        );
    }

    #[test]
    fn text_lines_get_terms_and_mixed_or_empty_pages_no_pattern() {
        let t = choose(
            &[
                "2026-01-01 10:00:00 INFO started",
                "2026-01-01 10:00:01 INFO ok",
            ],
            &[],
        );
        // The same text is evaluated by the emulator's tests (test_report_patterns.py).
        assert_eq!(
            t.pattern.unwrap(),
            r#"?error ?ERROR ?Error ?fatal ?FATAL ?Fatal ?critical ?CRITICAL ?panic ?PANIC ?emerg ?alert ?crit ?Exception ?Traceback ?panic: ?"Caused by" ?" 500 " ?" 501 " ?" 502 " ?" 503 " ?" 504 ""#
        );
        let mixed = choose(&[PINO, "plain text", "more text"], &[]);
        assert_eq!(mixed.pattern, None);
        assert!(mixed.reason.contains("mixes JSON"), "{}", mixed.reason);
        assert_eq!(choose(&[], &[]).pattern, None);
        let bare = choose(&[r#"{"msg":"hi"}"#], &[]);
        assert_eq!(bare.pattern, None, "{bare:?}");
    }
}
