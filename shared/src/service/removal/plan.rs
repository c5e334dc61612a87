//! Planning one user's removal, given what is known: whether it qualifies, and the unit
//! that removes it (the user's own write, its name-registry change and the flag of a user
//! its name leaves alone). Pure: nothing here reads or writes.

use crate::domain::filter::Filter;
use crate::domain::{LinkId, Timestamp};
use crate::service::filter_plan;
use crate::service::known::Known;
use crate::service::names::{NameChange, name_change};
use crate::store::keys;
use crate::store::records::UserRecord;
use crate::store::units::{Expect, Unit, UnitBuilder};

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

/// The registry a removal needs: the name a live user with namesakes leaves (delete,
/// soft delete), or the name a soft-deleted user joins again (restore). A user alone
/// with its name leaves no registry write behind (see [`crate::service::names`]).
pub(crate) fn registry_name<'u>(user: &'u UserRecord, removal: Removal<'_>) -> Option<&'u str> {
    let needed = match removal {
        Removal::Delete | Removal::DeleteMatching(_) | Removal::SoftDelete { .. } => {
            user.is_live() && user.name_dup
        }
        Removal::Restore { .. } => !user.is_live(),
        Removal::Purge { .. } => false,
    };
    needed.then_some(user.name.as_str())
}

/// A user's write, as the unit's tag: what the request knows once it committed.
#[derive(Debug)]
pub(crate) struct Removed {
    pub id: LinkId,
    /// The user after the write; `None`: deleted.
    pub record: Option<UserRecord>,
    pub change: NameChange,
}

/// What one user's removal comes to.
#[derive(Debug)]
pub(crate) enum Planned {
    /// Already in the requested state.
    Noop,
    /// Does not qualify; nothing to write.
    Skip,
    /// One unit.
    Write(Box<Unit<Removed>>),
}

/// Plans one user's removal; `None` when a registry it needs is not known (it could not
/// be read in time).
pub(crate) fn plan(
    known: &Known,
    user: &UserRecord,
    removal: Removal<'_>,
    actor: &str,
    now: Timestamp,
) -> Option<Planned> {
    let id = user.link_id;
    let record = match removal {
        Removal::Delete | Removal::DeleteMatching(_) | Removal::Purge { .. } => {
            let condition = match removal {
                Removal::DeleteMatching(filter) if !filter_plan::matches(filter, user) => {
                    return Some(Planned::Skip);
                }
                Removal::DeleteMatching(filter) => Some(filter_plan::expression(filter)),
                Removal::Purge { deleted_before } => {
                    let due = user
                        .deleted_at
                        .as_deref()
                        .is_some_and(|at| at < deleted_before);
                    if !due {
                        return Some(Planned::Skip);
                    }
                    None
                }
                _ => None,
            };
            let change = name_change(known, &id, Some(user), None)?;
            // The user's identifier claims are left in place: a claim naming a user that
            // no longer exists is free, and the next claimant takes it over atomically.
            // One action per user unless namesakes remain.
            let unit = UnitBuilder::new().delete_user(user, condition);
            return Some(write(unit, id, None, change));
        }
        Removal::SoftDelete { state } => {
            let flag_changes = state.is_some_and(|s| s != user.active);
            if !user.is_live() && !flag_changes {
                return Some(Planned::Noop);
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
                return Some(Planned::Noop);
            }
            let mut r = changed(user, state, actor, now);
            r.deleted_at = None;
            r.deleted_by = None;
            r.del_shard = None;
            r
        }
    };
    let mut record = record;
    let change = name_change(known, &id, Some(user), Some(&record))?;
    record.name_dup = change.name_dup;
    let put = UnitBuilder::new().put_user(record.clone(), Expect::Version(user.version));
    Some(write(put, id, Some(record), change))
}

/// The user's own write followed by its name-registry change, as one unit tagged with
/// what it does.
fn write(user: UnitBuilder, id: LinkId, record: Option<UserRecord>, change: NameChange) -> Planned {
    let unit = change.write(user);
    Planned::Write(Box::new(unit.build(Removed { id, record, change })))
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
