//! What happens to a hard delete (seed 000) and to a soft delete or restore (seed 003).
//!
//! One core serves both: the users are read in batches, each user's change is planned as
//! one all-or-nothing unit (the user write, its name-registry
//! change and the flag of a user its name leaves alone), units are packed into
//! transactions, and a unit whose condition fails (the user changed meanwhile) is re-read
//! and planned again. Every write is conditional on the version read, so the answer is
//! the truth at write time: of two requests deleting one user, exactly one says `deleted`.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::deadline::{Backoff, Deadline};
use crate::domain::filter::Filter;
use crate::domain::outcome::{ExtendedInfo, ItemOutcome};
use crate::domain::{LinkId, Timestamp};
use crate::service::known::{Known, Lookup, NameChange};
use crate::store::records::{StoredFactor, UserRecord};
use crate::store::tx::Expect;
use crate::store::units::{Unit, UnitFate};
use crate::store::{Store, StoreError, keys};

/// What to do to each user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal<'a> {
    /// Remove the user (its identifiers are free from then on).
    Delete,
    /// Remove the user if it is live and matches the filter at the moment of deletion
    /// (seed 004); the filter is the delete's condition.
    DeleteMatching(&'a Filter),
    /// Remove a user soft-deleted before this stored time (the scheduled clean-up).
    Purge {
        /// Users soft-deleted at or after this time are kept.
        deleted_before: &'a str,
    },
    /// Mark the user deleted (who, when); `state`, when given, sets its active flag.
    SoftDelete {
        /// New value of `active`, if any.
        state: Option<bool>,
    },
    /// Undo a soft delete; `state`, when given, sets its active flag.
    Restore {
        /// New value of `active`, if any.
        state: Option<bool>,
    },
}

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

/// Hard delete (seed 000): one outcome per id in request order. A repeated id answers
/// `deleted` for its first occurrence and `not_found` after, as the seed's example shows.
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
        let mut planned: HashMap<LinkId, (Option<UserRecord>, NameChange)> = HashMap::new();
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
            match plan(store, &known, user, removal, actor, now) {
                Ok(Some(Planned::Noop)) => {
                    fates.insert(id, RemovalOutcome::Applied);
                }
                Ok(Some(Planned::Skip)) => {
                    fates.insert(id, RemovalOutcome::Skipped);
                }
                Ok(Some(Planned::Write {
                    unit,
                    record,
                    change,
                })) => {
                    units.push(unit);
                    planned.insert(id, (record.map(|r| *r), change));
                }
                Ok(None) => {
                    fates.insert(id, RemovalOutcome::NotProcessed);
                }
                Err(e) => {
                    tracing::error!(error = ?e, "removal could not be planned");
                    fates.insert(id, RemovalOutcome::NotProcessed);
                }
            }
        }
        let mut conflicts = 0usize;
        for (id, fate) in store.apply_units(units, &deadline).await {
            let Some((record, change)) = planned.remove(&id) else {
                continue;
            };
            match fate {
                UnitFate::Applied => {
                    wrote_any = true;
                    known.committed(id, record, &change);
                    fates.insert(id, RemovalOutcome::Applied);
                }
                // Lost a race: read again and judge again, while the deadline allows.
                UnitFate::Conflict | UnitFate::ClaimTaken(_) => {
                    conflicts += 1;
                    known.forget(&id, &[], Some(&change));
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
        .map(|id| Lookup::User(*id))
        .collect();
    known.fetch(store, users, deadline).await?;
    let mut names = HashSet::new();
    for id in pending {
        if let Some(Some(u)) = known.users.get(id)
            && let Some(name) = registry_name(u, removal)
        {
            names.insert(name.to_owned());
        }
    }
    let unknown = names
        .iter()
        .filter(|n| !known.names.contains_key(*n))
        .map(|n| Lookup::Name(n.clone()))
        .collect();
    known.fetch(store, unknown, deadline).await?;
    let members: HashSet<LinkId> = names
        .iter()
        .flat_map(|n| known.unknown_members(n))
        .collect();
    known
        .fetch(
            store,
            members.into_iter().map(Lookup::User).collect(),
            deadline,
        )
        .await
}

/// The registry a removal needs: the name a live user with namesakes leaves (delete,
/// soft delete), or the name a soft-deleted user joins again (restore). A user alone
/// with its name leaves no registry write behind (see [`Known::name_change`]).
fn registry_name<'u>(user: &'u UserRecord, removal: Removal<'_>) -> Option<&'u str> {
    let needed = match removal {
        Removal::Delete | Removal::DeleteMatching(_) | Removal::SoftDelete { .. } => {
            user.is_live() && user.name_dup
        }
        Removal::Restore { .. } => !user.is_live(),
        Removal::Purge { .. } => false,
    };
    needed.then_some(user.name.as_str())
}

enum Planned {
    /// Already in the requested state.
    Noop,
    /// Does not qualify; nothing to write.
    Skip,
    /// One unit; `record` is the user after it (`None`: deleted).
    Write {
        unit: Unit<LinkId>,
        record: Option<Box<UserRecord>>,
        change: NameChange,
    },
}

impl Planned {
    /// The user's own write followed by its name-registry change, as one unit.
    fn write(
        id: LinkId,
        user_write: TransactWriteItem,
        change: NameChange,
        record: Option<UserRecord>,
        bytes: usize,
    ) -> Self {
        let mut actions = vec![user_write];
        actions.extend(change.actions.iter().cloned());
        Planned::Write {
            unit: Unit {
                bytes,
                ..Unit::plain(id, actions)
            },
            record: record.map(Box::new),
            change,
        }
    }
}

/// Plans one user's removal; `None` when a registry it needs could not be read in time.
fn plan(
    store: &Store,
    known: &Known,
    user: &UserRecord,
    removal: Removal<'_>,
    actor: &str,
    now: Timestamp,
) -> Result<Option<Planned>, StoreError> {
    let id = user.link_id;
    let bytes = 2048
        + user
            .auth_factors
            .iter()
            .map(|f| match f {
                StoredFactor::Face { image } => image.len(),
                _ => 0,
            })
            .sum::<usize>();
    let record = match removal {
        Removal::Delete | Removal::DeleteMatching(_) | Removal::Purge { .. } => {
            let condition = match removal {
                Removal::DeleteMatching(filter) if !filter.matches(user) => {
                    return Ok(Some(Planned::Skip));
                }
                Removal::DeleteMatching(filter) => Some(filter.expression()),
                Removal::Purge { deleted_before } => {
                    let due = user
                        .deleted_at
                        .as_deref()
                        .is_some_and(|at| at < deleted_before);
                    if !due {
                        return Ok(Some(Planned::Skip));
                    }
                    None
                }
                _ => None,
            };
            let Some(change) = known.name_change(store, &id, Some(user), None)? else {
                return Ok(None);
            };
            // The user's identifier claims are left in place: a claim naming a user that
            // no longer exists is free, and the next claimant takes it over atomically
            // (see `Store::take_over`). One action per user unless namesakes remain.
            let delete = store.delete_user(&id, user.version, condition.as_ref())?;
            return Ok(Some(Planned::write(id, delete, change, None, bytes)));
        }
        Removal::SoftDelete { state } => {
            let flag_changes = state.is_some_and(|s| s != user.active);
            if !user.is_live() && !flag_changes {
                return Ok(Some(Planned::Noop));
            }
            let mut r = changed(user, state, actor, now);
            if user.is_live() {
                r.deleted_at = Some(now.to_db_string());
                r.deleted_by = Some(actor.to_owned());
                r.del_shard = Some(keys::deleted_shard(&id));
            }
            r
        }
        Removal::Restore { state } => {
            let flag_changes = state.is_some_and(|s| s != user.active);
            if user.is_live() && !flag_changes {
                return Ok(Some(Planned::Noop));
            }
            let mut r = changed(user, state, actor, now);
            r.deleted_at = None;
            r.deleted_by = None;
            r.del_shard = None;
            r
        }
    };
    let mut record = record;
    let Some(change) = known.name_change(store, &id, Some(user), Some(&record))? else {
        return Ok(None);
    };
    record.name_dup = change.name_dup;
    let put = store.put_user(&record, Expect::Version(user.version))?;
    Ok(Some(Planned::write(id, put, change, Some(record), bytes)))
}

/// The user with `state` applied and the change recorded (the creation record is kept).
fn changed(user: &UserRecord, state: Option<bool>, actor: &str, now: Timestamp) -> UserRecord {
    let mut r = user.clone();
    r.active = state.unwrap_or(user.active);
    r.update_time = now.to_db_string();
    r.updated_by = actor.to_owned();
    r.version = user.version + 1;
    r
}
