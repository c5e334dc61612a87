//! What happens to a hard delete (docs/contracts.md#delete-users) and to a soft delete or
//! restore (docs/contracts.md#soft-delete-and-restore).
//!
//! One core serves both: the users are read in batches, each user's change is planned as
//! one all-or-nothing unit (the user write, its name-registry
//! change and the flag of a user its name leaves alone), units are packed into
//! transactions, and a unit whose condition fails (the user changed meanwhile) is re-read
//! and planned again. Every write is conditional on the version read, so the answer is
//! the truth at write time: of two requests deleting one user, exactly one says `deleted`.

mod plan;

use std::collections::{BTreeSet, HashMap, HashSet};

pub use self::plan::Removal;
use self::plan::{Planned, plan, registry_name};
use crate::deadline::{Backoff, Deadline};
use crate::domain::outcome::{ExtendedInfo, ItemOutcome};
use crate::domain::{LinkId, Timestamp};
use crate::service::known::Known;
use crate::service::names::{committed, forget};
use crate::store::read::Key;
use crate::store::records::UserRecord;
use crate::store::units::UnitFate;
use crate::store::{Store, StoreError};

/// The end of one id's removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalOutcome {
    /// Applied, or already in the requested state (repeating is harmless).
    Applied,
    /// No such user.
    NotFound,
    /// The user does not (or no longer) qualify: it stopped matching the filter, was
    /// restored, or was soft-deleted too recently. Nothing was written.
    Skipped,
    /// Not applied before the deadline; safe to send again.
    NotProcessed,
}

/// Hard delete (`DELETE /api/v1/users/bulk`): one outcome per id in request order. A
/// repeated id answers `deleted` for its first occurrence and `not_found` after, as the
/// contract's example shows.
pub async fn delete_users(
    store: &Store,
    ids: &[LinkId],
    actor: &str,
    deadline: Deadline,
) -> Result<Vec<ItemOutcome>, StoreError> {
    let outcomes = apply_removal(store, ids, Removal::Delete, actor, deadline).await?;
    let mut seen = HashSet::new();
    Ok(ids
        .iter()
        .zip(outcomes)
        .map(|(id, outcome)| {
            let first = seen.insert(*id);
            let info = match outcome {
                RemovalOutcome::Applied if first => ExtendedInfo::Deleted,
                RemovalOutcome::Applied | RemovalOutcome::NotFound | RemovalOutcome::Skipped => {
                    ExtendedInfo::NotFound
                }
                RemovalOutcome::NotProcessed => ExtendedInfo::NotProcessed,
            };
            ItemOutcome::delete(*id, info)
        })
        .collect())
}

/// Applies `removal` to every id; returns one outcome per id, in request order (a
/// repeated id shares the outcome of its first occurrence). Errs only when the store
/// failed before anything was written.
pub async fn apply_removal(
    store: &Store,
    ids: &[LinkId],
    removal: Removal<'_>,
    actor: &str,
    deadline: Deadline,
) -> Result<Vec<RemovalOutcome>, StoreError> {
    apply_removal_to(store, ids, Vec::new(), removal, actor, deadline).await
}

/// [`apply_removal`] for users already read (a scan page, a query): they are planned
/// from `preloaded` without reading them again; a user whose write then loses a race is
/// re-read and judged again.
pub async fn apply_removal_to(
    store: &Store,
    ids: &[LinkId],
    preloaded: Vec<UserRecord>,
    removal: Removal<'_>,
    actor: &str,
    deadline: Deadline,
) -> Result<Vec<RemovalOutcome>, StoreError> {
    let mut seen = HashSet::new();
    let mut pending: Vec<LinkId> = ids.iter().filter(|id| seen.insert(**id)).copied().collect();
    let now = Timestamp::now();
    let mut fates: HashMap<LinkId, RemovalOutcome> = HashMap::with_capacity(pending.len());
    let mut known = Known::default();
    for user in preloaded {
        known.users.insert(user.link_id, Some(user));
    }
    let mut wrote_any = false;
    let mut backoff = Backoff::default();
    while !pending.is_empty() && !deadline.expired() {
        if let Err(e) = load(store, &pending, removal, &mut known, &deadline).await {
            if !wrote_any {
                return Err(e);
            }
            tracing::error!(error = ?e, "reading users failed mid-request");
            break;
        }
        let mut next = Vec::new();
        let mut names_in_round = HashSet::new();
        let mut units = Vec::new();
        for id in pending {
            let user = match known.users.get(&id) {
                None => {
                    fates.insert(id, RemovalOutcome::NotProcessed);
                    continue;
                }
                Some(None) => {
                    fates.insert(id, RemovalOutcome::NotFound);
                    continue;
                }
                Some(Some(u)) => u,
            };
            // Users sharing a registry change it one round after the other.
            if let Some(name) = registry_name(user, removal)
                && !names_in_round.insert(name.to_owned())
            {
                next.push(id);
                continue;
            }
            let fate = match plan(&known, user, removal, actor, now) {
                Some(Planned::Noop) => RemovalOutcome::Applied,
                Some(Planned::Skip) => RemovalOutcome::Skipped,
                Some(Planned::Write(unit)) => {
                    units.push(*unit);
                    continue;
                }
                None => RemovalOutcome::NotProcessed,
            };
            fates.insert(id, fate);
        }
        let mut conflicts = 0usize;
        for (removed, fate) in store.apply_units(units, &deadline).await {
            let id = removed.id;
            match fate {
                UnitFate::Applied => {
                    wrote_any = true;
                    committed(&mut known, id, removed.record, &removed.change);
                    fates.insert(id, RemovalOutcome::Applied);
                }
                // Lost a race: read again and judge again, while the deadline allows.
                UnitFate::Conflict | UnitFate::ClaimTaken(_) => {
                    conflicts += 1;
                    forget(&mut known, &id, &removed.change);
                    next.push(id);
                }
                UnitFate::NotProcessed => {
                    fates.insert(id, RemovalOutcome::NotProcessed);
                }
            }
        }
        pending = next;
        if conflicts > 0 && !pending.is_empty() && !backoff.wait(&deadline).await {
            break;
        }
    }
    Ok(ids
        .iter()
        .map(|id| {
            fates
                .get(id)
                .copied()
                .unwrap_or(RemovalOutcome::NotProcessed)
        })
        .collect())
}

/// Reads the users not known yet, then the registries their change needs, then the
/// members of those registries.
async fn load(
    store: &Store,
    pending: &[LinkId],
    removal: Removal<'_>,
    known: &mut Known,
    deadline: &Deadline,
) -> Result<(), StoreError> {
    let users = pending
        .iter()
        .filter(|id| !known.users.contains_key(id))
        .map(|id| Key::User(*id))
        .collect();
    known.fetch(store, users, deadline).await?;
    let names: BTreeSet<String> = pending
        .iter()
        .filter_map(|id| known.users.get(id)?.as_ref())
        .filter_map(|u| registry_name(u, removal))
        .map(str::to_owned)
        .collect();
    known.fetch_names(store, &names, Vec::new(), deadline).await
}
