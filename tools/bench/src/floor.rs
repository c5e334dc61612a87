//! The floor: what the same DynamoDB work costs when done directly with the SDK from the
//! bench process, with the batch sizes and the concurrency the functions use. A function
//! pass is compared with the floor of the same items in the same run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, PutRequest, TransactWriteItem, WriteRequest,
};
use futures::{StreamExt, stream};

use crate::contract::keys;
use crate::error::{BenchError, BoxError};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Keys per `BatchGetItem` (the DynamoDB limit, as the functions use it).
pub const READ_CHUNK: usize = 100;
/// Puts per `BatchWriteItem` (the DynamoDB limit, as the functions use it).
pub const WRITE_CHUNK: usize = 25;

/// Requests made, by operation (each resubmission of unprocessed items counts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls(pub BTreeMap<String, u64>);

impl Calls {
    /// Adds `n` requests of `op`.
    pub fn add(&mut self, op: &str, n: u64) {
        *self.0.entry(op.to_owned()).or_default() += n;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Calls) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Reads `BatchGetItem=10 BatchWriteItem=40` (the functions' `dynamodb_calls` field);
    /// `none` is empty. Stops at the first token that is not `Name=count`.
    pub fn parse(text: &str) -> Calls {
        let mut calls = Calls::default();
        for token in text.split_whitespace() {
            if token == "none" {
                break;
            }
            let Some((op, n)) = token.split_once('=') else {
                break;
            };
            let Ok(n) = n.parse::<u64>() else { break };
            if op.is_empty() || !op.chars().all(|c| c.is_ascii_alphanumeric()) {
                break;
            }
            calls.add(op, n);
        }
        calls
    }
}

impl fmt::Display for Calls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&parts.join(" "))
    }
}

/// What one floor operation did.
#[derive(Clone, Debug, Default)]
pub struct FloorRun {
    /// Wall time.
    pub elapsed: Duration,
    /// Requests made.
    pub calls: Calls,
    /// Items `BatchGetItem` found (for the read-then-write floor).
    pub found: usize,
    /// CPU time of the bench process (the SDK client) meanwhile.
    pub client_cpu: Duration,
    /// CPU time of the DynamoDB server process meanwhile, when its pid is known.
    pub server_cpu: Option<Duration>,
}

impl FloorRun {
    /// Adds another run's figures (a pass made of several requests).
    pub fn add(&mut self, other: &FloorRun) {
        self.elapsed += other.elapsed;
        self.calls.merge(&other.calls);
        self.found += other.found;
        self.client_cpu += other.client_cpu;
        self.server_cpu = match (self.server_cpu, other.server_cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

/// CPU used by this process and by the DynamoDB server (when its pid is known), for
/// measuring a span of work.
#[derive(Clone, Copy, Debug)]
pub struct CpuMark {
    own: Duration,
    server: Option<Duration>,
}

impl CpuMark {
    /// Now.
    pub fn now(server_pid: Option<u32>) -> Self {
        Self {
            own: crate::process::cpu_time(std::process::id()).unwrap_or_default(),
            server: server_pid.and_then(|p| crate::process::cpu_time(p).ok()),
        }
    }

    /// CPU of this process and of the server since `self`.
    pub fn since(&self, server_pid: Option<u32>) -> (Duration, Option<Duration>) {
        let later = Self::now(server_pid);
        let server = match (self.server, later.server) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        (later.own.saturating_sub(self.own), server)
    }
}

/// Raw batched access to one table.
#[derive(Clone, Debug)]
pub struct Floor {
    client: Client,
    concurrency: usize,
    server_pid: Option<u32>,
}

impl Floor {
    /// A floor keeping `concurrency` requests in flight (the functions'
    /// `DYNAMODB_CONCURRENCY`).
    pub fn new(client: Client, concurrency: usize) -> Self {
        Self {
            client,
            concurrency: concurrency.max(1),
            server_pid: None,
        }
    }

    /// Also measures the CPU time of the DynamoDB server process `pid` (DynamoDB Local).
    pub fn with_server_pid(mut self, pid: Option<u32>) -> Self {
        self.server_pid = pid;
        self
    }

    /// (a) `BatchWriteItem` of `items`, 25 per call.
    pub async fn write(&self, table: &str, items: &[Item]) -> Result<FloorRun, BenchError> {
        let cpu = CpuMark::now(self.server_pid);
        let started = Instant::now();
        let calls = self.put_all(table, items).await?;
        let elapsed = started.elapsed();
        let (client_cpu, server_cpu) = cpu.since(self.server_pid);
        Ok(FloorRun {
            elapsed,
            calls,
            found: 0,
            client_cpu,
            server_cpu,
        })
    }

    /// (b) `BatchGetItem` of the items' keys (100 per call, consistent reads), then
    /// `BatchWriteItem` of the items (25 per call): the least a read-modify-write of
    /// these items can cost.
    pub async fn read_then_write(
        &self,
        table: &str,
        key: &str,
        items: &[Item],
    ) -> Result<FloorRun, BenchError> {
        let cpu = CpuMark::now(self.server_pid);
        let started = Instant::now();
        let keys: Vec<Item> = items
            .iter()
            .map(|i| {
                i.get(key)
                    .map(|v| Item::from([(key.to_owned(), v.clone())]))
                    .ok_or_else(|| {
                        BenchError::Scenario(format!("an item without its key attribute {key}"))
                    })
            })
            .collect::<Result<_, _>>()?;
        let (found, mut calls) = self.get_all(table, keys).await?;
        calls.merge(&self.put_all(table, items).await?);
        let elapsed = started.elapsed();
        let (client_cpu, server_cpu) = cpu.since(self.server_pid);
        Ok(FloorRun {
            elapsed,
            calls,
            found: found.len(),
            client_cpu,
            server_cpu,
        })
    }

    /// Reads the items with `keys` (consistently), 100 per call, resubmitting
    /// unprocessed keys.
    pub async fn get_all(
        &self,
        table: &str,
        keys: Vec<Item>,
    ) -> Result<(Vec<Item>, Calls), BenchError> {
        let chunks: Vec<Vec<Item>> = keys.chunks(READ_CHUNK).map(<[_]>::to_vec).collect();
        let parts: Vec<Result<(Vec<Item>, u64), BenchError>> = stream::iter(chunks)
            .map(|chunk| self.get_chunk(table, chunk))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut found = Vec::with_capacity(keys.len());
        let mut calls = Calls::default();
        for p in parts {
            let (items, n) = p?;
            found.extend(items);
            calls.add("BatchGetItem", n);
        }
        Ok((found, calls))
    }

    /// Puts `items`, 25 per call, resubmitting unprocessed items.
    pub async fn put_all(&self, table: &str, items: &[Item]) -> Result<Calls, BenchError> {
        let chunks: Vec<&[Item]> = items.chunks(WRITE_CHUNK).collect();
        let parts: Vec<Result<u64, BenchError>> = stream::iter(chunks)
            .map(|chunk| self.put_chunk(table, chunk))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut calls = Calls::default();
        for p in parts {
            calls.add("BatchWriteItem", p?);
        }
        Ok(calls)
    }

    /// Reads the item with key `pk` (consistently), if it is there.
    pub async fn get(&self, table: &str, pk: &str) -> Result<Option<Item>, BenchError> {
        Ok(self
            .client
            .get_item()
            .table_name(table)
            .key(keys::PK, AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| BenchError::dynamo(format!("GetItem {pk}"), e))?
            .item)
    }

    async fn get_chunk(
        &self,
        table: &str,
        keys: Vec<Item>,
    ) -> Result<(Vec<Item>, u64), BenchError> {
        let mut pending = keys;
        let mut found = Vec::with_capacity(pending.len());
        let mut calls = 0;
        while !pending.is_empty() {
            calls += 1;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(|e| BenchError::dynamo("build BatchGetItem", e))?;
            let mut out = self
                .client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| BenchError::dynamo("BatchGetItem", e))?;
            found.extend(
                out.responses
                    .as_mut()
                    .and_then(|r| r.remove(table))
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok((found, calls))
    }

    async fn put_chunk(&self, table: &str, items: &[Item]) -> Result<u64, BenchError> {
        let mut pending: Vec<WriteRequest> = items
            .iter()
            .map(|i| {
                PutRequest::builder()
                    .set_item(Some(i.clone()))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| BenchError::dynamo("build BatchWriteItem", e))
            })
            .collect::<Result<_, _>>()?;
        let mut calls = 0;
        while !pending.is_empty() {
            calls += 1;
            let out = self
                .client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| BenchError::dynamo("BatchWriteItem", e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(calls)
    }
}

/// One conditional single-item write of a floor: a `DeleteItem`, or an `UpdateItem`
/// when `update` is set.
#[derive(Clone, Debug, Default)]
pub struct Conditional {
    /// The item's key.
    pub key: Item,
    /// The update expression of an `UpdateItem`; `None` for a `DeleteItem`.
    pub update: Option<String>,
    /// The condition; a failed condition aborts the bench (the floor must do the work).
    pub condition: String,
    /// `#name` placeholders.
    pub names: HashMap<String, String>,
    /// `:value` placeholders.
    pub values: Item,
}

/// Where a find-then-delete floor finds its items (one page of 1000 at a time, as the
/// functions read).
#[derive(Clone, Debug)]
pub enum Finder {
    /// Segment `segment` of a parallel Scan of `segments`, with a filter expression
    /// (consistent reads, as the function scans).
    Scan {
        /// This segment.
        segment: i32,
        /// Segments in all.
        segments: i32,
        /// The filter expression.
        filter: String,
        /// Its `#name` placeholders.
        names: HashMap<String, String>,
        /// Its `:value` placeholders.
        values: Item,
    },
    /// A Query of a secondary index.
    Query {
        /// The index.
        index: String,
        /// The key condition.
        key_condition: String,
        /// Its `:value` placeholders.
        values: Item,
    },
}

/// Items per Scan or Query page (the functions' page size).
pub const PAGE: i32 = 1000;

impl Floor {
    /// Sends each write on its own (`DeleteItem` / `UpdateItem`), keeping
    /// `concurrency` in flight. Every condition must hold: a failed one is an error.
    pub async fn write_each(
        &self,
        table: &str,
        writes: Vec<Conditional>,
    ) -> Result<FloorRun, BenchError> {
        let cpu = CpuMark::now(self.server_pid);
        let started = Instant::now();
        let n = writes.len();
        let results: Vec<Result<&'static str, BenchError>> = stream::iter(writes)
            .map(|w| self.write_one(table, w))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let elapsed = started.elapsed();
        let (client_cpu, server_cpu) = cpu.since(self.server_pid);
        let mut calls = Calls::default();
        for r in results {
            calls.add(r?, 1);
        }
        Ok(FloorRun {
            elapsed,
            calls,
            found: n,
            client_cpu,
            server_cpu,
        })
    }

    /// Finds items with `finders` (all at once, each page by page) and deletes each
    /// item found with the write `delete` makes of it, `concurrency` deletes in flight,
    /// deleting while finding goes on. `found` is the number of items deleted.
    pub async fn find_then_delete(
        &self,
        table: &str,
        finders: Vec<Finder>,
        delete: impl Fn(Item) -> Conditional,
    ) -> Result<FloorRun, BenchError> {
        let cpu = CpuMark::now(self.server_pid);
        let started = Instant::now();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Item>();
        let finding = async move {
            let tx = tx;
            let found: Vec<Result<Calls, BenchError>> =
                futures::future::join_all(finders.iter().map(|f| self.find(table, f, &tx))).await;
            found
        };
        let deleting = stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .map(|item| self.write_one(table, delete(item)))
        .buffer_unordered(self.concurrency)
        .collect::<Vec<Result<&'static str, BenchError>>>();
        let (found, deleted) = futures::future::join(finding, deleting).await;
        let elapsed = started.elapsed();
        let (client_cpu, server_cpu) = cpu.since(self.server_pid);
        let mut calls = Calls::default();
        for f in found {
            calls.merge(&f?);
        }
        let n = deleted.len();
        for d in deleted {
            calls.add(d?, 1);
        }
        Ok(FloorRun {
            elapsed,
            calls,
            found: n,
            client_cpu,
            server_cpu,
        })
    }

    /// Reads `keys` (consistently, 100 per `BatchGetItem`), then sends the transactions
    /// `plan` makes of the items found (`TransactWriteItems`, `concurrency` in flight):
    /// a function's own requests, sent raw. A cancelled transaction is an error.
    pub async fn read_then_transact(
        &self,
        keys: Vec<Item>,
        table: &str,
        plan: impl FnOnce(Vec<Item>) -> Result<Vec<Vec<TransactWriteItem>>, BenchError>,
    ) -> Result<FloorRun, BenchError> {
        self.read_then_send(
            keys,
            table,
            plan,
            "TransactWriteItems",
            |actions| async move {
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(actions))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| BenchError::dynamo("TransactWriteItems", e))
            },
        )
        .await
    }

    /// Reads `keys` (consistently, 100 per `BatchGetItem`), then puts each item `plan`
    /// makes of the items found with its own `PutItem` conditioned on `version` being
    /// the value given with it, `concurrency` in flight: a conditional update without
    /// transactions (one write unit per item on DynamoDB instead of two). A failed
    /// condition is an error.
    pub async fn read_then_put_each(
        &self,
        keys: Vec<Item>,
        table: &str,
        plan: impl FnOnce(Vec<Item>) -> Result<Vec<(Item, AttributeValue)>, BenchError>,
    ) -> Result<FloorRun, BenchError> {
        self.read_then_send(keys, table, plan, "PutItem", |(item, version)| async move {
            self.client
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", version)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| BenchError::dynamo("conditional PutItem", e))
        })
        .await
    }

    /// Reads `keys`, then sends each request `plan` makes of the items found with `send`
    /// (one `operation` call each), `concurrency` in flight; any failure is an error.
    async fn read_then_send<R, F, Fut>(
        &self,
        keys: Vec<Item>,
        table: &str,
        plan: impl FnOnce(Vec<Item>) -> Result<Vec<R>, BenchError>,
        operation: &str,
        send: F,
    ) -> Result<FloorRun, BenchError>
    where
        F: Fn(R) -> Fut,
        Fut: std::future::Future<Output = Result<(), BenchError>>,
    {
        let cpu = CpuMark::now(self.server_pid);
        let started = Instant::now();
        let (found, mut calls) = self.get_all(table, keys).await?;
        let n = found.len();
        let requests = plan(found)?;
        let sent: Vec<Result<(), BenchError>> = stream::iter(requests)
            .map(send)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let elapsed = started.elapsed();
        let (client_cpu, server_cpu) = cpu.since(self.server_pid);
        calls.add(operation, sent.len() as u64);
        for r in sent {
            r?;
        }
        Ok(FloorRun {
            elapsed,
            calls,
            found: n,
            client_cpu,
            server_cpu,
        })
    }

    async fn find(
        &self,
        table: &str,
        finder: &Finder,
        into: &tokio::sync::mpsc::UnboundedSender<Item>,
    ) -> Result<Calls, BenchError> {
        let mut calls = Calls::default();
        let mut start: Option<Item> = None;
        loop {
            let (items, next) = match finder {
                Finder::Scan {
                    segment,
                    segments,
                    filter,
                    names,
                    values,
                } => {
                    calls.add("Scan", 1);
                    let out = self
                        .client
                        .scan()
                        .table_name(table)
                        .segment(*segment)
                        .total_segments(*segments)
                        .limit(PAGE)
                        .consistent_read(true)
                        .filter_expression(filter)
                        .set_expression_attribute_names(non_empty(names.clone()))
                        .set_expression_attribute_values(non_empty(values.clone()))
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| BenchError::dynamo("Scan", e))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
                Finder::Query {
                    index,
                    key_condition,
                    values,
                } => {
                    calls.add("Query", 1);
                    let out = self
                        .client
                        .query()
                        .table_name(table)
                        .index_name(index)
                        .key_condition_expression(key_condition)
                        .set_expression_attribute_values(non_empty(values.clone()))
                        .limit(PAGE)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| BenchError::dynamo("Query", e))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
            };
            for item in items {
                into.send(item).map_err(|_| {
                    BenchError::Scenario("the floor's deleting side stopped".into())
                })?;
            }
            match next {
                Some(n) => start = Some(n),
                None => return Ok(calls),
            }
        }
    }

    async fn write_one(&self, table: &str, w: Conditional) -> Result<&'static str, BenchError> {
        let failed = |op: &str, e: BoxError| {
            BenchError::dynamo(format!("floor {op} of {:?}", w.key.values().next()), e)
        };
        match &w.update {
            None => self
                .client
                .delete_item()
                .table_name(table)
                .set_key(Some(w.key.clone()))
                .condition_expression(&w.condition)
                .set_expression_attribute_names(non_empty(w.names.clone()))
                .set_expression_attribute_values(non_empty(w.values.clone()))
                .send()
                .await
                .map(|_| "DeleteItem")
                .map_err(|e| failed("DeleteItem", e.into())),
            Some(update) => self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(w.key.clone()))
                .update_expression(update)
                .condition_expression(&w.condition)
                .set_expression_attribute_names(non_empty(w.names.clone()))
                .set_expression_attribute_values(non_empty(w.values.clone()))
                .send()
                .await
                .map(|_| "UpdateItem")
                .map_err(|e| failed("UpdateItem", e.into())),
        }
    }
}

/// `None` for an empty map (DynamoDB refuses empty placeholder maps).
fn non_empty<K, V>(m: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!m.is_empty()).then_some(m)
}

/// The size DynamoDB bills an item by: attribute names plus values (UTF-8 bytes of
/// strings, about a byte per two digits of numbers, list/map overhead).
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
        AttributeValue::Ns(s) => s.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(s) => s.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_lists_parse_as_the_functions_log_them() {
        let c = Calls::parse("BatchGetItem=10 BatchWriteItem=40");
        assert_eq!(c.to_string(), "BatchGetItem=10 BatchWriteItem=40");
        assert_eq!(c.total(), 50);
        assert_eq!(Calls::parse("none"), Calls::default());
        assert_eq!(
            Calls::parse("TransactWriteItems=3 other=x").to_string(),
            "TransactWriteItems=3"
        );
    }

    #[test]
    fn item_sizes_count_names_and_values() {
        let item = Item::from([
            ("pk".to_owned(), AttributeValue::S("USER#1".into())),
            ("active".to_owned(), AttributeValue::Bool(true)),
        ]);
        assert_eq!(item_size(&item), 2 + 6 + 6 + 1);
    }
}
