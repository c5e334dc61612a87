//! What a request knows of the table, shared by the services that write users.
//!
//! State is read once per key in batches, then kept in step with the request's own
//! writes, so an item later in the same request sees the effect of earlier ones. Name
//! membership (the registries and the `name_dup` flags) changes only through
//! [`Known::name_change`], whatever the service.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::TransactWriteItem;
use uuid::Uuid;

use crate::deadline::Deadline;
use crate::domain::LinkId;
use crate::store::records::{NameRegistry, UserRecord};
use crate::store::{Item, Store, StoreError, keys};

/// A name registry as known: its live members and version (0: does not exist).
#[derive(Clone, Debug, Default)]
pub(crate) struct NameState {
    pub members: BTreeSet<LinkId>,
    pub ver: u64,
}

/// A key to read.
#[derive(Clone, Debug)]
pub(crate) enum Lookup {
    User(LinkId),
    Name(String),
    Profile(Uuid),
}

impl Lookup {
    fn key(&self) -> String {
        match self {
            Lookup::User(id) => keys::user(id),
            Lookup::Name(n) => keys::name(n),
            Lookup::Profile(p) => keys::time_profile(p),
        }
    }
}

/// The registry writes and flag flips of moving one user between live names.
#[derive(Debug, Default)]
pub(crate) struct NameChange {
    /// Transaction actions: registry updates, then other users' flag updates.
    pub actions: Vec<TransactWriteItem>,
    /// The registries after the change.
    pub names: Vec<(String, NameState)>,
    /// Other users whose `name_dup` flips (their registry crosses one ↔ two members).
    pub flags: Vec<(LinkId, bool)>,
    /// The moved user's own `name_dup` after the change.
    pub name_dup: bool,
}

impl NameChange {
    /// The keys the change writes.
    pub fn touched(&self) -> impl Iterator<Item = String> + '_ {
        self.names
            .iter()
            .map(|(n, _)| keys::name(n))
            .chain(self.flags.iter().map(|(u, _)| keys::user(u)))
    }
}

/// Users (`None`: known absent), registries and time profiles read so far.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub users: HashMap<LinkId, Option<UserRecord>>,
    pub names: HashMap<String, NameState>,
    pub profiles: HashMap<Uuid, bool>,
}

impl Known {
    /// Reads the given keys (batched); keys DynamoDB did not answer before the deadline
    /// stay unknown, and planning treats an unknown key as not processable.
    pub async fn fetch(
        &mut self,
        store: &Store,
        lookups: Vec<Lookup>,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        if lookups.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = lookups.iter().map(Lookup::key).collect();
        let mut fetched = store.get_many(keys, deadline).await?;
        for lookup in lookups {
            let key = lookup.key();
            if fetched.unresolved.contains(&key) {
                continue;
            }
            let item = fetched.items.remove(&key);
            match lookup {
                Lookup::User(id) => self.absorb_user(id, item)?,
                Lookup::Name(name) => self.absorb_name(&name, item)?,
                Lookup::Profile(id) => {
                    self.profiles.insert(id, item.is_some());
                }
            }
        }
        Ok(())
    }

    fn absorb_user(&mut self, id: LinkId, item: Option<Item>) -> Result<(), StoreError> {
        let record = item.map(UserRecord::from_item).transpose()?;
        self.users.insert(id, record);
        Ok(())
    }

    fn absorb_name(&mut self, name: &str, item: Option<Item>) -> Result<(), StoreError> {
        let state = match item {
            Some(item) => {
                let r = NameRegistry::from_item(item)?;
                NameState {
                    members: r.members(),
                    ver: r.ver,
                }
            }
            None => NameState::default(),
        };
        self.names.insert(name.to_owned(), state);
        Ok(())
    }

    /// Registry members of `name` that have not been read yet: a registry is only
    /// trusted after its members are (see [`Known::live_others`]).
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

    /// Plans the name-registry side of changing user `me` from `before` to `after`
    /// (`None`: absent / deleted). `None` when a registry or member it needs is unknown.
    ///
    /// A registry holds the users carrying a name, live or soft-deleted. Joining a live
    /// name always writes the registry (at the version read: the serialisation point of
    /// everyone joining that name). Leaving a name writes it only when other live users
    /// keep it; a user alone with its name (`name_dup` false) leaves its id behind, to be
    /// pruned by the registry's next write, so deleting users with unique names costs no
    /// registry write. When a name goes from one live user to two (or back) the other
    /// user's `name_dup` flips in the same transaction, conditioned on the version read.
    pub fn name_change(
        &self,
        store: &Store,
        me: &LinkId,
        before: Option<&UserRecord>,
        after: Option<&UserRecord>,
    ) -> Result<Option<NameChange>, StoreError> {
        let live_name = |u: Option<&UserRecord>| u.filter(|u| u.is_live()).map(|u| u.name.clone());
        let (old, new) = (live_name(before), live_name(after));
        let mut change = NameChange {
            name_dup: before.is_some_and(|u| u.name_dup),
            ..NameChange::default()
        };
        if old == new {
            return Ok(Some(change));
        }
        let mut flips: Vec<(LinkId, bool)> = Vec::new();
        if let Some(old) = old
            && before.is_some_and(|u| u.name_dup)
        {
            let Some(others) = self.live_others(&old, Some(me)) else {
                return Ok(None);
            };
            if !others.is_empty() {
                let Some(write) = self.registry_write(store, &old, me, after)? else {
                    return Ok(None);
                };
                change.actions.push(write.0);
                change.names.push((old.clone(), write.1));
                if let [last] = others.iter().collect::<Vec<_>>()[..] {
                    flips.push((*last, false));
                }
            }
        }
        change.name_dup = false;
        if let Some(new) = new {
            let Some(others) = self.live_others(&new, Some(me)) else {
                return Ok(None);
            };
            let Some(write) = self.registry_write(store, &new, me, after)? else {
                return Ok(None);
            };
            change.actions.push(write.0);
            change.names.push((new.clone(), write.1));
            change.name_dup = !others.is_empty();
            if let [first] = others.iter().collect::<Vec<_>>()[..] {
                flips.push((*first, true));
            }
        }
        for (other, dup) in flips {
            let Some(Some(u)) = self.users.get(&other) else {
                return Ok(None);
            };
            change
                .actions
                .push(store.set_name_dup(&other, dup, u.version)?);
            change.flags.push((other, dup));
        }
        Ok(Some(change))
    }

    /// The write of registry `name` after `me` becomes `after`: its holders are the
    /// members (and `me`) whose record, after the change, exists with this name; stale
    /// ids are pruned.
    fn registry_write(
        &self,
        store: &Store,
        name: &str,
        me: &LinkId,
        after: Option<&UserRecord>,
    ) -> Result<Option<(TransactWriteItem, NameState)>, StoreError> {
        let Some(state) = self.names.get(name) else {
            return Ok(None);
        };
        let mut holders = BTreeSet::new();
        for m in state.members.iter().chain(std::iter::once(me)) {
            let record = if m == me {
                after
            } else {
                match self.users.get(m) {
                    Some(u) => u.as_ref(),
                    None => return Ok(None),
                }
            };
            if record.is_some_and(|u| u.name == name) {
                holders.insert(*m);
            }
        }
        let action = store.registry_set(name, &holders, state.ver)?;
        Ok(Some((
            action,
            NameState {
                members: holders,
                ver: state.ver + 1,
            },
        )))
    }

    /// Records a committed write of user `id` (`None`: deleted) and its name change.
    pub fn committed(&mut self, id: LinkId, record: Option<UserRecord>, change: &NameChange) {
        self.users.insert(id, record);
        for (name, state) in &change.names {
            self.names.insert(name.clone(), state.clone());
        }
        for (other, dup) in &change.flags {
            if let Some(Some(u)) = self.users.get_mut(other) {
                u.name_dup = *dup;
                u.version += 1;
            }
        }
    }

    /// Forgets what a write that lost a race was planned on, so it is read again.
    pub fn forget(&mut self, id: &LinkId, names: &[&str], change: Option<&NameChange>) {
        self.users.remove(id);
        for n in names {
            self.names.remove(*n);
        }
        if let Some(change) = change {
            for (name, _) in &change.names {
                self.names.remove(name);
            }
            for (other, _) in &change.flags {
                self.users.remove(other);
            }
        }
    }
}
