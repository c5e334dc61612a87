//! SCIM `/Bulk` (RFC 7644 §3.7) on the bulk core: operations run in request order, in
//! *waves* — a wave is the longest run of operations that touch different users and
//! refer only to users created by earlier waves — and each wave costs what one bulk
//! request costs: one batched read of the users it replaces, patches or deletes, one
//! upsert of every user it creates, replaces or patches (transactions of up to 100
//! actions), one removal of the users it deletes. A `bulkId:<id>` in an operation's path
//! or data is the user an earlier POST with that `bulkId` created. With `failOnErrors`,
//! processing stops once that many operations have failed (waves are cut so that no
//! operation runs past the limit).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::config::Limits;
use crate::deadline::Deadline;
use crate::domain::LinkId;
use crate::domain::scim::patch;
use crate::domain::scim::schema::UserAttributes;
use crate::domain::scim::user::ScimUser;
use crate::service::removal::{Removal, RemovalOutcome, apply_removal_to};
use crate::service::scim::{ScimFailure, if_match, outcome_of, to_input, to_resource};
use crate::service::upsert::upsert_detailed;
use crate::store::records::UserRecord;
use crate::store::{Store, StoreError};

/// An operation's method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Create a user.
    Post,
    /// Replace a user.
    Put,
    /// Patch a user.
    Patch,
    /// Delete a user.
    Delete,
}

impl Method {
    /// As the BulkResponse names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One operation of a BulkRequest, as read.
#[derive(Clone, Debug)]
pub struct Operation {
    /// Its method; `None`: not one of the four (the operation fails with 400).
    pub method: Option<Method>,
    /// The method as sent.
    pub method_text: String,
    /// `bulkId`.
    pub bulk_id: Option<String>,
    /// `path`: `/Users` or `/Users/<id or bulkId:x>`.
    pub path: String,
    /// `data`.
    pub data: Option<Value>,
    /// `version` (an entity tag, as `If-Match`).
    pub version: Option<String>,
}

/// What became of one operation.
#[derive(Clone, Debug)]
pub struct Done {
    /// The operation's method as sent.
    pub method: String,
    /// Its `bulkId`.
    pub bulk_id: Option<String>,
    /// The user written (its location and version), if any.
    pub record: Option<UserRecord>,
    /// The user the operation was about, if known.
    pub id: Option<LinkId>,
    /// The HTTP status.
    pub status: u16,
    /// For a failure: `scimType` and detail.
    pub error: Option<(Option<&'static str>, String)>,
}

impl Done {
    fn failed(
        op: &Operation,
        id: Option<LinkId>,
        status: u16,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            method: op.method_text.clone(),
            bulk_id: op.bulk_id.clone(),
            record: None,
            id,
            status,
            error: Some((scim_type, detail.into())),
        }
    }

    fn from_failure(op: &Operation, id: Option<LinkId>, f: &ScimFailure) -> Self {
        let (status, scim_type) = match f {
            ScimFailure::NotFound => (404, None),
            ScimFailure::Taken(_) => (409, Some("uniqueness")),
            ScimFailure::Invalid { scim_type, .. } => (400, Some(*scim_type)),
            ScimFailure::Unavailable | ScimFailure::Store(_) => (503, None),
        };
        Self::failed(op, id, status, scim_type, f.to_string())
    }

    /// Whether it failed.
    pub fn is_error(&self) -> bool {
        self.status >= 400
    }
}

/// `bulkId:<x>` → `x`.
fn reference(s: &str) -> Option<&str> {
    s.strip_prefix("bulkId:")
}

/// The user a path names: `/Users/<id>` or `/Users/bulkId:<x>`; `Err` with the detail
/// of a path that names none.
enum Target {
    New,
    Id(LinkId),
    Ref(String),
}

fn target(op: &Operation) -> Result<Target, String> {
    let path = op.path.trim();
    let rest = path
        .strip_prefix("/Users")
        .ok_or_else(|| format!("`{path}` is not a path of /Users"))?;
    match (op.method, rest.strip_prefix('/')) {
        (Some(Method::Post), None) if rest.is_empty() => Ok(Target::New),
        (Some(Method::Post), _) => Err("a POST goes to /Users".into()),
        (_, Some(id)) => match reference(id) {
            Some(x) => Ok(Target::Ref(x.to_owned())),
            None => LinkId::parse(id)
                .map(Target::Id)
                .ok_or_else(|| format!("no user `{id}`")),
        },
        _ => Err("a PUT, PATCH or DELETE goes to /Users/<id>".into()),
    }
}

/// Whether `value` refers to a bulkId not in `created` (it must wait for a later wave,
/// or can never be resolved).
fn unresolved<'a>(value: &'a Value, created: &HashMap<String, LinkId>, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => {
            if let Some(x) = reference(s)
                && !created.contains_key(x)
            {
                out.push(x);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| unresolved(v, created, out)),
        Value::Object(obj) => obj.values().for_each(|v| unresolved(v, created, out)),
        _ => {}
    }
}

/// `value` with every `bulkId:<x>` replaced by the id `x` created.
fn resolve(value: &mut Value, created: &HashMap<String, LinkId>) {
    match value {
        Value::String(s) => {
            if let Some(id) = reference(s).and_then(|x| created.get(x)) {
                *s = id.to_string();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| resolve(v, created)),
        Value::Object(obj) => obj.values_mut().for_each(|v| resolve(v, created)),
        _ => {}
    }
}

/// Runs the operations; one result per operation processed, in order (none for those
/// after `fail_on_errors` failures). Errs only when the store failed before anything
/// was written.
pub async fn run(
    store: &Store,
    limits: &Limits,
    actor: &str,
    deadline: Deadline,
    ops: Vec<Operation>,
    fail_on_errors: Option<usize>,
) -> Result<Vec<Done>, StoreError> {
    // Every bulkId a POST of the request defines, to tell a forward reference (wait)
    // from one that can never resolve (fail).
    let defined: HashSet<String> = ops
        .iter()
        .filter(|o| o.method == Some(Method::Post))
        .filter_map(|o| o.bulk_id.clone())
        .collect();
    let mut created: HashMap<String, LinkId> = HashMap::new();
    let mut done: Vec<Done> = Vec::with_capacity(ops.len());
    let mut errors = 0usize;
    let mut wrote_any = false;
    let mut next = 0;
    while next < ops.len() {
        if fail_on_errors.is_some_and(|f| errors >= f) || deadline.expired() {
            break;
        }
        let budget = fail_on_errors.map_or(usize::MAX, |f| f - errors);
        // The wave: operations resolved against earlier waves, each on a user of its own.
        let mut wave: Vec<(usize, Option<LinkId>)> = Vec::new();
        let mut users: HashSet<LinkId> = HashSet::new();
        let mut pending_ids: HashSet<String> = HashSet::new();
        let mut end = next;
        while end < ops.len() && wave.len() < budget {
            let op = &ops[end];
            let mut refs = Vec::new();
            if let Some(d) = &op.data {
                unresolved(d, &created, &mut refs);
            }
            let t = target(op);
            if let Ok(Target::Ref(x)) = &t
                && !created.contains_key(x)
            {
                refs.push(x);
            }
            let waits = refs
                .iter()
                .any(|x| defined.contains(*x) && !pending_ids.contains(*x));
            let blocked = refs.iter().any(|x| pending_ids.contains(*x));
            if blocked || (waits && !wave.is_empty()) {
                break;
            }
            let id = match (&t, op.method) {
                (Ok(Target::New), _) => Some(LinkId::new_random()),
                (Ok(Target::Id(id)), _) => Some(*id),
                (Ok(Target::Ref(x)), _) => created.get(x).copied(),
                (Err(_), _) => None,
            };
            if let Some(id) = id
                && !users.insert(id)
            {
                break;
            }
            if op.method == Some(Method::Post)
                && let Some(b) = &op.bulk_id
            {
                pending_ids.insert(b.clone());
            }
            wave.push((end, id));
            end += 1;
        }
        let results = run_wave(
            store, limits, actor, &deadline, &ops, &wave, &created, &defined,
        )
        .await;
        let results = match results {
            Ok(r) => r,
            Err(e) if !wrote_any => return Err(e),
            Err(e) => {
                tracing::error!(error = ?e, "a bulk wave failed after earlier ones applied");
                wave.iter()
                    .map(|(i, id)| {
                        Done::failed(&ops[*i], *id, 503, None, "not applied: DynamoDB failed")
                    })
                    .collect()
            }
        };
        for r in results {
            if r.is_error() {
                errors += 1;
            } else {
                wrote_any = true;
            }
            let op = &ops[done.len()];
            if op.method == Some(Method::Post)
                && !r.is_error()
                && let (Some(b), Some(id)) = (&op.bulk_id, r.id)
            {
                created.insert(b.clone(), id);
            }
            done.push(r);
        }
        next = end;
    }
    Ok(done)
}

/// One wave: its reads, its writes, its results (in order).
#[allow(clippy::too_many_arguments)]
async fn run_wave(
    store: &Store,
    limits: &Limits,
    actor: &str,
    deadline: &Deadline,
    ops: &[Operation],
    wave: &[(usize, Option<LinkId>)],
    created: &HashMap<String, LinkId>,
    defined: &HashSet<String>,
) -> Result<Vec<Done>, StoreError> {
    // Users the wave replaces, patches or deletes: one batched read.
    let existing_ids: Vec<LinkId> = wave
        .iter()
        .filter(|(i, _)| ops[*i].method != Some(Method::Post))
        .filter_map(|(_, id)| *id)
        .collect();
    let read = store.read_users(&existing_ids, deadline).await?;
    let existing: HashMap<LinkId, UserRecord> = read
        .users
        .into_iter()
        .filter(UserRecord::is_live)
        .map(|u| (u.link_id, u))
        .collect();

    let mut results: Vec<Option<Done>> = vec![None; wave.len()];
    let mut inputs = Vec::new();
    let mut known = Vec::new();
    let mut writes: Vec<usize> = Vec::new();
    let mut deletes: Vec<usize> = Vec::new();
    for (slot, (i, id)) in wave.iter().enumerate() {
        let op = &ops[*i];
        let fail = |status, scim_type, detail: String| {
            Some(Done::failed(op, *id, status, scim_type, detail))
        };
        let Some(method) = op.method else {
            results[slot] = fail(
                400,
                Some("invalidSyntax"),
                format!("`{}` is not POST, PUT, PATCH or DELETE", op.method_text),
            );
            continue;
        };
        if let Err(detail) = target(op) {
            results[slot] = fail(400, Some("invalidPath"), detail);
            continue;
        }
        if method == Method::Post && op.bulk_id.is_none() {
            results[slot] = fail(400, Some("invalidValue"), "a POST needs a bulkId".into());
            continue;
        }
        let Some(id) = *id else {
            let detail = match target(op) {
                Ok(Target::Ref(x)) if !defined.contains(&x) => {
                    format!("no POST of this request has bulkId `{x}`")
                }
                Ok(Target::Ref(x)) => format!(
                    "bulkId `{x}` names no user: its POST failed or comes later in the request"
                ),
                _ => "the user it names could not be resolved".into(),
            };
            results[slot] = fail(409, Some("invalidValue"), detail);
            continue;
        };
        let mut data = op.data.clone();
        if let Some(d) = &mut data {
            let mut left = Vec::new();
            unresolved(d, created, &mut left);
            if let Some(x) = left.first() {
                results[slot] = fail(
                    409,
                    Some("invalidValue"),
                    format!("bulkId `{x}` does not name a user created by this request"),
                );
                continue;
            }
            resolve(d, created);
        }
        let current = existing.get(&id);
        if method != Method::Post {
            let Some(current) = current else {
                results[slot] = fail(404, None, "User not found".into());
                continue;
            };
            if let Some(v) = &op.version
                && !if_match(v, current)
            {
                results[slot] = fail(412, None, format!("The user has changed since version {v}"));
                continue;
            }
        }
        let user = match method {
            Method::Delete => {
                deletes.push(slot);
                continue;
            }
            Method::Post | Method::Put => {
                let Some(d) = &data else {
                    results[slot] = fail(400, Some("invalidSyntax"), "`data` is required".into());
                    continue;
                };
                ScimUser::from_json(d)
            }
            Method::Patch => {
                let Some(d) = &data else {
                    results[slot] = fail(400, Some("invalidSyntax"), "`data` is required".into());
                    continue;
                };
                let mut resource = to_resource(current.expect("checked above"), true);
                if let Err(e) = patch::apply(d, &mut resource, &UserAttributes) {
                    results[slot] = fail(400, Some(e.scim_type), e.detail);
                    continue;
                }
                ScimUser::from_json(&Value::Object(resource))
            }
        };
        let user = match user {
            Ok(u) => u,
            Err(e) => {
                results[slot] = fail(400, Some(e.scim_type), e.detail);
                continue;
            }
        };
        inputs.push(to_input(id, &user, current));
        known.push((id, current.cloned()));
        writes.push(slot);
    }

    if !inputs.is_empty() {
        let upserted = upsert_detailed(store, limits, actor, *deadline, inputs, known).await?;
        for (slot, u) in writes.into_iter().zip(upserted) {
            let (i, id) = wave[slot];
            let op = &ops[i];
            results[slot] = Some(match outcome_of(u, limits) {
                Ok(record) => Done {
                    method: op.method_text.clone(),
                    bulk_id: op.bulk_id.clone(),
                    status: if op.method == Some(Method::Post) {
                        201
                    } else {
                        200
                    },
                    id: Some(record.link_id),
                    record: Some(record),
                    error: None,
                },
                Err(f) => Done::from_failure(op, id, &f),
            });
        }
    }
    if !deletes.is_empty() {
        let ids: Vec<LinkId> = deletes.iter().filter_map(|s| wave[*s].1).collect();
        let preloaded = ids
            .iter()
            .filter_map(|id| existing.get(id).cloned())
            .collect();
        let outcomes = apply_removal_to(
            store,
            &ids,
            preloaded,
            Removal::ScimDelete,
            actor,
            *deadline,
        )
        .await?;
        for (slot, outcome) in deletes.into_iter().zip(outcomes) {
            let (i, id) = wave[slot];
            let op = &ops[i];
            results[slot] = Some(match outcome {
                RemovalOutcome::Applied => Done {
                    method: op.method_text.clone(),
                    bulk_id: op.bulk_id.clone(),
                    record: None,
                    id,
                    status: 204,
                    error: None,
                },
                RemovalOutcome::NotFound | RemovalOutcome::Skipped => {
                    Done::failed(op, id, 404, None, "User not found")
                }
                RemovalOutcome::NotProcessed => Done::failed(
                    op,
                    id,
                    503,
                    None,
                    "not confirmed before the deadline; send it again",
                ),
            });
        }
    }
    Ok(results
        .into_iter()
        .zip(wave)
        .map(|(r, (i, id))| {
            r.unwrap_or_else(|| Done::failed(&ops[*i], *id, 503, None, "not processed"))
        })
        .collect())
}
