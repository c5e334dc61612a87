//! Where the clean-up's saved filter deletes stopped, kept between scheduled runs under
//! `PROGRESS#<filter id>`: a scan of a table larger than one run can cover goes on, run
//! after run, from where the last one stopped. The position is opaque here.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, StoreError, bounded, keys, request_error};
use crate::deadline::Deadline;

/// The attribute holding the position.
const POSITION: &str = "position";

impl Store {
    /// The positions recorded for the filters `ids` (one batched read), by id; a filter
    /// with none (or not read before the deadline) is absent: it starts from the start.
    pub async fn progress(
        &self,
        ids: &[String],
        deadline: &Deadline,
    ) -> Result<HashMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let fetched = self
            .get_many(ids.iter().map(|id| keys::progress(id)), deadline)
            .await?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let item = fetched.items.get(&keys::progress(id))?;
                let position = item.get(POSITION)?.as_s().ok()?;
                Some((id.clone(), position.clone()))
            })
            .collect())
    }

    /// Records where filter `id` stopped (`Some`), or forgets it (`None`: the next run
    /// starts from the start).
    pub async fn set_progress(
        &self,
        id: &str,
        position: Option<&str>,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        if self.dry.is_some() {
            return Ok(());
        }
        let key = AttributeValue::S(keys::progress(id));
        match position {
            Some(position) => {
                let sent = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key(keys::PK, key)
                    .update_expression("SET #p = :p")
                    .expression_attribute_names("#p", POSITION)
                    .expression_attribute_values(":p", AttributeValue::S(position.to_owned()))
                    .send();
                match bounded(deadline, sent).await {
                    Some(r) => r.map(drop).map_err(|e| request_error("UpdateItem", e)),
                    None => Err(StoreError::Unanswered("UpdateItem")),
                }
            }
            None => {
                let sent = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .key(keys::PK, key)
                    .send();
                match bounded(deadline, sent).await {
                    Some(r) => r.map(drop).map_err(|e| request_error("DeleteItem", e)),
                    None => Err(StoreError::Unanswered("DeleteItem")),
                }
            }
        }
    }
}
