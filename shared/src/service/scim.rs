//! What a SCIM request does to the directory (docs/contracts.md#scim): Users created,
//! read, replaced, patched and deleted on the same core as the bulk API — the upsert's
//! planning (conditional writes, claims of card and PIN numbers and of the `userName`,
//! name registries) and the removal's soft delete.
//!
//! The mapping, both ways: `id` is the user's `link_id`; `userName` is claimed like a
//! card number, by its lower case; `displayName` (else `name.formatted`, else the given
//! and family names, else `userName`) is the user's `name`; the work (or primary, or
//! first) address of `emails` is its `email`; `active` is `active`; the product's
//! extension carries `cards`, `pins` (never returned), `roleId`, `userType`, `info`, and
//! shows `faces` and `timeProfileId`, which only the bulk API writes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::config::Limits;
use crate::deadline::Deadline;
use crate::domain::filter::Filter;
use crate::domain::json::Field;
use crate::domain::outcome::ExtendedInfo;
use crate::domain::scim::filter::{Attribute, Literal, ScimFilter};
use crate::domain::scim::schema::{ACCESS_USER, CORE_USER};
use crate::domain::scim::user::{Email, ScimUser, main_email};
use crate::domain::{
    AuthFactorInput, Identifier, LinkId, NumberKind, Text, UserInput, face_description,
};
use crate::service::filter_plan::Scope;
use crate::service::read::{ListError, Listing, MAX_LIMIT, list_users};
use crate::service::removal::{Removal, RemovalOutcome, apply_removal};
use crate::service::upsert::{Upserted, upsert_detailed};
use crate::store::read::Key;
use crate::store::records::{StoredFactor, UserRecord};
use crate::store::{Store, StoreError};

/// Why a SCIM operation did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ScimFailure {
    /// No such (live) user.
    #[error("User not found")]
    NotFound,
    /// A `userName`, card or PIN number another user holds (409 `uniqueness`).
    #[error("{0}")]
    Taken(String),
    /// The user as it would be written is refused (400).
    #[error("{detail}")]
    Invalid {
        /// `invalidValue`, ...
        scim_type: &'static str,
        /// For people.
        detail: String,
    },
    /// Not confirmed before the deadline, or DynamoDB could not be reached (503).
    #[error("not confirmed before the deadline")]
    Unavailable,
    /// The store failed before anything was written (503).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The weak entity tag of a user's version, as `meta.version` and `ETag` show it.
pub fn etag(record: &UserRecord) -> String {
    format!("W/\"{}\"", record.version)
}

/// Whether an `If-Match` value (a list of tags, or `*`) matches the user, compared
/// weakly (RFC 9110 §13.1.1).
pub fn if_match(header: &str, record: &UserRecord) -> bool {
    let mine = record.version.to_string();
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == mine)
}

/// The user with this id, if it is live (soft-deleted users are gone for SCIM).
pub async fn get(
    store: &Store,
    id: LinkId,
    deadline: &Deadline,
) -> Result<UserRecord, ScimFailure> {
    let read = store.read_users(&[id], deadline).await?;
    if read.incomplete {
        return Err(ScimFailure::Unavailable);
    }
    read.users
        .into_iter()
        .find(UserRecord::is_live)
        .ok_or(ScimFailure::NotFound)
}

/// The upsert item that writes `user` as user `id`, over `existing` (its faces and, when
/// the request does not send them, its PINs are kept; bulk-only fields are untouched).
pub fn to_input(id: LinkId, user: &ScimUser, existing: Option<&UserRecord>) -> UserInput {
    let text = |v: &Option<String>| match v.as_deref().and_then(Text::parse) {
        Some(t) => Field::Value(t),
        None => Field::Null,
    };
    let mut factors: Vec<AuthFactorInput> = user
        .cards
        .iter()
        .map(|n| number(NumberKind::Card, n))
        .collect();
    let kept_pins = existing
        .map(|u| {
            u.auth_factors
                .iter()
                .filter_map(|f| match f {
                    StoredFactor::Pin { number } => Some(number.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let pins = user.pins.clone().unwrap_or(kept_pins);
    factors.extend(pins.iter().map(|n| number(NumberKind::Pin, n)));
    if let Some(u) = existing {
        for f in &u.auth_factors {
            if let StoredFactor::Face { image } = f {
                factors.push(AuthFactorInput::Face {
                    image_base64: STANDARD.encode(image),
                });
            }
        }
    }
    UserInput {
        link_id: Some(id),
        name: user.name.clone(),
        info: text(&user.info),
        email: text(&user.email),
        role_id: text(&user.role_id),
        user_type: text(&user.user_type),
        active: Some(user.active.unwrap_or(true)),
        auth_factors: factors,
        time_profile_id: Field::Absent,
        is_online: None,
        login_ip: Field::Absent,
        last_login_time: Field::Absent,
        scim: Some(user.profile.clone()),
    }
}

fn number(kind: NumberKind, number: &str) -> AuthFactorInput {
    AuthFactorInput::Number(Identifier {
        kind,
        number: number.to_owned(),
    })
}

/// What a taken identifier is called in a 409.
fn describe(ident: &Identifier) -> String {
    match ident.kind {
        NumberKind::UserName => format!("userName `{}`", ident.number),
        NumberKind::Card => format!("card number `{}`", ident.number),
        NumberKind::Pin => "a PIN".to_owned(),
    }
}

/// Writes `user` as user `id` over `existing` (`None`: a new user).
pub async fn write(
    store: &Store,
    limits: &Limits,
    actor: &str,
    deadline: Deadline,
    id: LinkId,
    user: &ScimUser,
    existing: Option<UserRecord>,
) -> Result<UserRecord, ScimFailure> {
    let input = to_input(id, user, existing.as_ref());
    let known = vec![(id, existing)];
    let mut done = upsert_detailed(store, limits, actor, deadline, vec![input], known).await?;
    let Some(done) = done.pop() else {
        return Err(ScimFailure::Unavailable);
    };
    outcome_of(done, limits)
}

/// The user an upsert item wrote, or why it did not.
pub fn outcome_of(done: Upserted, limits: &Limits) -> Result<UserRecord, ScimFailure> {
    match (done.outcome.info, done.record) {
        (ExtendedInfo::Created | ExtendedInfo::Updated, Some(record)) => Ok(record),
        (ExtendedInfo::NumberTakenByAnotherIdentifier, _) => {
            let names: Vec<String> = done.taken.iter().map(describe).collect();
            let what = if names.is_empty() {
                "A userName, card or PIN number".to_owned()
            } else {
                names.join(", ")
            };
            Err(ScimFailure::Taken(format!(
                "{what} belongs to another user"
            )))
        }
        (ExtendedInfo::EntityNotFound, _) => Err(ScimFailure::NotFound),
        (ExtendedInfo::NumberOfIdentifiersExceeded, _) => Err(ScimFailure::Invalid {
            scim_type: "invalidValue",
            detail: format!(
                "More cards and PINs than the {} a user may have",
                limits.max_identifiers
            ),
        }),
        (ExtendedInfo::TooManyNamesakes, _) => Err(ScimFailure::Invalid {
            scim_type: "invalidValue",
            detail: format!(
                "More than {} users carry this name; choose another displayName",
                crate::service::MAX_NAMESAKES
            ),
        }),
        (info, _) => {
            tracing::warn!(?info, "SCIM write not applied");
            Err(ScimFailure::Unavailable)
        }
    }
}

/// Soft-deletes a live user and gives up its SCIM data (its `userName` is free at once);
/// restorable through the bulk API, purged by the clean-up after the retention period.
pub async fn delete(
    store: &Store,
    actor: &str,
    deadline: Deadline,
    id: LinkId,
) -> Result<(), ScimFailure> {
    let user = get(store, id, &deadline).await?;
    let outcomes =
        apply_removal(store, &[user.link_id], Removal::ScimDelete, actor, deadline).await?;
    match outcomes.first() {
        Some(RemovalOutcome::Applied) => Ok(()),
        Some(RemovalOutcome::NotFound | RemovalOutcome::Skipped) => Err(ScimFailure::NotFound),
        _ => Err(ScimFailure::Unavailable),
    }
}

/// The user's `userName`: as SCIM wrote it, or its id for a user written only through
/// the bulk API.
fn user_name_of(u: &UserRecord) -> std::borrow::Cow<'_, str> {
    match &u.scim {
        Some(p) => p.user_name.as_str().into(),
        None => u.link_id.to_string().into(),
    }
}

/// The user as a SCIM User resource, without `meta` (the HTTP layer adds it); `pins`
/// only with `with_pins` (never in answers: the PATCH of a stored user edits them).
pub fn to_resource(u: &UserRecord, with_pins: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let mut schemas = vec![json!(CORE_USER)];
    out.insert("id".into(), json!(u.link_id));
    let profile = u.scim.as_ref();
    if let Some(x) = profile.and_then(|p| p.external_id.as_ref()) {
        out.insert("externalId".into(), json!(x));
    }
    out.insert("userName".into(), json!(user_name_of(u)));
    let mut name = Map::new();
    match profile {
        Some(p) => {
            for (k, v) in [
                ("formatted", &p.formatted),
                ("givenName", &p.given_name),
                ("familyName", &p.family_name),
            ] {
                if let Some(v) = v {
                    name.insert(k.into(), json!(v));
                }
            }
            if p.display_name.is_some() {
                out.insert("displayName".into(), json!(u.name));
            }
        }
        None => {
            name.insert("formatted".into(), json!(u.name));
            out.insert("displayName".into(), json!(u.name));
        }
    }
    if !name.is_empty() {
        out.insert("name".into(), Value::Object(name));
    }
    let emails = emails_of(u);
    if !emails.is_empty() {
        out.insert("emails".into(), json!(emails));
    }
    let shows_active = profile.is_none_or(|p| p.active.is_some()) || !u.active;
    if shows_active {
        out.insert("active".into(), json!(u.active));
    }
    let mut access = Map::new();
    let numbers = |kind: NumberKind| -> Vec<String> {
        u.auth_factors
            .iter()
            .filter_map(|f| f.identifier())
            .filter(|i| i.kind == kind)
            .map(|i| i.number)
            .collect()
    };
    let cards = numbers(NumberKind::Card);
    if !cards.is_empty() {
        access.insert("cards".into(), json!(cards));
    }
    let pins = numbers(NumberKind::Pin);
    if with_pins && !pins.is_empty() {
        access.insert("pins".into(), json!(pins));
    }
    let faces: Vec<Value> = u
        .auth_factors
        .iter()
        .filter_map(|f| match f {
            StoredFactor::Face { image } => Some(Value::Object(face_description(image))),
            _ => None,
        })
        .collect();
    if !faces.is_empty() {
        access.insert("faces".into(), json!(faces));
    }
    for (k, v) in [
        ("roleId", &u.role_id),
        ("userType", &u.user_type),
        ("info", &u.info),
    ] {
        if let Some(v) = v {
            access.insert(k.into(), json!(v));
        }
    }
    if let Some(t) = u.time_profile_id {
        access.insert("timeProfileId".into(), json!(t));
    }
    if !access.is_empty() {
        // The extension object names its schema too, as scim2-models writes it (and
        // the conformance tester compares it).
        access.insert("schemas".into(), json!([ACCESS_USER]));
        schemas.push(json!(ACCESS_USER));
        out.insert(ACCESS_USER.into(), Value::Object(access));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out
}

/// The user's e-mails as SCIM shows them: as SCIM last wrote them, with the main one
/// following a change of the user's `email` through the bulk API.
fn emails_of(u: &UserRecord) -> Vec<Email> {
    let Some(p) = &u.scim else {
        return u
            .email
            .iter()
            .map(|e| Email {
                value: e.clone(),
                kind: Some("work".into()),
                primary: Some(true),
            })
            .collect();
    };
    let mut emails = p.emails.clone();
    let main = main_email(&emails).map(|e| e.value.clone());
    if main != u.email {
        if let Some(pos) = emails.iter().position(|e| Some(&e.value) == main.as_ref()) {
            match &u.email {
                Some(now) => emails[pos].value = now.clone(),
                None => {
                    emails.remove(pos);
                }
            }
        } else if let Some(now) = &u.email {
            emails.push(Email {
                value: now.clone(),
                kind: Some("work".into()),
                primary: None,
            });
        }
    }
    emails
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scim::user::ScimUser;

    fn scim(body: Value) -> ScimUser {
        ScimUser::from_json(&body).unwrap()
    }

    fn record_of(user: &ScimUser) -> UserRecord {
        let id = LinkId::new_random();
        let input = to_input(id, user, None);
        let mut u = UserRecord::for_tests(id, input.name.as_str(), Vec::new());
        u.scim = input.scim.clone();
        u.email = input.email.value().map(|t| t.as_str().to_owned());
        u.role_id = input.role_id.value().map(|t| t.as_str().to_owned());
        u.active = input.active.unwrap_or(true);
        u.auth_factors = input
            .auth_factors
            .iter()
            .filter_map(|f| match f {
                AuthFactorInput::Number(i) if i.kind == NumberKind::Card => {
                    Some(StoredFactor::Card {
                        number: i.number.clone(),
                    })
                }
                AuthFactorInput::Number(i) if i.kind == NumberKind::Pin => {
                    Some(StoredFactor::Pin {
                        number: i.number.clone(),
                    })
                }
                _ => None,
            })
            .collect();
        u
    }

    #[test]
    fn what_was_sent_reads_back_as_sent() {
        let sent = json!({
            "schemas": [CORE_USER, ACCESS_USER],
            "userName": "Ann@X.io", "externalId": "e-1", "displayName": "Ann Lee",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "ann@x.io", "type": "work", "primary": false},
                       {"value": "a@home.io", "type": "home"}],
            "active": false,
            ACCESS_USER: {"cards": ["4711"], "pins": ["1234"], "roleId": "r"},
        });
        let u = record_of(&scim(sent.clone()));
        let back = Value::Object(to_resource(&u, false));
        for k in [
            "userName",
            "externalId",
            "displayName",
            "name",
            "emails",
            "active",
        ] {
            assert_eq!(back[k], sent[k], "{k}");
        }
        assert_eq!(
            back[ACCESS_USER],
            json!({"schemas": [ACCESS_USER], "cards": ["4711"], "roleId": "r"}),
            "no PINs"
        );
        assert_eq!(back["schemas"], json!([CORE_USER, ACCESS_USER]));
        let with = Value::Object(to_resource(&u, true));
        assert_eq!(with[ACCESS_USER]["pins"], json!(["1234"]));
    }

    #[test]
    fn what_was_not_sent_is_not_shown() {
        let u = record_of(&scim(json!({"schemas": [CORE_USER], "userName": "ann"})));
        let back = Value::Object(to_resource(&u, false));
        assert_eq!(
            back,
            json!({"schemas": [CORE_USER], "id": u.link_id, "userName": "ann"}),
            "no active, displayName, name or emails that were never sent"
        );
    }

    #[test]
    fn a_bulk_user_shows_its_name_and_email() {
        let mut u = UserRecord::for_tests(LinkId::new_random(), "Bo Day", Vec::new());
        u.email = Some("bo@x.io".into());
        let back = Value::Object(to_resource(&u, false));
        assert_eq!(back["userName"], json!(u.link_id));
        assert_eq!(back["displayName"], "Bo Day");
        assert_eq!(
            back["emails"],
            json!([{"value": "bo@x.io", "type": "work", "primary": true}])
        );
        assert_eq!(back["active"], true);
    }

    #[test]
    fn a_filter_compares_user_names_by_lower_case_as_the_claim_does() {
        let u = record_of(&scim(json!({"schemas": [CORE_USER], "userName": "Änne"})));
        let f = ScimFilter::parse(r#"userName eq "äNNE""#).unwrap();
        assert!(Wanted::of(&f).matches(&u));
        let f = ScimFilter::parse(&format!(r#"id eq "{}""#, u.link_id.uuid().simple())).unwrap();
        assert!(Wanted::of(&f).matches(&u), "an id in another UUID form");
        let f = ScimFilter::parse(r#"userName eq "Änne" and userName eq "äNNE""#).unwrap();
        assert!(!Wanted::of(&f).contradiction);
        let f = ScimFilter::parse(r#"userName eq "Änne" and userName eq "Bo""#).unwrap();
        assert!(Wanted::of(&f).contradiction);
    }

    #[test]
    fn if_match_compares_weakly() {
        let mut u = UserRecord::for_tests(LinkId::new_random(), "Ann", Vec::new());
        u.version = 13;
        assert_eq!(etag(&u), "W/\"13\"");
        assert!(if_match("W/\"13\"", &u));
        assert!(if_match("\"13\"", &u));
        assert!(if_match("*", &u));
        assert!(if_match("W/\"12\", W/\"13\"", &u));
        assert!(!if_match("W/\"12\"", &u));
    }
}

/// The most users one SCIM page holds (`filter.maxResults`).
pub const MAX_COUNT: usize = 1000;
/// Users per page when the client does not say (`count`).
pub const DEFAULT_COUNT: usize = 100;

/// A page of a SCIM listing: `totalResults` and the users from `startIndex` on.
#[derive(Debug, Default)]
pub struct ScimPage {
    /// Every user the filter matches.
    pub total: usize,
    /// The users of the page, in order.
    pub users: Vec<UserRecord>,
}

/// What a parsed SCIM filter asks for, attribute by attribute; `contradiction` when one
/// attribute is asked two different values (nothing matches).
#[derive(Debug, Default)]
struct Wanted {
    user_name: Option<String>,
    external_id: Option<String>,
    id: Option<String>,
    active: Option<bool>,
    email: Option<String>,
    contradiction: bool,
}

impl Wanted {
    fn of(filter: &ScimFilter) -> Self {
        let mut w = Wanted::default();
        for t in &filter.tests {
            let text = match &t.value {
                Literal::Text(s) => Some(s.clone()),
                Literal::Flag(b) => Some(b.to_string()),
                Literal::Null => None,
            };
            let Some(text) = text else {
                // `eq null`: this service stores no nulls, so nothing matches.
                w.contradiction = true;
                continue;
            };
            let slot = match t.attribute {
                Attribute::UserName => &mut w.user_name,
                Attribute::ExternalId => &mut w.external_id,
                Attribute::Id => &mut w.id,
                Attribute::Email => &mut w.email,
                Attribute::Active => {
                    let flag = match &t.value {
                        Literal::Flag(b) => Some(*b),
                        Literal::Text(s) => crate::domain::scim::user::flag(&json!(s)),
                        Literal::Null => None,
                    };
                    match (flag, w.active) {
                        (Some(f), Some(a)) if f != a => w.contradiction = true,
                        (Some(f), _) => w.active = Some(f),
                        (None, _) => w.contradiction = true,
                    }
                    continue;
                }
            };
            match slot {
                Some(old) if !same(t.attribute, old, &text) => w.contradiction = true,
                _ => *slot = Some(text),
            }
        }
        w
    }

    /// Whether a live user matches every test.
    fn matches(&self, u: &UserRecord) -> bool {
        let user_name = user_name_of(u);
        let external_id = u.scim.as_ref().and_then(|p| p.external_id.as_deref());
        let emails = emails_of(u);
        let email = main_email(&emails).map(|e| e.value.as_str());
        u.is_live()
            && self
                .user_name
                .as_deref()
                .is_none_or(|w| user_name.to_lowercase() == w.to_lowercase())
            && self
                .external_id
                .as_deref()
                .is_none_or(|w| external_id == Some(w))
            && self
                .id
                .as_deref()
                .is_none_or(|w| LinkId::parse(w) == Some(u.link_id))
            && self.active.is_none_or(|a| a == u.active)
            && self.email.as_deref().is_none_or(|w| email == Some(w))
    }
}

/// Two filter values of one attribute that ask the same (userName ignores case).
fn same(attribute: Attribute, a: &str, b: &str) -> bool {
    match attribute {
        // As the claim compares it: by lower case.
        Attribute::UserName => a.to_lowercase() == b.to_lowercase(),
        _ => a == b,
    }
}

/// The users a SCIM filter finds (`None`: every live user), newest first (ties by id),
/// and the page of `count` from `start_index` (1-based). A `userName` or `id` is found by
/// key (a `userName` through its claim: two reads), an e-mail through the `email-index`;
/// anything else reads every user.
pub async fn list(
    store: &Store,
    filter: Option<&ScimFilter>,
    start_index: usize,
    count: usize,
    deadline: &Deadline,
) -> Result<ScimPage, ScimFailure> {
    let wanted = filter.map(Wanted::of).unwrap_or_default();
    if wanted.contradiction {
        return Ok(ScimPage::default());
    }
    let mut found: Vec<UserRecord> = if let Some(id) = &wanted.id {
        match LinkId::parse(id) {
            Some(id) => store.read_users(&[id], deadline).await?.users,
            None => Vec::new(),
        }
    } else if let Some(name) = &wanted.user_name {
        by_user_name(store, name, deadline).await?
    } else {
        let filter = Filter {
            email: wanted.email.clone(),
            active: wanted.active,
            ..Filter::default()
        };
        every(store, filter, deadline).await?
    };
    found.retain(|u| wanted.matches(u));
    found.sort_by(|a, b| {
        b.create_time
            .cmp(&a.create_time)
            .then_with(|| a.link_id.cmp(&b.link_id))
    });
    let total = found.len();
    let users = found
        .into_iter()
        .skip(start_index.saturating_sub(1))
        .take(count)
        .collect();
    Ok(ScimPage { total, users })
}

/// The user whose `userName` is `name` (any case): its claim, then the user.
async fn by_user_name(
    store: &Store,
    name: &str,
    deadline: &Deadline,
) -> Result<Vec<UserRecord>, ScimFailure> {
    let claim = Identifier {
        kind: NumberKind::UserName,
        number: name.to_lowercase(),
    };
    let found = store
        .read(vec![Key::Claim(claim.clone())], deadline)
        .await?;
    if found.unresolved > 0 {
        return Err(ScimFailure::Unavailable);
    }
    let owner = found.claims.get(&claim).copied().flatten();
    let mut users = match owner {
        Some(id) => store.read_users(&[id], deadline).await?.users,
        None => Vec::new(),
    };
    if users.is_empty() {
        // A user written only through the bulk API shows its id as its userName.
        if let Some(id) = LinkId::parse(name) {
            users = store.read_users(&[id], deadline).await?.users;
            users.retain(|u| u.scim.is_none());
        }
    }
    Ok(users)
}

/// Every live user `filter` finds, through the listing's plan, page by page.
async fn every(
    store: &Store,
    filter: Filter,
    deadline: &Deadline,
) -> Result<Vec<UserRecord>, ScimFailure> {
    let mut listing = Listing {
        filter,
        scope: Scope::Live,
        limit: MAX_LIMIT,
        with_faces: false,
        start: None,
    };
    let mut all = Vec::new();
    loop {
        let page = list_users(store, &listing, deadline)
            .await
            .map_err(|e| match e {
                ListError::Store(e) => ScimFailure::Store(e),
                ListError::ForeignPosition => ScimFailure::Unavailable,
            })?;
        all.extend(page.users);
        match page.next {
            None => return Ok(all),
            Some(_) if deadline.expired() => return Err(ScimFailure::Unavailable),
            Some(next) => listing.start = Some(next),
        }
    }
}
