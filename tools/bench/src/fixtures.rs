//! The bench's users and what is stored for them: populations, the items `upsert-users`
//! writes for a user, seeding users straight into tables (and the check that seeding
//! writes what the function does), and the token every request carries.
//!
//! A seeded user is what `upsert-users` gives a new user with a unique name and one
//! card: the user item, its card claim `IDENT#card#<n>` and its name registry
//! `NAME#<name>`.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::contract::{
    Identifier, LinkId, NumberKind, StoredFactor, Timestamp, UserRecord, keys, mint_hs256,
};
use crate::error::{BenchError, CheckFailure};
use crate::floor::{Floor, Item};

/// The token subject; stored as `created_by`/`updated_by`/`deleted_by`.
pub const ACTOR: &str = "bench";
/// The functions' `AUTH_JWT_SECRET` and the key the bench signs its token with.
pub const SECRET: &str = "bench-secret-not-for-production";
/// Items per request (the API's limit).
pub const PER_REQUEST: usize = 1000;

/// An admin token the functions accept for the whole run.
pub fn admin_token() -> String {
    mint_hs256(SECRET, ACTOR, Some("admin"), Duration::from_secs(6 * 3600))
}

/// What an upsert pass makes of a user: new, or the same user with a changed `info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Every user is new: new `link_id`, new name, one new card number.
    Create,
    /// The same users again: same `link_id`, name and card, a changed `info`.
    Update,
}

impl Stage {
    /// `create` / `update`: the pass's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Create => "create",
            Stage::Update => "update",
        }
    }

    /// The `extended_info` every item must answer.
    pub fn expected(self) -> &'static str {
        match self {
            Stage::Create => "created",
            Stage::Update => "updated",
        }
    }

    /// The `info` sent (same length in both passes: same item sizes).
    pub fn info(self) -> &'static str {
        match self {
            Stage::Create => "bench: created in the create pass",
            Stage::Update => "bench: changed in the update pass",
        }
    }

    /// The stored `version` after this pass.
    pub fn version(self) -> u64 {
        match self {
            Stage::Create => 1,
            Stage::Update => 2,
        }
    }
}

/// One benchmark user.
#[derive(Clone, Debug)]
pub struct User {
    /// `link_id`.
    pub id: Uuid,
    /// A unique name.
    pub name: String,
    /// A unique card number.
    pub card: String,
}

impl User {
    /// `USER#<link_id>`.
    pub fn pk(&self) -> String {
        keys::user(&LinkId::from(self.id))
    }

    /// The card's identifier.
    pub fn card_identifier(&self) -> Identifier {
        Identifier {
            kind: NumberKind::Card,
            number: self.card.clone(),
        }
    }

    /// The claim `upsert-users` writes for the user's card.
    pub fn claim_item(&self) -> Item {
        Item::from([
            (
                keys::PK.to_owned(),
                AttributeValue::S(keys::identifier(&self.card_identifier())),
            ),
            ("owner".to_owned(), AttributeValue::S(self.id.to_string())),
        ])
    }

    /// The registry `upsert-users` writes for a new user with a name of its own.
    pub fn registry_item(&self) -> Item {
        Item::from([
            (
                keys::PK.to_owned(),
                AttributeValue::S(keys::name(&self.name)),
            ),
            (
                "ids".to_owned(),
                AttributeValue::Ss(vec![self.id.to_string()]),
            ),
            ("ver".to_owned(), AttributeValue::N("1".into())),
        ])
    }
}

/// How the users of a population carry an e-mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emails {
    /// No e-mail.
    None,
    /// Every user the same address.
    Shared(String),
    /// Every user an address of its own at this domain.
    Own(String),
}

/// Users created, seeded or deleted together, sent `per_request` at a time.
#[derive(Clone, Debug)]
pub struct Population {
    /// `1000 users, 1 request of 1000`, ...
    pub label: String,
    /// The users in request order (unique names and card numbers).
    pub users: Vec<User>,
    /// Users per request.
    pub per_request: usize,
    /// `user_type` of every user, if any.
    pub user_type: Option<String>,
    /// Their e-mails.
    pub emails: Emails,
}

impl Population {
    /// `n` users whose names and card numbers carry `tag` (unique per table).
    pub fn new(tag: u32, n: usize, per_request: usize) -> Self {
        let per_request = per_request.max(1);
        let users = (0..n)
            .map(|i| User {
                id: Uuid::new_v4(),
                name: format!("Bench User {tag:03}-{i:06}"),
                card: format!("9{tag:03}{i:08}"),
            })
            .collect();
        let requests = n.div_ceil(per_request);
        Self {
            label: format!(
                "{n} users, {requests} request{} of {per_request}",
                if requests == 1 { "" } else { "s" }
            ),
            users,
            per_request,
            user_type: None,
            emails: Emails::None,
        }
    }

    /// Sets every user's `user_type`.
    pub fn user_type(mut self, t: &str) -> Self {
        self.user_type = Some(t.to_owned());
        self
    }

    /// Sets the users' e-mails.
    pub fn emails(mut self, e: Emails) -> Self {
        self.emails = e;
        self
    }

    /// The users of each request, in order.
    pub fn requests(&self) -> std::slice::Chunks<'_, User> {
        self.users.chunks(self.per_request)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The users' ids as the API writes them.
    pub fn ids(&self) -> HashSet<String> {
        self.users.iter().map(|u| u.id.to_string()).collect()
    }

    /// `{pk}` of every user.
    pub fn user_keys(&self) -> Vec<Item> {
        self.users.iter().map(|u| keys::key_item(&u.pk())).collect()
    }

    /// `{pk}` of every user's card claim.
    pub fn claim_keys(&self) -> Vec<Item> {
        self.users
            .iter()
            .map(|u| keys::key_item(&keys::identifier(&u.card_identifier())))
            .collect()
    }

    fn email(&self, u: &User) -> Option<String> {
        match &self.emails {
            Emails::None => None,
            Emails::Shared(e) => Some(e.clone()),
            Emails::Own(domain) => Some(format!("user-{}@{domain}", u.id.simple())),
        }
    }

    /// The user items `upsert-users` stores for `users` (of this population) after
    /// `stage`, with one card factor: what the upsert floors write.
    pub fn stored_users(
        &self,
        users: &[User],
        stage: Stage,
        now: &str,
    ) -> Result<Vec<Item>, BenchError> {
        users
            .iter()
            .map(|u| {
                let id = LinkId::from(u.id);
                UserRecord {
                    pk: keys::user(&id),
                    link_id: id,
                    name: u.name.clone(),
                    info: Some(stage.info().to_owned()),
                    email: self.email(u),
                    role_id: None,
                    user_type: self.user_type.clone(),
                    active: true,
                    auth_factors: vec![StoredFactor::Card {
                        number: u.card.clone(),
                    }],
                    time_profile_id: None,
                    is_online: false,
                    login_ip: None,
                    last_login_time: None,
                    create_time: now.to_owned(),
                    created_by: ACTOR.to_owned(),
                    update_time: now.to_owned(),
                    updated_by: ACTOR.to_owned(),
                    name_dup: false,
                    version: stage.version(),
                    deleted_at: None,
                    deleted_by: None,
                    del_shard: None,
                    scim: None,
                }
                .to_item()
                .map_err(|e| BenchError::record(format!("user {}", u.id), e))
            })
            .collect()
    }

    /// What `upsert-users` stores for each user created with a unique name and one card
    /// (version 1): the user item, its card claim and its name registry, in that order.
    pub fn seed_items(&self, now: &str) -> Result<Vec<Item>, BenchError> {
        let stored = self.stored_users(&self.users, Stage::Create, now)?;
        let mut items = Vec::with_capacity(self.users.len() * 3);
        for (u, user) in self.users.iter().zip(stored) {
            items.push(user);
            items.push(u.claim_item());
            items.push(u.registry_item());
        }
        Ok(items)
    }
}

/// Writes the population's seed items into each table (`BatchWriteItem`, not measured).
pub async fn seed(
    floor: &Floor,
    tables: &[&str],
    population: &Population,
) -> Result<(), BenchError> {
    let items = population.seed_items(&Timestamp::now().to_db_string())?;
    for t in tables {
        floor.put_all(t, &items).await?;
    }
    Ok(())
}

/// Compares what seeding writes for `user` with what `upsert-users` wrote for it in
/// `table` (created by the function, maybe updated since): the same user attributes,
/// the same claim and registry items. Returns the sentence for the report.
pub async fn seed_check(floor: &Floor, table: &str, user: &User) -> Result<String, BenchError> {
    let get = |pk: String| async move {
        floor
            .get(table, &pk)
            .await?
            .ok_or_else(|| CheckFailure::Missing {
                pk,
                table: table.to_owned(),
            })
            .map_err(|failure| BenchError::check("seed check", failure))
    };
    let failed = |failure| BenchError::check("seed check", failure);
    let single = Population {
        label: String::new(),
        users: vec![user.clone()],
        per_request: 1,
        user_type: None,
        emails: Emails::None,
    };
    let seeded = single.seed_items("2026-01-01T00:00:00.000Z")?;
    let names = |i: &Item| {
        let mut n: Vec<String> = i.keys().cloned().collect();
        n.sort();
        n
    };
    let function_user = get(user.pk()).await?;
    if names(&function_user) != names(&seeded[0]) {
        return Err(failed(CheckFailure::Seed {
            what: "user attributes",
            seeded: format!("{:?}", names(&seeded[0])),
            written: format!("{:?}", names(&function_user)),
        }));
    }
    for (what, seeded, pk) in [
        (
            "card claim",
            &seeded[1],
            keys::identifier(&user.card_identifier()),
        ),
        ("name registry", &seeded[2], keys::name(&user.name)),
    ] {
        let written = get(pk).await?;
        if &written != seeded {
            return Err(failed(CheckFailure::Seed {
                what,
                seeded: format!("{seeded:?}"),
                written: format!("{written:?}"),
            }));
        }
    }
    Ok(format!(
        "Users of the delete passes are written directly in the shape upsert-users gives a new \
         user with a unique name and one card; checked on a user upsert-users created in the \
         warm-up: same user attributes ({}), identical card claim and name registry items.",
        names(&function_user).join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populations_split_into_requests_with_unique_names_and_cards() {
        let p = Population::new(7, 2500, 1000);
        assert_eq!(p.label, "2500 users, 3 requests of 1000");
        let sizes: Vec<usize> = p.requests().map(<[User]>::len).collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);
        let names: HashSet<&str> = p.users.iter().map(|u| u.name.as_str()).collect();
        let cards: HashSet<&str> = p.users.iter().map(|u| u.card.as_str()).collect();
        assert_eq!((names.len(), cards.len()), (2500, 2500));
        assert_eq!(
            Population::new(1, 1000, 1000).label,
            "1000 users, 1 request of 1000"
        );
    }

    #[test]
    fn stored_users_carry_the_stage_and_the_population_s_attributes() {
        let p = Population::new(1, 2, 1000);
        let stored = p
            .stored_users(&p.users, Stage::Update, "2026-01-01T00:00:00.000Z")
            .unwrap();
        let back = UserRecord::from_item(stored[1].clone()).unwrap();
        assert_eq!(back.name, p.users[1].name);
        assert_eq!(back.info.as_deref(), Some(Stage::Update.info()));
        assert_eq!(back.version, 2);
        assert_eq!((back.email, back.user_type), (None, None));
        assert_eq!(Stage::Create.info().len(), Stage::Update.info().len());
    }

    #[test]
    fn seeded_items_are_a_user_its_claim_and_its_registry() {
        let c = Population::new(3, 2, 1000)
            .user_type("visitor")
            .emails(Emails::Own("example.com".into()));
        let items = c.seed_items("2026-01-01T00:00:00.000Z").unwrap();
        assert_eq!(items.len(), 6);
        let user = UserRecord::from_item(items[3].clone()).unwrap();
        assert_eq!(user.link_id, LinkId::from(c.users[1].id));
        assert_eq!(user.user_type.as_deref(), Some("visitor"));
        assert_eq!(user.version, 1);
        assert!(user.email.unwrap().ends_with("@example.com"));
        assert_eq!(
            items[4]["owner"],
            AttributeValue::S(c.users[1].id.to_string())
        );
        assert_eq!(
            keys::pk_of(&items[5]),
            Some(keys::name(&c.users[1].name).as_str())
        );
        assert_eq!(c.claim_keys().len(), 2);
    }

    #[test]
    fn a_shared_address_is_every_user_s() {
        let c = Population::new(5, 3, 1000).emails(Emails::Shared("s@bench.example".into()));
        let items = c.stored_users(&c.users, Stage::Create, "t").unwrap();
        for item in items {
            assert_eq!(item["email"], AttributeValue::S("s@bench.example".into()));
        }
    }
}
