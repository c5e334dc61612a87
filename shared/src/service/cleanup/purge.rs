//! The purge of users soft-deleted longer than the retention, run by the scheduled
//! clean-up. They are found through the sparse `deleted-index` (one Query per shard,
//! oldest first), never by scanning, and each goes through the same removal core as a
//! hard delete, conditioned on still being soft-deleted before the cut-off. Work stops at
//! the deadline; the next run finds what is left and carries on.

use futures::StreamExt;
use futures::stream;

use crate::deadline::Deadline;
use crate::domain::{LinkId, Timestamp};
use crate::service::removal::{Removal, RemovalOutcome, apply_removal_to};
use crate::store::keys::DELETED_SHARDS;
use crate::store::read::Users;
use crate::store::{Store, StoreError};

/// What a purge did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeRun {
    /// Soft-deleted users found past the retention.
    pub found: usize,
    /// Removed, with their identifiers freed.
    pub purged: usize,
    /// Found but restored (or changed) meanwhile: left alone.
    pub skipped: usize,
    /// Not removed before the deadline.
    pub failed: usize,
    /// More may be due: the run stopped at its deadline; the next run carries on.
    pub remaining: bool,
}

/// Purges users soft-deleted before `deleted_before`, found through the sparse
/// `deleted-index` (one Query per shard, oldest first), never by scanning.
pub async fn purge_soft_deleted(
    store: &Store,
    deleted_before: Timestamp,
    actor: &str,
    deadline: Deadline,
) -> Result<PurgeRun, StoreError> {
    Box::pin(purge_shards(store, deleted_before, actor, deadline)).await
}

async fn purge_shards(
    store: &Store,
    deleted_before: Timestamp,
    actor: &str,
    deadline: Deadline,
) -> Result<PurgeRun, StoreError> {
    let before = deleted_before.to_db_string();
    let runs = (0..DELETED_SHARDS).map(|shard| {
        let before = before.as_str();
        async move {
            let mut run = PurgeRun::default();
            let mut start = None;
            loop {
                let Some(page) = store
                    .soft_deleted_before(shard, before, start, &deadline)
                    .await?
                else {
                    run.remaining = true;
                    return Ok::<_, StoreError>(run);
                };
                let Users { users, incomplete } = store.read_users(&page.items, &deadline).await?;
                run.remaining |= incomplete;
                let ids: Vec<LinkId> = users.iter().map(|u| u.link_id).collect();
                run.found += ids.len();
                let removal = Removal::Purge {
                    deleted_before: before,
                };
                let outcomes =
                    apply_removal_to(store, &ids, users, removal, actor, deadline).await?;
                for outcome in outcomes {
                    match outcome {
                        RemovalOutcome::Applied => run.purged += 1,
                        RemovalOutcome::NotProcessed => {
                            run.failed += 1;
                            run.remaining = true;
                        }
                        RemovalOutcome::NotFound | RemovalOutcome::Skipped => run.skipped += 1,
                    }
                }
                start = page.next;
                if start.is_none() {
                    return Ok(run);
                }
                if deadline.expired() {
                    run.remaining = true;
                    return Ok(run);
                }
            }
        }
    });
    let shards: Vec<Result<PurgeRun, StoreError>> = stream::iter(runs)
        .buffer_unordered(DELETED_SHARDS as usize)
        .collect()
        .await;
    let mut total = PurgeRun::default();
    for shard in shards {
        let s = shard?;
        total.found += s.found;
        total.purged += s.purged;
        total.skipped += s.skipped;
        total.failed += s.failed;
        total.remaining |= s.remaining;
    }
    Ok(total)
}
