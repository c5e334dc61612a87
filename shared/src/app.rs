//! What a function builds once at cold start and shares across invocations.

use aws_sdk_dynamodb::Client;

use crate::config::{Config, ConfigError};
use crate::metrics::CallCounter;
use crate::store::Store;

/// Configuration, store and call counter of a warm function.
#[derive(Clone, Debug)]
pub struct App {
    /// Settings read at cold start.
    pub config: Config,
    /// The users table.
    pub store: Store,
    /// DynamoDB requests made through `store` (logged per invocation).
    pub calls: CallCounter,
}

impl App {
    /// Reads the environment and builds the DynamoDB client from the standard AWS
    /// settings (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, credentials chain).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_from_env().await;
        let calls = CallCounter::default();
        let client = Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build(),
        );
        Ok(Self::new(config, client, calls))
    }

    /// An app over a given client (tests add their own interceptors); `calls` should be
    /// an interceptor of `client` for the per-invocation logs to be meaningful.
    pub fn new(config: Config, client: Client, calls: CallCounter) -> Self {
        let store = Store::new(client, config.table_name.clone(), config.concurrency);
        Self {
            config,
            store,
            calls,
        }
    }
}
