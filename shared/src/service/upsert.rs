//! What happens to a bulk create/update (seeds 001/002).
//!
//! 1. The request is parsed and validated as a whole ([`parse_request`]); a structural
//!    problem refuses it before anything is read or written.
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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;

use aws_sdk_dynamodb::types::TransactWriteItem;
use base64::Engine;

use crate::config::Limits;
use crate::deadline::{Backoff, Deadline};
use crate::domain::json::Field;
use crate::domain::outcome::{ExtendedInfo, ItemOutcome};
use crate::domain::{AuthFactorInput, Identifier, LinkId, Timestamp, UserInput};
use crate::service::known::{Known, Lookup, NameChange};
use crate::store::keys;
use crate::store::records::{StoredFactor, UserRecord};
use crate::store::tx::{Expect, Takeover};
use crate::store::units::{Unit, UnitFate};
use crate::store::{Store, StoreError};

/// An item that passed its own checks, ready for matching.
#[derive(Clone, Debug)]
struct Prepared {
    index: usize,
    input: UserInput,
    factors: Vec<StoredFactor>,
    identifiers: BTreeSet<Identifier>,
    face_bytes: usize,
    /// This request planned an update of the item's user (named by `link_id`) and lost
    /// the write to a concurrent change: if the user is gone when read again, it was
    /// deleted meanwhile and must stay deleted.
    seen_existing: bool,
    /// Claims found naming users that no longer hold the number: taken over on retry.
    takeovers: BTreeMap<Identifier, Takeover>,
}

/// Checks one item against the configured limits and decodes its face images.
pub fn prepare(input: &UserInput, limits: &Limits) -> Result<Vec<StoredFactor>, ExtendedInfo> {
    let faces = input
        .auth_factors
        .iter()
        .filter(|f| matches!(f, AuthFactorInput::Face { .. }))
        .count();
    if faces > 0 && !limits.face_enabled {
        return Err(ExtendedInfo::FaceIdNotSupported);
    }
    let numbers: BTreeSet<&Identifier> = input
        .auth_factors
        .iter()
        .filter_map(|f| match f {
            AuthFactorInput::Number(i) => Some(i),
            AuthFactorInput::Face { .. } => None,
        })
        .collect();
    if numbers.len() > limits.max_identifiers {
        return Err(ExtendedInfo::NumberOfIdentifiersExceeded);
    }
    if faces > limits.max_face_identifiers {
        return Err(ExtendedInfo::NumberOfFaceIdentifiersExceeded);
    }
    let mut factors: Vec<StoredFactor> = numbers
        .into_iter()
        .map(|i| match i.kind {
            crate::domain::NumberKind::Card => StoredFactor::Card {
                number: i.number.clone(),
            },
            crate::domain::NumberKind::Pin => StoredFactor::Pin {
                number: i.number.clone(),
            },
        })
        .collect();
    for f in &input.auth_factors {
        if let AuthFactorInput::Face { image_base64 } = f {
            let image = decode_image(image_base64, limits.max_face_image_bytes)
                .ok_or(ExtendedInfo::BadBase64ImageFile)?;
            factors.push(StoredFactor::Face { image });
        }
    }
    Ok(factors)
}

/// Decodes a base64 JPEG or PNG (a `data:image/...;base64,` prefix is accepted).
fn decode_image(b64: &str, max_bytes: usize) -> Option<Vec<u8>> {
    let b64 = match b64.split_once(";base64,") {
        Some((prefix, rest)) if prefix.starts_with("data:image/") => rest,
        _ => b64,
    };
    let cleaned: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if cleaned.len() > max_bytes.saturating_mul(4) / 3 + 4 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .ok()?;
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let is_image = bytes.starts_with(JPEG) || bytes.starts_with(PNG);
    (is_image && bytes.len() <= max_bytes).then_some(bytes)
}

/// A key two items of one request must not both use in one round.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RoundKey {
    User(LinkId),
    Name(String),
    Ident(Identifier),
}

fn round_keys(p: &Prepared) -> Vec<RoundKey> {
    let mut ks = vec![RoundKey::Name(p.input.name.as_str().to_owned())];
    if let Some(id) = p.input.link_id {
        ks.push(RoundKey::User(id));
    }
    ks.extend(p.identifiers.iter().cloned().map(RoundKey::Ident));
    ks
}

/// Splits pending items (in request order) into this round and the rest.
fn select_round(pending: Vec<Prepared>) -> (Vec<Prepared>, Vec<Prepared>) {
    let mut seen = HashSet::new();
    let (mut round, mut rest) = (Vec::new(), Vec::new());
    for p in pending {
        let ks = round_keys(&p);
        let free = ks.iter().all(|k| !seen.contains(k));
        seen.extend(ks);
        if free { round.push(p) } else { rest.push(p) }
    }
    (round, rest)
}

/// How one item will be written.
struct Write {
    item: Prepared,
    id: LinkId,
    record: UserRecord,
    success: ItemOutcome,
    failure_link: Option<LinkId>,
    has_dup: bool,
    kind: WriteKind,
    touched: Vec<String>,
    change: NameChange,
    bytes: usize,
    /// The identifier of each claim action (`claims` range of the transaction, in order).
    claimed: Vec<Identifier>,
}

/// One conditional unit; `claims` and `releases` index into `actions`.
#[derive(Default)]
struct WriteKind {
    actions: Vec<TransactWriteItem>,
    claims: Range<usize>,
    releases: Range<usize>,
}

enum Plan {
    Final(usize, ItemOutcome),
    Write(Box<Write>),
}

/// The end of one write attempt.
enum Fate {
    Applied,
    /// Claims of these identifiers failed: taken, or their claim names a former owner.
    ClaimFailed(BTreeSet<Identifier>),
    Conflict,
    NotProcessed,
}

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
    let n = items.len();
    let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; n];
    let mut rejected: Vec<(usize, UserInput, ExtendedInfo)> = Vec::new();
    let mut pending = Vec::with_capacity(n);
    for (index, input) in items.into_iter().enumerate() {
        match prepare(&input, limits) {
            Ok(factors) => {
                let identifiers = factors
                    .iter()
                    .filter_map(StoredFactor::identifier)
                    .collect();
                let face_bytes = factors
                    .iter()
                    .map(|f| match f {
                        StoredFactor::Face { image } => image.len(),
                        _ => 0,
                    })
                    .sum();
                pending.push(Prepared {
                    index,
                    input,
                    factors,
                    identifiers,
                    face_bytes,
                    seen_existing: false,
                    takeovers: BTreeMap::new(),
                });
            }
            Err(info) => rejected.push((index, input, info)),
        }
    }

    let run = Run {
        store,
        actor,
        now: Timestamp::now(),
        deadline,
    };
    let mut known = Known::default();
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
            match run.plan(item, &known) {
                Plan::Final(index, o) => outcomes[index] = Some(o),
                Plan::Write(w) => writes.push(*w),
            }
        }
        let mut claim_failures = Vec::new();
        let mut conflicts = 0usize;
        let (runnable, deferred) = split_overlapping(writes);
        next.extend(deferred);
        for (w, fate) in run.execute(runnable).await {
            match fate {
                Fate::Applied => {
                    wrote_any = true;
                    known.committed(w.id, Some(w.record), &w.change);
                    outcomes[w.item.index] = Some(w.success);
                }
                Fate::ClaimFailed(idents) => claim_failures.push((w, idents)),
                Fate::Conflict => {
                    conflicts += 1;
                    known.forget(&w.id, &[], Some(&w.change));
                    let mut item = w.item;
                    item.seen_existing |= w.success.info == ExtendedInfo::Updated;
                    requeue(item, &mut known, &mut next);
                }
                Fate::NotProcessed => {
                    outcomes[w.item.index] = Some(ItemOutcome::upsert(
                        w.failure_link,
                        ExtendedInfo::NotProcessed,
                        w.has_dup,
                    ));
                }
            }
        }
        for (w, outcome) in run.verify_claims(claim_failures, &mut known).await {
            match outcome {
                Some(final_info) => {
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
        .map(|o| o.unwrap_or_else(|| ItemOutcome::upsert(None, ExtendedInfo::NotProcessed, false)))
        .collect())
}

/// Puts an item back for another attempt after re-reading its state. Lost races are
/// retried for as long as the deadline allows: each one means another writer's change
/// was applied, so the directory as a whole makes progress.
fn requeue(item: Prepared, known: &mut Known, next: &mut Vec<Prepared>) {
    if let Some(id) = item.input.link_id {
        known.users.remove(&id);
    }
    known.names.remove(item.input.name.as_str());
    next.push(item);
}

/// Keeps the writes of a round that touch distinct items; the others wait a round.
fn split_overlapping(writes: Vec<Write>) -> (Vec<Write>, Vec<Prepared>) {
    let mut touched = HashSet::new();
    let mut runnable = Vec::with_capacity(writes.len());
    let mut deferred = Vec::new();
    for w in writes {
        if w.touched.iter().any(|k| touched.contains(k)) {
            deferred.push(w.item);
        } else {
            touched.extend(w.touched.iter().cloned());
            runnable.push(w);
        }
    }
    (runnable, deferred)
}

struct Run<'a> {
    store: &'a Store,
    actor: &'a str,
    now: Timestamp,
    deadline: Deadline,
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
                Some(id) if !known.users.contains_key(&id) => first.push(Lookup::User(id)),
                None if !known.names.contains_key(p.input.name.as_str()) => {
                    first.push(Lookup::Name(p.input.name.as_str().to_owned()))
                }
                _ => {}
            }
        }
        self.fetch(first, known).await?;

        let mut second = Vec::new();
        let mut registries = HashSet::new();
        for p in round {
            let name = p.input.name.as_str();
            let existing = p
                .input
                .link_id
                .and_then(|id| known.users.get(&id).and_then(Option::as_ref));
            match p.input.link_id {
                None => {
                    second.extend(known.unknown_members(name).into_iter().map(Lookup::User));
                    registries.insert(name.to_owned());
                }
                Some(_) => {
                    let keeps_live_name = existing.is_some_and(|u| u.is_live() && u.name == name);
                    if !keeps_live_name {
                        registries.insert(name.to_owned());
                        if !known.names.contains_key(name) {
                            second.push(Lookup::Name(name.to_owned()));
                        }
                    }
                    if let Some(u) =
                        existing.filter(|u| u.is_live() && u.name != name && u.name_dup)
                    {
                        registries.insert(u.name.clone());
                        if !known.names.contains_key(&u.name) {
                            second.push(Lookup::Name(u.name.clone()));
                        }
                    }
                }
            }
            if let Field::Value(profile) = p.input.time_profile_id {
                let unchanged = existing.is_some_and(|u| u.time_profile_id == Some(profile));
                if !unchanged && !known.profiles.contains_key(&profile) {
                    second.push(Lookup::Profile(profile));
                }
            }
        }
        self.fetch(second, known).await?;

        let third: BTreeSet<LinkId> = registries
            .iter()
            .flat_map(|name| known.unknown_members(name))
            .collect();
        self.fetch(third.into_iter().map(Lookup::User).collect(), known)
            .await
    }

    async fn fetch(&self, lookups: Vec<Lookup>, known: &mut Known) -> Result<(), StoreError> {
        known.fetch(self.store, lookups, &self.deadline).await
    }

    /// Resolves one item against what is known.
    fn plan(&self, item: &Prepared, known: &Known) -> Plan {
        self.try_plan(item, known).unwrap_or_else(|e| {
            tracing::error!(error = ?e, "item could not be planned");
            final_outcome(
                item.index,
                item.input.link_id,
                ExtendedInfo::NotProcessed,
                false,
            )
        })
    }

    fn try_plan(&self, item: &Prepared, known: &Known) -> Result<Plan, StoreError> {
        let input = &item.input;
        let name = input.name.as_str();
        let not_processed = |link| {
            Ok(final_outcome(
                item.index,
                link,
                ExtendedInfo::NotProcessed,
                false,
            ))
        };
        // Who the item is about.
        let (id, existing): (LinkId, Option<&UserRecord>) = match input.link_id {
            Some(id) => match known.users.get(&id) {
                // Deleted after this request read it: it stays deleted.
                Some(None) if item.seen_existing => {
                    let has_dup = known
                        .live_others(name, Some(&id))
                        .is_some_and(|others| !others.is_empty());
                    return Ok(final_outcome(
                        item.index,
                        Some(id),
                        ExtendedInfo::EntityNotFound,
                        has_dup,
                    ));
                }
                Some(u) => (id, u.as_ref()),
                None => return not_processed(Some(id)),
            },
            None => {
                // Matched by name among the live users carrying it.
                let Some(live) = known.live_others(name, None) else {
                    return not_processed(None);
                };
                let mut live = live.into_iter();
                match (live.next(), live.next()) {
                    (None, _) => (LinkId::new_random(), None),
                    (Some(m), None) => (m, known.users.get(&m).and_then(Option::as_ref)),
                    (Some(_), Some(_)) => {
                        return Ok(final_outcome(
                            item.index,
                            None,
                            ExtendedInfo::HasDublicates,
                            true,
                        ));
                    }
                }
            }
        };
        let failure_link = existing.map(|_| id).or(input.link_id);
        let live_same_name = existing.filter(|u| u.is_live() && u.name == name);
        let has_dup = match live_same_name {
            Some(u) => u.name_dup,
            None => match known.live_others(name, Some(&id)) {
                Some(others) => !others.is_empty(),
                None => return not_processed(failure_link),
            },
        };
        if let Field::Value(profile) = input.time_profile_id {
            let unchanged = existing.is_some_and(|u| u.time_profile_id == Some(profile));
            if !unchanged {
                match known.profiles.get(&profile) {
                    Some(true) => {}
                    Some(false) => {
                        return Ok(final_outcome(
                            item.index,
                            failure_link,
                            ExtendedInfo::BoundTimeProfileDoesntExist,
                            has_dup,
                        ));
                    }
                    None => return not_processed(failure_link),
                }
            }
        }

        let mut record = self.merge(id, existing, item);
        let Some(mut change) = known.name_change(self.store, &id, existing, Some(&record))? else {
            return not_processed(failure_link);
        };
        record.name_dup = change.name_dup;

        let old_ids = existing.map(UserRecord::identifiers).unwrap_or_default();
        let added: Vec<&Identifier> = item.identifiers.difference(&old_ids).collect();
        let removed: Vec<&Identifier> = old_ids.difference(&item.identifiers).collect();
        let info = if existing.is_some() {
            ExtendedInfo::Updated
        } else {
            ExtendedInfo::Created
        };
        let success = ItemOutcome::upsert(Some(id), info, has_dup);
        let mut touched = vec![record.pk.clone()];
        touched.extend(added.iter().chain(&removed).map(|i| keys::identifier(i)));
        touched.extend(change.touched());
        touched.extend(item.takeovers.values().map(|t| keys::user(&t.owner)));

        let mut claimed = Vec::new();
        let expect = match existing {
            Some(u) => Expect::Version(u.version),
            None => Expect::Absent,
        };
        let mut actions = vec![self.store.put_user(&record, expect)?];
        // DynamoDB refuses two actions on one item in a transaction: a former owner
        // whose several claims are taken over is checked once, and one whose name flag
        // this unit flips (conditioned on its version) needs no check when that is the
        // version the takeover relies on.
        let flagged: HashMap<LinkId, u64> = change
            .flags
            .iter()
            .filter_map(|(u, _)| Some((*u, known.users.get(u)?.as_ref()?.version)))
            .collect();
        let mut checked: HashSet<LinkId> = HashSet::new();
        for i in &added {
            let previous = item.takeovers.get(*i);
            let flagged_at = previous.and_then(|p| flagged.get(&p.owner));
            match previous {
                Some(p) if flagged_at.is_some() && flagged_at != p.version.as_ref() => {
                    // Read at another version than the flag's: a plain claim fails,
                    // and the claim is looked at again with both read anew.
                    actions.push(self.store.claim(i, &id)?);
                    claimed.push((*i).clone());
                }
                Some(p) => {
                    actions.push(self.store.take_over(i, &id, p)?);
                    claimed.push((*i).clone());
                    if flagged_at.is_none() && checked.insert(p.owner) {
                        actions.push(self.store.owner_unchanged(p)?);
                        claimed.push((*i).clone());
                    }
                }
                None => {
                    actions.push(self.store.claim(i, &id)?);
                    claimed.push((*i).clone());
                }
            }
        }
        let claims = 1..actions.len();
        for i in &removed {
            actions.push(self.store.release(i, &id)?);
        }
        let releases = claims.end..actions.len();
        actions.append(&mut change.actions);
        let kind = WriteKind {
            actions,
            claims,
            releases,
        };
        let bytes = item.face_bytes + 2048;
        Ok(Plan::Write(Box::new(Write {
            item: item.clone(),
            id,
            record,
            success,
            failure_link,
            has_dup,
            kind,
            touched,
            change,
            bytes,
            claimed,
        })))
    }

    /// The record an item writes: the stored one with the item's fields applied.
    fn merge(&self, id: LinkId, existing: Option<&UserRecord>, item: &Prepared) -> UserRecord {
        let input = &item.input;
        let now = self.now.to_db_string();
        let e = existing;
        /// Absent keeps the stored value, null clears it.
        fn merged<T>(
            field: &Field<T>,
            old: Option<&String>,
            show: impl Fn(&T) -> String,
        ) -> Option<String> {
            match field {
                Field::Absent => old.cloned(),
                Field::Null => None,
                Field::Value(v) => Some(show(v)),
            }
        }
        let text = |t: &crate::domain::Text| t.as_str().to_owned();
        UserRecord {
            pk: keys::user(&id),
            link_id: id,
            name: input.name.as_str().to_owned(),
            info: merged(&input.info, e.and_then(|u| u.info.as_ref()), text),
            email: merged(&input.email, e.and_then(|u| u.email.as_ref()), text),
            role_id: merged(&input.role_id, e.and_then(|u| u.role_id.as_ref()), text),
            user_type: merged(&input.user_type, e.and_then(|u| u.user_type.as_ref()), text),
            active: input.active.or(e.map(|u| u.active)).unwrap_or(true),
            auth_factors: item.factors.clone(),
            time_profile_id: input
                .time_profile_id
                .clone()
                .apply(e.and_then(|u| u.time_profile_id)),
            is_online: input.is_online.or(e.map(|u| u.is_online)).unwrap_or(false),
            login_ip: merged(&input.login_ip, e.and_then(|u| u.login_ip.as_ref()), |ip| {
                ip.to_string()
            }),
            last_login_time: merged(
                &input.last_login_time,
                e.and_then(|u| u.last_login_time.as_ref()),
                |t| t.to_db_string(),
            ),
            create_time: e.map_or_else(|| now.clone(), |u| u.create_time.clone()),
            created_by: e.map_or_else(|| self.actor.to_owned(), |u| u.created_by.clone()),
            update_time: now,
            updated_by: self.actor.to_owned(),
            name_dup: false,
            version: e.map_or(1, |u| u.version + 1),
            deleted_at: e.and_then(|u| u.deleted_at.clone()),
            deleted_by: e.and_then(|u| u.deleted_by.clone()),
            del_shard: e.and_then(|u| u.del_shard.clone()),
        }
    }

    /// Runs a round's writes: conditional units packed into transactions and retried.
    async fn execute(&self, writes: Vec<Write>) -> Vec<(Write, Fate)> {
        let mut fates: Vec<Option<Fate>> = Vec::with_capacity(writes.len());
        let mut writes = writes;
        let mut units = Vec::with_capacity(writes.len());
        for (i, w) in writes.iter_mut().enumerate() {
            fates.push(None);
            let WriteKind {
                actions,
                claims,
                releases,
            } = std::mem::take(&mut w.kind);
            units.push(Unit {
                tag: i,
                actions,
                claims,
                releases,
                bytes: w.bytes,
            });
        }
        for (i, fate) in self.store.apply_units(units, &self.deadline).await {
            fates[i] = Some(match fate {
                UnitFate::Applied => Fate::Applied,
                UnitFate::ClaimTaken(failed) => {
                    let w = &writes[i];
                    let idents = failed
                        .iter()
                        .filter_map(|a| a.checked_sub(1).and_then(|k| w.claimed.get(k)))
                        .cloned()
                        .collect();
                    Fate::ClaimFailed(idents)
                }
                UnitFate::Conflict => Fate::Conflict,
                UnitFate::NotProcessed => Fate::NotProcessed,
            });
        }
        writes
            .into_iter()
            .zip(fates)
            .map(|(w, f)| (w, f.unwrap_or(Fate::NotProcessed)))
            .collect()
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
        let owners = match self.claim_owners(&claims).await {
            Ok(o) => o,
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
                let mut taken = false;
                for ident in idents {
                    match owners.get(&ident) {
                        // Gone meanwhile, or ours: a plain claim will do.
                        None => {
                            w.item.takeovers.remove(&ident);
                        }
                        Some((owner, _)) if *owner == w.id => {
                            w.item.takeovers.remove(&ident);
                        }
                        Some((owner, holder)) => match holder {
                            Some(u) if u.identifiers().contains(&ident) => taken = true,
                            Some(u) => {
                                let t = Takeover {
                                    owner: *owner,
                                    version: Some(u.version),
                                };
                                w.item.takeovers.insert(ident, t);
                            }
                            None => {
                                let t = Takeover {
                                    owner: *owner,
                                    version: None,
                                };
                                w.item.takeovers.insert(ident, t);
                            }
                        },
                    }
                }
                if taken {
                    (w, Some(ExtendedInfo::NumberTakenByAnotherIdentifier))
                } else {
                    known.forget(&w.id, &[], Some(&w.change));
                    (w, None)
                }
            })
            .collect()
    }

    /// Who each claim names, with that user's record (`None`: no such user); claims
    /// that do not exist are left out.
    async fn claim_owners(
        &self,
        claims: &BTreeSet<&Identifier>,
    ) -> Result<HashMap<Identifier, (LinkId, Option<UserRecord>)>, StoreError> {
        let fetched = self
            .store
            .get_many(claims.iter().map(|i| keys::identifier(i)), &self.deadline)
            .await?;
        let mut named: HashMap<Identifier, LinkId> = HashMap::new();
        for ident in claims {
            let owner = fetched
                .items
                .get(&keys::identifier(ident))
                .and_then(|item| item.get("owner"))
                .and_then(|v| v.as_s().ok())
                .and_then(|s| uuid::Uuid::try_parse(s).ok());
            if let Some(owner) = owner {
                named.insert((*ident).clone(), owner.into());
            }
        }
        let users = self
            .store
            .get_many(named.values().map(keys::user), &self.deadline)
            .await?;
        let mut out = HashMap::with_capacity(named.len());
        for (ident, owner) in named {
            let record = users
                .items
                .get(&keys::user(&owner))
                .cloned()
                .map(UserRecord::from_item)
                .transpose()?;
            out.insert(ident, (owner, record));
        }
        Ok(out)
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
        let names: BTreeSet<&str> = rejected.iter().map(|(_, i, _)| i.name.as_str()).collect();
        let registries = names
            .iter()
            .filter(|n| !known.names.contains_key(**n))
            .map(|n| Lookup::Name((*n).to_owned()))
            .collect();
        let read = async {
            self.fetch(registries, known).await?;
            let members: BTreeSet<LinkId> = names
                .iter()
                .flat_map(|n| known.unknown_members(n))
                .collect();
            self.fetch(members.into_iter().map(Lookup::User).collect(), known)
                .await
        };
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

fn final_outcome(index: usize, link: Option<LinkId>, info: ExtendedInfo, has_dup: bool) -> Plan {
    Plan::Final(index, ItemOutcome::upsert(link, info, has_dup))
}
