//! POSTing a payload to a webhook within a time budget: HTTP 429 is waited out when
//! its Retry-After fits the budget, a 5xx or a dropped connection is tried once more,
//! anything else is a failure described in words.
//!
//! A webhook URL is a secret (whoever has a Slack incoming-webhook URL can post to the
//! channel). It is held in [`SecretUrl`], whose Debug hides it; reqwest's errors carry
//! the URL, so they are stripped of it, and every text that leaves this file is passed
//! through [`SecretUrl::redact`] as well.

use serde_json::Value;
use std::time::{Duration, Instant};

/// A webhook URL that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: String) -> SecretUrl {
        SecretUrl(url)
    }

    /// The URL itself, for the request only.
    fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with the URL, and its path and query (where a webhook's token lives),
    /// replaced by `[webhook URL]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&self.0, "[webhook URL]");
        if let Some(rest) = self.0.split_once("://").map(|(_, r)| r)
            && let Some((_, path)) = rest.split_once('/')
            && path.len() >= 4
        {
            out = out.replace(path, "[webhook URL]");
        }
        out
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretUrl([redacted])")
    }
}

/// Where a payload goes, and where its URL came from (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// "Slack" or "webhook".
    pub name: &'static str,
    pub url: SecretUrl,
    /// "SHIPWATCH_SLACK_WEBHOOK_URL", "[notify] webhook_url", …
    pub origin: String,
}

/// What happened to one payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub target: &'static str,
    pub attempts: u32,
    /// HTTP 429 answers that were waited out.
    pub rate_limited: u32,
    /// `Err` holds the reason in words, with no URL in it.
    pub result: Result<u16, String>,
}

/// How long a request needs besides waiting: a Retry-After is only honoured when it
/// leaves this much of the budget.
const REQUEST_MARGIN: Duration = Duration::from_millis(500);
/// The pause before a 5xx or a failed connection is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Slack answers a 429 with Retry-After; when a receiver does not, wait this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// POSTs `payload` as JSON to `to` until it is accepted or `budget` is spent.
pub async fn post(to: &Endpoint, payload: &Value, budget: Duration) -> Delivery {
    let deadline = Instant::now() + budget;
    let mut d = Delivery {
        target: to.name,
        attempts: 0,
        rate_limited: 0,
        result: Err(String::new()),
    };
    let client = match reqwest::Client::builder()
        .user_agent(concat!("shipwatch/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            d.result = Err(to.url.redact(&describe(e.without_url(), budget)));
            return d;
        }
    };
    let mut retried_failure = false;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            d.result = Err(format!(
                "no answer within the {} s budget",
                budget.as_secs_f64()
            ));
            return d;
        }
        d.attempts += 1;
        let sent = client
            .post(to.url.expose())
            .json(payload)
            .timeout(remaining)
            .send()
            .await;
        let wait = match sent {
            Err(e) => {
                let why = to.url.redact(&describe(e.without_url(), remaining));
                if retried_failure || !fits(RETRY_PAUSE, deadline) {
                    d.result = Err(why);
                    return d;
                }
                retried_failure = true;
                RETRY_PAUSE
            }
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    d.result = Ok(status.as_u16());
                    return d;
                }
                if status.as_u16() == 429 {
                    let asked = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after(v, chrono::Utc::now()))
                        .unwrap_or(DEFAULT_RETRY_AFTER);
                    if !fits(asked, deadline) {
                        d.result = Err(format!(
                            "rate-limited (HTTP 429) and asked to wait {} s, more than the {:.1} s left of the budget",
                            asked.as_secs_f64(),
                            deadline
                                .saturating_duration_since(Instant::now())
                                .as_secs_f64()
                        ));
                        return d;
                    }
                    d.rate_limited += 1;
                    asked
                } else {
                    let body = resp.text().await.unwrap_or_default();
                    let why = format!(
                        "HTTP {}{}",
                        status.as_u16(),
                        body_words(&to.url.redact(&body))
                    );
                    if !status.is_server_error() || retried_failure || !fits(RETRY_PAUSE, deadline)
                    {
                        d.result = Err(why);
                        return d;
                    }
                    retried_failure = true;
                    RETRY_PAUSE
                }
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Whether waiting `wait` still leaves time for one more request before `deadline`.
fn fits(wait: Duration, deadline: Instant) -> bool {
    Instant::now() + wait + REQUEST_MARGIN <= deadline
}

/// Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// ": invalid_payload" from a receiver's answer, cut to a readable length.
fn body_words(body: &str) -> String {
    // A receiver's answer is foreign text bound for the Jenkins log: no control
    // characters (colour escapes), and any secret in it redacted (a Slack path echoed
    // back, a token).
    let clean: String = crate::logscan::normalise::strip_ansi(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = crate::logscan::redact::redact(&clean);
    let b: String = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if b.is_empty() {
        return String::new();
    }
    let cut: String = b.chars().take(200).collect();
    format!(": {cut}{}", if b.chars().count() > 200 { "…" } else { "" })
}

/// A request failure in words (the URL is already stripped).
fn describe(e: reqwest::Error, limit: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {:.1} s", limit.as_secs_f64());
    }
    if e.is_connect() {
        return format!("cannot connect: {}", root_cause(&e));
    }
    chain(&e)
}

/// The innermost source: for a failed connection, the words that say why ("Connection
/// refused (os error 111)", "failed to lookup address information").
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}

/// The error and its sources, joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reaches_the_log_without_colour_codes_or_secrets() {
        let w = body_words("\u{1b}[31mno_service\u{1b}[0m for /services/T0S/B0S/tokenZZZZ7777");
        assert!(!w.contains('\u{1b}') && !w.contains("tokenZZZZ7777"), "{w}");
        assert!(w.contains("no_service"), "{w}");
    }
    use chrono::TimeZone;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 21, 0, 0).unwrap();
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Sun, 06 Dec 2026 21:00:02 GMT", now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after("Sun, 06 Dec 2026 20:59:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn a_wait_must_leave_room_for_the_request() {
        let deadline = Instant::now() + Duration::from_secs(3);
        assert!(fits(Duration::from_secs(1), deadline));
        assert!(!fits(Duration::from_secs(3), deadline));
    }

    #[test]
    fn the_url_and_its_token_never_show() {
        let u = SecretUrl::new("https://hooks.example.com/services/T000/B000/XXXXSECRET".into());
        assert_eq!(format!("{u:?}"), "SecretUrl([redacted])");
        let t = u.redact("POST https://hooks.example.com/services/T000/B000/XXXXSECRET failed; path services/T000/B000/XXXXSECRET");
        assert!(!t.contains("XXXXSECRET"), "{t}");
        assert!(!t.contains("T000/B000"), "{t}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_described_without_the_url() {
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/services/T1/B2/tokenvalue");
        let to = Endpoint {
            name: "Slack",
            url: SecretUrl::new(url.clone()),
            origin: "TEST".into(),
        };
        let d = post(
            &to,
            &serde_json::json!({"text": "x"}),
            Duration::from_secs(2),
        )
        .await;
        let why = d.result.unwrap_err();
        assert!(why.contains("cannot connect"), "{why}");
        assert!(!why.contains("tokenvalue") && !why.contains(&url), "{why}");
        assert_eq!(d.attempts, 2, "a failed connection is tried once more");
    }
}
