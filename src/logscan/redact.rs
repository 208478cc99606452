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
        // Named secrets: the key stays (it explains what was there), the value goes.
        r(
            r#"(?i)([\w.\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credentials?|session[_\-]?id|cookie)["']?\s*[:=]\s*)(?:\[REDACTED[^\]]*\]|"[^"]*"|'[^']*'|[^\s,;&}\]"']+)"#,
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
        ])
        .expect("hint patterns")
});

/// Redacts every secret kind from `text`.
pub fn redact(text: &str) -> Cow<'_, str> {
    if !HINTS.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    for rule in RULES.iter() {
        if let Cow::Owned(s) = rule.re.replace_all(&out, rule.replace) {
            out = Cow::Owned(s);
        }
    }
    out
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
