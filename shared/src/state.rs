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

    /// How many live users other than `me` carry `name`, if the registry is known.
    pub fn others_named(&self, name: &str, me: Option<&LinkId>) -> Option<usize> {
        let state = self.names.get(name)?;
        Some(state.members.iter().filter(|m| Some(*m) != me).count())
    }

    /// Plans moving `id` from live name `old` to live name `new` (either may be `None`:
    /// not live before, or not live after). `None` when a registry it needs is unknown.
    pub fn name_change(
        &self,
        store: &Store,
        id: &LinkId,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<Option<NameChange>, StoreError> {
        let mut change = NameChange::default();
        if let Some(old) = old {
            let Some(state) = self.names.get(old) else {
                return Ok(None);
            };
            let mut remaining = state.members.clone();
            remaining.remove(id);
            change
                .actions
                .push(store.registry_change(old, id, false, state.ver)?);
            if remaining.len() == 1
                && let Some(last) = remaining.iter().next()
            {
                change.flags.push((*last, false));
            }
            change.names.push((
                old.to_owned(),
                NameState {
                    members: remaining,
                    ver: state.ver + 1,
                },
            ));
        }
        if let Some(new) = new {
            let Some(state) = self.names.get(new) else {
                return Ok(None);
            };
            let mut others = state.members.clone();
            others.remove(id);
            change.name_dup = !others.is_empty();
            change
                .actions
                .push(store.registry_change(new, id, true, state.ver)?);
            if others.len() == 1
                && let Some(first) = others.iter().next()
            {
                change.flags.push((*first, true));
            }
            others.insert(*id);
            change.names.push((
                new.to_owned(),
                NameState {
                    members: others,
                    ver: state.ver + 1,
                },
            ));
        }
        for (other, dup) in &change.flags {
            change.actions.push(store.set_name_dup(other, *dup)?);
        }
        Ok(Some(change))
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
