//! What a function builds once at cold start and shares across invocations.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;

use crate::config::{Config, ConfigError};
use crate::metrics::MetricsSink;
use crate::store::Store;
use crate::store::calls::{CallCounter, CallCounts};

/// Longest wait for a connection to DynamoDB (the SDK's default is 3.1 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for one attempt of a DynamoDB request. A connection that stalls (a
/// paused server, a network partition) is abandoned and the SDK retries on a new one;
/// DynamoDB answers in milliseconds, a transaction of 100 actions in well under a second.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The DynamoDB client settings every function (and the tests) use: the standard AWS
/// environment plus bounded connects and attempts. The whole of each operation, SDK
/// retries included, is further bounded by the invocation's deadline in the store.
pub fn client_config(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build(),
    )
}

/// Configuration, store and call counter of a warm function.
#[derive(Clone, Debug)]
pub struct App {
    /// Settings read at cold start.
    pub config: Config,
    /// The users table.
    pub store: Store,
    /// DynamoDB requests made through `store` (logged per invocation).
    pub calls: CallCounter,
    /// Where each invocation's metrics go (stdout as EMF; memory in tests).
    pub metrics: MetricsSink,
}

impl App {
    /// Reads the environment and builds the DynamoDB client from the standard AWS
    /// settings (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, credentials chain).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_from_env().await;
        let calls = CallCounter::default();
        let client = Client::from_conf(client_config(&sdk).interceptor(calls.clone()).build());
        Ok(Self::new(config, client, calls))
    }

    /// Runs `work`, counting the DynamoDB requests it makes: every invocation's summary
    /// log line carries them (request cost is part of the contract).
    pub async fn counted<T>(&self, work: impl Future<Output = T>) -> (T, CallCounts) {
        let before = self.calls.snapshot();
        let out = work.await;
        (out, self.calls.snapshot().since(&before))
    }

    /// An app over a given client (tests add their own interceptors); `calls` should be
    /// an interceptor of `client` for the per-invocation logs to be meaningful.
    pub fn new(config: Config, client: Client, calls: CallCounter) -> Self {
        let store = Store::new(client, config.table_name.clone(), config.concurrency);
        Self {
            metrics: MetricsSink::stdout(&config),
            config,
            store,
            calls,
        }
    }
}
