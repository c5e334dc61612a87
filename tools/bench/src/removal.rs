//! The delete scenarios: hard delete (`delete-users`), soft delete
//! (`delete-or-restore-users`), delete by filter (`delete-users-by-filter`, by a scan and
//! by the `email-index`) and the purge of the scheduled clean-up (`cleanup-users`).
//!
//! Users are written straight into both tables (the function's and the floor's) in the
//! shape `upsert-users` gives a new user with a unique name and one card: the user item,
//! its card claim `IDENT#card#<n>` and its name registry `NAME#<name>` (checked against
//! what `upsert-users` really writes, see [`seed_check`]). Every answer is checked, and
//! after each pass the tables are read back: what must be gone is gone, the deleted
//! users' card claims are free (gone, or naming a user that no longer exists), and what
//! must stay is there.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use serde_json::{Value, json};
use shared::domain::filter::Filter;
use shared::domain::{Identifier, LinkId, NumberKind, Timestamp};
use shared::store::keys::{self, DELETED_SHARDS};
use shared::store::records::UserRecord;

use crate::event::{HttpAnswer, HttpEvent, preview};
use crate::floor::{Conditional, Finder, Floor, FloorRun, Item};
use crate::invoke::invoke_checked;
use crate::process::FunctionProcess;
use crate::report::FunctionRun;
use crate::upsert::{self, Pass, Population, User};

/// `DELETE /api/v1/users/bulk`.
pub const DELETE: &str = "delete-users";
/// `POST /api/v1/users/bulk/delete`.
pub const SOFT_DELETE: &str = "delete-or-restore-users";
/// `DELETE /api/v1/users?<filter>`.
pub const FILTER_DELETE: &str = "delete-users-by-filter";
/// The scheduled clean-up.
pub const CLEANUP: &str = "cleanup-users";

/// Route of the hard delete.
pub const DELETE_PATH: &str = "/api/v1/users/bulk";
/// Route of the soft delete.
pub const SOFT_DELETE_PATH: &str = "/api/v1/users/bulk/delete";
/// Route of the filter delete.
pub const FILTER_PATH: &str = "/api/v1/users";

/// The summary log line of each function (its `dynamodb_calls` field is read).
pub const DELETE_DONE: &str = "delete done";
/// See [`DELETE_DONE`].
pub const SOFT_DELETE_DONE: &str = "delete_or_restore done";
/// See [`DELETE_DONE`].
pub const FILTER_DONE: &str = "filter delete done";
/// See [`DELETE_DONE`].
pub const CLEANUP_DONE: &str = "cleanup summary";

/// The clean-up's Lambda timeout (`Timeout: 300` in template.yaml) ...
pub const CLEANUP_BUDGET: Duration = Duration::from_secs(300);
/// ... and its `DEADLINE_MARGIN_MS` there.
pub const CLEANUP_MARGIN_MS: &str = "5000";
/// The rule input the clean-up is invoked with: purge everything soft-deleted before
/// now (the users are soft-deleted seconds before; the default retention is 30 days).
pub fn cleanup_input() -> Value {
    json!({"purge": true, "retention_days": 0})
}

/// How long one HTTP invocation may take before the bench gives up.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one clean-up invocation may take before the bench gives up.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(330);
/// Most invocations a filter delete or a purge may need (each continues the last).
const MAX_INVOCATIONS: usize = 20;
/// The value placeholder the floor's filter-delete condition adds for the version.
const VERSION_PLACEHOLDER: &str = ":bench_v";

/// How the users of a cohort carry an e-mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emails {
    /// No e-mail.
    None,
    /// Every user the same address.
    Shared(String),
    /// Every user an address of its own at this domain.
    Own(String),
}

/// Users seeded together and handled together.
#[derive(Clone, Debug)]
pub struct Cohort {
    /// `10000 users, 10 requests of 1000`.
    pub label: String,
    /// The users (unique names and card numbers).
    pub users: Vec<User>,
    /// Ids per request of the hard and soft delete.
    pub per_request: usize,
    /// `user_type` of every user.
    pub user_type: Option<String>,
    /// Their e-mails.
    pub emails: Emails,
}

impl Cohort {
    /// `n` users whose names and card numbers carry `tag` (unique per table).
    pub fn new(tag: u32, n: usize, per_request: usize) -> Self {
        let p = Population::new(tag, n, per_request);
        Self {
            label: p.label,
            users: p.users,
            per_request: p.per_request,
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

    fn email(&self, i: usize) -> Option<String> {
        match &self.emails {
            Emails::None => None,
            Emails::Shared(e) => Some(e.clone()),
            Emails::Own(domain) => Some(format!("user-{}@{domain}", self.users[i].id.simple())),
        }
    }

    /// What `upsert-users` stores for each user, created (version 1) with a unique name
    /// and one card: the user item, its card claim and its name registry.
    pub fn items(&self, now: &str) -> Result<Vec<Item>, String> {
        let stored = upsert::stored_items(&self.users, Pass::Create, now)?;
        let mut items = Vec::with_capacity(self.users.len() * 3);
        for (i, (u, mut user)) in self.users.iter().zip(stored).enumerate() {
            if let Some(t) = &self.user_type {
                user.insert("user_type".into(), AttributeValue::S(t.clone()));
            }
            if let Some(e) = self.email(i) {
                user.insert("email".into(), AttributeValue::S(e));
            }
            items.push(user);
            items.push(claim_item(u));
            items.push(registry_item(u));
        }
        Ok(items)
    }

    /// `{pk}` of every user.
    pub fn user_keys(&self) -> Vec<Item> {
        self.users
            .iter()
            .map(|u| keys::key_item(&user_pk(u)))
            .collect()
    }

    /// `{pk}` of every user's card claim.
    pub fn claim_keys(&self) -> Vec<Item> {
        self.users
            .iter()
            .map(|u| keys::key_item(&keys::identifier(&card(u))))
            .collect()
    }

    /// The users' ids as the API writes them.
    pub fn ids(&self) -> HashSet<String> {
        self.users.iter().map(|u| u.id.to_string()).collect()
    }
}

fn user_pk(u: &User) -> String {
    keys::user(&LinkId::from(u.id))
}

fn card(u: &User) -> Identifier {
    Identifier {
        kind: NumberKind::Card,
        number: u.card.clone(),
    }
}

/// The claim `upsert-users` writes for the user's card.
fn claim_item(u: &User) -> Item {
    Item::from([
        (
            keys::PK.to_owned(),
            AttributeValue::S(keys::identifier(&card(u))),
        ),
        ("owner".to_owned(), AttributeValue::S(u.id.to_string())),
    ])
}

/// The registry `upsert-users` writes for a new user with a name of its own.
fn registry_item(u: &User) -> Item {
    Item::from([
        (keys::PK.to_owned(), AttributeValue::S(keys::name(&u.name))),
        ("ids".to_owned(), AttributeValue::Ss(vec![u.id.to_string()])),
        ("ver".to_owned(), AttributeValue::N("1".into())),
    ])
}

/// Writes the cohort's items into each table (`BatchWriteItem`, not measured).
pub async fn seed(floor: &Floor, tables: &[&str], cohort: &Cohort) -> Result<(), String> {
    let items = cohort.items(&Timestamp::now().to_db_string())?;
    for t in tables {
        floor.put_all(t, &items).await?;
    }
    Ok(())
}

/// Compares what the seeding writes for `user` with what `upsert-users` wrote for it
/// in `table` (created by the function, maybe updated since): the same user attributes,
/// the same claim and registry items. Returns the sentence for the report.
pub async fn seed_check(client: &Client, table: &str, user: &User) -> Result<String, String> {
    let get = |pk: String| async move {
        client
            .get_item()
            .table_name(table)
            .key(keys::PK, AttributeValue::S(pk.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetItem {pk}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })?
            .item
            .ok_or_else(|| format!("{pk} is not in {table}"))
    };
    let cohort = Cohort {
        label: String::new(),
        users: vec![user.clone()],
        per_request: 1,
        user_type: None,
        emails: Emails::None,
    };
    let seeded = cohort.items("2026-01-01T00:00:00.000Z")?;
    let names = |i: &Item| {
        let mut n: Vec<String> = i.keys().cloned().collect();
        n.sort();
        n
    };
    let function_user = get(user_pk(user)).await?;
    if names(&function_user) != names(&seeded[0]) {
        return Err(format!(
            "the bench seeds users unlike upsert-users: attributes {:?} against the function's {:?}",
            names(&seeded[0]),
            names(&function_user)
        ));
    }
    for (what, seeded, pk) in [
        ("card claim", &seeded[1], keys::identifier(&card(user))),
        ("name registry", &seeded[2], keys::name(&user.name)),
    ] {
        let written = get(pk).await?;
        if &written != seeded {
            return Err(format!(
                "the bench seeds the {what} unlike upsert-users: {seeded:?} against the function's {written:?}"
            ));
        }
    }
    Ok(format!(
        "Users of the delete passes are written directly in the shape upsert-users gives a new \
         user with a unique name and one card; checked on a user upsert-users created in the \
         warm-up: same user attributes ({}), identical card claim and name registry items.",
        names(&function_user).join(", ")
    ))
}

/// Checks a `{"result": [...]}` answer: a 200 with one entry per id, in order, each
/// naming its id with `success: true` and `extended_info` `expected`.
pub fn check_results(answer: &HttpAnswer, users: &[User], expected: &str) -> Result<(), String> {
    if answer.status != 200 {
        return Err(format!("HTTP {} {}", answer.status, preview(&answer.body)));
    }
    let results = answer.body["result"]
        .as_array()
        .ok_or_else(|| format!("no result array: {}", preview(&answer.body)))?;
    if results.len() != users.len() {
        return Err(format!("{} results for {} ids", results.len(), users.len()));
    }
    let mut wrong = std::collections::BTreeMap::<String, usize>::new();
    let mut first = None;
    for (i, (r, u)) in results.iter().zip(users).enumerate() {
        let info = r["extended_info"].as_str().unwrap_or("<missing>");
        let ok = info == expected
            && r["success"] == json!(true)
            && r["link_id"].as_str() == Some(u.id.to_string().as_str());
        if !ok {
            *wrong.entry(info.to_owned()).or_default() += 1;
            first.get_or_insert_with(|| format!("item {i}: {r}"));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} of {} ids did not answer `{expected}` (by extended_info: {wrong:?}); first: {}",
        wrong.values().sum::<usize>(),
        users.len(),
        first.unwrap_or_default()
    ))
}

/// Checks a seed 003 `Result` of a soft delete: a 200, no messages, `count_of_errors`
/// 0, `data` `{"deleted": true, "ids": <the ids, in order>}`.
pub fn check_soft_deleted(answer: &HttpAnswer, users: &[User]) -> Result<(), String> {
    let b = &answer.body;
    if answer.status != 200 {
        return Err(format!("HTTP {} {}", answer.status, preview(b)));
    }
    if b["count_of_errors"] != json!(0) || b["messages"] != json!([]) {
        return Err(format!(
            "count_of_errors {} (first message: {}); expected 0",
            b["count_of_errors"], b["messages"][0]
        ));
    }
    if b["data"]["deleted"] != json!(true) {
        return Err(format!("data.deleted is not true: {}", preview(b)));
    }
    let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    let answered: Vec<&str> = b["data"]["ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if answered != ids.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(format!(
            "data.ids lists {} ids, not the {} ids sent in order: {}",
            answered.len(),
            ids.len(),
            preview(b)
        ));
    }
    Ok(())
}

/// Hard-deletes the cohort, request by request; every id must answer `deleted`.
pub fn hard_delete(
    f: &mut FunctionProcess,
    token: &str,
    cohort: &Cohort,
    server_pid: Option<u32>,
) -> Result<FunctionRun, String> {
    let mut run = FunctionRun::default();
    for users in cohort.requests() {
        let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
        let event = HttpEvent::json("DELETE", DELETE_PATH, &json!({ "link_ids": ids }))
            .bearer(token)
            .to_event();
        let (m, ()) = invoke_checked(f, &event, DELETE_DONE, server_pid, HTTP_TIMEOUT, |r| {
            check_results(&HttpAnswer::from_response(r)?, users, "deleted")
                .map_err(|e| format!("hard delete, {}: {e}", cohort.label))
        })?;
        run.record(&m);
    }
    Ok(run)
}

/// Soft-deletes the cohort, request by request (JSON); every answer must list all ids.
pub fn soft_delete(
    f: &mut FunctionProcess,
    token: &str,
    cohort: &Cohort,
    server_pid: Option<u32>,
) -> Result<FunctionRun, String> {
    let mut run = FunctionRun::default();
    for users in cohort.requests() {
        let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
        let body = json!({ "ids": ids, "deleted": true });
        let event = HttpEvent::json("POST", SOFT_DELETE_PATH, &body)
            .bearer(token)
            .to_event();
        let (m, ()) = invoke_checked(f, &event, SOFT_DELETE_DONE, server_pid, HTTP_TIMEOUT, |r| {
            check_soft_deleted(&HttpAnswer::from_response(r)?, users)
                .map_err(|e| format!("soft delete, {}: {e}", cohort.label))
        })?;
        run.record(&m);
    }
    Ok(run)
}

/// Sends `DELETE /api/v1/users?<query>` until the answer says `remaining: false`; the
/// users deleted over the calls must be exactly `expected`.
pub fn filter_delete(
    f: &mut FunctionProcess,
    token: &str,
    query: &[(&str, &str)],
    expected: &Cohort,
    server_pid: Option<u32>,
) -> Result<FunctionRun, String> {
    let want = expected.ids();
    let mut deleted: HashSet<String> = HashSet::with_capacity(want.len());
    let mut run = FunctionRun::default();
    let shown: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let what = format!("filter delete {}", shown.join("&"));
    loop {
        if run.invocations == MAX_INVOCATIONS {
            return Err(format!(
                "{what}: still `remaining` after {MAX_INVOCATIONS} calls"
            ));
        }
        let mut event = HttpEvent::new("DELETE", FILTER_PATH).auth_token(token);
        for (k, v) in query {
            event = event.query(k, v);
        }
        let (m, remaining) = invoke_checked(
            f,
            &event.to_event(),
            FILTER_DONE,
            server_pid,
            HTTP_TIMEOUT,
            |r| {
                let a = HttpAnswer::from_response(r)?;
                let b = &a.body;
                let n = |k: &str| b[k].as_u64().map(|v| v as usize);
                let (Some(matched), Some(count), Some(not_deleted), Some(remaining)) = (
                    n("matched"),
                    n("deleted"),
                    n("not_deleted"),
                    b["remaining"].as_bool(),
                ) else {
                    return Err(format!("{what}: HTTP {} {}", a.status, preview(b)));
                };
                let ids: Vec<&str> = b["ids"]
                    .as_array()
                    .map(|v| v.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let fine = a.status == 200
                    && b["success"] == json!(true)
                    && b["dry_run"] == json!(false)
                    && ids.len() == count
                    && matched == count + not_deleted
                    && (not_deleted == 0 || remaining);
                if !fine {
                    return Err(format!("{what}: HTTP {} {}", a.status, preview(b)));
                }
                for id in ids {
                    if !want.contains(id) {
                        return Err(format!("{what}: deleted {id}, which does not match"));
                    }
                    if !deleted.insert(id.to_owned()) {
                        return Err(format!("{what}: {id} deleted twice"));
                    }
                }
                Ok(remaining)
            },
        )?;
        run.record(&m);
        if !remaining {
            break;
        }
    }
    if deleted.len() != want.len() {
        return Err(format!(
            "{what}: {} users deleted in {} calls, expected {}",
            deleted.len(),
            run.invocations,
            want.len()
        ));
    }
    Ok(run)
}

/// Invokes the clean-up with [`cleanup_input`] until its summary says `remaining:
/// false`; `purged` must total the cohort, with no failures.
pub fn purge(
    f: &mut FunctionProcess,
    expected: &Cohort,
    server_pid: Option<u32>,
) -> Result<FunctionRun, String> {
    let mut run = FunctionRun::default();
    let mut purged = 0;
    loop {
        if run.invocations == MAX_INVOCATIONS {
            return Err(format!(
                "purge: still `remaining` after {MAX_INVOCATIONS} invocations"
            ));
        }
        let (m, (n, remaining)) = invoke_checked(
            f,
            &cleanup_input(),
            CLEANUP_DONE,
            server_pid,
            CLEANUP_TIMEOUT,
            |s| {
                let n = |k: &str| s[k].as_u64().map(|v| v as usize);
                let (Some(found), Some(purged), Some(failed), Some(remaining)) = (
                    n("found"),
                    n("purged"),
                    n("failed"),
                    s["remaining"].as_bool(),
                ) else {
                    return Err(format!("purge: not a clean-up summary: {}", preview(s)));
                };
                if purged > found || (failed > 0 && !remaining) || s["filters"] != json!([]) {
                    return Err(format!("purge: {}", preview(s)));
                }
                Ok((purged, remaining))
            },
        )?;
        run.record(&m);
        purged += n;
        if !remaining {
            break;
        }
    }
    if purged != expected.len() {
        return Err(format!(
            "purge: {purged} users purged in {} invocations, expected {}",
            run.invocations,
            expected.len()
        ));
    }
    Ok(run)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Floor of the hard delete: a `DeleteItem` per user conditioned on
/// `attribute_exists(pk)`, request by request as the function gets them.
pub async fn hard_delete_floor(
    floor: &Floor,
    table: &str,
    cohort: &Cohort,
) -> Result<FloorRun, String> {
    let mut run = FloorRun::default();
    for users in cohort.requests() {
        let writes = users
            .iter()
            .map(|u| Conditional {
                key: keys::key_item(&user_pk(u)),
                condition: "attribute_exists(pk)".into(),
                ..Conditional::default()
            })
            .collect();
        run.add(&floor.write_each(table, writes).await?);
    }
    Ok(run)
}

/// Users per transaction of the hard delete: one action each (the user's conditional
/// delete; its card claim stays, free once the user is gone), 100 actions per
/// `TransactWriteItems` as the function packs them.
pub const USERS_PER_TRANSACTION: usize = 100;

/// The hard delete's own DynamoDB requests sent raw, request by request: `BatchGetItem`
/// of the users (consistent), then `TransactWriteItems` of 100 users each, a user being
/// its delete conditioned on the version read, as the function builds them for users
/// with unique names (since 81923eb; before, each user also released its card claim in
/// the same transaction). What the function's design costs without the function.
pub async fn hard_delete_tx_floor(
    floor: &Floor,
    table: &str,
    cohort: &Cohort,
) -> Result<FloorRun, String> {
    let mut run = FloorRun::default();
    for users in cohort.requests() {
        let keys = users.iter().map(|u| keys::key_item(&user_pk(u))).collect();
        let expected = users.len();
        let r = floor
            .read_then_transact(keys, table, |found| {
                if found.len() != expected {
                    return Err(format!(
                        "transaction floor: {} of {expected} users found",
                        found.len()
                    ));
                }
                let mut actions = Vec::with_capacity(found.len());
                for item in found {
                    let u = UserRecord::from_item(item).map_err(|e| e.to_string())?;
                    let user = Delete::builder()
                        .table_name(table)
                        .key(keys::PK, s(&u.pk))
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", n(u.version))
                        .build()
                        .map_err(|e| e.to_string())?;
                    actions.push(TransactWriteItem::builder().delete(user).build());
                }
                Ok(actions
                    .chunks(USERS_PER_TRANSACTION)
                    .map(<[_]>::to_vec)
                    .collect())
            })
            .await?;
        run.add(&r);
    }
    Ok(run)
}

/// Floor of the soft delete: an `UpdateItem` per user setting what the function sets
/// (`deleted_at`, `deleted_by`, `del_shard`, `update_time`, `updated_by`, the version)
/// conditioned on the version seeded, request by request.
pub async fn soft_delete_floor(
    floor: &Floor,
    table: &str,
    cohort: &Cohort,
) -> Result<FloorRun, String> {
    let mut run = FloorRun::default();
    for users in cohort.requests() {
        let now = Timestamp::now().to_db_string();
        let writes = users
            .iter()
            .map(|u| Conditional {
                key: keys::key_item(&user_pk(u)),
                update: Some(
                    "SET deleted_at = :at, deleted_by = :by, del_shard = :shard, \
                     update_time = :at, updated_by = :by, version = :next"
                        .into(),
                ),
                condition: "version = :read".into(),
                names: HashMap::new(),
                values: Item::from([
                    (":at".to_owned(), s(&now)),
                    (":by".to_owned(), s(upsert::ACTOR)),
                    (
                        ":shard".to_owned(),
                        s(&keys::deleted_shard(&LinkId::from(u.id))),
                    ),
                    (":next".to_owned(), n(2)),
                    (":read".to_owned(), n(1)),
                ]),
            })
            .collect();
        run.add(&floor.write_each(table, writes).await?);
    }
    Ok(run)
}

/// Floor of a scanning filter delete: a parallel Scan (4 segments, pages of 1000,
/// consistent) with the filter's own expression, and a `DeleteItem` of each user found
/// conditioned as the function's delete is (the filter and the version read).
pub async fn scan_delete_floor(
    floor: &Floor,
    table: &str,
    filter: &Filter,
) -> Result<FloorRun, String> {
    let e = shared::service::filter_plan::expression(filter);
    let segments = 4;
    let finders = (0..segments)
        .map(|segment| Finder::Scan {
            segment,
            segments,
            filter: e.text().to_owned(),
            names: e.names().clone(),
            values: e.values().clone(),
        })
        .collect();
    let condition = format!("({}) AND version = {VERSION_PLACEHOLDER}", e.text());
    floor
        .find_then_delete(table, finders, |item| {
            let mut values = e.values().clone();
            if let Some(v) = item.get("version") {
                values.insert(VERSION_PLACEHOLDER.into(), v.clone());
            }
            Conditional {
                key: pk_only(&item),
                update: None,
                condition: condition.clone(),
                names: e.names().clone(),
                values,
            }
        })
        .await
}

/// Floor of a filter delete by e-mail: a Query of `email-index` (keys only, pages of
/// 1000) and a `DeleteItem` of each user found conditioned on the filter.
pub async fn email_delete_floor(
    floor: &Floor,
    table: &str,
    filter: &Filter,
) -> Result<FloorRun, String> {
    let email = filter
        .email
        .clone()
        .ok_or("the e-mail floor needs an email filter")?;
    let e = shared::service::filter_plan::expression(filter);
    let finders = vec![Finder::Query {
        index: "email-index".into(),
        key_condition: "email = :e".into(),
        values: Item::from([(":e".to_owned(), s(&email))]),
    }];
    floor
        .find_then_delete(table, finders, |item| Conditional {
            key: pk_only(&item),
            update: None,
            condition: e.text().to_owned(),
            names: e.names().clone(),
            values: e.values().clone(),
        })
        .await
}

/// Floor of the purge: a Query per `deleted-index` shard (`deleted_at < now`, pages of
/// 1000) and a `DeleteItem` of each user found conditioned on `deleted_at < now`.
pub async fn purge_floor(floor: &Floor, table: &str) -> Result<FloorRun, String> {
    let before = Timestamp::now().to_db_string();
    let finders = (0..DELETED_SHARDS)
        .map(|shard| Finder::Query {
            index: "deleted-index".into(),
            key_condition: "del_shard = :s AND deleted_at < :before".into(),
            values: Item::from([
                (":s".to_owned(), s(&format!("DELETED#{shard}"))),
                (":before".to_owned(), s(&before)),
            ]),
        })
        .collect();
    floor
        .find_then_delete(table, finders, |item| Conditional {
            key: pk_only(&item),
            update: None,
            condition: "deleted_at < :before".into(),
            names: HashMap::new(),
            values: Item::from([(":before".to_owned(), s(&before))]),
        })
        .await
}

fn pk_only(item: &Item) -> Item {
    item.iter()
        .filter(|(k, _)| k.as_str() == keys::PK)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Reads `keys` back from `table` (not measured): all must be there (`present`) or
/// none.
pub async fn expect_keys(
    floor: &Floor,
    table: &str,
    keys: Vec<Item>,
    present: bool,
    what: &str,
) -> Result<(), String> {
    let n = keys.len();
    let (found, _) = floor.get_all(table, keys).await?;
    let ok = if present {
        found.len() == n
    } else {
        found.is_empty()
    };
    if ok {
        return Ok(());
    }
    Err(format!(
        "{what}: {} of {n} found in {table}, expected {}",
        found.len(),
        if present { "all" } else { "none" }
    ))
}

/// Reads the cohort's card claims back from `table` once its users are gone: each must
/// be free, i.e. gone or naming its former owner (a claim naming a user that no longer
/// exists is free: the next claimant takes it over). Returns how many were left in
/// place.
pub async fn expect_claims_free(
    floor: &Floor,
    table: &str,
    cohort: &Cohort,
    what: &str,
) -> Result<usize, String> {
    expect_keys(floor, table, cohort.user_keys(), false, what).await?;
    let (found, _) = floor.get_all(table, cohort.claim_keys()).await?;
    let owners = cohort.ids();
    for claim in &found {
        let owner = claim.get("owner").and_then(|v| v.as_s().ok());
        if !owner.is_some_and(|o| owners.contains(o)) {
            return Err(format!(
                "{what}: claim {:?} in {table} names {owner:?}, not its deleted user",
                keys::pk_of(claim)
            ));
        }
    }
    Ok(found.len())
}

/// Reads the cohort back from `table`: every user soft-deleted as the function does it.
pub async fn expect_soft_deleted(
    floor: &Floor,
    table: &str,
    cohort: &Cohort,
) -> Result<(), String> {
    let (found, _) = floor.get_all(table, cohort.user_keys()).await?;
    if found.len() != cohort.len() {
        return Err(format!(
            "soft delete: {} of {} users found in {table}",
            found.len(),
            cohort.len()
        ));
    }
    for item in found {
        let u = UserRecord::from_item(item).map_err(|e| e.to_string())?;
        let ok = u.deleted_at.is_some()
            && u.deleted_by.as_deref() == Some(upsert::ACTOR)
            && u.del_shard.as_deref() == Some(keys::deleted_shard(&u.link_id).as_str())
            && u.version == 2;
        if !ok {
            return Err(format!("soft delete: {} in {table} is {u:?}", u.link_id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_items_are_a_user_its_claim_and_its_registry() {
        let c = Cohort::new(3, 2, 1000)
            .user_type("visitor")
            .emails(Emails::Own("example.com".into()));
        let items = c.items("2026-01-01T00:00:00.000Z").unwrap();
        assert_eq!(items.len(), 6);
        let user = UserRecord::from_item(items[3].clone()).unwrap();
        assert_eq!(user.link_id, LinkId::from(c.users[1].id));
        assert_eq!(user.user_type.as_deref(), Some("visitor"));
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
    fn answers_are_checked_id_by_id() {
        let c = Cohort::new(1, 2, 1000);
        let ok = |u: &User| json!({"link_id": u.id.to_string(), "success": true, "extended_info": "deleted"});
        let a = |results: Value| HttpAnswer {
            status: 200,
            body: json!({ "result": results }),
        };
        check_results(
            &a(json!([ok(&c.users[0]), ok(&c.users[1])])),
            &c.users,
            "deleted",
        )
        .unwrap();
        let e = check_results(
            &a(json!([ok(&c.users[0]), {"link_id": c.users[1].id.to_string(), "success": true, "extended_info": "not_found"}])),
            &c.users,
            "deleted",
        )
        .unwrap_err();
        assert!(e.contains("not_found"), "{e}");
        let ids: Vec<String> = c.users.iter().map(|u| u.id.to_string()).collect();
        let result = |ids: &[String], errors: usize| HttpAnswer {
            status: 200,
            body: json!({"messages": [], "count_of_errors": errors, "id": null, "name": null,
                         "data": {"deleted": true, "ids": ids}, "url": null, "text": "", "inner_exception": null}),
        };
        check_soft_deleted(&result(&ids, 0), &c.users).unwrap();
        assert!(check_soft_deleted(&result(&ids[..1], 0), &c.users).is_err());
        assert!(check_soft_deleted(&result(&ids, 1), &c.users).is_err());
    }
}
