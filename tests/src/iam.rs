//! The IAM permissions the requests of a client need, recorded as they are sent: each
//! operation's own action, and for `TransactWriteItems` the action of each item in it
//! (`Put` needs `dynamodb:PutItem`, `ConditionCheck` needs `dynamodb:ConditionCheckItem`,
//! ...), with the index a `Query` or `Scan` reads. Tests compare them with what
//! `template.yaml` grants the function.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::scan::ScanInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use devctl::policy::{Grant, Target};

/// Records the permissions of every request sent through the client it is added to.
#[derive(Clone, Debug, Default)]
pub struct IamRecorder {
    used: Arc<Mutex<BTreeSet<Grant>>>,
}

impl IamRecorder {
    /// The permissions needed since the last call, forgetting them.
    pub fn take(&self) -> BTreeSet<Grant> {
        self.used
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default()
    }
}

fn on(index: Option<&str>) -> Target {
    index.map_or(Target::Table, |i| Target::Index(i.to_owned()))
}

impl Intercept for IamRecorder {
    fn name(&self) -> &'static str {
        "IamRecorder"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(op) = cfg.load::<Metadata>().map(|m| m.name().to_owned()) else {
            return Ok(());
        };
        let input = context.input();
        let mut needed = Vec::new();
        if let Some(t) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in t.transact_items() {
                let action = if item.put().is_some() {
                    "PutItem"
                } else if item.update().is_some() {
                    "UpdateItem"
                } else if item.delete().is_some() {
                    "DeleteItem"
                } else {
                    "ConditionCheckItem"
                };
                needed.push(Grant::new(&format!("dynamodb:{action}"), Target::Table));
            }
        } else if let Some(q) = input.downcast_ref::<QueryInput>() {
            needed.push(Grant::new("dynamodb:Query", on(q.index_name())));
        } else if let Some(s) = input.downcast_ref::<ScanInput>() {
            needed.push(Grant::new("dynamodb:Scan", on(s.index_name())));
        } else {
            needed.push(Grant::new(&format!("dynamodb:{op}"), Target::Table));
        }
        if let Ok(mut used) = self.used.lock() {
            used.extend(needed);
        }
        Ok(())
    }
}
