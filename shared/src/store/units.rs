//! All-or-nothing writes of many users: each user's actions (its own item, identifier
//! claims and releases, name-registry changes) form a [`Unit`] that commits whole or not
//! at all. Units are packed into `TransactWriteItems` of up to 100 actions, groups run
//! with bounded concurrency, and a cancelled transaction is resent without the units
//! whose conditions failed.

use std::ops::Range;

use aws_sdk_dynamodb::types::TransactWriteItem;
use futures::StreamExt;
use futures::stream;

use super::tx::{Reason, TX_LIMIT, TxResult};
use super::{Store, token};
use crate::deadline::{Backoff, Deadline};

/// Payload budget of one transaction (DynamoDB allows 4 MB).
pub const TX_BYTES: usize = 3_500_000;

/// One user's actions that must commit together.
#[derive(Debug)]
pub struct Unit<T> {
    /// The caller's handle on the unit.
    pub tag: T,
    /// The actions; at most [`TX_LIMIT`].
    pub actions: Vec<TransactWriteItem>,
    /// Indexes of identifier claims (and of the checks that go with a takeover): their
    /// failure is `ClaimTaken`.
    pub claims: Range<usize>,
    /// Indexes of identifier releases: a failed release (the number already belongs to
    /// someone else) is dropped and the unit retried, as there is nothing of ours to free.
    pub releases: Range<usize>,
    /// Approximate payload, for packing.
    pub bytes: usize,
}

impl<T> Unit<T> {
    /// A unit without claims or releases.
    pub fn plain(tag: T, actions: Vec<TransactWriteItem>) -> Self {
        Self {
            tag,
            actions,
            claims: 0..0,
            releases: 0..0,
            bytes: 2048,
        }
    }
}

/// How a unit ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitFate {
    /// Every action applied.
    Applied,
    /// A claim failed: the identifier belongs to someone else, or the owner a takeover
    /// relied on changed. Nothing applied. The failing action indexes (into `actions`)
    /// tell which identifiers to look at.
    ClaimTaken(Vec<usize>),
    /// Another condition failed: the state it was planned on changed. Nothing applied;
    /// re-read and plan again.
    Conflict,
    /// Not applied before the deadline (throttling, conflicts) or rejected.
    NotProcessed,
}

impl Store {
    /// Applies units, answering each unit's fate (in no particular order).
    pub async fn apply_units<T: Send>(
        &self,
        units: Vec<Unit<T>>,
        deadline: &Deadline,
    ) -> Vec<(T, UnitFate)> {
        let scope = token::new_scope();
        stream::iter(pack(units))
            .map(|group| self.apply_group(group, &scope, deadline))
            .buffer_unordered(self.concurrency)
            .flat_map(stream::iter)
            .collect()
            .await
    }

    async fn apply_group<T: Send>(
        &self,
        group: Vec<Unit<T>>,
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
            let actions: Vec<TransactWriteItem> = live
                .iter()
                .flat_map(|u| u.actions.iter().cloned())
                .collect();
            let token = token::request_token(scope, &actions);
            let mut transient = false;
            match self.transact(actions, &token, deadline).await {
                Ok(TxResult::Committed) => {
                    done.extend(live.drain(..).map(|u| (u.tag, UnitFate::Applied)));
                }
                Ok(TxResult::Cancelled(reasons)) => {
                    let before = live.len();
                    let mut retry = Vec::with_capacity(before);
                    let mut offset = 0;
                    for mut unit in live.drain(..) {
                        let len = unit.actions.len();
                        let rs = reasons.get(offset..offset + len).unwrap_or(&[]);
                        offset += len;
                        match judge(&unit, rs) {
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

enum Verdict {
    Done(UnitFate),
    DropReleases(Vec<usize>),
    Retry { transient: bool },
}

fn judge<T>(unit: &Unit<T>, reasons: &[Reason]) -> Verdict {
    let failed: Vec<usize> = reasons
        .iter()
        .enumerate()
        .filter(|(_, r)| **r == Reason::ConditionFailed)
        .map(|(i, _)| i)
        .collect();
    let claims: Vec<usize> = failed
        .iter()
        .copied()
        .filter(|i| unit.claims.contains(i))
        .collect();
    if !claims.is_empty() {
        return Verdict::Done(UnitFate::ClaimTaken(claims));
    }
    if failed.iter().any(|i| !unit.releases.contains(i)) {
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

/// Removes failed releases (indexes into `unit.actions`), keeping the ranges right.
fn drop_actions<T>(unit: &mut Unit<T>, failed: &[usize]) {
    let actions = std::mem::take(&mut unit.actions);
    unit.actions = actions
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !failed.contains(i))
        .map(|(_, a)| a)
        .collect();
    let removed_before = |i: usize| failed.iter().filter(|f| **f < i).count();
    unit.releases = (unit.releases.start - removed_before(unit.releases.start))
        ..(unit.releases.end - removed_before(unit.releases.end));
}

/// Packs units into groups of at most 100 actions and [`TX_BYTES`].
fn pack<T>(units: Vec<Unit<T>>) -> Vec<Vec<Unit<T>>> {
    let mut groups: Vec<Vec<Unit<T>>> = Vec::new();
    let (mut actions, mut bytes) = (0usize, 0usize);
    for unit in units {
        let fits = !groups.is_empty()
            && actions + unit.actions.len() <= TX_LIMIT
            && bytes + unit.bytes <= TX_BYTES;
        if !fits {
            groups.push(Vec::new());
            actions = 0;
            bytes = 0;
        }
        actions += unit.actions.len();
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
    use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};

    fn action(n: usize) -> TransactWriteItem {
        TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name("t")
                    .key(
                        "pk",
                        aws_sdk_dynamodb::types::AttributeValue::S(n.to_string()),
                    )
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .unwrap(),
            )
            .build()
    }

    fn unit(tag: u32, n: usize) -> Unit<u32> {
        Unit::plain(tag, (0..n).map(action).collect())
    }

    #[test]
    fn packing_respects_the_action_and_byte_limits() {
        let units: Vec<_> = (0..10).map(|i| unit(i, 30)).collect();
        let groups = pack(units);
        assert_eq!(
            groups.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        let mut big = unit(0, 1);
        big.bytes = TX_BYTES;
        let groups = pack(vec![big, unit(1, 1)]);
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn a_failed_claim_is_final_and_a_failed_release_is_dropped() {
        let mut u = unit(1, 4);
        u.claims = 1..2;
        u.releases = 2..4;
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
            judge(&u, &r(&[1])),
            Verdict::Done(UnitFate::ClaimTaken(_))
        ));
        assert!(matches!(
            judge(&u, &r(&[0])),
            Verdict::Done(UnitFate::Conflict)
        ));
        assert!(matches!(
            judge(&u, &r(&[])),
            Verdict::Retry { transient: false }
        ));
        let Verdict::DropReleases(failed) = judge(&u, &r(&[2])) else {
            panic!("release failure should be dropped");
        };
        drop_actions(&mut u, &failed);
        assert_eq!(u.actions.len(), 3);
        assert_eq!(u.releases, 2..3);
        assert_eq!(u.claims, 1..2);
    }
}
