//! Secret redaction: every piece of log or trace text goes through [`redact`] before
//! it is stored in the report model, so no output (Markdown, HTML, JSON, stdout) can
//! carry a credential that an application happened to log.
//!
//! Kinds covered: private keys (PEM blocks, also cut off ones), AWS access key ids,
//! AWS secret keys and other `password`/`secret`/`token`/`api_key` values (JSON,
//! `key=value`, `key: value`), bearer/basic authorization values, passwords in URLs
//! (`scheme://user:password@host`) and JWTs.

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

struct Rule {
    re: Regex,
    replace: &'static str,
}

/// The name part of a named secret, up to and including `:` or `=`.
const SECRET_KEY: &str = r#"(?i)([\w.\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credentials?|session[_\-]?id|cookie)["']?\s*[:=]\s*)"#;

/// A candidate for a bare AWS secret access key: 40 characters of base64 standing
/// alone; [`looks_like_aws_secret`] decides.
static BARE_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(^|[^A-Za-z0-9/+=_\-])([A-Za-z0-9/+]{40})($|[^A-Za-z0-9/+=_\-])")
        .expect("bare secret pattern")
});

/// Both cases and a digit or `/`/`+`: a git sha or hex digest has no capitals, and a
/// word or identifier of exactly 40 letters is rare enough to lose.
fn looks_like_aws_secret(s: &str) -> bool {
    let has = |f: fn(&u8) -> bool| s.as_bytes().iter().any(f);
    has(u8::is_ascii_uppercase)
        && has(u8::is_ascii_lowercase)
        && has(|b| b.is_ascii_digit() || *b == b'/' || *b == b'+')
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let r = |re: &str, replace: &'static str| Rule {
        re: Regex::new(re).expect("redaction pattern"),
        replace,
    };
    vec![
        // A PEM private key, including one truncated by a log line limit (no END line).
        r(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----(?s:.*?)(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\z)",
            "[REDACTED PRIVATE KEY]",
        ),
        // Passwords in URLs: keep scheme and user, drop the password.
        r(
            r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@",
            "${1}[REDACTED]@",
        ),
        // Authorization header values and bare bearer tokens.
        r(
            r#"(?i)(authorization["']?\s*[:=]\s*["']?)(?:(bearer|basic|token|digest|negotiate)\s+)?[^\s"',;]+"#,
            "${1}${2} [REDACTED]",
        ),
        r(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*", "${1} [REDACTED]"),
        // JSON Web Tokens (header.payload.signature).
        r(
            r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
            "[REDACTED JWT]",
        ),
        // AWS access key ids.
        r(
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b",
            "[REDACTED AWS KEY ID]",
        ),
        // GitHub tokens (personal, OAuth, app, refresh, fine-grained) and Slack tokens.
        r(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
            "[REDACTED GITHUB TOKEN]",
        ),
        r(
            r"\bxox[abposre]-[A-Za-z0-9\-]{8,}",
            "[REDACTED SLACK TOKEN]",
        ),
        // A Slack incoming-webhook path (its token is the last part).
        r(
            r"/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+",
            "/services/[REDACTED]",
        ),
        // Named secrets: the key stays (it explains what was there), the value goes. A
        // quoted value stays quoted, so a JSON line is still JSON after redaction (the
        // report parses lines after redacting whole events).
        r(
            &format!(r#"{SECRET_KEY}"(?:[^"\\]|\\.)*""#),
            r#"${1}"[REDACTED]""#,
        ),
        r(&format!(r"{SECRET_KEY}'[^']*'"), "${1}'[REDACTED]'"),
        r(
            &format!(r#"{SECRET_KEY}(?:\[REDACTED[^\]]*\]|[^\s,;&}}\]"']+)"#),
            "${1}[REDACTED]",
        ),
    ]
});

/// Cheap first look: most lines contain none of these, and then no regex runs.
static HINTS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build([
            "private key",
            "://",
            "authorization",
            "bearer",
            "eyj",
            "akia",
            "asia",
            "agpa",
            "aida",
            "aroa",
            "anpa",
            "anva",
            "aipa",
            "abia",
            "acca",
            "passw",
            "pwd",
            "secret",
            "token",
            "key",
            "credential",
            "session",
            "cookie",
            "gh",
            "github_pat_",
            "xox",
            "/services/",
        ])
        .expect("hint patterns")
});

/// Redacts every secret kind from `text`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if HINTS.is_match(text) {
        for rule in RULES.iter() {
            if let Cow::Owned(s) = rule.re.replace_all(&out, rule.replace) {
                out = Cow::Owned(s);
            }
        }
    }
    // A bare key has no name to hint at it, so this pass runs on every text.
    if !BARE_SECRET.is_match(&out) {
        return out;
    }
    let bare = BARE_SECRET.replace_all(&out, |c: &regex::Captures| {
        if looks_like_aws_secret(&c[2]) {
            format!("{}[REDACTED]{}", &c[1], &c[3])
        } else {
            c[0].to_owned()
        }
    });
    match bare {
        Cow::Owned(s) => Cow::Owned(s),
        Cow::Borrowed(_) => out,
    }
}

/// Redacts and owns; for the many places that store a `String`.
pub fn redact_owned(text: &str) -> String {
    redact(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    fn no_leak(input: &str, secret: &str) -> String {
        let out = redact(input).into_owned();
        assert!(
            !out.contains(secret),
            "secret {secret:?} survived in {out:?}"
        );
        assert!(out.contains("REDACTED"), "nothing marked in {out:?}");
        out
    }

    #[test]
    fn aws_access_key_id() {
        let out = no_leak(
            "using key AKIAIOSFODNN7EXAMPLE for s3",
            "AKIAIOSFODNN7EXAMPLE",
        );
        assert_eq!(out, "using key [REDACTED AWS KEY ID] for s3");
        no_leak(
            "temp creds ASIAY34FZKBOKMUTVV7A expired",
            "ASIAY34FZKBOKMUTVV7A",
        );
    }

    #[test]
    fn aws_secret_access_key() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        no_leak(&format!("aws_secret_access_key={secret}"), secret);
        no_leak(
            &format!(r#"{{"AWS_SECRET_ACCESS_KEY": "{secret}"}}"#),
            secret,
        );
    }

    #[test]
    fn bearer_tokens() {
        no_leak("Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123");
        no_leak(r#"{"authorization":"Bearer s3cr3tT0ken"}"#, "s3cr3tT0ken");
        no_leak("calling upstream with bearer zzTOPsecret==", "zzTOPsecret");
        no_leak("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz");
    }

    #[test]
    fn passwords_in_urls() {
        let out = no_leak(
            "connect postgres://orders:hunter2@db.internal:5432/orders failed",
            "hunter2",
        );
        assert!(
            out.contains("postgres://orders:[REDACTED]@db.internal:5432/orders"),
            "{out}"
        );
        no_leak("GET https://user:pa%24%24@api.example.com/x", "pa%24%24");
    }

    #[test]
    fn password_secret_token_values() {
        no_leak("login failed password=hunter2 user=bob", "hunter2");
        no_leak(
            r#"{"db_password":"correct horse battery"}"#,
            "correct horse",
        );
        no_leak("client_secret: abcd1234efgh", "abcd1234efgh");
        no_leak("refresh_token=rt-998877&x=1", "rt-998877");
        no_leak("X-Api-Key: 0123456789abcdef", "0123456789abcdef");
        // A value already redacted by another rule is replaced whole, not split.
        assert_eq!(
            redact("api_key=AKIAIOSFODNN7EXAMPLE next"),
            "api_key=[REDACTED] next"
        );
        let out = no_leak("password='p a s s' next=1", "p a s s");
        assert!(out.contains("next=1"), "{out}");
    }

    #[test]
    fn quoted_values_stay_quoted_so_json_stays_json() {
        for line in [
            r#"{"level":50,"msg":"m","req":{"headers":{"cookie":"session=s3cr3tsession"}}}"#,
            r#"{"level":50,"msg":"m","set-cookie":"a=\"s3cr3tsession\"; Path=/"}"#,
            r#"{"password":"s3cr3tsession","n":1}"#,
        ] {
            let out = no_leak(line, "s3cr3tsession");
            let v: serde_json::Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("{out:?} is no longer JSON: {e}"));
            assert!(v.to_string().contains("[REDACTED]"), "{v}");
        }
    }

    #[test]
    fn github_and_slack_tokens_and_bare_aws_secret_keys() {
        no_leak(
            "clone with ghp_16C7e42F292c6912E7710c838347Ae178B4a failed",
            "16C7e42F292c6912E7710c838347Ae178B4a",
        );
        no_leak(
            "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789",
            "mnopqrstuvwxyz0123456789",
        );
        let out = no_leak(
            "slack post failed for xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "AbCdEfGhIjKlMnOpQrStUvWx",
        );
        assert!(!out.contains("1234567890123"), "{out}");
        no_leak(
            "404 no_service for /services/T0SECRET/B0SECRET/tokenZZZZ7777",
            "tokenZZZZ7777",
        );
        no_leak(
            "creds AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        // Forty hex digits (a git sha) and ordinary words stay.
        for s in [
            "deployed 730d643e7da694300823ae7330d1506c6c6e8b05 to green",
            "ghost town",
        ] {
            assert_eq!(redact(s), s);
        }
    }

    #[test]
    fn private_keys() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nqwerty\n-----END RSA PRIVATE KEY-----";
        let out = no_leak(&format!("loaded {pem} ok"), "MIIEowIBAAKCAQEA7");
        assert_eq!(out, "loaded [REDACTED PRIVATE KEY] ok");
        no_leak(
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqh",
            "MIIEvQIBADANBgkqh",
        );
    }

    #[test]
    fn jwt() {
        no_leak(
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        );
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for s in [
            "Database connection refused",
            "GET /api/orders 500 in 12ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
            "max_tokens=5 keyboard=us",
            "TypeError: Cannot read properties of undefined (reading 'split')",
        ] {
            assert_eq!(redact(s), s);
        }
    }
}
