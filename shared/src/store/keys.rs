//! Partition keys of the single table. Every key is built here and nowhere else.

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};
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
    shard(id.uuid().as_bytes()[15] % DELETED_SHARDS)
}

/// The `deleted-index` partition key of shard `n` (below [`DELETED_SHARDS`]).
pub fn shard(n: u8) -> String {
    format!("DELETED#{n}")
}

/// The key of the record of an `Idempotency-Key`: scoped to the endpoint (`operation`)
/// and the caller (`subject`), so keys of different endpoints or callers never meet; the
/// client's key is hashed with the caller, so neither is stored in the clear.
pub fn idempotency(operation: &str, subject: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{subject}\n{key}"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("IDEMPOTENCY#{operation}#{hex}")
}

/// The key of where the clean-up's saved filter `id` stopped.
pub fn progress(id: &str) -> String {
    format!("PROGRESS#{id}")
}

/// The key map `{pk: S(pk)}` of an item.
pub fn key_item(pk: &str) -> Item {
    Item::from([(PK.to_owned(), AttributeValue::S(pk.to_owned()))])
}

/// The `pk` of an item, if it has one.
pub fn pk_of(item: &Item) -> Option<&str> {
    item.get(PK).and_then(|v| v.as_s().ok()).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_scoped_to_endpoint_and_caller() {
        let k = idempotency("upsert", "ops", "batch-1");
        assert!(k.starts_with("IDEMPOTENCY#upsert#"), "{k}");
        assert_eq!(k.len(), "IDEMPOTENCY#upsert#".len() + 64);
        assert_eq!(k, idempotency("upsert", "ops", "batch-1"));
        assert_ne!(k, idempotency("upsert", "hr", "batch-1"));
        assert_ne!(k, idempotency("filter_delete", "ops", "batch-1"));
    }

    #[test]
    fn every_user_falls_in_one_of_the_deleted_shards() {
        let shards: Vec<String> = (0..DELETED_SHARDS).map(shard).collect();
        for _ in 0..64 {
            assert!(shards.contains(&deleted_shard(&LinkId::new_random())));
        }
    }
}
