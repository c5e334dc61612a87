//! CloudWatch metrics as embedded metric format (EMF) log lines: each invocation writes
//! one JSON document to stdout, and CloudWatch Logs turns its values into metrics. No
//! `PutMetricData` call and no permission beyond the logs every function writes.
//!
//! The document follows the EMF specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! every value is a `Count`, published twice, per `Service` and `Operation` and per
//! `Service` alone (what the alarms in `template.yaml` watch). Written by hand rather
//! than through the `metrics` facade: one document per invocation, built from the counts
//! the pipeline already has, is all there is to it, and a test can read it back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::store::calls::CallCounts;

/// The metrics of one invocation: a name → count map under one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics {
    operation: String,
    values: BTreeMap<String, u64>,
}

impl Metrics {
    /// No values yet, for `operation` (the pipeline's operation name: `upsert`, `filter_delete`, `cleanup`, ...).
    pub fn new(operation: &str) -> Self {
        Self {
            operation: operation.to_owned(),
            values: BTreeMap::new(),
        }
    }

    /// Adds `n` to `name` (a name added with 0 is published as 0).
    pub fn add(&mut self, name: &str, n: u64) -> &mut Self {
        *self.values.entry(name.to_owned()).or_default() += n;
        self
    }

    /// Adds a `usize` count.
    pub fn add_count(&mut self, name: &str, n: usize) -> &mut Self {
        self.add(name, u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// `dynamodb_requests` (every HTTP request to DynamoDB, retries included) and
    /// `dynamodb_retries` (of those, the SDK's retries of a throttled, failed or timed-out
    /// attempt).
    pub fn dynamodb(&mut self, calls: &CallCounts) -> &mut Self {
        self.add("dynamodb_requests", calls.total())
            .add("dynamodb_retries", calls.retries())
    }

    /// The value of `name`, if it was added.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.values.get(name).copied()
    }

    /// The EMF document: `_aws` metadata, the two dimensions and one member per value.
    pub fn document(&self, namespace: &str, service: &str, timestamp_ms: u64) -> Value {
        let names: Vec<Value> = self
            .values
            .keys()
            .map(|name| json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Service", "Operation"], ["Service"]],
                    "Metrics": names,
                }],
            }),
        );
        root.insert("Service".into(), json!(service));
        root.insert("Operation".into(), json!(self.operation));
        for (name, value) in &self.values {
            root.insert(name.clone(), json!(value));
        }
        Value::Object(root)
    }
}

/// Where a function's metric documents go: stdout (a log line each), or kept in memory
/// for tests to read.
#[derive(Clone, Debug)]
pub struct MetricsSink {
    namespace: String,
    service: String,
    kept: Option<Arc<Mutex<Vec<Value>>>>,
}

impl MetricsSink {
    /// Documents written to stdout under the configured namespace and service.
    pub fn stdout(config: &Config) -> Self {
        Self {
            namespace: config.metrics_namespace.clone(),
            service: config.metrics_service.clone(),
            kept: None,
        }
    }

    /// Documents kept in memory (tests); see [`MetricsSink::documents`].
    pub fn memory(config: &Config) -> Self {
        Self {
            kept: Some(Arc::default()),
            ..Self::stdout(config)
        }
    }

    /// Writes the document of `metrics`.
    pub fn emit(&self, metrics: &Metrics) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let doc = metrics.document(&self.namespace, &self.service, now);
        match &self.kept {
            Some(kept) => {
                if let Ok(mut kept) = kept.lock() {
                    kept.push(doc);
                }
            }
            // One line, on its own: CloudWatch Logs reads a log event that is an EMF object.
            None => println!("{doc}"),
        }
    }

    /// The documents kept so far (always empty for stdout).
    pub fn documents(&self) -> Vec<Value> {
        self.kept
            .as_ref()
            .and_then(|k| k.lock().ok().map(|k| k.clone()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_follows_the_emf_specification() {
        let mut m = Metrics::new("upsert-users");
        m.add("items", 3)
            .add("items_created", 2)
            .add("items_not_processed", 0);
        m.add("items_created", 1);
        let calls = CallCounts(BTreeMap::from([("BatchGetItem".into(), 2)]), 1);
        m.dynamodb(&calls);
        let doc = m.document("BulkUserApi", "prod", 1_700_000_000_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], json!(1_700_000_000_000u64));
        assert_eq!(directive["Namespace"], "BulkUserApi");
        // Every dimension a directive names is a member of the root, as a string.
        for set in directive["Dimensions"].as_array().unwrap() {
            for key in set.as_array().unwrap() {
                assert!(doc[key.as_str().unwrap()].is_string(), "{key}");
            }
        }
        assert_eq!(doc["Operation"], "upsert-users");
        assert_eq!(doc["Service"], "prod");
        // Every metric named is a number at the root, and nothing else is.
        let named: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["Unit"], "Count");
                d["Name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            named,
            [
                "dynamodb_requests",
                "dynamodb_retries",
                "items",
                "items_created",
                "items_not_processed"
            ]
        );
        assert_eq!(doc["items_created"], json!(3));
        assert_eq!(doc["items_not_processed"], json!(0));
        assert_eq!(doc["dynamodb_requests"], json!(2));
        assert_eq!(doc["dynamodb_retries"], json!(1));
        assert_eq!(doc.as_object().unwrap().len(), 3 + named.len());
    }
}
