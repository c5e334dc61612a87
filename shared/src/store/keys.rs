//! Partition keys of the single table. Every key is built here and nowhere else.

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use super::Item;
use crate::domain::{Identifier, LinkId};

/// The partition key attribute.
pub const PK: &str = "pk";
/// Prefix of user items; scans filter on it.
pub const USER_PREFIX: &str = "USER#";
/// Shards of the sparse `deleted-index`: soft-deleted users spread over this many
/// partition-key values so a mass soft delete does not make one hot partition.
pub const DELETED_SHARDS: u8 = 4;

/// The key of a user.
pub fn user(id: &LinkId) -> String {
    format!("{USER_PREFIX}{id}")
}

/// The key of a name registry.
pub fn name(name: &str) -> String {
    format!("NAME#{name}")
}

/// The key of an identifier claim.
pub fn identifier(ident: &Identifier) -> String {
    format!("IDENT#{}#{}", ident.kind.as_str(), ident.number)
}

/// The key of a time profile.
pub fn time_profile(id: &Uuid) -> String {
    format!("TIMEPROFILE#{}", id.hyphenated())
}

/// The `deleted-index` shard of a user.
pub fn deleted_shard(id: &LinkId) -> String {
    let shard = id.uuid().as_bytes()[15] % DELETED_SHARDS;
    format!("DELETED#{shard}")
}

/// The key map `{pk: S(pk)}` of an item.
pub fn key_item(pk: &str) -> Item {
    Item::from([(PK.to_owned(), AttributeValue::S(pk.to_owned()))])
}

/// The `pk` of an item, if it has one.
pub fn pk_of(item: &Item) -> Option<&str> {
    item.get(PK).and_then(|v| v.as_s().ok()).map(String::as_str)
}
