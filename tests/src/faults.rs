//! SDK-level fault injection over the real DynamoDB Local: the first batch reads have
//! part of their keys held back and reported as `UnprocessedKeys`, exactly as DynamoDB
//! does under load. Held-back keys are really not read, so a wrong decision on an
//! unread user shows in the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::scan::ScanError;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use aws_sdk_dynamodb::types::error::{
    ProvisionedThroughputExceededException, ResourceNotFoundException,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    Error as InterceptorError, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Holds back half of the keys of the first `read_calls` `BatchGetItem` calls.
#[derive(Clone, Debug, Default)]
pub struct Unprocessed {
    reads_left: Arc<AtomicUsize>,
    held_reads: Arc<AtomicUsize>,
}

impl Unprocessed {
    /// Affects the first `read_calls` reads.
    pub fn new(read_calls: usize) -> Self {
        Self {
            reads_left: Arc::new(AtomicUsize::new(read_calls)),
            ..Self::default()
        }
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
        if let Some(g) = input.downcast_mut::<BatchGetItemInput>()
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

/// Lets DynamoDB apply the first `times` attempts of `operation` and then drops their
/// answers, as a connection reset on the way back does: the SDK sees a transport error
/// and the caller cannot know from it whether the write was applied.
#[derive(Clone, Debug)]
pub struct LostAnswers {
    operation: &'static str,
    left: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl LostAnswers {
    /// Drops the answers of the first `times` attempts of `operation`.
    pub fn new(operation: &'static str, times: usize) -> Self {
        Self {
            operation,
            left: Arc::new(AtomicUsize::new(times)),
            dropped: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Answers dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl Intercept for LostAnswers {
    fn name(&self) -> &'static str {
        "LostAnswers"
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ours = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == self.operation);
        if let Some(result) = context.output_or_error_mut()
            && ours
            && result.is_ok()
            && take_one(&self.left)
        {
            self.dropped.fetch_add(1, Ordering::SeqCst);
            *result = Err(OrchestratorError::connector(ConnectorError::io(
                "connection reset after the request was sent".into(),
            )));
        }
        Ok(())
    }
}

/// Runs `hook` once, just before the first `operation` request is transmitted (after
/// the caller read what it plans on): a concurrent change landing between a read and the
/// write that depends on it. The hook blocks that request until it returns, so the
/// test's runtime must be multi-threaded.
#[derive(Clone)]
pub struct BeforeFirst {
    operation: &'static str,
    hook: Arc<std::sync::Mutex<Option<Hook>>>,
}

/// What [`BeforeFirst`] runs.
type Hook = Box<dyn FnOnce() + Send>;

impl std::fmt::Debug for BeforeFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeforeFirst")
            .field("operation", &self.operation)
            .finish()
    }
}

impl BeforeFirst {
    /// Runs `hook` before the first `operation`.
    pub fn new(operation: &'static str, hook: impl FnOnce() + Send + 'static) -> Self {
        Self {
            operation,
            hook: Arc::new(std::sync::Mutex::new(Some(Box::new(hook)))),
        }
    }

    /// Whether the hook ran.
    pub fn ran(&self) -> bool {
        self.hook.lock().map(|h| h.is_none()).unwrap_or(false)
    }
}

impl Intercept for BeforeFirst {
    fn name(&self) -> &'static str {
        "BeforeFirst"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == self.operation)
        {
            let hook = self.hook.lock().ok().and_then(|mut h| h.take());
            if let Some(hook) = hook {
                tokio::task::block_in_place(hook);
            }
        }
        Ok(())
    }
}

/// Lets the first `ok` `Scan` requests through, then answers every later one with a
/// `ResourceNotFoundException` (an error no retry fixes), as if the table went away
/// mid-run.
#[derive(Clone, Debug)]
pub struct ScansFailAfter {
    ok: Arc<AtomicUsize>,
    throttle: bool,
}

impl ScansFailAfter {
    /// Fails every `Scan` after the first `ok`.
    pub fn new(ok: usize) -> Self {
        Self {
            ok: Arc::new(AtomicUsize::new(ok)),
            throttle: false,
        }
    }

    /// Throttles every `Scan` after the first `ok` (a transient error: retried with
    /// backoff until the deadline, where the scan stops).
    pub fn throttled(ok: usize) -> Self {
        Self {
            throttle: true,
            ..Self::new(ok)
        }
    }
}

impl Intercept for ScansFailAfter {
    fn name(&self) -> &'static str {
        "ScansFailAfter"
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Metadata>().is_some_and(|m| m.name() == "Scan")
            && !take_one(&self.ok)
            && let Some(result) = context.output_or_error_mut()
        {
            let error = if self.throttle {
                ScanError::ProvisionedThroughputExceededException(
                    ProvisionedThroughputExceededException::builder()
                        .message("busy")
                        .meta(
                            aws_smithy_types::error::ErrorMetadata::builder()
                                .code("ProvisionedThroughputExceededException")
                                .build(),
                        )
                        .build(),
                )
            } else {
                ScanError::ResourceNotFoundException(
                    ResourceNotFoundException::builder()
                        .message("table gone")
                        .build(),
                )
            };
            *result = Err(OrchestratorError::operation(InterceptorError::erase(error)));
        }
        Ok(())
    }
}
