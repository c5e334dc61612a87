//! The `upsert-users` scenarios: a population of users sent as new users (the create
//! pass), then the same users again with one changed field (the update pass), each
//! request's answer checked item by item, and the same stored items written by the floor.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use serde_json::{Value, json};
use shared::domain::{LinkId, Timestamp};
use shared::store::keys;
use shared::store::records::{StoredFactor, UserRecord};
use shared::store::tx::TX_LIMIT;
use uuid::Uuid;

use crate::event::{HttpAnswer, HttpEvent, preview};
use crate::floor::{Floor, FloorRun, Item};
use crate::invoke::invoke_checked;
use crate::process::FunctionProcess;
use crate::report::FunctionRun;

/// The binary under `target/release`.
pub const BINARY: &str = "upsert-users";
/// The route.
pub const PATH: &str = "/api/v1/users/bulk";
/// The token subject; stored as `created_by`/`updated_by`.
pub const ACTOR: &str = "bench";
/// How long one invocation may take before the bench gives up (the function's own
/// deadline is 29 s).
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
/// The message of the function's per-invocation log line.
pub const DONE_MESSAGE: &str = "upsert done";

/// Which pass over a population.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Every user is new: new `link_id`, new name, one new card number.
    Create,
    /// The same users again: same `link_id`, name and card, a changed `info`.
    Update,
}

impl Pass {
    /// `create` / `update`.
    pub fn name(self) -> &'static str {
        match self {
            Pass::Create => "create",
            Pass::Update => "update",
        }
    }

    /// The `extended_info` every item must answer.
    pub fn expected(self) -> &'static str {
        match self {
            Pass::Create => "created",
            Pass::Update => "updated",
        }
    }

    /// The `info` sent (same length in both passes: same item sizes).
    pub fn info(self) -> &'static str {
        match self {
            Pass::Create => "bench: created in the create pass",
            Pass::Update => "bench: changed in the update pass",
        }
    }

    /// The stored `version` after this pass.
    pub fn version(self) -> u64 {
        match self {
            Pass::Create => 1,
            Pass::Update => 2,
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

/// The users of one scenario, sent `per_request` at a time.
#[derive(Clone, Debug)]
pub struct Population {
    /// `1000 users, 1 request`, ...
    pub label: String,
    /// The users in request order.
    pub users: Vec<User>,
    /// Users per request.
    pub per_request: usize,
}

impl Population {
    /// `n` users whose names and card numbers carry `tag` (unique per table).
    pub fn new(tag: u32, n: usize, per_request: usize) -> Self {
        let users = (0..n)
            .map(|i| User {
                id: Uuid::new_v4(),
                name: format!("Bench User {tag:03}-{i:06}"),
                card: format!("9{tag:03}{i:08}"),
            })
            .collect();
        let requests = n.div_ceil(per_request.max(1));
        Self {
            label: format!(
                "{n} users, {requests} request{} of {per_request}",
                if requests == 1 { "" } else { "s" }
            ),
            users,
            per_request: per_request.max(1),
        }
    }

    /// The users of each request, in order.
    pub fn requests(&self) -> std::slice::Chunks<'_, User> {
        self.users.chunks(self.per_request)
    }
}

/// `{"list_items": [...]}` for `users` in `pass`.
pub fn request_body(users: &[User], pass: Pass) -> Value {
    let items: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "link_id": u.id,
                "name": u.name,
                "info": pass.info(),
                "auth_factors": [{"type": "card", "number": u.card}],
            })
        })
        .collect();
    json!({ "list_items": items })
}

/// The user items the function stores for `users` after `pass` (same attributes, one
/// card factor): what the floor writes.
pub fn stored_items(users: &[User], pass: Pass, now: &str) -> Result<Vec<Item>, String> {
    users
        .iter()
        .map(|u| {
            let id = LinkId::from(u.id);
            UserRecord {
                pk: keys::user(&id),
                link_id: id,
                name: u.name.clone(),
                info: Some(pass.info().to_owned()),
                email: None,
                role_id: None,
                user_type: None,
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
                version: pass.version(),
                deleted_at: None,
                deleted_by: None,
                del_shard: None,
            }
            .to_item()
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// Checks that the answer is a 200 with one `success: true` result per user, in order,
/// naming the user and answering `pass.expected()`.
pub fn check_answer(answer: &HttpAnswer, users: &[User], pass: Pass) -> Result<(), String> {
    if answer.status != 200 {
        return Err(format!(
            "{} pass: HTTP {} {}",
            pass.name(),
            answer.status,
            preview(&answer.body)
        ));
    }
    let results = answer.body["result"]
        .as_array()
        .ok_or_else(|| format!("no result array: {}", preview(&answer.body)))?;
    if results.len() != users.len() {
        return Err(format!(
            "{} pass: {} results for {} items",
            pass.name(),
            results.len(),
            users.len()
        ));
    }
    let mut wrong = std::collections::BTreeMap::<String, usize>::new();
    let mut first = None;
    for (i, (r, u)) in results.iter().zip(users).enumerate() {
        let info = r["extended_info"].as_str().unwrap_or("<missing>");
        let ok = info == pass.expected()
            && r["success"] == json!(true)
            && r["link_id"].as_str() == Some(u.id.to_string().as_str());
        if !ok {
            *wrong.entry(info.to_owned()).or_default() += 1;
            first.get_or_insert_with(|| format!("item {i} ({}): {r}", u.name));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} pass: {} of {} items did not answer `{}` (by extended_info: {wrong:?}); first: {}",
        pass.name(),
        wrong.values().sum::<usize>(),
        users.len(),
        pass.expected(),
        first.unwrap_or_default()
    ))
}

/// Sends the population's requests in `pass` to a running function, checking every
/// answer; any wrong answer is an error.
pub fn run_function(
    f: &mut FunctionProcess,
    token: &str,
    population: &Population,
    pass: Pass,
    server_pid: Option<u32>,
) -> Result<FunctionRun, String> {
    let mut run = FunctionRun::default();
    for users in population.requests() {
        let event = HttpEvent::json("POST", PATH, &request_body(users, pass))
            .bearer(token)
            .to_event();
        let (measured, ()) =
            invoke_checked(f, &event, DONE_MESSAGE, server_pid, INVOKE_TIMEOUT, |r| {
                let answer = HttpAnswer::from_response(r)?;
                check_answer(&answer, users, pass).map_err(|e| format!("{}: {e}", population.label))
            })?;
        run.record(&measured);
    }
    Ok(run)
}

/// The floors of a pass: in the update pass first (c) the function's own requests sent
/// raw (see [`conditional_updates`]) on `table_a` and (d) conditional `PutItem`s on
/// `table_b`; then (a) `BatchWriteItem` of the stored items on `table_a`, then (b)
/// `BatchGetItem` + `BatchWriteItem` of them on `table_b`, request by request as the
/// function gets them. (b) must find none of the
/// users in the create pass and all of them in the update pass.
pub async fn run_floor(
    floor: &Floor,
    table_a: &str,
    table_b: &str,
    population: &Population,
    pass: Pass,
) -> Result<Floors, String> {
    let now = Timestamp::now().to_db_string();
    let batches: Vec<Vec<Item>> = population
        .requests()
        .map(|users| stored_items(users, pass, &now))
        .collect::<Result<_, _>>()?;
    // Update pass only, before (a) and (b) overwrite the tables: (c) on table (a), what
    // the function's update requests are, sent raw; (d) on table (b), the alternative
    // design of one conditional PutItem per user.
    let alternatives = match pass {
        Pass::Create => None,
        Pass::Update => {
            let (mut c, mut d) = (FloorRun::default(), FloorRun::default());
            for items in &batches {
                c.add(&conditional_updates(floor, table_a, items).await?);
                d.add(&conditional_puts(floor, table_b, items).await?);
            }
            Some((c, d))
        }
    };
    let mut a = FloorRun::default();
    for items in &batches {
        a.add(&floor.write(table_a, items).await?);
    }
    let mut b = FloorRun::default();
    for items in &batches {
        let r = floor.read_then_write(table_b, keys::PK, items).await?;
        let expected = match pass {
            Pass::Create => 0,
            Pass::Update => items.len(),
        };
        if r.found != expected {
            return Err(format!(
                "floor (b), {} pass: BatchGetItem found {} of {} users, expected {expected}",
                pass.name(),
                r.found,
                items.len()
            ));
        }
        b.add(&r);
    }
    Ok(Floors { a, b, alternatives })
}

/// The floors of one pass.
pub struct Floors {
    /// `BatchWriteItem` only.
    pub a: FloorRun,
    /// `BatchGetItem` + `BatchWriteItem`.
    pub b: FloorRun,
    /// Update pass: (c) the function's conditional transactions, raw; (d) conditional
    /// `PutItem`s.
    pub alternatives: Option<(FloorRun, FloorRun)>,
}

/// Floor (c) of the update pass: `BatchGetItem` of the users (100 per call, consistent),
/// then each user put conditional on the version read, 100 puts per
/// `TransactWriteItems` — the requests the function makes for a plain update.
async fn conditional_updates(
    floor: &Floor,
    table: &str,
    items: &[Item],
) -> Result<FloorRun, String> {
    let run = floor
        .read_then_transact(keys_of(items), table, |found| {
            let puts = with_versions(items, found)?
                .into_iter()
                .map(|(item, read)| {
                    let put = Put::builder()
                        .table_name(table)
                        .set_item(Some(item))
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", read)
                        .build()
                        .map_err(|e| e.to_string())?;
                    Ok(TransactWriteItem::builder().put(put).build())
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(puts.chunks(TX_LIMIT).map(<[_]>::to_vec).collect())
        })
        .await?;
    all_found(run, items.len(), "(c)")
}

/// Floor (d) of the update pass: the same reads, then one `PutItem` per user conditional
/// on the version read — the design the function does not use (see docs/storage.md).
async fn conditional_puts(floor: &Floor, table: &str, items: &[Item]) -> Result<FloorRun, String> {
    let run = floor
        .read_then_put_each(keys_of(items), table, |found| with_versions(items, found))
        .await?;
    all_found(run, items.len(), "(d)")
}

/// The keys of `items`.
fn keys_of(items: &[Item]) -> Vec<Item> {
    items
        .iter()
        .map(|i| keys::key_item(keys::pk_of(i).unwrap_or_default()))
        .collect()
}

/// Each of `items` with the version of the stored user `found` for it.
fn with_versions(items: &[Item], found: Vec<Item>) -> Result<Vec<(Item, AttributeValue)>, String> {
    let by_pk: HashMap<&str, &Item> = items
        .iter()
        .filter_map(|i| keys::pk_of(i).map(|pk| (pk, i)))
        .collect();
    found
        .iter()
        .map(|stored| {
            let pk = keys::pk_of(stored).ok_or("a stored user without its key")?;
            let read = stored
                .get("version")
                .cloned()
                .ok_or("a stored user without a version")?;
            let item = by_pk.get(pk).ok_or("a user the floor did not ask for")?;
            Ok(((*item).clone(), read))
        })
        .collect()
}

fn all_found(run: FloorRun, expected: usize, floor: &str) -> Result<FloorRun, String> {
    if run.found != expected {
        return Err(format!(
            "floor {floor}: BatchGetItem found {} of {expected} users",
            run.found
        ));
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(results: Value) -> HttpAnswer {
        HttpAnswer {
            status: 200,
            body: json!({ "result": results }),
        }
    }

    #[test]
    fn populations_split_into_requests_with_unique_names_and_cards() {
        let p = Population::new(7, 2500, 1000);
        assert_eq!(p.label, "2500 users, 3 requests of 1000");
        let sizes: Vec<usize> = p.requests().map(<[User]>::len).collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);
        let names: std::collections::HashSet<&str> =
            p.users.iter().map(|u| u.name.as_str()).collect();
        let cards: std::collections::HashSet<&str> =
            p.users.iter().map(|u| u.card.as_str()).collect();
        assert_eq!((names.len(), cards.len()), (2500, 2500));
        assert_eq!(
            Population::new(1, 1000, 1000).label,
            "1000 users, 1 request of 1000"
        );
    }

    #[test]
    fn the_request_and_the_floor_items_carry_the_same_user() {
        let p = Population::new(1, 2, 1000);
        let body = request_body(&p.users, Pass::Update);
        let items = body["list_items"].as_array().unwrap();
        assert_eq!(items[1]["link_id"], json!(p.users[1].id.to_string()));
        assert_eq!(
            items[1]["auth_factors"][0]["number"],
            json!(p.users[1].card)
        );
        let stored = stored_items(&p.users, Pass::Update, "2026-01-01T00:00:00.000Z").unwrap();
        let back = UserRecord::from_item(stored[1].clone()).unwrap();
        assert_eq!(back.name, p.users[1].name);
        assert_eq!(back.info.as_deref(), Some(Pass::Update.info()));
        assert_eq!(back.version, 2);
        assert_eq!(Pass::Create.info().len(), Pass::Update.info().len());
    }

    #[test]
    fn only_the_expected_answer_for_every_item_passes() {
        let p = Population::new(1, 2, 1000);
        let ok = |u: &User, info: &str| {
            json!({"link_id": u.id.to_string(), "success": info != "not_processed",
                   "extended_info": info, "has_dublicates": false})
        };
        let good = answer(json!([
            ok(&p.users[0], "created"),
            ok(&p.users[1], "created")
        ]));
        check_answer(&good, &p.users, Pass::Create).unwrap();
        let e = check_answer(&good, &p.users, Pass::Update).unwrap_err();
        assert!(e.contains("2 of 2 items did not answer `updated`"), "{e}");
        let partial = answer(json!([
            ok(&p.users[0], "created"),
            ok(&p.users[1], "not_processed")
        ]));
        let e = check_answer(&partial, &p.users, Pass::Create).unwrap_err();
        assert!(e.contains("not_processed"), "{e}");
        let short = answer(json!([ok(&p.users[0], "created")]));
        assert!(check_answer(&short, &p.users, Pass::Create).is_err());
        let refused = HttpAnswer {
            status: 401,
            body: json!({"error": "Log In"}),
        };
        assert!(check_answer(&refused, &p.users, Pass::Create).is_err());
    }
}
