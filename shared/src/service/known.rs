//! What a request knows of the table, shared by the services that write users.
//!
//! State is read once per key in batches, then kept in step with the request's own
//! writes (`service::names`), so an item later in the same request sees the
//! effect of earlier ones. A key DynamoDB did not answer in time stays unknown, and
//! planning treats an unknown key as not processable.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use crate::deadline::Deadline;
use crate::domain::LinkId;
use crate::store::read::Key;
use crate::store::records::UserRecord;
use crate::store::{Store, StoreError};

/// A name registry as known: its members (live or not, some perhaps stale) and version
/// (0: does not exist).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NameState {
    pub members: BTreeSet<LinkId>,
    pub ver: u64,
}

/// Users (`None`: known absent), registries and time profiles read so far.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub users: HashMap<LinkId, Option<UserRecord>>,
    pub names: HashMap<String, NameState>,
    pub profiles: HashMap<Uuid, bool>,
}

impl Known {
    /// Reads the given keys (batched).
    pub async fn fetch(
        &mut self,
        store: &Store,
        keys: Vec<Key>,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        let found = store.read(keys, deadline).await?;
        self.users.extend(found.users);
        self.profiles.extend(found.profiles);
        for (name, registry) in found.names {
            let state = NameState {
                members: registry.members(),
                ver: registry.ver,
            };
            self.names.insert(name, state);
        }
        Ok(())
    }

    /// Reads what the registries of `names` say, in two batched phases: the registries
    /// not known yet (with the `with` keys, which need no registry, in the same calls),
    /// then the members of every registry of `names` not known yet. A registry is only
    /// trusted with its members' records (see [`Known::live_others`]).
    pub async fn fetch_names(
        &mut self,
        store: &Store,
        names: &BTreeSet<String>,
        with: Vec<Key>,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        let mut first = with;
        first.extend(
            names
                .iter()
                .filter(|n| !self.names.contains_key(*n))
                .map(|n| Key::Name(n.clone())),
        );
        self.fetch(store, first, deadline).await?;
        let members: BTreeSet<LinkId> =
            names.iter().flat_map(|n| self.unknown_members(n)).collect();
        self.fetch(
            store,
            members.into_iter().map(Key::User).collect(),
            deadline,
        )
        .await
    }

    /// Registry members of `name` that have not been read yet.
    pub fn unknown_members(&self, name: &str) -> Vec<LinkId> {
        self.names.get(name).map_or_else(Vec::new, |state| {
            state
                .members
                .iter()
                .filter(|m| !self.users.contains_key(*m))
                .copied()
                .collect()
        })
    }

    /// The live users other than `me` that carry `name`. A registry may hold ids of users
    /// since deleted, renamed or soft-deleted (they are pruned by its next write), so
    /// every member is checked against its record. `None` while the registry or one of
    /// its members is unknown.
    pub fn live_others(&self, name: &str, me: Option<&LinkId>) -> Option<BTreeSet<LinkId>> {
        let state = self.names.get(name)?;
        let mut others = BTreeSet::new();
        for m in state.members.iter().filter(|m| Some(*m) != me) {
            if let Some(u) = self.users.get(m)?
                && u.is_live()
                && u.name == name
            {
                others.insert(*m);
            }
        }
        Some(others)
    }
}

/// What a request knows after reading some users and their names' registries.
#[cfg(test)]
impl Known {
    /// `users` and the registries of their names, each at version 1 with the users
    /// carrying the name as members.
    pub(crate) fn with_users(users: &[&UserRecord]) -> Self {
        let mut k = Known::default();
        for u in users {
            k.users.insert(u.link_id, Some((*u).clone()));
            let state = k.names.entry(u.name.clone()).or_default();
            state.members.insert(u.link_id);
            state.ver = 1;
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserRecord {
        UserRecord::for_tests(LinkId::new_random(), name, Vec::new())
    }

    #[test]
    fn live_others_checks_every_member_against_its_record() {
        let (ann, renamed, gone) = (user("Ann"), user("Bo"), LinkId::new_random());
        let mut soft_deleted = user("Ann");
        soft_deleted.deleted_at = Some("2026-01-02T00:00:00.000Z".into());
        let mut known = Known::default();
        known.names.insert(
            "Ann".into(),
            NameState {
                members: BTreeSet::from([ann.link_id, renamed.link_id, soft_deleted.link_id, gone]),
                ver: 3,
            },
        );
        assert_eq!(known.live_others("Ann", None), None, "members not read yet");
        assert_eq!(known.unknown_members("Ann").len(), 4);
        for u in [&ann, &renamed, &soft_deleted] {
            known.users.insert(u.link_id, Some(u.clone()));
        }
        known.users.insert(gone, None);
        assert!(known.unknown_members("Ann").is_empty());
        assert_eq!(
            known.live_others("Ann", None),
            Some(BTreeSet::from([ann.link_id]))
        );
        assert_eq!(
            known.live_others("Ann", Some(&ann.link_id)),
            Some(BTreeSet::new())
        );
        assert_eq!(known.live_others("Cy", None), None, "registry not read");
    }
}
