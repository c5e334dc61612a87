//! All-or-nothing writes of many users: each user's actions (its own item, identifier
//! claims and releases, name-registry changes) form a [`Unit`] that commits whole or not
//! at all. Units are packed into `TransactWriteItems` of up to 100 actions, groups run
//! with bounded concurrency, and a cancelled transaction is resent without the units
//! whose conditions failed.
//!
//! A unit is described with a [`UnitBuilder`]; which action failed in a cancelled
//! transaction is read here, and a unit's end comes back as a [`UnitFate`] (a failed
//! claim as the identifiers that failed), so no caller deals in action indexes.

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_dynamodb::types::TransactWriteItem;
use futures::StreamExt;
use futures::stream;

pub use super::actions::{Action, Expect, Takeover};
use super::expression::Expression;
use super::records::UserRecord;
use super::tx::{Reason, TX_LIMIT, TxResult};
use super::{Store, token};
use crate::deadline::{Backoff, Deadline};
use crate::domain::{Identifier, LinkId};

/// Payload budget of one transaction (DynamoDB allows 4 MB).
pub const TX_BYTES: usize = 3_500_000;

/// The payload a unit is assumed to carry besides face images (the user's other
/// attributes, claims, registry and conditions): users without faces pack 100 actions
/// to a transaction, users with large faces fewer.
const UNIT_BYTES: usize = 2048;

/// The payload of one id in a name registry's string set (36 characters, quoting).
const REGISTRY_ID_BYTES: usize = 40;

/// How a failed condition of an action is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// The user's own write, a registry or another user's flag: the state the unit was
    /// planned on changed.
    Write,
    /// The claim of this identifier, or the check of the former owner it takes the claim
    /// over from: the number may belong to someone else.
    Claim(Identifier),
    /// A release: the number already belongs to someone else, so there is nothing of
    /// ours to free; the release is dropped and the unit retried.
    Release,
}

/// One user's actions that must commit together, built by a [`UnitBuilder`].
#[derive(Debug)]
pub struct Unit<T> {
    tag: T,
    actions: Vec<Action>,
    /// One per action.
    roles: Vec<Role>,
    /// Approximate payload, for packing.
    bytes: usize,
}

impl<T> Unit<T> {
    /// The caller's handle on the unit, given back with its fate.
    pub fn tag(&self) -> &T {
        &self.tag
    }

    /// The caller's handle, without the unit.
    pub fn into_tag(self) -> T {
        self.tag
    }

    /// The unit's actions, in the order they are sent.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// How a failed condition of each action is read.
    pub(super) fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// Removes the actions at these indexes (failed releases).
    pub(super) fn drop_actions(&mut self, failed: &[usize]) {
        self.actions = without(std::mem::take(&mut self.actions), failed);
        self.roles = without(std::mem::take(&mut self.roles), failed);
    }
}

/// Describes a unit: the user's own write, its identifier claims, takeovers and
/// releases, and the registries and flags of other users its name change writes.
///
/// DynamoDB refuses a transaction with two actions on one item, so [`UnitBuilder::build`]
/// checks the former owner of taken-over claims once per owner, and not at all when the
/// unit already sets that owner's flag at the version the takeover relies on.
#[derive(Debug)]
pub struct UnitBuilder {
    writes: Vec<Action>,
    claims: Vec<(Identifier, LinkId, Option<Takeover>)>,
    releases: Vec<(Identifier, LinkId)>,
    registries: Vec<Action>,
    flags: Vec<(LinkId, bool, u64)>,
    bytes: usize,
}

impl Default for UnitBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl UnitBuilder {
    /// An empty unit.
    pub fn new() -> Self {
        Self {
            writes: Vec::new(),
            claims: Vec::new(),
            releases: Vec::new(),
            registries: Vec::new(),
            flags: Vec::new(),
            bytes: UNIT_BYTES,
        }
    }

    /// Puts `record`, expecting the user absent (create) or at a version (update).
    pub fn put_user(mut self, record: UserRecord, expect: Expect) -> Self {
        self.bytes += record.face_bytes();
        self.writes.push(Action::PutUser {
            record: Box::new(record),
            expect,
        });
        self
    }

    /// Deletes `user` at the version read, and only if `condition` still holds of it.
    pub fn delete_user(mut self, user: &UserRecord, condition: Option<Expression>) -> Self {
        self.bytes += user.face_bytes();
        self.writes.push(Action::DeleteUser {
            id: user.link_id,
            version: user.version,
            condition,
        });
        self
    }

    /// Claims `ident` for `owner`: it must be free or already `owner`'s.
    pub fn claim(mut self, ident: Identifier, owner: LinkId) -> Self {
        self.claims.push((ident, owner, None));
        self
    }

    /// Takes `ident` over for `owner` from the user its claim names, who no longer holds
    /// it (`previous`, as read).
    pub fn take_over(mut self, ident: Identifier, owner: LinkId, previous: Takeover) -> Self {
        self.claims.push((ident, owner, Some(previous)));
        self
    }

    /// Frees `ident`, which `owner` no longer carries.
    pub fn release(mut self, ident: Identifier, owner: LinkId) -> Self {
        self.releases.push((ident, owner));
        self
    }

    /// Writes the registry of `name` (read at `read_ver`, 0: absent) with its holders.
    /// A large registry counts in the transaction's payload (40 bytes an id, quoted), so
    /// a transaction never packs several of them past DynamoDB's 4 MB.
    pub fn set_registry(mut self, name: String, holders: BTreeSet<LinkId>, read_ver: u64) -> Self {
        self.bytes += holders.len() * REGISTRY_ID_BYTES + name.len();
        self.registries.push(Action::SetRegistry {
            name,
            holders,
            read_ver,
        });
        self
    }

    /// Sets another user's `name_dup` flag, at the version read.
    pub fn set_name_dup(mut self, id: LinkId, dup: bool, read_version: u64) -> Self {
        self.flags.push((id, dup, read_version));
        self
    }

    /// The unit, with the caller's handle on it (given back with its fate): the user's
    /// writes, claims (each takeover followed by the check of its former owner where one
    /// is needed), releases, registries, then flags.
    pub fn build<T>(self, tag: T) -> Unit<T> {
        let mut unit = Unit {
            tag,
            actions: Vec::new(),
            roles: Vec::new(),
            bytes: self.bytes,
        };
        let mut push = |action: Action, role: Role| {
            unit.actions.push(action);
            unit.roles.push(role);
        };
        for write in self.writes {
            push(write, Role::Write);
        }
        let flagged: HashMap<LinkId, u64> = self.flags.iter().map(|(id, _, v)| (*id, *v)).collect();
        let mut checked = HashSet::new();
        for (ident, owner, previous) in self.claims {
            let role = Role::Claim(ident.clone());
            match previous {
                // The owner's flag is set at another version than the takeover was
                // read at: a plain claim fails, and the claim is looked at again with
                // both read anew.
                Some(p) if flagged.get(&p.owner).is_some_and(|v| Some(*v) != p.version) => {
                    push(Action::Claim { ident, owner }, role);
                }
                Some(p) => {
                    let previous = p.owner;
                    push(
                        Action::TakeOver {
                            ident,
                            owner,
                            previous,
                        },
                        role.clone(),
                    );
                    // The flag's condition on the owner's version already checks it.
                    if !flagged.contains_key(&previous) && checked.insert(previous) {
                        push(Action::OwnerUnchanged(p), role);
                    }
                }
                None => push(Action::Claim { ident, owner }, role),
            }
        }
        for (ident, owner) in self.releases {
            push(Action::Release { ident, owner }, Role::Release);
        }
        for registry in self.registries {
            push(registry, Role::Write);
        }
        for (id, dup, read_version) in self.flags {
            push(
                Action::SetNameDup {
                    id,
                    dup,
                    read_version,
                },
                Role::Write,
            );
        }
        unit
    }
}

/// How a unit ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitFate {
    /// Every action applied.
    Applied,
    /// The claims of these identifiers failed: each belongs to someone else, or the
    /// owner a takeover relied on changed. Nothing applied.
    ClaimTaken(BTreeSet<Identifier>),
    /// Another condition failed: the state it was planned on changed. Nothing applied;
    /// re-read and plan again.
    Conflict,
    /// Not applied before the deadline (throttling, conflicts) or rejected.
    NotProcessed,
}

/// A unit in its DynamoDB form.
struct Sent<T> {
    tag: T,
    items: Vec<TransactWriteItem>,
    roles: Vec<Role>,
    bytes: usize,
}

impl Store {
    /// Applies units, answering each unit's fate (in no particular order).
    pub async fn apply_units<T: Send>(
        &self,
        units: Vec<Unit<T>>,
        deadline: &Deadline,
    ) -> Vec<(T, UnitFate)> {
        if let Some(overlay) = &self.dry {
            return self.simulate_units(overlay, units, deadline).await;
        }
        let mut done = Vec::new();
        let mut ready = Vec::with_capacity(units.len());
        for unit in units {
            match unit.actions.iter().map(|a| self.encode(a)).collect() {
                Ok(items) => ready.push(Sent {
                    tag: unit.tag,
                    items,
                    roles: unit.roles,
                    bytes: unit.bytes,
                }),
                Err(e) => {
                    tracing::error!(error = ?e, "unit could not be encoded");
                    done.push((unit.tag, UnitFate::NotProcessed));
                }
            }
        }
        let scope = token::new_scope();
        let applied: Vec<(T, UnitFate)> = stream::iter(pack(ready))
            .map(|group| self.apply_group(group, &scope, deadline))
            .buffer_unordered(self.concurrency)
            .flat_map(stream::iter)
            .collect()
            .await;
        done.extend(applied);
        done
    }

    async fn apply_group<T: Send>(
        &self,
        group: Vec<Sent<T>>,
        scope: &[u8; 16],
        deadline: &Deadline,
    ) -> Vec<(T, UnitFate)> {
        let mut live = group;
        let mut done = Vec::with_capacity(live.len());
        let mut backoff = Backoff::default();
        while !live.is_empty() {
            if !self.transaction_fits(deadline) {
                // Not sent at all when it could not be answered in time: its fate would
                // be unknown in the answer, and DynamoDB might apply it afterwards.
                done.extend(live.drain(..).map(|u| (u.tag, UnitFate::NotProcessed)));
                break;
            }
            let items: Vec<TransactWriteItem> =
                live.iter().flat_map(|u| u.items.iter().cloned()).collect();
            let token = token::request_token(scope, &items);
            let mut transient = false;
            match self.transact(items, &token, deadline).await {
                Ok(TxResult::Committed) => {
                    done.extend(live.drain(..).map(|u| (u.tag, UnitFate::Applied)));
                }
                Ok(TxResult::Cancelled(reasons)) => {
                    let before = live.len();
                    let mut retry = Vec::with_capacity(before);
                    let mut offset = 0;
                    for mut unit in live.drain(..) {
                        let len = unit.items.len();
                        let rs = reasons.get(offset..offset + len).unwrap_or(&[]);
                        offset += len;
                        match judge(&unit.roles, rs) {
                            Verdict::Done(fate) => done.push((unit.tag, fate)),
                            Verdict::DropReleases(failed) => {
                                drop_actions(&mut unit, &failed);
                                retry.push(unit);
                            }
                            Verdict::Retry { transient: t } => {
                                transient |= t;
                                retry.push(unit);
                            }
                        }
                    }
                    // Nothing to blame: back off rather than resend the same thing at once.
                    transient |= retry.len() == before;
                    live = retry;
                }
                Ok(TxResult::Retry) => transient = true,
                Err(e) => {
                    tracing::error!(error = ?e, "transaction failed");
                    done.extend(live.drain(..).map(|u| (u.tag, UnitFate::NotProcessed)));
                }
            }
            let give_up = deadline.expired() || (transient && !backoff.wait(deadline).await);
            if !live.is_empty() && give_up {
                tracing::warn!(
                    units = live.len(),
                    "transactions not applied before the deadline"
                );
                done.extend(live.drain(..).map(|u| (u.tag, UnitFate::NotProcessed)));
            }
        }
        done
    }
}

#[derive(Debug)]
pub(super) enum Verdict {
    Done(UnitFate),
    DropReleases(Vec<usize>),
    Retry { transient: bool },
}

/// What the reasons of a cancelled transaction (one per action of the unit) mean for it.
pub(super) fn judge(roles: &[Role], reasons: &[Reason]) -> Verdict {
    let failed: Vec<usize> = reasons
        .iter()
        .enumerate()
        .filter(|(_, r)| **r == Reason::ConditionFailed)
        .map(|(i, _)| i)
        .collect();
    let claims: BTreeSet<Identifier> = failed
        .iter()
        .filter_map(|i| match roles.get(*i) {
            Some(Role::Claim(ident)) => Some(ident.clone()),
            _ => None,
        })
        .collect();
    if !claims.is_empty() {
        return Verdict::Done(UnitFate::ClaimTaken(claims));
    }
    if failed.iter().any(|i| roles.get(*i) != Some(&Role::Release)) {
        return Verdict::Done(UnitFate::Conflict);
    }
    if !failed.is_empty() {
        return Verdict::DropReleases(failed);
    }
    if reasons.iter().any(|r| matches!(r, Reason::Other(_))) {
        tracing::error!(reasons = ?reasons, "transaction action rejected");
        return Verdict::Done(UnitFate::NotProcessed);
    }
    Verdict::Retry {
        transient: reasons.contains(&Reason::Transient),
    }
}

/// Removes failed releases (indexes into the unit's actions).
fn drop_actions<T>(unit: &mut Sent<T>, failed: &[usize]) {
    unit.items = without(std::mem::take(&mut unit.items), failed);
    unit.roles = without(std::mem::take(&mut unit.roles), failed);
}

/// `v` without the elements at the `failed` indexes.
fn without<X>(v: Vec<X>, failed: &[usize]) -> Vec<X> {
    v.into_iter()
        .enumerate()
        .filter(|(i, _)| !failed.contains(i))
        .map(|(_, x)| x)
        .collect()
}

/// Packs units into groups of at most 100 actions and [`TX_BYTES`].
fn pack<T>(units: Vec<Sent<T>>) -> Vec<Vec<Sent<T>>> {
    let mut groups: Vec<Vec<Sent<T>>> = Vec::new();
    let (mut actions, mut bytes) = (0usize, 0usize);
    for unit in units {
        let fits = !groups.is_empty()
            && actions + unit.items.len() <= TX_LIMIT
            && bytes + unit.bytes <= TX_BYTES;
        if !fits {
            groups.push(Vec::new());
            actions = 0;
            bytes = 0;
        }
        actions += unit.items.len();
        bytes += unit.bytes;
        if let Some(g) = groups.last_mut() {
            g.push(unit);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NumberKind;
    use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck};

    fn item(n: usize) -> TransactWriteItem {
        TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name("t")
                    .key("pk", AttributeValue::S(n.to_string()))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .unwrap(),
            )
            .build()
    }

    fn sent(tag: u32, roles: Vec<Role>) -> Sent<u32> {
        Sent {
            tag,
            items: (0..roles.len()).map(item).collect(),
            roles,
            bytes: UNIT_BYTES,
        }
    }

    fn card(n: &str) -> Identifier {
        Identifier {
            kind: NumberKind::Card,
            number: n.into(),
        }
    }

    #[test]
    fn packing_respects_the_action_and_byte_limits() {
        let units: Vec<_> = (0..10).map(|i| sent(i, vec![Role::Write; 30])).collect();
        let groups = pack(units);
        assert_eq!(
            groups.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        let mut big = sent(0, vec![Role::Write]);
        big.bytes = TX_BYTES;
        let groups = pack(vec![big, sent(1, vec![Role::Write])]);
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn a_failed_claim_is_final_and_a_failed_release_is_dropped() {
        let roles = vec![
            Role::Write,
            Role::Claim(card("1")),
            Role::Release,
            Role::Release,
        ];
        let mut u = sent(1, roles.clone());
        let r = |f: &[usize]| -> Vec<Reason> {
            (0..4)
                .map(|i| {
                    if f.contains(&i) {
                        Reason::ConditionFailed
                    } else {
                        Reason::None
                    }
                })
                .collect()
        };
        assert!(matches!(
            judge(&roles, &r(&[1])),
            Verdict::Done(UnitFate::ClaimTaken(_))
        ));
        assert!(matches!(
            judge(&roles, &r(&[0])),
            Verdict::Done(UnitFate::Conflict)
        ));
        assert!(matches!(
            judge(&roles, &r(&[])),
            Verdict::Retry { transient: false }
        ));
        let Verdict::DropReleases(failed) = judge(&roles, &r(&[2])) else {
            panic!("release failure should be dropped");
        };
        drop_actions(&mut u, &failed);
        assert_eq!(u.items.len(), 3);
        assert_eq!(
            u.roles,
            [Role::Write, Role::Claim(card("1")), Role::Release],
            "the claim stays a claim and one release is left"
        );
    }

    #[test]
    fn a_failed_claim_is_reported_as_its_identifiers() {
        let roles = vec![
            Role::Write,
            Role::Claim(card("1")),
            Role::Claim(card("2")),
            Role::Claim(card("2")),
        ];
        let reasons = [
            Reason::None,
            Reason::None,
            Reason::None,
            Reason::ConditionFailed,
        ];
        let Verdict::Done(UnitFate::ClaimTaken(idents)) = judge(&roles, &reasons) else {
            panic!("a failed owner check is a failed claim");
        };
        assert_eq!(idents, BTreeSet::from([card("2")]));
    }

    fn takeover(owner: LinkId, version: Option<u64>) -> Takeover {
        Takeover { owner, version }
    }

    #[test]
    fn a_former_owner_is_checked_once_for_all_the_claims_taken_from_it() {
        let (me, former) = (LinkId::new_random(), LinkId::new_random());
        let unit = UnitBuilder::new()
            .take_over(card("1"), me, takeover(former, None))
            .take_over(card("2"), me, takeover(former, None))
            .claim(card("3"), me)
            .build(());
        let checks = unit
            .actions()
            .iter()
            .filter(|a| matches!(a, Action::OwnerUnchanged(_)))
            .count();
        assert_eq!(checks, 1);
        assert_eq!(unit.actions().len(), 4);
        assert!(matches!(unit.actions()[1], Action::OwnerUnchanged(_)));
        assert_eq!(
            unit.roles[1],
            Role::Claim(card("1")),
            "the check goes with its takeover"
        );
    }

    #[test]
    fn a_former_owner_whose_flag_the_unit_sets_is_not_checked_twice() {
        let (me, former) = (LinkId::new_random(), LinkId::new_random());
        let unit = UnitBuilder::new()
            .take_over(card("1"), me, takeover(former, Some(4)))
            .set_name_dup(former, true, 4)
            .build(());
        assert!(matches!(unit.actions()[0], Action::TakeOver { .. }));
        assert!(matches!(unit.actions()[1], Action::SetNameDup { .. }));
        assert_eq!(unit.actions().len(), 2);

        // Read at another version than the flag's: a plain claim, which fails and is
        // looked at again.
        let unit = UnitBuilder::new()
            .take_over(card("1"), me, takeover(former, Some(3)))
            .set_name_dup(former, true, 4)
            .build(());
        assert!(matches!(unit.actions()[0], Action::Claim { .. }));
        assert_eq!(unit.actions().len(), 2);
    }

    #[test]
    fn actions_come_in_a_fixed_order_and_faces_and_registries_count_towards_the_size() {
        let me = LinkId::new_random();
        let face = crate::store::records::StoredFactor::Face {
            image: vec![0; 1000],
        };
        let record = UserRecord::for_tests(me, "Ann", vec![face]);
        let unit = UnitBuilder::new()
            .set_name_dup(LinkId::new_random(), false, 2)
            .set_registry("Ann".into(), BTreeSet::from([me]), 1)
            .release(card("9"), me)
            .claim(card("1"), me)
            .put_user(record, Expect::Absent)
            .build(());
        let kinds: Vec<&str> = unit
            .actions()
            .iter()
            .map(|a| match a {
                Action::PutUser { .. } => "put",
                Action::Claim { .. } => "claim",
                Action::Release { .. } => "release",
                Action::SetRegistry { .. } => "registry",
                Action::SetNameDup { .. } => "flag",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["put", "claim", "release", "registry", "flag"]);
        assert_eq!(
            unit.bytes,
            UNIT_BYTES + 1000 + REGISTRY_ID_BYTES + "Ann".len()
        );
        assert_eq!(UnitBuilder::new().build(()).bytes, UNIT_BYTES);
        let holders: BTreeSet<LinkId> = (0..10_000).map(|_| LinkId::new_random()).collect();
        let full = UnitBuilder::new()
            .set_registry("Ann".into(), holders, 3)
            .build(());
        assert_eq!(full.bytes, UNIT_BYTES + 10_000 * REGISTRY_ID_BYTES + 3);
        assert!(
            9 * full.bytes > TX_BYTES,
            "at most 8 registries at the cap share a transaction"
        );
    }
}
