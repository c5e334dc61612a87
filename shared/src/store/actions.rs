//! The conditional writes a unit is made of, described, and their DynamoDB form.
//!
//! Services describe what to write ([`Action`]); only here does a description become a
//! `TransactWriteItem` with its condition. Every write is conditional on what was read,
//! so a write planned on a state that changed meanwhile fails instead of applying.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};

use super::expression::Expression;
use super::keys::{self, key_item};
use super::records::{ClaimRecord, UserRecord};
use super::{Store, StoreError};
use crate::domain::{Identifier, LinkId};

/// What a user write expects to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No user with this id (create).
    Absent,
    /// The user at this version (update); anything else is a concurrent change.
    Version(u64),
}

/// A claim naming a user that no longer holds the identifier, as read: the claim may be
/// taken over while that user stays as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    /// The user the claim names.
    pub owner: LinkId,
    /// That user's version when read; `None`: it did not exist.
    pub version: Option<u64>,
}

/// One conditional write of a unit.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Put a user, expecting it absent or at a version.
    PutUser {
        /// The user after the write.
        record: Box<UserRecord>,
        /// What the write expects to find.
        expect: Expect,
    },
    /// Delete a user read at `version` (a concurrent change or delete fails the
    /// condition), and only if `condition` holds then (a filter delete's filter). The
    /// version matters even then: the registry change and the namesake flags planned
    /// with the delete were planned on the user read.
    DeleteUser {
        /// The user.
        id: LinkId,
        /// Its version when read.
        version: u64,
        /// What must still hold of it.
        condition: Option<Expression>,
    },
    /// Claim an identifier for `owner`: free, or already ours.
    Claim {
        /// The card or PIN number.
        ident: Identifier,
        /// Its new owner.
        owner: LinkId,
    },
    /// Take over an identifier whose claim names a user that does not hold it any more
    /// (deleted, or no longer carrying the number): the claim, conditioned on still
    /// naming that user. It goes with [`Action::OwnerUnchanged`] on that user, or with
    /// another action conditioned on the user's version read.
    TakeOver {
        /// The card or PIN number.
        ident: Identifier,
        /// Its new owner.
        owner: LinkId,
        /// The user the claim names now.
        previous: LinkId,
    },
    /// A check that the former owner of claims taken over is still as read (absent, or
    /// at the version read); failing, it cancels the takeover.
    OwnerUnchanged(Takeover),
    /// Free an identifier `owner` holds; a claim already gone is fine, one another user
    /// holds is left alone (the condition fails).
    Release {
        /// The card or PIN number.
        ident: Identifier,
        /// The owner letting it go.
        owner: LinkId,
    },
    /// Write a name registry read at `read_ver` (0: read as absent) with its new holders;
    /// the version condition makes concurrent writers of one name take turns.
    SetRegistry {
        /// The name.
        name: String,
        /// The users carrying it after the write.
        holders: BTreeSet<LinkId>,
        /// The registry's version when read.
        read_ver: u64,
    },
    /// Set the `name_dup` flag of another user whose name crosses between one and two
    /// live users, at the version read (a concurrent change of that user, a delete or a
    /// soft delete included, fails the transaction), bumping it so that a concurrent
    /// write of that user retries in turn.
    SetNameDup {
        /// The other user.
        id: LinkId,
        /// Its new flag.
        dup: bool,
        /// Its version when read.
        read_version: u64,
    },
}

impl Store {
    /// The DynamoDB form of an action on this table.
    pub(super) fn encode(&self, action: &Action) -> Result<TransactWriteItem, StoreError> {
        let table = self.table.as_str();
        let item = TransactWriteItem::builder();
        Ok(match action {
            Action::PutUser { record, expect } => {
                let put = Put::builder()
                    .table_name(table)
                    .set_item(Some(record.to_item()?));
                let put = match expect {
                    Expect::Absent => put.condition_expression("attribute_not_exists(pk)"),
                    Expect::Version(v) => put
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", num(*v)),
                };
                item.put(put.build()?).build()
            }
            Action::DeleteUser {
                id,
                version,
                condition,
            } => {
                let mut delete = Delete::builder()
                    .table_name(table)
                    .set_key(Some(key_item(&keys::user(id))))
                    .expression_attribute_values(":v", num(*version));
                let mut text = "version = :v".to_owned();
                if let Some(e) = condition {
                    text = format!("({}) AND {text}", e.text());
                    for (k, v) in e.names() {
                        delete = delete.expression_attribute_names(k, v);
                    }
                    for (k, v) in e.values() {
                        delete = delete.expression_attribute_values(k, v.clone());
                    }
                }
                item.delete(delete.condition_expression(text).build()?)
                    .build()
            }
            // Free or already ours.
            Action::Claim { ident, owner } => claim(
                table,
                ident,
                owner,
                "attribute_not_exists(pk) OR #owner = :owner",
                owner,
            )?,
            // Still naming the user it is taken over from.
            Action::TakeOver {
                ident,
                owner,
                previous,
            } => claim(table, ident, owner, "#owner = :owner", previous)?,
            Action::OwnerUnchanged(previous) => {
                let check = ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(key_item(&keys::user(&previous.owner))));
                let check = match previous.version {
                    None => check.condition_expression("attribute_not_exists(pk)"),
                    Some(v) => check
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", num(v)),
                };
                item.condition_check(check.build()?).build()
            }
            Action::Release { ident, owner } => {
                let delete = Delete::builder()
                    .table_name(table)
                    .set_key(Some(key_item(&keys::identifier(ident))))
                    .condition_expression("attribute_not_exists(pk) OR #owner = :owner")
                    .expression_attribute_names("#owner", "owner")
                    .expression_attribute_values(":owner", s(owner))
                    .build()?;
                item.delete(delete).build()
            }
            Action::SetRegistry {
                name,
                holders,
                read_ver,
            } => {
                let update = Update::builder()
                    .table_name(table)
                    .set_key(Some(key_item(&keys::name(name))))
                    .expression_attribute_values(":ver", num(read_ver + 1));
                let update = if holders.is_empty() {
                    update.update_expression("SET ver = :ver REMOVE ids")
                } else {
                    update
                        .update_expression("SET ver = :ver, ids = :ids")
                        .expression_attribute_values(
                            ":ids",
                            AttributeValue::Ss(holders.iter().map(ToString::to_string).collect()),
                        )
                };
                let update = if *read_ver == 0 {
                    update.condition_expression("attribute_not_exists(pk)")
                } else {
                    update
                        .condition_expression("ver = :read")
                        .expression_attribute_values(":read", num(*read_ver))
                };
                item.update(update.build()?).build()
            }
            Action::SetNameDup {
                id,
                dup,
                read_version,
            } => {
                let update = Update::builder()
                    .table_name(table)
                    .set_key(Some(key_item(&keys::user(id))))
                    .update_expression("SET name_dup = :dup, version = :next")
                    .condition_expression("version = :read")
                    .expression_attribute_values(":dup", AttributeValue::Bool(*dup))
                    .expression_attribute_values(":read", num(*read_version))
                    .expression_attribute_values(":next", num(read_version + 1))
                    .build()?;
                item.update(update).build()
            }
        })
    }
}

/// The claim item of `ident` for `owner`, if `condition` holds with `:owner` the user
/// `expected`.
fn claim(
    table: &str,
    ident: &Identifier,
    owner: &LinkId,
    condition: &str,
    expected: &LinkId,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(ClaimRecord::new(ident, owner).to_item()?))
        .condition_expression(condition)
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(":owner", s(expected))
        .build()?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn s(id: &LinkId) -> AttributeValue {
    AttributeValue::S(id.to_string())
}

fn num(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}
