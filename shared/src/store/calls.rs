//! Counting DynamoDB requests: request cost is part of the contract, so functions log the
//! calls each invocation made and tests assert on them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// An SDK interceptor counting HTTP requests per operation (SDK retries included: each
/// attempt is a request DynamoDB bills and throttles), and the SDK's retries among them.
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<CallCounts>>,
}

impl CallCounter {
    /// Counts so far, by operation name (`BatchGetItem`, `TransactWriteItems`, ...).
    pub fn snapshot(&self) -> CallCounts {
        self.counts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Forgets all counts.
    pub fn reset(&self) {
        if let Ok(mut m) = self.counts.lock() {
            *m = CallCounts::default();
        }
    }
}

/// A snapshot of [`CallCounter`]: requests by operation, and how many of them were the
/// SDK's retries (of a throttled, failed or timed-out attempt).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts(pub BTreeMap<String, u64>, pub u64);

impl CallCounts {
    /// Requests made for `operation`.
    pub fn get(&self, operation: &str) -> u64 {
        self.0.get(operation).copied().unwrap_or(0)
    }

    /// Requests of every operation.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Of all requests, those that retried an earlier attempt of the same call.
    pub fn retries(&self) -> u64 {
        self.1
    }

    /// The requests made since `earlier`.
    pub fn since(&self, earlier: &CallCounts) -> CallCounts {
        CallCounts(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.get(k)))
                .filter(|(_, v)| *v > 0)
                .collect(),
            self.1 - earlier.1,
        )
    }
}

impl std::fmt::Display for CallCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let mut parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if self.1 > 0 {
            parts.push(format!("(retries={})", self.1));
        }
        f.write_str(&parts.join(" "))
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let retry = cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1);
        if let Ok(mut m) = self.counts.lock() {
            *m.0.entry(op).or_default() += 1;
            m.1 += u64::from(retry);
        }
        Ok(())
    }
}
