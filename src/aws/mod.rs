//! The only module that talks to AWS: one set of flags → one `SdkConfig` → clients,
//! and thin functions that turn SDK shapes into the domain types the rest of shipwatch uses.

use clap::Args;

/// AWS connection flags, flattened into every subcommand. Each falls back to the
/// standard AWS environment variables and profile files (AWS_PROFILE, AWS_REGION,
/// AWS_ENDPOINT_URL, …), which the SDK's own provider chain reads.
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// AWS profile (default: AWS_PROFILE, else the default profile).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (default: [service] region, else AWS_REGION / the profile's region).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Endpoint URL for every AWS service (default: AWS_ENDPOINT_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call before giving up (throttling and 5xx are retried with backoff).
    #[arg(long, global = true, value_name = "N", default_value_t = 6)]
    pub max_attempts: u32,
}

/// Builds the one `SdkConfig` every client is made from.
pub async fn sdk_config(args: &AwsArgs, region_from_config: Option<&str>) -> aws_config::SdkConfig {
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::{BehaviorVersion, Region};

    let explicit = args.region.clone().or(region_from_config.map(str::to_owned)).map(Region::new);
    let region = RegionProviderChain::first_try(explicit).or_default_provider().or_else(Region::new("us-east-1"));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(aws_config::retry::RetryConfig::adaptive().with_max_attempts(args.max_attempts.max(1)));
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
