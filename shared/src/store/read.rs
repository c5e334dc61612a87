//! Reading by key, typed: users, name registries, time profiles and identifier claims of
//! any mix go into the same `BatchGetItem` calls (100 keys each), so a phase of a request
//! costs one call per 100 keys whatever it needs.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::records::{ClaimRecord, NameRegistry, UserRecord};
use super::{Store, StoreError, keys};
use crate::deadline::Deadline;
use crate::domain::{Identifier, LinkId};

/// An item to read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A user.
    User(LinkId),
    /// The registry of a name.
    Name(String),
    /// A time profile.
    Profile(Uuid),
    /// The claim of a card or PIN number.
    Claim(Identifier),
}

impl Key {
    fn pk(&self) -> String {
        match self {
            Key::User(id) => keys::user(id),
            Key::Name(n) => keys::name(n),
            Key::Profile(p) => keys::time_profile(p),
            Key::Claim(i) => keys::identifier(i),
        }
    }
}

/// What a read found. A key DynamoDB did not answer before the deadline is in none of
/// the maps (it is unknown, not absent) and counts in `unresolved`.
#[derive(Debug, Default)]
pub struct Found {
    /// Users by id; `None`: no such user.
    pub users: HashMap<LinkId, Option<UserRecord>>,
    /// Registries by name; one that does not exist reads as empty at version 0.
    pub names: HashMap<String, NameRegistry>,
    /// Whether each time profile exists.
    pub profiles: HashMap<Uuid, bool>,
    /// The owner each claim names; `None`: no claim (or one naming no valid id).
    pub claims: HashMap<Identifier, Option<LinkId>>,
    /// Keys not answered before the deadline.
    pub unresolved: usize,
}

/// Users read by id, in the order asked; ids with no user are left out.
#[derive(Debug, Default)]
pub struct Users {
    /// The users found.
    pub users: Vec<UserRecord>,
    /// Some ids were not answered before the deadline.
    pub incomplete: bool,
}

impl Store {
    /// Reads `keys` (duplicates once), consistently.
    pub async fn read(&self, keys: Vec<Key>, deadline: &Deadline) -> Result<Found, StoreError> {
        let mut found = Found::default();
        if keys.is_empty() {
            return Ok(found);
        }
        let mut seen = HashSet::new();
        let keys: Vec<Key> = keys
            .into_iter()
            .filter(|k| seen.insert(k.clone()))
            .collect();
        let mut fetched = self.get_many(keys.iter().map(Key::pk), deadline).await?;
        found.unresolved = fetched.unresolved.len();
        for key in keys {
            let pk = key.pk();
            if fetched.unresolved.contains(&pk) {
                continue;
            }
            let item = fetched.items.remove(&pk);
            match key {
                Key::User(id) => {
                    let user = item.map(UserRecord::from_item).transpose()?;
                    found.users.insert(id, user);
                }
                Key::Name(name) => {
                    let registry = item.map(NameRegistry::from_item).transpose()?;
                    found.names.insert(name, registry.unwrap_or_default());
                }
                Key::Profile(id) => {
                    found.profiles.insert(id, item.is_some());
                }
                Key::Claim(ident) => {
                    let claim = item.map(ClaimRecord::from_item).transpose()?;
                    found.claims.insert(ident, claim.and_then(|c| c.owner()));
                }
            }
        }
        Ok(found)
    }

    /// Reads users by id (batched, consistently), in the order of `ids`.
    pub async fn read_users(
        &self,
        ids: &[LinkId],
        deadline: &Deadline,
    ) -> Result<Users, StoreError> {
        let found = self
            .read(ids.iter().copied().map(Key::User).collect(), deadline)
            .await?;
        let mut users = Vec::with_capacity(found.users.len());
        let mut by_id = found.users;
        for id in ids {
            if let Some(Some(user)) = by_id.remove(id) {
                users.push(user);
            }
        }
        Ok(Users {
            users,
            incomplete: found.unresolved > 0,
        })
    }
}
