//! The floors of the passes: the least DynamoDB work that does what a pass asks of its
//! function, sent raw from the bench process with the functions' batch sizes and
//! concurrency ([`Floor`]). Each pass names its floors as [`FloorOp`]s; a floor that
//! finds another number of users than the pass leaves there aborts the bench.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use crate::contract::{Filter, LinkId, TX_LIMIT, Timestamp, UserRecord, filter_expression, keys};
use crate::error::{BenchError, CheckFailure};
use crate::fixtures::{ACTOR, User};
use crate::floor::{Conditional, Finder, Floor, FloorRun, Item};

/// Users per transaction of the hard delete: one action each (the user's conditional
/// delete; its card claim stays, free once the user is gone), 100 actions per
/// `TransactWriteItems` as the function packs them.
pub const USERS_PER_TRANSACTION: usize = 100;
/// Segments of the filter delete's parallel Scan, as the function scans.
pub const SCAN_SEGMENTS: i32 = 4;
/// The value placeholder the floor's filter-delete condition adds for the version.
const VERSION_PLACEHOLDER: &str = ":bench_v";

/// How many of the users a floor's reads must find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// None of them (they are new).
    None,
    /// All of them.
    All,
}

/// One floor: the same DynamoDB work as the function's, or a design measured beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloorOp {
    /// (a) `BatchWriteItem` of the users' stored items, 25 per call.
    BatchWrite,
    /// (b) `BatchGetItem` of their keys (100 per call, consistent), then `BatchWriteItem`
    /// of the items: the least any read-modify-write can cost, though an unconditional
    /// one.
    ReadThenWrite(Expect),
    /// (c) the same reads, then each user put conditioned on the version read, 100 puts
    /// per `TransactWriteItems`: the requests the function makes for a plain update.
    ConditionalTransactPuts,
    /// (e) the create's own requests: `BatchGetItem` of the users and of their names'
    /// registries (consistent, 100 keys per call; none found), then `TransactWriteItems`
    /// of the same actions per user as the function's create, grouped as it groups
    /// them: the user put conditioned on its absence, its card claim conditioned on
    /// being free or the user's, its name registry written conditioned on its absence
    /// (3 actions a user, 33 users per transaction).
    TransactCreates,
    /// (d) the same reads, then one `PutItem` per user conditioned on the version read:
    /// the design the function does not use (see docs/storage.md).
    ConditionalPutEach,
    /// A `DeleteItem` per user conditioned on `attribute_exists(pk)`.
    DeleteEach,
    /// The hard delete's own requests: `BatchGetItem` of the users (consistent), then
    /// `TransactWriteItems` of 100 users, each its delete conditioned on the version read,
    /// as the function builds them for users with unique names (since 81923eb; before,
    /// each user also released its card claim in the same transaction).
    TransactDeletes,
    /// An `UpdateItem` per user setting what the soft delete sets (`deleted_at`,
    /// `deleted_by`, `del_shard`, `update_time`, `updated_by`, the version) conditioned
    /// on the version seeded.
    SoftDeleteEach,
    /// A Query per `deleted-index` shard (`deleted_at < now`, pages of 1000) and a
    /// `DeleteItem` of each user found conditioned on `deleted_at < now`.
    PurgeQuery,
    /// A parallel Scan (4 segments, pages of 1000, consistent) with the filter's own
    /// expression, and a `DeleteItem` of each user found conditioned as the function's
    /// delete is (the filter and the version read).
    ScanDelete,
    /// A Query of `email-index` (keys only, pages of 1000) and a `DeleteItem` of each
    /// user found conditioned on the filter.
    EmailIndexDelete,
}

/// What a floor works on.
pub struct Input<'a> {
    /// The raw SDK access.
    pub floor: &'a Floor,
    /// The floor's table.
    pub table: &'a str,
    /// The users of the request (of the whole pass for a floor that finds its users).
    pub users: &'a [User],
    /// Their stored items, for the floors that write them (the upsert's).
    pub stored: &'a [Item],
    /// The pass's filter, for the filter-delete floors.
    pub filter: Option<&'a Filter>,
    /// The pass and the floor, for messages.
    pub what: &'a str,
}

impl FloorOp {
    /// Whether the floor is sent request by request as the function gets them (else it
    /// finds its users itself, once over the table).
    pub fn per_request(self) -> bool {
        !matches!(
            self,
            FloorOp::PurgeQuery | FloorOp::ScanDelete | FloorOp::EmailIndexDelete
        )
    }

    /// Whether the floor writes the users' stored items (built by the pass's stage).
    pub fn writes_stored(self) -> bool {
        matches!(
            self,
            FloorOp::BatchWrite
                | FloorOp::ReadThenWrite(_)
                | FloorOp::ConditionalTransactPuts
                | FloorOp::ConditionalPutEach
                | FloorOp::TransactCreates
        )
    }

    /// Whether the floor needs the pass's filter.
    pub fn needs_filter(self) -> bool {
        matches!(self, FloorOp::ScanDelete | FloorOp::EmailIndexDelete)
    }

    /// Sends the floor's requests.
    pub async fn run(self, i: Input<'_>) -> Result<FloorRun, BenchError> {
        let user_keys =
            || -> Vec<Item> { i.users.iter().map(|u| keys::key_item(&u.pk())).collect() };
        let (run, expected) = match self {
            FloorOp::BatchWrite => (i.floor.write(i.table, i.stored).await?, None),
            FloorOp::ReadThenWrite(expect) => {
                let run = i.floor.read_then_write(i.table, keys::PK, i.stored).await?;
                let expected = match expect {
                    Expect::None => 0,
                    Expect::All => i.stored.len(),
                };
                (run, Some(expected))
            }
            FloorOp::ConditionalTransactPuts => {
                let run = i
                    .floor
                    .read_then_transact(user_keys(), i.table, |found| {
                        let puts = with_versions(i.stored, found)?
                            .into_iter()
                            .map(|(item, read)| {
                                Put::builder()
                                    .table_name(i.table)
                                    .set_item(Some(item))
                                    .condition_expression("version = :v")
                                    .expression_attribute_values(":v", read)
                                    .build()
                                    .map(|put| TransactWriteItem::builder().put(put).build())
                                    .map_err(|e| BenchError::dynamo("build a conditional Put", e))
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(puts.chunks(TX_LIMIT).map(<[_]>::to_vec).collect())
                    })
                    .await?;
                (run, Some(i.users.len()))
            }
            FloorOp::TransactCreates => {
                let mut read = user_keys();
                read.extend(i.users.iter().map(|u| keys::key_item(&keys::name(&u.name))));
                let run = i
                    .floor
                    .read_then_transact(read, i.table, |found| {
                        if !found.is_empty() {
                            return Err(floor_found(i.what, found.len(), i.users.len(), 0));
                        }
                        let mut units = Vec::with_capacity(i.users.len());
                        for (u, item) in i.users.iter().zip(i.stored) {
                            units.push(create_unit(i.table, u, item)?);
                        }
                        Ok(units
                            .chunks(TX_LIMIT / CREATE_ACTIONS)
                            .map(|group| group.concat())
                            .collect())
                    })
                    .await?;
                (run, None)
            }
            FloorOp::ConditionalPutEach => {
                let run = i
                    .floor
                    .read_then_put_each(user_keys(), i.table, |found| {
                        with_versions(i.stored, found)
                    })
                    .await?;
                (run, Some(i.users.len()))
            }
            FloorOp::DeleteEach => {
                let writes = i
                    .users
                    .iter()
                    .map(|u| Conditional {
                        key: keys::key_item(&u.pk()),
                        condition: "attribute_exists(pk)".into(),
                        ..Conditional::default()
                    })
                    .collect();
                (i.floor.write_each(i.table, writes).await?, None)
            }
            FloorOp::TransactDeletes => {
                let expected = i.users.len();
                let run = i
                    .floor
                    .read_then_transact(user_keys(), i.table, |found| {
                        if found.len() != expected {
                            return Err(floor_found(i.what, found.len(), expected, expected));
                        }
                        let mut actions = Vec::with_capacity(found.len());
                        for item in found {
                            let u = UserRecord::from_item(item)
                                .map_err(|e| BenchError::record("a user the floor read", e))?;
                            let delete = Delete::builder()
                                .table_name(i.table)
                                .key(keys::PK, s(&u.pk))
                                .condition_expression("version = :v")
                                .expression_attribute_values(":v", n(u.version))
                                .build()
                                .map_err(|e| BenchError::dynamo("build a conditional Delete", e))?;
                            actions.push(TransactWriteItem::builder().delete(delete).build());
                        }
                        Ok(actions
                            .chunks(USERS_PER_TRANSACTION)
                            .map(<[_]>::to_vec)
                            .collect())
                    })
                    .await?;
                (run, None)
            }
            FloorOp::SoftDeleteEach => {
                let now = Timestamp::now().to_db_string();
                let writes = i
                    .users
                    .iter()
                    .map(|u| Conditional {
                        key: keys::key_item(&u.pk()),
                        update: Some(
                            "SET deleted_at = :at, deleted_by = :by, del_shard = :shard, \
                             update_time = :at, updated_by = :by, version = :next"
                                .into(),
                        ),
                        condition: "version = :read".into(),
                        names: HashMap::new(),
                        values: Item::from([
                            (":at".to_owned(), s(&now)),
                            (":by".to_owned(), s(ACTOR)),
                            (
                                ":shard".to_owned(),
                                s(&keys::deleted_shard(&LinkId::from(u.id))),
                            ),
                            (":next".to_owned(), n(2)),
                            (":read".to_owned(), n(1)),
                        ]),
                    })
                    .collect();
                (i.floor.write_each(i.table, writes).await?, None)
            }
            FloorOp::PurgeQuery => (purge(i.floor, i.table).await?, Some(i.users.len())),
            FloorOp::ScanDelete => (
                scan_delete(i.floor, i.table, filter(&i)?).await?,
                Some(i.users.len()),
            ),
            FloorOp::EmailIndexDelete => (
                email_delete(i.floor, i.table, filter(&i)?).await?,
                Some(i.users.len()),
            ),
        };
        match expected {
            Some(e) if run.found != e => Err(floor_found(i.what, run.found, i.users.len(), e)),
            _ => Ok(run),
        }
    }
}

fn filter<'a>(i: &Input<'a>) -> Result<&'a Filter, BenchError> {
    i.filter.ok_or_else(|| {
        BenchError::Scenario(format!(
            "{}: a filter-delete floor without a filter",
            i.what
        ))
    })
}

fn floor_found(what: &str, found: usize, of: usize, expected: usize) -> BenchError {
    BenchError::check(
        what,
        CheckFailure::FloorFound {
            found,
            of,
            expected,
        },
    )
}

/// Each of `items` with the version of the stored user `found` for it.
fn with_versions(
    items: &[Item],
    found: Vec<Item>,
) -> Result<Vec<(Item, AttributeValue)>, BenchError> {
    let by_pk: HashMap<&str, &Item> = items
        .iter()
        .filter_map(|i| keys::pk_of(i).map(|pk| (pk, i)))
        .collect();
    let odd = |what: &str| BenchError::Scenario(format!("the floor read {what}"));
    found
        .iter()
        .map(|stored| {
            let pk = keys::pk_of(stored).ok_or_else(|| odd("a stored user without its key"))?;
            let read = stored
                .get("version")
                .cloned()
                .ok_or_else(|| odd("a stored user without a version"))?;
            let item = by_pk
                .get(pk)
                .ok_or_else(|| odd("a user it did not ask for"))?;
            Ok(((*item).clone(), read))
        })
        .collect()
}

async fn scan_delete(floor: &Floor, table: &str, filter: &Filter) -> Result<FloorRun, BenchError> {
    let e = filter_expression(filter);
    let finders = (0..SCAN_SEGMENTS)
        .map(|segment| Finder::Scan {
            segment,
            segments: SCAN_SEGMENTS,
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

async fn email_delete(floor: &Floor, table: &str, filter: &Filter) -> Result<FloorRun, BenchError> {
    let email = filter
        .email
        .clone()
        .ok_or_else(|| BenchError::Scenario("the e-mail floor needs an email filter".into()))?;
    let e = filter_expression(filter);
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

async fn purge(floor: &Floor, table: &str) -> Result<FloorRun, BenchError> {
    let before = Timestamp::now().to_db_string();
    let finders = (0..keys::DELETED_SHARDS)
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

/// Actions of one new user with one card and a name of its own.
const CREATE_ACTIONS: usize = 3;

/// The actions `upsert-users` sends for a new user (see shared's store::actions): the
/// user, its card claim and its name registry, each conditioned as the function's are.
fn create_unit(table: &str, u: &User, item: &Item) -> Result<Vec<TransactWriteItem>, BenchError> {
    let build = |what: &'static str| move |e| BenchError::dynamo(what, e);
    let user = Put::builder()
        .table_name(table)
        .set_item(Some(item.clone()))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build("build the user Put"))?;
    let claim = Put::builder()
        .table_name(table)
        .set_item(Some(u.claim_item()))
        .condition_expression("attribute_not_exists(pk) OR #owner = :owner")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(":owner", s(&u.id.to_string()))
        .build()
        .map_err(build("build the claim Put"))?;
    let registry = Update::builder()
        .table_name(table)
        .key(keys::PK, s(&keys::name(&u.name)))
        .update_expression("SET ver = :ver, ids = :ids")
        .condition_expression("attribute_not_exists(pk)")
        .expression_attribute_values(":ver", n(1))
        .expression_attribute_values(":ids", AttributeValue::Ss(vec![u.id.to_string()]))
        .build()
        .map_err(build("build the registry Update"))?;
    Ok(vec![
        TransactWriteItem::builder().put(user).build(),
        TransactWriteItem::builder().put(claim).build(),
        TransactWriteItem::builder().update(registry).build(),
    ])
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
