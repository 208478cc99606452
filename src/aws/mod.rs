//! The only module that talks to AWS: one set of flags → one `SdkConfig` → clients,
//! and thin functions that turn SDK shapes into the domain types the rest of shipwatch uses.

pub mod alarm_state;
pub mod cloudwatch;
pub mod codedeploy;
pub mod colour_logs;
pub mod ecr;
pub mod ecs;
pub mod elb;
pub mod evidence;
pub mod failure;
pub mod incident;
pub mod latency;
pub mod logs;
pub mod model;
pub mod probe;
pub mod tasks;
pub mod tg_metrics;

use std::sync::OnceLock;
use std::time::Duration;

/// How to reach AWS, after flags, environment and the configuration file were layered.
/// Unset fields fall back to the SDK's own provider chain (AWS_PROFILE, AWS_REGION,
/// AWS_ENDPOINT_URL, profile files, instance roles).
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per call (throttling, 5xx, timeouts and lost connections are retried).
    pub max_attempts: u32,
    /// The region when no source names one.
    pub fallback_region: String,
    /// One attempt's limit (connect, send, answer); a hung endpoint becomes a retried
    /// timeout. Zero: no limit.
    pub attempt_timeout: Duration,
    /// One call's limit across all its attempts and backoffs. Zero: no limit.
    pub operation_timeout: Duration,
    /// The longest backoff between two attempts of one call.
    pub max_backoff: Duration,
}

/// What error messages need to know about the connection: set once by
/// [`Clients::connect`]. A process talks to one endpoint, and `sdk_error` is called
/// from every call site without the clients at hand.
struct ErrorContext {
    endpoint: String,
    attempt_timeout: Duration,
    operation_timeout: Duration,
    max_attempts: u32,
}

static CONTEXT: OnceLock<ErrorContext> = OnceLock::new();

fn context() -> &'static ErrorContext {
    CONTEXT.get_or_init(|| ErrorContext {
        endpoint: "the AWS endpoint".into(),
        attempt_timeout: Duration::ZERO,
        operation_timeout: Duration::ZERO,
        max_attempts: 1,
    })
}

/// The retry policy of a long-running poller: standard retries (no client-side rate
/// limiter, which sleeps 8–18 s per throttled retry in adaptive mode) with a short,
/// bounded backoff, so throttling delays a call by seconds. The watch loop retries a
/// failed read at its next poll anyway.
pub fn retry_config(args: &Connection) -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(args.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(if args.max_backoff.is_zero() {
            Duration::from_secs(2)
        } else {
            args.max_backoff
        })
}

/// Attempt and operation timeouts; zero leaves a limit off.
pub fn timeout_config(args: &Connection) -> aws_config::timeout::TimeoutConfig {
    let mut b = aws_config::timeout::TimeoutConfig::builder();
    if !args.attempt_timeout.is_zero() {
        b = b
            .operation_attempt_timeout(args.attempt_timeout)
            .connect_timeout(args.attempt_timeout.min(Duration::from_secs(5)))
            .read_timeout(args.attempt_timeout);
    }
    if !args.operation_timeout.is_zero() {
        b = b.operation_timeout(args.operation_timeout);
    }
    b.build()
}

/// What the SDK would otherwise get wrong quietly, checked before any call: an endpoint
/// that is no http(s) URL (every call would fail as "AWS error"), and a named profile
/// that exists in neither shared file (with keys in the environment the SDK would use
/// those instead and never say so). `env` reads the environment (a seam for tests).
pub fn check_connection(
    args: &Connection,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> crate::error::Result<()> {
    use crate::error::Error;
    if let Some(url) = &args.endpoint_url {
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or("");
        if host.is_empty() || host.starts_with('/') {
            return Err(Error::Usage(format!(
                "the AWS endpoint `{url}` (--endpoint-url or AWS_ENDPOINT_URL) is not an http(s) URL; give one like http://127.0.0.1:4566, or unset it to use AWS's own endpoints"
            )));
        }
    }
    let named = args
        .profile
        .clone()
        .or_else(|| env("AWS_PROFILE").map(|p| p.to_string_lossy().into_owned()))
        .filter(|p| !p.is_empty() && p != "default");
    let Some(profile) = named else {
        return Ok(());
    };
    let home = env("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let file = |var: &str, rel: &str| {
        env(var)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(rel))
    };
    let files = [
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    ];
    let declares = |text: &str| {
        text.lines().any(|l| {
            let l = l.trim();
            l.strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .map(|h| h.trim())
                .is_some_and(|h| {
                    h == profile
                        || h.strip_prefix("profile").is_some_and(|rest| {
                            rest.starts_with(char::is_whitespace) && rest.trim() == profile
                        })
                })
        })
    };
    if files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .any(|t| declares(&t))
    {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "the AWS profile `{profile}` (--profile or AWS_PROFILE) is in neither {} nor {}; name a profile those files declare, or drop --profile to use the environment's credentials",
        files[0].display(),
        files[1].display()
    )))
}

/// Builds the one `SdkConfig` every client is made from.
pub async fn sdk_config(args: &Connection) -> aws_config::SdkConfig {
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::{BehaviorVersion, Region};

    let explicit = args.region.clone().map(Region::new);
    let region = RegionProviderChain::first_try(explicit)
        .or_default_provider()
        .or_else(Region::new(args.fallback_region.clone()));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(retry_config(args))
        .timeout_config(timeout_config(args));
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Every AWS client shipwatch uses, built from one `SdkConfig`. Tests build it from
/// `aws-smithy-mocks` clients instead.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub region: String,
}

/// Each client gets its own retry partition with an unbounded retry quota: the SDK's
/// default quota is shared by every client of a process, so throttled log reads could
/// use up the retries of the alarm poll. Attempts per call stay bounded by
/// `max_attempts`, and one process makes a handful of calls a second, far from a storm.
macro_rules! client {
    ($krate:ident, $conf:expr, $name:literal) => {{
        use $krate::config::retry::{RetryPartition, TokenBucket};
        let conf = $krate::config::Builder::from($conf)
            .retry_partition(
                RetryPartition::custom(concat!("shipwatch-", $name))
                    .token_bucket(TokenBucket::unlimited())
                    .build(),
            )
            .build();
        $krate::Client::from_conf(conf)
    }};
}

impl Clients {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Clients {
            ecs: client!(aws_sdk_ecs, conf, "ecs"),
            ecr: client!(aws_sdk_ecr, conf, "ecr"),
            codedeploy: client!(aws_sdk_codedeploy, conf, "codedeploy"),
            cloudwatch: client!(aws_sdk_cloudwatch, conf, "cloudwatch"),
            logs: client!(aws_sdk_cloudwatchlogs, conf, "logs"),
            elb: client!(aws_sdk_elasticloadbalancingv2, conf, "elb"),
            region: conf.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// Connects as the settings say.
    pub async fn connect(conn: &Connection) -> crate::error::Result<Self> {
        check_connection(conn, |k| std::env::var_os(k))?;
        let conf = sdk_config(conn).await;
        let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
        let _ = CONTEXT.set(ErrorContext {
            endpoint: conf
                .endpoint_url()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the AWS endpoints of region {region}")),
            attempt_timeout: conn.attempt_timeout,
            operation_timeout: conn.operation_timeout,
            max_attempts: conn.max_attempts.max(1),
        });
        Ok(Self::new(&conf))
    }
}

/// Turns an SDK error into shipwatch's error: one plain paragraph (what shipwatch was
/// doing, the operation, the cause in words, what to do). The full error chain is
/// logged at -v, never put in the message.
pub fn sdk_error<E>(
    operation: &str,
    err: aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>,
) -> crate::error::Error
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_ecs::error::SdkError;
    let ctx = context();
    let cause = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            // Errors built without metadata (mocks, modeled errors) carry their text
            // only in Display.
            let text = e
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| e.to_string());
            failure::service_cause(
                operation,
                e.code(),
                Some(text.as_str()),
                se.raw().status().as_u16(),
                ctx.max_attempts,
            )
        }
        SdkError::TimeoutError(_) => failure::Cause::TimedOut {
            after: if ctx.operation_timeout.is_zero() {
                ctx.attempt_timeout
            } else {
                ctx.operation_timeout
            },
        },
        SdkError::DispatchFailure(d) => {
            let src: &(dyn std::error::Error + 'static) = &err;
            failure::transport_cause(
                &failure::chain(src),
                failure::io_kind(src),
                d.is_timeout(),
                &ctx.endpoint,
                ctx.attempt_timeout,
            )
        }
        SdkError::ResponseError(_) => failure::Cause::BadResponse {
            detail: failure::chain(&err).last().cloned().unwrap_or_default(),
        },
        _ => {
            let src: &(dyn std::error::Error + 'static) = &err;
            failure::transport_cause(
                &failure::chain(src),
                failure::io_kind(src),
                false,
                &ctx.endpoint,
                ctx.attempt_timeout,
            )
        }
    };
    tracing::info!(
        "AWS {operation} failed: {}",
        failure::chain(&err).join(": ")
    );
    aws_error(operation, &cause)
}

/// shipwatch's error for a failed AWS call with a classified cause.
pub fn aws_error(operation: &str, cause: &failure::Cause) -> crate::error::Error {
    crate::error::Error::Aws {
        operation: operation.to_owned(),
        message: failure::paragraph(operation, cause),
        cause: cause.short(),
        transient: cause.is_transient(),
        unreachable: cause.is_unreachable(),
    }
}

/// The error code of a service error, for branching on specific AWS exceptions.
pub fn error_code<E, R>(err: &aws_sdk_ecs::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata,
{
    match err {
        aws_sdk_ecs::error::SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// Converts an SDK timestamp to chrono.
pub fn to_chrono(t: &aws_smithy_types::DateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(profile: Option<&str>, endpoint: Option<&str>) -> Connection {
        Connection {
            profile: profile.map(str::to_owned),
            region: None,
            endpoint_url: endpoint.map(str::to_owned),
            max_attempts: 1,
            fallback_region: "us-east-1".into(),
            attempt_timeout: Duration::ZERO,
            operation_timeout: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    #[test]
    fn profiles_must_exist_and_endpoints_must_be_urls() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[default]\n[profile prod]\nregion = eu-west-1\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[ci]\naws_access_key_id = x\n",
        )
        .unwrap();
        let h = home.path().as_os_str().to_owned();
        let env = |profile: Option<&'static str>| {
            let h = h.clone();
            move |k: &str| match k {
                "HOME" => Some(h.clone()),
                "AWS_PROFILE" => profile.map(Into::into),
                _ => None,
            }
        };
        for ok in [Some("prod"), Some("ci"), Some("default"), None] {
            check_connection(&conn(ok, None), env(None)).unwrap();
        }
        let e = check_connection(&conn(Some("nope"), None), env(None)).unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        assert!(e.to_string().contains("`nope`"), "{e}");
        assert!(check_connection(&conn(None, None), env(Some("nope"))).is_err());
        assert!(check_connection(&conn(None, Some("notaurl")), env(None)).is_err());
        check_connection(&conn(None, Some("http://127.0.0.1:4566")), env(None)).unwrap();
    }
}
