//! The only module that talks to AWS: one set of flags → one `SdkConfig` → clients,
//! and thin functions that turn SDK shapes into the domain types the rest of shipwatch uses.

pub mod cloudwatch;
pub mod codedeploy;
pub mod ecr;
pub mod ecs;
pub mod evidence;
pub mod logs;
pub mod model;

/// How to reach AWS, after flags, environment and the configuration file were layered.
/// Unset fields fall back to the SDK's own provider chain (AWS_PROFILE, AWS_REGION,
/// AWS_ENDPOINT_URL, profile files, instance roles).
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per call (throttling and 5xx are retried with backoff).
    pub max_attempts: u32,
    /// The region when no source names one.
    pub fallback_region: String,
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
        .retry_config(
            aws_config::retry::RetryConfig::adaptive().with_max_attempts(args.max_attempts.max(1)),
        );
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
    pub region: String,
}

impl Clients {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        Clients {
            ecs: aws_sdk_ecs::Client::new(conf),
            ecr: aws_sdk_ecr::Client::new(conf),
            codedeploy: aws_sdk_codedeploy::Client::new(conf),
            cloudwatch: aws_sdk_cloudwatch::Client::new(conf),
            logs: aws_sdk_cloudwatchlogs::Client::new(conf),
            region: conf.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// Connects as the settings say.
    pub async fn connect(conn: &Connection) -> Self {
        Self::new(&sdk_config(conn).await)
    }
}

/// Turns an SDK error into shipwatch's error, naming the operation and what AWS said.
/// Connection failures get a hint about the endpoint, since that is what a user can fix.
pub fn sdk_error<E, R>(
    operation: &str,
    err: aws_sdk_ecs::error::SdkError<E, R>,
) -> crate::error::Error
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ecs::error::SdkError;
    let message = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => e.to_string(),
            }
        }
        // Missing credentials surface as a dispatch failure of the credentials provider.
        SdkError::DispatchFailure(d) if format!("{d:?}").contains("FailedToLoadToken") || format!("{d:?}").contains("CredentialsNotLoaded") => {
            "no AWS credentials were found. Set AWS_PROFILE (or --profile), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an IAM role is available (in Jenkins: withAWS or withCredentials).".to_owned()
        }
        SdkError::DispatchFailure(d) => {
            let what = if d.is_timeout() {
                "timed out"
            } else if d.is_io() {
                "connection failed"
            } else {
                "could not send the request"
            };
            format!(
                "{what} ({d:?}). Check the network, AWS_ENDPOINT_URL/--endpoint-url and the region."
            )
        }
        SdkError::TimeoutError(_) => "the request timed out".into(),
        SdkError::ConstructionFailure(c) => format!(
            "the request could not be built ({c:?}); this is usually missing credentials or region"
        ),
        SdkError::ResponseError(r) => format!("unreadable response ({r:?})"),
        other => other.to_string(),
    };
    crate::error::Error::Aws {
        operation: operation.to_owned(),
        message,
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
