//! Secret references: a configuration value may name where the secret lives instead of holding
//! it, resolved once at start:
//!
//! - `aws-sm://<secret id or ARN>` — the secret string of an AWS Secrets Manager secret;
//!   `aws-sm://<secret id>#<key>` — one key of a secret whose string is a JSON object;
//! - `aws-ssm://<parameter name>` — an AWS Systems Manager parameter (SecureString decrypted).
//!
//! Keys that may hold a reference: `master_key`, `node_master_key`, `admin.api_key` and
//! `task_store.url` (a Redis URL with its password). Plain values keep working; the AWS SDK is
//! only loaded (credentials and region from the usual chain: environment, web identity, ECS or
//! EC2 metadata; `AWS_ENDPOINT_URL` honoured) when some value is a reference. A reference that
//! does not resolve stops the start with the key, the reference and the reason (never a value).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use super::error::ConfigError;
use super::secret::Secret;
use super::{Config, TaskStoreBackend};

/// Prefix of a Secrets Manager reference.
pub const SECRETS_MANAGER_PREFIX: &str = "aws-sm://";
/// Prefix of a Parameter Store reference.
pub const PARAMETER_STORE_PREFIX: &str = "aws-ssm://";

/// Longest wait for one reference to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a secret lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// A Secrets Manager secret, or one key of its JSON object.
    SecretsManager {
        /// Secret name or ARN.
        secret_id: String,
        /// The key of the JSON object to take, if any.
        json_key: Option<String>,
    },
    /// A Systems Manager parameter.
    Parameter {
        /// Parameter name (e.g. `/miroir/prod/admin-key`).
        name: String,
    },
}

impl Reference {
    /// The reference `value` holds: `None` for a plain value; an error for a reference with an
    /// empty name or key.
    pub fn parse(value: &str) -> Option<Result<Self, String>> {
        if let Some(rest) = value.strip_prefix(SECRETS_MANAGER_PREFIX) {
            let (secret_id, json_key) = match rest.split_once('#') {
                Some((id, key)) => (id, Some(key)),
                None => (rest, None),
            };
            return Some(if secret_id.is_empty() || json_key == Some("") {
                Err(format!(
                    "`{value}` is not a secret reference: expected aws-sm://<secret id>[#<json key>]"
                ))
            } else {
                Ok(Self::SecretsManager {
                    secret_id: secret_id.to_owned(),
                    json_key: json_key.map(str::to_owned),
                })
            });
        }
        let name = value.strip_prefix(PARAMETER_STORE_PREFIX)?;
        Some(if name.is_empty() {
            Err(format!(
                "`{value}` is not a parameter reference: expected aws-ssm://<parameter name>"
            ))
        } else {
            Ok(Self::Parameter {
                name: name.to_owned(),
            })
        })
    }

    /// True when `value` is a reference (well formed or not).
    pub fn is_reference(value: &str) -> bool {
        Self::parse(value).is_some()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretsManager {
                secret_id,
                json_key: Some(key),
            } => write!(formatter, "{SECRETS_MANAGER_PREFIX}{secret_id}#{key}"),
            Self::SecretsManager { secret_id, .. } => {
                write!(formatter, "{SECRETS_MANAGER_PREFIX}{secret_id}")
            }
            Self::Parameter { name } => write!(formatter, "{PARAMETER_STORE_PREFIX}{name}"),
        }
    }
}

/// Fetches the value a reference names.
pub trait Resolver {
    /// The value, or why it could not be fetched (no secret value in the reason).
    fn resolve(&self, reference: &Reference)
    -> impl Future<Output = Result<String, String>> + Send;
}

/// The config keys that may hold references, as (key path, value).
fn referable(config: &mut Config) -> [(&'static str, Slot<'_>); 4] {
    [
        ("miroir.master_key", Slot::Secret(&mut config.master_key)),
        (
            "miroir.node_master_key",
            Slot::Secret(&mut config.node_master_key),
        ),
        (
            "miroir.admin.api_key",
            Slot::Secret(&mut config.admin.api_key),
        ),
        (
            "miroir.task_store.url",
            Slot::Text(&mut config.task_store.url),
        ),
    ]
}

/// A config value that may hold a reference.
enum Slot<'a> {
    Secret(&'a mut Secret),
    Text(&'a mut String),
}

impl Slot<'_> {
    fn value(&self) -> &str {
        match self {
            Self::Secret(secret) => secret.expose(),
            Self::Text(text) => text,
        }
    }

    fn set(&mut self, value: String) {
        match self {
            Self::Secret(secret) => **secret = Secret::new(value),
            Self::Text(text) => **text = value,
        }
    }
}

impl Config {
    /// True when some value is a secret reference (so [`Config::resolve_references`] has work).
    pub fn has_references(&self) -> bool {
        let mut copy = self.clone();
        referable(&mut copy)
            .iter()
            .any(|(_, slot)| Reference::is_reference(slot.value()))
    }

    /// Replaces every reference with the value `resolver` fetches (each bounded by
    /// [`RESOLVE_TIMEOUT`]), then validates the result. A resolved `task_store.url` also sets
    /// `task_store.backend` from its scheme. The first failure names the key and the reference.
    pub async fn resolve_references(
        &mut self,
        resolver: &impl Resolver,
    ) -> Result<(), ConfigError> {
        for (key, mut slot) in referable(self) {
            let Some(reference) = Reference::parse(slot.value()) else {
                continue;
            };
            let reference = reference.map_err(|reason| ConfigError::invalid(key, reason))?;
            let value =
                match tokio::time::timeout(RESOLVE_TIMEOUT, resolver.resolve(&reference)).await {
                    Ok(Ok(value)) => value,
                    Ok(Err(reason)) => {
                        return Err(ConfigError::invalid(
                            key,
                            format!("cannot resolve {reference}: {reason}"),
                        ));
                    }
                    Err(_) => {
                        return Err(ConfigError::invalid(
                            key,
                            format!(
                                "cannot resolve {reference}: no answer within {} s",
                                RESOLVE_TIMEOUT.as_secs()
                            ),
                        ));
                    }
                };
            slot.set(value);
        }
        let url = self.task_store.url.trim();
        if url.starts_with("redis") {
            self.task_store.backend = TaskStoreBackend::Redis;
        } else if url.starts_with("sqlite:") {
            self.task_store.backend = TaskStoreBackend::Sqlite;
        }
        self.validate()
    }

    /// [`Config::resolve_references`] with AWS Secrets Manager and Parameter Store, the SDK
    /// configured from the environment; nothing is loaded when no value is a reference.
    pub async fn resolve_references_with_aws(&mut self) -> Result<(), ConfigError> {
        if !self.has_references() {
            return Ok(());
        }
        self.resolve_references(&AwsResolver::from_env().await)
            .await
    }
}

/// Resolves references with the AWS SDK.
#[derive(Clone, Debug)]
pub struct AwsResolver {
    secrets: aws_sdk_secretsmanager::Client,
    parameters: aws_sdk_ssm::Client,
}

impl AwsResolver {
    /// Clients configured by the default chain (region, credentials, `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let config = aws_config::load_from_env().await;
        Self {
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            parameters: aws_sdk_ssm::Client::new(&config),
        }
    }
}

/// The service's own error code and message, else the SDK's description.
fn describe<E, R>(error: &aws_sdk_ssm::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => aws_sdk_ssm::error::DisplayErrorContext(error).to_string(),
    }
}

impl Resolver for AwsResolver {
    async fn resolve(&self, reference: &Reference) -> Result<String, String> {
        match reference {
            Reference::SecretsManager {
                secret_id,
                json_key,
            } => {
                let output = self
                    .secrets
                    .get_secret_value()
                    .secret_id(secret_id)
                    .send()
                    .await
                    .map_err(|error| describe(&error))?;
                let text = output
                    .secret_string()
                    .ok_or("the secret has no string value (binary secrets are not supported)")?;
                match json_key {
                    None => Ok(text.to_owned()),
                    Some(key) => json_field(text, key),
                }
            }
            Reference::Parameter { name } => {
                let output = self
                    .parameters
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|error| describe(&error))?;
                output
                    .parameter()
                    .and_then(|parameter| parameter.value())
                    .map(str::to_owned)
                    .ok_or_else(|| "the parameter has no value".to_owned())
            }
        }
    }
}

/// Field `key` of the JSON object `text` (a string, or a number or boolean as written).
fn json_field(text: &str, key: &str) -> Result<String, String> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|_| "the secret string is not a JSON object".to_owned())?;
    match object.get(key) {
        Some(serde_json::Value::String(value)) => Ok(value.clone()),
        Some(value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Ok(value.to_string())
        }
        Some(_) => Err(format!("key `{key}` of the secret is not a string")),
        None => Err(format!("the secret has no key `{key}`")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Answers from a map keyed by the reference's text.
    struct Fixed(HashMap<String, String>);

    impl Resolver for Fixed {
        async fn resolve(&self, reference: &Reference) -> Result<String, String> {
            self.0
                .get(&reference.to_string())
                .cloned()
                .ok_or_else(|| "ResourceNotFoundException: not found".to_owned())
        }
    }

    fn fixed(pairs: &[(&str, &str)]) -> Fixed {
        Fixed(
            pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn references_parse_and_print_back() {
        for text in [
            "aws-sm://prod/miroir",
            "aws-sm://arn:aws:secretsmanager:eu-west-1:1:secret:miroir-AbC#masterKey",
            "aws-ssm:///miroir/admin-key",
        ] {
            assert_eq!(Reference::parse(text).unwrap().unwrap().to_string(), text);
        }
        assert_eq!(Reference::parse("plain-key"), None);
        assert!(Reference::parse("aws-sm://").unwrap().is_err());
        assert!(Reference::parse("aws-sm://id#").unwrap().is_err());
        assert!(Reference::parse("aws-ssm://").unwrap().is_err());
    }

    #[test]
    fn json_keys_pick_one_field() {
        let text = r#"{"master": "m-1", "port": 6379, "nested": {}}"#;
        assert_eq!(json_field(text, "master").unwrap(), "m-1");
        assert_eq!(json_field(text, "port").unwrap(), "6379");
        assert!(
            json_field(text, "nested")
                .unwrap_err()
                .contains("not a string")
        );
        assert!(
            json_field(text, "absent")
                .unwrap_err()
                .contains("no key `absent`")
        );
        assert!(
            json_field("plain", "x")
                .unwrap_err()
                .contains("not a JSON object")
        );
    }

    #[tokio::test]
    async fn every_referable_key_resolves_and_the_backend_follows_the_url() {
        let mut config = Config {
            master_key: Secret::new("aws-sm://keys#master"),
            node_master_key: Secret::new("plain-node-key"),
            ..Config::default()
        };
        config.admin.api_key = Secret::new("aws-ssm:///miroir/admin");
        config.task_store.url = "aws-sm://store-url".to_owned();
        assert!(config.has_references());
        config
            .resolve_references(&fixed(&[
                ("aws-sm://keys#master", "m-1"),
                ("aws-ssm:///miroir/admin", "a-1"),
                ("aws-sm://store-url", "redis://:pw@cache:6379/0"),
            ]))
            .await
            .unwrap();
        assert_eq!(config.master_key.expose(), "m-1");
        assert_eq!(config.node_master_key.expose(), "plain-node-key");
        assert_eq!(config.admin.api_key.expose(), "a-1");
        assert_eq!(config.task_store.url, "redis://:pw@cache:6379/0");
        assert_eq!(config.task_store.backend, TaskStoreBackend::Redis);
        assert!(!config.has_references());
    }

    #[tokio::test]
    async fn a_missing_reference_names_the_key_and_the_reference() {
        let mut config = Config {
            master_key: Secret::new("aws-sm://does-not-exist"),
            ..Config::default()
        };
        let error = config.resolve_references(&fixed(&[])).await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("miroir.master_key")
                && message.contains("aws-sm://does-not-exist")
                && message.contains("ResourceNotFoundException"),
            "{message}"
        );
    }
}
