//! Why an AWS call failed, in words: the SDK's error is classified into a `Cause` once,
//! and every message a user sees is built from it by pure functions (snapshot-tested),
//! so no Rust debug dump or log line ever reaches an error paragraph.

use std::time::Duration;

/// What went wrong with one AWS call, as far as a user can act on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// Nothing listens at the endpoint (TCP connection refused).
    ConnectionRefused { endpoint: String },
    /// The connection was closed or reset before an answer came.
    ConnectionLost { endpoint: String },
    /// The host name of the endpoint does not resolve.
    UnknownHost { endpoint: String },
    /// No answer within the attempt or operation timeout.
    TimedOut { after: Duration },
    /// AWS throttled the call on every attempt.
    Throttled { code: String, attempts: u32 },
    /// AWS answered 5xx on every attempt.
    ServerError { code: String, attempts: u32 },
    /// The caller's identity may not do this.
    AccessDenied { action: String, message: String },
    /// No credentials provider in the chain produced credentials.
    NoCredentials,
    /// Credentials were found but AWS rejected them (expired, unknown key).
    BadCredentials { code: String, message: String },
    /// Any other error AWS answered with.
    Service { code: String, message: String },
    /// The answer could not be read.
    BadResponse { detail: String },
    /// Anything else (request not built, unexpected failure).
    Other { detail: String },
}

impl Cause {
    /// Whether trying again later may help: the network, timeouts, throttling and 5xx.
    /// Permission and validation errors will not go away by waiting.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Cause::ConnectionRefused { .. }
                | Cause::ConnectionLost { .. }
                | Cause::TimedOut { .. }
                | Cause::Throttled { .. }
                | Cause::ServerError { .. }
                | Cause::BadResponse { .. }
        )
    }

    /// AWS was not reached, or would not accept the caller at all: what is transient,
    /// and missing or rejected credentials (as opposed to one call being refused).
    pub fn is_unreachable(&self) -> bool {
        self.is_transient() || matches!(self, Cause::NoCredentials | Cause::BadCredentials { .. })
    }

    /// The cause in a few words, for a retry line.
    pub fn short(&self) -> String {
        match self {
            Cause::ConnectionRefused { endpoint } => format!("connection refused by {endpoint}"),
            Cause::ConnectionLost { endpoint } => {
                format!("the connection to {endpoint} was closed before AWS answered")
            }
            Cause::UnknownHost { endpoint } => format!("the host of {endpoint} does not resolve"),
            Cause::TimedOut { after } => format!("no answer within {}", secs(*after)),
            Cause::Throttled { code, attempts } => {
                format!("throttled by AWS ({code}) on all {attempts} attempts")
            }
            Cause::ServerError { code, attempts } => {
                format!("AWS answered a server error ({code}) on all {attempts} attempts")
            }
            Cause::AccessDenied { action, .. } => format!("access denied for {action}"),
            Cause::NoCredentials => "no AWS credentials were found".into(),
            Cause::BadCredentials { code, .. } => {
                format!("AWS rejected the credentials ({code})")
            }
            Cause::Service { code, message } if message.is_empty() => code.clone(),
            Cause::Service { code, message } => format!("{code}: {message}"),
            Cause::BadResponse { detail } => format!("the answer could not be read ({detail})"),
            Cause::Other { detail } => detail.clone(),
        }
    }

    /// What a user can do about it.
    fn advice(&self) -> &'static str {
        match self {
            Cause::ConnectionRefused { .. }
            | Cause::ConnectionLost { .. }
            | Cause::UnknownHost { .. } => {
                "Check the network, AWS_ENDPOINT_URL / --endpoint-url and the region."
            }
            Cause::TimedOut { .. } => {
                "AWS or the network is slow or unreachable; retry, or raise --attempt-timeout / --operation-timeout."
            }
            Cause::Throttled { .. } => {
                "Too many calls share this account's API rate; retry later (a deploy or watch can lower its polling rate with [watch] poll_interval and alarm_poll_interval)."
            }
            Cause::ServerError { .. } => {
                "This is on AWS's side; retry in a few minutes and check the AWS Health Dashboard."
            }
            Cause::AccessDenied { .. } => {
                "Grant that action to the role or user shipwatch runs as."
            }
            Cause::NoCredentials => {
                "Looked in: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile (AWS_PROFILE or --profile) in ~/.aws/credentials and ~/.aws/config, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container role and the EC2 instance role. Set one of them (in Jenkins: withAWS or withCredentials)."
            }
            Cause::BadCredentials { .. } => {
                "Refresh the credentials (an expired session or a deleted key), or pick another profile."
            }
            Cause::Service { .. } => "Check the names and values in the configuration.",
            Cause::BadResponse { .. } | Cause::Other { .. } => {
                "Retry; run with -v to see the full error chain."
            }
        }
    }
}

/// A duration as a user reads it: `10 s`, `1.5 s`, `300 ms`.
pub fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// What shipwatch was doing when `operation` failed, for the start of the paragraph.
pub fn doing(operation: &str) -> &'static str {
    match operation.split(':').nth(1).unwrap_or(operation) {
        "GetDeploymentGroup" => "checking the CodeDeploy deployment group",
        "GetDeploymentConfig" => "reading the deployment configuration",
        "GetDeployment" => "reading the deployment's status",
        "GetDeploymentTarget" | "ListDeploymentTargets" => {
            "reading the deployment's ECS target (traffic and lifecycle)"
        }
        "ListDeployments" => "listing the deployment group's deployments",
        "CreateDeployment" => "creating the deployment",
        "StopDeployment" => "stopping the deployment",
        "DescribeServices" => "reading the ECS service",
        "DescribeTaskDefinition" => "reading the task definition",
        "RegisterTaskDefinition" => "registering the task definition",
        "DeregisterTaskDefinition" => "deregistering the task definition",
        "ListTasks" | "DescribeTasks" => "reading the service's tasks",
        "DescribeImages" | "DescribeRepositories" => "looking up the image in ECR",
        "DescribeAlarms" => "reading the watched alarms",
        "DescribeAlarmHistory" => "reading the alarm history",
        "GetMetricData" | "ListMetrics" => "reading CloudWatch metrics",
        "FilterLogEvents" => "reading the service's logs",
        _ => "calling AWS",
    }
}

/// The one paragraph for a failed call: what shipwatch was doing, the operation, the
/// cause in words and what to do.
pub fn paragraph(operation: &str, cause: &Cause) -> String {
    let detail = match cause {
        Cause::AccessDenied { message, .. } | Cause::BadCredentials { message, .. }
            if !message.is_empty() =>
        {
            format!(" AWS said: {}.", message.trim_end_matches('.'))
        }
        _ => String::new(),
    };
    format!(
        "while {}, AWS {operation} failed: {}.{detail} {}",
        doing(operation),
        cause.short().trim_end_matches('.'),
        cause.advice()
    )
}

/// Error codes AWS uses for throttling.
pub fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "LimitExceededException"
    )
}

fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "UnauthorizedException"
            | "AuthorizationError"
    )
}

fn is_bad_credentials(code: &str) -> bool {
    matches!(
        code,
        "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
    )
}

fn is_server_error(code: &str) -> bool {
    matches!(
        code,
        "InternalFailure"
            | "InternalError"
            | "InternalServerError"
            | "InternalServerException"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
    )
}

/// Classifies a service error by its code (and HTTP status when the code says nothing).
pub fn service_cause(
    operation: &str,
    code: Option<&str>,
    message: Option<&str>,
    status: u16,
    attempts: u32,
) -> Cause {
    let code_s = code.unwrap_or("").to_owned();
    let message = message.unwrap_or("").to_owned();
    match code {
        Some(c) if is_throttling(c) => Cause::Throttled {
            code: code_s,
            attempts,
        },
        Some(c) if is_access_denied(c) => Cause::AccessDenied {
            action: operation.to_owned(),
            message,
        },
        Some(c) if is_bad_credentials(c) => Cause::BadCredentials {
            code: code_s,
            message,
        },
        Some(c) if is_server_error(c) => Cause::ServerError {
            code: code_s,
            attempts,
        },
        _ if status == 429 => Cause::Throttled {
            code: if code_s.is_empty() {
                "HTTP 429".into()
            } else {
                code_s
            },
            attempts,
        },
        _ if status >= 500 => Cause::ServerError {
            code: if code_s.is_empty() {
                format!("HTTP {status}")
            } else {
                code_s
            },
            attempts,
        },
        _ if status == 403 && code.is_none() => Cause::AccessDenied {
            action: operation.to_owned(),
            message,
        },
        _ => Cause::Service {
            code: if code_s.is_empty() {
                format!("HTTP {status}")
            } else {
                code_s
            },
            message,
        },
    }
}

/// Classifies a failure that never got an answer, from the error chain's texts and the
/// first `std::io::Error` in it.
pub fn transport_cause(
    chain: &[String],
    io_kind: Option<std::io::ErrorKind>,
    timed_out: bool,
    endpoint: &str,
    attempt_timeout: Duration,
) -> Cause {
    use std::io::ErrorKind as K;
    let all = chain.join(" | ");
    let any = |needles: &[&str]| needles.iter().any(|n| all.contains(n));
    if any(&[
        "CredentialsNotLoaded",
        "no providers in chain provided credentials",
        "failed to load credentials",
        "while loading credentials",
        "the credential provider was not enabled",
        "FailedToLoadToken",
        "an identity resolver",
    ]) {
        return Cause::NoCredentials;
    }
    let endpoint = endpoint.to_owned();
    match io_kind {
        Some(K::ConnectionRefused) => return Cause::ConnectionRefused { endpoint },
        Some(K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof) => {
            return Cause::ConnectionLost { endpoint };
        }
        Some(K::TimedOut) => {
            return Cause::TimedOut {
                after: attempt_timeout,
            };
        }
        _ => {}
    }
    if timed_out || any(&["timed out", "timeout"]) {
        return Cause::TimedOut {
            after: attempt_timeout,
        };
    }
    if any(&["Connection refused", "connection refused"]) {
        return Cause::ConnectionRefused { endpoint };
    }
    if any(&[
        "dns error",
        "failed to lookup address",
        "Name or service not known",
    ]) {
        return Cause::UnknownHost { endpoint };
    }
    if any(&[
        "connection closed",
        "Connection reset",
        "IncompleteMessage",
        "connection error",
        "broken pipe",
    ]) {
        return Cause::ConnectionLost { endpoint };
    }
    Cause::Other {
        detail: chain
            .last()
            .or(chain.first())
            .cloned()
            .unwrap_or_else(|| "unknown failure".into()),
    }
}

/// The Display texts of an error and its sources, outermost first.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out
}

/// The first `std::io::Error` in the chain, if any.
pub fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = cur {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paragraphs a user sees for the common failures; any change is reviewed.
    #[test]
    fn paragraphs() {
        let cases = [
            (
                "connection_refused",
                "codedeploy:GetDeployment",
                Cause::ConnectionRefused {
                    endpoint: "http://127.0.0.1:4566".into(),
                },
            ),
            (
                "timeout",
                "cloudwatch:DescribeAlarms",
                Cause::TimedOut {
                    after: Duration::from_secs(10),
                },
            ),
            (
                "throttled",
                "codedeploy:GetDeploymentTarget",
                Cause::Throttled {
                    code: "ThrottlingException".into(),
                    attempts: 4,
                },
            ),
            (
                "access_denied",
                "codedeploy:CreateDeployment",
                Cause::AccessDenied {
                    action: "codedeploy:CreateDeployment".into(),
                    message: "User: arn:aws:iam::123456789012:user/jenkins is not authorized to perform: codedeploy:CreateDeployment".into(),
                },
            ),
            (
                "no_credentials",
                "codedeploy:GetDeploymentGroup",
                Cause::NoCredentials,
            ),
        ];
        for (name, op, cause) in cases {
            let p = paragraph(op, &cause);
            assert!(!p.contains('{') && !p.contains("Error {"), "{p}");
            assert!(!p.contains('\n'), "one paragraph: {p}");
            insta::assert_snapshot!(name, p);
        }
    }

    #[test]
    fn service_codes_are_classified() {
        let op = "ecs:DescribeServices";
        assert!(matches!(
            service_cause(op, Some("ThrottlingException"), None, 400, 4),
            Cause::Throttled { .. }
        ));
        assert!(matches!(
            service_cause(op, Some("AccessDeniedException"), Some("no"), 400, 1),
            Cause::AccessDenied { .. }
        ));
        assert!(matches!(
            service_cause(op, Some("ServiceUnavailable"), None, 503, 4),
            Cause::ServerError { .. }
        ));
        assert!(matches!(
            service_cause(op, None, None, 502, 4),
            Cause::ServerError { .. }
        ));
        assert!(matches!(
            service_cause(op, Some("ClusterNotFoundException"), Some("x"), 400, 1),
            Cause::Service { .. }
        ));
        assert!(service_cause(op, None, None, 500, 4).is_transient());
        assert!(!service_cause(op, Some("AccessDenied"), None, 403, 1).is_transient());
    }

    #[test]
    fn transport_failures_are_classified() {
        let t = Duration::from_secs(10);
        let e = "http://h:1";
        assert_eq!(
            transport_cause(
                &[],
                Some(std::io::ErrorKind::ConnectionRefused),
                false,
                e,
                t
            ),
            Cause::ConnectionRefused { endpoint: e.into() }
        );
        assert_eq!(
            transport_cause(&["io error".into()], None, true, e, t),
            Cause::TimedOut { after: t }
        );
        assert_eq!(
            transport_cause(
                &[
                    "failed to construct request".into(),
                    "no providers in chain provided credentials".into()
                ],
                None,
                false,
                e,
                t
            ),
            Cause::NoCredentials
        );
        // An agent whose instance metadata answers but gives no role: the chain ends in
        // the IMDS provider's own error, which is still "no credentials".
        assert_eq!(
            transport_cause(
                &[
                    "dispatch failure".into(),
                    "other".into(),
                    "an error occurred while loading credentials".into(),
                    "failed to load IMDS session token".into(),
                    "request forbidden: IMDS is disabled or the caller has insufficient permissions.".into()
                ],
                None,
                false,
                e,
                t
            ),
            Cause::NoCredentials
        );
    }
}
