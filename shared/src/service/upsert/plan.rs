//! Upsert planning, given what is known: each item's own checks, which items share a round,
//! who an item is about (by link id, or matched by name), its `has_dublicates`, the record
//! it writes, and the unit that writes it (the user, its claims, takeovers and releases,
//! and its name change). Pure: nothing here reads or writes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use base64::Engine;

use crate::config::Limits;
use crate::domain::json::Field;
use crate::domain::outcome::{ExtendedInfo, ItemOutcome};
use crate::domain::{
    AuthFactorInput, Identifier, ImageFormat, LinkId, NumberKind, Timestamp, UserInput,
};
use crate::service::known::Known;
use crate::service::names::{NameChange, name_change};
use crate::store::keys;
use crate::store::read::Key;
use crate::store::records::{StoredFactor, UserRecord, user_name_claim};
use crate::store::units::{Expect, Takeover, Unit, UnitBuilder};

/// An item that passed its own checks, ready for matching.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    pub index: usize,
    pub input: UserInput,
    pub factors: Vec<StoredFactor>,
    pub identifiers: BTreeSet<Identifier>,
    /// This request planned an update of the item's user (named by `link_id`) and lost
    /// the write to a concurrent change: if the user is gone when read again, it was
    /// deleted meanwhile and must stay deleted.
    pub seen_existing: bool,
    /// Claims found naming users that no longer hold the number: taken over on retry.
    pub takeovers: BTreeMap<Identifier, Takeover>,
}

impl Prepared {
    /// Item `index` with the factors [`prepare`] made of it.
    pub fn new(index: usize, input: UserInput, factors: Vec<StoredFactor>) -> Self {
        let mut identifiers: BTreeSet<Identifier> = factors
            .iter()
            .filter_map(StoredFactor::identifier)
            .collect();
        identifiers.extend(input.scim.as_ref().map(user_name_claim));
        Self {
            index,
            input,
            factors,
            identifiers,
            seen_existing: false,
            takeovers: BTreeMap::new(),
        }
    }
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
        .filter_map(|i| match i.kind {
            NumberKind::Card => Some(StoredFactor::Card {
                number: i.number.clone(),
            }),
            NumberKind::Pin => Some(StoredFactor::Pin {
                number: i.number.clone(),
            }),
            // Never an authentication factor (auth_factors name cards and PINs only).
            NumberKind::UserName => None,
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
    let is_image = ImageFormat::of(&bytes).is_some();
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

/// Splits pending items (in request order) into this round and the rest: an item that
/// shares a link id, a name or an identifier number with an earlier one waits, so items
/// of one request apply in request order.
pub(crate) fn select_round(pending: Vec<Prepared>) -> (Vec<Prepared>, Vec<Prepared>) {
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

/// How one item will be written: the tag of its unit, and what the unit's fate means
/// for the item.
#[derive(Debug)]
pub(crate) struct Write {
    pub item: Prepared,
    pub id: LinkId,
    pub record: UserRecord,
    /// The outcome once applied (`created` or `updated`).
    pub success: ItemOutcome,
    /// The link id an outcome other than success names.
    pub failure_link: Option<LinkId>,
    pub has_dup: bool,
    /// The items the unit writes.
    pub touched: Vec<Key>,
    pub change: NameChange,
}

/// What an item comes to this round.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Its outcome, with nothing to write.
    Final(usize, ItemOutcome),
    /// A unit to apply.
    Write(Box<Unit<Write>>),
}

/// Keeps the writes of a round that touch distinct items; the others wait a round.
pub(crate) fn split_overlapping(writes: Vec<Unit<Write>>) -> (Vec<Unit<Write>>, Vec<Prepared>) {
    let mut touched = HashSet::new();
    let mut runnable = Vec::with_capacity(writes.len());
    let mut deferred = Vec::new();
    for w in writes {
        if w.tag().touched.iter().any(|k| touched.contains(k)) {
            deferred.push(w.into_tag().item);
        } else {
            touched.extend(w.tag().touched.iter().cloned());
            runnable.push(w);
        }
    }
    (runnable, deferred)
}

/// Plans the items of one request: who writes, and when.
pub(crate) struct Planner<'a> {
    /// Recorded as creator/changer (the token subject).
    pub actor: &'a str,
    /// The request's time, the same for every item.
    pub now: Timestamp,
}

impl Planner<'_> {
    /// Resolves one item against what is known.
    pub fn plan(&self, item: &Prepared, known: &Known) -> Plan {
        let input = &item.input;
        let name = input.name.as_str();
        let not_processed =
            |link| final_outcome(item.index, link, ExtendedInfo::NotProcessed, false);
        // Who the item is about.
        let (id, existing): (LinkId, Option<&UserRecord>) = match input.link_id {
            Some(id) => match known.users.get(&id) {
                // Deleted after this request read it: it stays deleted.
                Some(None) if item.seen_existing => {
                    let has_dup = known
                        .live_others(name, Some(&id))
                        .is_some_and(|others| !others.is_empty());
                    return final_outcome(
                        item.index,
                        Some(id),
                        ExtendedInfo::EntityNotFound,
                        has_dup,
                    );
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
                        return final_outcome(item.index, None, ExtendedInfo::HasDublicates, true);
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
                        return final_outcome(
                            item.index,
                            failure_link,
                            ExtendedInfo::BoundTimeProfileDoesntExist,
                            has_dup,
                        );
                    }
                    None => return not_processed(failure_link),
                }
            }
        }

        let mut record = self.merge(id, existing, item);
        let Some(change) = name_change(known, &id, existing, Some(&record)) else {
            return not_processed(failure_link);
        };
        if change.overflows(known, &id) {
            return final_outcome(
                item.index,
                failure_link,
                ExtendedInfo::TooManyNamesakes,
                has_dup,
            );
        }
        record.name_dup = change.name_dup;

        // What the written record claims: the item's numbers, and a SCIM userName the
        // item sets or the stored user keeps.
        let old_ids = existing.map(UserRecord::identifiers).unwrap_or_default();
        let new_ids = record.identifiers();
        let added: Vec<&Identifier> = new_ids.difference(&old_ids).collect();
        let removed: Vec<&Identifier> = old_ids.difference(&new_ids).collect();
        let info = if existing.is_some() {
            ExtendedInfo::Updated
        } else {
            ExtendedInfo::Created
        };
        let success = ItemOutcome::upsert(Some(id), info, has_dup);
        let mut touched = vec![Key::User(id)];
        touched.extend(
            added
                .iter()
                .chain(&removed)
                .map(|i| Key::Claim((*i).clone())),
        );
        touched.extend(change.touched());
        touched.extend(item.takeovers.values().map(|t| Key::User(t.owner)));

        let expect = match existing {
            Some(u) => Expect::Version(u.version),
            None => Expect::Absent,
        };
        let mut unit = UnitBuilder::new().put_user(record.clone(), expect);
        for i in added {
            unit = match item.takeovers.get(i) {
                Some(previous) => unit.take_over(i.clone(), id, previous.clone()),
                None => unit.claim(i.clone(), id),
            };
        }
        for i in removed {
            unit = unit.release(i.clone(), id);
        }
        let unit = change.write(unit).build(Write {
            item: item.clone(),
            id,
            record,
            success,
            failure_link,
            has_dup,
            touched,
            change,
        });
        Plan::Write(Box::new(unit))
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
            scim: input
                .scim
                .clone()
                .or_else(|| e.and_then(|u| u.scim.clone())),
        }
    }
}

/// Who holds a claim that failed, as read: the user it names and that user's record
/// (`None`: no such user).
pub(crate) type ClaimHolder = (LinkId, Option<UserRecord>);

/// Looks at the claims of `idents` that failed for `write`, given who holds them: a claim
/// naming a user that no longer exists, or that no longer carries the number, is free,
/// and is taken over on the retry; a claim gone meanwhile, or ours, needs a plain claim.
/// Answers whether a number really belongs to another user
/// (`number_taken_by_another_identifier`).
pub(crate) fn judge_claims(
    write: &mut Write,
    idents: BTreeSet<Identifier>,
    holders: &HashMap<Identifier, ClaimHolder>,
) -> bool {
    let mut taken = false;
    for ident in idents {
        match holders.get(&ident) {
            // Gone meanwhile, or ours: a plain claim will do.
            None => {
                write.item.takeovers.remove(&ident);
            }
            Some((owner, _)) if *owner == write.id => {
                write.item.takeovers.remove(&ident);
            }
            Some((_, Some(u))) if u.identifiers().contains(&ident) => taken = true,
            Some((owner, holder)) => {
                let takeover = Takeover {
                    owner: *owner,
                    version: holder.as_ref().map(|u| u.version),
                };
                write.item.takeovers.insert(ident, takeover);
            }
        }
    }
    taken
}

/// Puts an item back for another attempt after re-reading its state. Lost races are
/// retried for as long as the deadline allows: each one means another writer's change
/// was applied, so the directory as a whole makes progress.
pub(crate) fn requeue(item: Prepared, known: &mut Known, next: &mut Vec<Prepared>) {
    if let Some(id) = item.input.link_id {
        known.users.remove(&id);
    }
    known.names.remove(item.input.name.as_str());
    next.push(item);
}

pub(crate) fn final_outcome(
    index: usize,
    link: Option<LinkId>,
    info: ExtendedInfo,
    has_dup: bool,
) -> Plan {
    Plan::Final(index, ItemOutcome::upsert(link, info, has_dup))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::json::JsonPath;
    use crate::service::known::NameState;
    use crate::store::units::Action;
    use serde_json::{Value, json};

    const PNG: &str = "iVBORw0KGgo=";

    fn input(v: Value) -> UserInput {
        UserInput::from_json(&v, &JsonPath::root("list_items[0]")).unwrap()
    }

    fn item(index: usize, v: Value) -> Prepared {
        let input = input(v);
        let factors = prepare(&input, &Limits::default()).unwrap();
        Prepared::new(index, input, factors)
    }

    fn card(n: &str) -> Identifier {
        Identifier {
            kind: NumberKind::Card,
            number: n.into(),
        }
    }

    fn planner() -> Planner<'static> {
        Planner {
            actor: "ops",
            now: Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap(),
        }
    }

    fn stored(name: &str, cards: &[&str]) -> UserRecord {
        let factors = cards
            .iter()
            .map(|n| StoredFactor::Card {
                number: (*n).into(),
            })
            .collect();
        UserRecord::for_tests(LinkId::new_random(), name, factors)
    }

    fn write(plan: Plan) -> Box<Unit<Write>> {
        match plan {
            Plan::Write(w) => w,
            Plan::Final(_, o) => panic!("expected a write, got {o:?}"),
        }
    }

    fn outcome(plan: Plan) -> ItemOutcome {
        match plan {
            Plan::Final(_, o) => o,
            Plan::Write(w) => panic!("expected an outcome, got a write of {:?}", w.tag().id),
        }
    }

    #[test]
    fn items_sharing_an_id_a_name_or_a_number_wait_for_a_later_round() {
        let id = LinkId::new_random();
        let pending = vec![
            item(
                0,
                json!({"link_id": id, "name": "Ann", "auth_factors": [{"type": "card", "number": "1"}]}),
            ),
            item(
                1,
                json!({"link_id": id, "name": "Bo", "auth_factors": [{"type": "card", "number": "2"}]}),
            ),
            item(
                2,
                json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "3"}]}),
            ),
            item(
                3,
                json!({"name": "Cy", "auth_factors": [{"type": "pin", "number": "1"}]}),
            ),
            item(
                4,
                json!({"name": "Di", "auth_factors": [{"type": "card", "number": "1"}]}),
            ),
        ];
        let (round, rest) = select_round(pending);
        let indexes = |v: &[Prepared]| v.iter().map(|p| p.index).collect::<Vec<_>>();
        assert_eq!(indexes(&round), [0, 3], "a PIN 1 is not a card 1");
        assert_eq!(indexes(&rest), [1, 2, 4]);
        let (round, rest) = select_round(rest);
        assert_eq!(indexes(&round), [1, 2, 4]);
        assert!(rest.is_empty());
    }

    #[test]
    fn an_unknown_name_creates_a_user_with_a_server_id() {
        let mut k = Known::default();
        k.names.insert("Ann".into(), NameState::default());
        let w = write(planner().plan(
            &item(
                0,
                json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "1"}]}),
            ),
            &k,
        ));
        let tag = w.tag();
        assert_eq!(tag.success.info, ExtendedInfo::Created);
        assert_eq!(tag.success.link_id, Some(tag.id));
        assert_eq!(tag.record.version, 1);
        assert_eq!(tag.record.created_by, "ops");
        assert!(tag.record.active, "new users are active by default");
        assert!(matches!(
            w.actions()[0],
            Action::PutUser {
                expect: Expect::Absent,
                ..
            }
        ));
        assert!(matches!(&w.actions()[1], Action::Claim { ident, .. } if *ident == card("1")));
        assert!(matches!(
            &w.actions()[2],
            Action::SetRegistry { read_ver: 0, .. }
        ));
    }

    #[test]
    fn one_live_user_with_the_name_is_updated_and_several_are_duplicates() {
        let ann = stored("Ann", &["1"]);
        let k = Known::with_users(&[&ann]);
        let p = item(
            0,
            json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "1"}]}),
        );
        let w = write(planner().plan(&p, &k));
        assert_eq!(w.tag().id, ann.link_id);
        assert_eq!(w.tag().success.info, ExtendedInfo::Updated);
        assert_eq!(
            w.actions().len(),
            1,
            "same name, same numbers: the user put alone"
        );
        assert!(matches!(
            w.actions()[0],
            Action::PutUser {
                expect: Expect::Version(1),
                ..
            }
        ));

        let ann2 = stored("Ann", &[]);
        let k = Known::with_users(&[&ann, &ann2]);
        assert_eq!(
            outcome(planner().plan(&p, &k)),
            ItemOutcome::upsert(None, ExtendedInfo::HasDublicates, true)
        );
    }

    #[test]
    fn a_user_deleted_after_this_request_read_it_stays_deleted() {
        let id = LinkId::new_random();
        let mut k = Known::default();
        k.users.insert(id, None);
        k.names.insert("Ann".into(), NameState::default());
        let mut p = item(
            0,
            json!({"link_id": id, "name": "Ann", "auth_factors": [{"type": "card", "number": "1"}]}),
        );
        let w = write(planner().plan(&p, &k));
        assert_eq!(
            w.tag().success.info,
            ExtendedInfo::Created,
            "first sight: create it"
        );
        p.seen_existing = true;
        assert_eq!(
            outcome(planner().plan(&p, &k)),
            ItemOutcome::upsert(Some(id), ExtendedInfo::EntityNotFound, false)
        );
    }

    #[test]
    fn what_could_not_be_read_is_not_processed() {
        let id = LinkId::new_random();
        let p = item(
            0,
            json!({"link_id": id, "name": "Ann", "auth_factors": [{"type": "card", "number": "1"}]}),
        );
        assert_eq!(
            outcome(planner().plan(&p, &Known::default())),
            ItemOutcome::upsert(Some(id), ExtendedInfo::NotProcessed, false)
        );
        let by_name = item(
            0,
            json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "1"}]}),
        );
        assert_eq!(
            outcome(planner().plan(&by_name, &Known::default())),
            ItemOutcome::upsert(None, ExtendedInfo::NotProcessed, false)
        );
    }

    #[test]
    fn a_bound_time_profile_must_be_known_to_exist() {
        let ann = stored("Ann", &["1"]);
        let profile = uuid::Uuid::new_v4();
        let mut k = Known::with_users(&[&ann]);
        let p = item(
            0,
            json!({"link_id": ann.link_id, "name": "Ann", "time_profile_id": profile,
                                "auth_factors": [{"type": "card", "number": "1"}]}),
        );
        assert_eq!(
            outcome(planner().plan(&p, &k)).info,
            ExtendedInfo::NotProcessed
        );
        k.profiles.insert(profile, false);
        assert_eq!(
            outcome(planner().plan(&p, &k)),
            ItemOutcome::upsert(
                Some(ann.link_id),
                ExtendedInfo::BoundTimeProfileDoesntExist,
                false
            )
        );
        k.profiles.insert(profile, true);
        let w = write(planner().plan(&p, &k));
        assert_eq!(w.tag().record.time_profile_id, Some(profile));
    }

    #[test]
    fn new_numbers_are_claimed_dropped_ones_released_and_former_owners_taken_over() {
        let ann = stored("Ann", &["1", "2"]);
        let former = LinkId::new_random();
        let k = Known::with_users(&[&ann]);
        let mut p = item(
            0,
            json!({"link_id": ann.link_id, "name": "Ann",
                                   "auth_factors": [{"type": "card", "number": "2"}, {"type": "card", "number": "3"},
                                                    {"type": "card", "number": "4"}]}),
        );
        p.takeovers.insert(
            card("4"),
            Takeover {
                owner: former,
                version: None,
            },
        );
        let w = write(planner().plan(&p, &k));
        let actions: Vec<String> = w
            .actions()
            .iter()
            .map(|a| match a {
                Action::PutUser { .. } => "put".to_owned(),
                Action::Claim { ident, .. } => format!("claim {}", ident.number),
                Action::TakeOver {
                    ident, previous, ..
                } if *previous == former => {
                    format!("take over {}", ident.number)
                }
                Action::OwnerUnchanged(t) if t.owner == former => "check former".to_owned(),
                Action::Release { ident, .. } => format!("release {}", ident.number),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            actions,
            ["put", "claim 3", "take over 4", "check former", "release 1"]
        );
        let touched = &w.tag().touched;
        for key in [
            Key::User(ann.link_id),
            Key::Claim(card("1")),
            Key::Claim(card("3")),
            Key::Claim(card("4")),
            Key::User(former),
        ] {
            assert!(touched.contains(&key), "{key:?}");
        }
        assert!(
            !touched.contains(&Key::Claim(card("2"))),
            "kept numbers are not written"
        );
    }

    #[test]
    fn omitted_fields_keep_their_stored_value_and_null_clears_it() {
        let mut ann = stored("Ann", &["1"]);
        ann.info = Some("badge 7".into());
        ann.role_id = Some("r1".into());
        ann.active = false;
        let k = Known::with_users(&[&ann]);
        let p = item(
            0,
            json!({"link_id": ann.link_id, "name": "Ann", "role_id": null,
                               "auth_factors": [{"type": "card", "number": "1"}]}),
        );
        let record = write(planner().plan(&p, &k)).into_tag().record;
        assert_eq!(record.info.as_deref(), Some("badge 7"));
        assert_eq!(record.role_id, None);
        assert!(!record.active);
        assert_eq!(
            record.create_time, ann.create_time,
            "the creation record is kept"
        );
        assert_eq!(record.update_time, "2026-06-01T00:00:00.000Z");
        assert_eq!(record.version, 2);
    }

    #[test]
    fn writes_touching_the_same_item_go_one_round_after_the_other() {
        let mut k = Known::default();
        k.names.insert("Ann".into(), NameState::default());
        k.names.insert("Bo".into(), NameState::default());
        let a = write(planner().plan(
            &item(
                0,
                json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "1"}]}),
            ),
            &k,
        ));
        let b = write(planner().plan(
            &item(
                1,
                json!({"name": "Bo", "auth_factors": [{"type": "card", "number": "1"}]}),
            ),
            &k,
        ));
        let c = write(planner().plan(
            &item(
                2,
                json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "2"}]}),
            ),
            &k,
        ));
        let (runnable, deferred) = split_overlapping(vec![*a, *b, *c]);
        let indexes: Vec<usize> = runnable.iter().map(|u| u.tag().item.index).collect();
        assert_eq!(indexes, [0]);
        assert_eq!(deferred.iter().map(|p| p.index).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn a_failed_claim_is_taken_over_unless_its_owner_still_carries_the_number() {
        let ann = stored("Ann", &[]);
        let k = Known::with_users(&[&ann]);
        let p = item(
            0,
            json!({"link_id": ann.link_id, "name": "Ann",
                               "auth_factors": [{"type": "card", "number": "1"}, {"type": "card", "number": "2"},
                                                {"type": "card", "number": "3"}]}),
        );
        let mut w = write(planner().plan(&p, &k)).into_tag();
        let (holder, renamed) = (stored("Bo", &["1"]), stored("Cy", &["9"]));
        let gone = LinkId::new_random();
        let holders = HashMap::from([
            (card("2"), (renamed.link_id, Some(renamed.clone()))),
            (card("3"), (gone, None)),
        ]);
        let idents = BTreeSet::from([card("2"), card("3")]);
        assert!(!judge_claims(&mut w, idents, &holders));
        assert_eq!(
            w.item.takeovers[&card("2")],
            Takeover {
                owner: renamed.link_id,
                version: Some(1),
            }
        );
        assert_eq!(
            w.item.takeovers[&card("3")],
            Takeover {
                owner: gone,
                version: None,
            }
        );

        let holders = HashMap::from([(card("1"), (holder.link_id, Some(holder.clone())))]);
        assert!(judge_claims(&mut w, BTreeSet::from([card("1")]), &holders));

        // A claim gone meanwhile, or found to be ours, needs a plain claim again.
        let holders = HashMap::from([(card("3"), (ann.link_id, None))]);
        assert!(!judge_claims(
            &mut w,
            BTreeSet::from([card("2"), card("3")]),
            &holders
        ));
        assert!(w.item.takeovers.is_empty());
    }

    #[test]
    fn item_checks_refuse_faces_when_off_too_many_numbers_and_images_that_are_not_images() {
        let faces = input(json!({"name": "Ann", "auth_factors": [{"type": "face", "image": PNG}]}));
        let off = Limits {
            face_enabled: false,
            ..Limits::default()
        };
        assert_eq!(prepare(&faces, &off), Err(ExtendedInfo::FaceIdNotSupported));
        let factors = prepare(&faces, &Limits::default()).unwrap();
        assert!(
            matches!(&factors[0], StoredFactor::Face { image } if image.starts_with(b"\x89PNG"))
        );
        let cards = input(
            json!({"name": "Ann", "auth_factors": [{"type": "card", "number": "1"}, {"type": "pin", "number": "1"}]}),
        );
        let one = Limits {
            max_identifiers: 1,
            ..Limits::default()
        };
        assert_eq!(
            prepare(&cards, &one),
            Err(ExtendedInfo::NumberOfIdentifiersExceeded)
        );
        let text =
            input(json!({"name": "Ann", "auth_factors": [{"type": "face", "image": "aGVsbG8="}]}));
        assert_eq!(
            prepare(&text, &Limits::default()),
            Err(ExtendedInfo::BadBase64ImageFile)
        );
        assert_eq!(
            decode_image(&format!("data:image/png;base64,{PNG}"), 100).map(|b| b.len()),
            Some(8)
        );
    }
}
