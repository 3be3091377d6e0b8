//! What every handler needs, built once per Lambda instance (or once per local run): the SDK
//! clients, the clock and the handler settings.

use std::path::PathBuf;

use sim_clock::Clock;

/// Settings read from the environment once, at start-up. The SAM template sets them on each
/// function; the local runner sets them in code.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Multiplies every `waitSeconds` that poll-status answers, from above 0 up to 1.
    /// Production leaves it at 1; tests against an engine that waits in real time set it low.
    /// From `POLL_WAIT_SCALE`.
    pub wait_scale: f64,
    /// Whether a run request's `configUri` may be a file path rather than an `s3://` URI,
    /// which only makes sense when the handlers run on the machine that has the file (local
    /// mode). From `LOCAL_CONFIG_PATHS` (`true` or `1`); a relative path is read from
    /// `config_root` when that is set.
    pub local_config_paths: bool,
    /// The folder relative config paths are read from; the working folder when absent.
    pub config_root: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            wait_scale: 1.0,
            local_config_paths: false,
            config_root: None,
        }
    }
}

impl Settings {
    /// Reads the settings from the environment, naming the variable that is wrong.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which answers an environment variable's value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut settings = Self::default();
        if let Some(scale) = lookup("POLL_WAIT_SCALE") {
            settings.wait_scale = scale
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0 && *s <= 1.0)
                .ok_or_else(|| {
                    format!("POLL_WAIT_SCALE: {scale:?} is not a number above 0 and at most 1")
                })?;
        }
        if let Some(flag) = lookup("LOCAL_CONFIG_PATHS") {
            settings.local_config_paths = match flag.as_str() {
                "1" | "true" => true,
                "0" | "false" | "" => false,
                other => {
                    return Err(format!(
                        "LOCAL_CONFIG_PATHS: {other:?} is not true or false"
                    ));
                }
            };
        }
        settings.config_root = lookup("LOCAL_CONFIG_ROOT").map(PathBuf::from);
        Ok(settings)
    }
}

/// The handlers' dependencies.
#[derive(Debug, Clone)]
pub struct Deps {
    /// Amazon Personalize.
    pub personalize: aws_sdk_personalize::Client,
    /// Amazon S3, where the config and the data are.
    pub s3: aws_sdk_s3::Client,
    /// What "now" is: the real time on AWS, the endpoint's simulated time locally.
    pub clock: Clock,
    /// The handler settings.
    pub settings: Settings,
}

impl Deps {
    /// Builds the clients from the standard AWS configuration (environment, profile, instance
    /// role), honouring `AWS_ENDPOINT_URL`, and reads the settings from the environment.
    pub async fn from_env() -> Result<Self, String> {
        let settings = Settings::from_env()?;
        let config = aws_config::load_from_env().await;
        Ok(Self::new(&config, Clock::real(), settings))
    }

    /// Builds the clients from an SDK configuration.
    pub fn new(config: &aws_config::SdkConfig, clock: Clock, settings: Settings) -> Self {
        // Virtual-hosted addressing (bucket.host) only works with AWS's own S3 hostnames; an
        // endpoint set by hand (the local endpoint, a VPC endpoint URL) is addressed by path.
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            personalize: aws_sdk_personalize::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            clock,
            settings,
        }
    }
}

impl Deps {
    /// Dependencies whose AWS endpoint refuses every connection (and whose SDK does not
    /// retry), with local config paths read from `config_root`: a step fails with
    /// `RetryableConflict` at its first call to a service. The Lambda crates check with it,
    /// offline, the error names Step Functions sees.
    pub async fn unreachable(config_root: PathBuf) -> Self {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}", closed.local_addr().expect("a bound address"));
        drop(closed);
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials()
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let settings = Settings {
            local_config_paths: true,
            config_root: Some(config_root),
            ..Settings::default()
        };
        Self::new(&config, Clock::real(), settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_production_and_name_a_bad_variable() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(settings, Settings::default());
        let scaled =
            Settings::from_lookup(|n| (n == "POLL_WAIT_SCALE").then(|| "0.01".into())).unwrap();
        assert_eq!(scaled.wait_scale, 0.01);
        let error =
            Settings::from_lookup(|n| (n == "POLL_WAIT_SCALE").then(|| "fast".into())).unwrap_err();
        assert!(error.starts_with("POLL_WAIT_SCALE"), "{error}");
        let error = Settings::from_lookup(|n| (n == "LOCAL_CONFIG_PATHS").then(|| "yes".into()))
            .unwrap_err();
        assert!(error.starts_with("LOCAL_CONFIG_PATHS"), "{error}");
    }
}
