//! SDK-level fault injection over the real DynamoDB Local: the first batch calls have
//! part of their items held back and reported as `UnprocessedItems` / `UnprocessedKeys`,
//! exactly as DynamoDB does under load. Held-back items are really not written (or not
//! read), so the table shows whether the code resubmitted them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::types::{KeysAndAttributes, WriteRequest};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Holds back half of the items of the first `write_calls` `BatchWriteItem` calls and of
/// the first `read_calls` `BatchGetItem` calls.
#[derive(Clone, Debug, Default)]
pub struct Unprocessed {
    writes_left: Arc<AtomicUsize>,
    reads_left: Arc<AtomicUsize>,
    held_writes: Arc<AtomicUsize>,
    held_reads: Arc<AtomicUsize>,
}

impl Unprocessed {
    /// Affects the first `write_calls` writes and `read_calls` reads.
    pub fn new(write_calls: usize, read_calls: usize) -> Self {
        Self {
            writes_left: Arc::new(AtomicUsize::new(write_calls)),
            reads_left: Arc::new(AtomicUsize::new(read_calls)),
            ..Self::default()
        }
    }

    /// Write requests held back so far.
    pub fn held_writes(&self) -> usize {
        self.held_writes.load(Ordering::SeqCst)
    }

    /// Keys held back so far.
    pub fn held_reads(&self) -> usize {
        self.held_reads.load(Ordering::SeqCst)
    }
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[derive(Clone, Debug)]
struct HeldWrites(String, Vec<WriteRequest>);
impl Storable for HeldWrites {
    type Storer = StoreReplace<Self>;
}

#[derive(Clone, Debug)]
struct HeldKeys(String, KeysAndAttributes);
impl Storable for HeldKeys {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Unprocessed {
    fn name(&self) -> &'static str {
        "Unprocessed"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        if let Some(w) = input.downcast_mut::<BatchWriteItemInput>() {
            if let Some((table, reqs)) = w.request_items.as_mut().and_then(|m| m.iter_mut().next())
                && reqs.len() > 1
                && take_one(&self.writes_left)
            {
                let held = reqs.split_off(reqs.len() / 2);
                self.held_writes.fetch_add(held.len(), Ordering::SeqCst);
                cfg.interceptor_state()
                    .store_put(HeldWrites(table.clone(), held));
            }
        } else if let Some(g) = input.downcast_mut::<BatchGetItemInput>()
            && let Some((table, ka)) = g.request_items.as_mut().and_then(|m| m.iter_mut().next())
            && ka.keys.len() > 1
            && take_one(&self.reads_left)
        {
            let held = ka.keys.split_off(ka.keys.len() / 2);
            self.held_reads.fetch_add(held.len(), Ordering::SeqCst);
            let mut rest = ka.clone();
            rest.keys = held;
            cfg.interceptor_state()
                .store_put(HeldKeys(table.clone(), rest));
        }
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        if let Some(HeldWrites(table, held)) = cfg.load::<HeldWrites>().cloned()
            && let Some(out) = output.downcast_mut::<BatchWriteItemOutput>()
        {
            out.unprocessed_items
                .get_or_insert_with(Default::default)
                .entry(table)
                .or_default()
                .extend(held);
        }
        if let Some(HeldKeys(table, held)) = cfg.load::<HeldKeys>().cloned()
            && let Some(out) = output.downcast_mut::<BatchGetItemOutput>()
        {
            out.unprocessed_keys
                .get_or_insert_with(Default::default)
                .insert(table, held);
        }
        Ok(())
    }
}
