//! What happens to a bulk create/update (docs/contracts.md#upsert-users).
//!
//! 1. The request is parsed and validated as a whole by the HTTP layer (`http/body/bulk.rs`);
//!    a structural problem refuses it before anything is read or written.
//! 2. Each item is checked on its own ([`prepare`]): face support, limits, images. A
//!    failing item gets its `extended_info` and never blocks the others.
//! 3. Items are applied in *rounds*. An item that shares a link id, a name or an
//!    identifier number with an earlier item of the request waits for a later round, so
//!    duplicates inside one request apply in request order (`created`, then `updated`).
//! 4. Per round, state is read in batches (users, name registries, time profiles; at most
//!    three `BatchGetItem` phases), each item is resolved to a write, and writes run as
//!    conditional units packed up to 100 actions per `TransactWriteItems`: every user
//!    write is conditional on what was read (absent for a create, the version read for
//!    an update), together with its identifier claims and registry changes when it has
//!    any. A cancelled transaction is retried without the users whose claims failed
//!    (`number_taken_by_another_identifier`); a user whose own condition failed was
//!    changed concurrently and is re-read and planned again — until the deadline, backing
//!    off between such rounds. A user deleted between this request's read and its write
//!    stays deleted: the item answers `entity_not_found`.
//! 5. Whatever DynamoDB did not confirm before the deadline is answered `not_processed`.
//!
//! What each item comes to, given what is known (steps 2 to 4 without the reads and
//! writes), is planned in `plan.rs`; this module reads, writes and retries.

mod plan;

use std::collections::{BTreeSet, HashMap};

pub use self::plan::prepare;
use self::plan::{
    ClaimHolder, Plan, Planner, Prepared, Write, judge_claims, requeue, select_round,
    split_overlapping,
};
use crate::config::Limits;
use crate::deadline::{Backoff, Deadline};
use crate::domain::json::Field;
use crate::domain::outcome::{ExtendedInfo, ItemOutcome};
use crate::domain::{Identifier, LinkId, Timestamp, UserInput};
use crate::service::known::Known;
use crate::service::names::{committed, forget};
use crate::store::read::Key;
use crate::store::records::UserRecord;
use crate::store::units::UnitFate;
use crate::store::{Store, StoreError};

/// Applies an upsert request. `actor` is recorded as creator/changer (the token subject).
/// Returns one outcome per item in request order, or an error when the store failed
/// before anything was written.
pub async fn upsert_users(
    store: &Store,
    limits: &Limits,
    actor: &str,
    deadline: Deadline,
    items: Vec<UserInput>,
) -> Result<Vec<ItemOutcome>, StoreError> {
    let done = upsert_all(store, limits, actor, deadline, items, Vec::new(), false).await?;
    Ok(done.into_iter().map(|u| u.outcome).collect())
}

/// What became of one item, in more detail than its answer.
#[derive(Clone, Debug)]
pub struct Upserted {
    /// The item's answer.
    pub outcome: ItemOutcome,
    /// The user as written, when it was.
    pub record: Option<UserRecord>,
    /// The identifiers another user holds (`number_taken_by_another_identifier`).
    pub taken: BTreeSet<Identifier>,
}

/// [`upsert_users`] with what the caller already read (`known`: users by id, `None` for
/// an id known to be free), and each item's written record and taken identifiers: the
/// SCIM service writes one user it has just read, or one new one, without reading it
/// again.
pub async fn upsert_detailed(
    store: &Store,
    limits: &Limits,
    actor: &str,
    deadline: Deadline,
    items: Vec<UserInput>,
    known_users: Vec<(LinkId, Option<UserRecord>)>,
) -> Result<Vec<Upserted>, StoreError> {
    upsert_all(store, limits, actor, deadline, items, known_users, true).await
}

/// The upsert; the written records are kept (a copy each) only with `keep_records`, so
/// that the bulk API's requests do not pay for them.
async fn upsert_all(
    store: &Store,
    limits: &Limits,
    actor: &str,
    deadline: Deadline,
    items: Vec<UserInput>,
    known_users: Vec<(LinkId, Option<UserRecord>)>,
    keep_records: bool,
) -> Result<Vec<Upserted>, StoreError> {
    let n = items.len();
    let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; n];
    let mut records: Vec<Option<UserRecord>> = vec![None; n];
    let mut taken: HashMap<usize, BTreeSet<Identifier>> = HashMap::new();
    let mut rejected: Vec<(usize, UserInput, ExtendedInfo)> = Vec::new();
    let mut pending = Vec::with_capacity(n);
    for (index, input) in items.into_iter().enumerate() {
        match prepare(&input, limits) {
            Ok(factors) => pending.push(Prepared::new(index, input, factors)),
            Err(info) => rejected.push((index, input, info)),
        }
    }

    let run = Run {
        store,
        deadline,
        planner: Planner {
            actor,
            now: Timestamp::now(),
        },
    };
    let mut known = Known::default();
    known.users.extend(known_users);
    let mut wrote_any = false;
    let mut backoff = Backoff::default();
    while !pending.is_empty() {
        if deadline.expired() {
            break;
        }
        let (round, rest) = select_round(pending);
        if let Err(e) = run.load(&round, &mut known).await {
            if !wrote_any {
                return Err(e);
            }
            tracing::error!(error = ?e, "reading state failed mid-request");
            pending = round.into_iter().chain(rest).collect();
            break;
        }
        let mut next = rest;
        let mut writes = Vec::new();
        for item in &round {
            match run.planner.plan(item, &known) {
                Plan::Final(index, o) => outcomes[index] = Some(o),
                Plan::Write(w) => writes.push(*w),
            }
        }
        let mut claim_failures = Vec::new();
        let mut conflicts = 0usize;
        let (runnable, deferred) = split_overlapping(writes);
        next.extend(deferred);
        for (w, fate) in store.apply_units(runnable, &deadline).await {
            match fate {
                UnitFate::Applied => {
                    wrote_any = true;
                    if keep_records {
                        records[w.item.index] = Some(w.record.clone());
                    }
                    committed(&mut known, w.id, Some(w.record), &w.change);
                    outcomes[w.item.index] = Some(w.success);
                }
                UnitFate::ClaimTaken(idents) => claim_failures.push((w, idents)),
                UnitFate::Conflict => {
                    conflicts += 1;
                    forget(&mut known, &w.id, &w.change);
                    let mut item = w.item;
                    item.seen_existing |= w.success.info == ExtendedInfo::Updated;
                    requeue(item, &mut known, &mut next);
                }
                UnitFate::NotProcessed => {
                    outcomes[w.item.index] = Some(ItemOutcome::upsert(
                        w.failure_link,
                        ExtendedInfo::NotProcessed,
                        w.has_dup,
                    ));
                }
            }
        }
        let failed: HashMap<usize, BTreeSet<Identifier>> = claim_failures
            .iter()
            .map(|(w, idents)| (w.item.index, idents.clone()))
            .collect();
        for (w, outcome) in run.verify_claims(claim_failures, &mut known).await {
            match outcome {
                Some(final_info) => {
                    if final_info == ExtendedInfo::NumberTakenByAnotherIdentifier
                        && let Some(idents) = failed.get(&w.item.index)
                    {
                        taken.insert(w.item.index, idents.clone());
                    }
                    outcomes[w.item.index] =
                        Some(ItemOutcome::upsert(w.failure_link, final_info, w.has_dup));
                }
                None => requeue(w.item, &mut known, &mut next),
            }
        }
        next.sort_by_key(|p| p.index);
        pending = next;
        // Lost races: let the concurrent writers finish before reading again (jittered,
        // so that requests racing for one name or number do not meet again in step).
        if conflicts > 0 && !pending.is_empty() && !backoff.wait(&deadline).await {
            break;
        }
    }
    for p in pending {
        outcomes[p.index] = Some(ItemOutcome::upsert(
            p.input.link_id,
            ExtendedInfo::NotProcessed,
            false,
        ));
    }
    run.answer_rejected(rejected, &mut known, &mut outcomes)
        .await;
    Ok(outcomes
        .into_iter()
        .zip(records)
        .enumerate()
        .map(|(i, (o, record))| Upserted {
            outcome: o
                .unwrap_or_else(|| ItemOutcome::upsert(None, ExtendedInfo::NotProcessed, false)),
            record,
            taken: taken.remove(&i).unwrap_or_default(),
        })
        .collect())
}

struct Run<'a> {
    store: &'a Store,
    deadline: Deadline,
    planner: Planner<'a>,
}

impl Run<'_> {
    /// Reads what the round needs and does not know yet, in at most three batched
    /// phases: users by id and the registries of names matched without an id; then the
    /// registries and time profiles the users reveal (and the members of the first
    /// registries); then the members of those registries.
    async fn load(&self, round: &[Prepared], known: &mut Known) -> Result<(), StoreError> {
        let mut first = Vec::new();
        for p in round {
            match p.input.link_id {
                Some(id) if !known.users.contains_key(&id) => first.push(Key::User(id)),
                None if !known.names.contains_key(p.input.name.as_str()) => {
                    first.push(Key::Name(p.input.name.as_str().to_owned()))
                }
                _ => {}
            }
        }
        known.fetch(self.store, first, &self.deadline).await?;

        let mut second = Vec::new();
        let mut registries = BTreeSet::new();
        for p in round {
            let name = p.input.name.as_str();
            let existing = p
                .input
                .link_id
                .and_then(|id| known.users.get(&id).and_then(Option::as_ref));
            match p.input.link_id {
                None => {
                    second.extend(known.unknown_members(name).into_iter().map(Key::User));
                    registries.insert(name.to_owned());
                }
                Some(_) => {
                    let keeps_live_name = existing.is_some_and(|u| u.is_live() && u.name == name);
                    if !keeps_live_name {
                        registries.insert(name.to_owned());
                    }
                    if let Some(u) =
                        existing.filter(|u| u.is_live() && u.name != name && u.name_dup)
                    {
                        registries.insert(u.name.clone());
                    }
                }
            }
            if let Field::Value(profile) = p.input.time_profile_id {
                let unchanged = existing.is_some_and(|u| u.time_profile_id == Some(profile));
                if !unchanged && !known.profiles.contains_key(&profile) {
                    second.push(Key::Profile(profile));
                }
            }
        }
        known
            .fetch_names(self.store, &registries, second, &self.deadline)
            .await
    }

    /// Looks at the claims that failed: a claim naming a user that no longer exists, or
    /// that no longer carries the number, is free, and the item is retried taking it
    /// over (`None`); a number another user really holds is final
    /// (`number_taken_by_another_identifier`). Two batched reads for the whole round.
    async fn verify_claims(
        &self,
        failures: Vec<(Write, BTreeSet<Identifier>)>,
        known: &mut Known,
    ) -> Vec<(Write, Option<ExtendedInfo>)> {
        if failures.is_empty() {
            return Vec::new();
        }
        let claims: BTreeSet<&Identifier> = failures.iter().flat_map(|(_, i)| i).collect();
        let holders = match self.claim_holders(&claims).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = ?e, "claims could not be read");
                return failures
                    .into_iter()
                    .map(|(w, _)| (w, Some(ExtendedInfo::NotProcessed)))
                    .collect();
            }
        };
        failures
            .into_iter()
            .map(|(mut w, idents)| {
                if judge_claims(&mut w, idents, &holders) {
                    (w, Some(ExtendedInfo::NumberTakenByAnotherIdentifier))
                } else {
                    forget(known, &w.id, &w.change);
                    (w, None)
                }
            })
            .collect()
    }

    /// Who each claim names, with that user's record (`None`: no such user); claims
    /// that do not exist are left out.
    async fn claim_holders(
        &self,
        claims: &BTreeSet<&Identifier>,
    ) -> Result<HashMap<Identifier, ClaimHolder>, StoreError> {
        let keys = claims.iter().map(|i| Key::Claim((*i).clone())).collect();
        let found = self.store.read(keys, &self.deadline).await?;
        let named: HashMap<Identifier, LinkId> = found
            .claims
            .into_iter()
            .filter_map(|(ident, owner)| Some((ident, owner?)))
            .collect();
        let owners = named.values().copied().map(Key::User).collect();
        let users = self.store.read(owners, &self.deadline).await?.users;
        Ok(named
            .into_iter()
            .map(|(ident, owner)| {
                let record = users.get(&owner).cloned().flatten();
                (ident, (owner, record))
            })
            .collect())
    }

    /// `has_dublicates` of the items refused by their own checks: they never reached
    /// matching, so their names are looked up here (one batched read at most).
    async fn answer_rejected(
        &self,
        rejected: Vec<(usize, UserInput, ExtendedInfo)>,
        known: &mut Known,
        outcomes: &mut [Option<ItemOutcome>],
    ) {
        if rejected.is_empty() {
            return;
        }
        let names: BTreeSet<String> = rejected
            .iter()
            .map(|(_, i, _)| i.name.as_str().to_owned())
            .collect();
        let read = known.fetch_names(self.store, &names, Vec::new(), &self.deadline);
        if let Err(e) = read.await {
            tracing::warn!(error = ?e, "names of refused items could not be read");
        }
        for (index, input, info) in rejected {
            let has_dup = known
                .live_others(input.name.as_str(), input.link_id.as_ref())
                .is_some_and(|others| !others.is_empty());
            outcomes[index] = Some(ItemOutcome::upsert(input.link_id, info, has_dup));
        }
    }
}
