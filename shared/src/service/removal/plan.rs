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
    /// (delete by filter); the filter is the delete's condition.
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
    /// A SCIM DELETE: a soft delete that also gives up what SCIM kept of the user, so
    /// that its `userName` is free at once (its claim then names a user that no longer
    /// carries it); a restore brings the user back without it.
    ScimDelete,
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
        Removal::Delete
        | Removal::DeleteMatching(_)
        | Removal::SoftDelete { .. }
        | Removal::ScimDelete => user.is_live() && user.name_dup,
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
        Removal::ScimDelete => {
            if !user.is_live() {
                return Some(Planned::Noop);
            }
            let mut r = changed(user, None, actor, now);
            r.deleted_at = Some(now.to_db_string());
            r.deleted_by = Some(actor.to_owned());
            r.del_shard = Some(keys::deleted_shard(&id));
            r.scim = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::known::NameState;
    use crate::store::units::Action;
    use std::collections::BTreeSet;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap()
    }

    fn user(name: &str) -> UserRecord {
        UserRecord::for_tests(LinkId::new_random(), name, Vec::new())
    }

    fn soft_deleted(name: &str, at: &str) -> UserRecord {
        let mut u = user(name);
        u.deleted_at = Some(at.into());
        u.deleted_by = Some("ops".into());
        u.del_shard = Some(keys::deleted_shard(&u.link_id));
        u
    }

    fn unit(planned: Option<Planned>) -> Box<Unit<Removed>> {
        match planned {
            Some(Planned::Write(unit)) => unit,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn deleting_a_user_alone_with_its_name_is_one_conditional_delete() {
        let ann = user("Ann");
        let u = unit(plan(&Known::default(), &ann, Removal::Delete, "ops", now()));
        assert_eq!(
            u.actions(),
            [Action::DeleteUser {
                id: ann.link_id,
                version: 1,
                condition: None,
            }]
        );
        assert_eq!(u.tag().record, None);
        assert_eq!(registry_name(&ann, Removal::Delete), None);
    }

    #[test]
    fn deleting_one_of_two_namesakes_writes_the_registry_and_the_other_ones_flag() {
        let (mut ann, mut ann2) = (user("Ann"), user("Ann"));
        ann.name_dup = true;
        ann2.name_dup = true;
        let k = Known::with_users(&[&ann, &ann2]);
        assert_eq!(registry_name(&ann, Removal::Delete), Some("Ann"));
        let u = unit(plan(&k, &ann, Removal::Delete, "ops", now()));
        assert!(matches!(u.actions()[0], Action::DeleteUser { .. }));
        assert!(
            matches!(&u.actions()[1], Action::SetRegistry { holders, read_ver: 1, .. }
            if *holders == BTreeSet::from([ann2.link_id]))
        );
        assert!(
            matches!(u.actions()[2], Action::SetNameDup { id, dup: false, read_version: 1 } if id == ann2.link_id)
        );
        // Without the registry read, it cannot be planned.
        assert!(plan(&Known::default(), &ann, Removal::Delete, "ops", now()).is_none());
    }

    #[test]
    fn a_filter_delete_skips_a_user_that_no_longer_matches_and_conditions_the_rest() {
        let ann = user("Ann");
        let inactive = Filter {
            active: Some(false),
            ..Filter::default()
        };
        let planned = plan(
            &Known::default(),
            &ann,
            Removal::DeleteMatching(&inactive),
            "ops",
            now(),
        );
        assert!(matches!(planned, Some(Planned::Skip)));
        let active = Filter {
            active: Some(true),
            ..Filter::default()
        };
        let u = unit(plan(
            &Known::default(),
            &ann,
            Removal::DeleteMatching(&active),
            "ops",
            now(),
        ));
        assert!(
            matches!(&u.actions()[0], Action::DeleteUser { condition: Some(e), .. } if *e == filter_plan::expression(&active))
        );
    }

    #[test]
    fn a_purge_takes_only_users_soft_deleted_before_the_cutoff() {
        let old = soft_deleted("Ann", "2026-01-01T00:00:00.000Z");
        let recent = soft_deleted("Bo", "2026-05-31T00:00:00.000Z");
        let live = user("Cy");
        let purge = Removal::Purge {
            deleted_before: "2026-05-01T00:00:00.000Z",
        };
        let k = Known::default();
        assert!(matches!(
            plan(&k, &recent, purge, "ops", now()),
            Some(Planned::Skip)
        ));
        assert!(matches!(
            plan(&k, &live, purge, "ops", now()),
            Some(Planned::Skip)
        ));
        let u = unit(plan(&k, &old, purge, "ops", now()));
        assert_eq!(u.actions().len(), 1, "a purge never writes a registry");
        assert_eq!(registry_name(&old, purge), None);
    }

    #[test]
    fn a_soft_delete_records_who_and_when_and_repeating_it_writes_nothing() {
        let ann = user("Ann");
        let soft = Removal::SoftDelete { state: Some(false) };
        let u = unit(plan(&Known::default(), &ann, soft, "hr", now()));
        let record = u.tag().record.clone().unwrap();
        assert_eq!(
            record.deleted_at.as_deref(),
            Some("2026-06-01T00:00:00.000Z")
        );
        assert_eq!(record.deleted_by.as_deref(), Some("hr"));
        assert_eq!(record.del_shard, Some(keys::deleted_shard(&ann.link_id)));
        assert!(!record.active);
        assert_eq!(record.updated_by, "hr");
        assert_eq!(record.created_by, "ops", "the creation record is kept");
        assert_eq!(record.version, 2);
        assert!(matches!(
            u.actions()[0],
            Action::PutUser {
                expect: Expect::Version(1),
                ..
            }
        ));

        let again = Removal::SoftDelete { state: None };
        assert!(matches!(
            plan(&Known::default(), &record, again, "hr", now()),
            Some(Planned::Noop)
        ));
        let flag = Removal::SoftDelete { state: Some(true) };
        let u = unit(plan(&Known::default(), &record, flag, "hr", now()));
        let changed = u.tag().record.as_ref().unwrap();
        assert!(changed.active);
        assert_eq!(
            changed.deleted_at, record.deleted_at,
            "still deleted, as before"
        );
    }

    #[test]
    fn a_restore_joins_its_name_again_and_a_live_user_needs_none() {
        let ann = user("Ann");
        let restore = Removal::Restore { state: None };
        assert!(matches!(
            plan(&Known::default(), &ann, restore, "ops", now()),
            Some(Planned::Noop)
        ));
        let gone = soft_deleted("Bo", "2026-01-01T00:00:00.000Z");
        assert_eq!(registry_name(&gone, restore), Some("Bo"));
        let mut k = Known::default();
        k.names.insert(
            "Bo".into(),
            NameState {
                members: BTreeSet::from([gone.link_id]),
                ver: 3,
            },
        );
        let u = unit(plan(&k, &gone, restore, "ops", now()));
        let record = u.tag().record.as_ref().unwrap();
        assert!(record.is_live() && record.del_shard.is_none() && record.deleted_by.is_none());
        assert!(matches!(
            &u.actions()[1],
            Action::SetRegistry { read_ver: 3, .. }
        ));
    }
}
