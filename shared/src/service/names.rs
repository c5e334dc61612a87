//! Name membership: which registries and `name_dup` flags a user's move between live names
//! writes, and what the request knows once that write committed (or lost its race).
//!
//! A registry holds the users carrying a name, live or soft-deleted. Joining a live name
//! always writes the registry (at the version read: the serialisation point of everyone
//! joining that name). Leaving a name writes it only when other live users keep it; a
//! user alone with its name (`name_dup` false) leaves its id behind, to be pruned by the
//! registry's next write, so deleting users with unique names costs no registry write.
//! When a name goes from one live user to two (or back) the other user's `name_dup` flips
//! in the same unit, conditioned on the version read. Every service that moves a user
//! between names (upsert, delete, soft delete, restore) plans it here.

use std::collections::BTreeSet;

use crate::domain::LinkId;
use crate::service::known::{Known, NameState};
use crate::store::read::Key;
use crate::store::records::UserRecord;
use crate::store::units::UnitBuilder;

/// Most users one name registry holds. A registry is one item (DynamoDB's limit: 400 KB)
/// holding each holder's id (36 bytes); 10,000 ids keep it under 370 KB. An upsert that
/// would add one more holder gets `too_many_namesakes` (docs/scale.md#namesakes).
pub const MAX_NAMESAKES: usize = 10_000;

/// A registry write: the holders of `name` after the change, written at the version read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegistryWrite {
    pub name: String,
    pub holders: BTreeSet<LinkId>,
    pub read_ver: u64,
}

/// Another user's `name_dup` flag flipping, at the version read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlagFlip {
    pub id: LinkId,
    pub dup: bool,
    pub read_version: u64,
}

/// The registry writes and flag flips of moving one user between live names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NameChange {
    /// The registries written: the name left (if namesakes keep it), then the one joined.
    pub registries: Vec<RegistryWrite>,
    /// Other users whose `name_dup` flips (their registry crosses one ↔ two members).
    pub flags: Vec<FlagFlip>,
    /// The moved user's own `name_dup` after the change.
    pub name_dup: bool,
}

impl NameChange {
    /// Adds the change's writes to a unit.
    pub fn write(&self, mut unit: UnitBuilder) -> UnitBuilder {
        for r in &self.registries {
            unit = unit.set_registry(r.name.clone(), r.holders.clone(), r.read_ver);
        }
        for f in &self.flags {
            unit = unit.set_name_dup(f.id, f.dup, f.read_version);
        }
        unit
    }

    /// Whether the change makes `me` a new holder of a registry that already holds
    /// [`MAX_NAMESAKES`] users. Holders pruned by the same write make room first.
    pub fn overflows(&self, known: &Known, me: &LinkId) -> bool {
        self.registries.iter().any(|r| {
            r.holders.len() > MAX_NAMESAKES
                && r.holders.contains(me)
                && known
                    .names
                    .get(&r.name)
                    .is_some_and(|s| !s.members.contains(me))
        })
    }

    /// The items the change writes.
    pub fn touched(&self) -> impl Iterator<Item = Key> + '_ {
        self.registries
            .iter()
            .map(|r| Key::Name(r.name.clone()))
            .chain(self.flags.iter().map(|f| Key::User(f.id)))
    }
}

/// Plans the name-registry side of changing user `me` from `before` to `after` (`None`:
/// absent / deleted). `None` when a registry or member it needs is unknown.
pub(crate) fn name_change(
    known: &Known,
    me: &LinkId,
    before: Option<&UserRecord>,
    after: Option<&UserRecord>,
) -> Option<NameChange> {
    let live_name = |u: Option<&UserRecord>| u.filter(|u| u.is_live()).map(|u| u.name.clone());
    let (old, new) = (live_name(before), live_name(after));
    let mut change = NameChange {
        name_dup: before.is_some_and(|u| u.name_dup),
        ..NameChange::default()
    };
    if old == new {
        return Some(change);
    }
    let mut flips: Vec<(LinkId, bool)> = Vec::new();
    if let Some(old) = old
        && before.is_some_and(|u| u.name_dup)
    {
        let others = known.live_others(&old, Some(me))?;
        if !others.is_empty() {
            change
                .registries
                .push(registry_write(known, &old, me, after)?);
            if let [last] = others.iter().collect::<Vec<_>>()[..] {
                flips.push((*last, false));
            }
        }
    }
    change.name_dup = false;
    if let Some(new) = new {
        let others = known.live_others(&new, Some(me))?;
        change
            .registries
            .push(registry_write(known, &new, me, after)?);
        change.name_dup = !others.is_empty();
        if let [first] = others.iter().collect::<Vec<_>>()[..] {
            flips.push((*first, true));
        }
    }
    for (id, dup) in flips {
        let Some(Some(u)) = known.users.get(&id) else {
            return None;
        };
        change.flags.push(FlagFlip {
            id,
            dup,
            read_version: u.version,
        });
    }
    Some(change)
}

/// The write of registry `name` after `me` becomes `after`: its holders are the members
/// (and `me`) whose record, after the change, exists with this name; stale ids are
/// pruned.
fn registry_write(
    known: &Known,
    name: &str,
    me: &LinkId,
    after: Option<&UserRecord>,
) -> Option<RegistryWrite> {
    let state = known.names.get(name)?;
    let mut holders = BTreeSet::new();
    for m in state.members.iter().chain(std::iter::once(me)) {
        let record = if m == me {
            after
        } else {
            known.users.get(m)?.as_ref()
        };
        if record.is_some_and(|u| u.name == name) {
            holders.insert(*m);
        }
    }
    Some(RegistryWrite {
        name: name.to_owned(),
        holders,
        read_ver: state.ver,
    })
}

/// Records a committed write of user `id` (`None`: deleted) and its name change.
pub(crate) fn committed(
    known: &mut Known,
    id: LinkId,
    record: Option<UserRecord>,
    change: &NameChange,
) {
    known.users.insert(id, record);
    for r in &change.registries {
        let state = NameState {
            members: r.holders.clone(),
            ver: r.read_ver + 1,
        };
        known.names.insert(r.name.clone(), state);
    }
    for f in &change.flags {
        if let Some(Some(u)) = known.users.get_mut(&f.id) {
            u.name_dup = f.dup;
            u.version += 1;
        }
    }
}

/// Forgets what a write that lost a race was planned on, so it is read again.
pub(crate) fn forget(known: &mut Known, id: &LinkId, change: &NameChange) {
    known.users.remove(id);
    for r in &change.registries {
        known.names.remove(&r.name);
    }
    for f in &change.flags {
        known.users.remove(&f.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserRecord {
        UserRecord::for_tests(LinkId::new_random(), name, Vec::new())
    }

    fn renamed(u: &UserRecord, name: &str) -> UserRecord {
        UserRecord {
            name: name.into(),
            version: u.version + 1,
            ..u.clone()
        }
    }

    #[test]
    fn keeping_a_name_writes_no_registry() {
        let ann = user("Ann");
        let k = Known::with_users(&[&ann]);
        let after = UserRecord {
            info: Some("x".into()),
            ..ann.clone()
        };
        let change = name_change(&k, &ann.link_id, Some(&ann), Some(&after)).unwrap();
        assert_eq!(change, NameChange::default());
    }

    #[test]
    fn a_create_joins_its_registry_at_the_version_read() {
        let new = user("Ann");
        let mut k = Known::default();
        k.names.insert("Ann".into(), NameState::default());
        let change = name_change(&k, &new.link_id, None, Some(&new)).unwrap();
        assert_eq!(
            change.registries,
            [RegistryWrite {
                name: "Ann".into(),
                holders: BTreeSet::from([new.link_id]),
                read_ver: 0,
            }]
        );
        assert!(change.flags.is_empty());
        assert!(!change.name_dup);
    }

    #[test]
    fn joining_a_name_one_other_user_carries_flips_both_flags() {
        let (ann, bo) = (user("Ann"), user("Bo"));
        let k = Known::with_users(&[&ann, &bo]);
        let after = renamed(&bo, "Ann");
        let change = name_change(&k, &bo.link_id, Some(&bo), Some(&after)).unwrap();
        assert!(change.name_dup);
        assert_eq!(
            change.flags,
            [FlagFlip {
                id: ann.link_id,
                dup: true,
                read_version: 1,
            }]
        );
        assert_eq!(
            change.registries.len(),
            1,
            "Bo was alone: its id stays behind"
        );
        assert_eq!(
            change.registries[0].holders,
            BTreeSet::from([ann.link_id, bo.link_id])
        );
    }

    #[test]
    fn leaving_one_namesake_behind_writes_the_registry_and_clears_its_flag() {
        let (mut ann, mut ann2) = (user("Ann"), user("Ann"));
        ann.name_dup = true;
        ann2.name_dup = true;
        let k = Known::with_users(&[&ann, &ann2]);
        let change = name_change(&k, &ann.link_id, Some(&ann), None).unwrap();
        assert_eq!(
            change.registries,
            [RegistryWrite {
                name: "Ann".into(),
                holders: BTreeSet::from([ann2.link_id]),
                read_ver: 1,
            }]
        );
        assert_eq!(
            change.flags,
            [FlagFlip {
                id: ann2.link_id,
                dup: false,
                read_version: 1,
            }]
        );
    }

    #[test]
    fn a_user_alone_with_its_name_leaves_without_a_write() {
        let ann = user("Ann");
        let change = name_change(&Known::default(), &ann.link_id, Some(&ann), None).unwrap();
        assert!(change.registries.is_empty() && change.flags.is_empty());
    }

    #[test]
    fn an_unread_registry_or_member_makes_the_change_unplannable() {
        let mut ann = user("Ann");
        ann.name_dup = true;
        assert_eq!(
            name_change(&Known::default(), &ann.link_id, Some(&ann), None),
            None
        );
        let mut k = Known::with_users(&[&ann]);
        k.names
            .get_mut("Ann")
            .unwrap()
            .members
            .insert(LinkId::new_random());
        assert_eq!(name_change(&k, &ann.link_id, Some(&ann), None), None);
    }

    #[test]
    fn stale_ids_are_pruned_by_the_next_registry_write() {
        let (ann, gone) = (user("Ann"), LinkId::new_random());
        let mut k = Known::default();
        k.users.insert(gone, None);
        k.names.insert(
            "Ann".into(),
            NameState {
                members: BTreeSet::from([gone]),
                ver: 5,
            },
        );
        let change = name_change(&k, &ann.link_id, None, Some(&ann)).unwrap();
        assert_eq!(change.registries[0].holders, BTreeSet::from([ann.link_id]));
        assert_eq!(change.registries[0].read_ver, 5);
    }

    #[test]
    fn a_committed_change_is_what_the_request_knows_next() {
        let (ann, bo) = (user("Ann"), user("Bo"));
        let mut k = Known::with_users(&[&ann, &bo]);
        let after = renamed(&bo, "Ann");
        let change = name_change(&k, &bo.link_id, Some(&bo), Some(&after)).unwrap();
        committed(&mut k, bo.link_id, Some(after.clone()), &change);
        assert_eq!(k.names["Ann"].ver, 2);
        let flipped = k.users[&ann.link_id].as_ref().unwrap();
        assert!(flipped.name_dup);
        assert_eq!(flipped.version, 2);
        assert_eq!(
            k.live_others("Ann", Some(&ann.link_id)),
            Some(BTreeSet::from([bo.link_id]))
        );
        forget(&mut k, &bo.link_id, &change);
        assert!(!k.users.contains_key(&bo.link_id));
        assert!(!k.users.contains_key(&ann.link_id));
        assert!(!k.names.contains_key("Ann"));
    }
}
